//! A store that cannot write recovers without a restart once the cause is gone: SQLite on a
//! full database (`max_page_count`, runs everywhere) and on a real full filesystem (a small
//! tmpfs the test mounts when it runs as root), PostgreSQL in `postgres::recovery`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use telephony_core::store::prelude::*;
use telephony_core::store_suite::inbound;
use telephony_core::{InboxQuery, InsertOutcome, StoreError, StoreErrorKind};
use telephony_store::{SqliteOptions, SqliteStore};

/// A tmpfs of `size` bytes mounted on a fresh directory, unmounted when dropped.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, or `None` when this process may not (not root, no tmpfs).
    pub(crate) fn mount(size: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Tmpfs { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes zeros to `name` until the filesystem is full; returns the bytes written.
    pub(crate) fn fill(&self, name: &str) -> u64 {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join(name)).unwrap();
        let chunk = vec![0u8; 4096];
        let mut written = 0;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let _ = f.sync_all();
        written
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let status = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            // Lazily, so the directory can still be removed after a store held files open.
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

fn sid(n: usize) -> String {
    format!("SMfull{n:026}")
}

/// Inserts messages with `body_len`-byte bodies, counting from `from`, until one is
/// refused (or `max` are stored); returns the SIDs acknowledged and the error.
async fn insert_until_refused(
    s: &SqliteStore,
    from: usize,
    max: usize,
    body_len: usize,
) -> (Vec<String>, Option<StoreError>) {
    let body = "x".repeat(body_len);
    let mut acked = Vec::new();
    for n in from..from + max {
        let m = inbound(&sid(n), "+15557654321", &body, n as i64);
        match s.insert_inbound(&m).await {
            Ok(InsertOutcome::Inserted) => acked.push(sid(n)),
            Ok(other) => panic!("{other:?} for a new message"),
            Err(e) => return (acked, Some(e)),
        }
    }
    (acked, None)
}

async fn stored_sids(s: &SqliteStore) -> Vec<String> {
    let mut sids: Vec<String> = s
        .inbox(&InboxQuery {
            limit: 100_000,
            ..InboxQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message.provider_sid)
        .collect();
    sids.sort();
    sids
}

fn db(dir: &Path) -> PathBuf {
    dir.join("telephony-data").join("telephony.db")
}

/// SQLITE_FULL from `max_page_count`: the write fails as `disk_full`, and once pages are
/// freed in the database (rows deleted by another connection), the same store writes again.
#[tokio::test]
async fn sqlite_writes_again_after_the_database_was_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(dir.path());
    // Room for about 100 pages of messages beyond the schema (which grows with every
    // migration, so its size is read rather than assumed).
    let schema_pages = {
        let s = SqliteStore::open(&path).await.unwrap();
        drop(s);
        page_count(&path).await
    };
    let limit = schema_pages + 100;
    let s = SqliteStore::open_with(&path, SqliteOptions::default().max_page_count(Some(limit)))
        .await
        .unwrap();
    let (acked, err) = insert_until_refused(&s, 0, 10_000, 2000).await;
    let err = err.expect("a database with a page limit fills up");
    assert!(
        acked.len() >= 10,
        "{} acknowledged before full",
        acked.len()
    );
    assert!(!acked.is_empty());
    assert_eq!(
        telephony_store::error_kind(&err),
        Some(StoreErrorKind::DiskFull),
        "{err:?}"
    );
    // Still full: refused again, not wedged in another way.
    let (more, err) = insert_until_refused(&s, 20_000, 1, 2000).await;
    assert!(more.is_empty());
    assert_eq!(
        telephony_store::error_kind(&err.unwrap()),
        Some(StoreErrorKind::DiskFull)
    );
    // Other writes are refused the same way, and leave the write connection usable.
    // Free pages: delete the oldest half of the rows from another connection.
    free_rows(&path, acked.len() / 2).await;
    let (after, err) = insert_until_refused(&s, 30_000, 3, 2000).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(after.len(), 3);
    let stored = stored_sids(&s).await;
    for sid in acked.iter().skip(acked.len() / 2).chain(&after) {
        assert!(
            stored.binary_search(sid).is_ok(),
            "{sid} acknowledged but not stored"
        );
    }
    s.close().await;
}

/// Deletes the `n` oldest inbox rows through a connection of its own.
/// The database's size in pages, read from another connection.
async fn page_count(path: &Path) -> u32 {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(path),
    )
    .await
    .unwrap();
    let n: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    u32::try_from(n).unwrap()
}

async fn free_rows(path: &Path, n: usize) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    sqlx::query(
        "DELETE FROM inbox WHERE rowid IN (SELECT rowid FROM inbox ORDER BY rowid LIMIT ?)",
    )
    .bind(n as i64)
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
}

/// A real full filesystem: the data directory on a 2 MiB tmpfs filled up by another file.
/// Inserts fail (never acknowledged), and once the other file is deleted the same store,
/// without a restart, stores every later message; everything acknowledged is stored.
/// Needs root to mount the tmpfs; without it, says so and checks the `max_page_count`
/// equivalent above instead.
#[tokio::test]
async fn sqlite_writes_again_after_the_disk_was_full_and_space_was_freed() {
    let Some(fs) = Tmpfs::mount(2 << 20) else {
        eprintln!(
            "not root (or no tmpfs): the full-disk test ran as sqlite_writes_again_after_the_database_was_full"
        );
        return;
    };
    let path = db(fs.path());
    let s = SqliteStore::open(&path).await.unwrap();
    // Leave little room: a filler takes the rest of the filesystem.
    std::fs::write(fs.path().join("headroom"), vec![0u8; 256 << 10]).unwrap();
    fs.fill("filler");
    std::fs::remove_file(fs.path().join("headroom")).unwrap();
    let (acked, err) = insert_until_refused(&s, 0, 100_000, 1000).await;
    let err = err.expect("the filesystem fills up");
    eprintln!(
        "{} message(s) stored before the disk was full: {}",
        acked.len(),
        telephony_core::error_chain(&err)
    );
    assert_eq!(
        telephony_store::error_kind(&err),
        Some(StoreErrorKind::DiskFull),
        "{err:?}"
    );
    // Free the space: the store writes again at once.
    std::fs::remove_file(fs.path().join("filler")).unwrap();
    let (after, err) = insert_until_refused(&s, 200_000, 20, 1000).await;
    assert!(
        err.is_none(),
        "{:?}",
        err.map(|e| telephony_core::error_chain(&e))
    );
    assert_eq!(after.len(), 20);
    let stored = stored_sids(&s).await;
    for sid in acked.iter().chain(&after) {
        assert!(
            stored.binary_search(sid).is_ok(),
            "{sid} acknowledged but not stored"
        );
    }
    s.close().await;
}
