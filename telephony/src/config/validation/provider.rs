//! `provider`, `twilio.*` and `telnyx.*`: the provider is compiled in, its keys and SIDs
//! have the right shape.

use super::rule;
use crate::config::{Config, ConfigError, ProviderKind};

/// The provider is compiled in; its public key and SIDs are well-formed.
pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    if !config.provider.is_compiled_in() {
        return rule(
            "provider",
            format!(
                "{:?} is not compiled into this binary (cargo feature {:?}); compiled-in providers: {}",
                config.provider.as_str(),
                config.provider.as_str(),
                ProviderKind::compiled_in().join(", ")
            ),
        );
    }
    #[cfg(feature = "telnyx")]
    // Empty: a SecretRef that could not be resolved, reported as missing.
    if let Some(key) = config.telnyx.public_key.as_ref().filter(|k| !k.is_empty()) {
        if let Err(e) = telephony_telnyx::WebhookVerifier::from_base64(key.expose()) {
            return rule("telnyx.publicKey", e.to_string());
        }
    }
    if let Some(sid) = &config.twilio.account_sid {
        if !is_sid(sid, "AC") {
            return rule(
                "twilio.accountSid",
                format!("{sid:?} is not an Account SID (AC followed by 32 characters)"),
            );
        }
    }
    if let Some(sid) = &config.twilio.messaging_service_sid {
        if !is_sid(sid, "MG") {
            return rule(
                "twilio.messagingServiceSid",
                format!("{sid:?} is not a Messaging Service SID (MG followed by 32 characters)"),
            );
        }
    }
    if config.twilio.api_key_sid.is_some() != config.twilio.api_key_secret.is_some() {
        return rule(
            "twilio.apiKeySid",
            "apiKeySid and apiKeySecret must be set together".into(),
        );
    }
    Ok(())
}

// Placeholders such as `ACxxxx…` (32 x's) in the guides pass: only shape is checked.
pub(in crate::config) fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}
