//! An in-memory [`Store`](crate::Store) for tests and embedding without persistence: the
//! state and its helpers here, one file per store trait beside it (as `telephony-store`'s
//! SQLite backend has one per table family).

mod calls;
mod cluster;
mod contacts;
mod erasure;
mod export;
mod forwarding;
mod health;
mod inbox;
mod outbox;
mod policy;
mod retention;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{
    ErrorInfo, InboundMessage, MessageId, OutboundMessage, ProviderReceipt, Receipt, StatusUpdate,
};
use crate::pairing::{
    PairingLimits, PairingOutcome, PairingRequest, PairingResolution, PairingStatus,
};
use crate::phone::PhoneNumber;
use crate::store::{
    BeginOutcome, CallQuery, CallRecord, CallStatusChange, CallStatusOutcome, CallStore, CallTurn,
    CappedEnqueue, ClaimedForward, ClaimedInbound, ClusterStore, ContactStore, DispatchOutcome,
    DispatchResult, FailedInbound, ForwardEvent, ForwardOutcome, ForwardResult, ForwardStats,
    ForwardStore, InboxEntry, InboxQuery, InboxState, InboxStore, InboxUpdate, InsertOutcome,
    LeaseToken, NewCall, OrphanCallStatus, OutboxItem, OutboxStore, PendingAnswer, PolicyStore,
    ReplicaBeat, SendCap, SendRate, StatusOutcome, StatusSource, StoreError, WorkKind, WorkWatch,
    default_limit,
};

#[derive(Default)]
struct Inner {
    inbox: Vec<InboxEntry>,
    inbox_by_sid: HashMap<String, usize>,
    /// Dispatch bookkeeping of `inbox[i]` (absent: never claimed).
    inbox_dispatch: HashMap<usize, InboundDispatch>,
    receipts: HashMap<MessageId, Receipt>,
    sid_to_receipt: HashMap<String, MessageId>,
    outbox: Vec<OutboxRow>,
    /// Status updates for unknown provider ids, each with its arrival time.
    orphan_status: HashMap<String, Vec<(StatusUpdate, OffsetDateTime)>>,
    pairings: Vec<PairingRequest>,
    approved_senders: std::collections::HashSet<PhoneNumber>,
    opted_out: std::collections::HashSet<PhoneNumber>,
    /// Opt-outs of erased numbers, as their keyed hashes ([`crate::store::OptOutKey::hash`]).
    opted_out_hashes: std::collections::HashSet<String>,
    /// The key of those hashes, made by the first erasure that needs it.
    opt_out_key: Option<crate::store::OptOutKey>,
    approved_contacts: std::collections::HashSet<PhoneNumber>,
    forwards: Vec<ForwardRow>,
    calls: Vec<CallRecord>,
    orphan_calls: Vec<OrphanCallStatus>,
    pending_answers: HashMap<String, PendingAnswer>,
    stream_tokens: HashMap<(String, String), OffsetDateTime>,
    /// Recording metadata, in arrival order ([`CallStore::add_recording`]).
    recordings: Vec<crate::voice::CallRecording>,
    /// Heartbeat rows by replica id.
    replicas: std::collections::BTreeMap<String, ReplicaBeat>,
    /// Singleton leases: task → (holder, until).
    leases: HashMap<String, (String, OffsetDateTime)>,
    /// The last outbox entry's [`OutboxItem::seq`].
    outbox_seq: i64,
    /// Each sender's next free send time ([`OutboxStore::reserve_send_slots`]).
    send_slots: HashMap<String, OffsetDateTime>,
}

struct OutboxRow {
    item: OutboxItem,
    next_attempt: OffsetDateTime,
    leased_until: Option<OffsetDateTime>,
    /// When the current (or last) lease was taken.
    claimed_at: Option<OffsetDateTime>,
    held: bool,
}

struct ForwardRow {
    event: ForwardEvent,
    next_attempt: OffsetDateTime,
    leased_until: Option<OffsetDateTime>,
    lease: Option<LeaseToken>,
    done: bool,
}

/// An inbound message's claims: attempts, the retry time, the lease.
#[derive(Default)]
struct InboundDispatch {
    attempts: u32,
    next_attempt: Option<OffsetDateTime>,
    leased_until: Option<OffsetDateTime>,
    lease: Option<LeaseToken>,
}

impl Inner {
    /// Pending requests not expired at `now`, oldest first.
    fn pending_pairings(&self, now: OffsetDateTime) -> Vec<PairingRequest> {
        self.pairings
            .iter()
            .filter(|p| p.status == PairingStatus::Pending && p.expires_at > now)
            .cloned()
            .collect()
    }

    /// Requests created in the hour before `now`, whatever became of them.
    fn pairings_created_last_hour(&self, now: OffsetDateTime) -> usize {
        let hour_ago = now - Duration::from_secs(3600);
        self.pairings
            .iter()
            .filter(|p| p.created_at > hour_ago)
            .count()
    }

    fn call_mut(&mut self, call_id: &str) -> Result<&mut CallRecord, StoreError> {
        self.calls
            .iter_mut()
            .find(|c| c.call_id == call_id)
            .ok_or_else(|| call_not_found(call_id))
    }

    /// Stores an inbound message in `state`, unless its provider SID is stored.
    fn push_inbound(
        &mut self,
        msg: &InboundMessage,
        state: InboxState,
        note: Option<&str>,
    ) -> InsertOutcome {
        if self.inbox_by_sid.contains_key(&msg.provider_sid) {
            return InsertOutcome::Duplicate;
        }
        let idx = self.inbox.len();
        self.inbox.push(InboxEntry {
            message: msg.clone(),
            state,
            note: note.map(str::to_string),
        });
        self.inbox_by_sid.insert(msg.provider_sid.clone(), idx);
        InsertOutcome::Inserted
    }

    /// Queues a forward event, unless its id is queued already.
    fn push_forward(&mut self, event: &ForwardEvent) {
        if self.forwards.iter().any(|f| f.event.id == event.id) {
            return;
        }
        self.forwards.push(ForwardRow {
            event: event.clone(),
            next_attempt: event.created_at,
            leased_until: None,
            lease: None,
            done: false,
        });
    }

    fn forward_row(&mut self, id: &str) -> Result<&mut ForwardRow, StoreError> {
        self.forwards
            .iter_mut()
            .find(|f| f.event.id == id)
            .ok_or_else(|| StoreError::NotFound {
                kind: "forward event",
                id: id.to_string(),
            })
    }

    fn enqueue(
        &mut self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
        held: bool,
    ) -> Receipt {
        let receipt = Receipt::new_pending(id.clone(), msg, now);
        self.receipts.insert(id.clone(), receipt.clone());
        self.outbox_seq += 1;
        self.outbox.push(OutboxRow {
            item: OutboxItem {
                id: id.clone(),
                message: msg.clone(),
                attempts: 0,
                seq: self.outbox_seq,
                lease: LeaseToken::from_i64(0),
                interrupted: None,
            },
            next_attempt: now,
            leased_until: None,
            claimed_at: None,
            held,
        });
        receipt
    }
}

/// A [`Store`](crate::Store) that keeps everything in memory; state is lost when it is dropped.
///
/// ```
/// # tokio_test_block(async {
/// use telephony_core::store::prelude::*;
/// use telephony_core::{InboxQuery, MemoryStore};
/// let store = MemoryStore::new();
/// assert!(store.inbox(&InboxQuery::default()).await.unwrap().is_empty());
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) { tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f); }
/// ```
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Each operation mutates under one lock, so poison never leaves half an update.
        crate::sync::lock(&self.inner)
    }
}

fn call_not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "call",
        id: id.to_string(),
    }
}

fn lease_lost(id: &MessageId) -> StoreError {
    StoreError::LeaseLost { id: id.to_string() }
}

fn not_found(id: &MessageId) -> StoreError {
    StoreError::NotFound {
        kind: "outbound message",
        id: id.to_string(),
    }
}
