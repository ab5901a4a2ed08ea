//! Signed webhooks: one ready to POST, and the record of one the simulator sent.

use bytes::Bytes;
use telephony_core::WebhookRequest;

/// A webhook signed for a URL, not yet sent: what the simulator would POST.
#[derive(Debug, Clone)]
pub struct SignedWebhook {
    /// Where it is meant to go.
    pub url: String,
    /// `content-type`, `telnyx-signature-ed25519` and `telnyx-timestamp`.
    pub headers: http::HeaderMap,
    /// The JSON body, exactly as signed.
    pub body: Bytes,
    /// The signed timestamp (Unix seconds).
    pub timestamp: i64,
}

impl SignedWebhook {
    /// The webhook as the gateway would receive it, for
    /// [`Provider::handle_webhook`](telephony_core::Provider::handle_webhook).
    pub fn request(&self) -> WebhookRequest {
        WebhookRequest {
            url: self.url.clone(),
            method: http::Method::POST,
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }
}

/// One webhook the simulator attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// `message.sent`, `message.finalized` or `message.received`.
    pub event_type: String,
    /// The message it is about.
    pub message_id: String,
    /// The status it carried (`to[0].status`).
    pub status: String,
    /// The URL it was POSTed to.
    pub url: String,
    /// The JSON body sent.
    pub body: String,
    /// The `telnyx-signature-ed25519` sent.
    pub signature: String,
    /// The `telnyx-timestamp` sent.
    pub timestamp: i64,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed (connection error, timeout, non-2xx), if it did. Not retried.
    pub error: Option<String>,
}

impl WebhookRecord {
    /// True if the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}
