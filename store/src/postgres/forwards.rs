//! The forwarding queue: events for the forward URL, delivered at least once.
//!
//! Claims lease rows like the outbox does (`FOR UPDATE SKIP LOCKED`, so replicas never
//! claim the same event); delivered rows stay, marked `delivered_at`, so
//! the statistics can count them.

use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use telephony_core::{ForwardEvent, ForwardStats, StoreError};
use time::OffsetDateTime;

use super::codec::{self, get, get_json, get_time, get_u32};

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "forward event",
        id: id.to_string(),
    }
}

/// Stores an event, due at its creation time; an event whose id is stored is ignored.
pub(crate) async fn enqueue(
    conn: &mut PgConnection,
    event: &ForwardEvent,
) -> Result<(), StoreError> {
    let created_at = codec::to_ms(event.created_at);
    sqlx::query(
        "INSERT INTO forwards (id, kind, payload_json, created_at, attempts, last_error, \
            next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(codec::to_json(&event.payload)?)
    .bind(created_at)
    .bind(i64::from(event.attempts))
    .bind(&event.last_error)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Leases up to `limit` due, undelivered, unleased events, oldest due first; rows another
/// transaction is claiming right now are skipped (`FOR UPDATE SKIP LOCKED`).
pub(crate) async fn claim(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    lease: Duration,
    limit: usize,
) -> Result<Vec<ForwardEvent>, StoreError> {
    let now_ms = codec::to_ms(now);
    sqlx::query(
        "WITH picked AS ( \
           SELECT id FROM forwards \
           WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
             AND (leased_until IS NULL OR leased_until <= $1) \
           ORDER BY next_attempt_at, seq LIMIT $3 \
           FOR UPDATE SKIP LOCKED \
         ), claimed AS ( \
           UPDATE forwards f SET leased_until = $2, attempts = f.attempts + 1 \
           FROM picked WHERE f.id = picked.id \
           RETURNING f.seq, f.next_attempt_at, f.id, f.kind, f.payload_json, f.created_at, \
                     f.attempts, f.last_error \
         ) \
         SELECT * FROM claimed ORDER BY next_attempt_at, seq",
    )
    .bind(now_ms)
    .bind(now_ms.saturating_add(codec::duration_ms(lease)))
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(backend)?
    .iter()
    .map(decode)
    .collect()
}

fn decode(row: &PgRow) -> Result<ForwardEvent, StoreError> {
    Ok(ForwardEvent {
        id: get(row, "forwards.id")?,
        kind: get(row, "forwards.kind")?,
        payload: get_json(row, "forwards.payload_json")?,
        created_at: get_time(row, "forwards.created_at")?,
        // The event reports the attempts made before this claim.
        attempts: get_u32(row, "forwards.attempts")?.saturating_sub(1),
        last_error: get(row, "forwards.last_error")?,
    })
}

/// The receiver accepted the event.
pub(crate) async fn complete(
    conn: &mut PgConnection,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE forwards SET delivered_at = coalesce(delivered_at, $2), leased_until = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .bind(codec::to_ms(now))
    .execute(conn)
    .await
    .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Delivery failed: record the error, release the lease, try again at `next_attempt`.
pub(crate) async fn retry(
    conn: &mut PgConnection,
    id: &str,
    error: &str,
    next_attempt: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE forwards SET leased_until = NULL, next_attempt_at = $2, last_error = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(codec::to_ms(next_attempt))
    .bind(error)
    .execute(conn)
    .await
    .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Pending, failing and delivered counts, and the latest error among pending events.
pub(crate) async fn stats(conn: &mut PgConnection) -> Result<ForwardStats, StoreError> {
    let (pending, failing, delivered, last_error): (i64, i64, i64, Option<String>) =
        sqlx::query_as(
            "SELECT \
               (SELECT COUNT(*) FROM forwards WHERE delivered_at IS NULL), \
               (SELECT COUNT(*) FROM forwards \
                 WHERE delivered_at IS NULL AND last_error IS NOT NULL), \
               (SELECT COUNT(*) FROM forwards WHERE delivered_at IS NOT NULL), \
               (SELECT last_error FROM forwards \
                 WHERE delivered_at IS NULL AND last_error IS NOT NULL \
                 ORDER BY next_attempt_at DESC, seq DESC LIMIT 1)",
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
