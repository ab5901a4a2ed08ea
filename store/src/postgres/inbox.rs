//! The inbox table: inbound messages and what happened to them.
//!
//! A message's provider SID is unique: an insert that finds it stored (or being stored by
//! another connection's open transaction, which it waits for) does nothing and reports a
//! duplicate, so a webhook delivered to two replicas at once is stored once.

use std::collections::HashSet;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use telephony_core::store::{ClaimedInbound, DispatchOutcome, FailedInbound, LeaseToken};
use telephony_core::{InboundMessage, InboxEntry, InboxState, InboxUpdate, MessageId, StoreError};
use time::OffsetDateTime;

use super::codec::{
    self, get, get_channel, get_inbox_state, get_json, get_time, get_u32, get_u32_opt,
};
use crate::dispatch_outcomes;

/// An inbound message encoded for its row; built by the caller's task so the single writer
/// only binds and executes.
#[derive(Debug)]
pub(crate) struct InboxRow {
    id: String,
    provider_sid: String,
    account_sid: Option<String>,
    channel: String,
    sender: String,
    recipient: String,
    body: String,
    media_json: String,
    num_segments: Option<i64>,
    received_at: i64,
    extra_json: Vec<u8>,
    state: &'static str,
    note: Option<String>,
}

impl InboxRow {
    pub(crate) fn encode(msg: &InboundMessage) -> Result<Self, StoreError> {
        Ok(InboxRow {
            id: msg.id.as_str().to_string(),
            provider_sid: msg.provider_sid.clone(),
            account_sid: msg.account_sid.clone(),
            channel: codec::channel_name(msg.channel)?,
            sender: msg.from.clone(),
            recipient: msg.to.clone(),
            body: msg.body.clone(),
            media_json: codec::to_json(&msg.media)?,
            num_segments: msg.num_segments.map(i64::from),
            received_at: codec::to_ms(msg.received_at),
            extra_json: crate::extras::encode_extra(&msg.extra, &msg.provider_sid),
            state: InboxState::Queued.as_str(),
            note: None,
        })
    }

    /// The row stored directly in `state` (e.g. `throttled`) instead of `queued`.
    pub(crate) fn in_state(mut self, state: InboxState, note: Option<&str>) -> Self {
        self.set_state(state, note);
        self
    }

    pub(crate) fn set_state(&mut self, state: InboxState, note: Option<&str>) {
        self.state = state.as_str();
        self.note = note.map(str::to_string);
    }

    /// Inserts the row unless its provider SID is stored; returns whether it was inserted.
    /// Two connections inserting the same SID at once: the second waits for the first's
    /// transaction and then does nothing (it lost), or inserts if the first rolled back.
    ///
    /// Only the provider SID is a duplicate: a clash on the gateway id is a constraint
    /// error, because acknowledging a different message as a duplicate would lose it.
    pub(crate) async fn insert(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO inbox (id, provider_sid, account_sid, channel, sender, recipient, body, \
             media_json, num_segments, received_at, extra_json, state, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (provider_sid) DO NOTHING",
        )
        .bind(&self.id)
        .bind(&self.provider_sid)
        .bind(&self.account_sid)
        .bind(&self.channel)
        .bind(&self.sender)
        .bind(&self.recipient)
        .bind(&self.body)
        .bind(&self.media_json)
        .bind(self.num_segments)
        .bind(self.received_at)
        .bind(&self.extra_json)
        .bind(self.state)
        .bind(&self.note)
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Inserts many rows with one statement, in provider-SID order (see
/// [`group_commit`](super::group_commit) for why), and returns the provider SIDs that were
/// new (duplicates are skipped by `ON CONFLICT DO NOTHING` and not returned).
pub(crate) async fn insert_many(
    conn: &mut PgConnection,
    rows: &[&InboxRow],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let mut sorted = rows.to_vec();
    sorted.sort_by(|a, b| a.provider_sid.cmp(&b.provider_sid));
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "INSERT INTO inbox (id, provider_sid, account_sid, channel, sender, recipient, body, \
         media_json, num_segments, received_at, extra_json, state, note) ",
    );
    q.push_values(sorted, |mut b, r| {
        b.push_bind(&r.id)
            .push_bind(&r.provider_sid)
            .push_bind(&r.account_sid)
            .push_bind(&r.channel)
            .push_bind(&r.sender)
            .push_bind(&r.recipient)
            .push_bind(&r.body)
            .push_bind(&r.media_json)
            .push_bind(r.num_segments)
            .push_bind(r.received_at)
            .push_bind(&r.extra_json)
            .push_bind(r.state)
            .push_bind(&r.note);
    });
    q.push(" ON CONFLICT (provider_sid) DO NOTHING RETURNING provider_sid");
    let returned = q.build().fetch_all(conn).await?;
    returned
        .iter()
        .map(|row| sqlx::Row::try_get::<String, _>(row, 0))
        .collect()
}

impl InboxRow {
    /// The provider SID (the dedupe key).
    pub(crate) fn provider_sid(&self) -> &str {
        &self.provider_sid
    }
}

fn decode_message(row: &PgRow) -> Result<InboundMessage, StoreError> {
    let provider_sid: String = get(row, "inbox.provider_sid")?;
    let extra: Vec<u8> = get(row, "inbox.extra_json")?;
    Ok(InboundMessage {
        id: MessageId::from_string(get::<String>(row, "inbox.id")?),
        extra: crate::extras::decode_stored(&extra, &provider_sid)
            .map_err(|why| codec::corrupt("inbox.extra_json", why))?,
        provider_sid,
        account_sid: get(row, "inbox.account_sid")?,
        channel: get_channel(row, "inbox.channel")?,
        from: get(row, "inbox.sender")?,
        to: get(row, "inbox.recipient")?,
        body: get(row, "inbox.body")?,
        media: get_json(row, "inbox.media_json")?,
        num_segments: get_u32_opt(row, "inbox.num_segments")?,
        received_at: get_time(row, "inbox.received_at")?,
    })
}

pub(crate) fn decode_entry(row: &PgRow) -> Result<InboxEntry, StoreError> {
    Ok(InboxEntry {
        message: decode_message(row)?,
        state: get_inbox_state(row, "inbox.state")?,
        note: get(row, "inbox.note")?,
    })
}

/// Entries received at or after `since`, the newest `limit` of them, oldest first.
pub(crate) async fn list(
    conn: &mut PgConnection,
    since: Option<OffsetDateTime>,
    limit: usize,
) -> Result<Vec<InboxEntry>, StoreError> {
    // Newest `limit` rows through the received_at index, then back into oldest-first order.
    let rows = sqlx::query(
        "SELECT * FROM ( \
           SELECT seq, id, provider_sid, account_sid, channel, sender, recipient, body, \
                  media_json, num_segments, received_at, extra_json, state, note \
           FROM inbox WHERE received_at >= $1 \
           ORDER BY received_at DESC, seq DESC LIMIT $2 \
         ) AS newest ORDER BY received_at, seq",
    )
    .bind(since.map_or(i64::MIN, codec::to_ms))
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(StoreError::backend)?;
    rows.iter().map(decode_entry).collect()
}

/// Messages still `queued`, oldest first.
pub(crate) async fn queued(
    conn: &mut PgConnection,
    limit: usize,
) -> Result<Vec<InboundMessage>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, provider_sid, account_sid, channel, sender, recipient, body, media_json, \
                num_segments, received_at, extra_json \
         FROM inbox WHERE state = 'queued' ORDER BY received_at, seq LIMIT $1",
    )
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(StoreError::backend)?;
    rows.iter().map(decode_message).collect()
}

/// Records the state of an inbound message.
/// Applies many outcomes with one `UPDATE … WHERE id IN (…)` per distinct (state, note),
/// inside the caller's transaction. If a row is missing, the first missing id is reported
/// (the caller's transaction then rolls back, so nothing changes).
pub(crate) async fn set_states(
    conn: &mut PgConnection,
    updates: &[InboxUpdate],
) -> Result<(), StoreError> {
    type Outcome<'a> = (InboxState, Option<&'a str>);
    let mut groups: Vec<(Outcome<'_>, Vec<&str>)> = Vec::new();
    for u in updates {
        let key = (u.state, u.note.as_deref());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ids)) => ids.push(u.id.as_str()),
            None => groups.push((key, vec![u.id.as_str()])),
        }
    }
    let mut changed = 0u64;
    for ((state, note), ids) in &groups {
        changed += sqlx::query("UPDATE inbox SET state = $1, note = $2 WHERE id = ANY($3)")
            .bind(state.as_str())
            .bind(*note)
            .bind(ids)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::backend)?
            .rows_affected();
    }
    if changed as usize != updates.len() {
        // Find which one is missing, for an error that names it.
        for u in updates {
            let found: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM inbox WHERE id = $1")
                .bind(u.id.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::backend)?;
            if found.is_none() {
                return Err(StoreError::NotFound {
                    kind: "inbound message",
                    id: u.id.to_string(),
                });
            }
        }
    }
    Ok(())
}

pub(crate) async fn set_state(
    conn: &mut PgConnection,
    id: &MessageId,
    state: InboxState,
    note: Option<&str>,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE inbox SET state = $2, note = $3 WHERE id = $1")
        .bind(id.as_str())
        .bind(state.as_str())
        .bind(note)
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            kind: "inbound message",
            id: id.to_string(),
        });
    }
    Ok(())
}

/// Leases up to `limit` claimable queued messages under `token`, oldest first, counting an
/// attempt on each (see [`InboxStore::claim_inbound`](telephony_core::InboxStore::claim_inbound)
/// for which are claimable). Runs inside the caller's transaction.
///
/// Claims in one schema are serialized by a transaction-level advisory lock, taken first:
/// "no earlier message of this sender is held" must be decided on a snapshot that already
/// contains every other claim, and `FOR UPDATE SKIP LOCKED` alone cannot give that (a
/// claim that skips a sender's row another claim is locking would take the sender's next
/// message). Claims are batched (up to a few hundred messages per statement), so one at a
/// time per schema costs little; the lock is held only for the one statement and its
/// commit. Recording outcomes does not take it: it only changes rows its own claim leased.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    lease: std::time::Duration,
    limit: usize,
    token: LeaseToken,
) -> Result<Vec<ClaimedInbound>, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || $1, 0))")
        .bind(CLAIM_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
    let now_ms = codec::to_ms(now);
    // Under READ COMMITTED this statement's snapshot is taken after the lock was granted,
    // so it sees every earlier claim's commit. The `state = 'queued'` in the UPDATE makes
    // a row changed since (by `set_inbound_state`) drop out instead of being leased.
    let rows = sqlx::query(
        "WITH picked AS ( \
           SELECT m.id FROM inbox m \
           WHERE m.state = 'queued' \
             AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= $1) \
             AND (m.leased_until IS NULL OR m.leased_until <= $1) \
             AND NOT EXISTS ( \
               SELECT 1 FROM inbox b \
               WHERE b.state = 'queued' \
                 AND (b.leased_until IS NOT NULL OR b.next_attempt_at IS NOT NULL) \
                 AND b.sender = m.sender \
                 AND (b.received_at, b.seq) < (m.received_at, m.seq) \
                 AND (b.leased_until > $1 OR b.next_attempt_at > $1)) \
           ORDER BY m.received_at, m.seq LIMIT $4 \
         ), claimed AS ( \
           UPDATE inbox i SET leased_until = $2, lease_token = $3, attempts = i.attempts + 1 \
           FROM picked WHERE i.id = picked.id AND i.state = 'queued' \
           RETURNING i.seq, i.id, i.provider_sid, i.account_sid, i.channel, i.sender, \
                     i.recipient, i.body, i.media_json, i.num_segments, i.received_at, \
                     i.extra_json, i.attempts \
         ) \
         SELECT * FROM claimed ORDER BY received_at, seq",
    )
    .bind(now_ms)
    .bind(now_ms.saturating_add(codec::duration_ms(lease)))
    .bind(token.as_i64())
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(StoreError::backend)?;
    rows.iter()
        .map(|row| {
            Ok(ClaimedInbound {
                message: decode_message(row)?,
                // The row counts this claim; the claim reports the attempts before it.
                attempts: get_u32(row, "inbox.attempts")?.saturating_sub(1),
                lease: token,
            })
        })
        .collect()
}

/// The advisory lock's key within the schema (hashed with the schema's name).
const CLAIM_LOCK: &str = ":inbox-claim";

/// Applies fenced dispatch outcomes inside the caller's transaction; returns the ids that
/// changed nothing (superseded claim, no longer queued, unknown).
pub(crate) async fn record(
    conn: &mut PgConnection,
    outcomes: &[DispatchOutcome],
) -> Result<Vec<MessageId>, StoreError> {
    let grouped = dispatch_outcomes::group(outcomes);
    let mut applied = HashSet::new();
    for d in &grouped.done {
        let rows = sqlx::query(
            "UPDATE inbox SET state = $1, note = $2, leased_until = NULL, lease_token = NULL, \
               next_attempt_at = NULL \
             WHERE state = 'queued' AND lease_token = $3 AND id = ANY($4) RETURNING id",
        )
        .bind(d.state.as_str())
        .bind(d.note)
        .bind(d.token)
        .bind(&d.ids)
        .fetch_all(&mut *conn)
        .await;
        collect_ids(rows, &mut applied)?;
    }
    for r in &grouped.retries {
        let rows = sqlx::query(
            "UPDATE inbox SET note = $3, next_attempt_at = $4, leased_until = NULL, \
               lease_token = NULL \
             WHERE id = $1 AND state = 'queued' AND lease_token = $2 RETURNING id",
        )
        .bind(r.id)
        .bind(r.token)
        .bind(r.error)
        .bind(r.at_ms)
        .fetch_all(&mut *conn)
        .await;
        collect_ids(rows, &mut applied)?;
    }
    for r in &grouped.releases {
        let rows = sqlx::query(
            "UPDATE inbox SET leased_until = NULL, lease_token = NULL, \
               attempts = greatest(attempts - 1, 0) \
             WHERE state = 'queued' AND lease_token = $1 AND id = ANY($2) RETURNING id",
        )
        .bind(r.token)
        .bind(&r.ids)
        .fetch_all(&mut *conn)
        .await;
        collect_ids(rows, &mut applied)?;
    }
    Ok(dispatch_outcomes::lost(outcomes, &applied))
}

fn collect_ids(
    rows: Result<Vec<PgRow>, sqlx::Error>,
    into: &mut HashSet<String>,
) -> Result<(), StoreError> {
    for row in rows.map_err(StoreError::backend)? {
        into.insert(get::<String>(&row, "inbox.id")?);
    }
    Ok(())
}

/// Dead letters: the newest `limit`, oldest first.
pub(crate) async fn failed(
    conn: &mut PgConnection,
    limit: usize,
) -> Result<Vec<FailedInbound>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM ( \
           SELECT seq, id, provider_sid, account_sid, channel, sender, recipient, body, \
                  media_json, num_segments, received_at, extra_json, note, attempts \
           FROM inbox WHERE state = 'failed' \
           ORDER BY received_at DESC, seq DESC LIMIT $1 \
         ) AS newest ORDER BY received_at, seq",
    )
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(StoreError::backend)?;
    rows.iter()
        .map(|row| {
            Ok(FailedInbound {
                message: decode_message(row)?,
                attempts: get_u32(row, "inbox.attempts")?,
                note: get(row, "inbox.note")?,
            })
        })
        .collect()
}

/// Puts a `failed` message back in the queue; returns the state it had. The row is
/// locked while it is read, so a concurrent requeue sees it already queued.
pub(crate) async fn requeue(
    conn: &mut PgConnection,
    id: &MessageId,
) -> Result<InboxState, StoreError> {
    let row = sqlx::query("SELECT state FROM inbox WHERE id = $1 FOR UPDATE")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::backend)?
        .ok_or_else(|| StoreError::NotFound {
            kind: "inbound message",
            id: id.to_string(),
        })?;
    let before = get_inbox_state(&row, "inbox.state")?;
    if before == InboxState::Failed {
        sqlx::query(
            "UPDATE inbox SET state = 'queued', note = NULL, attempts = 0, \
               next_attempt_at = NULL, leased_until = NULL, lease_token = NULL \
             WHERE id = $1",
        )
        .bind(id.as_str())
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    }
    Ok(before)
}
