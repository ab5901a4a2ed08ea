//! One account's keys in the SMS dialects, dialect-neutral, and how an account inherits
//! the channel-level keys it does not set.

use std::collections::BTreeMap;

use telephony_core::PhoneNumber;
use telephony_core::policy::InboundPolicy;

use crate::config::secret_ref::SecretValue;

/// A channel split into its own keys, its accounts (each flagged when it nests `accounts`
/// or `defaultAccount`, which an account may not) and `defaultAccount`.
pub(super) struct Parts {
    pub(super) base: Account,
    pub(super) accounts: Option<BTreeMap<String, (Account, bool)>>,
    pub(super) default_account: Option<String>,
}

/// A dialect's channel block (or one of its `accounts`).
pub(super) trait ChannelBlock: Sized {
    /// The block's own keys as an account, its `accounts` and its `defaultAccount`.
    fn split(self) -> (Account, Option<BTreeMap<String, Self>>, Option<String>);
}

/// A channel block's parts; an account that has accounts of its own is marked (an error).
pub(super) fn parts<C: ChannelBlock>(channel: C) -> Parts {
    let (base, accounts, default_account) = channel.split();
    let accounts = accounts.map(|m| {
        m.into_iter()
            .map(|(name, a)| {
                let (account, nested, nested_default) = a.split();
                (
                    name,
                    (account, nested.is_some() || nested_default.is_some()),
                )
            })
            .collect()
    });
    Parts {
        base,
        accounts,
        default_account,
    }
}

/// One account's keys, dialect-neutral.
#[derive(Clone, Default)]
pub(super) struct Account {
    pub(super) enabled: Option<bool>,
    pub(super) account_sid: Option<String>,
    pub(super) auth_token: Option<SecretValue>,
    pub(super) from_number: Option<PhoneNumber>,
    pub(super) messaging_service_sid: Option<String>,
    /// The full webhook URL.
    pub(super) public_url: Option<String>,
    pub(super) webhook_path: Option<String>,
    pub(super) dm_policy: Option<InboundPolicy>,
    pub(super) allow_from: Option<Vec<String>>,
    pub(super) default_to: Option<String>,
    pub(super) skip_signature: Option<bool>,
    pub(super) text_chunk_limit: Option<usize>,
}

impl Account {
    /// This account's keys, the channel's where it sets none.
    pub(super) fn inherit(self, base: &Account) -> Account {
        let b = base.clone();
        Account {
            enabled: self.enabled,
            account_sid: self.account_sid.or(b.account_sid),
            auth_token: self.auth_token.or(b.auth_token),
            from_number: self.from_number.or(b.from_number),
            messaging_service_sid: self.messaging_service_sid.or(b.messaging_service_sid),
            public_url: self.public_url.or(b.public_url),
            webhook_path: self.webhook_path.or(b.webhook_path),
            dm_policy: self.dm_policy.or(b.dm_policy),
            allow_from: self.allow_from.or(b.allow_from),
            default_to: self.default_to.or(b.default_to),
            skip_signature: self.skip_signature.or(b.skip_signature),
            text_chunk_limit: self.text_chunk_limit.or(b.text_chunk_limit),
        }
    }
}
