//! The [`Store`] trait: the gateway's durable state (inbox, receipts, outbox).

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{
    ErrorInfo, InboundMessage, MessageId, OutboundMessage, ProviderReceipt, Receipt, StatusUpdate,
};
use crate::pairing::{PairingLimits, PairingOutcome, PairingRequest, PairingResolution};
use crate::phone::PhoneNumber;

/// Errors from a store backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (I/O, database error, corruption).
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A record that should exist does not.
    #[error("no {kind} with id {id}")]
    NotFound {
        /// What kind of record.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// Stored data could not be decoded.
    #[error("corrupt stored {what}: {reason}")]
    Corrupt {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }

    /// True when a record was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// Result of storing an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// New message, stored.
    Inserted,
    /// A message with this provider SID was stored before: a duplicate delivery.
    Duplicate,
}

/// What happened to an inbound message after it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InboxState {
    /// Stored, waiting for the dispatch worker.
    Queued,
    /// The sender policy accepted it and the application's handler got it.
    Accepted,
    /// Held: the sender has a pending pairing request.
    PendingPairing,
    /// The sender policy refused it.
    Blocked,
    /// Dropped without dispatch (e.g. too many pending pairings).
    Dropped,
    /// The handler returned an error for it.
    Failed,
}

impl InboxState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            InboxState::Queued => "queued",
            InboxState::Accepted => "accepted",
            InboxState::PendingPairing => "pending_pairing",
            InboxState::Blocked => "blocked",
            InboxState::Dropped => "dropped",
            InboxState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            InboxState::Queued,
            InboxState::Accepted,
            InboxState::PendingPairing,
            InboxState::Blocked,
            InboxState::Dropped,
            InboxState::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// An inbound message with what happened to it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InboxEntry {
    /// The message.
    #[serde(flatten)]
    pub message: InboundMessage,
    /// Its state.
    pub state: InboxState,
    /// Why it is in that state, when there is more to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A new state for one inbound message (see [`Store::set_inbound_states`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxUpdate {
    /// The message.
    pub id: MessageId,
    /// Its new state.
    pub state: InboxState,
    /// Why, when there is more to say.
    pub note: Option<String>,
}

/// Which inbox entries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxQuery {
    /// Only messages received at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// At most this many (newest last); 0 means the default of 100.
    pub limit: usize,
}

/// An outbound message waiting to be handed to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The receipt id.
    pub id: MessageId,
    /// The message.
    pub message: OutboundMessage,
    /// Attempts made before this claim.
    pub attempts: u32,
}

/// Result of applying a provider status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The receipt moved forward.
    Applied(Receipt),
    /// The update was older than what we know (e.g. `sent` after `delivered`); nothing changed.
    Stale(Receipt),
    /// No receipt has this provider SID yet; the update was kept and is applied when it appears.
    Unknown,
}

/// Durable gateway state.
///
/// Implementations: [`MemoryStore`](crate::MemoryStore) here, SQLite in `telephony-store`.
/// Every implementation must pass [`store_suite`](crate::store_suite).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores an inbound message in state `queued`, unless its provider SID is already stored.
    async fn insert_inbound(&self, msg: &InboundMessage) -> Result<InsertOutcome, StoreError>;

    /// Lists inbox entries, oldest first.
    async fn inbox(&self, query: &InboxQuery) -> Result<Vec<InboxEntry>, StoreError>;

    /// Inbound messages still `queued` (not yet dispatched), oldest first.
    async fn queued_inbound(&self, limit: usize) -> Result<Vec<InboundMessage>, StoreError>;

    /// Records what happened to an inbound message.
    async fn set_inbound_state(
        &self,
        id: &MessageId,
        state: InboxState,
        note: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Records the outcome of several inbound messages in one transaction: all or nothing
    /// (an unknown id is `NotFound` and nothing changes). The dispatch worker uses it once
    /// per batch, so recording outcomes costs one write, not one per message.
    async fn set_inbound_states(&self, updates: &[InboxUpdate]) -> Result<(), StoreError>;

    /// Atomically creates a `pending` receipt and its outbox entry.
    async fn enqueue_outbound(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// Claims up to `limit` outbox entries that are due and not leased, leasing them for
    /// `lease` (a worker that crashes loses its lease, and the entry is claimed again).
    async fn claim_outbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError>;

    /// The provider accepted the message: record its receipt and remove the outbox entry.
    async fn complete_outbound(
        &self,
        id: &MessageId,
        result: &ProviderReceipt,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// The send failed for good: mark the receipt `failed` and remove the outbox entry.
    async fn fail_outbound(
        &self,
        id: &MessageId,
        error: &ErrorInfo,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// The send failed but may succeed later: keep it, release the lease, try at `next_attempt`.
    async fn retry_outbound(
        &self,
        id: &MessageId,
        error: &ErrorInfo,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Applies a provider status callback; status only moves forward.
    async fn apply_status(
        &self,
        update: &StatusUpdate,
        now: OffsetDateTime,
    ) -> Result<StatusOutcome, StoreError>;

    /// A receipt by the gateway's id.
    async fn receipt(&self, id: &MessageId) -> Result<Option<Receipt>, StoreError>;

    /// Number of entries in the outbox (pending sends), held ones included.
    async fn outbox_len(&self) -> Result<usize, StoreError>;

    // ---- sender policy state -------------------------------------------------------

    /// Atomically: expires pending requests past `expires_at`; returns the sender's pending
    /// request if there is one (`Existing`); otherwise, if fewer than `limits.max_pending`
    /// are pending and fewer than `limits.max_per_hour` were created in the hour before
    /// `now`, creates one with `code` (`Created`); otherwise `Limited`.
    async fn pairing_request(
        &self,
        sender: &PhoneNumber,
        code: &str,
        limits: &PairingLimits,
        now: OffsetDateTime,
    ) -> Result<PairingOutcome, StoreError>;

    /// Pending, unexpired requests, oldest first.
    async fn pending_pairings(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<PairingRequest>, StoreError>;

    /// Approves (adding the sender to the stored allowlist) or rejects a pending request,
    /// atomically.
    async fn resolve_pairing(
        &self,
        code: &str,
        approve: bool,
        now: OffsetDateTime,
    ) -> Result<PairingResolution, StoreError>;

    /// True if the number was approved through pairing.
    async fn is_approved_sender(&self, number: &PhoneNumber) -> Result<bool, StoreError>;

    /// Records an opt-out (`true`) or opt-in (`false`).
    async fn set_opted_out(
        &self,
        number: &PhoneNumber,
        opted_out: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// True if the number opted out and has not opted back in.
    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError>;

    // ---- outbound safety -----------------------------------------------------------

    /// True if the number ever texted us (any channel), was approved through pairing, or
    /// was approved as a contact.
    async fn is_known_contact(&self, number: &PhoneNumber) -> Result<bool, StoreError>;

    /// Like [`enqueue_outbound`](Store::enqueue_outbound), but the outbox entry is held
    /// (never claimed) until [`approve_contact`](Store::approve_contact) for its recipient.
    async fn enqueue_outbound_held(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError>;

    /// Approves a contact and releases its held sends (due at `now`); returns their ids.
    async fn approve_contact(
        &self,
        number: &PhoneNumber,
        now: OffsetDateTime,
    ) -> Result<Vec<MessageId>, StoreError>;

    /// Receipts of held sends, oldest first.
    async fn held_outbound(&self) -> Result<Vec<Receipt>, StoreError>;

    /// Outbound messages accepted (receipts created) at or after `since`.
    async fn count_outbound_since(&self, since: OffsetDateTime) -> Result<usize, StoreError>;

    /// The send log: receipts created at or after `since`, oldest first, at most `limit`
    /// (the newest kept; 0 means 100).
    async fn receipts(
        &self,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<Receipt>, StoreError>;

    // ---- forwarding ----------------------------------------------------------------

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

pub(crate) fn default_limit(limit: usize) -> usize {
    if limit == 0 {
        100
    } else {
        limit
    }
}
