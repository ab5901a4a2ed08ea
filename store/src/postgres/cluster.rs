//! Replica heartbeats and singleton leases. One process opens a SQLite store, so there are
//! no cross-process wake-ups here: the gateway wakes its own workers when it enqueues.

use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use telephony_core::StoreError;
use telephony_core::store::{ReplicaBeat, ReplicaHolds};
use time::OffsetDateTime;

use super::codec::{self, get, get_json, get_json_opt, get_time};

/// `SELECT 1`: the database answers.
pub(crate) async fn ping(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn get_count(row: &PgRow, what: &'static str) -> Result<u64, StoreError> {
    let n: i64 = get(row, what)?;
    u64::try_from(n).map_err(|_| codec::corrupt(what, format_args!("{n} is not a count")))
}

/// Inserts or replaces a replica's row.
pub(crate) async fn heartbeat(
    conn: &mut PgConnection,
    beat: &ReplicaBeat,
) -> Result<(), StoreError> {
    let extra = beat.extra.as_ref().map(codec::to_json).transpose()?;
    sqlx::query(
        "INSERT INTO replicas (id, host, pid, version, started_at, last_seen, accounts_json, \
            realtime_calls, sends_in_flight, dispatching, extra_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
            version = excluded.version, started_at = excluded.started_at, \
            last_seen = excluded.last_seen, accounts_json = excluded.accounts_json, \
            realtime_calls = excluded.realtime_calls, \
            sends_in_flight = excluded.sends_in_flight, dispatching = excluded.dispatching, \
            extra_json = excluded.extra_json",
    )
    .bind(&beat.id)
    .bind(&beat.host)
    .bind(i64::from(beat.pid))
    .bind(&beat.version)
    .bind(codec::to_ms(beat.started_at))
    .bind(codec::to_ms(beat.last_seen))
    .bind(codec::to_json(&beat.accounts)?)
    .bind(count(beat.holds.realtime_calls))
    .bind(count(beat.holds.sends_in_flight))
    .bind(count(beat.holds.dispatching))
    .bind(extra)
    .execute(conn)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}

fn decode(row: &PgRow) -> Result<ReplicaBeat, StoreError> {
    let pid: i64 = get(row, "replicas.pid")?;
    Ok(ReplicaBeat {
        id: get(row, "replicas.id")?,
        host: get(row, "replicas.host")?,
        pid: u32::try_from(pid)
            .map_err(|_| codec::corrupt("replicas.pid", format_args!("{pid} is not a pid")))?,
        version: get(row, "replicas.version")?,
        started_at: get_time(row, "replicas.started_at")?,
        last_seen: get_time(row, "replicas.last_seen")?,
        accounts: get_json(row, "replicas.accounts_json")?,
        holds: ReplicaHolds {
            realtime_calls: get_count(row, "replicas.realtime_calls")?,
            sends_in_flight: get_count(row, "replicas.sends_in_flight")?,
            dispatching: get_count(row, "replicas.dispatching")?,
        },
        extra: get_json_opt(row, "replicas.extra_json")?,
    })
}

/// Replicas seen at or after `since`, by id.
pub(crate) async fn replicas(
    conn: &mut PgConnection,
    since: OffsetDateTime,
) -> Result<Vec<ReplicaBeat>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, host, pid, version, started_at, last_seen, accounts_json, realtime_calls, \
            sends_in_flight, dispatching, extra_json \
         FROM replicas WHERE last_seen >= $1 ORDER BY id COLLATE \"C\"",
    )
    .bind(codec::to_ms(since))
    .fetch_all(conn)
    .await
    .map_err(StoreError::backend)?;
    rows.iter().map(decode).collect()
}

/// Deletes a replica's row.
pub(crate) async fn leave(conn: &mut PgConnection, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM replicas WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

/// Takes or renews `task`'s lease for `holder`: one upsert whose update only applies when
/// `holder` holds the lease or it has expired. The conflicting row is locked and the
/// condition checked on its latest version, so of two replicas racing for an expired lease
/// exactly one wins.
pub(crate) async fn try_lead(
    conn: &mut PgConnection,
    task: &str,
    holder: &str,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now_ms = codec::to_ms(now);
    let done = sqlx::query(
        "INSERT INTO singleton_leases (task, holder, until_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (task) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
         WHERE singleton_leases.holder = excluded.holder OR singleton_leases.until_ms <= $4",
    )
    .bind(task)
    .bind(holder)
    .bind(now_ms.saturating_add(codec::duration_ms(ttl)))
    .bind(now_ms)
    .execute(conn)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() == 1)
}
