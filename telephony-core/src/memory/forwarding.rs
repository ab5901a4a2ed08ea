//! The forwarding queue ([`ForwardStore`]).

use super::*;

#[async_trait]
impl ForwardStore for MemoryStore {
    async fn enqueue_forward(&self, event: &ForwardEvent) -> Result<(), StoreError> {
        self.lock().push_forward(event);
        Ok(())
    }

    async fn claim_forwards(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedForward>, StoreError> {
        let mut g = self.lock();
        let token = LeaseToken::generate();
        let mut out = Vec::new();
        for row in g.forwards.iter_mut() {
            if out.len() >= limit {
                break;
            }
            if !row.done && row.next_attempt <= now && row.leased_until.is_none_or(|l| l <= now) {
                row.leased_until = Some(now + lease);
                row.lease = Some(token);
                out.push(ClaimedForward {
                    event: row.event.clone(),
                    lease: token,
                    due: row.next_attempt,
                });
                row.event.attempts += 1;
            }
        }
        Ok(out)
    }

    async fn complete_forward(
        &self,
        id: &str,
        lease: LeaseToken,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g.forward_row(id)?;
        fence(row, id, lease)?;
        row.done = true;
        row.leased_until = None;
        row.lease = None;
        Ok(())
    }

    async fn retry_forward(
        &self,
        id: &str,
        lease: LeaseToken,
        error: &str,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g.forward_row(id)?;
        fence(row, id, lease)?;
        row.leased_until = None;
        row.lease = None;
        row.next_attempt = next_attempt;
        row.event.last_error = Some(error.to_string());
        Ok(())
    }

    async fn record_forwards(
        &self,
        outcomes: &[ForwardOutcome],
        _now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut g = self.lock();
        let mut lost = Vec::new();
        for o in outcomes {
            let Some(row) = g
                .forwards
                .iter_mut()
                .find(|f| f.event.id == o.id && !f.done && f.lease == Some(o.lease))
            else {
                lost.push(o.id.clone());
                continue;
            };
            row.leased_until = None;
            row.lease = None;
            match &o.result {
                ForwardResult::Delivered => row.done = true,
                ForwardResult::Retry { error, at } => {
                    row.next_attempt = *at;
                    row.event.last_error = Some(error.clone());
                }
                ForwardResult::Release { at } => {
                    row.next_attempt = *at;
                    row.event.attempts = row.event.attempts.saturating_sub(1);
                }
            }
        }
        Ok(lost)
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

/// `LeaseLost` unless the row still holds `lease` (and is not delivered).
fn fence(row: &ForwardRow, id: &str, lease: LeaseToken) -> Result<(), StoreError> {
    if row.done || row.lease != Some(lease) {
        return Err(StoreError::LeaseLost { id: id.to_string() });
    }
    Ok(())
}
