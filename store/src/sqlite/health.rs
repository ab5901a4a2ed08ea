//! [`HealthStore`] on SQLite: the store's own account of its errors and writes, its size
//! from the file system (the database file and its WAL, two `stat`s), and the write probe
//! on the `store_probe` table.

use async_trait::async_trait;
use telephony_core::StoreError;
use telephony_core::store::{CommitObserver, HealthReport, HealthStore};

use super::SqliteStore;

/// Bytes the probe writes: a few pages more than a batch of inbound messages usually
/// takes, so a probe that commits means a batch would too.
const PROBE_BYTES: i64 = 64 * 1024;

#[async_trait]
impl HealthStore for SqliteStore {
    fn health(&self) -> HealthReport {
        self.health.report()
    }

    fn observe_commits(&self, observer: std::sync::Arc<dyn CommitObserver>) -> bool {
        self.health.observe_commits(observer)
    }

    /// The database file plus its WAL (`-wal`, absent when the store is closed cleanly).
    async fn size_bytes(&self) -> Result<Option<u64>, StoreError> {
        let db = tokio::fs::metadata(&self.path)
            .await
            .map_err(StoreError::backend)?
            .len();
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = match tokio::fs::metadata(&wal).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(StoreError::backend(e)),
        };
        Ok(Some(db + wal))
    }

    /// Inserts a 64 KiB row and deletes it, in two write transactions: the insert needs
    /// new pages (or free ones) in the database and frames in the WAL, so it fails while
    /// the disk or the database is full; the delete gives the pages back.
    async fn probe_write(&self) -> Result<(), StoreError> {
        let at = super::codec::to_ms(time::OffsetDateTime::now_utc());
        in_write_tx!(self, |conn| async {
            sqlx::query("INSERT INTO store_probe (at, pad) VALUES (?, zeroblob(?))")
                .bind(at)
                .bind(PROBE_BYTES)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::backend)
        })?;
        in_write_tx!(self, |conn| async {
            sqlx::query("DELETE FROM store_probe")
                .execute(&mut *conn)
                .await
                .map_err(StoreError::backend)
        })?;
        Ok(())
    }
}
