//! `channels.sms` (the OpenClaw SMS channel, seeds 001 and 004): `publicWebhookUrl` is the
//! full URL, `fromNumber` wins over the Messaging Service, `SMS_PUBLIC_WEBHOOK_URL` is read.

use std::collections::BTreeMap;

use figment::Figment;
use serde::Deserialize;
use telephony_core::PhoneNumber;
use telephony_core::policy::InboundPolicy;

use super::account::{Account, ChannelBlock, parts};
use super::mapping::{Keys, map_accounts};
use super::{Dialect, Loaded, SMS_PUBLIC_WEBHOOK_URL, Secrets};
use crate::config::ConfigError;
use crate::config::secret_ref::SecretValue;

/// Reads a `channels.sms` file and maps it onto the native keys.
pub(super) fn load(
    fig: &Figment,
    file: &str,
    env: &[(String, String)],
    secrets: Secrets<'_>,
) -> Result<Loaded, ConfigError> {
    let f: SmsFile = fig.extract()?;
    map_accounts(Keys::SMS, parts(f.channels.sms), file, env, secrets)
}

impl Keys {
    pub(super) const SMS: Keys = Keys {
        dialect: Dialect::Sms,
        prefix: "channels.sms",
        public_url: "publicWebhookUrl",
        webhook_path: Some("webhookPath"),
        default_path: "/webhooks/sms",
        url_needs_path: true,
        from_number_wins: true,
        url_env: Some(SMS_PUBLIC_WEBHOOK_URL),
    };
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsFile {
    channels: SmsChannels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsChannels {
    sms: SmsChannel,
}

/// `channels.sms` (and each of its `accounts`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SmsChannel {
    enabled: Option<bool>,
    account_sid: Option<String>,
    auth_token: Option<SecretValue>,
    from_number: Option<PhoneNumber>,
    messaging_service_sid: Option<String>,
    public_webhook_url: Option<String>,
    webhook_path: Option<String>,
    dm_policy: Option<InboundPolicy>,
    allow_from: Option<Vec<String>>,
    default_to: Option<String>,
    dangerously_disable_signature_validation: Option<bool>,
    accounts: Option<BTreeMap<String, SmsChannel>>,
    default_account: Option<String>,
}

impl ChannelBlock for SmsChannel {
    fn split(mut self) -> (Account, Option<BTreeMap<String, Self>>, Option<String>) {
        let (accounts, default_account) = (self.accounts.take(), self.default_account.take());
        (self.account(), accounts, default_account)
    }
}

impl SmsChannel {
    fn account(self) -> Account {
        Account {
            enabled: self.enabled,
            account_sid: self.account_sid,
            auth_token: self.auth_token,
            from_number: self.from_number,
            messaging_service_sid: self.messaging_service_sid,
            public_url: self.public_webhook_url,
            webhook_path: self.webhook_path,
            dm_policy: self.dm_policy,
            allow_from: self.allow_from,
            default_to: self.default_to,
            skip_signature: self.dangerously_disable_signature_validation,
            text_chunk_limit: None,
        }
    }
}
