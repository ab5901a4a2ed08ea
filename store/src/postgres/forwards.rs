//! The forwarding queue: events for the forward URL, delivered at least once.
//!
//! Claims lease rows like the outbox does (`FOR UPDATE SKIP LOCKED`, so replicas never
//! claim the same event); delivered rows stay, marked `delivered_at`, so
//! the statistics can count them.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use telephony_core::store::{ClaimedForward, ForwardOutcome, LeaseToken};
use telephony_core::{ForwardEvent, ForwardStats, StoreError};
use time::OffsetDateTime;

use super::codec::{self, get, get_json, get_time, get_u32};
use crate::codec::ForwardRow;
use crate::forward_outcomes::{self, Grouped};

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
    let row = ForwardRow::encode(event)?;
    insert_many(conn, &[&row]).await.map_err(backend)
}

/// One `INSERT` of several events, each due at its `next_attempt_at` (its creation time
/// unless it failed or was put back); an event whose id is stored is ignored.
pub(crate) async fn insert_many(
    conn: &mut PgConnection,
    rows: &[&ForwardRow],
) -> Result<(), sqlx::Error> {
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
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
    q.build().execute(conn).await?;
    Ok(())
}

/// Leases up to `limit` due, undelivered, unleased events, oldest due first; rows another
/// transaction is claiming right now are skipped (`FOR UPDATE SKIP LOCKED`).
pub(crate) async fn claim(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    lease: Duration,
    limit: usize,
    token: LeaseToken,
) -> Result<Vec<ClaimedForward>, StoreError> {
    let now_ms = codec::to_ms(now);
    sqlx::query(
        "WITH picked AS ( \
           SELECT id FROM forwards \
           WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
             AND (leased_until IS NULL OR leased_until <= $1) \
           ORDER BY next_attempt_at, seq LIMIT $3 \
           FOR UPDATE SKIP LOCKED \
         ), claimed AS ( \
           UPDATE forwards f SET leased_until = $2, lease_token = $4, attempts = f.attempts + 1 \
           FROM picked WHERE f.id = picked.id \
           RETURNING f.seq, f.next_attempt_at, f.id, f.kind, f.payload_json, f.created_at, \
                     f.attempts, f.last_error \
         ) \
         SELECT * FROM claimed ORDER BY next_attempt_at, seq",
    )
    .bind(now_ms)
    .bind(now_ms.saturating_add(codec::duration_ms(lease)))
    .bind(codec::limit(limit))
    .bind(token.as_i64())
    .fetch_all(conn)
    .await
    .map_err(backend)?
    .iter()
    .map(|row| {
        Ok(ClaimedForward {
            event: decode(row)?,
            lease: token,
            due: codec::from_ms(
                "forwards.next_attempt_at",
                get::<i64>(row, "forwards.next_attempt_at")?,
            )?,
        })
    })
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
        encoded: None,
    })
}

/// The receiver accepted the event; fenced by the claim's token.
pub(crate) async fn complete(
    conn: &mut PgConnection,
    id: &str,
    lease: LeaseToken,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE forwards SET delivered_at = $2, leased_until = NULL, lease_token = NULL \
         WHERE id = $1 AND delivered_at IS NULL AND lease_token = $3",
    )
    .bind(id)
    .bind(codec::to_ms(now))
    .bind(lease.as_i64())
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(fenced(conn, id).await);
    }
    Ok(())
}

/// Why a fenced update changed nothing: the event is unknown, or its lease was lost.
async fn fenced(conn: &mut PgConnection, id: &str) -> StoreError {
    match sqlx::query("SELECT 1 FROM forwards WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
    {
        Ok(Some(_)) => StoreError::LeaseLost { id: id.to_string() },
        Ok(None) => not_found(id),
        Err(e) => backend(e),
    }
}

/// Delivery failed: record the error, release the lease, try again at `next_attempt`;
/// fenced by the claim's token.
pub(crate) async fn retry(
    conn: &mut PgConnection,
    id: &str,
    lease: LeaseToken,
    error: &str,
    next_attempt: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE forwards SET leased_until = NULL, lease_token = NULL, next_attempt_at = $2, \
           last_error = $3 \
         WHERE id = $1 AND delivered_at IS NULL AND lease_token = $4",
    )
    .bind(id)
    .bind(codec::to_ms(next_attempt))
    .bind(error)
    .bind(lease.as_i64())
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(fenced(conn, id).await);
    }
    Ok(())
}

/// Records a batch of outcomes (the caller's one write transaction): one `UPDATE` per
/// claim token for deliveries and per (token, due time) for releases, one per retry.
/// Returns the ids of the outcomes that changed nothing, in the order given.
pub(crate) async fn record(
    conn: &mut PgConnection,
    outcomes: &[ForwardOutcome],
    now: OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    let Grouped {
        delivered,
        retries,
        releases,
    } = forward_outcomes::group(outcomes);
    let mut applied = HashSet::new();
    for d in &delivered {
        let rows = sqlx::query(
            "UPDATE forwards SET delivered_at = $1, leased_until = NULL, lease_token = NULL \
             WHERE delivered_at IS NULL AND lease_token = $2 AND id = ANY($3) RETURNING id",
        )
        .bind(codec::to_ms(now))
        .bind(d.token)
        .bind(&d.ids)
        .fetch_all(&mut *conn)
        .await;
        collect_ids(rows, &mut applied)?;
    }
    for r in &retries {
        let rows = sqlx::query(
            "UPDATE forwards SET leased_until = NULL, lease_token = NULL, next_attempt_at = $2, \
               last_error = $3 \
             WHERE id = $1 AND delivered_at IS NULL AND lease_token = $4 RETURNING id",
        )
        .bind(r.id)
        .bind(r.at_ms)
        .bind(r.error)
        .bind(r.token)
        .fetch_all(&mut *conn)
        .await;
        collect_ids(rows, &mut applied)?;
    }
    for r in &releases {
        let rows = sqlx::query(
            "UPDATE forwards SET leased_until = NULL, lease_token = NULL, next_attempt_at = $1, \
               attempts = greatest(attempts - 1, 0) \
             WHERE delivered_at IS NULL AND lease_token = $2 AND id = ANY($3) RETURNING id",
        )
        .bind(r.at_ms)
        .bind(r.token)
        .bind(&r.ids)
        .fetch_all(&mut *conn)
        .await;
        collect_ids(rows, &mut applied)?;
    }
    Ok(forward_outcomes::lost(outcomes, &applied))
}

fn collect_ids(
    rows: Result<Vec<PgRow>, sqlx::Error>,
    into: &mut HashSet<String>,
) -> Result<(), StoreError> {
    for row in rows.map_err(backend)? {
        into.insert(get::<String>(&row, "forwards.id")?);
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
