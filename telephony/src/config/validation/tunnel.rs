//! `tunnel.*`.

use super::rule;
use crate::config::{Config, ConfigError, ProviderKind, TUNNEL_PROVIDERS};

/// A known tunnel, with what it needs.
pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    if let Some(t) = &config.tunnel {
        if let Some(p) = &t.provider {
            if !TUNNEL_PROVIDERS.contains(&p.as_str()) {
                return rule(
                    "tunnel.provider",
                    format!(
                        "unknown tunnel {p:?}; expected {}",
                        TUNNEL_PROVIDERS.join(", ")
                    ),
                );
            }
        }
        if t.provider.as_deref() == Some("static") && config.public_url.is_none() {
            return rule(
                "publicUrl",
                "tunnel.provider \"static\" needs publicUrl: the URL your reverse proxy or load balancer serves".into(),
            );
        }
        if t.ngrok_verify_twilio && config.provider != ProviderKind::Twilio {
            return rule(
                "tunnel.ngrokVerifyTwilio",
                format!(
                    "verifies Twilio signatures; the provider is {:?}",
                    config.provider.as_str()
                ),
            );
        }
    }
    Ok(())
}
