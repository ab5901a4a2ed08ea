//! Inbound dispatch claims on SQLite, held in this process's memory.
//!
//! One process owns a SQLite database (it is the file's single writer), so a claim's
//! lease does not need to be written to the file for other workers to see it: the
//! claims of this process are the only ones there are. A claim is therefore a read (the
//! claimable messages, minus the senders whose lane a live claim holds), and a batch's
//! outcomes are one `UPDATE` per (state, note): a message dispatched once is written
//! twice, when it is stored and when its outcome is recorded, as before claims existed.
//! PostgreSQL, shared by several replicas, keeps its leases in the rows instead.
//!
//! The contract of [`InboxStore::claim_inbound`](telephony_core::InboxStore::claim_inbound)
//! holds the same way: leases under a fresh token per claim, a sender's messages to one
//! claim at a time and in arrival order (a retry's due time is in the row, so it holds
//! the lane as on PostgreSQL), expired leases claimed again, late outcomes fenced out.
//!
//! **Attempts** are counted here when a message is claimed, and added to the row with
//! the outcome that ends the claim (done or retry; a release counts none). A claim that
//! the process does not live to record is not counted: after a restart, every message
//! that was claimed but not recorded is claimable at once (there is no lease to wait
//! out) and is dispatched again with the attempts its recorded outcomes counted.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::SqliteConnection;
use telephony_core::store::{ClaimedInbound, DispatchOutcome, DispatchResult, LeaseToken};
use telephony_core::{InboundMessage, InboxState, MessageId, StoreError};
use time::OffsetDateTime;

use super::codec;
use super::inbox;
use crate::dispatch_outcomes;

/// The messages this process has claimed and not yet recorded, by message id.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    held: HashMap<String, Held>,
}

#[derive(Debug)]
struct Held {
    /// The claim holding the message; `None` once released (the entry then only keeps
    /// the attempts of claims that were never recorded).
    token: Option<LeaseToken>,
    /// When the lease runs out (ms since the epoch).
    until_ms: i64,
    sender: String,
    /// Claims of this message whose attempt is not in its row yet.
    unrecorded: u32,
}

/// Messages that become `state` with `note`, adding `attempts` to each row.
pub(crate) struct DoneGroup<'a> {
    pub state: InboxState,
    pub note: Option<&'a str>,
    pub attempts: u32,
    pub ids: Vec<&'a str>,
}

/// One message back to `queued` with `error`, due at `at_ms`, adding `attempts`.
pub(crate) struct RetryOne<'a> {
    pub id: &'a str,
    pub error: &'a str,
    pub at_ms: i64,
    pub attempts: u32,
}

/// The outcomes of a batch that still hold their claim, as the statements that record
/// them; the rest were fenced out.
pub(crate) struct Plan<'a> {
    outcomes: &'a [DispatchOutcome],
    pub done: Vec<DoneGroup<'a>>,
    pub retries: Vec<RetryOne<'a>>,
    /// Released untried: no statement, the claim is dropped.
    released: Vec<&'a str>,
    /// Every id above: the outcomes that end their claim (the first for an id).
    ended: HashSet<&'a str>,
}

impl Plan<'_> {
    /// Whether recording it writes to the database.
    pub(crate) fn writes(&self) -> bool {
        !self.done.is_empty() || !self.retries.is_empty()
    }

    fn ends_claim(&self, id: &str) -> bool {
        self.ended.contains(id)
    }
}

/// A claimable row read from the inbox: the message and the attempts its row counts.
pub(crate) struct Candidate {
    pub message: InboundMessage,
    pub recorded_attempts: u32,
}

impl Claims {
    /// The statements that record `outcomes`: only outcomes whose message is still held
    /// by the outcome's claim (same token) are in it.
    pub(crate) fn plan<'a>(&self, outcomes: &'a [DispatchOutcome]) -> Plan<'a> {
        let mut plan = Plan {
            outcomes,
            done: Vec::new(),
            retries: Vec::new(),
            released: Vec::new(),
            ended: HashSet::new(),
        };
        for o in outcomes {
            let id = o.id.as_str();
            let Some(held) = self.held.get(id).filter(|h| h.token == Some(o.lease)) else {
                continue;
            };
            if !plan.ended.insert(id) {
                // A second outcome for one claim: the first one counts.
                continue;
            }
            let attempts = held.unrecorded;
            match &o.result {
                DispatchResult::Done { state, note } => {
                    let note = note.as_deref();
                    match plan
                        .done
                        .iter_mut()
                        .find(|d| d.state == *state && d.note == note && d.attempts == attempts)
                    {
                        Some(d) => d.ids.push(id),
                        None => plan.done.push(DoneGroup {
                            state: *state,
                            note,
                            attempts,
                            ids: vec![id],
                        }),
                    }
                }
                DispatchResult::Retry { error, at } => plan.retries.push(RetryOne {
                    id,
                    error,
                    at_ms: codec::to_ms(*at),
                    attempts,
                }),
                DispatchResult::Release => plan.released.push(id),
            }
        }
        plan
    }

    /// The senders whose lane a live claim holds at `now`, once `plan` is recorded.
    pub(crate) fn held_senders(&self, now: OffsetDateTime, plan: &Plan<'_>) -> Vec<String> {
        let now_ms = codec::to_ms(now);
        let mut senders: Vec<String> = self
            .held
            .iter()
            .filter(|(id, h)| h.token.is_some() && h.until_ms > now_ms && !plan.ends_claim(id))
            .map(|(_, h)| h.sender.clone())
            .collect();
        senders.sort_unstable();
        senders.dedup();
        senders
    }

    /// Records in memory that `plan` was committed, `applied` being the ids its
    /// statements changed; returns the outcomes that changed nothing (fenced out, or
    /// their message no longer queued), in order, each once.
    pub(crate) fn settle(
        &mut self,
        plan: &Plan<'_>,
        mut applied: HashSet<String>,
    ) -> Vec<MessageId> {
        for d in &plan.done {
            for id in &d.ids {
                self.held.remove(*id);
            }
        }
        for r in &plan.retries {
            self.held.remove(r.id);
        }
        for id in &plan.released {
            if let Some(h) = self.held.get_mut(*id) {
                h.token = None;
                h.unrecorded = h.unrecorded.saturating_sub(1);
                if h.unrecorded == 0 {
                    self.held.remove(*id);
                }
            }
            applied.insert((*id).to_string());
        }
        dispatch_outcomes::lost(plan.outcomes, &applied)
    }

    /// Leases `candidates` (read with [`held_senders`](Self::held_senders) excluded)
    /// under `token` until `now + lease`, counting an attempt on each.
    pub(crate) fn lease(
        &mut self,
        candidates: Vec<Candidate>,
        token: LeaseToken,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Vec<ClaimedInbound> {
        let until_ms = codec::to_ms(now).saturating_add(codec::duration_ms(lease));
        candidates
            .into_iter()
            .map(|c| {
                let held = self
                    .held
                    .entry(c.message.id.as_str().to_string())
                    .or_insert_with(|| Held {
                        token: None,
                        until_ms,
                        sender: c.message.from.clone(),
                        unrecorded: 0,
                    });
                let attempts = c.recorded_attempts.saturating_add(held.unrecorded);
                held.token = Some(token);
                held.until_ms = until_ms;
                held.unrecorded = held.unrecorded.saturating_add(1);
                ClaimedInbound {
                    message: c.message,
                    attempts,
                    lease: token,
                }
            })
            .collect()
    }

    /// Forgets the claims of `ids`, whose state was set outside dispatch (a later outcome
    /// for them is fenced out).
    pub(crate) fn forget<'a>(&mut self, ids: impl IntoIterator<Item = &'a MessageId>) {
        for id in ids {
            self.held.remove(id.as_str());
        }
    }
}

/// Runs `plan`'s statements inside the caller's write transaction; returns the ids they
/// changed (messages still `queued`).
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    plan: &Plan<'_>,
) -> Result<HashSet<String>, StoreError> {
    let mut applied = HashSet::new();
    for d in &plan.done {
        inbox::record_done(&mut *conn, d, &mut applied).await?;
    }
    for r in &plan.retries {
        inbox::record_retry(&mut *conn, r, &mut applied).await?;
    }
    Ok(applied)
}
