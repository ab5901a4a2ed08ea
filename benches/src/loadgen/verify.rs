//! Counts what a run stored, straight from the gateway's SQLite file (opened read-only) or
//! its PostgreSQL database.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Rows of this run in the inbox, by dispatch state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stored {
    /// All rows whose `provider_sid` belongs to the run.
    pub rows: u64,
    /// `(state, rows)`: `queued` rows are stored but not yet handed to the application.
    pub by_state: Vec<(String, u64)>,
}

/// Where the gateway keeps its rows.
#[derive(Debug, Clone)]
pub(crate) enum Rows {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…`): every schema with an `inbox` table.
    Postgres(String),
}

/// Counts inbox rows with `low <= provider_sid < high`.
pub(crate) async fn count(rows: &Rows, low: &str, high: &str) -> Result<Stored, String> {
    match rows {
        Rows::Sqlite(db) => count_sqlite(db, low, high).await,
        Rows::Postgres(url) => count_postgres(url, low, high).await,
    }
}

/// Counts inbox rows with `low <= provider_sid < high` in every schema of the database
/// that has an `inbox` table (the gateway keeps one schema per account).
async fn count_postgres(url: &str, low: &str, high: &str) -> Result<Stored, String> {
    let err = |what: &str, e: sqlx::Error| {
        format!("{what} in {}: {e}", telephony_core::redact::redact_url(url))
    };
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| err("connecting", e))?;
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'inbox' \
         ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| err("listing the inbox tables", e))?;
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    for schema in &schemas {
        let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT state, count(*) FROM {quoted}.inbox \
             WHERE provider_sid >= $1 AND provider_sid < $2 GROUP BY state"
        ))
        .bind(low)
        .bind(high)
        .fetch_all(&mut conn)
        .await
        .map_err(|e| err(&format!("counting inbox rows of schema {schema}"), e))?;
        for (state, n) in rows {
            *by.entry(state).or_default() += u64::try_from(n).unwrap_or(0);
        }
    }
    conn.close().await.map_err(|e| e.to_string())?;
    let by_state: Vec<(String, u64)> = by.into_iter().collect();
    Ok(Stored {
        rows: by_state.iter().map(|(_, n)| n).sum(),
        by_state,
    })
}

/// A SQLite inbox row's provider SID as text: the store keeps a Twilio-shaped SID as 18
/// bytes (its two capitals, then its 32 hex digits as 16 bytes; see the store's
/// `sqlite::compact`), other shapes as text.
const SID_TEXT: &str = "(CASE WHEN typeof(provider_sid) = 'blob' AND length(provider_sid) = 18 \
     THEN CAST(substr(provider_sid, 1, 2) AS TEXT) || lower(hex(substr(provider_sid, 3))) \
     ELSE provider_sid END)";

/// Counts inbox rows with `low <= provider_sid < high` in a SQLite file (read-only).
async fn count_sqlite(db: &Path, low: &str, high: &str) -> Result<Stored, String> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("opening {} read-only: {e}", db.display()))?;
    let by_state: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT state, count(*) FROM inbox WHERE {SID_TEXT} >= ?1 AND {SID_TEXT} < ?2 \
         GROUP BY state ORDER BY state"
    ))
    .bind(low)
    .bind(high)
    .fetch_all(&mut conn)
    .await
    .map_err(|e| format!("counting inbox rows in {}: {e}", db.display()))?;
    conn.close().await.map_err(|e| e.to_string())?;
    let by_state: Vec<(String, u64)> = by_state
        .into_iter()
        .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
        .collect();
    Ok(Stored {
        rows: by_state.iter().map(|(_, n)| n).sum(),
        by_state,
    })
}

/// What a voice run left in the store, for the calls with `low <= call_id < high`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CallsStored {
    /// Call rows.
    pub calls: u64,
    /// `(status, calls)`.
    pub by_status: Vec<(String, u64)>,
    /// Calls that got a session slot (`session = 1`).
    pub sessions: u64,
    /// Sessions still live (status not terminal).
    pub live: u64,
    /// Status history rows.
    pub history: u64,
    /// Transcript turns.
    pub turns: u64,
    /// Turns whose speech is `speech` with a confidence.
    pub turns_with_speech: u64,
    /// Inbox rows (the default flow's transcripts) whose `provider_sid` is one of the calls.
    pub transcripts: u64,
    /// Of those, rows on channel `voice` whose body is `speech`.
    pub transcripts_with_text: u64,
}

/// Counts a voice run's calls, sessions, turns and transcripts (read-only).
pub(crate) async fn calls(
    db: &Path,
    low: &str,
    high: &str,
    speech: &str,
) -> Result<CallsStored, String> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("opening {} read-only: {e}", db.display()))?;
    let err = |what: &str, e: sqlx::Error| format!("{what} in {}: {e}", db.display());
    let by_status: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM calls WHERE call_id >= ?1 AND call_id < ?2 \
         GROUP BY status ORDER BY status",
    )
    .bind(low)
    .bind(high)
    .fetch_all(&mut conn)
    .await
    .map_err(|e| err("counting calls", e))?;
    let (sessions, live): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(session = 1), 0), \
                coalesce(sum(session = 1 AND status IN ('queued', 'ringing', 'in-progress')), 0) \
         FROM calls WHERE call_id >= ?1 AND call_id < ?2",
    )
    .bind(low)
    .bind(high)
    .fetch_one(&mut conn)
    .await
    .map_err(|e| err("counting sessions", e))?;
    let history: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM call_history WHERE call_id >= ?1 AND call_id < ?2",
    )
    .bind(low)
    .bind(high)
    .fetch_one(&mut conn)
    .await
    .map_err(|e| err("counting call history", e))?;
    let (turns, turns_with_speech): (i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(speech = ?3 AND confidence IS NOT NULL), 0) \
         FROM call_turns WHERE call_id >= ?1 AND call_id < ?2",
    )
    .bind(low)
    .bind(high)
    .bind(speech)
    .fetch_one(&mut conn)
    .await
    .map_err(|e| err("counting call turns", e))?;
    let (transcripts, transcripts_with_text): (i64, i64) = sqlx::query_as(&format!(
        "SELECT count(*), coalesce(sum(channel = 'voice' AND body = ?3), 0) \
         FROM inbox WHERE {SID_TEXT} >= ?1 AND {SID_TEXT} < ?2"
    ))
    .bind(low)
    .bind(high)
    .bind(speech)
    .fetch_one(&mut conn)
    .await
    .map_err(|e| err("counting transcripts", e))?;
    conn.close().await.map_err(|e| e.to_string())?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let by_status: Vec<(String, u64)> = by_status.into_iter().map(|(s, c)| (s, n(c))).collect();
    Ok(CallsStored {
        calls: by_status.iter().map(|(_, c)| c).sum(),
        by_status,
        sessions: n(sessions),
        live: n(live),
        history: n(history),
        turns: n(turns),
        turns_with_speech: n(turns_with_speech),
        transcripts: n(transcripts),
        transcripts_with_text: n(transcripts_with_text),
    })
}
