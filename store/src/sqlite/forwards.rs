//! The forwarding queue: events for the forward URL, delivered at least once.
//!
//! Claims are leased in this process's memory ([`forward_claims`](super::forward_claims));
//! delivered rows stay, marked `delivered_at`, so the statistics can count them.

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use telephony_core::{ForwardEvent, ForwardStats, StoreError};
use time::OffsetDateTime;

use super::codec::{self, get, get_json, get_time, get_u32};
use super::forward_claims::Candidate;
use crate::codec::ForwardRow;

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

pub(crate) fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "forward event",
        id: id.to_string(),
    }
}

/// Stores an event, due at its creation time; an event whose id is stored is ignored.
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    event: &ForwardEvent,
) -> Result<(), StoreError> {
    let row = ForwardRow::encode(event)?;
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
    push_insert_many(&mut q, &[&row]);
    q.build().execute(conn).await.map_err(backend)?;
    Ok(())
}

/// One `INSERT` of several events, each due at its `next_attempt_at` (its creation time
/// unless it failed or was put back); an event whose id is stored is ignored.
pub(crate) fn push_insert_many<'a>(
    q: &mut sqlx::QueryBuilder<'a, sqlx::Sqlite>,
    rows: &[&'a ForwardRow],
) {
    q.push(
        "INSERT INTO forwards (id, kind, payload_json, created_at, attempts, last_error, \
         next_attempt_at) ",
    );
    q.push_values(rows, |mut b, r| {
        b.push_bind(&r.id)
            .push_bind(&r.kind)
            .push_bind(&r.payload_json)
            .push_bind(r.created_at)
            .push_bind(r.attempts)
            .push_bind(&r.last_error)
            .push_bind(r.next_attempt_at);
    });
    q.push(" ON CONFLICT (id) DO NOTHING");
}

/// Up to `limit` due, undelivered events, oldest due first (the claim's read: leases are
/// in this process's memory, see [`forward_claims`](super::forward_claims)).
pub(crate) async fn claimable(
    conn: &mut SqliteConnection,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Vec<Candidate>, StoreError> {
    let rows = sqlx::query(
        "SELECT next_attempt_at, id, kind, payload_json, created_at, attempts, last_error \
         FROM forwards \
         WHERE delivered_at IS NULL AND next_attempt_at <= ?1 \
         ORDER BY next_attempt_at, rowid LIMIT ?2",
    )
    .bind(codec::to_ms(now))
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(backend)?;
    rows.iter()
        .map(|row| {
            let due = get::<i64>(row, "forwards.next_attempt_at")?;
            Ok(Candidate {
                event: decode(row)?,
                due: codec::from_ms("forwards.next_attempt_at", due)?,
            })
        })
        .collect()
}

fn decode(row: &SqliteRow) -> Result<ForwardEvent, StoreError> {
    Ok(ForwardEvent {
        id: get(row, "forwards.id")?,
        kind: get(row, "forwards.kind")?,
        payload: get_json(row, "forwards.payload_json")?,
        created_at: get_time(row, "forwards.created_at")?,
        attempts: get_u32(row, "forwards.attempts")?,
        last_error: get(row, "forwards.last_error")?,
        encoded: None,
    })
}

/// Whether an event is stored (to tell a fenced outcome from an unknown id): a row of
/// `forwards`, or a message's row standing for its `message.received` event (see
/// [`forward_tail`](super::forward_tail)).
pub(crate) async fn exists(conn: &mut SqliteConnection, id: &str) -> Result<bool, StoreError> {
    let message = id.strip_prefix("evt_").map(super::compact::Key::pack);
    let row = sqlx::query(
        "SELECT 1 FROM forwards WHERE id = ?1 \
         UNION ALL SELECT 1 FROM inbox WHERE id = ?2 AND forward_at IS NOT NULL",
    )
    .bind(id)
    .bind(message)
    .fetch_optional(conn)
    .await
    .map_err(backend)?;
    Ok(row.is_some())
}

/// Pending, failing and delivered counts, and the latest error among pending events.
pub(crate) async fn stats(conn: &mut SqliteConnection) -> Result<ForwardStats, StoreError> {
    let (pending, failing, delivered, last_error): (i64, i64, i64, Option<String>) =
        sqlx::query_as(
            "SELECT \
               (SELECT COUNT(*) FROM forwards WHERE delivered_at IS NULL), \
               (SELECT COUNT(*) FROM forwards \
                 WHERE delivered_at IS NULL AND last_error IS NOT NULL), \
               (SELECT COUNT(*) FROM forwards WHERE delivered_at IS NOT NULL), \
               (SELECT last_error FROM forwards \
                 WHERE delivered_at IS NULL AND last_error IS NOT NULL \
                 ORDER BY next_attempt_at DESC, rowid DESC LIMIT 1)",
        )
        .fetch_one(conn)
        .await
        .map_err(backend)?;
    let count = |n: i64| usize::try_from(n).unwrap_or(0);
    Ok(ForwardStats {
        pending: count(pending),
        failing: count(failing),
        delivered: count(delivered),
        last_error,
    })
}
