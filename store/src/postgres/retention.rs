//! Pruning old records ([`RetentionStore`](telephony_core::RetentionStore)) on PostgreSQL.
//!
//! Each batch is one transaction that deletes at most `limit` records, oldest first,
//! through an index on their time (migration 0010 adds those that were missing). The
//! condition is checked again on the row the `DELETE` locks, so a record that another
//! replica put back in use meanwhile (a dead letter queued again) is not deleted. Rows that
//! belong to a deleted one go with it through `ON DELETE CASCADE`. The space of deleted
//! rows is reclaimed by autovacuum, as for every other delete: nothing to run here.

use sqlx::PgConnection;
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
/// `$1`, primary records first, then the leftovers pruned with them (status updates for
/// unknown ids, expired stream tokens).
fn targets(kind: PruneKind) -> Vec<(&'static str, &'static str, String, &'static str)> {
    match kind {
        PruneKind::Messages => vec![(
            "inbox",
            "seq",
            "received_at < $1 AND state <> 'queued'".into(),
            "received_at, seq",
        )],
        PruneKind::Sends => vec![
            (
                "receipts",
                "id",
                "created_at < $1 AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.id = receipts.id)"
                    .into(),
                "created_at, id",
            ),
            ("orphan_status", "seq", "at < $1".into(), "at, seq"),
        ],
        PruneKind::Calls => vec![
            (
                "calls",
                "seq",
                format!("started_at < $1 AND status IN ({})", final_call_statuses()),
                "started_at, seq",
            ),
            ("orphan_call_status", "seq", "at < $1".into(), "at, seq"),
            (
                "call_stream_tokens",
                "(call_id, token_hash)",
                "expires_ms < $1".into(),
                "expires_ms",
            ),
        ],
        PruneKind::Forwards => vec![(
            "forwards",
            "seq",
            "delivered_at IS NOT NULL AND created_at < $1".into(),
            "created_at, seq",
        )],
        PruneKind::Pairing => vec![(
            "pairing_requests",
            "seq",
            "created_at < $1 AND (status <> 'pending' OR expires_at <= $1)".into(),
            "created_at, seq",
        )],
    }
}

/// Deletes at most `limit` prunable records of `kind` older than `before`, in the
/// caller's transaction; returns how many.
pub(crate) async fn prune_batch(
    conn: &mut PgConnection,
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
        let delete = format!(
            "DELETE FROM {table} WHERE {key} IN \
               (SELECT {columns} FROM {table} WHERE {condition} ORDER BY {order} LIMIT $2) \
             AND {condition}"
        );
        let deleted: i64 = if table == "inbox" {
            // The senders of the messages that go stay known contacts: "has this number
            // ever texted us?" must not change its answer when old messages are pruned.
            sqlx::query_scalar(&format!(
                "WITH gone AS ({delete} RETURNING sender, received_at), \
                 known AS ( \
                   INSERT INTO approved_contacts (number, approved_at) \
                   SELECT replace(sender, 'whatsapp:', ''), MAX(received_at) FROM gone \
                   GROUP BY 1 ON CONFLICT (number) DO NOTHING) \
                 SELECT COUNT(*) FROM gone"
            ))
            .bind(before)
            .bind(codec::limit(left))
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?
        } else {
            let done = sqlx::query(&delete)
                .bind(before)
                .bind(codec::limit(left))
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            i64::try_from(done.rows_affected()).unwrap_or(i64::MAX)
        };
        left -= usize::try_from(deleted).unwrap_or(left).min(left);
    }
    Ok(limit - left)
}

/// How many records [`prune_batch`] would delete before `before`, in all.
pub(crate) async fn count(
    conn: &mut PgConnection,
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
