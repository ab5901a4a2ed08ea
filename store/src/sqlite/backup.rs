//! Online backup of a SQLite store ([`backup`]): `VACUUM INTO` a temporary file beside the
//! destination from a connection of its own, then fsync and rename it into place.
//!
//! `VACUUM INTO` reads one snapshot (a read transaction), so the copy holds exactly what
//! was committed when it started, while the gateway keeps writing (WAL readers never block
//! the writer). It writes a compact copy that is a complete database on its own (no WAL to
//! carry along).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use telephony_core::StoreError;

use super::SqliteStore;

/// What [`backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackupReport {
    /// The database that was copied.
    pub source: PathBuf,
    /// The copy.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Inbound messages in the copy.
    pub inbound_messages: u64,
    /// Sends (receipts) in the copy.
    pub sends: u64,
    /// Calls in the copy.
    pub calls: u64,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
}

/// Why a backup was refused or failed; names the files.
#[derive(Debug, thiserror::Error)]
#[error("backing up {} to {}: {what}", source_path.display(), dest.display())]
struct BackupError {
    source_path: PathBuf,
    dest: PathBuf,
    what: String,
    #[source]
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Copies the SQLite store at `source` (which may be in use by a running gateway) to
/// `dest`, consistently: everything committed before the copy started is in it, nothing
/// half-written is. An existing `dest` is refused unless `replace`; a failed backup leaves
/// `dest` as it was. Opens its own connection and writes nothing to `source`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use telephony_store::{SqliteStore, sqlite_backup};
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("telephony.db")).await?;
/// let report = sqlite_backup(store.path(), &dir.path().join("copy.db"), false).await?;
/// assert_eq!(report.inbound_messages, 0);
/// // The copy opens as a store.
/// let copy = SqliteStore::open(dir.path().join("copy.db")).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn backup(source: &Path, dest: &Path, replace: bool) -> Result<BackupReport, StoreError> {
    let started = Instant::now();
    let fail = |what: String, cause: Option<Box<dyn std::error::Error + Send + Sync>>| {
        StoreError::backend(BackupError {
            source_path: source.to_path_buf(),
            dest: dest.to_path_buf(),
            what,
            cause,
        })
    };
    if !source.is_file() {
        return Err(fail("there is no database file there".into(), None));
    }
    if dest.exists() && !replace {
        return Err(fail(
            "the destination exists (pass --force to replace it)".into(),
            None,
        ));
    }
    let dir = match dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| fail("the destination has no file name".into(), None))?;
    let tmp = dir.join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    // A partial file left by an interrupted run of this process id is stale.
    remove_if_exists(&tmp)
        .map_err(|e| fail("removing a stale partial copy".into(), Some(e.into())))?;

    let mut conn = SqliteConnectOptions::new()
        .filename(source)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| fail("opening the database".into(), Some(e.into())))?;
    let copied = sqlx::query("VACUUM INTO ?1")
        .bind(tmp.to_string_lossy().as_ref())
        .execute(&mut conn)
        .await;
    close(conn).await;
    if let Err(e) = copied {
        let _ = remove_if_exists(&tmp);
        return Err(fail("VACUUM INTO failed".into(), Some(e.into())));
    }

    // Check and count the copy before it replaces anything.
    let counted = check_copy(&tmp).await;
    let (inbound_messages, sends, calls) = match counted {
        Ok(c) => c,
        Err(e) => {
            let _ = remove_if_exists(&tmp);
            return Err(fail("checking the copy".into(), Some(e)));
        }
    };
    // VACUUM INTO does not fsync its output: do it before the rename makes it the backup.
    let synced = std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, dest))
        .and_then(|()| sync_dir(&dir));
    if let Err(e) = synced {
        let _ = remove_if_exists(&tmp);
        return Err(fail("writing the copy into place".into(), Some(e.into())));
    }
    let bytes = std::fs::metadata(dest)
        .map_err(|e| fail("reading the copy's size".into(), Some(e.into())))?
        .len();
    let report = BackupReport {
        source: source.to_path_buf(),
        path: dest.to_path_buf(),
        bytes,
        inbound_messages,
        sends,
        calls,
        took_ms: started.elapsed().as_millis() as u64,
    };
    tracing::info!(
        source = %source.display(), dest = %dest.display(), bytes,
        took_ms = report.took_ms, "sqlite store backed up"
    );
    Ok(report)
}

impl SqliteStore {
    /// Backs this store up to `dest` ([`sqlite_backup`](crate::sqlite_backup) of its file).
    pub async fn backup_to(
        &self,
        dest: impl AsRef<Path>,
        replace: bool,
    ) -> Result<BackupReport, StoreError> {
        backup(self.path(), dest.as_ref(), replace).await
    }
}

/// `PRAGMA quick_check` on the copy, then its row counts.
async fn check_copy(
    path: &Path,
) -> Result<(u64, u64, u64), Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(true)
        .connect()
        .await?;
    let result = async {
        let check: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await?;
        if check != "ok" {
            return Err(format!("integrity check of the copy failed: {check}").into());
        }
        let mut counts = [0u64; 3];
        for (n, table) in counts.iter_mut().zip(["inbox", "receipts", "calls"]) {
            let c: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&mut conn)
                .await?;
            *n = u64::try_from(c).unwrap_or(0);
        }
        Ok((counts[0], counts[1], counts[2]))
    }
    .await;
    close(conn).await;
    result
}

async fn close(conn: SqliteConnection) {
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing a backup connection failed");
    }
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be opened).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
