//! Receipts, their status history, the provider SID → receipt map, status callbacks that
//! arrive before the SID is known, and the send log.
//!
//! Status rules live in `telephony-core` ([`Receipt::apply_status`] and friends): operations
//! here load a receipt, let core change it, and write the changes back in the caller's
//! transaction. Writers load it `FOR UPDATE`, so concurrent changes to one receipt from
//! several replicas apply one after the other; a status callback and the send's completion
//! for one provider SID are serialized by an advisory lock on the SID ([`lock_sid`]), so
//! a callback that beats the completion is either applied or kept as an orphan that the
//! completion picks up, never lost between them.

use std::collections::HashMap;

use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use telephony_core::{
    Address, ErrorInfo, MessageId, Receipt, StatusEvent, StatusOutcome, StatusUpdate, StoreError,
};
use time::OffsetDateTime;

use super::codec::{self, get, get_json, get_json_opt, get_status, get_time, get_u32, get_u32_opt};

/// A receipt as loaded, remembering how much history is already stored.
pub(crate) struct Loaded {
    pub(crate) receipt: Receipt,
    stored_history: usize,
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// The columns [`decode`] reads, for `SELECT`s of whole receipts.
macro_rules! receipt_columns {
    () => {
        "r.id, r.recipient, r.body, r.media_urls_json, r.status, r.provider_sids_json, r.sender, \
         r.segments, r.price, r.price_unit, r.error_json, r.attempts, r.created_at, r.updated_at"
    };
}
pub(crate) use receipt_columns;

/// The receipt with this id, if any.
pub(crate) async fn load(
    conn: &mut PgConnection,
    id: &MessageId,
) -> Result<Option<Loaded>, StoreError> {
    load_with(conn, id, false).await
}

/// The receipt with this id, if any; with `for_update`, its row stays locked until the
/// caller's transaction ends.
async fn load_with(
    conn: &mut PgConnection,
    id: &MessageId,
    for_update: bool,
) -> Result<Option<Loaded>, StoreError> {
    const PLAIN: &str = concat!(
        "SELECT ",
        receipt_columns!(),
        " FROM receipts r WHERE r.id = $1"
    );
    const LOCKED: &str = concat!(
        "SELECT ",
        receipt_columns!(),
        " FROM receipts r WHERE r.id = $1 FOR UPDATE"
    );
    let Some(row) = sqlx::query(if for_update { LOCKED } else { PLAIN })
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let history = sqlx::query(
        "SELECT status, at, provider_sid, error_json, provider_status FROM receipt_history \
         WHERE receipt_id = $1 ORDER BY seq",
    )
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?
    .iter()
    .map(decode_event)
    .collect::<Result<Vec<_>, _>>()?;
    let receipt = decode(&row, history)?;
    Ok(Some(Loaded {
        stored_history: receipt.history.len(),
        receipt,
    }))
}

/// Decodes rows selected with [`receipt_columns`] into receipts, in order, with their
/// histories (fetched in one query).
pub(crate) async fn decode_all(
    conn: &mut PgConnection,
    rows: &[PgRow],
) -> Result<Vec<Receipt>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = rows
        .iter()
        .map(|r| get::<String>(r, "receipts.id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut histories: HashMap<String, Vec<StatusEvent>> = HashMap::new();
    for row in sqlx::query(
        "SELECT receipt_id, status, at, provider_sid, error_json, provider_status FROM receipt_history \
         WHERE receipt_id = ANY($1) ORDER BY receipt_id, seq",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await
    .map_err(backend)?
    {
        histories
            .entry(get(&row, "receipt_history.receipt_id")?)
            .or_default()
            .push(decode_event(&row)?);
    }
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| decode(row, histories.remove(id).unwrap_or_default()))
        .collect()
}

fn decode(row: &PgRow, history: Vec<StatusEvent>) -> Result<Receipt, StoreError> {
    let recipient: String = get(row, "receipts.recipient")?;
    Ok(Receipt {
        id: MessageId::from_string(get::<String>(row, "receipts.id")?),
        to: Address::parse(&recipient).map_err(|e| codec::corrupt("receipts.recipient", e))?,
        body: get(row, "receipts.body")?,
        media_urls: get_json(row, "receipts.media_urls_json")?,
        status: get_status(row, "receipts.status")?,
        provider_sids: get_json(row, "receipts.provider_sids_json")?,
        from: get(row, "receipts.sender")?,
        segments: get_u32_opt(row, "receipts.segments")?,
        price: get(row, "receipts.price")?,
        price_unit: get(row, "receipts.price_unit")?,
        error: get_json_opt(row, "receipts.error_json")?,
        attempts: get_u32(row, "receipts.attempts")?,
        created_at: get_time(row, "receipts.created_at")?,
        updated_at: get_time(row, "receipts.updated_at")?,
        history,
    })
}

/// The send log: receipts created at or after `since`, the newest `limit`, oldest first.
pub(crate) async fn log(
    conn: &mut PgConnection,
    since: Option<OffsetDateTime>,
    limit: usize,
) -> Result<Vec<Receipt>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT * FROM (SELECT ",
        receipt_columns!(),
        " FROM receipts r WHERE r.created_at >= $1 \
          ORDER BY r.created_at DESC, r.id DESC LIMIT $2) AS newest \
         ORDER BY created_at, id"
    ))
    .bind(since.map_or(i64::MIN, codec::to_ms))
    .bind(codec::limit(limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    decode_all(conn, &rows).await
}

/// Receipts created at or after `since`.
pub(crate) async fn count_since(
    conn: &mut PgConnection,
    since: OffsetDateTime,
) -> Result<usize, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipts WHERE created_at >= $1")
        .bind(codec::to_ms(since))
        .fetch_one(conn)
        .await
        .map_err(backend)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Like [`load`], but locks the row for the caller's transaction, and a missing receipt is
/// [`StoreError::NotFound`].
pub(crate) async fn load_existing(
    conn: &mut PgConnection,
    id: &MessageId,
) -> Result<Loaded, StoreError> {
    load_with(conn, id, true)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Serializes, until the caller's transaction ends, everything done for one provider SID
/// in this schema (its status callbacks and the completion that maps it).
pub(crate) async fn lock_sid(conn: &mut PgConnection, sid: &str) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':sid:' || $1, 0))",
    )
    .bind(sid)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// The error for an outbound message id that has no receipt or outbox entry.
pub(crate) fn not_found(id: &MessageId) -> StoreError {
    StoreError::NotFound {
        kind: "outbound message",
        id: id.to_string(),
    }
}

fn decode_event(row: &PgRow) -> Result<StatusEvent, StoreError> {
    Ok(StatusEvent {
        status: get_status(row, "receipt_history.status")?,
        at: get_time(row, "receipt_history.at")?,
        provider_sid: get(row, "receipt_history.provider_sid")?,
        error: get_json_opt(row, "receipt_history.error_json")?,
        provider_status: get(row, "receipt_history.provider_status")?,
    })
}

/// Stores a new receipt with its history.
pub(crate) async fn insert(conn: &mut PgConnection, r: &Receipt) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO receipts (id, recipient, body, media_urls_json, status, provider_sids_json, \
            sender, segments, price, price_unit, error_json, attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(r.id.as_str())
    .bind(r.to.to_string())
    .bind(&r.body)
    .bind(codec::to_json(&r.media_urls)?)
    .bind(r.status.as_str())
    .bind(codec::to_json(&r.provider_sids)?)
    .bind(&r.from)
    .bind(r.segments.map(i64::from))
    .bind(&r.price)
    .bind(&r.price_unit)
    .bind(r.error.as_ref().map(codec::to_json).transpose()?)
    .bind(i64::from(r.attempts))
    .bind(codec::to_ms(r.created_at))
    .bind(codec::to_ms(r.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    insert_history(conn, &r.id, 0, &r.history).await
}

/// Writes back what core's status logic changed: the mutable columns and new history.
pub(crate) async fn save(conn: &mut PgConnection, loaded: &Loaded) -> Result<(), StoreError> {
    let r = &loaded.receipt;
    sqlx::query(
        "UPDATE receipts SET status = $2, provider_sids_json = $3, sender = $4, segments = $5, \
            price = $6, price_unit = $7, error_json = $8, attempts = $9, updated_at = $10 \
         WHERE id = $1",
    )
    .bind(r.id.as_str())
    .bind(r.status.as_str())
    .bind(codec::to_json(&r.provider_sids)?)
    .bind(&r.from)
    .bind(r.segments.map(i64::from))
    .bind(&r.price)
    .bind(&r.price_unit)
    .bind(r.error.as_ref().map(codec::to_json).transpose()?)
    .bind(i64::from(r.attempts))
    .bind(codec::to_ms(r.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    // Core only ever appends to the history.
    let new = r.history.get(loaded.stored_history..).unwrap_or_default();
    insert_history(conn, &r.id, loaded.stored_history, new).await
}

async fn insert_history(
    conn: &mut PgConnection,
    id: &MessageId,
    first_seq: usize,
    events: &[StatusEvent],
) -> Result<(), StoreError> {
    for (i, e) in events.iter().enumerate() {
        sqlx::query(
            "INSERT INTO receipt_history (receipt_id, seq, status, at, provider_sid, error_json, provider_status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(codec::limit(first_seq + i))
        .bind(e.status.as_str())
        .bind(codec::to_ms(e.at))
        .bind(&e.provider_sid)
        .bind(e.error.as_ref().map(codec::to_json).transpose()?)
        .bind(&e.provider_status)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// Points a provider SID at a receipt (the latest receipt to claim a SID wins).
pub(crate) async fn map_sid(
    conn: &mut PgConnection,
    sid: &str,
    id: &MessageId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO receipt_sids (provider_sid, receipt_id) VALUES ($1, $2) \
         ON CONFLICT (provider_sid) DO UPDATE SET receipt_id = excluded.receipt_id",
    )
    .bind(sid)
    .bind(id.as_str())
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Removes and returns the status updates kept for a SID, in arrival order.
pub(crate) async fn take_orphans(
    conn: &mut PgConnection,
    sid: &str,
) -> Result<Vec<StatusUpdate>, StoreError> {
    let rows =
        sqlx::query("DELETE FROM orphan_status WHERE provider_sid = $1 RETURNING seq, update_json")
            .bind(sid)
            .fetch_all(conn)
            .await
            .map_err(backend)?;
    // RETURNING has no defined order.
    let mut keyed = rows
        .iter()
        .map(|row| {
            Ok((
                get::<i64>(row, "orphan_status.seq")?,
                get_json::<StatusUpdate>(row, "orphan_status.update_json")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    keyed.sort_by_key(|(seq, _)| *seq);
    Ok(keyed.into_iter().map(|(_, u)| u).collect())
}

/// Applies a status callback: to its receipt if the SID is known, else kept for later.
pub(crate) async fn apply_status(
    conn: &mut PgConnection,
    update: &StatusUpdate,
    now: OffsetDateTime,
) -> Result<StatusOutcome, StoreError> {
    lock_sid(conn, &update.provider_sid).await?;
    let receipt_id: Option<String> =
        sqlx::query_scalar("SELECT receipt_id FROM receipt_sids WHERE provider_sid = $1")
            .bind(&update.provider_sid)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    let Some(receipt_id) = receipt_id else {
        sqlx::query(
            "INSERT INTO orphan_status (provider_sid, update_json, at) VALUES ($1, $2, $3)",
        )
        .bind(&update.provider_sid)
        .bind(codec::to_json(update)?)
        .bind(codec::to_ms(now))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        return Ok(StatusOutcome::Unknown);
    };
    let mut loaded = load_existing(conn, &MessageId::from_string(receipt_id)).await?;
    if loaded.receipt.apply_status(update, now) {
        save(conn, &loaded).await?;
        Ok(StatusOutcome::Applied(loaded.receipt))
    } else {
        Ok(StatusOutcome::Stale(loaded.receipt))
    }
}

/// Records an error on a receipt without changing its status (a retryable send failure).
pub(crate) async fn set_error(
    conn: &mut PgConnection,
    id: &MessageId,
    error: &ErrorInfo,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE receipts SET error_json = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(codec::to_json(error)?)
        .execute(conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(not_found(id));
    }
    Ok(())
}
