//! The outbox: sends accepted by the gateway and not yet accepted by the provider, including
//! sends held until their recipient is approved as a contact.
//!
//! Every function runs inside the caller's `BEGIN IMMEDIATE` transaction, so a receipt and
//! its outbox entry always change together and two workers never claim the same entry.

use std::time::Duration;

use sqlx::SqliteConnection;
use telephony_core::{
    ErrorInfo, LeaseToken, MessageId, OutboundMessage, OutboxItem, PhoneNumber, ProviderReceipt,
    Receipt, StoreError,
};
use time::OffsetDateTime;

use super::codec::{self, get, get_json, get_time_opt, get_u32};
use super::receipts;

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// Whether a new outbox entry may be claimed at once or waits for its recipient's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Due at once.
    No,
    /// Never claimed until [`release_held`] for its recipient.
    UntilApproved,
}

/// Creates a `pending` receipt and its outbox entry.
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    id: &MessageId,
    msg: &OutboundMessage,
    now: OffsetDateTime,
    hold: Hold,
) -> Result<Receipt, StoreError> {
    let receipt = Receipt::new_pending(id.clone(), msg, now);
    receipts::insert(conn, &receipt).await?;
    sqlx::query(
        "INSERT INTO outbox (id, message_json, attempts, next_attempt_at, held, to_number) \
         VALUES (?1, ?2, 0, ?3, ?4, ?5)",
    )
    .bind(id.as_str())
    .bind(codec::to_json(msg)?)
    .bind(codec::to_ms(now))
    .bind(hold == Hold::UntilApproved)
    .bind(msg.to.number().as_str())
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(receipt)
}

/// Releases the held entries for a number, due at `now`; returns their ids in enqueue order.
pub(crate) async fn release_held(
    conn: &mut SqliteConnection,
    number: &PhoneNumber,
    now: OffsetDateTime,
) -> Result<Vec<MessageId>, StoreError> {
    let rows = sqlx::query(
        "UPDATE outbox SET held = 0, next_attempt_at = ?2 WHERE held = 1 AND to_number = ?1 \
         RETURNING rowid AS seq, id",
    )
    .bind(number.as_str())
    .bind(codec::to_ms(now))
    .fetch_all(conn)
    .await
    .map_err(backend)?;
    let mut released = rows
        .iter()
        .map(|row| {
            Ok((
                get::<i64>(row, "outbox.seq")?,
                get::<String>(row, "outbox.id")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING has no defined order.
    released.sort();
    Ok(released
        .into_iter()
        .map(|(_, id)| MessageId::from_string(id))
        .collect())
}

/// Receipts of held entries, oldest first.
pub(crate) async fn held(conn: &mut SqliteConnection) -> Result<Vec<Receipt>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        receipts::receipt_columns!(),
        " FROM outbox o JOIN receipts r ON r.id = o.id WHERE o.held = 1 \
          ORDER BY r.created_at, o.rowid"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    receipts::decode_all(conn, &rows).await
}

/// Leases up to `limit` due, unleased entries, oldest due first, each with a new lease
/// token; an entry whose previous lease ran out without an outcome keeps (or gets) the
/// time that claim started as `interrupted_at`.
pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    now: OffsetDateTime,
    lease: Duration,
    limit: usize,
) -> Result<Vec<OutboxItem>, StoreError> {
    let now_ms = codec::to_ms(now);
    let rows = sqlx::query(
        "UPDATE outbox SET leased_until = ?2, attempts = attempts + 1, \
           lease_token = lease_token + 1, claimed_at = ?1, \
           interrupted_at = CASE WHEN leased_until IS NOT NULL \
             THEN COALESCE(interrupted_at, claimed_at) ELSE interrupted_at END \
         WHERE id IN ( \
           SELECT id FROM outbox \
           WHERE held = 0 AND next_attempt_at <= ?1 \
             AND (leased_until IS NULL OR leased_until <= ?1) \
           ORDER BY next_attempt_at, rowid LIMIT ?3 \
         ) \
         RETURNING rowid AS seq, id, message_json, attempts, next_attempt_at, lease_token, \
           interrupted_at",
    )
    .bind(now_ms)
    .bind(now_ms.saturating_add(codec::duration_ms(lease)))
    .bind(codec::limit(limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;

    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let attempts = get_u32(row, "outbox.attempts")?;
        claimed.push((
            (
                get::<i64>(row, "outbox.next_attempt_at")?,
                get::<i64>(row, "outbox.seq")?,
            ),
            OutboxItem {
                id: MessageId::from_string(get::<String>(row, "outbox.id")?),
                message: get_json(row, "outbox.message_json")?,
                // The item reports the attempts made before this claim.
                attempts: attempts.saturating_sub(1),
                seq: get::<i64>(row, "outbox.seq")?,
                lease: codec::lease_token(get::<i64>(row, "outbox.lease_token")?),
                interrupted: get_time_opt(row, "outbox.interrupted_at")?,
            },
            attempts,
        ));
    }
    // RETURNING has no defined order; hand entries out in the order they were picked.
    claimed.sort_by_key(|(key, _, _)| *key);
    for (_, item, attempts) in &claimed {
        sqlx::query("UPDATE receipts SET attempts = ?2 WHERE id = ?1")
            .bind(item.id.as_str())
            .bind(i64::from(*attempts))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(claimed.into_iter().map(|(_, item, _)| item).collect())
}

/// The provider accepted the send: drop the outbox entry (while `lease` is its claim),
/// record the send, and apply status callbacks that were waiting for its SID.
pub(crate) async fn complete(
    conn: &mut SqliteConnection,
    id: &MessageId,
    lease: LeaseToken,
    result: &ProviderReceipt,
    now: OffsetDateTime,
) -> Result<Receipt, StoreError> {
    remove(conn, id, lease).await?;
    let mut loaded = receipts::load_existing(conn, id).await?;
    loaded.receipt.apply_sent(result, now);
    receipts::map_sid(conn, &result.sid, id).await?;
    for update in receipts::take_orphans(conn, &result.sid).await? {
        loaded.receipt.apply_status(&update, now);
    }
    receipts::save(conn, &loaded).await?;
    Ok(loaded.receipt)
}

/// The send failed for good: drop the outbox entry (while `lease` is its claim) and fail
/// the receipt.
pub(crate) async fn fail(
    conn: &mut SqliteConnection,
    id: &MessageId,
    lease: LeaseToken,
    error: &ErrorInfo,
    now: OffsetDateTime,
) -> Result<Receipt, StoreError> {
    remove(conn, id, lease).await?;
    let mut loaded = receipts::load_existing(conn, id).await?;
    loaded.receipt.apply_failure(error.clone(), now);
    receipts::save(conn, &loaded).await?;
    Ok(loaded.receipt)
}

/// The send may succeed later: release the lease and wait until `next_attempt`.
pub(crate) async fn retry(
    conn: &mut SqliteConnection,
    id: &MessageId,
    lease: LeaseToken,
    error: &ErrorInfo,
    next_attempt: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE outbox SET leased_until = NULL, next_attempt_at = ?2 \
         WHERE id = ?1 AND lease_token = ?3",
    )
    .bind(id.as_str())
    .bind(codec::to_ms(next_attempt))
    .bind(codec::lease_value(lease))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(lease_lost(conn, id).await);
    }
    receipts::set_error(conn, id, error).await
}

/// The entry was not tried (no rate-limit slot): release the lease, make it due at
/// `until`, and undo the claim's attempt count on the entry and its receipt.
pub(crate) async fn defer(
    conn: &mut SqliteConnection,
    id: &MessageId,
    lease: LeaseToken,
    until: OffsetDateTime,
) -> Result<(), StoreError> {
    let attempts: Option<i64> = sqlx::query_scalar(
        "UPDATE outbox SET leased_until = NULL, next_attempt_at = ?2, \
         attempts = MAX(attempts - 1, 0) WHERE id = ?1 AND lease_token = ?3 RETURNING attempts",
    )
    .bind(id.as_str())
    .bind(codec::to_ms(until))
    .bind(codec::lease_value(lease))
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let Some(attempts) = attempts else {
        return Err(lease_lost(conn, id).await);
    };
    sqlx::query("UPDATE receipts SET attempts = ?2 WHERE id = ?1")
        .bind(id.as_str())
        .bind(attempts)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    // Keep the recipient's order: later entries to the same recipient that are not being
    // handled now wait at least as long (claims go by due time, then queue order). Only
    // the outbox rows after this one are looked at, each one's receipt by its key (not a
    // scan of every receipt ever kept at each deferral).
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = ?2 \
         WHERE next_attempt_at < ?2 AND leased_until IS NULL \
           AND rowid > (SELECT rowid FROM outbox WHERE id = ?1) \
           AND EXISTS (SELECT 1 FROM receipts r WHERE r.id = outbox.id AND r.recipient = \
                       (SELECT recipient FROM receipts WHERE id = ?1))",
    )
    .bind(id.as_str())
    .bind(codec::to_ms(until))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// The earliest next attempt of an entry neither held nor leased (the `outbox_due` index,
/// in order, skipping the leased ones).
pub(crate) async fn next_due(
    conn: &mut SqliteConnection,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let at: Option<i64> = sqlx::query_scalar(
        "SELECT next_attempt_at FROM outbox WHERE held = 0 AND leased_until IS NULL \
         ORDER BY next_attempt_at LIMIT 1",
    )
    .fetch_optional(conn)
    .await
    .map_err(backend)?;
    at.map(|ms| codec::from_ms("outbox.next_attempt_at", ms))
        .transpose()
}

/// Number of entries in the outbox.
pub(crate) async fn len(conn: &mut SqliteConnection) -> Result<usize, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(conn)
        .await
        .map_err(backend)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// When the oldest outbox entry was queued.
pub(crate) async fn oldest(
    conn: &mut SqliteConnection,
) -> Result<Option<OffsetDateTime>, StoreError> {
    let at: Option<i64> =
        sqlx::query_scalar("SELECT MIN(r.created_at) FROM outbox o JOIN receipts r ON r.id = o.id")
            .fetch_one(conn)
            .await
            .map_err(backend)?;
    at.map(|ms| codec::from_ms("receipts.created_at", ms))
        .transpose()
}

/// Drops the outbox entry while `lease` is its latest claim.
async fn remove(
    conn: &mut SqliteConnection,
    id: &MessageId,
    lease: LeaseToken,
) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM outbox WHERE id = ?1 AND lease_token = ?2")
        .bind(id.as_str())
        .bind(codec::lease_value(lease))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(lease_lost(conn, id).await);
    }
    Ok(())
}

/// Why a fenced write on `id` changed nothing: `LeaseLost` when the message exists (its
/// entry has a newer claim, or is done), `NotFound` when it does not.
async fn lease_lost(conn: &mut SqliteConnection, id: &MessageId) -> StoreError {
    let known = sqlx::query_scalar::<_, i64>("SELECT 1 FROM receipts WHERE id = ?1")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await;
    match known {
        Ok(Some(_)) => StoreError::LeaseLost { id: id.to_string() },
        Ok(None) => receipts::not_found(id),
        Err(e) => backend(e),
    }
}
