//! Events waiting for delivery to the forward URL.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;

/// An event for the forward URL (`forward.url`), delivered at least once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForwardEvent {
    /// Unique id (receivers use it to drop duplicates), e.g. `evt_…`.
    pub id: String,
    /// `message.received` or `message.status`.
    pub kind: String,
    /// The JSON body to POST.
    pub payload: serde_json::Value,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Delivery attempts before this claim.
    pub attempts: u32,
    /// The last delivery error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Forwarding health.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForwardStats {
    /// Events not yet delivered.
    pub pending: usize,
    /// Of those, events that failed at least once.
    pub failing: usize,
    /// Events delivered.
    pub delivered: usize,
    /// The most recent delivery error among pending events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Events waiting for delivery to the forward URL.
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::forwarding`](crate::store_suite::forwarding).
#[async_trait]
pub trait ForwardStore: Send + Sync + 'static {
    /// Stores an event for delivery to the forward URL (ignored if its id exists).
    async fn enqueue_forward(&self, event: &ForwardEvent) -> Result<(), StoreError>;

    /// Claims due, unleased events, oldest first, leasing them for `lease`.
    async fn claim_forwards(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ForwardEvent>, StoreError>;

    /// The receiver accepted the event: it is done.
    async fn complete_forward(&self, id: &str, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Delivery failed: record the error, release the lease, try again at `next_attempt`.
    async fn retry_forward(
        &self,
        id: &str,
        error: &str,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Counts and the last error, for `telephony status`.
    async fn forward_stats(&self) -> Result<ForwardStats, StoreError>;
}
