//! Telnyx account settings: API key, webhook public key, sender, API base URL, timeout.

use std::time::Duration;

use telephony_core::{PhoneNumber, ProviderError, Secret};

use crate::signature::WebhookVerifier;

/// The production API base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://api.telnyx.com";

/// The `speak` voice used when a response names none: Amazon Polly's Joanna (US
/// English, neural), one of the voices Telnyx documents for `speak`.
pub const DEFAULT_TTS_VOICE: &str = "AWS.Polly.Joanna-Neural";

/// Settings for one Telnyx account, built with consuming setters.
///
/// `Debug` never shows the API key.
///
/// ```
/// use telephony_telnyx::TelnyxConfig;
///
/// let config = TelnyxConfig::new("KEY0123456789")
///     .public_key("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
///     .from_number("+15550001234".parse()?);
/// assert!(config.validate().is_ok());
/// assert!(!format!("{config:?}").contains("KEY0123456789"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TelnyxConfig {
    /// The API key (`Authorization: Bearer …`).
    pub api_key: Secret,
    /// The account's Ed25519 webhook public key from the portal, base64 of 32 bytes
    /// (kept out of `Debug` like the credentials: it identifies the account's webhooks).
    pub public_key: Option<Secret>,
    /// Sender number (`from`).
    pub from_number: Option<PhoneNumber>,
    /// Messaging profile (`messaging_profile_id`); with no sender number Telnyx picks one
    /// from the profile's pool.
    pub messaging_profile_id: Option<String>,
    /// The Call Control application (`connection_id`) that places and answers calls;
    /// voice needs it (`telnyx.connectionId`).
    pub connection_id: Option<String>,
    /// The text-to-speech voice for `speak` when a [`Say`](telephony_core::voice::Say)
    /// names none (Telnyx requires one): [`DEFAULT_TTS_VOICE`] unless set.
    pub tts_voice: String,
    /// Base URL of the API (tests and sandbox point it at the simulator).
    pub api_base_url: String,
    /// Timeout for each HTTP request.
    pub request_timeout: Duration,
}

impl TelnyxConfig {
    /// Settings with this API key and defaults for everything else.
    pub fn new(api_key: impl Into<Secret>) -> Self {
        TelnyxConfig {
            api_key: api_key.into(),
            public_key: None,
            from_number: None,
            messaging_profile_id: None,
            connection_id: None,
            tts_voice: DEFAULT_TTS_VOICE.to_string(),
            api_base_url: DEFAULT_API_BASE_URL.to_string(),
            request_timeout: Duration::from_secs(15),
        }
    }

    /// Sets the webhook public key (base64, as the portal shows it).
    pub fn public_key(mut self, base64: impl Into<String>) -> Self {
        self.public_key = Some(Secret::new(base64.into()));
        self
    }

    /// Sets the sender number.
    pub fn from_number(mut self, n: PhoneNumber) -> Self {
        self.from_number = Some(n);
        self
    }

    /// Sets the messaging profile.
    pub fn messaging_profile_id(mut self, id: impl Into<String>) -> Self {
        self.messaging_profile_id = Some(id.into());
        self
    }

    /// Sets the Call Control application (`connection_id`) used for calls.
    pub fn connection_id(mut self, id: impl Into<String>) -> Self {
        self.connection_id = Some(id.into());
        self
    }

    /// Sets the default text-to-speech voice (Telnyx's names: `AWS.Polly.<Id>[-Neural]`,
    /// `Azure.<Id>`, `Telnyx.<Model>.<Id>`, …).
    pub fn tts_voice(mut self, voice: impl Into<String>) -> Self {
        self.tts_voice = voice.into();
        self
    }

    /// The Call Control application, when set to something other than blanks; voice
    /// commands that need it fail with [`ProviderError::NotConfigured`] naming
    /// `telnyx.connectionId`.
    pub fn connection(&self) -> Result<&str, ProviderError> {
        self.connection_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ProviderError::NotConfigured(
                    "telnyx.connectionId is not set (voice needs the Call Control application's id)".into(),
                )
            })
    }

    /// Sets the API base URL (no trailing slash needed).
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Sets the timeout of each HTTP request.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The messaging profile, when set to something other than blanks.
    pub(crate) fn profile(&self) -> Option<&str> {
        self.messaging_profile_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Checks that the settings can send and verify webhooks, naming the setting to fix
    /// as a user writes it: `telnyx.apiKey`, `telnyx.publicKey`, `fromNumber or
    /// telnyx.messagingProfileId`. A public key that is not base64 or not 32 bytes is
    /// refused with the reason (never the key).
    pub fn validate(&self) -> Result<(), ProviderError> {
        self.verifier().map(|_| ())?;
        if self.from_number.is_none() && self.profile().is_none() {
            return Err(ProviderError::NotConfigured(
                "set fromNumber or telnyx.messagingProfileId".into(),
            ));
        }
        Ok(())
    }

    /// The API key check alone (what the REST client needs).
    pub(crate) fn check_api_key(&self) -> Result<(), ProviderError> {
        if self.api_key.expose().trim().is_empty() {
            return Err(ProviderError::NotConfigured(
                "telnyx.apiKey is not set".into(),
            ));
        }
        Ok(())
    }

    /// The webhook verifier for [`public_key`](Self::public_key), after the API key check.
    pub(crate) fn verifier(&self) -> Result<WebhookVerifier, ProviderError> {
        self.check_api_key()?;
        let key = self
            .public_key
            .as_ref()
            .map(|k| k.expose().trim())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ProviderError::NotConfigured(
                    "telnyx.publicKey is not set (it is needed to verify webhook signatures)"
                        .into(),
                )
            })?;
        WebhookVerifier::from_base64(key)
            .map_err(|e| ProviderError::NotConfigured(format!("telnyx.publicKey {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    fn not_configured(c: &TelnyxConfig) -> String {
        match c.validate() {
            Err(ProviderError::NotConfigured(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_the_missing_setting() {
        let sender = "+15550001234".parse::<PhoneNumber>().unwrap();
        let c = TelnyxConfig::new(" ")
            .public_key(KEY)
            .from_number(sender.clone());
        assert_eq!(not_configured(&c), "telnyx.apiKey is not set");
        let c = TelnyxConfig::new("k").from_number(sender.clone());
        assert_eq!(
            not_configured(&c),
            "telnyx.publicKey is not set (it is needed to verify webhook signatures)"
        );
        let c = TelnyxConfig::new("k")
            .public_key(KEY)
            .messaging_profile_id(" ");
        assert_eq!(
            not_configured(&c),
            "set fromNumber or telnyx.messagingProfileId"
        );
        assert!(
            TelnyxConfig::new("k")
                .public_key(KEY)
                .messaging_profile_id("prof")
                .validate()
                .is_ok()
        );
        assert!(
            TelnyxConfig::new("k")
                .public_key(KEY)
                .from_number(sender)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn bad_public_keys_say_why_without_the_key() {
        let c = TelnyxConfig::new("k").messaging_profile_id("p");
        // 31 bytes of the RFC 8032 key.
        let short = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUQ==";
        let m = not_configured(&c.clone().public_key(short));
        assert_eq!(
            m,
            "telnyx.publicKey decodes to 31 bytes; an Ed25519 public key is 32 bytes"
        );
        let m = not_configured(&c.clone().public_key("not*base64!"));
        assert_eq!(m, "telnyx.publicKey is not valid base64");
        assert!(!m.contains("not*base64"));
    }

    #[test]
    fn debug_hides_the_api_key() {
        let c = TelnyxConfig::new("KEY-SECRET-123").api_base_url("http://127.0.0.1:1/");
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(c.api_base_url, "http://127.0.0.1:1");
    }
}
