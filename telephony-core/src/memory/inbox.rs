//! The inbox and the receipts of inbound messages ([`InboxStore`]).

use super::*;

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
