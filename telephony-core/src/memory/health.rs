//! Health ([`HealthStore`]): a memory store never fails to write and keeps nothing on disk.

use super::*;
use crate::store::{HealthReport, HealthStore};

#[async_trait]
impl HealthStore for MemoryStore {
    /// No errors, no write failure; commits are not tracked (`last_commit` is `None`).
    fn health(&self) -> HealthReport {
        HealthReport::default()
    }

    async fn size_bytes(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
