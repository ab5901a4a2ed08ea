//! Erasing one number ([`ErasureStore::forget`]): one write transaction over every table
//! that can name it.
//!
//! The statements match the number's stored forms (`+1…`, `whatsapp:+1…`). Senders are
//! indexed; recipients, callers, callees and forward payloads are scanned. Deleting takes
//! row locks only, so inbound inserts (and other replicas) go on meanwhile.

use async_trait::async_trait;
use sqlx::PgConnection;
use telephony_core::store::{ErasureStore, ForgetReport, stored_forms};
use telephony_core::{MessageId, PhoneNumber, StoreError};

use super::{PostgresStore, opt_outs, rollback};

#[async_trait]
impl ErasureStore for PostgresStore {
    async fn forget(&self, number: &PhoneNumber) -> Result<ForgetReport, StoreError> {
        // A claim of an erased message loses its row: its outcome changes nothing.
        let (report, _inbound) = in_write_tx!(self, |conn| forget(conn, number))?;
        tracing::info!(
            number = %number.redacted(),
            removed = report.removed(),
            opt_out_hashed = report.opt_outs_hashed == 1,
            "number erased"
        );
        Ok(report)
    }
}

/// Deletes everything that names `number` inside the caller's transaction; returns the
/// counts and the ids of the inbound messages removed.
async fn forget(
    conn: &mut PgConnection,
    number: &PhoneNumber,
) -> Result<(ForgetReport, Vec<MessageId>), StoreError> {
    let [plain, whatsapp] = stored_forms(number);
    let mut report = ForgetReport::default();

    let inbound: Vec<String> = sqlx::query_scalar(
        "DELETE FROM inbox WHERE sender IN ($1, $2) OR recipient IN ($1, $2) RETURNING id",
    )
    .bind(&plain)
    .bind(&whatsapp)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    report.inbound_messages = inbound.len() as u64;

    // Sends: status callbacks kept for their provider ids, then the receipts (their
    // history, provider ids and outbox entries cascade).
    const SENDS: &str = "SELECT id FROM receipts WHERE recipient IN ($1, $2) OR sender IN ($1, $2)";
    report.queued_sends = count(
        conn,
        &format!("SELECT COUNT(*) FROM outbox WHERE id IN ({SENDS})"),
        &plain,
        &whatsapp,
    )
    .await?;
    exec(
        conn,
        &format!(
            "DELETE FROM orphan_status WHERE provider_sid IN \
             (SELECT provider_sid FROM receipt_sids WHERE receipt_id IN ({SENDS}))"
        ),
        &plain,
        &whatsapp,
    )
    .await?;
    report.sends = exec(
        conn,
        "DELETE FROM receipts WHERE recipient IN ($1, $2) OR sender IN ($1, $2)",
        &plain,
        &whatsapp,
    )
    .await?;

    // Calls: what is keyed by call id without a foreign key, the counts, then the calls
    // (history, turns, recordings and kept answers cascade).
    const CALLS: &str = "SELECT call_id FROM calls WHERE caller IN ($1, $2) OR callee IN ($1, $2)";
    report.call_status_changes = count(
        conn,
        &format!("SELECT COUNT(*) FROM call_history WHERE call_id IN ({CALLS})"),
        &plain,
        &whatsapp,
    )
    .await?;
    report.call_turns = count(
        conn,
        &format!("SELECT COUNT(*) FROM call_turns WHERE call_id IN ({CALLS})"),
        &plain,
        &whatsapp,
    )
    .await?;
    // Recording metadata cascades with its call; the audio stays with the provider.
    report.call_recordings = count(
        conn,
        &format!("SELECT COUNT(*) FROM call_recordings WHERE call_id IN ({CALLS})"),
        &plain,
        &whatsapp,
    )
    .await?;
    for table in ["call_stream_tokens", "orphan_call_status"] {
        exec(
            conn,
            &format!("DELETE FROM {table} WHERE call_id IN ({CALLS})"),
            &plain,
            &whatsapp,
        )
        .await?;
    }
    report.calls = exec(
        conn,
        "DELETE FROM calls WHERE caller IN ($1, $2) OR callee IN ($1, $2)",
        &plain,
        &whatsapp,
    )
    .await?;

    report.pairing_requests = exec(
        conn,
        "DELETE FROM pairing_requests WHERE sender IN ($1, $2)",
        &plain,
        &whatsapp,
    )
    .await?;
    report.approved_senders = exec(
        conn,
        "DELETE FROM approved_senders WHERE number IN ($1, $2)",
        &plain,
        &whatsapp,
    )
    .await?;
    report.approved_contacts = exec(
        conn,
        "DELETE FROM approved_contacts WHERE number IN ($1, $2)",
        &plain,
        &whatsapp,
    )
    .await?;

    // Forward events carry the message under `data`; `strpos` skips the JSON parse of
    // every payload that cannot name the number (CASE keeps that order).
    report.forward_events = exec(
        conn,
        "DELETE FROM forwards WHERE CASE WHEN strpos(payload_json, $1) > 0 THEN \
           (payload_json::jsonb -> 'data' ->> 'from') IN ($1, $2) \
           OR (payload_json::jsonb -> 'data' ->> 'to') IN ($1, $2) ELSE FALSE END",
        &plain,
        &whatsapp,
    )
    .await?;

    report.opt_outs_hashed = u64::from(opt_outs::hash(conn, number).await?);
    Ok((
        report,
        inbound.into_iter().map(MessageId::from_string).collect(),
    ))
}

/// Runs a statement with the two forms bound as `$1` and `$2`; returns the rows changed.
async fn exec(
    conn: &mut PgConnection,
    sql: &str,
    plain: &str,
    whatsapp: &str,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(sql)
        .bind(plain)
        .bind(whatsapp)
        .execute(conn)
        .await
        .map_err(StoreError::backend)?
        .rows_affected())
}

/// Runs a `SELECT COUNT(*)` with the two forms bound as `$1` and `$2`.
async fn count(
    conn: &mut PgConnection,
    sql: &str,
    plain: &str,
    whatsapp: &str,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(sql)
        .bind(plain)
        .bind(whatsapp)
        .fetch_one(conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
