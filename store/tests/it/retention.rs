//! SQLite retention on a real file: incremental auto-vacuum on new and older databases,
//! pruning in batches that give the space back.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use telephony_core::store::PruneKind;
use telephony_core::store::prelude::*;
use telephony_core::store_suite::t0;
use telephony_core::{InboxQuery, RetentionStore};
use telephony_store::SqliteStore;

async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .expect("raw connection")
}

async fn pragma(conn: &mut SqliteConnection, name: &str) -> i64 {
    sqlx::query_scalar(&format!("PRAGMA {name}"))
        .fetch_one(conn)
        .await
        .unwrap()
}

/// `n` accepted messages received before t0, each with a 1 KiB body, written directly.
async fn preload(conn: &mut SqliteConnection, n: i64) {
    sqlx::query(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1) \
         INSERT INTO inbox (id, provider_sid, channel, sender, recipient, body, received_at, state) \
         SELECT 'msg_old_' || i, 'SMold' || i, 'sms', '+1555700' || printf('%04d', i % 10000), \
                '+15550001234', printf('%.1024c', 'x'), ?2 - 1000 * i, 'accepted' FROM k",
    )
    .bind(n)
    .bind(t0().unix_timestamp() * 1000)
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn pruning_gives_the_space_back_to_the_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telephony.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut conn = raw(&path).await;
    // A new database uses incremental auto-vacuum (2) from its first table.
    assert_eq!(pragma(&mut conn, "auto_vacuum").await, 2);
    preload(&mut conn, 3000).await;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    let full = pragma(&mut conn, "page_count").await;

    assert_eq!(
        store
            .count_prunable(PruneKind::Messages, t0())
            .await
            .unwrap(),
        3000
    );
    let mut batches = Vec::new();
    loop {
        let n = store
            .prune_batch(PruneKind::Messages, t0(), 500)
            .await
            .unwrap();
        batches.push(n);
        if n < 500 {
            break;
        }
    }
    assert_eq!(batches, [500, 500, 500, 500, 500, 500, 0]);
    assert!(
        store
            .inbox(&InboxQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    // The freed pages go back in steps of at most 64.
    let free = pragma(&mut conn, "freelist_count").await;
    assert!(free > 700, "{free} free pages after deleting 3 MiB");
    let mut given = Vec::new();
    loop {
        let n = store.reclaim_space(64).await.unwrap();
        if n == 0 {
            break;
        }
        given.push(n);
    }
    assert!(given.iter().all(|&n| n <= 64), "{given:?}");
    assert_eq!(given.iter().sum::<u64>(), free as u64);
    assert_eq!(pragma(&mut conn, "freelist_count").await, 0);
    let after = pragma(&mut conn, "page_count").await;
    assert!(after < full / 4, "{after} pages left of {full}");
    // The pruned senders stay known contacts.
    let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM approved_contacts")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(known, 3000);
    store.close().await;
}

#[tokio::test]
async fn a_small_database_of_an_earlier_version_switches_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telephony.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.close().await;
    // As an earlier version left it: no auto-vacuum.
    let mut conn = raw(&path).await;
    sqlx::query("PRAGMA auto_vacuum = NONE")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("VACUUM").execute(&mut conn).await.unwrap();
    assert_eq!(pragma(&mut conn, "auto_vacuum").await, 0);
    preload(&mut conn, 100).await;
    conn.close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    let mut conn = raw(&path).await;
    assert_eq!(pragma(&mut conn, "auto_vacuum").await, 2);
    // Nothing was lost on the way.
    assert_eq!(
        store
            .count_prunable(PruneKind::Messages, t0())
            .await
            .unwrap(),
        100
    );
    store.close().await;
}
