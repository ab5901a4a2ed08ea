//! Inbound messages: stored once per provider id, then dispatched.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{InboundMessage, MessageId};

use super::{LeaseToken, StoreError};

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
    /// Stored, waiting for the dispatch worker (or being dispatched, or waiting for a retry).
    Queued,
    /// The sender policy accepted it and the application's handler got it.
    Accepted,
    /// Held: the sender has a pending pairing request.
    PendingPairing,
    /// The sender policy refused it.
    Blocked,
    /// Dropped without dispatch (e.g. too many pending pairings).
    Dropped,
    /// Dead letter: the handler failed (returned an error, panicked, or never finished) on
    /// every one of its dispatch attempts. `telephony retry <id>`
    /// ([`InboxStore::requeue_inbound`]) puts it back in the queue.
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

/// An inbound message claimed for dispatch (see [`InboxStore::claim_inbound`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedInbound {
    /// The message; its [`id`](InboundMessage::id) is the stable event id every attempt
    /// carries.
    pub message: InboundMessage,
    /// Dispatch attempts made before this claim (0 the first time). Claims whose lease ran
    /// out count too: a message that crashes its worker still runs out of attempts.
    pub attempts: u32,
    /// This claim's fencing token, to pass back with the outcome.
    pub lease: LeaseToken,
}

/// What became of one claimed message (see [`InboxStore::record_dispatch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchResult {
    /// It reached a final state (`accepted`, `blocked`, `pending_pairing`, `dropped`, or
    /// the dead letter `failed`); the note says why.
    Done {
        /// Its new state.
        state: InboxState,
        /// Why, when there is more to say.
        note: Option<String>,
    },
    /// The attempt failed: it stays `queued`, with `error` as its note, and is claimable
    /// again at `at`. Until then the later messages of its sender are not claimed either.
    Retry {
        /// Why the attempt failed.
        error: String,
        /// When it is due again.
        at: OffsetDateTime,
    },
    /// It was claimed but not tried (an earlier message of its sender is waiting for a
    /// retry): the lease is released and the claim's attempt is not counted.
    Release,
}

/// The outcome of one claimed message, fenced by its claim's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchOutcome {
    /// The message.
    pub id: MessageId,
    /// The token of the claim that dispatched it.
    pub lease: LeaseToken,
    /// What became of it.
    pub result: DispatchResult,
}

/// A dead-lettered inbound message (state [`InboxState::Failed`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FailedInbound {
    /// The message.
    pub message: InboundMessage,
    /// Dispatch attempts made.
    pub attempts: u32,
    /// The last error.
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

    /// Stores an inbound message directly in `state` (like
    /// [`insert_inbound_in_state`](Self::insert_inbound_in_state), without a note) **and**
    /// `event` for the forward URL ([`ForwardStore`](super::ForwardStore)), in one
    /// transaction: both or neither. A duplicate (its provider SID is already stored) stores
    /// neither. The gateway uses it for a message whose dispatch would do nothing but
    /// forward it, so the message is one write instead of three (stored `queued`, the
    /// forward event, the dispatch outcome) and the dispatch worker never reads it.
    async fn insert_inbound_forwarded(
        &self,
        msg: &InboundMessage,
        state: InboxState,
        event: &super::ForwardEvent,
    ) -> Result<InsertOutcome, StoreError>;

    /// Stores an inbound message in the state `gate` decides from the sender policy's
    /// state, read in the transaction that inserts it ([`PolicyStore::pairing_state`]
    /// for the gate's sender), and returns that state with the outcome (a duplicate keeps
    /// its first state and reports the one it would have had). `Ok(None)`: this store does
    /// not read inside its inserts (the default); [`insert_inbound_gated`] then reads
    /// first and inserts after. Call that function, not this method.
    ///
    /// [`PolicyStore::pairing_state`]: super::PolicyStore::pairing_state
    /// [`insert_inbound_gated`]: super::insert_inbound_gated
    async fn insert_inbound_gated_atomic(
        &self,
        msg: &InboundMessage,
        gate: &super::ApprovalGate,
    ) -> Result<Option<(InsertOutcome, InboxState)>, StoreError> {
        let _ = (msg, gate);
        Ok(None)
    }

    /// Lists inbox entries, oldest first.
    async fn inbox(&self, query: &InboxQuery) -> Result<Vec<InboxEntry>, StoreError>;

    /// Inbound messages still `queued` (not yet dispatched, being dispatched, or waiting for
    /// a retry), oldest first. A read for tests and tools; the dispatch worker claims with
    /// [`claim_inbound`](Self::claim_inbound).
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

    /// Claims up to `limit` `queued` messages for dispatch, oldest first, leasing them for
    /// `lease` under one fresh [`LeaseToken`] and counting an attempt on each.
    ///
    /// A message is claimable when it is due (no retry pending after `now`), not leased (or
    /// its lease ran out by `now`), and **no earlier `queued` message of its sender is
    /// leased or waiting for a retry**: so a sender's messages are handed out in arrival
    /// order, to one worker at a time, by every replica on the same database. One claim
    /// may return several messages of one sender (in order); the worker handles them in
    /// that order. Concurrent claims (other connections, other replicas) never return the
    /// same message, nor messages of one sender.
    ///
    /// Where one process owns the database (SQLite), the backend may keep leases and
    /// attempt counts in that process's memory and write an attempt with its outcome:
    /// then a claim cut short by the process ending is not counted, and its messages are
    /// claimable as soon as the database is opened again.
    async fn claim_inbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedInbound>, StoreError>;

    /// Records the outcomes of claimed messages, all in one transaction (one write per
    /// batch). Each outcome is fenced: it applies only while the message is `queued` and
    /// still holds the outcome's lease token. An outcome whose claim was superseded (its
    /// lease ran out and another worker claimed the message again), or whose message is
    /// no longer queued or unknown, changes nothing; their ids are returned.
    async fn record_dispatch(
        &self,
        outcomes: &[DispatchOutcome],
    ) -> Result<Vec<MessageId>, StoreError>;

    /// [`record_dispatch`](InboxStore::record_dispatch) of `outcomes`, then
    /// [`claim_inbound`](InboxStore::claim_inbound): the dispatch worker's step between two
    /// batches. Returns the ids whose outcome changed nothing, and the new claim.
    ///
    /// The default runs the two one after the other; a backend may do better (SQLite keeps
    /// claims in memory, so the step is one write transaction and a read on its read
    /// pool, and a busy dispatch worker costs the single writer one write per batch). An
    /// error means the outcomes were not recorded (send them again); a claim that fails
    /// after the outcomes were recorded may be reported as an empty claim instead, so
    /// that an error never hides a record that happened.
    async fn record_and_claim_inbound(
        &self,
        outcomes: &[DispatchOutcome],
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<(Vec<MessageId>, Vec<ClaimedInbound>), StoreError> {
        let lost = self.record_dispatch(outcomes).await?;
        let claimed = self.claim_inbound(now, lease, limit).await?;
        Ok((lost, claimed))
    }

    /// Dead-lettered messages (state `failed`): the newest `limit` (0 means 100), oldest
    /// first, with their attempts and last error.
    async fn failed_inbound(&self, limit: usize) -> Result<Vec<FailedInbound>, StoreError>;

    /// Puts a dead-lettered message back in the queue: state `queued`, attempts 0, no
    /// note, due now. Returns the state it had: only a [`InboxState::Failed`] message is
    /// requeued; a message in any other state is left as it is. `NotFound` for an unknown
    /// id.
    async fn requeue_inbound(&self, id: &MessageId) -> Result<InboxState, StoreError>;
}
