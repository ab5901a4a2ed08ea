//! Events waiting for delivery to the forward URL.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{LeaseToken, StoreError};

/// An event for the forward URL (`forward.url`), delivered at least once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForwardEvent {
    /// Unique, stable id (receivers use it to drop duplicates), e.g. `evt_…`: every
    /// delivery attempt of the event, from any replica, carries the same id.
    pub id: String,
    /// `message.received`, `message.status` or `call.machine_detection`.
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

/// A forward event claimed for one delivery attempt (see
/// [`ForwardStore::claim_forwards`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedForward {
    /// The event.
    pub event: ForwardEvent,
    /// This claim's fencing token, to pass back with the result.
    pub lease: LeaseToken,
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

    /// Claims due, unleased events (or events whose lease ran out), oldest first, leasing
    /// them for `lease` under one fresh [`LeaseToken`]. Concurrent claims (other
    /// connections, other replicas) never return the same event.
    async fn claim_forwards(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedForward>, StoreError>;

    /// The receiver accepted the event: it is done. Fenced by the claim's `lease`: if the
    /// event was claimed again since (this claim's lease ran out), nothing changes and the
    /// error is [`StoreError::LeaseLost`]; `NotFound` for an unknown id.
    async fn complete_forward(
        &self,
        id: &str,
        lease: LeaseToken,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Delivery failed: record the error, release the lease, try again at `next_attempt`.
    /// Fenced like [`complete_forward`](Self::complete_forward).
    async fn retry_forward(
        &self,
        id: &str,
        lease: LeaseToken,
        error: &str,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Counts and the last error, for `telephony status`.
    async fn forward_stats(&self) -> Result<ForwardStats, StoreError>;
}
