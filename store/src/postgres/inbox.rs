//! The inbox table: inbound messages and what happened to them.
//!
//! A message's provider SID is unique: an insert that finds it stored (or being stored by
//! another connection's open transaction, which it waits for) does nothing and reports a
//! duplicate, so a webhook delivered to two replicas at once is stored once.

use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use telephony_core::{InboundMessage, InboxEntry, InboxState, InboxUpdate, MessageId, StoreError};
use time::OffsetDateTime;

use super::codec::{self, get, get_channel, get_inbox_state, get_json, get_time, get_u32_opt};

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
    extra_json: String,
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
            extra_json: codec::to_json(&msg.extra)?,
            state: InboxState::Queued.as_str(),
            note: None,
        })
    }

    /// The row stored directly in `state` (e.g. `throttled`) instead of `queued`.
    pub(crate) fn in_state(mut self, state: InboxState, note: Option<&str>) -> Self {
        self.state = state.as_str();
        self.note = note.map(str::to_string);
        self
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
    Ok(InboundMessage {
        id: MessageId::from_string(get::<String>(row, "inbox.id")?),
        provider_sid: get(row, "inbox.provider_sid")?,
        account_sid: get(row, "inbox.account_sid")?,
        channel: get_channel(row, "inbox.channel")?,
        from: get(row, "inbox.sender")?,
        to: get(row, "inbox.recipient")?,
        body: get(row, "inbox.body")?,
        media: get_json(row, "inbox.media_json")?,
        num_segments: get_u32_opt(row, "inbox.num_segments")?,
        received_at: get_time(row, "inbox.received_at")?,
        extra: get_json(row, "inbox.extra_json")?,
    })
}

fn decode_entry(row: &PgRow) -> Result<InboxEntry, StoreError> {
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
