//! Approved outbound contacts and the send log ([`ContactStore`]).

use super::*;

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

    async fn enqueue_outbound_capped(
        &self,
        parts: &[(MessageId, OutboundMessage)],
        held: bool,
        cap: Option<SendCap>,
        now: OffsetDateTime,
    ) -> Result<CappedEnqueue, StoreError> {
        let mut g = self.lock();
        if let Some(cap) = cap {
            let sent = g
                .receipts
                .values()
                .filter(|r| r.created_at >= cap.since)
                .count();
            if sent + parts.len() > cap.max {
                return Ok(CappedEnqueue::OverCap { sent });
            }
        }
        Ok(CappedEnqueue::Queued(
            parts
                .iter()
                .map(|(id, msg)| g.enqueue(id, msg, now, held))
                .collect(),
        ))
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
