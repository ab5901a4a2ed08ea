//! What the dialect reader found, for `config check`: the dialect, its accounts, which
//! sender wins, keys read but not acted on, and keys as the user wrote them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Config, ConfigError, ProviderKind};

/// Which configuration shape a config was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// No config file: defaults and environment variables (the SMS bridge, seed 000).
    #[default]
    EnvOnly,
    /// `channels.telephony` or the bare native shape (seed 003).
    Telephony,
    /// `channels.sms` (the OpenClaw SMS channel, seeds 001 and 004).
    Sms,
    /// `channels."twilio-sms"` (the community Twilio SMS plugin, seed 002).
    TwilioSms,
}

impl Dialect {
    /// The dialect as `config check` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::EnvOnly => "environment only",
            Dialect::Telephony => "channels.telephony",
            Dialect::Sms => "channels.sms",
            Dialect::TwilioSms => "channels.\"twilio-sms\"",
        }
    }
}

impl Serialize for Dialect {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A key the dialect defines that this gateway reads but does not act on (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotImplemented {
    /// The key path as written.
    pub key: String,
    /// What is missing.
    pub reason: String,
}

/// A provider credential given as a SecretRef that could not be resolved: left empty (so
/// missing), and said by `config check` and `serve`, which need it; the commands that do
/// not talk to the provider work without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnresolvedSecret {
    /// The key, as written (`accounts.alerts.twilio.authToken`).
    pub key: String,
    /// Why it could not be resolved (never the value).
    pub reason: String,
}

/// What the dialect reader found, for `config check`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DialectReport {
    /// The dialect read.
    pub dialect: Dialect,
    /// Every configured account (empty when the dialect has no `accounts` or none are set).
    pub accounts: Vec<String>,
    /// The default account (the one the `TWILIO_*` variables apply to), when accounts are
    /// configured.
    pub account: Option<String>,
    /// Which of `fromNumber` and the Messaging Service the dialect lets win, when both
    /// were set (with accounts: in the default account).
    pub sender_rule: Option<String>,
    /// With accounts: each account's rule, when both were set in it.
    pub account_sender_rules: BTreeMap<String, String>,
    /// Keys read but not acted on.
    pub not_implemented: Vec<NotImplemented>,
    /// Provider credentials whose SecretRefs could not be resolved (native dialect).
    pub unresolved_secrets: Vec<UnresolvedSecret>,
    /// `config check` key renames: native key → the key as written in the dialect.
    #[serde(skip)]
    pub(crate) key_names: BTreeMap<String, String>,
}

impl DialectReport {
    /// The key as the user wrote it for a native key (the native key when no dialect key
    /// maps to it).
    pub fn written_key(&self, native: &str) -> String {
        self.key_names
            .get(native)
            .cloned()
            .unwrap_or_else(|| native.to_string())
    }
}

/// The dialect's environment variables that only it reads.
pub const SMS_PUBLIC_WEBHOOK_URL: &str = "SMS_PUBLIC_WEBHOOK_URL";

/// Which sender outbound messages use, and by which rule, for `config check`.
pub fn sender_summary(cfg: &Config, report: &DialectReport) -> String {
    let from = cfg.from_number.as_ref().map(|n| n.as_str().to_string());
    // An account's own rule; the default account's (or the only) one otherwise.
    let rule = match &cfg.account {
        Some(name) if !report.accounts.is_empty() => report.account_sender_rules.get(name),
        _ => report.sender_rule.as_ref(),
    }
    .map(|r| format!(" ({r})"))
    .unwrap_or_default();
    match cfg.provider {
        ProviderKind::Telnyx => match (&cfg.telnyx.messaging_profile_id, from) {
            (Some(p), Some(n)) => format!("fromNumber {n}, with messaging profile {p}"),
            (Some(p), None) => format!("messaging profile {p} (Telnyx picks the number)"),
            (None, Some(n)) => format!("fromNumber {n}"),
            (None, None) => "none: set fromNumber or telnyx.messagingProfileId".into(),
        },
        ProviderKind::Twilio => match (&cfg.twilio.messaging_service_sid, from) {
            (Some(ms), Some(n)) => format!(
                "Messaging Service {ms}; it wins over fromNumber {n}{}",
                if rule.is_empty() {
                    " (twilio.messagingServiceSid wins in channels.telephony)".to_string()
                } else {
                    rule
                }
            ),
            (Some(ms), None) => format!("Messaging Service {ms}"),
            (None, Some(n)) => format!("fromNumber {n}{rule}"),
            (None, None) => "none: set fromNumber or a Messaging Service SID".into(),
        },
    }
}

/// Notes environment variables that only another dialect reads.
pub(crate) fn note_foreign_env(report: &mut DialectReport, env: &[(String, String)]) {
    let set = env
        .iter()
        .any(|(k, v)| k == SMS_PUBLIC_WEBHOOK_URL && !v.is_empty());
    if set && report.dialect != Dialect::Sms {
        report.not_implemented.push(NotImplemented {
            key: SMS_PUBLIC_WEBHOOK_URL.into(),
            reason: format!(
                "read only with channels.sms; with {} set publicUrl (the URL without the webhook path) and serve.path",
                report.dialect.as_str()
            ),
        });
    }
}

/// A config error from the native stage, with the key as the user wrote it and the file.
pub(crate) fn rename_error(e: ConfigError, report: &DialectReport, file: &str) -> ConfigError {
    match e {
        ConfigError::Rule { key, reason } if report.key_names.contains_key(&key) => {
            ConfigError::Invalid(format!("{file}: {}: {reason}", report.written_key(&key)))
        }
        other => other,
    }
}
