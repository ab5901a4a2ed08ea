//! The simulator's settings, its magic numbers, and the failures a test queues for it.

use std::time::Duration;

use telephony_core::{DeliveryStatus, Secret};
use telephony_telnyx::signature::WebhookSigner;

use crate::ids::new_uuid;

/// A recipient the simulator refuses with Telnyx's 40300 "Blocked due to STOP message"
/// (HTTP 409), as if it had replied STOP. 555-0100 to 555-0199 are the numbers the North
/// American Numbering Plan reserves for fiction, so it never reaches a real phone.
pub const OPTED_OUT_RECIPIENT: &str = "+12025550100";

/// The sender the simulator reports for sends with only a `messaging_profile_id` (the
/// profile's "pool" number).
pub const POOL_SENDER: &str = "+12025550101";

/// Settings of a [`Simulator`](crate::Simulator). `Debug` shows the public key, never the API key or the
/// signing key.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The API key accepted as `Authorization: Bearer …`.
    pub api_key: Secret,
    /// The key pair webhooks are signed with.
    pub signer: WebhookSigner,
    /// The messaging profile reported on messages sent without one.
    pub messaging_profile_id: String,
    /// Where webhooks go for sends without a `webhook_url` (none: no webhooks).
    pub default_webhook_url: Option<String>,
    /// Pause before each webhook (default 50 ms).
    pub callback_delay: Duration,
    /// Where sent messages end up (default [`DeliveryStatus::Delivered`]).
    ///
    /// `Delivered`: `message.sent` (`sent`), then `message.finalized` (`delivered`).
    /// `Failed`: `sent`, then `delivery_failed` with error 40008 "Undeliverable".
    /// `Expired`: `sent`, then `expired` with 40005. `Unknown`: `sent`, then
    /// `delivery_unconfirmed`. `Sent`: only `message.sent`. Anything else: no webhook.
    pub final_status: DeliveryStatus,
    /// Call Control: applications, timeouts, the simulated clock (see [`VoiceConfig`](crate::VoiceConfig)).
    pub voice: crate::voice_config::VoiceConfig,
}

impl SimulatorConfig {
    /// Settings with this API key and signing key, defaults for everything else.
    pub fn new(api_key: impl Into<Secret>, signer: WebhookSigner) -> Self {
        SimulatorConfig {
            api_key: api_key.into(),
            signer,
            messaging_profile_id: new_uuid(),
            default_webhook_url: None,
            callback_delay: Duration::from_millis(50),
            final_status: DeliveryStatus::Delivered,
            voice: Default::default(),
        }
    }

    /// A random API key (`KEY` + 32 hex digits) and a fresh signing key, for sandbox mode.
    ///
    /// ```
    /// let c = telephony_telnyx_simulator::SimulatorConfig::generate();
    /// assert!(c.api_key.expose().starts_with("KEY"));
    /// assert_eq!(c.public_key_base64().len(), 44);
    /// ```
    pub fn generate() -> Self {
        Self::new(
            format!("KEY{}", new_uuid().replace('-', "").to_uppercase()),
            WebhookSigner::generate(),
        )
    }

    /// The public key (base64) that verifies this simulator's webhooks.
    pub fn public_key_base64(&self) -> String {
        self.signer.public_key_base64()
    }

    /// Sets [`default_webhook_url`](Self::default_webhook_url).
    pub fn with_default_webhook_url(mut self, url: impl Into<String>) -> Self {
        self.default_webhook_url = Some(url.into());
        self
    }

    /// Sets [`callback_delay`](Self::callback_delay).
    pub fn with_callback_delay(mut self, delay: Duration) -> Self {
        self.callback_delay = delay;
        self
    }

    /// Sets [`final_status`](Self::final_status).
    pub fn with_final_status(mut self, status: DeliveryStatus) -> Self {
        self.final_status = status;
        self
    }
}

/// A failure to answer the next sends with instead of creating the message. Queue it with
/// [`Simulator::inject`](crate::Simulator::inject); injections are used oldest first, before validation.
///
/// ```
/// use telephony_telnyx_simulator::Injection;
/// let i = Injection::rate_limited(2).times(3);
/// assert_eq!((i.status, i.code, i.retry_after, i.times), (429, 10011, Some(2), 3));
/// assert_eq!(Injection::server_error().status, 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// HTTP status.
    pub status: u16,
    /// Telnyx error code in the body.
    pub code: i64,
    /// Error title.
    pub title: String,
    /// Error detail.
    pub detail: String,
    /// `Retry-After` header value in seconds, if any.
    pub retry_after: Option<u64>,
    /// How many sends it answers (default 1; 0 means none).
    pub times: u32,
}

impl Injection {
    /// An error with this HTTP status, Telnyx code, title and detail, once.
    pub fn error(
        status: u16,
        code: i64,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Injection {
            status,
            code,
            title: title.into(),
            detail: detail.into(),
            retry_after: None,
            times: 1,
        }
    }

    /// 429, code 10011 "Too many requests", with `Retry-After: retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Injection {
            retry_after: Some(retry_after_secs),
            ..Self::error(
                429,
                10011,
                "Too many requests",
                "You have exceeded the maximum number of allowed requests.",
            )
        }
    }

    /// 500, code 10007 "Unexpected error".
    pub fn server_error() -> Self {
        Self::error(
            500,
            10007,
            "Unexpected error",
            "An unexpected error occured.",
        )
    }

    /// Answers `n` sends instead of one.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}
