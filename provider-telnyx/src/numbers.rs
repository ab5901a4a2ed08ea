//! Number setup on Telnyx: a number's messages go to its **messaging profile's**
//! `webhook_url`, so that is the setting the gateway reads (`number_config`) and points at
//! itself (`configure_number`).
//!
//! Calls on Telnyx go to the number's voice connection, a Call Control application: its
//! `webhook_event_url` (every call event, statuses included, goes there) is read as the
//! number's voice URL, and pointed at the gateway's webhook when voice targets are given.
//! A connection that is not a Call Control application (a SIP trunk, a TeXML app: 404) is
//! reported as having no voice URL.
//!
//! ```no_run
//! use telephony_core::numbers::{check, WebhookTargets};
//! use telephony_core::Provider;
//! use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let telnyx = TelnyxProvider::new(
//!     TelnyxConfig::new("KEY…").public_key("base64…").from_number("+15550001234".parse()?),
//! )?;
//! let number = "+15550001234".parse()?;
//! let targets = WebhookTargets {
//!     messaging_url: "https://gw.example.com/telephony/webhook".into(),
//!     voice_url: None,
//!     voice_status_url: None,
//! };
//! if let Some(config) = telnyx.number_config(&number).await? {
//!     for finding in check(&config, &targets) {
//!         println!("{:?} {}: {}", finding.kind, finding.setting, finding.fix);
//!     }
//! }
//! for change in telnyx.configure_number(&number, &targets).await? {
//!     println!("{} {}: {:?} -> {}", change.resource, change.setting, change.from, change.to);
//! }
//! # Ok(())
//! # }
//! ```

use telephony_core::numbers::{NumberConfig, ServiceConfig, SettingChange, WebhookTargets};
use telephony_core::{PhoneNumber, ProviderError};

use crate::client::TelnyxClient;
use crate::resources::UpdateMessagingProfile;

/// The webhook format the gateway parses ([`crate::webhook`]).
pub const WEBHOOK_API_VERSION: &str = "2";

/// A setting as Telnyx reports it: `""` and `null` are both "not set".
fn set(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.trim().is_empty()).cloned()
}

pub(crate) async fn number_config(
    client: &TelnyxClient,
    number: &PhoneNumber,
) -> Result<Option<NumberConfig>, ProviderError> {
    let Some(n) = client.find_phone_number(number.as_str()).await? else {
        return Ok(None);
    };
    let messaging = client.phone_number_messaging(&n.id).await?;
    let mut c = NumberConfig::new(number.clone(), n.id.clone());
    c.sms = messaging
        .features
        .sms
        .as_ref()
        .is_some_and(|v| !v.is_null());
    c.mms = messaging
        .features
        .mms
        .as_ref()
        .is_some_and(|v| !v.is_null());
    // A number with a voice connection can take calls; they go to its Call Control
    // application's webhook.
    c.voice = set(&n.connection_id).is_some();
    if let Some(connection) = set(&n.connection_id) {
        match client.call_control_application(&connection).await {
            Ok(app) => {
                c.voice_url = set(&app.webhook_event_url);
                c.voice_method = Some("POST".into());
            }
            Err(ProviderError::Api { status: 404, .. }) => {
                tracing::debug!(number = %number, connection = %connection, "the number's connection is not a Call Control application");
            }
            Err(e) => return Err(e),
        }
    }
    let profile = set(&messaging.messaging_profile_id).or_else(|| set(&n.messaging_profile_id));
    if let Some(profile) = profile {
        let p = client.messaging_profile(&profile).await?;
        c.service = Some(ServiceConfig {
            id: p.id,
            inbound_url: set(&p.webhook_url),
            // Telnyx always POSTs its webhooks.
            inbound_method: Some("POST".into()),
            defers_to_number: false,
        });
    }
    Ok(Some(c))
}

pub(crate) async fn configure_number(
    client: &TelnyxClient,
    number: &PhoneNumber,
    targets: &WebhookTargets,
) -> Result<Vec<SettingChange>, ProviderError> {
    let Some(n) = client.find_phone_number(number.as_str()).await? else {
        return Err(ProviderError::NotConfigured(format!(
            "{number} is not a phone number of this Telnyx account; nothing was changed"
        )));
    };
    let messaging = client.phone_number_messaging(&n.id).await?;
    let Some(profile_id) =
        set(&messaging.messaging_profile_id).or_else(|| set(&n.messaging_profile_id))
    else {
        return Err(ProviderError::NotConfigured(format!(
            "{number} has no messaging profile at Telnyx, so its messages go nowhere; assign it to a messaging profile in the Telnyx portal (nothing was changed)"
        )));
    };
    let mut changes = Vec::new();
    if let Some(voice_url) = &targets.voice_url {
        let connection = set(&n.connection_id)
            .or_else(|| client.config().connection().ok().map(str::to_string))
            .ok_or_else(|| {
                ProviderError::NotConfigured(format!(
                    "{number} has no voice connection at Telnyx; assign it to your Call Control application (telnyx.connectionId) in the Telnyx portal (nothing was changed)"
                ))
            })?;
        let app = client.call_control_application(&connection).await?;
        let current = set(&app.webhook_event_url);
        let version = set(&app.webhook_api_version);
        if current.as_deref() != Some(voice_url.as_str())
            || version.as_deref() != Some(WEBHOOK_API_VERSION)
        {
            client
                .point_call_control_application(&app, voice_url)
                .await?;
            let resource = format!("call control application {connection}");
            if current.as_deref() != Some(voice_url.as_str()) {
                changes.push(SettingChange {
                    resource: resource.clone(),
                    setting: "webhook_event_url".into(),
                    from: current,
                    to: voice_url.clone(),
                });
            }
            if version.as_deref() != Some(WEBHOOK_API_VERSION) {
                changes.push(SettingChange {
                    resource,
                    setting: "webhook_api_version".into(),
                    from: version,
                    to: WEBHOOK_API_VERSION.into(),
                });
            }
        }
    }
    let p = client.messaging_profile(&profile_id).await?;
    let resource = format!("messaging profile {}", p.id);
    let mut update = UpdateMessagingProfile::default();
    let current_url = set(&p.webhook_url);
    if current_url.as_deref() != Some(targets.messaging_url.as_str()) {
        update.webhook_url = Some(targets.messaging_url.clone());
        changes.push(SettingChange {
            resource: resource.clone(),
            setting: "webhook_url".into(),
            from: current_url,
            to: targets.messaging_url.clone(),
        });
    }
    let current_version = set(&p.webhook_api_version);
    if current_version.as_deref() != Some(WEBHOOK_API_VERSION) {
        update.webhook_api_version = Some(WEBHOOK_API_VERSION.into());
        changes.push(SettingChange {
            resource,
            setting: "webhook_api_version".into(),
            from: current_version,
            to: WEBHOOK_API_VERSION.into(),
        });
    }
    if !update.is_empty() {
        client.update_messaging_profile(&p.id, &update).await?;
    }
    Ok(changes)
}
