//! The `Store` conformance suite from `telephony-core`, run against `SqliteStore` on a file.

use telephony_store::SqliteStore;

async fn fresh() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("telephony.db"))
        .await
        .expect("open store");
    (store, dir)
}

telephony_core::store_suite_tests!(fresh);
