//! `provider`, `twilio: { … }` and `telnyx: { … }`: which provider, and its account.

use serde::{Deserialize, Serialize};
use telephony_core::Secret;

/// Which provider sends and receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Twilio.
    #[default]
    Twilio,
    /// Telnyx (cargo feature `telnyx`, on by default).
    Telnyx,
}

impl ProviderKind {
    /// What one message may carry with this provider.
    pub fn limits(self) -> telephony_core::ProviderLimits {
        match self {
            ProviderKind::Twilio => telephony_twilio::client::LIMITS,
            #[cfg(feature = "telnyx")]
            ProviderKind::Telnyx => telephony_telnyx::LIMITS,
            // Not compiled in: building the provider fails with an error that says so.
            #[cfg(not(feature = "telnyx"))]
            ProviderKind::Telnyx => telephony_core::ProviderLimits::UNLIMITED,
        }
    }

    /// True when this binary was built with the provider.
    pub fn is_compiled_in(self) -> bool {
        match self {
            ProviderKind::Twilio => true,
            ProviderKind::Telnyx => cfg!(feature = "telnyx"),
        }
    }

    /// Every provider this binary was built with, as written in config.
    pub fn compiled_in() -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|p| p.is_compiled_in())
            .map(ProviderKind::as_str)
            .collect()
    }

    /// Every provider this crate knows, compiled in or not.
    const ALL: [ProviderKind; 2] = [ProviderKind::Twilio, ProviderKind::Telnyx];

    /// The provider named `name` as written in config (compiled in or not: `validate`
    /// names the missing cargo feature); the error names the compiled-in ones.
    fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown provider {name:?}; compiled-in providers: {}",
                    ProviderKind::compiled_in().join(", ")
                )
            })
    }

    /// The provider's name for people ("Twilio").
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::Twilio => "Twilio",
            ProviderKind::Telnyx => "Telnyx",
        }
    }

    /// The provider's name as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Twilio => "twilio",
            ProviderKind::Telnyx => "telnyx",
        }
    }
}

/// Any provider this crate knows (one not compiled in is refused by [`Config::validate`](crate::config::Config::validate),
/// which names the cargo feature); an unknown name is an error naming the compiled-in
/// providers.
impl<'de> Deserialize<'de> for ProviderKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProviderKind::from_name(&s).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;

    /// Parses a provider name as written in config; the error names the providers
    /// compiled in.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = ProviderKind::from_name(s)?;
        if !kind.is_compiled_in() {
            return Err(format!(
                "provider {s:?} is not compiled into this binary; compiled-in providers: {}",
                ProviderKind::compiled_in().join(", ")
            ));
        }
        Ok(kind)
    }
}

/// `telnyx: { … }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TelnyxSection {
    /// API key (`KEY…`), sent as `Authorization: Bearer …`.
    pub api_key: Option<Secret>,
    /// The account's webhook public key (base64 of 32 bytes, from the portal's "Keys &
    /// Credentials" → "Public Key"); webhooks are verified with it. Redacted in `Debug`
    /// and `config check` like the credentials.
    pub public_key: Option<Secret>,
    /// Messaging profile id; stands in for `fromNumber` (Telnyx picks a number from the
    /// profile), and is sent along with it when both are set.
    pub messaging_profile_id: Option<String>,
    /// REST API base URL (default `https://api.telnyx.com`).
    pub api_base_url: Option<String>,
    /// The Call Control application (`connection_id`) whose calls the gateway answers and
    /// places; voice needs it.
    pub connection_id: Option<String>,
    /// The text-to-speech voice for `speak` when `voice.voice` names none (default
    /// `AWS.Polly.Joanna-Neural`).
    pub tts_voice: Option<String>,
    /// On start, point the number's messaging profile at the gateway: its `webhook_url`
    /// (and `webhook_api_version` "2"); voice (a Call Control Application) is left alone
    /// (default false; the sandbox always does it on its simulator).
    pub auto_configure_webhooks: Option<bool>,
}

/// `twilio: { … }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TwilioSection {
    /// `AC…`.
    pub account_sid: Option<String>,
    /// The account's Auth Token.
    pub auth_token: Option<Secret>,
    /// `MG…`; wins over `fromNumber` when both are set.
    pub messaging_service_sid: Option<String>,
    /// API key SID (`SK…`) for REST calls instead of the Auth Token.
    pub api_key_sid: Option<String>,
    /// API key secret.
    pub api_key_secret: Option<Secret>,
    /// REST API base URL (default `https://api.twilio.com`).
    pub api_base_url: Option<String>,
    /// On start, point the number (or the Messaging Service) at the gateway's URLs:
    /// `SmsUrl`/`SmsMethod`, and with voice `VoiceUrl`/`VoiceMethod`/`StatusCallback`
    /// (default false; the sandbox always does it on its simulator).
    pub auto_configure_webhooks: Option<bool>,
}
