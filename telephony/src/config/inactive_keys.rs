//! Keys that are set but have no effect, so `config check` can say so.

use serde::Serialize;

use super::Config;

/// A configuration key that is accepted but has no effect in this version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InactiveKey {
    /// The key path, e.g. `voice.enabled`.
    pub key: String,
    /// Why it has no effect.
    pub reason: &'static str,
}

impl Config {
    /// Keys that are set but have no effect in this version, so `config check` can say so.
    pub fn inactive_keys(&self) -> Vec<InactiveKey> {
        let mut out = Vec::new();
        let mut push = |key: &str, reason: &'static str| {
            out.push(InactiveKey {
                key: key.to_string(),
                reason,
            })
        };
        if !self.voice.enabled.unwrap_or(false) {
            let off = "has no effect while voice.enabled is false";
            let v = &self.voice;
            for (key, set) in [
                ("voice.greeting", v.greeting.is_some()),
                ("voice.closing", v.closing.is_some()),
                ("voice.voice", v.voice.is_some()),
                ("voice.language", v.language.is_some()),
                ("voice.maxDurationSeconds", v.max_duration_seconds.is_some()),
                ("voice.handlerTimeoutMs", v.handler_timeout_ms.is_some()),
                ("voice.mode", v.mode.is_some()),
                ("voice.relayUrl", v.relay_url.is_some()),
                ("voice.relayTimeoutMs", v.relay_timeout_ms.is_some()),
                ("voice.streamUrl", v.stream_url.is_some()),
                ("voice.preconnect", v.preconnect.is_some()),
                (
                    "voice.transferFailedMessage",
                    v.transfer_failed_message.is_some(),
                ),
                (
                    "maxConcurrentSessions",
                    self.max_concurrent_sessions.is_some(),
                ),
            ] {
                if set {
                    push(key, off);
                }
            }
        }
        if let Some(t) = &self.tunnel {
            let not_ngrok = "has no effect unless tunnel.provider is \"ngrok\"";
            if t.provider.as_deref() != Some("ngrok") {
                for (key, set) in [
                    ("tunnel.ngrokAuthToken", t.ngrok_auth_token.is_some()),
                    ("tunnel.domain", t.domain.is_some()),
                    ("tunnel.ngrokVerifyTwilio", t.ngrok_verify_twilio),
                ] {
                    if set {
                        push(key, not_ngrok);
                    }
                }
            }
        }
        if self.public_url.is_some() && self.tunnel_provider().is_some() {
            push(
                "publicUrl",
                "has no effect while tunnel.provider starts a tunnel: the tunnel's URL is the public URL (signed, and given to the provider)",
            );
        }
        let ws = &self.webhook_security;
        if ws.trust_forwarding_headers && self.public_url.is_some() {
            push(
                "webhookSecurity.trustForwardingHeaders",
                "has no effect while publicUrl is set: the signed URL is publicUrl",
            );
        } else if ws.trust_forwarding_headers && ws.allowed_hosts.is_empty() {
            push(
                "webhookSecurity.trustForwardingHeaders",
                "has no effect without webhookSecurity.allowedHosts",
            );
        }
        out
    }
}
