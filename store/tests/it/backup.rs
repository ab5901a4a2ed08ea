//! Online backup of a SQLite store while a writer runs: the copy opens as a store, passes
//! SQLite's integrity check, and holds every message committed before the backup started.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use telephony_core::store::prelude::*;
use telephony_core::store_suite::inbound;
use telephony_core::{InboxQuery, InsertOutcome};
use telephony_store::{SqliteStore, sqlite_backup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_writing_holds_everything_committed_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telephony.db");
    let store = SqliteStore::open(&path).await.unwrap();
    for i in 0..2_000 {
        let m = inbound(&format!("SMpre{i:05}"), "+15557654321", "before", i);
        assert_eq!(
            store.insert_inbound(&m).await.unwrap(),
            InsertOutcome::Inserted
        );
    }

    // A writer that keeps inserting, and records each message once its insert returned
    // (committed).
    let committed: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, committed, stop) = (store.clone(), committed.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sid = format!("SMrun{i:06}");
                let m = inbound(&sid, "+15550000007", "during", 2_000 + i as i64);
                store.insert_inbound(&m).await.unwrap();
                committed.lock().unwrap().push(sid);
                i += 1;
            }
        })
    };
    // Writes are under way before the backup starts.
    while committed.lock().unwrap().len() < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before: Vec<String> = committed.lock().unwrap().clone();
    let copy_path = dir.path().join("backup").join("copy.db");
    std::fs::create_dir_all(copy_path.parent().unwrap()).unwrap();
    let report = sqlite_backup(&path, &copy_path, false).await.unwrap();
    let during_backup = committed.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let all: HashSet<String> = committed.lock().unwrap().iter().cloned().collect();

    // The copy is a store of its own: every message committed before the backup is there,
    // whole, and nothing that was never committed.
    let copy = SqliteStore::open(&copy_path).await.unwrap();
    let entries = copy
        .inbox(&InboxQuery {
            since: None,
            limit: 1_000_000,
        })
        .await
        .unwrap();
    let in_copy: HashSet<String> = entries
        .iter()
        .map(|e| e.message.provider_sid.clone())
        .collect();
    for i in 0..2_000 {
        assert!(
            in_copy.contains(&format!("SMpre{i:05}")),
            "SMpre{i:05} missing"
        );
    }
    for sid in &before {
        assert!(
            in_copy.contains(sid),
            "{sid} was committed before the backup but is missing"
        );
    }
    for sid in in_copy.iter().filter(|s| s.starts_with("SMrun")) {
        assert!(
            all.contains(sid),
            "{sid} is in the copy but was never committed"
        );
    }
    assert_eq!(report.inbound_messages, entries.len() as u64);
    assert_eq!(report.bytes, std::fs::metadata(&copy_path).unwrap().len());
    assert_eq!(
        entries[0].message,
        inbound("SMpre00000", "+15557654321", "before", 0),
        "rows are copied whole"
    );
    eprintln!(
        "backup of {} messages ({} bytes) in {} ms; {} messages committed during it",
        report.inbound_messages, report.bytes, report.took_ms, during_backup
    );
    // The copy is consistent: its own integrity check, through a fresh connection.
    let mut conn =
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&copy_path))
            .await
            .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test]
async fn backup_refuses_an_existing_file_unless_replacing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telephony.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .insert_inbound(&inbound("SM1", "+15557654321", "hi", 0))
        .await
        .unwrap();
    let dest = dir.path().join("copy.db");
    std::fs::write(&dest, b"an older backup").unwrap();
    let err = sqlite_backup(&path, &dest, false).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the destination exists (pass --force to replace it)"),
        "{err}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), b"an older backup");
    let report = store.backup_to(&dest, true).await.unwrap();
    assert_eq!(report.inbound_messages, 1);
    // No partial file is left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    // A missing source is an error naming it, and creates nothing.
    let missing = dir.path().join("nope.db");
    let err = sqlite_backup(&missing, &dir.path().join("x.db"), false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("there is no database file there"),
        "{err}"
    );
    assert!(!missing.exists());
}
