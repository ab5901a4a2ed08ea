//! Erasing one number ([`ErasureStore`]).

use super::*;
use crate::store::{ErasureStore, ForgetReport, OptOutKey, stored_forms};

#[async_trait]
impl ErasureStore for MemoryStore {
    async fn forget(&self, number: &PhoneNumber) -> Result<ForgetReport, StoreError> {
        let mut g = self.lock();
        let g = &mut *g;
        let forms = stored_forms(number);
        let named = |s: &str| forms.iter().any(|f| f == s);
        let mut report = ForgetReport::default();

        // The inbox is indexed by position: rebuild the indexes of the entries kept.
        let entries = std::mem::take(&mut g.inbox);
        let mut dispatch = std::mem::take(&mut g.inbox_dispatch);
        g.inbox_by_sid.clear();
        for (i, e) in entries.into_iter().enumerate() {
            if named(&e.message.from) || named(&e.message.to) {
                report.inbound_messages += 1;
                continue;
            }
            let j = g.inbox.len();
            if let Some(d) = dispatch.remove(&i) {
                g.inbox_dispatch.insert(j, d);
            }
            g.inbox_by_sid.insert(e.message.provider_sid.clone(), j);
            g.inbox.push(e);
        }

        let sends: Vec<MessageId> = g
            .receipts
            .values()
            .filter(|r| r.to.number() == number || r.from.as_deref().is_some_and(named))
            .map(|r| r.id.clone())
            .collect();
        for id in &sends {
            if let Some(r) = g.receipts.remove(id) {
                for sid in &r.provider_sids {
                    g.orphan_status.remove(sid);
                }
            }
        }
        g.sid_to_receipt.retain(|_, id| !sends.contains(id));
        let before = g.outbox.len();
        g.outbox.retain(|row| !sends.contains(&row.item.id));
        report.sends = sends.len() as u64;
        report.queued_sends = (before - g.outbox.len()) as u64;

        let mut gone_calls = Vec::new();
        g.calls.retain(|c| {
            if named(&c.from) || named(&c.to) {
                report.calls += 1;
                report.call_status_changes += c.history.len() as u64;
                report.call_turns += c.transcript.len() as u64;
                gone_calls.push(c.call_id.clone());
                false
            } else {
                true
            }
        });
        for id in &gone_calls {
            g.pending_answers.remove(id);
        }
        let before = g.recordings.len();
        g.recordings.retain(|r| !gone_calls.contains(&r.call_id));
        report.call_recordings = (before - g.recordings.len()) as u64;
        g.stream_tokens
            .retain(|(call_id, _), _| !gone_calls.contains(call_id));
        g.orphan_calls.retain(|o| !gone_calls.contains(&o.call_id));

        let before = g.pairings.len();
        g.pairings.retain(|p| &p.sender != number);
        report.pairing_requests = (before - g.pairings.len()) as u64;
        report.approved_senders = u64::from(g.approved_senders.remove(number));
        report.approved_contacts = u64::from(g.approved_contacts.remove(number));

        let before = g.forwards.len();
        g.forwards.retain(|f| {
            // A body that does not decode names no one.
            let Ok(body) = f.event.json() else {
                return true;
            };
            let data = &body["data"];
            !(data["from"].as_str().is_some_and(named) || data["to"].as_str().is_some_and(named))
        });
        report.forward_events = (before - g.forwards.len()) as u64;

        if g.opted_out.remove(number) {
            let key = g.opt_out_key.get_or_insert_with(OptOutKey::generate);
            let hash = key.hash(number);
            g.opted_out_hashes.insert(hash);
            report.opt_outs_hashed = 1;
        }
        Ok(report)
    }
}
