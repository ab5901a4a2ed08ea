//! The forwarding queue: events for the forward URL, delivered at least once.
//!
//! Claims lease rows like the outbox does; delivered rows stay, marked `delivered_at`, so
//! the statistics can count them.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
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
    conn: &mut SqliteConnection,
    event: &ForwardEvent,
) -> Result<(), StoreError> {
    let row = ForwardRow::encode(event)?;
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
    push_insert_many(&mut q, &[&row]);
    q.build().execute(conn).await.map_err(backend)?;
    Ok(())
}

/// One `INSERT` of several events, each due at its creation time; an event whose id is
/// stored is ignored.
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
            .push_bind(r.created_at);
    });
    q.push(" ON CONFLICT (id) DO NOTHING");
}

/// Leases up to `limit` due, undelivered, unleased events, oldest due first.
pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    now: OffsetDateTime,
    lease: Duration,
    limit: usize,
    token: LeaseToken,
) -> Result<Vec<ClaimedForward>, StoreError> {
    let now_ms = codec::to_ms(now);
    let rows = sqlx::query(
        "UPDATE forwards SET leased_until = ?2, lease_token = ?4, attempts = attempts + 1 \
         WHERE id IN ( \
           SELECT id FROM forwards \
           WHERE delivered_at IS NULL AND next_attempt_at <= ?1 \
             AND (leased_until IS NULL OR leased_until <= ?1) \
           ORDER BY next_attempt_at, rowid LIMIT ?3 \
         ) \
         RETURNING rowid AS seq, next_attempt_at, id, kind, payload_json, created_at, attempts, \
                   last_error",
    )
    .bind(now_ms)
    .bind(now_ms.saturating_add(codec::duration_ms(lease)))
    .bind(codec::limit(limit))
    .bind(token.as_i64())
    .fetch_all(conn)
    .await
    .map_err(backend)?;
    let mut claimed = rows
        .iter()
        .map(|row| {
            let due = get::<i64>(row, "forwards.next_attempt_at")?;
            let key = (due, get::<i64>(row, "forwards.seq")?);
            let due = codec::from_ms("forwards.next_attempt_at", due)?;
            Ok((key, due, decode(row)?))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING has no defined order; hand events out in the order they were picked.
    claimed.sort_by_key(|(key, _, _)| *key);
    Ok(claimed
        .into_iter()
        .map(|(_, due, event)| ClaimedForward {
            event,
            lease: token,
            due,
        })
        .collect())
}

fn decode(row: &SqliteRow) -> Result<ForwardEvent, StoreError> {
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

/// The receiver accepted the event; fenced by the claim's token.
pub(crate) async fn complete(
    conn: &mut SqliteConnection,
    id: &str,
    lease: LeaseToken,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE forwards SET delivered_at = ?2, leased_until = NULL, lease_token = NULL \
         WHERE id = ?1 AND delivered_at IS NULL AND lease_token = ?3",
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
async fn fenced(conn: &mut SqliteConnection, id: &str) -> StoreError {
    match sqlx::query("SELECT 1 FROM forwards WHERE id = ?1")
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
    conn: &mut SqliteConnection,
    id: &str,
    lease: LeaseToken,
    error: &str,
    next_attempt: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE forwards SET leased_until = NULL, lease_token = NULL, next_attempt_at = ?2, \
           last_error = ?3 \
         WHERE id = ?1 AND delivered_at IS NULL AND lease_token = ?4",
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
    conn: &mut SqliteConnection,
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
        for ids in d.ids.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "UPDATE forwards SET leased_until = NULL, lease_token = NULL, delivered_at = ",
            );
            q.push_bind(codec::to_ms(now))
                .push(" WHERE delivered_at IS NULL AND lease_token = ")
                .push_bind(d.token)
                .push(" AND id IN (");
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            sep.push_unseparated(") RETURNING id");
            collect_ids(q.build().fetch_all(&mut *conn).await, &mut applied)?;
        }
    }
    for r in &retries {
        let rows = sqlx::query(
            "UPDATE forwards SET leased_until = NULL, lease_token = NULL, next_attempt_at = ?2, \
               last_error = ?3 \
             WHERE id = ?1 AND delivered_at IS NULL AND lease_token = ?4 RETURNING id",
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
        for ids in r.ids.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "UPDATE forwards SET leased_until = NULL, lease_token = NULL, \
                   attempts = max(attempts - 1, 0), next_attempt_at = ",
            );
            q.push_bind(r.at_ms)
                .push(" WHERE delivered_at IS NULL AND lease_token = ")
                .push_bind(r.token)
                .push(" AND id IN (");
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            sep.push_unseparated(") RETURNING id");
            collect_ids(q.build().fetch_all(&mut *conn).await, &mut applied)?;
        }
    }
    Ok(forward_outcomes::lost(outcomes, &applied))
}

/// Ids bound in one `IN (…)` list: well under SQLite's limit of 32766 parameters.
const CHUNK: usize = 10_000;

fn collect_ids(
    rows: Result<Vec<SqliteRow>, sqlx::Error>,
    into: &mut HashSet<String>,
) -> Result<(), StoreError> {
    for row in rows.map_err(backend)? {
        into.insert(get::<String>(&row, "forwards.id")?);
    }
    Ok(())
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
