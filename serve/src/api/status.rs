//! `GET /telephony/status`.

use serde::{Deserialize, Serialize};
pub use telephony_core::store::{ReplicaBeat as Replica, ReplicaHolds};

/// What a running gateway reports about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// Always `ok` when the gateway answers.
    pub status: String,
    /// The provider's name (`twilio`, `telnyx`, …).
    pub provider: String,
    /// The inbound sender policy's name (`pairing`, `allowlist`, `open`, `disabled`, or a
    /// custom policy's).
    pub inbound_policy: String,
    /// Forwarding health; `null` when `forward.url` is not set.
    pub forwarding: Option<ForwardingStatus>,
    /// The configured public URL.
    pub public_url: Option<String>,
    /// Path of the inbound webhook.
    pub webhook_path: String,
    /// Path of the status callback.
    pub status_path: String,
    /// The status callback URL given to the provider, when there is a public URL.
    pub status_callback_url: Option<String>,
    /// Messages waiting in the outbox.
    pub outbox_pending: usize,
    /// Voice: whether it is on, the session limit, and the live sessions.
    pub voice: super::calls::VoiceStatus,
    /// The id of the replica that answered (empty from a gateway older than replicas).
    #[serde(default)]
    pub replica: String,
    /// The replicas sharing this account's store whose heartbeat is recent, by id: host,
    /// pid, version, start, last heartbeat, accounts, and what each holds now.
    #[serde(default)]
    pub replicas: Vec<Replica>,
}

/// Forwarding health, from the forward queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardingStatus {
    /// Where events are POSTed.
    pub url: String,
    /// Events not yet delivered.
    pub pending: usize,
    /// Of those, events that failed at least once.
    pub failing: usize,
    /// Events delivered.
    pub delivered: usize,
    /// The most recent delivery error among pending events.
    pub last_error: Option<String>,
}
