//! Inbound messages: stored once per provider id, then dispatched.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{InboundMessage, MessageId};

use super::StoreError;

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
    /// Over the per-sender inbound rate limit (`rateLimits.inboundPerSender`): acknowledged
    /// and kept, never dispatched.
    Throttled,
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
            InboxState::Throttled => "throttled",
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
            InboxState::Throttled,
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

/// A new state for one inbound message (see [`InboxStore::set_inbound_states`]).
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

/// Inbound messages: stored once per provider id, then dispatched.
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::inbox`](crate::store_suite::inbox).
#[async_trait]
pub trait InboxStore: Send + Sync + 'static {
    /// Stores an inbound message in state `queued`, unless its provider SID is already stored.
    async fn insert_inbound(&self, msg: &InboundMessage) -> Result<InsertOutcome, StoreError>;

    /// Stores an inbound message directly in `state` with `note`, unless its provider SID
    /// is already stored (then nothing changes: a duplicate keeps its first state). Used for
    /// messages that must never be dispatched, e.g. [`InboxState::Throttled`]: storing the
    /// state with the row means no dispatch worker can see it `queued` in between.
    async fn insert_inbound_in_state(
        &self,
        msg: &InboundMessage,
        state: InboxState,
        note: Option<&str>,
    ) -> Result<InsertOutcome, StoreError>;

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
}
