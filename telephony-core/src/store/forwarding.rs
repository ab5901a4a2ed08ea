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
    /// The JSON body to POST (`Null` when the body is given [`encoded`](Self::encoded)).
    pub payload: serde_json::Value,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Delivery attempts before this claim.
    pub attempts: u32,
    /// The last delivery error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The body already encoded as JSON text, when its producer had it so (the gateway's
    /// `message.received` events): POSTed as is, and kept as is by the stores, so it is
    /// not decoded and encoded again on the way. `payload` is then `Null`;
    /// [`json`](Self::json) and [`json_text`](Self::json_text) give the body either way.
    /// A store that reads an event back from its table may return it decoded instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded: Option<std::sync::Arc<str>>,
}

impl ForwardEvent {
    /// The body as a JSON value: [`encoded`](Self::encoded) decoded when given, else
    /// [`payload`](Self::payload).
    ///
    /// ```
    /// # use telephony_core::ForwardEvent;
    /// let ev = ForwardEvent { id: "evt_1".into(), kind: "message.received".into(),
    ///     payload: serde_json::Value::Null, created_at: time::OffsetDateTime::UNIX_EPOCH,
    ///     attempts: 0, last_error: None, encoded: Some(r#"{"id":"evt_1"}"#.into()) };
    /// assert_eq!(ev.json().unwrap()["id"], "evt_1");
    /// assert_eq!(ev.json_text().unwrap(), r#"{"id":"evt_1"}"#);
    /// ```
    pub fn json(&self) -> Result<std::borrow::Cow<'_, serde_json::Value>, serde_json::Error> {
        match &self.encoded {
            Some(text) => serde_json::from_str(text).map(std::borrow::Cow::Owned),
            None => Ok(std::borrow::Cow::Borrowed(&self.payload)),
        }
    }

    /// The body as JSON text: [`encoded`](Self::encoded) when given, else
    /// [`payload`](Self::payload) encoded.
    pub fn json_text(&self) -> Result<std::borrow::Cow<'_, str>, serde_json::Error> {
        match &self.encoded {
            Some(text) => Ok(std::borrow::Cow::Borrowed(text)),
            None => serde_json::to_string(&self.payload).map(std::borrow::Cow::Owned),
        }
    }
}

/// A forward event claimed for one delivery attempt (see
/// [`ForwardStore::claim_forwards`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedForward {
    /// The event.
    pub event: ForwardEvent,
    /// This claim's fencing token, to pass back with the result.
    pub lease: LeaseToken,
    /// When the event was due: its place in the queue (claims take events oldest due
    /// first). [`ForwardResult::Release`] with this time gives it back at the same place.
    pub due: OffsetDateTime,
}

/// What became of one claimed forward event (see [`ForwardStore::record_forwards`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardResult {
    /// The receiver accepted it: it is done.
    Delivered,
    /// The attempt failed: `error` is recorded, the lease released, and the event is due
    /// again at `at`. The claim's attempt counts.
    Retry {
        /// Why the attempt failed.
        error: String,
        /// When it is due again.
        at: OffsetDateTime,
    },
    /// It was claimed but not tried (an earlier event of its contact failed, the batch ran
    /// out of time, the worker is stopping): the lease is released, the event is due again
    /// at `at`, and the claim's attempt is not counted.
    Release {
        /// When it is due again.
        at: OffsetDateTime,
    },
}

/// The outcome of one claimed forward event, fenced by its claim's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardOutcome {
    /// The event's id.
    pub id: String,
    /// The token of the claim that delivered it ([`ClaimedForward::lease`]).
    pub lease: LeaseToken,
    /// What became of it.
    pub result: ForwardResult,
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

    /// Records the outcomes of claimed events, all in one write transaction (one write
    /// per batch instead of one per event); `now` is the delivery time of
    /// [`ForwardResult::Delivered`] events. Each outcome is fenced like
    /// [`complete_forward`](Self::complete_forward): it applies only while the event is
    /// undelivered and still holds the outcome's lease token. An outcome whose claim was
    /// superseded, whose event is already delivered, or whose id is unknown changes
    /// nothing and does not stop the others: their ids are returned, in the order given.
    /// An error means nothing was recorded.
    ///
    /// ```
    /// use std::time::Duration;
    /// use telephony_core::store::{ForwardEvent, ForwardOutcome, ForwardResult, ForwardStore};
    /// use telephony_core::MemoryStore;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// let now = time::OffsetDateTime::now_utc();
    /// for id in ["evt_1", "evt_2"] {
    ///     let payload = serde_json::json!({"id": id});
    ///     let event = ForwardEvent { id: id.into(), kind: "message.received".into(), payload,
    ///         created_at: now, attempts: 0, last_error: None, encoded: None };
    ///     store.enqueue_forward(&event).await?;
    /// }
    /// let claimed = store.claim_forwards(now, Duration::from_secs(60), 10).await?;
    /// let later = now + Duration::from_secs(1);
    /// let outcomes = [
    ///     ForwardOutcome { id: "evt_1".into(), lease: claimed[0].lease,
    ///         result: ForwardResult::Retry { error: "receiver answered HTTP 503".into(), at: later } },
    ///     ForwardOutcome { id: "evt_2".into(), lease: claimed[1].lease,
    ///         result: ForwardResult::Release { at: later } },
    ///     ForwardOutcome { id: "evt_unknown".into(), lease: claimed[1].lease,
    ///         result: ForwardResult::Delivered },
    /// ];
    /// assert_eq!(store.record_forwards(&outcomes, now).await?, ["evt_unknown"]);
    /// let again = store.claim_forwards(later, Duration::from_secs(60), 10).await?;
    /// // The retried event counts its attempt; the released one does not.
    /// let attempts: Vec<u32> = again.iter().map(|c| c.event.attempts).collect();
    /// assert_eq!(attempts, [1, 0]);
    /// # Ok::<(), telephony_core::StoreError>(())
    /// # }).unwrap();
    /// ```
    async fn record_forwards(
        &self,
        outcomes: &[ForwardOutcome],
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError>;

    /// Counts and the last error, for `telephony status`.
    async fn forward_stats(&self) -> Result<ForwardStats, StoreError>;
}
