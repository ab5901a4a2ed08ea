//! Pruning old records ([`RetentionStore`](telephony_core::RetentionStore)) and giving the
//! space back (incremental vacuum).
//!
//! Each batch is one short `BEGIN IMMEDIATE` transaction that deletes at most `limit`
//! records, oldest first, through an index on their time (migration 0010 adds those that
//! were missing), so the write lock is held for a few milliseconds and the inbound
//! writer's next batch waits no longer than that. Rows that belong to a deleted one go
//! with it through `ON DELETE CASCADE` (a receipt's history and provider ids, a call's
//! history, turns and pending answer).

use sqlx::SqliteConnection;
use telephony_core::StoreError;
use telephony_core::store::PruneKind;
use telephony_core::voice::CallStatus;
use time::OffsetDateTime;

use super::codec;

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// `'completed', 'busy', …`: the final call statuses, the only ones a call is pruned in.
fn final_call_statuses() -> String {
    CallStatus::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(table, key, condition, order)` of the records of `kind` that may be pruned before
/// `?1`, primary records first, then the leftovers pruned with them (status updates for
/// unknown ids, expired stream tokens).
fn targets(kind: PruneKind) -> Vec<(&'static str, &'static str, String, &'static str)> {
    match kind {
        PruneKind::Messages => vec![(
            "inbox",
            "rowid",
            "received_at < ?1 AND state <> 'queued' AND NOT (forward_at IS NOT NULL \
             AND rowid > (SELECT seq FROM forward_cursor WHERE id = 1))"
                .into(),
            "received_at, rowid",
        )],
        PruneKind::Sends => vec![
            (
                "receipts",
                "rowid",
                "created_at < ?1 AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.id = receipts.id)"
                    .into(),
                "created_at, id",
            ),
            ("orphan_status", "seq", "at < ?1".into(), "at, seq"),
        ],
        PruneKind::Calls => vec![
            (
                "calls",
                "rowid",
                format!("started_at < ?1 AND status IN ({})", final_call_statuses()),
                "started_at, rowid",
            ),
            ("orphan_call_status", "seq", "at < ?1".into(), "at, seq"),
            (
                "call_stream_tokens",
                "(call_id, token_hash)",
                "expires_ms < ?1".into(),
                "expires_ms",
            ),
        ],
        PruneKind::Forwards => vec![(
            "forwards",
            "rowid",
            "delivered_at IS NOT NULL AND created_at < ?1".into(),
            "created_at, rowid",
        )],
        PruneKind::Pairing => vec![(
            "pairing_requests",
            "seq",
            "created_at < ?1 AND (status <> 'pending' OR expires_at <= ?1)".into(),
            "created_at, seq",
        )],
    }
}

/// Deletes at most `limit` prunable records of `kind` older than `before`, in the
/// caller's transaction; returns how many.
pub(crate) async fn prune_batch(
    conn: &mut SqliteConnection,
    kind: PruneKind,
    before: OffsetDateTime,
    limit: usize,
) -> Result<usize, StoreError> {
    let before = codec::to_ms(before);
    let mut left = limit;
    for (table, key, condition, order) in targets(kind) {
        if left == 0 {
            break;
        }
        // A row value on the left, its columns in the subquery.
        let columns = key.trim_start_matches('(').trim_end_matches(')');
        let pick =
            format!("SELECT {columns} FROM {table} WHERE {condition} ORDER BY {order} LIMIT ?2");
        if table == "inbox" {
            // The senders of the messages that go stay known contacts: "has this number
            // ever texted us?" must not change its answer when old messages are pruned.
            sqlx::query(&format!(
                "INSERT INTO approved_contacts (number, approved_at) \
                 SELECT replace(sender, 'whatsapp:', ''), MAX(received_at) FROM inbox \
                 WHERE rowid IN ({pick}) GROUP BY 1 \
                 ON CONFLICT (number) DO NOTHING"
            ))
            .bind(before)
            .bind(codec::limit(left))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        }
        let done = sqlx::query(&format!(
            "DELETE FROM {table} WHERE {key} IN ({pick}) AND {condition}"
        ))
        .bind(before)
        .bind(codec::limit(left))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        left -= usize::try_from(done.rows_affected())
            .unwrap_or(left)
            .min(left);
    }
    Ok(limit - left)
}

/// How many records [`prune_batch`] would delete before `before`, in all.
pub(crate) async fn count(
    conn: &mut SqliteConnection,
    kind: PruneKind,
    before: OffsetDateTime,
) -> Result<usize, StoreError> {
    let before = codec::to_ms(before);
    let mut total = 0;
    for (table, _, condition, _) in targets(kind) {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {condition}"))
            .bind(before)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
        total += usize::try_from(n).unwrap_or(0);
    }
    Ok(total)
}

/// Runs `PRAGMA incremental_vacuum(max_pages)` and returns how many free pages it gave
/// back to the filesystem (0 when the database does not use incremental auto-vacuum).
pub(crate) async fn incremental_vacuum(
    conn: &mut SqliteConnection,
    max_pages: u32,
) -> Result<u64, StoreError> {
    let before = freelist_count(conn).await?;
    if before == 0 || max_pages == 0 {
        return Ok(0);
    }
    sqlx::query(&format!("PRAGMA incremental_vacuum({max_pages})"))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    let after = freelist_count(conn).await?;
    Ok(u64::try_from(before - after).unwrap_or(0))
}

async fn freelist_count(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    sqlx::query_scalar("PRAGMA freelist_count")
        .fetch_one(conn)
        .await
        .map_err(backend)
}

/// Databases up to this size switch to incremental auto-vacuum when opened (a `VACUUM`
/// of at most a second or two); larger ones keep their mode until the operator runs it.
const SWITCH_AT_OPEN_BYTES: i64 = 64 * 1024 * 1024;

/// Makes the database use `auto_vacuum = INCREMENTAL`, so pages freed by pruning can be
/// given back to the filesystem ([`incremental_vacuum`]). A new database gets it before
/// its first table; one created by an earlier version is rebuilt once (`VACUUM`) when it
/// is at most [`SWITCH_AT_OPEN_BYTES`]; a larger one is left as it is and the command that
/// switches it is logged (its freed pages are still reused, the file just does not shrink).
pub(crate) async fn use_incremental_vacuum(
    pool: &sqlx::SqlitePool,
    path: &std::path::Path,
) -> Result<(), sqlx::Error> {
    const INCREMENTAL: i64 = 2;
    let mode = || async {
        sqlx::query_scalar::<_, i64>("PRAGMA auto_vacuum")
            .fetch_one(pool)
            .await
    };
    if mode().await? == INCREMENTAL {
        return Ok(());
    }
    // Takes effect at once on a database without tables, else at the next VACUUM.
    sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
        .execute(pool)
        .await?;
    if mode().await? == INCREMENTAL {
        return Ok(());
    }
    let (pages, page_size): (i64, i64) =
        sqlx::query_as("SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()")
            .fetch_one(pool)
            .await?;
    let bytes = pages.saturating_mul(page_size);
    if bytes > SWITCH_AT_OPEN_BYTES {
        tracing::info!(
            path = %path.display(), bytes,
            "the database does not use incremental auto-vacuum: pruning reuses the space it frees but the file does not shrink; to switch, stop the gateway and run: sqlite3 <database> 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;'"
        );
        return Ok(());
    }
    let started = std::time::Instant::now();
    sqlx::query("VACUUM").execute(pool).await?;
    tracing::info!(
        path = %path.display(), bytes, ms = started.elapsed().as_millis() as u64,
        "switched the database to incremental auto-vacuum"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_pruned_only_in_a_final_status() {
        assert_eq!(
            final_call_statuses(),
            "'completed', 'busy', 'failed', 'no-answer', 'canceled'"
        );
    }
}
