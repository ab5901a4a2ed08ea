//! Counts what a run stored, straight from the gateway's SQLite file (opened read-only).

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Rows of this run in the inbox, by dispatch state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// All rows whose `provider_sid` belongs to the run.
    pub rows: u64,
    /// `(state, rows)`: `queued` rows are stored but not yet handed to the application.
    pub by_state: Vec<(String, u64)>,
}

/// Counts inbox rows with `low <= provider_sid < high`.
pub async fn count(db: &Path, low: &str, high: &str) -> Result<Stored, String> {
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("opening {} read-only: {e}", db.display()))?;
    let by_state: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, count(*) FROM inbox WHERE provider_sid >= ?1 AND provider_sid < ?2 \
         GROUP BY state ORDER BY state",
    )
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
