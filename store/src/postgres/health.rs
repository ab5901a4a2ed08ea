//! [`HealthStore`] on PostgreSQL: the store's own account of its errors and writes, its
//! size (every table of its schema with indexes and TOAST, one catalog query), and the
//! write probe on the `store_probe` table.

use async_trait::async_trait;
use telephony_core::StoreError;
use telephony_core::store::{CommitObserver, HealthReport, HealthStore};

use super::{PostgresStore, rollback};

/// Bytes the probe writes (stored out of line, uncompressed).
const PROBE_BYTES: usize = 64 * 1024;

#[async_trait]
impl HealthStore for PostgresStore {
    fn health(&self) -> HealthReport {
        self.health.report()
    }

    fn observe_commits(&self, observer: std::sync::Arc<dyn CommitObserver>) -> bool {
        self.health.observe_commits(observer)
    }

    /// `pg_total_relation_size` summed over the tables of the store's schema (the first
    /// on every connection's `search_path`): heap, indexes and TOAST. Space the server
    /// has not reclaimed yet (dead rows before autovacuum) is included.
    async fn size_bytes(&self) -> Result<Option<u64>, StoreError> {
        let bytes: i64 = on_pool!(self, |conn| async {
            sqlx::query_scalar(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')",
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::backend)
        })?;
        Ok(Some(u64::try_from(bytes).unwrap_or(0)))
    }

    /// Inserts a 64 KiB row and deletes it, in two transactions: the insert commits only
    /// while the server answers and has room for it.
    async fn probe_write(&self) -> Result<(), StoreError> {
        let at = crate::codec::to_ms(time::OffsetDateTime::now_utc());
        let pad = vec![0u8; PROBE_BYTES];
        in_write_tx!(self, |conn| async {
            sqlx::query("INSERT INTO store_probe (at, pad) VALUES ($1, $2)")
                .bind(at)
                .bind(&pad)
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
