//! Pruning old records ([`RetentionStore`]), with the SQL stores' rules: oldest first, at
//! most `limit` records, nothing still in use.

use super::*;
use crate::store::{PruneKind, RetentionStore};

#[async_trait]
impl RetentionStore for MemoryStore {
    async fn prune_batch(
        &self,
        kind: PruneKind,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut g = self.lock();
        Ok(match kind {
            PruneKind::Messages => g.prune_messages(before, limit),
            PruneKind::Sends => g.prune_sends(before, limit),
            PruneKind::Calls => g.prune_calls(before, limit),
            PruneKind::Forwards => g.prune_forwards(before, limit),
            PruneKind::Pairing => g.prune_pairing(before, limit),
        })
    }

    async fn count_prunable(
        &self,
        kind: PruneKind,
        before: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let g = self.lock();
        Ok(match kind {
            PruneKind::Messages => g.old_messages(before).len(),
            PruneKind::Sends => g.old_receipts(before).len() + g.old_send_orphans(before),
            PruneKind::Calls => {
                g.old_calls(before).len() + g.old_call_orphans(before) + g.old_tokens(before)
            }
            PruneKind::Forwards => g.old_forwards(before).len(),
            PruneKind::Pairing => g.old_pairings(before).len(),
        })
    }

    /// Memory has no file to give back.
    async fn reclaim_space(&self, _max_pages: u32) -> Result<u64, StoreError> {
        Ok(0)
    }
}

/// Positions `i` of `items` whose `(time, i)` are the `limit` smallest: oldest first.
fn oldest<T>(items: Vec<(OffsetDateTime, T)>, limit: usize) -> Vec<T> {
    let mut items = items;
    items.sort_by_key(|(t, _)| *t);
    items.into_iter().take(limit).map(|(_, x)| x).collect()
}

impl Inner {
    /// Inbox positions of old messages that are not queued, with their arrival time.
    fn old_messages(&self, before: OffsetDateTime) -> Vec<(OffsetDateTime, usize)> {
        self.inbox
            .iter()
            .enumerate()
            .filter(|(_, e)| e.state != InboxState::Queued && e.message.received_at < before)
            .map(|(i, e)| (e.message.received_at, i))
            .collect()
    }

    fn prune_messages(&mut self, before: OffsetDateTime, limit: usize) -> usize {
        let gone: std::collections::HashSet<usize> = oldest(self.old_messages(before), limit)
            .into_iter()
            .collect();
        if gone.is_empty() {
            return 0;
        }
        // The senders stay known contacts (first-contact approval).
        for &i in &gone {
            let from = &self.inbox[i].message.from;
            if let Ok(n) = PhoneNumber::parse(from.strip_prefix("whatsapp:").unwrap_or(from)) {
                self.approved_contacts.insert(n);
            }
        }
        // Positions shift: rebuild the maps keyed by position.
        let old = std::mem::take(&mut self.inbox);
        let mut dispatch = std::mem::take(&mut self.inbox_dispatch);
        self.inbox_by_sid.clear();
        for (i, e) in old.into_iter().enumerate() {
            if gone.contains(&i) {
                continue;
            }
            let at = self.inbox.len();
            if let Some(d) = dispatch.remove(&i) {
                self.inbox_dispatch.insert(at, d);
            }
            self.inbox_by_sid.insert(e.message.provider_sid.clone(), at);
            self.inbox.push(e);
        }
        gone.len()
    }

    /// Old receipts whose send left the outbox.
    fn old_receipts(&self, before: OffsetDateTime) -> Vec<(OffsetDateTime, MessageId)> {
        self.receipts
            .values()
            .filter(|r| r.created_at < before && !self.outbox.iter().any(|o| o.item.id == r.id))
            .map(|r| (r.created_at, r.id.clone()))
            .collect()
    }

    fn old_send_orphans(&self, before: OffsetDateTime) -> usize {
        self.orphan_status
            .values()
            .flatten()
            .filter(|(_, at)| *at < before)
            .count()
    }

    fn prune_sends(&mut self, before: OffsetDateTime, limit: usize) -> usize {
        let ids = oldest(self.old_receipts(before), limit);
        for id in &ids {
            self.receipts.remove(id);
        }
        self.sid_to_receipt.retain(|_, id| !ids.contains(id));
        let mut removed = ids.len();
        // Then status updates for unknown ids, in what is left of the batch.
        let mut budget = limit - removed;
        for updates in self.orphan_status.values_mut() {
            let before_len = updates.len();
            updates.retain(|(_, at)| {
                if budget > 0 && *at < before {
                    budget -= 1;
                    false
                } else {
                    true
                }
            });
            removed += before_len - updates.len();
        }
        self.orphan_status.retain(|_, u| !u.is_empty());
        removed
    }

    /// Old calls that reached a final status.
    fn old_calls(&self, before: OffsetDateTime) -> Vec<(OffsetDateTime, String)> {
        self.calls
            .iter()
            .filter(|c| c.status.is_terminal() && c.started_at < before)
            .map(|c| (c.started_at, c.call_id.clone()))
            .collect()
    }

    fn old_call_orphans(&self, before: OffsetDateTime) -> usize {
        self.orphan_calls.iter().filter(|o| o.at < before).count()
    }

    fn old_tokens(&self, before: OffsetDateTime) -> usize {
        self.stream_tokens.values().filter(|e| **e < before).count()
    }

    fn prune_calls(&mut self, before: OffsetDateTime, limit: usize) -> usize {
        let ids = oldest(self.old_calls(before), limit);
        self.calls.retain(|c| !ids.contains(&c.call_id));
        for id in &ids {
            self.pending_answers.remove(id);
        }
        // A call's recordings go with it (as ON DELETE CASCADE does in SQL).
        self.recordings.retain(|r| !ids.contains(&r.call_id));
        let mut removed = ids.len();
        let mut budget = limit - removed;
        self.orphan_calls.retain(|o| {
            if budget > 0 && o.at < before {
                budget -= 1;
                removed += 1;
                false
            } else {
                true
            }
        });
        self.stream_tokens.retain(|_, exp| {
            if budget > 0 && *exp < before {
                budget -= 1;
                removed += 1;
                false
            } else {
                true
            }
        });
        removed
    }

    /// Old delivered forward events, by position.
    fn old_forwards(&self, before: OffsetDateTime) -> Vec<(OffsetDateTime, usize)> {
        self.forwards
            .iter()
            .enumerate()
            .filter(|(_, f)| f.done && f.event.created_at < before)
            .map(|(i, f)| (f.event.created_at, i))
            .collect()
    }

    fn prune_forwards(&mut self, before: OffsetDateTime, limit: usize) -> usize {
        let gone = oldest(self.old_forwards(before), limit);
        let mut i = 0;
        self.forwards.retain(|_| {
            i += 1;
            !gone.contains(&(i - 1))
        });
        gone.len()
    }

    /// Old pairing requests that are resolved, or expired before the cutoff.
    fn old_pairings(&self, before: OffsetDateTime) -> Vec<(OffsetDateTime, usize)> {
        self.pairings
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.created_at < before
                    && (p.status != PairingStatus::Pending || p.expires_at <= before)
            })
            .map(|(i, p)| (p.created_at, i))
            .collect()
    }

    fn prune_pairing(&mut self, before: OffsetDateTime, limit: usize) -> usize {
        let gone = oldest(self.old_pairings(before), limit);
        let mut i = 0;
        self.pairings.retain(|_| {
            i += 1;
            !gone.contains(&(i - 1))
        });
        gone.len()
    }
}
