//! Calls and call sessions: the call rows, their status history and transcript, status
//! updates for unknown calls, and pending answers.
//!
//! The rules are MemoryStore's. Each operation runs in the caller's transaction; the writes
//! run in a `BEGIN IMMEDIATE` one, so [`begin`] counts the live sessions and inserts in one
//! step (no concurrent caller, on this connection or another, can slip in between), and
//! [`update_status`] reads, compares and writes a status atomically. Records returned by
//! writes are read back from the rows just written.

use std::collections::HashMap;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use telephony_core::StoreError;
use telephony_core::store::{
    BeginOutcome, CallRecord, CallStatusChange, CallStatusOutcome, CallTurn, NewCall,
    OrphanCallStatus, PendingAnswer, StatusSource,
};
use telephony_core::voice::{AnsweredBy, CallStatus};
use time::OffsetDateTime;

use super::codec::{
    self, get, get_call_status, get_direction, get_status_source, get_time, get_time_opt,
};

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "call",
        id: id.to_string(),
    }
}

/// The columns [`decode`] reads, for `SELECT`s of whole calls.
macro_rules! call_columns {
    () => {
        "rowid AS seq, call_id, direction, caller, callee, status, session, started_at, \
         answered_at, ended_at, updated_at, duration_secs, note, answered_by, update_epoch"
    };
}
pub(crate) use call_columns;

/// Which rows hold a session slot ([`CallRecord::is_live_session`]): sessions whose status
/// is not terminal. Word for word the condition of the `calls_live` partial index
/// (migration 0004), so SQLite counts and lists live sessions through it.
macro_rules! live_condition {
    () => {
        "session = 1 AND status IN ('queued', 'ringing', 'in-progress')"
    };
}

/// A duration as stored (saturating).
fn duration_value(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn decode(
    row: &SqliteRow,
    history: Vec<CallStatusChange>,
    transcript: Vec<CallTurn>,
) -> Result<CallRecord, StoreError> {
    let duration: Option<i64> = get(row, "calls.duration_secs")?;
    Ok(CallRecord {
        call_id: get(row, "calls.call_id")?,
        direction: get_direction(row, "calls.direction")?,
        from: get(row, "calls.caller")?,
        to: get(row, "calls.callee")?,
        status: get_call_status(row, "calls.status")?,
        session: get(row, "calls.session")?,
        started_at: get_time(row, "calls.started_at")?,
        answered_at: get_time_opt(row, "calls.answered_at")?,
        ended_at: get_time_opt(row, "calls.ended_at")?,
        updated_at: get_time(row, "calls.updated_at")?,
        duration_secs: duration
            .map(|d| {
                u64::try_from(d).map_err(|_| {
                    codec::corrupt(
                        "calls.duration_secs",
                        format_args!("{d} is not a valid duration"),
                    )
                })
            })
            .transpose()?,
        note: get(row, "calls.note")?,
        history,
        transcript,
        answered_by: get_answered_by(row)?,
        update_epoch: epoch_value(get(row, "calls.update_epoch")?)?,
    })
}

fn decode_change(row: &SqliteRow) -> Result<CallStatusChange, StoreError> {
    Ok(CallStatusChange {
        status: get_call_status(row, "call_history.status")?,
        at: get_time(row, "call_history.at")?,
        source: get_status_source(row, "call_history.source")?,
    })
}

fn decode_turn(row: &SqliteRow) -> Result<CallTurn, StoreError> {
    let confidence: Option<f64> = get(row, "call_turns.confidence")?;
    Ok(CallTurn {
        at: get_time(row, "call_turns.at")?,
        speech: get(row, "call_turns.speech")?,
        // Stored from an f32, so converting back is exact.
        confidence: confidence.map(|c| c as f32),
        digits: get(row, "call_turns.digits")?,
    })
}

/// Decodes rows selected with [`call_columns`] into calls, in order, with their histories
/// and transcripts (fetched in one query each).
pub(crate) async fn decode_all(
    conn: &mut SqliteConnection,
    rows: &[SqliteRow],
) -> Result<Vec<CallRecord>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = rows
        .iter()
        .map(|r| get::<String>(r, "calls.call_id"))
        .collect::<Result<Vec<_>, _>>()?;
    let ids_json = codec::to_json(&ids)?;
    let mut histories: HashMap<String, Vec<CallStatusChange>> = HashMap::new();
    for row in sqlx::query(
        "SELECT call_id, status, at, source FROM call_history \
         WHERE call_id IN (SELECT value FROM json_each(?1)) ORDER BY call_id, seq",
    )
    .bind(&ids_json)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?
    {
        histories
            .entry(get(&row, "call_history.call_id")?)
            .or_default()
            .push(decode_change(&row)?);
    }
    let mut transcripts: HashMap<String, Vec<CallTurn>> = HashMap::new();
    for row in sqlx::query(
        "SELECT call_id, at, speech, confidence, digits FROM call_turns \
         WHERE call_id IN (SELECT value FROM json_each(?1)) ORDER BY call_id, seq",
    )
    .bind(&ids_json)
    .fetch_all(conn)
    .await
    .map_err(backend)?
    {
        transcripts
            .entry(get(&row, "call_turns.call_id")?)
            .or_default()
            .push(decode_turn(&row)?);
    }
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            decode(
                row,
                histories.remove(id).unwrap_or_default(),
                transcripts.remove(id).unwrap_or_default(),
            )
        })
        .collect()
}

/// The call with this id, with its history and transcript.
pub(crate) async fn load(
    conn: &mut SqliteConnection,
    call_id: &str,
) -> Result<Option<CallRecord>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        call_columns!(),
        " FROM calls WHERE call_id = ?1"
    ))
    .bind(call_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    match row {
        Some(row) => Ok(decode_all(conn, &[row]).await?.pop()),
        None => Ok(None),
    }
}

/// Like [`load`], but a missing call is [`StoreError::NotFound`].
async fn load_existing(
    conn: &mut SqliteConnection,
    call_id: &str,
) -> Result<CallRecord, StoreError> {
    load(conn, call_id).await?.ok_or_else(|| not_found(call_id))
}

/// Sessions holding a slot now.
async fn count_live(conn: &mut SqliteConnection) -> Result<usize, StoreError> {
    let n: i64 = sqlx::query_scalar(concat!(
        "SELECT COUNT(*) FROM calls WHERE ",
        live_condition!()
    ))
    .fetch_one(conn)
    .await
    .map_err(backend)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

async fn insert_change(
    conn: &mut SqliteConnection,
    call_id: &str,
    status: CallStatus,
    at: OffsetDateTime,
    source: StatusSource,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO call_history (call_id, status, at, source) VALUES (?1, ?2, ?3, ?4)")
        .bind(call_id)
        .bind(status.as_str())
        .bind(codec::to_ms(at))
        .bind(source.as_str())
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Records a new call (`Existing` if its id is recorded), counting live sessions and
/// inserting in the caller's write transaction.
pub(crate) async fn begin(
    conn: &mut SqliteConnection,
    call: &NewCall,
    max_live: Option<usize>,
) -> Result<BeginOutcome, StoreError> {
    if let Some(existing) = load(conn, &call.call_id).await? {
        return Ok(BeginOutcome::Existing(existing));
    }
    let full = match max_live {
        Some(max) if call.session => {
            let live = count_live(conn).await?;
            (live >= max).then_some(live)
        }
        _ => None,
    };
    let at = codec::to_ms(call.at);
    sqlx::query(
        "INSERT INTO calls (call_id, direction, caller, callee, status, session, started_at, \
            answered_at, ended_at, updated_at, duration_secs, note) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7, NULL, ?10)",
    )
    .bind(&call.call_id)
    .bind(codec::direction_name(call.direction)?)
    .bind(&call.from)
    .bind(&call.to)
    .bind(call.status.as_str())
    .bind(call.session && full.is_none())
    .bind(at)
    .bind((call.status == CallStatus::InProgress).then_some(at))
    .bind(call.status.is_terminal().then_some(at))
    .bind(&call.note)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    insert_change(conn, &call.call_id, call.status, call.at, call.source).await?;
    let record = load_existing(conn, &call.call_id).await?;
    Ok(match full {
        Some(live) => BeginOutcome::Full { live, record },
        None => BeginOutcome::Started(record),
    })
}

/// Renames a call; its history, transcript and pending answer follow (`ON UPDATE CASCADE`).
pub(crate) async fn rename(
    conn: &mut SqliteConnection,
    from_id: &str,
    to_id: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE calls SET call_id = ?2 WHERE call_id = ?1")
        .bind(from_id)
        .bind(to_id)
        .execute(conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(not_found(from_id));
    }
    Ok(())
}

/// Moves a call's status forward if [`CallStatus::can_advance_to`] allows it; an unknown
/// call's update goes to the orphan log.
pub(crate) async fn update_status(
    conn: &mut SqliteConnection,
    call_id: &str,
    status: CallStatus,
    duration_secs: Option<u64>,
    source: StatusSource,
    at: OffsetDateTime,
) -> Result<CallStatusOutcome, StoreError> {
    let at_ms = codec::to_ms(at);
    let row = sqlx::query("SELECT status FROM calls WHERE call_id = ?1")
        .bind(call_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    let Some(row) = row else {
        sqlx::query("INSERT INTO orphan_call_status (call_id, status, at) VALUES (?1, ?2, ?3)")
            .bind(call_id)
            .bind(status.as_str())
            .bind(at_ms)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        return Ok(CallStatusOutcome::Unknown);
    };
    let current = get_call_status(&row, "calls.status")?;
    if !current.can_advance_to(status) {
        sqlx::query("UPDATE calls SET updated_at = ?2 WHERE call_id = ?1")
            .bind(call_id)
            .bind(at_ms)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        return Ok(CallStatusOutcome::Stale(
            load_existing(conn, call_id).await?,
        ));
    }
    let terminal = status.is_terminal();
    sqlx::query(
        "UPDATE calls SET status = ?2, updated_at = ?3, \
            answered_at = CASE WHEN ?4 THEN coalesce(answered_at, ?3) ELSE answered_at END, \
            ended_at = CASE WHEN ?5 THEN ?3 ELSE ended_at END, \
            duration_secs = CASE WHEN ?5 THEN coalesce(?6, duration_secs) ELSE duration_secs END \
         WHERE call_id = ?1",
    )
    .bind(call_id)
    .bind(status.as_str())
    .bind(at_ms)
    .bind(status == CallStatus::InProgress)
    .bind(terminal)
    .bind(duration_secs.map(duration_value))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    insert_change(conn, call_id, status, at, source).await?;
    if terminal {
        // The hold redirect will not come for a call that ended.
        sqlx::query("DELETE FROM call_pending_answers WHERE call_id = ?1")
            .bind(call_id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(CallStatusOutcome::Applied(
        load_existing(conn, call_id).await?,
    ))
}

fn get_answered_by(row: &SqliteRow) -> Result<Option<AnsweredBy>, StoreError> {
    let raw: Option<String> = get(row, "calls.answered_by")?;
    raw.map(|s| {
        AnsweredBy::parse(&s).ok_or_else(|| {
            codec::corrupt(
                "calls.answered_by",
                format_args!("unknown detection result {s:?}"),
            )
        })
    })
    .transpose()
}

/// Keeps a call's answering-machine detection result and bumps `updated_at`.
pub(crate) async fn set_answered_by(
    conn: &mut SqliteConnection,
    call_id: &str,
    answered_by: AnsweredBy,
    at: OffsetDateTime,
) -> Result<CallRecord, StoreError> {
    let done = sqlx::query("UPDATE calls SET answered_by = ?2, updated_at = ?3 WHERE call_id = ?1")
        .bind(call_id)
        .bind(answered_by.as_str())
        .bind(codec::to_ms(at))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(not_found(call_id));
    }
    load_existing(conn, call_id).await
}

/// Sets (replaces) a call's note.
pub(crate) async fn set_note(
    conn: &mut SqliteConnection,
    call_id: &str,
    note: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE calls SET note = ?2 WHERE call_id = ?1")
        .bind(call_id)
        .bind(note)
        .execute(conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(not_found(call_id));
    }
    Ok(())
}

/// Bumps a call's `updated_at`.
pub(crate) async fn touch(
    conn: &mut SqliteConnection,
    call_id: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE calls SET updated_at = ?2 WHERE call_id = ?1")
        .bind(call_id)
        .bind(codec::to_ms(at))
        .execute(conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(not_found(call_id));
    }
    Ok(())
}

/// Appends a turn to a call's transcript and bumps its `updated_at`.
pub(crate) async fn add_turn(
    conn: &mut SqliteConnection,
    call_id: &str,
    turn: &CallTurn,
) -> Result<(), StoreError> {
    touch(conn, call_id, turn.at).await?;
    sqlx::query(
        "INSERT INTO call_turns (call_id, at, speech, confidence, digits) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(call_id)
    .bind(codec::to_ms(turn.at))
    .bind(&turn.speech)
    .bind(turn.confidence.map(f64::from))
    .bind(&turn.digits)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Sessions holding a slot, oldest first.
pub(crate) async fn live(conn: &mut SqliteConnection) -> Result<Vec<CallRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        call_columns!(),
        " FROM calls WHERE ",
        live_condition!(),
        " ORDER BY started_at, rowid"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    decode_all(conn, &rows).await
}

/// Calls started at or after `since`, the newest `limit`, oldest first.
pub(crate) async fn list(
    conn: &mut SqliteConnection,
    since: Option<OffsetDateTime>,
    limit: usize,
) -> Result<Vec<CallRecord>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT * FROM (SELECT ",
        call_columns!(),
        " FROM calls WHERE started_at >= ?1 \
          ORDER BY started_at DESC, rowid DESC LIMIT ?2) \
         ORDER BY started_at, seq"
    ))
    .bind(since.map_or(i64::MIN, codec::to_ms))
    .bind(codec::limit(limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    decode_all(conn, &rows).await
}

/// The newest `limit` status updates for unknown calls, oldest first.
pub(crate) async fn orphans(
    conn: &mut SqliteConnection,
    limit: usize,
) -> Result<Vec<OrphanCallStatus>, StoreError> {
    sqlx::query(
        "SELECT * FROM (SELECT seq, call_id, status, at FROM orphan_call_status \
           ORDER BY seq DESC LIMIT ?1) \
         ORDER BY seq",
    )
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(backend)?
    .iter()
    .map(|row| {
        Ok(OrphanCallStatus {
            call_id: get(row, "orphan_call_status.call_id")?,
            status: get_call_status(row, "orphan_call_status.status")?,
            at: get_time(row, "orphan_call_status.at")?,
        })
    })
    .collect()
}

/// Keeps an answer for a call (replacing the one kept before).
pub(crate) async fn set_pending_answer(
    conn: &mut SqliteConnection,
    call_id: &str,
    answer: &PendingAnswer,
) -> Result<(), StoreError> {
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM calls WHERE call_id = ?1)")
        .bind(call_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
    if !known {
        return Err(not_found(call_id));
    }
    sqlx::query(
        "INSERT INTO call_pending_answers (call_id, content_type, body) VALUES (?1, ?2, ?3) \
         ON CONFLICT (call_id) DO UPDATE SET \
           content_type = excluded.content_type, body = excluded.body",
    )
    .bind(call_id)
    .bind(&answer.content_type)
    .bind(&answer.body)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Removes and returns the answer kept for a call (one statement: taken once).
pub(crate) async fn take_pending_answer(
    conn: &mut SqliteConnection,
    call_id: &str,
) -> Result<Option<PendingAnswer>, StoreError> {
    sqlx::query("DELETE FROM call_pending_answers WHERE call_id = ?1 RETURNING content_type, body")
        .bind(call_id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .map(|row| {
            Ok(PendingAnswer {
                content_type: get(&row, "call_pending_answers.content_type")?,
                body: get(&row, "call_pending_answers.body")?,
            })
        })
        .transpose()
}

/// Keeps a one-time socket token's hash.
pub(crate) async fn put_stream_token(
    conn: &mut SqliteConnection,
    call_id: &str,
    token_hash: &str,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_stream_tokens (call_id, token_hash, expires_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (call_id, token_hash) DO UPDATE SET expires_ms = excluded.expires_ms",
    )
    .bind(call_id)
    .bind(token_hash)
    .bind(codec::to_ms(expires_at))
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Consumes a socket token (deleted when it matches, valid only if unexpired); expired
/// tokens are swept on the way.
pub(crate) async fn take_stream_token(
    conn: &mut SqliteConnection,
    call_id: &str,
    token_hash: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let expires: Option<i64> = sqlx::query_scalar(
        "DELETE FROM call_stream_tokens WHERE call_id = ?1 AND token_hash = ?2 RETURNING expires_ms",
    )
    .bind(call_id)
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    let now_ms = codec::to_ms(now);
    sqlx::query("DELETE FROM call_stream_tokens WHERE expires_ms <= ?1")
        .bind(now_ms)
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(expires.is_some_and(|e| e > now_ms))
}

/// A stored update epoch (never negative: it starts at 0 and an undo only puts a bump back).
fn epoch_value(raw: i64) -> Result<u64, StoreError> {
    u64::try_from(raw).map_err(|_| {
        codec::corrupt(
            "calls.update_epoch",
            format_args!("{raw} is not a valid update epoch"),
        )
    })
}

/// `NotFound` unless the call is recorded (after an update that changed no row).
async fn require_call(conn: &mut SqliteConnection, call_id: &str) -> Result<(), StoreError> {
    update_epoch(conn, call_id).await.map(|_| ())
}

/// A call's update epoch: one primary-key read.
pub(crate) async fn update_epoch(
    conn: &mut SqliteConnection,
    call_id: &str,
) -> Result<u64, StoreError> {
    let raw: Option<i64> = sqlx::query_scalar("SELECT update_epoch FROM calls WHERE call_id = ?1")
        .bind(call_id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?;
    epoch_value(raw.ok_or_else(|| not_found(call_id))?)
}

/// Moves a call's update epoch on in one statement; the new epoch.
pub(crate) async fn bump_update_epoch(
    conn: &mut SqliteConnection,
    call_id: &str,
) -> Result<u64, StoreError> {
    let raw: Option<i64> = sqlx::query_scalar(
        "UPDATE calls SET update_epoch = update_epoch + 1 WHERE call_id = ?1 \
         RETURNING update_epoch",
    )
    .bind(call_id)
    .fetch_optional(conn)
    .await
    .map_err(backend)?;
    epoch_value(raw.ok_or_else(|| not_found(call_id))?)
}

/// Puts a bump back if the epoch is still `bumped` (compare-and-set); `true` when it was.
pub(crate) async fn undo_update_epoch(
    conn: &mut SqliteConnection,
    call_id: &str,
    bumped: u64,
) -> Result<bool, StoreError> {
    // An epoch past i64::MAX was never stored: nothing to put back.
    let Ok(bumped) = i64::try_from(bumped) else {
        require_call(conn, call_id).await?;
        return Ok(false);
    };
    let done = sqlx::query(
        "UPDATE calls SET update_epoch = update_epoch - 1 \
         WHERE call_id = ?1 AND update_epoch = ?2 AND update_epoch > 0",
    )
    .bind(call_id)
    .bind(bumped)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    require_call(conn, call_id).await?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_condition_names_every_status_that_is_not_terminal() {
        let live: Vec<String> = CallStatus::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .map(|s| format!("'{s}'"))
            .collect();
        assert_eq!(
            live_condition!(),
            format!("session = 1 AND status IN ({})", live.join(", "))
        );
    }

    #[test]
    fn the_live_index_has_the_live_condition() {
        let migration = include_str!("../../migrations/sqlite/0004_calls.sql");
        let index = migration
            .split_once("CREATE INDEX calls_live")
            .expect("the calls_live index")
            .1;
        let condition = index.split_once(';').expect("its end").0;
        assert!(
            condition
                .trim_end()
                .ends_with(concat!("WHERE ", live_condition!())),
            "{condition}"
        );
    }
}
