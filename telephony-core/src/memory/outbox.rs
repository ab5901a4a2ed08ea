//! The durable outbox and receipts of sends ([`OutboxStore`]).

use super::*;

/// Senders whose next free send time is kept before those in the past are forgotten.
const SEND_SLOT_KEYS: usize = 1024;

impl Inner {
    /// The outbox row `id` while `lease` is its latest claim.
    fn leased_row(
        &mut self,
        id: &MessageId,
        lease: LeaseToken,
    ) -> Result<&mut OutboxRow, StoreError> {
        let known = self.receipts.contains_key(id);
        match self.outbox.iter_mut().find(|r| &r.item.id == id) {
            Some(row) if row.item.lease == lease => Ok(row),
            Some(_) => Err(lease_lost(id)),
            None if known => Err(lease_lost(id)),
            None => Err(not_found(id)),
        }
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
                // A lease that ran out without an outcome: that claim may have sent.
                if row.leased_until.is_some() && row.item.interrupted.is_none() {
                    row.item.interrupted = row.claimed_at;
                }
                row.claimed_at = Some(now);
                row.item.lease = LeaseToken::from_i64(row.item.lease.as_i64() + 1);
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
        lease: LeaseToken,
        result: &ProviderReceipt,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let mut g = self.lock();
        let g = &mut *g;
        g.leased_row(id, lease)?;
        let receipt = g.receipts.get_mut(id).ok_or_else(|| not_found(id))?;
        receipt.apply_sent(result, now);
        g.sid_to_receipt.insert(result.sid.clone(), id.clone());
        if let Some(orphans) = g.orphan_status.remove(&result.sid) {
            for (u, _) in orphans {
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
        lease: LeaseToken,
        error: &ErrorInfo,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let mut g = self.lock();
        g.leased_row(id, lease)?;
        let receipt = g.receipts.get_mut(id).ok_or_else(|| not_found(id))?;
        receipt.apply_failure(error.clone(), now);
        let receipt = receipt.clone();
        g.outbox.retain(|r| &r.item.id != id);
        Ok(receipt)
    }

    async fn retry_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        error: &ErrorInfo,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g.leased_row(id, lease)?;
        row.leased_until = None;
        row.next_attempt = next_attempt;
        let receipt = g.receipts.get_mut(id).ok_or_else(|| not_found(id))?;
        receipt.error = Some(error.clone());
        Ok(())
    }

    async fn defer_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g.leased_row(id, lease)?;
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

    /// Books in this store's memory: a `MemoryStore` is one process's.
    async fn reserve_send_slots(
        &self,
        key: &str,
        rate: SendRate,
        count: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<OffsetDateTime>, StoreError> {
        let mut g = self.lock();
        if g.send_slots.len() > SEND_SLOT_KEYS {
            // Senders whose next free time has passed book as if new.
            g.send_slots.retain(|_, next| *next > now);
        }
        let (slots, next) = rate.book(g.send_slots.get(key).copied(), now, count);
        g.send_slots.insert(key.to_string(), next);
        Ok(slots)
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
                .push((update.clone(), now));
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
