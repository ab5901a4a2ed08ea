//! Number setup, provider-neutral: where a provider sends a number's messages and calls,
//! pointing it at the gateway ([`Provider::configure_number`](crate::Provider::configure_number)),
//! and checking it ([`check`], used by `telephony status --probe`).
//!
//! ```
//! use telephony_core::numbers::{check, FindingKind, NumberConfig, WebhookTargets};
//!
//! let targets = WebhookTargets {
//!     messaging_url: "https://gw.example.com/telephony/webhook".into(),
//!     voice_url: None,
//!     voice_status_url: None,
//! };
//! let mut number = NumberConfig::new("+15550001234".parse().unwrap(), "PN1");
//! number.sms = true;
//! number.messaging_url = Some("https://old.example.com/sms".into());
//! number.messaging_method = Some("POST".into());
//! let findings = check(&number, &targets);
//! assert_eq!(findings[0].kind, FindingKind::UrlMismatch);
//! assert_eq!(findings[0].setting, "messaging URL");
//! ```

use crate::PhoneNumber;

/// The gateway's URLs a number should point at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTargets {
    /// Inbound messages (`{publicUrl}{serve.path}`).
    pub messaging_url: String,
    /// Inbound calls (`{publicUrl}{serve.path}`), when voice is enabled.
    pub voice_url: Option<String>,
    /// Call status callbacks (`{publicUrl}{serve.statusPath}`), when voice is enabled.
    pub voice_status_url: Option<String>,
}

/// A messaging service (Twilio Messaging Service, Telnyx messaging profile) a number's
/// messages go through, with its own inbound settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConfig {
    /// `MG…` / the profile id.
    pub id: String,
    /// Where the service sends inbound messages.
    pub inbound_url: Option<String>,
    /// Its method.
    pub inbound_method: Option<String>,
    /// True when the service leaves inbound messages to each number's own URL ("defer to
    /// sender's webhook"); false when the service's URL wins.
    pub defers_to_number: bool,
}

/// A number's settings at the provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberConfig {
    /// The number.
    pub number: PhoneNumber,
    /// The provider's id for it (`PN…`).
    pub id: String,
    /// Can receive and send SMS.
    pub sms: bool,
    /// Can receive and place calls.
    pub voice: bool,
    /// Can receive and send MMS.
    pub mms: bool,
    /// Where inbound messages go.
    pub messaging_url: Option<String>,
    /// Its method.
    pub messaging_method: Option<String>,
    /// Where inbound calls go.
    pub voice_url: Option<String>,
    /// Its method.
    pub voice_method: Option<String>,
    /// Where call status callbacks go.
    pub voice_status_url: Option<String>,
    /// Something that overrides the URLs (a TwiML App, a SIP trunk), named.
    pub overridden_by: Option<String>,
    /// The messaging service the number's messages go through, when the gateway sends
    /// through one.
    pub service: Option<ServiceConfig>,
}

impl NumberConfig {
    /// A number with no capabilities and nothing configured.
    pub fn new(number: PhoneNumber, id: impl Into<String>) -> Self {
        NumberConfig {
            number,
            id: id.into(),
            sms: false,
            voice: false,
            mms: false,
            messaging_url: None,
            messaging_method: None,
            voice_url: None,
            voice_method: None,
            voice_status_url: None,
            overridden_by: None,
            service: None,
        }
    }
}

/// One setting changed by [`Provider::configure_number`](crate::Provider::configure_number).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingChange {
    /// What was changed: `number PN…` or `service MG…`.
    pub resource: String,
    /// The provider's name for the setting (`SmsUrl`, `VoiceMethod`, …).
    pub setting: String,
    /// Its value before (`None`: empty).
    pub from: Option<String>,
    /// Its value now.
    pub to: String,
}

/// An inbound message the provider could not deliver to the gateway's webhook (Twilio's
/// error 11200, "HTTP retrieval failure"), from the provider's message log
/// ([`Provider::recent_webhook_failures`](crate::Provider::recent_webhook_failures)).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFailure {
    /// The provider's message id.
    pub message_id: String,
    /// The provider's error code (`"11200"`).
    pub code: String,
    /// When the message arrived, as the provider writes it.
    pub at: Option<String>,
    /// The provider's error message.
    pub detail: Option<String>,
}

/// What [`check`] found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The provider has no such number on this account.
    NumberNotFound,
    /// The number cannot do what the gateway needs (SMS, voice).
    MissingCapability,
    /// A URL the gateway needs is not set.
    Missing,
    /// A URL points somewhere else.
    UrlMismatch,
    /// A URL is right but its method is not POST.
    MethodMismatch,
    /// Something else (a TwiML App, a trunk, a service) takes precedence over the URLs.
    Overridden,
}

/// A problem with a number's setup, with how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// Which setting (`messaging URL`, `voice method`, `service inbound URL`, …).
    pub setting: &'static str,
    /// What the provider has.
    pub found: Option<String>,
    /// What the gateway needs.
    pub expected: Option<String>,
    /// How to fix it.
    pub fix: String,
}

fn is_post(m: Option<&str>) -> bool {
    m.is_none_or(|m| m.is_empty() || m.eq_ignore_ascii_case("POST"))
}

fn empty(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// Compares a number's settings with what the gateway needs. No findings: all is well.
///
/// Messages: when the number's messages go through a service that does not defer to the
/// number, the service's inbound URL is what must match (and the number's own URL does
/// not matter); otherwise the number's. Voice: only when `targets.voice_url` is set.
pub fn check(n: &NumberConfig, targets: &WebhookTargets) -> Vec<Finding> {
    let mut out = Vec::new();
    let fix_url = "set it in the provider's console, or set autoConfigureWebhooks: true and restart the gateway";
    if !n.sms {
        out.push(Finding {
            kind: FindingKind::MissingCapability,
            setting: "SMS capability",
            found: Some("no".into()),
            expected: Some("yes".into()),
            fix: format!("{} cannot receive SMS; use an SMS-capable number", n.number),
        });
    }
    if targets.voice_url.is_some() && !n.voice {
        out.push(Finding {
            kind: FindingKind::MissingCapability,
            setting: "voice capability",
            found: Some("no".into()),
            expected: Some("yes".into()),
            fix: format!(
                "{} cannot receive calls; use a voice-capable number or set voice.enabled to false",
                n.number
            ),
        });
    }
    if let Some(who) = &n.overridden_by {
        out.push(Finding {
            kind: FindingKind::Overridden,
            setting: "number routing",
            found: Some(who.clone()),
            expected: None,
            fix: format!(
                "{who} takes precedence over the number's URLs; remove it from the number"
            ),
        });
    }
    let mut url_check = |setting_url: &'static str,
                         setting_method: &'static str,
                         url: &Option<String>,
                         method: &Option<String>,
                         want: &str| {
        if empty(url) {
            out.push(Finding {
                kind: FindingKind::Missing,
                setting: setting_url,
                found: None,
                expected: Some(want.to_string()),
                fix: format!("set the {setting_url} to {want} ({fix_url})"),
            });
        } else if url.as_deref() != Some(want) {
            out.push(Finding {
                kind: FindingKind::UrlMismatch,
                setting: setting_url,
                found: url.clone(),
                expected: Some(want.to_string()),
                fix: format!("set the {setting_url} to {want} ({fix_url})"),
            });
        } else if !is_post(method.as_deref()) {
            out.push(Finding {
                kind: FindingKind::MethodMismatch,
                setting: setting_method,
                found: method.clone(),
                expected: Some("POST".into()),
                fix: format!("set the {setting_method} to POST ({fix_url})"),
            });
        }
    };
    match &n.service {
        Some(s) if !s.defers_to_number => url_check(
            "service inbound URL",
            "service inbound method",
            &s.inbound_url,
            &s.inbound_method,
            &targets.messaging_url,
        ),
        _ => url_check(
            "messaging URL",
            "messaging method",
            &n.messaging_url,
            &n.messaging_method,
            &targets.messaging_url,
        ),
    }
    if let Some(voice) = &targets.voice_url {
        url_check(
            "voice URL",
            "voice method",
            &n.voice_url,
            &n.voice_method,
            voice,
        );
    }
    if let Some(status) = &targets.voice_status_url {
        url_check(
            "voice status callback",
            "voice status callback method",
            &n.voice_status_url,
            &None,
            status,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(voice: bool) -> WebhookTargets {
        WebhookTargets {
            messaging_url: "https://gw.example.com/telephony/webhook".into(),
            voice_url: voice.then(|| "https://gw.example.com/telephony/webhook".into()),
            voice_status_url: voice.then(|| "https://gw.example.com/telephony/status".into()),
        }
    }

    fn good() -> NumberConfig {
        let mut n = NumberConfig::new("+15550001234".parse().unwrap(), "PN1");
        n.sms = true;
        n.voice = true;
        n.messaging_url = Some("https://gw.example.com/telephony/webhook".into());
        n.messaging_method = Some("POST".into());
        n.voice_url = Some("https://gw.example.com/telephony/webhook".into());
        n.voice_method = Some("POST".into());
        n.voice_status_url = Some("https://gw.example.com/telephony/status".into());
        n
    }

    fn kinds(f: &[Finding]) -> Vec<(FindingKind, &'static str)> {
        f.iter().map(|f| (f.kind, f.setting)).collect()
    }

    #[test]
    fn a_right_number_has_no_findings() {
        assert_eq!(check(&good(), &targets(true)), vec![]);
    }

    #[test]
    fn each_wrong_setting_is_named() {
        let mut n = good();
        n.messaging_method = Some("GET".into());
        n.voice_url = None;
        n.voice_status_url = Some("https://old.example.com/status".into());
        n.voice = false;
        let f = check(&n, &targets(true));
        assert_eq!(
            kinds(&f),
            [
                (FindingKind::MissingCapability, "voice capability"),
                (FindingKind::MethodMismatch, "messaging method"),
                (FindingKind::Missing, "voice URL"),
                (FindingKind::UrlMismatch, "voice status callback"),
            ]
        );
        assert_eq!(f[1].found.as_deref(), Some("GET"));
        assert_eq!(
            f[3].fix,
            "set the voice status callback to https://gw.example.com/telephony/status (set it in the provider's console, or set autoConfigureWebhooks: true and restart the gateway)"
        );
        // Voice off: voice settings are not checked.
        assert_eq!(
            kinds(&check(&n, &targets(false))),
            [(FindingKind::MethodMismatch, "messaging method")]
        );
    }

    #[test]
    fn a_service_that_does_not_defer_is_what_must_match() {
        let mut n = good();
        n.messaging_url = Some("https://elsewhere.example.com".into());
        n.service = Some(ServiceConfig {
            id: "MG1".into(),
            inbound_url: Some("https://gw.example.com/telephony/webhook".into()),
            inbound_method: Some("POST".into()),
            defers_to_number: false,
        });
        assert_eq!(check(&n, &targets(false)), vec![]);
        n.service.as_mut().unwrap().defers_to_number = true;
        assert_eq!(
            kinds(&check(&n, &targets(false))),
            [(FindingKind::UrlMismatch, "messaging URL")]
        );
        n.service = Some(ServiceConfig {
            id: "MG1".into(),
            inbound_url: None,
            inbound_method: None,
            defers_to_number: false,
        });
        assert_eq!(
            kinds(&check(&n, &targets(false))),
            [(FindingKind::Missing, "service inbound URL")]
        );
    }
}
