//! The store traits: the gateway's durable state, one focused trait per concern
//! ([`InboxStore`], [`OutboxStore`], [`PolicyStore`], [`ContactStore`], [`ForwardStore`],
//! [`CallStore`], [`ClusterStore`], [`RetentionStore`], [`ErasureStore`], [`ExportStore`],
//! [`HealthStore`]), and [`Store`], which every complete backend implements by implementing
//! all of them.

mod calls;
mod cluster;
mod contacts;
mod erasure;
mod export;
mod forwarding;
mod health;
mod inbox;
mod lease;
mod outbox;
mod policy;
mod retention;

pub use calls::{
    BeginOutcome, CallQuery, CallRecord, CallStatusChange, CallStatusOutcome, CallStore, CallTurn,
    NewCall, OrphanCallStatus, PendingAnswer, StatusSource,
};
pub use cluster::{ClusterStore, ReplicaBeat, ReplicaHolds, WorkKind, WorkWatch, host_name};
pub use contacts::{CappedEnqueue, ContactStore, SendCap};
pub use erasure::{
    ErasureStore, ForgetReport, OPT_OUT_HASH_PREFIX, OPT_OUT_KEY_NAME, OptOutKey, stored_forms,
};
pub use export::{
    DEFAULT_EXPORT_PAGE, ExportCursor, ExportPage, ExportRange, ExportStore, call_cursor,
    export_page_size, inbox_cursor, receipt_cursor,
};
pub use forwarding::{
    ClaimedForward, ForwardEvent, ForwardOutcome, ForwardResult, ForwardStats, ForwardStore,
};
pub use health::{CommitObserver, HealthReport, HealthStore, StoreErrorKind, WriteFailure};
pub use inbox::{
    ClaimedInbound, DispatchOutcome, DispatchResult, FailedInbound, InboxEntry, InboxQuery,
    InboxState, InboxStore, InboxUpdate, InsertOutcome,
};
pub use lease::LeaseToken;
pub use outbox::{OutboxItem, OutboxStore, SendRate, StatusOutcome};
pub use policy::{ApprovalGate, PairingState, PolicyStore, Unapproved};
pub use retention::{
    KindPruned, PruneKind, PruneReport, RetentionParseError, RetentionPolicy, RetentionStore,
    format_retention, parse_retention,
};

/// The store traits, imported anonymously so their methods can be called on any
/// store (`Arc<dyn Store>` included): `use telephony_core::store::prelude::*;`.
pub mod prelude {
    pub use super::{
        CallStore as _, ClusterStore as _, ContactStore as _, ErasureStore as _, ExportStore as _,
        ForwardStore as _, HealthStore as _, InboxStore as _, OutboxStore as _, PolicyStore as _,
        RetentionStore as _,
    };
}

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
    /// The lease on a claimed record (an outbox entry, an inbound message, a forward
    /// event) ran out and another worker claimed it, or that worker already recorded an
    /// outcome: the holder of the old lease may not record one; nothing changed.
    #[error("the lease on {id} was lost: another worker claimed it")]
    LeaseLost {
        /// The record's id.
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

    /// True when an outbox claim was superseded ([`StoreError::LeaseLost`]).
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, StoreError::LeaseLost { .. })
    }
}

/// Stores an inbound message in the state `gate` decides ([`ApprovalGate::decide`]) and
/// returns that state with the outcome. A store that reads inside its insert
/// ([`InboxStore::insert_inbound_gated_atomic`]; SQLite and PostgreSQL do, in their group
/// commits: one read per batch of arriving messages) decides with the insert; any other
/// reads [`PolicyStore::pairing_state`] first, then inserts in that state (an approval or a
/// request committed in between counts from the next message).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use telephony_core::store::{ApprovalGate, Unapproved, insert_inbound_gated};
/// use telephony_core::{InboundMessage, InboxState, InsertOutcome, MemoryStore, PhoneNumber};
///
/// let store = MemoryStore::new();
/// let msg: InboundMessage = telephony_core::store_suite::inbound("SM1", "+15557654321", "hi", 0);
/// let gate = ApprovalGate {
///     sender: PhoneNumber::parse("+15557654321").unwrap(),
///     unapproved: Arc::new(Unapproved::Block("sender is not in allowFrom".into())),
/// };
/// assert_eq!(
///     insert_inbound_gated(&store, &msg, &gate).await.unwrap(),
///     (InsertOutcome::Inserted, InboxState::Blocked)
/// );
/// # });
/// ```
pub async fn insert_inbound_gated<S: InboxStore + PolicyStore + ?Sized>(
    store: &S,
    msg: &crate::InboundMessage,
    gate: &ApprovalGate,
) -> Result<(InsertOutcome, InboxState), StoreError> {
    if let Some(done) = store.insert_inbound_gated_atomic(msg, gate).await? {
        return Ok(done);
    }
    let read = store
        .pairing_state(
            std::slice::from_ref(&gate.sender),
            time::OffsetDateTime::now_utc(),
        )
        .await?;
    let (state, note) = gate.decide(&read);
    let outcome = if state == InboxState::Queued {
        store.insert_inbound(msg).await?
    } else {
        store.insert_inbound_in_state(msg, state, note).await?
    };
    Ok((outcome, state))
}

/// Durable gateway state: everything the gateway and its workers keep.
///
/// Implemented automatically for every type that implements the focused traits; a
/// backend implements those (and may start with only the ones its use needs). Call
/// methods through `Arc<dyn Store>` with the focused traits in scope
/// (`use telephony_core::store::*;`).
///
/// Implementations: [`MemoryStore`](crate::MemoryStore) here, SQLite in `telephony-store`.
/// Every implementation must pass [`store_suite`](crate::store_suite).
pub trait Store:
    InboxStore
    + OutboxStore
    + PolicyStore
    + ContactStore
    + ForwardStore
    + CallStore
    + ClusterStore
    + RetentionStore
    + ErasureStore
    + ExportStore
    + HealthStore
{
}

impl<T> Store for T where
    T: InboxStore
        + OutboxStore
        + PolicyStore
        + ContactStore
        + ForwardStore
        + CallStore
        + ClusterStore
        + RetentionStore
        + ErasureStore
        + ExportStore
        + HealthStore
{
}

pub(crate) fn default_limit(limit: usize) -> usize {
    if limit == 0 { 100 } else { limit }
}
