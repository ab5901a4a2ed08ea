//! Forward claims on SQLite, held in this process's memory (as inbound dispatch claims
//! are, see [`claims`](super::claims)).
//!
//! One process owns a SQLite database, so a claim's lease need not be written to the
//! file: a claim is a read of the due, undelivered events, minus those a live claim of
//! this process holds, and an event delivered once is written twice (when it is stored
//! and when it is delivered) instead of three times. PostgreSQL, shared by several
//! replicas, keeps its leases in the rows.
//!
//! The contract of [`ForwardStore`](telephony_core::ForwardStore) holds the same way: a
//! fresh token per claim, no event in two live claims, an expired lease claimable again,
//! late outcomes fenced out. **Attempts** are counted here when an event is claimed and
//! added to the row with the outcome that ends the claim (delivered or retry; a release
//! counts none). A claim the process does not live to record is not counted, and after a
//! restart every claimed, unrecorded event is claimable at once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::SqliteConnection;
use telephony_core::store::{ClaimedForward, ForwardOutcome, ForwardResult, LeaseToken};
use telephony_core::{ForwardEvent, StoreError};
use time::OffsetDateTime;

use super::codec;

/// The events this process has claimed and not yet recorded, by event id.
#[derive(Debug, Default)]
pub(crate) struct ForwardClaims {
    held: HashMap<String, Held>,
}

#[derive(Debug)]
struct Held {
    /// The claim holding the event; `None` once released (the entry then only keeps the
    /// attempts of claims that were never recorded).
    token: Option<LeaseToken>,
    /// When the lease runs out (ms since the epoch).
    until_ms: i64,
    /// When the event was due when it was claimed (ms): a release at this time writes
    /// nothing.
    due_ms: i64,
    /// Claims of this event whose attempt is not in its row yet.
    unrecorded: u32,
}

/// A due, undelivered event read from the table, with the attempts its row counts.
pub(crate) struct Candidate {
    pub event: ForwardEvent,
    pub due: OffsetDateTime,
}

/// The outcomes of a batch that still hold their claim, as the statements that record
/// them; the rest were fenced out.
pub(crate) struct Plan<'a> {
    outcomes: &'a [ForwardOutcome],
    /// Delivered events, by the attempts to add to their rows.
    pub delivered: Vec<(u32, Vec<&'a str>)>,
    /// Failed events: (id, error, due again at, attempts to add).
    pub retries: Vec<(&'a str, &'a str, i64, u32)>,
    /// Released events due at another time than they were: (due at, ids).
    pub moved: Vec<(i64, Vec<&'a str>)>,
    /// Released at their place in the queue: no statement.
    in_place: Vec<&'a str>,
}

impl<'a> Plan<'a> {
    /// Whether recording it writes to the database.
    pub(crate) fn writes(&self) -> bool {
        !self.delivered.is_empty() || !self.retries.is_empty() || !self.moved.is_empty()
    }

    /// Takes out of the plan the delivered, failed and moved events that `in_tail` says
    /// are the forward tail's (see `forward_tail`), which are recorded another way.
    pub(crate) fn take_tail(&mut self, in_tail: impl Fn(&str) -> bool) -> TailOutcomes<'a> {
        let mut t = TailOutcomes::default();
        for (_, ids) in &mut self.delivered {
            ids.retain(|id| {
                !(in_tail(id) && {
                    t.delivered.push(id);
                    true
                })
            });
        }
        self.delivered.retain(|(_, ids)| !ids.is_empty());
        self.retries.retain(|(id, error, at, attempts)| {
            !(in_tail(id) && {
                t.to_table.push((id, Some(error), *at, *attempts));
                true
            })
        });
        for (at, ids) in &mut self.moved {
            ids.retain(|id| {
                !(in_tail(id) && {
                    t.to_table.push((id, None, *at, 0));
                    true
                })
            });
        }
        self.moved.retain(|(_, ids)| !ids.is_empty());
        t
    }
}

/// The forward tail's events among a claim's outcomes.
#[derive(Debug, Default)]
pub(crate) struct TailOutcomes<'a> {
    /// Delivered.
    pub delivered: Vec<&'a str>,
    /// To store in `forwards`: (id, error if it failed, due at, attempts if it failed).
    pub to_table: Vec<(&'a str, Option<&'a str>, i64, u32)>,
}

impl TailOutcomes<'_> {
    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.delivered.is_empty() && self.to_table.is_empty()
    }

    /// Every id.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.delivered
            .iter()
            .copied()
            .chain(self.to_table.iter().map(|(id, ..)| *id))
    }

    /// The `forwards` rows of the events that go there (`events`, as the tail gave them):
    /// a failed one with its error and attempts, one put back with the attempts of the
    /// claims of it that were never recorded.
    pub(crate) fn rows(
        &self,
        events: Vec<ForwardEvent>,
        claims: &ForwardClaims,
    ) -> Result<Vec<crate::codec::ForwardRow>, StoreError> {
        let by_id: HashMap<&str, _> = self.to_table.iter().map(|t| (t.0, t)).collect();
        events
            .into_iter()
            .filter_map(|event| {
                let (_, error, at, attempts) = **by_id.get(event.id.as_str())?;
                let attempts = match error {
                    Some(_) => attempts,
                    // A release counts no attempt.
                    None => claims.unrecorded(&event.id).saturating_sub(1),
                };
                let mut row = match crate::codec::ForwardRow::encode(&event) {
                    Ok(row) => row,
                    Err(e) => return Some(Err(e)),
                };
                row.attempts = i64::from(attempts);
                row.last_error = error.map(str::to_string);
                row.next_attempt_at = at;
                Some(Ok(row))
            })
            .collect()
    }
}

impl ForwardClaims {
    /// How many events live claims hold at `now`: a claim reads this many more rows than
    /// its limit, since those are skipped.
    pub(crate) fn live(&self, now: OffsetDateTime) -> usize {
        let now_ms = codec::to_ms(now);
        self.held
            .values()
            .filter(|h| h.token.is_some() && h.until_ms > now_ms)
            .count()
    }

    /// Leases up to `limit` of `candidates` (oldest due first) that no live claim holds,
    /// under `token` until `now + lease`, counting an attempt on each.
    pub(crate) fn lease(
        &mut self,
        candidates: Vec<Candidate>,
        token: LeaseToken,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Vec<ClaimedForward> {
        let now_ms = codec::to_ms(now);
        let until_ms = now_ms.saturating_add(codec::duration_ms(lease));
        let mut out = Vec::with_capacity(limit.min(candidates.len()));
        for c in candidates {
            if out.len() >= limit {
                break;
            }
            let due_ms = codec::to_ms(c.due);
            let held = self.held.entry(c.event.id.clone()).or_insert(Held {
                token: None,
                until_ms,
                due_ms,
                unrecorded: 0,
            });
            if held.token.is_some() && held.until_ms > now_ms {
                continue;
            }
            let mut event = c.event;
            event.attempts = event.attempts.saturating_add(held.unrecorded);
            held.token = Some(token);
            held.until_ms = until_ms;
            held.due_ms = due_ms;
            held.unrecorded = held.unrecorded.saturating_add(1);
            out.push(ClaimedForward {
                event,
                lease: token,
                due: c.due,
            });
        }
        out
    }

    /// The statements that record `outcomes`: only outcomes whose event is still held by
    /// the outcome's claim are in it (the first outcome for an event counts).
    pub(crate) fn plan<'a>(&self, outcomes: &'a [ForwardOutcome]) -> Plan<'a> {
        let mut plan = Plan {
            outcomes,
            delivered: Vec::new(),
            retries: Vec::new(),
            moved: Vec::new(),
            in_place: Vec::new(),
        };
        let mut ended: HashSet<&str> = HashSet::new();
        for o in outcomes {
            let id = o.id.as_str();
            let Some(held) = self.held.get(id).filter(|h| h.token == Some(o.lease)) else {
                continue;
            };
            if !ended.insert(id) {
                continue;
            }
            let attempts = held.unrecorded;
            match &o.result {
                ForwardResult::Delivered => {
                    match plan.delivered.iter_mut().find(|(a, _)| *a == attempts) {
                        Some((_, ids)) => ids.push(id),
                        None => plan.delivered.push((attempts, vec![id])),
                    }
                }
                ForwardResult::Retry { error, at } => {
                    plan.retries
                        .push((id, error.as_str(), codec::to_ms(*at), attempts));
                }
                ForwardResult::Release { at } => {
                    let at_ms = codec::to_ms(*at);
                    if at_ms == held.due_ms {
                        plan.in_place.push(id);
                    } else {
                        match plan.moved.iter_mut().find(|(t, _)| *t == at_ms) {
                            Some((_, ids)) => ids.push(id),
                            None => plan.moved.push((at_ms, vec![id])),
                        }
                    }
                }
            }
        }
        plan
    }

    /// Claims of the event whose attempt is in no row yet.
    pub(crate) fn unrecorded(&self, id: &str) -> u32 {
        self.held.get(id).map_or(0, |h| h.unrecorded)
    }

    /// Drops what is held of these events (settled another way).
    pub(crate) fn forget<'a>(&mut self, ids: impl Iterator<Item = &'a str>) {
        for id in ids {
            self.held.remove(id);
        }
    }

    /// Records in memory that `plan` was committed, `applied` being the ids its
    /// statements changed; returns the ids of the outcomes that changed nothing (fenced
    /// out, unknown, or already delivered), in the order given.
    pub(crate) fn settle(&mut self, plan: &Plan<'_>, mut applied: HashSet<String>) -> Vec<String> {
        for (_, ids) in &plan.delivered {
            for id in ids {
                self.held.remove(*id);
            }
        }
        for (id, ..) in &plan.retries {
            self.held.remove(*id);
        }
        let released = plan.moved.iter().flat_map(|(_, ids)| ids.iter());
        for id in released.chain(plan.in_place.iter()) {
            if let Some(h) = self.held.get_mut(*id) {
                h.token = None;
                h.unrecorded = h.unrecorded.saturating_sub(1);
                if h.unrecorded == 0 {
                    self.held.remove(*id);
                }
            }
        }
        for id in &plan.in_place {
            applied.insert((*id).to_string());
        }
        crate::forward_outcomes::lost(plan.outcomes, &applied)
    }
}

/// Runs `plan`'s statements inside the caller's write transaction; returns the ids they
/// changed (events still undelivered). Ids go in as one JSON array (`json_each`), so each
/// statement's text is the same whatever the batch's size and is prepared once.
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    plan: &Plan<'_>,
    now: OffsetDateTime,
) -> Result<HashSet<String>, StoreError> {
    let mut applied = HashSet::new();
    for (attempts, ids) in &plan.delivered {
        let rows = sqlx::query(
            "UPDATE forwards SET delivered_at = ?1, attempts = attempts + ?2 \
             WHERE delivered_at IS NULL AND id IN (SELECT value FROM json_each(?3)) \
             RETURNING id",
        )
        .bind(codec::to_ms(now))
        .bind(i64::from(*attempts))
        .bind(codec::to_json(ids)?)
        .fetch_all(&mut *conn)
        .await;
        collect(rows, &mut applied)?;
    }
    for (id, error, at_ms, attempts) in &plan.retries {
        let rows = sqlx::query(
            "UPDATE forwards SET next_attempt_at = ?2, last_error = ?3, \
               attempts = attempts + ?4 \
             WHERE id = ?1 AND delivered_at IS NULL RETURNING id",
        )
        .bind(*id)
        .bind(*at_ms)
        .bind(*error)
        .bind(i64::from(*attempts))
        .fetch_all(&mut *conn)
        .await;
        collect(rows, &mut applied)?;
    }
    for (at_ms, ids) in &plan.moved {
        let rows = sqlx::query(
            "UPDATE forwards SET next_attempt_at = ?1 \
             WHERE delivered_at IS NULL AND id IN (SELECT value FROM json_each(?2)) \
             RETURNING id",
        )
        .bind(*at_ms)
        .bind(codec::to_json(ids)?)
        .fetch_all(&mut *conn)
        .await;
        collect(rows, &mut applied)?;
    }
    Ok(applied)
}

fn collect(
    rows: Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error>,
    into: &mut HashSet<String>,
) -> Result<(), StoreError> {
    for row in rows.map_err(StoreError::backend)? {
        into.insert(codec::get::<String>(&row, "forwards.id")?);
    }
    Ok(())
}
