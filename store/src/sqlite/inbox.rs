//! The inbox table: inbound messages and what happened to them.
//!
//! Inserts go through the [group commit](super::group_commit) writer; this file holds the
//! row encoding, the insert statement it runs, and the reads.

use std::collections::HashSet;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use telephony_core::store::FailedInbound;
use telephony_core::{InboundMessage, InboxEntry, InboxState, InboxUpdate, MessageId, StoreError};
use time::OffsetDateTime;

use super::claims::{Candidate, DoneGroup, RetryOne};
use super::codec::{
    self, get, get_channel, get_inbox_state, get_json, get_time, get_u32, get_u32_opt,
};
use super::compact::{self, Key, get_key, get_key_opt};

/// An inbound message encoded for its row; built by the caller's task so the single writer
/// only binds and executes.
#[derive(Debug)]
pub(crate) struct InboxRow {
    id: Key,
    provider_sid: Key,
    account_sid: Option<Key>,
    channel: String,
    sender: String,
    recipient: String,
    body: String,
    media_json: String,
    num_segments: Option<i64>,
    received_at: i64,
    extra: Vec<u8>,
    state: &'static str,
    note: Option<String>,
    /// When its `message.received` event was created (ms), if the row stands for one
    /// (see `forward_tail`).
    forward_at: Option<i64>,
}

impl InboxRow {
    pub(crate) fn encode(msg: &InboundMessage) -> Result<Self, StoreError> {
        Ok(InboxRow {
            id: Key::pack(msg.id.as_str()),
            provider_sid: Key::pack(&msg.provider_sid),
            account_sid: msg.account_sid.as_deref().map(Key::pack),
            channel: codec::channel_name(msg.channel)?,
            sender: msg.from.clone(),
            recipient: msg.to.clone(),
            body: msg.body.clone(),
            media_json: codec::to_json(&msg.media)?,
            num_segments: msg.num_segments.map(i64::from),
            received_at: codec::to_ms(msg.received_at),
            extra: crate::extras::encode_extra(&msg.extra, &msg.provider_sid),
            state: InboxState::Queued.as_str(),
            note: None,
            forward_at: None,
        })
    }

    /// The row marked as standing for its `message.received` event, created at `at`.
    pub(crate) fn with_forward_at(mut self, at: OffsetDateTime) -> Self {
        self.forward_at = Some(codec::to_ms(at));
        self
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

    ///
    /// Only the provider SID is a duplicate: a clash on the gateway id is a constraint
    /// error, because acknowledging a different message as a duplicate would lose it.
    /// Inserts the row; its rowid, or `None` if its provider SID is stored.
    pub(crate) async fn insert(
        &self,
        conn: &mut SqliteConnection,
    ) -> Result<Option<i64>, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO inbox (id, provider_sid, account_sid, channel, sender, recipient, body, \
             media_json, num_segments, received_at, extra_json, state, note, forward_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
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
        .bind(&self.extra)
        .bind(self.state)
        .bind(&self.note)
        .bind(self.forward_at)
        .execute(conn)
        .await?;
        Ok((done.rows_affected() == 1).then(|| done.last_insert_rowid()))
    }
}

/// Appends to `q` one statement that inserts every row of `rows`, skipping (`ON CONFLICT
/// DO NOTHING`) each whose provider SID is stored (or repeats an earlier row's). Nothing
/// is returned row by row: the statement's change count says how many were new. One
/// statement per batch instead of one per row: each sqlx statement costs a round trip to
/// the connection's thread, which dominates at high rates.
pub(crate) fn push_insert_many<'a>(
    q: &mut sqlx::QueryBuilder<'a, sqlx::Sqlite>,
    rows: &[&'a InboxRow],
) {
    q.push(
        "INSERT INTO inbox (id, provider_sid, account_sid, channel, sender, recipient, body, \
         media_json, num_segments, received_at, extra_json, state, note, forward_at) ",
    );
    q.push_values(rows, |mut b, r| {
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
            .push_bind(&r.extra)
            .push_bind(r.state)
            .push_bind(&r.note)
            .push_bind(r.forward_at);
    });
    q.push(" ON CONFLICT (provider_sid) DO NOTHING");
}

/// The provider SIDs of the `count` rows whose rowids end at `last` (the rows one
/// multi-row insert added).
pub(crate) async fn provider_sids_in_rowids(
    conn: &mut SqliteConnection,
    last: i64,
    count: u64,
) -> Result<HashSet<Key>, sqlx::Error> {
    let first = last.saturating_sub(i64::try_from(count).unwrap_or(i64::MAX)) + 1;
    let rows = sqlx::query("SELECT provider_sid FROM inbox WHERE rowid BETWEEN ?1 AND ?2")
        .bind(first)
        .bind(last)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| sqlx::Row::try_get::<Key, _>(row, 0))
        .collect()
}

impl InboxRow {
    /// The provider SID as stored (the dedupe key).
    pub(crate) fn provider_sid(&self) -> &Key {
        &self.provider_sid
    }
}

pub(crate) fn decode_message(row: &SqliteRow) -> Result<InboundMessage, StoreError> {
    let provider_sid = get_key(row, "inbox.provider_sid")?;
    Ok(InboundMessage {
        id: MessageId::from_string(get_key(row, "inbox.id")?),
        extra: compact::get_extra(row, "inbox.extra_json", &provider_sid)?,
        provider_sid,
        account_sid: get_key_opt(row, "inbox.account_sid")?,
        channel: get_channel(row, "inbox.channel")?,
        from: get(row, "inbox.sender")?,
        to: get(row, "inbox.recipient")?,
        body: get(row, "inbox.body")?,
        media: get_json(row, "inbox.media_json")?,
        num_segments: get_u32_opt(row, "inbox.num_segments")?,
        received_at: get_time(row, "inbox.received_at")?,
    })
}

pub(crate) fn decode_entry(row: &SqliteRow) -> Result<InboxEntry, StoreError> {
    Ok(InboxEntry {
        message: decode_message(row)?,
        state: get_inbox_state(row, "inbox.state")?,
        note: get(row, "inbox.note")?,
    })
}

/// Entries received at or after `since`, the newest `limit` of them, oldest first.
pub(crate) async fn list(
    conn: &mut SqliteConnection,
    since: Option<OffsetDateTime>,
    limit: usize,
) -> Result<Vec<InboxEntry>, StoreError> {
    // Newest `limit` rows through the received_at index, then back into oldest-first order.
    let rows = sqlx::query(
        "SELECT * FROM ( \
           SELECT rowid AS seq, id, provider_sid, account_sid, channel, sender, recipient, body, \
                  media_json, num_segments, received_at, extra_json, state, note \
           FROM inbox WHERE received_at >= ?1 \
           ORDER BY received_at DESC, rowid DESC LIMIT ?2 \
         ) ORDER BY received_at, seq",
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
    conn: &mut SqliteConnection,
    limit: usize,
) -> Result<Vec<InboundMessage>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, provider_sid, account_sid, channel, sender, recipient, body, media_json, \
                num_segments, received_at, extra_json \
         FROM inbox WHERE state = 'queued' ORDER BY received_at, rowid LIMIT ?1",
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
    conn: &mut SqliteConnection,
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
    // SQLite allows 32766 bound parameters; stay well under it.
    for ((state, note), ids) in &groups {
        for ids in ids.chunks(10_000) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("UPDATE inbox SET state = ");
            q.push_bind(state.as_str())
                .push(", note = ")
                .push_bind(*note)
                .push(" WHERE id IN (");
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(Key::pack(id));
            }
            sep.push_unseparated(")");
            changed += q
                .build()
                .execute(&mut *conn)
                .await
                .map_err(StoreError::backend)?
                .rows_affected();
        }
    }
    if changed as usize != updates.len() {
        // Find which one is missing, for an error that names it.
        for u in updates {
            let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM inbox WHERE id = ?1")
                .bind(Key::pack(u.id.as_str()))
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
    conn: &mut SqliteConnection,
    id: &MessageId,
    state: InboxState,
    note: Option<&str>,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE inbox SET state = ?2, note = ?3 WHERE id = ?1")
        .bind(Key::pack(id.as_str()))
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

/// Reads up to `limit` claimable queued messages, oldest first, with the attempts their
/// rows count: due (no retry pending after `now`), no earlier queued message of their
/// sender waiting for a retry, and their sender not in `held` (the senders whose lane a
/// live in-memory claim holds; see [`super::claims`]). A read: the claim itself is kept
/// in memory.
pub(crate) async fn claimable(
    conn: &mut SqliteConnection,
    now: OffsetDateTime,
    limit: usize,
    held: &[String],
) -> Result<Vec<Candidate>, StoreError> {
    let now_ms = codec::to_ms(now);
    // The NOT EXISTS repeats the partial index's predicate (inbox_held_by_sender) so that
    // SQLite uses it.
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT rowid AS seq, id, provider_sid, account_sid, channel, sender, recipient, \
                body, media_json, num_segments, received_at, extra_json, attempts \
         FROM inbox m \
         WHERE m.state = 'queued' AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= ",
    );
    q.push_bind(now_ms).push(
        ") AND NOT EXISTS ( \
           SELECT 1 FROM inbox b \
           WHERE b.state = 'queued' \
             AND (b.leased_until IS NOT NULL OR b.next_attempt_at IS NOT NULL) \
             AND b.sender = m.sender \
             AND (b.received_at < m.received_at \
                  OR (b.received_at = m.received_at AND b.rowid < m.rowid)) \
             AND b.next_attempt_at > ",
    );
    q.push_bind(now_ms).push(")");
    // At most one claim's worth of senders per claim in flight: far under SQLite's
    // 32766 bound parameters.
    if !held.is_empty() {
        q.push(" AND m.sender NOT IN (");
        let mut sep = q.separated(", ");
        for s in held {
            sep.push_bind(s.as_str());
        }
        sep.push_unseparated(")");
    }
    q.push(" ORDER BY m.received_at, m.rowid LIMIT ")
        .push_bind(codec::limit(limit));
    let rows = q
        .build()
        .fetch_all(conn)
        .await
        .map_err(StoreError::backend)?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                message: decode_message(row)?,
                recorded_attempts: get_u32(row, "inbox.attempts")?,
            })
        })
        .collect()
}

/// Records a group of final outcomes of claimed messages (those still `queued`), adding
/// the group's attempts; collects the ids changed into `applied`.
pub(crate) async fn record_done(
    conn: &mut SqliteConnection,
    d: &DoneGroup<'_>,
    applied: &mut HashSet<String>,
) -> Result<(), StoreError> {
    for ids in d.ids.chunks(10_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("UPDATE inbox SET state = ");
        q.push_bind(d.state.as_str())
            .push(", note = ")
            .push_bind(d.note)
            .push(", attempts = attempts + ")
            .push_bind(i64::from(d.attempts))
            .push(" WHERE state = 'queued' AND id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(Key::pack(id));
        }
        sep.push_unseparated(") RETURNING id");
        collect_ids(q.build().fetch_all(&mut *conn).await, applied)?;
    }
    Ok(())
}

/// Puts a claimed message (still `queued`) back with a due time and its error, adding its
/// attempts; collects its id into `applied` if it changed.
pub(crate) async fn record_retry(
    conn: &mut SqliteConnection,
    r: &RetryOne<'_>,
    applied: &mut HashSet<String>,
) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "UPDATE inbox SET note = ?2, next_attempt_at = ?3, attempts = attempts + ?4 \
         WHERE id = ?1 AND state = 'queued' RETURNING id",
    )
    .bind(Key::pack(r.id))
    .bind(r.error)
    .bind(r.at_ms)
    .bind(i64::from(r.attempts))
    .fetch_all(&mut *conn)
    .await;
    collect_ids(rows, applied)
}

fn collect_ids(
    rows: Result<Vec<SqliteRow>, sqlx::Error>,
    into: &mut HashSet<String>,
) -> Result<(), StoreError> {
    for row in rows.map_err(StoreError::backend)? {
        into.insert(get_key(&row, "inbox.id")?);
    }
    Ok(())
}

/// Dead letters: the newest `limit`, oldest first.
pub(crate) async fn failed(
    conn: &mut SqliteConnection,
    limit: usize,
) -> Result<Vec<FailedInbound>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM ( \
           SELECT rowid AS seq, id, provider_sid, account_sid, channel, sender, recipient, body, \
                  media_json, num_segments, received_at, extra_json, note, attempts \
           FROM inbox WHERE state = 'failed' \
           ORDER BY received_at DESC, rowid DESC LIMIT ?1 \
         ) ORDER BY received_at, seq",
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

/// Puts a `failed` message back in the queue; returns the state it had.
pub(crate) async fn requeue(
    conn: &mut SqliteConnection,
    id: &MessageId,
) -> Result<InboxState, StoreError> {
    let row = sqlx::query("SELECT state FROM inbox WHERE id = ?1")
        .bind(Key::pack(id.as_str()))
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
             WHERE id = ?1",
        )
        .bind(Key::pack(id.as_str()))
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    }
    Ok(before)
}
