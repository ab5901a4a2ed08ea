//! An in-memory [`Store`] for tests and embedding without persistence.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::{
    ErrorInfo, InboundMessage, MessageId, OutboundMessage, ProviderReceipt, Receipt, StatusUpdate,
};
use crate::store::{
    default_limit, InboxEntry, InboxQuery, InboxState, InsertOutcome, OutboxItem, StatusOutcome,
    Store, StoreError,
};

#[derive(Default)]
struct Inner {
    inbox: Vec<InboxEntry>,
    inbox_by_sid: HashMap<String, usize>,
    receipts: HashMap<MessageId, Receipt>,
    sid_to_receipt: HashMap<String, MessageId>,
    outbox: Vec<OutboxRow>,
    orphan_status: HashMap<String, Vec<StatusUpdate>>,
}

struct OutboxRow {
    item: OutboxItem,
    next_attempt: OffsetDateTime,
    leased_until: Option<OffsetDateTime>,
}

/// A [`Store`] that keeps everything in memory; state is lost when it is dropped.
///
/// ```
/// # tokio_test_block(async {
/// use telephony_core::{MemoryStore, Store, InboxQuery};
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

fn not_found(id: &MessageId) -> StoreError {
    StoreError::NotFound {
        kind: "outbound message",
        id: id.to_string(),
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_inbound(&self, msg: &InboundMessage) -> Result<InsertOutcome, StoreError> {
        let mut g = self.lock();
        if g.inbox_by_sid.contains_key(&msg.provider_sid) {
            return Ok(InsertOutcome::Duplicate);
        }
        let idx = g.inbox.len();
        g.inbox.push(InboxEntry {
            message: msg.clone(),
            state: InboxState::Queued,
            note: None,
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

    async fn enqueue_outbound(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let mut g = self.lock();
        let receipt = Receipt::new_pending(id.clone(), msg, now);
        g.receipts.insert(id.clone(), receipt.clone());
        g.outbox.push(OutboxRow {
            item: OutboxItem {
                id: id.clone(),
                message: msg.clone(),
                attempts: 0,
            },
            next_attempt: now,
            leased_until: None,
        });
        Ok(receipt)
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
            if free && row.next_attempt <= now {
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
}
