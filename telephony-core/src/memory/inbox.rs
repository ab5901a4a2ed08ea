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
        Ok(self.lock().push_inbound(msg, state, note))
    }

    async fn insert_inbound_gated_atomic(
        &self,
        msg: &InboundMessage,
        gate: &crate::store::ApprovalGate,
    ) -> Result<Option<(InsertOutcome, InboxState)>, StoreError> {
        // One lock for the read and the insert: nothing changes in between.
        let mut g = self.lock();
        let now = time::OffsetDateTime::now_utc();
        let read = crate::store::PairingState {
            approved: g
                .approved_senders
                .get(&gate.sender)
                .cloned()
                .into_iter()
                .collect(),
            pending: g.pending_pairings(now),
            created_last_hour: Some(g.pairings_created_last_hour(now)),
        };
        let (state, note) = gate.decide(&read);
        Ok(Some((g.push_inbound(msg, state, note), state)))
    }

    async fn insert_inbound_forwarded(
        &self,
        msg: &InboundMessage,
        state: InboxState,
        event: &ForwardEvent,
    ) -> Result<InsertOutcome, StoreError> {
        // One lock for both: no reader sees the message without its event.
        let mut g = self.lock();
        let outcome = g.push_inbound(msg, state, None);
        if outcome == InsertOutcome::Inserted {
            g.push_forward(event);
        }
        Ok(outcome)
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

    async fn claim_inbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedInbound>, StoreError> {
        let mut g = self.lock();
        let g = &mut *g;
        // Arrival order, as the SQL stores have it: (received_at, insertion).
        let mut order: Vec<usize> = (0..g.inbox.len())
            .filter(|&i| g.inbox[i].state == InboxState::Queued)
            .collect();
        order.sort_by_key(|&i| (g.inbox[i].message.received_at, i));
        let token = LeaseToken::generate();
        let mut blocked: std::collections::HashSet<String> = Default::default();
        let mut out = Vec::new();
        for i in order {
            if out.len() >= limit {
                break;
            }
            let sender = &g.inbox[i].message.from;
            if blocked.contains(sender) {
                continue;
            }
            let d = g.inbox_dispatch.entry(i).or_default();
            let leased = d.leased_until.is_some_and(|l| l > now);
            let waiting = d.next_attempt.is_some_and(|t| t > now);
            if leased || waiting {
                blocked.insert(sender.clone());
                continue;
            }
            out.push(ClaimedInbound {
                message: g.inbox[i].message.clone(),
                attempts: d.attempts,
                lease: token,
            });
            d.attempts += 1;
            d.leased_until = Some(now + lease);
            d.lease = Some(token);
        }
        Ok(out)
    }

    async fn record_dispatch(
        &self,
        outcomes: &[DispatchOutcome],
    ) -> Result<Vec<MessageId>, StoreError> {
        let mut g = self.lock();
        let g = &mut *g;
        let mut lost = Vec::new();
        for o in outcomes {
            let Some(i) = g.inbox.iter().position(|e| e.message.id == o.id) else {
                lost.push(o.id.clone());
                continue;
            };
            let d = g.inbox_dispatch.entry(i).or_default();
            if g.inbox[i].state != InboxState::Queued || d.lease != Some(o.lease) {
                lost.push(o.id.clone());
                continue;
            }
            d.leased_until = None;
            d.lease = None;
            match &o.result {
                DispatchResult::Done { state, note } => {
                    d.next_attempt = None;
                    g.inbox[i].state = *state;
                    g.inbox[i].note = note.clone();
                }
                DispatchResult::Retry { error, at } => {
                    d.next_attempt = Some(*at);
                    g.inbox[i].note = Some(error.clone());
                }
                DispatchResult::Release => d.attempts = d.attempts.saturating_sub(1),
            }
        }
        Ok(lost)
    }

    async fn failed_inbound(&self, limit: usize) -> Result<Vec<FailedInbound>, StoreError> {
        let g = self.lock();
        let mut out: Vec<FailedInbound> = g
            .inbox
            .iter()
            .enumerate()
            .filter(|(_, e)| e.state == InboxState::Failed)
            .map(|(i, e)| FailedInbound {
                message: e.message.clone(),
                attempts: g.inbox_dispatch.get(&i).map_or(0, |d| d.attempts),
                note: e.note.clone(),
            })
            .collect();
        let limit = default_limit(limit);
        if out.len() > limit {
            out.drain(..out.len() - limit);
        }
        Ok(out)
    }

    async fn requeue_inbound(&self, id: &MessageId) -> Result<InboxState, StoreError> {
        let mut g = self.lock();
        let i = g
            .inbox
            .iter()
            .position(|e| &e.message.id == id)
            .ok_or_else(|| StoreError::NotFound {
                kind: "inbound message",
                id: id.to_string(),
            })?;
        let before = g.inbox[i].state;
        if before == InboxState::Failed {
            g.inbox[i].state = InboxState::Queued;
            g.inbox[i].note = None;
            g.inbox_dispatch.insert(i, InboundDispatch::default());
        }
        Ok(before)
    }
}
