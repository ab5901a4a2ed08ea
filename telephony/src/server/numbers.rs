//! Pointing the configured numbers at the gateway (`autoConfigureWebhooks`, and always in
//! the sandbox).

use telephony_serve::Gateway;

use super::build::Built;
use crate::config::Config;
use crate::providers;
use crate::runtime::RuntimeInfo;

/// Configures the number of every account that asks for it (every account in sandbox mode).
pub(super) async fn configure_all(built: &Built, sandbox: bool) {
    for (a, c) in built.accounts.iter().zip(&built.configs) {
        if sandbox || c.auto_configure_webhooks() {
            configure_number(&a.gateway, c, &a.runtime, sandbox).await;
        }
    }
}

/// `twilio.autoConfigureWebhooks` (and always in the sandbox): points the configured
/// number at this gateway's URLs, logging every setting changed and from what. A failure
/// is logged with what to do; the gateway still starts (messages already configured keep
/// flowing).
async fn configure_number(gateway: &Gateway, config: &Config, rt: &RuntimeInfo, sandbox: bool) {
    let number = config.from_number.clone().or_else(|| {
        sandbox
            .then(|| {
                telephony_core::PhoneNumber::parse(providers::sandbox_from(config.provider)).ok()
            })
            .flatten()
    });
    let Some(number) = number else {
        tracing::warn!(
            "twilio.autoConfigureWebhooks is on but no fromNumber is set: nothing to configure"
        );
        return;
    };
    let voice = config.voice.enabled.unwrap_or(false);
    let targets = telephony_core::numbers::WebhookTargets {
        messaging_url: rt.webhook_url.clone(),
        voice_url: voice.then(|| rt.webhook_url.clone()),
        // A commands provider (Telnyx) sends every call event, statuses included, to
        // the one voice URL.
        voice_status_url: (voice
            && gateway.provider().voice_control() == telephony_core::voice::VoiceControl::Markup)
            .then(|| rt.status_url.clone()),
    };
    match gateway.provider().configure_number(&number, &targets).await {
        Ok(changes) if changes.is_empty() => {
            tracing::info!(number = %number, url = %targets.messaging_url, "number already points at this gateway")
        }
        Ok(changes) => {
            for c in changes {
                tracing::info!(number = %number, resource = %c.resource, setting = %c.setting, from = c.from.as_deref().unwrap_or(""), to = %c.to, "number setting changed");
            }
        }
        Err(e) if e.is_unsupported() => {
            tracing::warn!(
                provider = gateway.provider().name(),
                "automatic webhook configuration is not supported for this provider; set the URLs in its console"
            )
        }
        Err(e) => {
            tracing::error!(number = %number, error = %telephony_core::error_chain(&e), "could not point the number at this gateway; set the URLs in the provider's console (see `telephony status --probe`)")
        }
    }
}
