//! Erasing one number ([`ErasureStore::forget`]): one write transaction over every table
//! that can name it.
//!
//! The statements match the number's stored forms (`+1…`, `whatsapp:+1…`). Senders are
//! indexed; recipients, callers, callees and forward payloads are scanned, which holds the
//! write lock for the scan: fine for a rare, operator-run command (see the README).

use async_trait::async_trait;
use sqlx::SqliteConnection;
use telephony_core::store::{ErasureStore, ForgetReport, stored_forms};
use telephony_core::{MessageId, PhoneNumber, StoreError};

use super::compact::Key;
use super::{SqliteStore, opt_outs};

#[async_trait]
impl ErasureStore for SqliteStore {
    async fn forget(&self, number: &PhoneNumber) -> Result<ForgetReport, StoreError> {
        // Held across the write so no dispatch claim or record interleaves with it.
        let mut claims = self.claims.lock().await;
        // And no forward claim or record: the number's `message.received` events that
        // are in memory (see `forward_tail`) leave it first, and come back if the erasure
        // fails.
        let mut forward_claims = self.forward_claims.lock().await;
        let (taken, unread_from) = {
            let mut tail = self.tail();
            let taken = tail.take_numbers(&stored_forms(number));
            (taken, tail.in_memory().1)
        };
        let erased = in_write_tx!(self, |conn| async {
            let out = forget(&mut *conn, number, unread_from).await?;
            let max = super::forward_tail::clamp_cursor(&mut *conn).await?;
            Ok::<_, StoreError>((out, max))
        });
        let ((mut report, inbound), max_rowid) = match erased {
            Ok(done) => done,
            Err(e) => {
                self.tail().put_back(taken);
                return Err(e);
            }
        };
        report.forward_events += taken.len() as u64;
        self.tail().clamp(max_rowid);
        forward_claims.forget(taken.iter().map(|(_, event, _)| event.id.as_str()));
        // Claims of erased messages are void: their outcomes change nothing.
        claims.forget(inbound.iter());
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
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
    unread_from: Option<i64>,
) -> Result<(ForgetReport, Vec<MessageId>), StoreError> {
    let [plain, whatsapp] = stored_forms(number);
    let mut report = ForgetReport::default();

    // `message.received` events not delivered yet and not in memory (see
    // `forward_tail`): they go with their inbox rows.
    if let Some(from) = unread_from {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM inbox WHERE rowid >= ?3 AND forward_at IS NOT NULL \
             AND (sender IN (?1, ?2) OR recipient IN (?1, ?2))",
        )
        .bind(&plain)
        .bind(&whatsapp)
        .bind(from)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
        report.forward_events += u64::try_from(n).unwrap_or(0);
    }

    let inbound: Vec<Key> = sqlx::query_scalar(
        "DELETE FROM inbox WHERE sender IN (?1, ?2) OR recipient IN (?1, ?2) RETURNING id",
    )
    .bind(&plain)
    .bind(&whatsapp)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    let inbound = inbound
        .into_iter()
        .map(|id| id.into_string("inbox.id"))
        .collect::<Result<Vec<String>, StoreError>>()?;
    report.inbound_messages = inbound.len() as u64;

    // Sends: status callbacks kept for their provider ids, then the receipts (their
    // history, provider ids and outbox entries cascade).
    const SENDS: &str = "SELECT id FROM receipts WHERE recipient IN (?1, ?2) OR sender IN (?1, ?2)";
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
        "DELETE FROM receipts WHERE recipient IN (?1, ?2) OR sender IN (?1, ?2)",
        &plain,
        &whatsapp,
    )
    .await?;

    // Calls: what is keyed by call id without a foreign key, the counts, then the calls
    // (history, turns, recordings and kept answers cascade).
    const CALLS: &str = "SELECT call_id FROM calls WHERE caller IN (?1, ?2) OR callee IN (?1, ?2)";
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
        "DELETE FROM calls WHERE caller IN (?1, ?2) OR callee IN (?1, ?2)",
        &plain,
        &whatsapp,
    )
    .await?;

    report.pairing_requests = exec(
        conn,
        "DELETE FROM pairing_requests WHERE sender IN (?1, ?2)",
        &plain,
        &whatsapp,
    )
    .await?;
    report.approved_senders = exec(
        conn,
        "DELETE FROM approved_senders WHERE number IN (?1, ?2)",
        &plain,
        &whatsapp,
    )
    .await?;
    report.approved_contacts = exec(
        conn,
        "DELETE FROM approved_contacts WHERE number IN (?1, ?2)",
        &plain,
        &whatsapp,
    )
    .await?;

    // Forward events carry the message under `data`; `instr` skips the JSON parse of
    // every payload that cannot name the number.
    report.forward_events += exec(
        conn,
        "DELETE FROM forwards WHERE instr(payload_json, ?1) > 0 AND json_valid(payload_json) \
         AND (json_extract(payload_json, '$.data.from') IN (?1, ?2) \
              OR json_extract(payload_json, '$.data.to') IN (?1, ?2))",
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

/// Runs a statement with the two forms bound as `?1` and `?2`; returns the rows changed.
async fn exec(
    conn: &mut SqliteConnection,
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

/// Runs a `SELECT COUNT(*)` with the two forms bound as `?1` and `?2`.
async fn count(
    conn: &mut SqliteConnection,
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
