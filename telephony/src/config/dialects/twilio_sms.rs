//! `channels."twilio-sms"` (the community Twilio SMS plugin, seed 002): `publicUrl` is the
//! URL with or without the path, the Messaging Service wins over `fromNumber`.

use std::collections::BTreeMap;

use figment::Figment;
use serde::Deserialize;
use telephony_core::PhoneNumber;
use telephony_core::policy::InboundPolicy;

use super::account::{Account, ChannelBlock, parts};
use super::mapping::{Keys, map_accounts};
use super::{Dialect, Loaded, Secrets};
use crate::config::ConfigError;
use crate::config::secret_ref::SecretValue;

/// Reads a `channels."twilio-sms"` file and maps it onto the native keys.
pub(super) fn load(
    fig: &Figment,
    file: &str,
    env: &[(String, String)],
    secrets: Secrets<'_>,
) -> Result<Loaded, ConfigError> {
    let f: TwilioSmsFile = fig.extract()?;
    map_accounts(
        Keys::TWILIO_SMS,
        parts(f.channels.twilio_sms),
        file,
        env,
        secrets,
    )
}

impl Keys {
    pub(super) const TWILIO_SMS: Keys = Keys {
        dialect: Dialect::TwilioSms,
        prefix: "channels.\"twilio-sms\"",
        public_url: "publicUrl",
        webhook_path: None,
        default_path: "/twilio-sms/webhook",
        url_needs_path: false,
        from_number_wins: false,
        url_env: None,
    };
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TwilioSmsFile {
    channels: TwilioSmsChannels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TwilioSmsChannels {
    #[serde(rename = "twilio-sms")]
    twilio_sms: TwilioSmsChannel,
}

/// `channels."twilio-sms"` (and each of its `accounts`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TwilioSmsChannel {
    enabled: Option<bool>,
    account_sid: Option<String>,
    auth_token: Option<SecretValue>,
    from_number: Option<PhoneNumber>,
    messaging_service_sid: Option<String>,
    public_url: Option<String>,
    dm_policy: Option<InboundPolicy>,
    allow_from: Option<Vec<String>>,
    text_chunk_limit: Option<usize>,
    accounts: Option<BTreeMap<String, TwilioSmsChannel>>,
    default_account: Option<String>,
}

impl ChannelBlock for TwilioSmsChannel {
    fn split(mut self) -> (Account, Option<BTreeMap<String, Self>>, Option<String>) {
        let (accounts, default_account) = (self.accounts.take(), self.default_account.take());
        (self.account(), accounts, default_account)
    }
}

impl TwilioSmsChannel {
    fn account(self) -> Account {
        Account {
            enabled: self.enabled,
            account_sid: self.account_sid,
            auth_token: self.auth_token,
            from_number: self.from_number,
            messaging_service_sid: self.messaging_service_sid,
            public_url: self.public_url,
            webhook_path: None,
            dm_policy: self.dm_policy,
            allow_from: self.allow_from,
            default_to: None,
            skip_signature: None,
            text_chunk_limit: self.text_chunk_limit,
        }
    }
}
