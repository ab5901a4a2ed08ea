//! Call recordings' metadata (`call_recordings`): one row per provider recording id, tied
//! to its call (erasing or pruning the call removes it, by `ON DELETE CASCADE`).

use std::collections::BTreeMap;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;
use telephony_core::StoreError;
use telephony_core::voice::{CallRecording, RecordingChannels};

use super::codec::{self, get, get_json, get_time};

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

const COLUMNS: &str = "recording_id, call_id, duration_secs, channels, format, url, created_at, \
                       source, extra_json";

fn decode(row: &SqliteRow) -> Result<CallRecording, StoreError> {
    let channels: i64 = get(row, "call_recordings.channels")?;
    let channels = match channels {
        1 => RecordingChannels::Single,
        2 => RecordingChannels::Dual,
        n => {
            return Err(codec::corrupt(
                "call_recordings.channels",
                format_args!("{n} is not 1 or 2"),
            ));
        }
    };
    let duration: Option<i64> = get(row, "call_recordings.duration_secs")?;
    let mut rec = CallRecording::new(
        get::<String>(row, "call_recordings.recording_id")?,
        get::<String>(row, "call_recordings.call_id")?,
        get_time(row, "call_recordings.created_at")?,
    )
    .channels(channels)
    .format(get::<String>(row, "call_recordings.format")?);
    rec.duration_secs = duration.and_then(|d| u64::try_from(d).ok());
    rec.url = get(row, "call_recordings.url")?;
    rec.source = get(row, "call_recordings.source")?;
    rec.extra = get_json::<BTreeMap<String, String>>(row, "call_recordings.extra_json")?;
    Ok(rec)
}

/// Inserts or replaces a recording; `true` when new. `NotFound` if the call is unknown.
pub(crate) async fn add(
    conn: &mut SqliteConnection,
    rec: &CallRecording,
) -> Result<bool, StoreError> {
    let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM calls WHERE call_id = ?1")
        .bind(&rec.call_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    if known.is_none() {
        return Err(StoreError::NotFound {
            kind: "call",
            id: rec.call_id.clone(),
        });
    }
    let existed: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM call_recordings WHERE recording_id = ?1")
            .bind(&rec.recording_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    sqlx::query(
        "INSERT INTO call_recordings (recording_id, call_id, duration_secs, channels, format, \
         url, created_at, source, extra_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (recording_id) DO UPDATE SET call_id = excluded.call_id, \
         duration_secs = excluded.duration_secs, channels = excluded.channels, \
         format = excluded.format, url = excluded.url, created_at = excluded.created_at, \
         source = excluded.source, extra_json = excluded.extra_json",
    )
    .bind(&rec.recording_id)
    .bind(&rec.call_id)
    .bind(rec.duration_secs.and_then(|d| i64::try_from(d).ok()))
    .bind(i64::from(rec.channels.count()))
    .bind(&rec.format)
    .bind(&rec.url)
    .bind(codec::to_ms(rec.created_at))
    .bind(&rec.source)
    .bind(codec::to_json(&rec.extra)?)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(existed.is_none())
}

/// One call's recordings or every call's, the newest `limit`, oldest first.
pub(crate) async fn list(
    conn: &mut SqliteConnection,
    call_id: Option<&str>,
    limit: usize,
) -> Result<Vec<CallRecording>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM (SELECT *, rowid AS rid FROM call_recordings \
         WHERE ?1 IS NULL OR call_id = ?1 ORDER BY created_at DESC, rid DESC LIMIT ?2) \
         ORDER BY created_at, rid"
    );
    let rows = sqlx::query(&sql)
        .bind(call_id)
        .bind(codec::limit(limit))
        .fetch_all(conn)
        .await
        .map_err(backend)?;
    rows.iter().map(decode).collect()
}

/// One recording.
pub(crate) async fn load(
    conn: &mut SqliteConnection,
    recording_id: &str,
) -> Result<Option<CallRecording>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM call_recordings WHERE recording_id = ?1");
    let row = sqlx::query(&sql)
        .bind(recording_id)
        .fetch_optional(conn)
        .await
        .map_err(backend)?;
    row.as_ref().map(decode).transpose()
}
