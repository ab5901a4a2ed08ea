//! `allowFrom`, `inboundPolicy`, `defaultTo`, `pairing.*`, `forward.url`, `forward.maxBatch`,
//! `textChunkLimit` and `sms.maxLength`.

use super::rule;
use crate::config::{Config, ConfigError};

/// The most events `forward.maxBatch` may put in one POST.
const MAX_FORWARD_BATCH: usize = 1000;

/// Who may text in, who gets what, and how long a message may be.
pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    let allow =
        telephony_core::AllowList::parse(&config.allow_from).map_err(|e| ConfigError::Rule {
            key: "allowFrom".into(),
            reason: e.to_string(),
        })?;
    if let Err(e) = config.inbound_policy.check(&allow) {
        return rule("inboundPolicy", e.to_string());
    }
    if let Some(to) = &config.default_to {
        if let Err(e) = telephony_core::Address::parse(to) {
            return rule("defaultTo", format!("{to:?}: {e}"));
        }
    }
    if config.pairing.max_pending == 0 {
        return rule("pairing.maxPending", "must be at least 1".into());
    }
    if config.pairing.code_ttl_seconds == 0 {
        return rule("pairing.codeTtlSeconds", "must be at least 1".into());
    }
    if let Some(f) = &config.forward {
        if let Err(e) = telephony_tunnel::StaticUrl::new(f.url.clone()) {
            return rule("forward.url", e.to_string());
        }
        if let Some(n) = f.max_batch {
            if !(1..=MAX_FORWARD_BATCH).contains(&n) {
                return rule(
                    "forward.maxBatch",
                    format!("{n} is out of range 1..={MAX_FORWARD_BATCH}"),
                );
            }
        }
    }
    let max_body = config.provider.limits().max_body_chars();
    for (key, value) in [
        ("textChunkLimit", config.text_chunk_limit),
        ("sms.maxLength", config.sms.max_length),
    ] {
        if let Some(n) = value {
            if n == 0 || n > max_body {
                return rule(
                    key,
                    format!(
                        "{n} is out of range 1..={max_body} ({}'s body limit)",
                        config.provider.as_str()
                    ),
                );
            }
        }
    }
    Ok(())
}
