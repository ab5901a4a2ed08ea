//! An in-memory [`Store`](crate::Store) for tests and embedding without persistence.

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
    default_limit, BeginOutcome, CallQuery, CallRecord, CallStatusChange, CallStatusOutcome,
    CallStore, CallTurn, ContactStore, ForwardEvent, ForwardStats, ForwardStore, InboxEntry,
    InboxQuery, InboxState, InboxStore, InboxUpdate, InsertOutcome, NewCall, OrphanCallStatus,
    OutboxItem, OutboxStore, PendingAnswer, PolicyStore, StatusOutcome, StatusSource, StoreError,
};

#[derive(Default)]
struct Inner {
    inbox: Vec<InboxEntry>,
    inbox_by_sid: HashMap<String, usize>,
    receipts: HashMap<MessageId, Receipt>,
    sid_to_receipt: HashMap<String, MessageId>,
    outbox: Vec<OutboxRow>,
    orphan_status: HashMap<String, Vec<StatusUpdate>>,
    pairings: Vec<PairingRequest>,
    approved_senders: std::collections::HashSet<PhoneNumber>,
    opted_out: std::collections::HashSet<PhoneNumber>,
    approved_contacts: std::collections::HashSet<PhoneNumber>,
    forwards: Vec<ForwardRow>,
    calls: Vec<CallRecord>,
    orphan_calls: Vec<OrphanCallStatus>,
    pending_answers: HashMap<String, PendingAnswer>,
    stream_tokens: HashMap<(String, String), OffsetDateTime>,
    /// The last outbox entry's [`OutboxItem::seq`].
    outbox_seq: i64,
}

struct OutboxRow {
    item: OutboxItem,
    next_attempt: OffsetDateTime,
    leased_until: Option<OffsetDateTime>,
    held: bool,
}

struct ForwardRow {
    event: ForwardEvent,
    next_attempt: OffsetDateTime,
    leased_until: Option<OffsetDateTime>,
    done: bool,
}

impl Inner {
    fn call_mut(&mut self, call_id: &str) -> Result<&mut CallRecord, StoreError> {
        self.calls
            .iter_mut()
            .find(|c| c.call_id == call_id)
            .ok_or_else(|| call_not_found(call_id))
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
            },
            next_attempt: now,
            leased_until: None,
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
        // A panic while holding the lock leaves plain data that is still consistent per
        // operation (each operation mutates under one lock), so keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn call_not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "call",
        id: id.to_string(),
    }
}

fn not_found(id: &MessageId) -> StoreError {
    StoreError::NotFound {
        kind: "outbound message",
        id: id.to_string(),
    }
}

#[async_trait]
impl InboxStore for MemoryStore {
    async fn insert_inbound(&self, msg: &InboundMessage) -> Result<InsertOutcome, StoreError> {
        self.insert_inbound_in_state(msg, InboxState::Queued, None)
            .await
    }

    async fn insert_inbound_in_state(
        &self,
        msg: &InboundMessage,
        state: InboxState,
        note: Option<&str>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut g = self.lock();
        if g.inbox_by_sid.contains_key(&msg.provider_sid) {
            return Ok(InsertOutcome::Duplicate);
        }
        let idx = g.inbox.len();
        g.inbox.push(InboxEntry {
            message: msg.clone(),
            state,
            note: note.map(str::to_string),
        });
        g.inbox_by_sid.insert(msg.provider_sid.clone(), idx);
        Ok(InsertOutcome::Inserted)
    }

    async fn inbox(&self, query: &InboxQuery) -> Result<Vec<InboxEntry>, StoreError> {
        let g = self.lock();
        let mut out: Vec<InboxEntry> = g
            .inbox
            .iter()
            .filter(|e| query.since.is_none_or(|s| e.message.received_at >= s))
            .cloned()
            .collect();
        let limit = default_limit(query.limit);
        if out.len() > limit {
            out.drain(..out.len() - limit);
        }
        Ok(out)
    }

    async fn queued_inbound(&self, limit: usize) -> Result<Vec<InboundMessage>, StoreError> {
        let g = self.lock();
        Ok(g.inbox
            .iter()
            .filter(|e| e.state == InboxState::Queued)
            .take(limit)
            .map(|e| e.message.clone())
            .collect())
    }

    async fn set_inbound_state(
        &self,
        id: &MessageId,
        state: InboxState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let e = g
            .inbox
            .iter_mut()
            .find(|e| &e.message.id == id)
            .ok_or_else(|| StoreError::NotFound {
                kind: "inbound message",
                id: id.to_string(),
            })?;
        e.state = state;
        e.note = note.map(str::to_string);
        Ok(())
    }

    async fn set_inbound_states(&self, updates: &[InboxUpdate]) -> Result<(), StoreError> {
        let mut g = self.lock();
        let mut idx = Vec::with_capacity(updates.len());
        for u in updates {
            let i = g
                .inbox
                .iter()
                .position(|e| e.message.id == u.id)
                .ok_or_else(|| StoreError::NotFound {
                    kind: "inbound message",
                    id: u.id.to_string(),
                })?;
            idx.push(i);
        }
        for (i, u) in idx.into_iter().zip(updates) {
            g.inbox[i].state = u.state;
            g.inbox[i].note = u.note.clone();
        }
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn enqueue_outbound(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        Ok(self.lock().enqueue(id, msg, now, false))
    }

    async fn claim_outbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut g = self.lock();
        let mut out = Vec::new();
        for row in g.outbox.iter_mut() {
            if out.len() >= limit {
                break;
            }
            let free = row.leased_until.is_none_or(|l| l <= now);
            if free && !row.held && row.next_attempt <= now {
                row.leased_until = Some(now + lease);
                out.push(row.item.clone());
                row.item.attempts += 1;
            }
        }
        for item in &out {
            if let Some(r) = g.receipts.get_mut(&item.id) {
                r.attempts = item.attempts + 1;
            }
        }
        Ok(out)
    }

    async fn complete_outbound(
        &self,
        id: &MessageId,
        result: &ProviderReceipt,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let mut g = self.lock();
        let g = &mut *g;
        let receipt = g.receipts.get_mut(id).ok_or_else(|| not_found(id))?;
        receipt.apply_sent(result, now);
        g.sid_to_receipt.insert(result.sid.clone(), id.clone());
        if let Some(orphans) = g.orphan_status.remove(&result.sid) {
            for u in orphans {
                receipt.apply_status(&u, now);
            }
        }
        let receipt = receipt.clone();
        g.outbox.retain(|r| &r.item.id != id);
        Ok(receipt)
    }

    async fn fail_outbound(
        &self,
        id: &MessageId,
        error: &ErrorInfo,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let mut g = self.lock();
        let receipt = g.receipts.get_mut(id).ok_or_else(|| not_found(id))?;
        receipt.apply_failure(error.clone(), now);
        let receipt = receipt.clone();
        g.outbox.retain(|r| &r.item.id != id);
        Ok(receipt)
    }

    async fn retry_outbound(
        &self,
        id: &MessageId,
        error: &ErrorInfo,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g
            .outbox
            .iter_mut()
            .find(|r| &r.item.id == id)
            .ok_or_else(|| not_found(id))?;
        row.leased_until = None;
        row.next_attempt = next_attempt;
        let receipt = g.receipts.get_mut(id).ok_or_else(|| not_found(id))?;
        receipt.error = Some(error.clone());
        Ok(())
    }

    async fn defer_outbound(
        &self,
        id: &MessageId,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g
            .outbox
            .iter_mut()
            .find(|r| &r.item.id == id)
            .ok_or_else(|| not_found(id))?;
        row.leased_until = None;
        row.next_attempt = until;
        // Undo the claim's count: the entry was not tried.
        row.item.attempts = row.item.attempts.saturating_sub(1);
        let attempts = row.item.attempts;
        let to = row.item.message.to.clone();
        let receipt = g.receipts.get_mut(id).ok_or_else(|| not_found(id))?;
        receipt.attempts = attempts;
        // Keep the recipient's order: later entries to the same recipient that are not
        // being handled now wait at least as long.
        let pos = g.outbox.iter().position(|r| &r.item.id == id).unwrap_or(0);
        for later in g.outbox.iter_mut().skip(pos + 1) {
            if later.item.message.to == to
                && later.leased_until.is_none()
                && later.next_attempt < until
            {
                later.next_attempt = until;
            }
        }
        Ok(())
    }

    async fn next_outbound_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let g = self.lock();
        Ok(g.outbox
            .iter()
            .filter(|r| !r.held && r.leased_until.is_none())
            .map(|r| r.next_attempt)
            .min())
    }

    async fn apply_status(
        &self,
        update: &StatusUpdate,
        now: OffsetDateTime,
    ) -> Result<StatusOutcome, StoreError> {
        let mut g = self.lock();
        let Some(id) = g.sid_to_receipt.get(&update.provider_sid).cloned() else {
            g.orphan_status
                .entry(update.provider_sid.clone())
                .or_default()
                .push(update.clone());
            return Ok(StatusOutcome::Unknown);
        };
        let receipt = g.receipts.get_mut(&id).ok_or_else(|| not_found(&id))?;
        if receipt.apply_status(update, now) {
            Ok(StatusOutcome::Applied(receipt.clone()))
        } else {
            Ok(StatusOutcome::Stale(receipt.clone()))
        }
    }

    async fn receipt(&self, id: &MessageId) -> Result<Option<Receipt>, StoreError> {
        Ok(self.lock().receipts.get(id).cloned())
    }

    async fn outbox_len(&self) -> Result<usize, StoreError> {
        Ok(self.lock().outbox.len())
    }

    async fn outbox_oldest(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let g = self.lock();
        Ok(g.outbox
            .iter()
            .filter_map(|r| g.receipts.get(&r.item.id).map(|rc| rc.created_at))
            .min())
    }
}

#[async_trait]
impl PolicyStore for MemoryStore {
    async fn pairing_request(
        &self,
        sender: &PhoneNumber,
        code: &str,
        limits: &PairingLimits,
        now: OffsetDateTime,
    ) -> Result<PairingOutcome, StoreError> {
        let mut g = self.lock();
        for p in g.pairings.iter_mut() {
            if p.status == PairingStatus::Pending && p.expires_at <= now {
                p.status = PairingStatus::Expired;
            }
        }
        if let Some(p) = g
            .pairings
            .iter()
            .find(|p| p.status == PairingStatus::Pending && &p.sender == sender)
        {
            return Ok(PairingOutcome::Existing(p.clone()));
        }
        let pending = g
            .pairings
            .iter()
            .filter(|p| p.status == PairingStatus::Pending)
            .count();
        let hour_ago = now - Duration::from_secs(3600);
        let recent = g
            .pairings
            .iter()
            .filter(|p| p.created_at > hour_ago)
            .count();
        if pending >= limits.max_pending || recent >= limits.max_per_hour {
            return Ok(PairingOutcome::Limited);
        }
        let req = PairingRequest {
            code: code.to_string(),
            sender: sender.clone(),
            status: PairingStatus::Pending,
            created_at: now,
            expires_at: now + limits.ttl,
        };
        g.pairings.push(req.clone());
        Ok(PairingOutcome::Created(req))
    }

    async fn pending_pairings(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        Ok(self
            .lock()
            .pairings
            .iter()
            .filter(|p| p.status == PairingStatus::Pending && p.expires_at > now)
            .cloned()
            .collect())
    }

    async fn resolve_pairing(
        &self,
        code: &str,
        approve: bool,
        now: OffsetDateTime,
    ) -> Result<PairingResolution, StoreError> {
        let mut g = self.lock();
        let Some(p) = g.pairings.iter_mut().rev().find(|p| p.code == code) else {
            return Ok(PairingResolution::NotFound);
        };
        match p.status {
            PairingStatus::Pending if p.expires_at <= now => {
                p.status = PairingStatus::Expired;
                return Ok(PairingResolution::Expired(p.clone()));
            }
            PairingStatus::Expired => return Ok(PairingResolution::Expired(p.clone())),
            PairingStatus::Approved | PairingStatus::Rejected => {
                return Ok(PairingResolution::AlreadyResolved(p.clone()))
            }
            PairingStatus::Pending => {}
        }
        p.status = if approve {
            PairingStatus::Approved
        } else {
            PairingStatus::Rejected
        };
        let p = p.clone();
        if approve {
            g.approved_senders.insert(p.sender.clone());
        }
        Ok(PairingResolution::Resolved(p))
    }

    async fn is_approved_sender(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.lock().approved_senders.contains(number))
    }

    async fn set_opted_out(
        &self,
        number: &PhoneNumber,
        opted_out: bool,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        if opted_out {
            g.opted_out.insert(number.clone());
        } else {
            g.opted_out.remove(number);
        }
        Ok(())
    }

    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.lock().opted_out.contains(number))
    }
}

#[async_trait]
impl ContactStore for MemoryStore {
    async fn is_known_contact(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        let g = self.lock();
        let wa = format!("whatsapp:{number}");
        Ok(g.approved_contacts.contains(number)
            || g.approved_senders.contains(number)
            || g.inbox
                .iter()
                .any(|e| e.message.from == number.as_str() || e.message.from == wa))
    }

    async fn enqueue_outbound_held(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        Ok(self.lock().enqueue(id, msg, now, true))
    }

    async fn approve_contact(
        &self,
        number: &PhoneNumber,
        now: OffsetDateTime,
    ) -> Result<Vec<MessageId>, StoreError> {
        let mut g = self.lock();
        g.approved_contacts.insert(number.clone());
        let mut released = Vec::new();
        for row in g.outbox.iter_mut() {
            if row.held && row.item.message.to.number() == number {
                row.held = false;
                row.next_attempt = now;
                released.push(row.item.id.clone());
            }
        }
        Ok(released)
    }

    async fn held_outbound(&self) -> Result<Vec<Receipt>, StoreError> {
        let g = self.lock();
        Ok(g.outbox
            .iter()
            .filter(|r| r.held)
            .filter_map(|r| g.receipts.get(&r.item.id).cloned())
            .collect())
    }

    async fn count_outbound_since(&self, since: OffsetDateTime) -> Result<usize, StoreError> {
        Ok(self
            .lock()
            .receipts
            .values()
            .filter(|r| r.created_at >= since)
            .count())
    }

    async fn receipts(
        &self,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<Receipt>, StoreError> {
        let g = self.lock();
        let mut out: Vec<Receipt> = g
            .receipts
            .values()
            .filter(|r| since.is_none_or(|s| r.created_at >= s))
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let limit = default_limit(limit);
        if out.len() > limit {
            out.drain(..out.len() - limit);
        }
        Ok(out)
    }
}

#[async_trait]
impl ForwardStore for MemoryStore {
    async fn enqueue_forward(&self, event: &ForwardEvent) -> Result<(), StoreError> {
        let mut g = self.lock();
        if g.forwards.iter().any(|f| f.event.id == event.id) {
            return Ok(());
        }
        g.forwards.push(ForwardRow {
            event: event.clone(),
            next_attempt: event.created_at,
            leased_until: None,
            done: false,
        });
        Ok(())
    }

    async fn claim_forwards(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ForwardEvent>, StoreError> {
        let mut g = self.lock();
        let mut out = Vec::new();
        for row in g.forwards.iter_mut() {
            if out.len() >= limit {
                break;
            }
            if !row.done && row.next_attempt <= now && row.leased_until.is_none_or(|l| l <= now) {
                row.leased_until = Some(now + lease);
                out.push(row.event.clone());
                row.event.attempts += 1;
            }
        }
        Ok(out)
    }

    async fn complete_forward(&self, id: &str, _now: OffsetDateTime) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g.forward_row(id)?;
        row.done = true;
        row.leased_until = None;
        Ok(())
    }

    async fn retry_forward(
        &self,
        id: &str,
        error: &str,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g.forward_row(id)?;
        row.leased_until = None;
        row.next_attempt = next_attempt;
        row.event.last_error = Some(error.to_string());
        Ok(())
    }

    async fn forward_stats(&self) -> Result<ForwardStats, StoreError> {
        let g = self.lock();
        let pending: Vec<&ForwardRow> = g.forwards.iter().filter(|f| !f.done).collect();
        Ok(ForwardStats {
            pending: pending.len(),
            failing: pending
                .iter()
                .filter(|f| f.event.last_error.is_some())
                .count(),
            delivered: g.forwards.iter().filter(|f| f.done).count(),
            last_error: pending
                .iter()
                .filter(|f| f.event.last_error.is_some())
                .max_by_key(|f| f.next_attempt)
                .and_then(|f| f.event.last_error.clone()),
        })
    }
}

#[async_trait]
impl CallStore for MemoryStore {
    async fn begin_call(
        &self,
        call: &NewCall,
        max_live: Option<usize>,
    ) -> Result<BeginOutcome, StoreError> {
        let mut g = self.lock();
        if let Some(existing) = g.calls.iter().find(|c| c.call_id == call.call_id) {
            return Ok(BeginOutcome::Existing(existing.clone()));
        }
        let live = g.calls.iter().filter(|c| c.is_live_session()).count();
        let full = call.session && max_live.is_some_and(|max| live >= max);
        let record = CallRecord {
            call_id: call.call_id.clone(),
            direction: call.direction,
            from: call.from.clone(),
            to: call.to.clone(),
            status: call.status,
            session: call.session && !full,
            started_at: call.at,
            answered_at: (call.status == crate::voice::CallStatus::InProgress).then_some(call.at),
            ended_at: call.status.is_terminal().then_some(call.at),
            updated_at: call.at,
            duration_secs: None,
            note: call.note.clone(),
            history: vec![CallStatusChange {
                status: call.status,
                at: call.at,
                source: call.source,
            }],
            transcript: Vec::new(),
        };
        g.calls.push(record.clone());
        Ok(if full {
            BeginOutcome::Full { live, record }
        } else {
            BeginOutcome::Started(record)
        })
    }

    async fn rename_call(&self, from_id: &str, to_id: &str) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.call_mut(from_id)?.call_id = to_id.to_string();
        if let Some(a) = g.pending_answers.remove(from_id) {
            g.pending_answers.insert(to_id.to_string(), a);
        }
        Ok(())
    }

    async fn update_call_status(
        &self,
        call_id: &str,
        status: crate::voice::CallStatus,
        duration_secs: Option<u64>,
        source: StatusSource,
        at: OffsetDateTime,
    ) -> Result<CallStatusOutcome, StoreError> {
        let mut g = self.lock();
        let Some(call) = g.calls.iter_mut().find(|c| c.call_id == call_id) else {
            g.orphan_calls.push(OrphanCallStatus {
                call_id: call_id.to_string(),
                status,
                at,
            });
            return Ok(CallStatusOutcome::Unknown);
        };
        call.updated_at = at;
        if !call.status.can_advance_to(status) {
            return Ok(CallStatusOutcome::Stale(call.clone()));
        }
        call.status = status;
        if status == crate::voice::CallStatus::InProgress && call.answered_at.is_none() {
            call.answered_at = Some(at);
        }
        if status.is_terminal() {
            call.ended_at = Some(at);
            if duration_secs.is_some() {
                call.duration_secs = duration_secs;
            }
        }
        call.history.push(CallStatusChange { status, at, source });
        let record = call.clone();
        if status.is_terminal() {
            g.pending_answers.remove(call_id);
        }
        Ok(CallStatusOutcome::Applied(record))
    }

    async fn set_call_note(&self, call_id: &str, note: &str) -> Result<(), StoreError> {
        self.lock().call_mut(call_id)?.note = Some(note.to_string());
        Ok(())
    }

    async fn add_call_turn(&self, call_id: &str, turn: &CallTurn) -> Result<(), StoreError> {
        let mut g = self.lock();
        let call = g.call_mut(call_id)?;
        call.transcript.push(turn.clone());
        call.updated_at = turn.at;
        Ok(())
    }

    async fn touch_call(&self, call_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.lock().call_mut(call_id)?.updated_at = at;
        Ok(())
    }

    async fn call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        Ok(self
            .lock()
            .calls
            .iter()
            .find(|c| c.call_id == call_id)
            .cloned())
    }

    async fn live_sessions(&self) -> Result<Vec<CallRecord>, StoreError> {
        Ok(self
            .lock()
            .calls
            .iter()
            .filter(|c| c.is_live_session())
            .cloned()
            .collect())
    }

    async fn calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError> {
        let g = self.lock();
        let matching: Vec<&CallRecord> = g
            .calls
            .iter()
            .filter(|c| query.since.is_none_or(|s| c.started_at >= s))
            .collect();
        let limit = default_limit(query.limit);
        let skip = matching.len().saturating_sub(limit);
        Ok(matching.into_iter().skip(skip).cloned().collect())
    }

    async fn orphan_call_statuses(
        &self,
        limit: usize,
    ) -> Result<Vec<OrphanCallStatus>, StoreError> {
        let g = self.lock();
        let limit = default_limit(limit);
        let skip = g.orphan_calls.len().saturating_sub(limit);
        Ok(g.orphan_calls.iter().skip(skip).cloned().collect())
    }

    async fn set_pending_answer(
        &self,
        call_id: &str,
        answer: &PendingAnswer,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.call_mut(call_id)?;
        g.pending_answers
            .insert(call_id.to_string(), answer.clone());
        Ok(())
    }

    async fn take_pending_answer(
        &self,
        call_id: &str,
    ) -> Result<Option<PendingAnswer>, StoreError> {
        Ok(self.lock().pending_answers.remove(call_id))
    }

    async fn put_stream_token(
        &self,
        call_id: &str,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.lock()
            .stream_tokens
            .insert((call_id.to_string(), token_hash.to_string()), expires_at);
        Ok(())
    }

    async fn take_stream_token(
        &self,
        call_id: &str,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let found = g
            .stream_tokens
            .remove(&(call_id.to_string(), token_hash.to_string()));
        // Expired tokens of other calls go too.
        g.stream_tokens.retain(|_, exp| *exp > now);
        Ok(found.is_some_and(|exp| exp > now))
    }
}
