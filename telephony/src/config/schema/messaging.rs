//! What the gateway sends and accepts: `sms`, `pairing`, `outboundPolicy`, `forward` and
//! `rateLimits`.

use serde::{Deserialize, Serialize};
use telephony_core::Secret;

/// `sms: { … }` (text shaping).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsSection {
    /// `auto`, `single` or `multi`.
    #[serde(default)]
    pub chunk_mode: ChunkModeName,
    /// Longest message in characters; default and maximum: the provider's limit (1600 for
    /// Twilio).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Prefix chunks with `(i/n) `.
    #[serde(default)]
    pub segment_numbering: bool,
}

impl Default for SmsSection {
    fn default() -> Self {
        SmsSection {
            chunk_mode: ChunkModeName::Auto,
            max_length: None,
            segment_numbering: false,
        }
    }
}

/// `sms.chunkMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkModeName {
    /// One message of several segments when it fits, else several messages.
    #[default]
    Auto,
    /// Always one message.
    Single,
    /// One segment per message.
    Multi,
}

/// `pairing: { … }`: how unknown senders are paired under `inboundPolicy: "pairing"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PairingSection {
    /// How long a pairing code is valid (default 3600 s).
    #[serde(default = "default_code_ttl")]
    pub code_ttl_seconds: u64,
    /// Pending requests at once, and pairing SMS per rolling hour (default 3).
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// Text the sender gets on approval; `""` turns it off.
    #[serde(default = "default_approved_message")]
    pub approved_message: String,
}

impl Default for PairingSection {
    fn default() -> Self {
        PairingSection {
            code_ttl_seconds: default_code_ttl(),
            max_pending: default_max_pending(),
            approved_message: default_approved_message(),
        }
    }
}

fn default_code_ttl() -> u64 {
    3600
}
fn default_max_pending() -> usize {
    3
}
fn default_approved_message() -> String {
    "You're approved: you can now text this number.".into()
}

/// `outboundPolicy: { … }`: limits on what the gateway sends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundPolicySection {
    /// The first send to a number that never texted us and was never approved waits for
    /// `telephony contacts approve`.
    #[serde(default)]
    pub require_approval_for_new_contacts: bool,
    /// Messages per UTC day (all recipients); further sends fail until the next day.
    pub max_per_day: Option<u32>,
}

/// `forward: { … }`: POST every accepted inbound message and status change as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwardSection {
    /// Receiver URL (http or https).
    pub url: String,
    /// HMAC-SHA256 key for `X-Telephony-Signature: sha256=<hex>`.
    pub secret: Option<Secret>,
    /// The most events in one POST, 1–1000 (default 1: one event per POST, its body the
    /// event). Above 1, every POST's body is a JSON array of events.
    pub max_batch: Option<usize>,
}

/// A rate: `{ perSecond, burst }` or `{ perMinute, burst }` (exactly one of the two
/// periods). `burst` defaults, for outbound sends, to 50 ms worth of sends, at least 1
/// ([`slack_burst`](telephony_serve::rate_limit::outbound::slack_burst)); for the
/// listener's limiters, to the rate's own count (`{ perMinute: 10 }` lets 10 go at once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateSpec {
    /// Events per second (may be fractional: 0.5 = one every two seconds).
    pub per_second: Option<f64>,
    /// Events per minute.
    pub per_minute: Option<f64>,
    /// How many may go at once before the rate applies.
    pub burst: Option<u32>,
}

/// `rateLimits: { … }`: per-number outbound rates and the public listener's limiters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitsSection {
    /// Outbound rate for senders without a `perNumber` entry (default: by number kind:
    /// long code 1/s, toll-free 3/s, short code 100/s).
    pub default: Option<RateSpec>,
    /// Outbound rate per sender (E.164 number, Messaging Service SID or messaging profile).
    #[serde(default)]
    pub per_number: std::collections::BTreeMap<String, RateSpec>,
    /// The sender's kind when it cannot be recognized from the number: `long-code`,
    /// `toll-free` or `short-code`.
    pub number_kind: Option<String>,
    /// Inbound messages per sender (account + `From`), counted after the signature is
    /// valid; over it, messages are stored `throttled` and not dispatched.
    pub inbound_per_sender: Option<RateSpec>,
    /// Status callbacks (separate from message limits).
    pub status_callbacks: Option<RateSpec>,
    /// Requests that failed validation, per client IP (answered 429 over it).
    pub invalid_requests: Option<RateSpec>,
}
