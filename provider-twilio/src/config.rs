//! Twilio account settings: credentials, sender, API base URL, timeouts.

use std::time::Duration;

use telephony_core::{PhoneNumber, Secret};

/// The production API base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://api.twilio.com";
/// Where the Messaging API (Messaging Services) lives.
pub const DEFAULT_MESSAGING_BASE_URL: &str = "https://messaging.twilio.com";

/// How requests to the REST API authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Account SID + Auth Token (basic auth `AccountSid:AuthToken`).
    AuthToken,
    /// An API key (`SK…`) and its secret (basic auth `KeySid:Secret`); the URL still uses the Account SID.
    ApiKey {
        /// The key SID, `SK…`.
        sid: String,
        /// The key secret.
        secret: Secret,
    },
}

/// Settings for one Twilio account.
///
/// Webhook signatures are always computed with the account's Auth Token, even when REST
/// calls use an API key, so the Auth Token is required either way.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `AC…`, 34 characters.
    pub account_sid: String,
    /// The account's Auth Token (webhook signatures; REST auth unless an API key is set).
    pub auth_token: Secret,
    /// How REST calls authenticate.
    pub credentials: Credentials,
    /// Sender number (`From`).
    pub from_number: Option<PhoneNumber>,
    /// Messaging Service (`MG…`); when set it is used instead of `from_number`.
    pub messaging_service_sid: Option<String>,
    /// Base URL of the REST API (tests and sandbox point it at the simulator).
    pub api_base_url: String,
    /// Base URL of the Messaging API (`https://messaging.twilio.com`; Messaging Services).
    /// [`api_base_url`](Self::api_base_url) sets it too, so the simulator serves both.
    pub messaging_base_url: String,
    /// Timeout for each HTTP request.
    pub request_timeout: Duration,
    /// Attempts for a **read** (fetch, list) that gets 429/5xx or a network error (1 = no
    /// retry). Creating a message is always one attempt: the caller (the gateway's
    /// outbox) owns retries of sends.
    pub max_attempts: u32,
    /// Upper bound on one backoff sleep between read attempts, including a server's
    /// `Retry-After`.
    pub max_backoff: Duration,
}

impl TwilioConfig {
    /// Settings with Auth Token credentials and defaults for everything else.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<Secret>) -> Self {
        TwilioConfig {
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            credentials: Credentials::AuthToken,
            from_number: None,
            messaging_service_sid: None,
            api_base_url: DEFAULT_API_BASE_URL.to_string(),
            messaging_base_url: DEFAULT_MESSAGING_BASE_URL.to_string(),
            request_timeout: Duration::from_secs(15),
            max_attempts: 3,
            max_backoff: Duration::from_secs(30),
        }
    }

    /// Sets the sender number.
    pub fn from_number(mut self, n: PhoneNumber) -> Self {
        self.from_number = Some(n);
        self
    }

    /// Sets the Messaging Service.
    pub fn messaging_service_sid(mut self, sid: impl Into<String>) -> Self {
        self.messaging_service_sid = Some(sid.into());
        self
    }

    /// Sets the API base URL (no trailing slash needed), and the Messaging API's to the
    /// same (one simulator serves both).
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = url.into().trim_end_matches('/').to_string();
        self.messaging_base_url = self.api_base_url.clone();
        self
    }

    /// Sets the Messaging API's base URL alone.
    pub fn messaging_base_url(mut self, url: impl Into<String>) -> Self {
        self.messaging_base_url = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Uses an API key for REST calls.
    pub fn api_key(mut self, sid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.credentials = Credentials::ApiKey {
            sid: sid.into(),
            secret: secret.into(),
        };
        self
    }
}
