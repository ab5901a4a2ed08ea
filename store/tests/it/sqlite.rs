//! SQLite-specific behavior: durability across reopen and process crashes, group commit under
//! concurrency, the on-disk settings, and how corrupt rows are reported.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use telephony_core::store::prelude::*;
use telephony_core::store::{
    BeginOutcome, CallQuery, CallStatusChange, CallStatusOutcome, CallTurn, NewCall,
    OrphanCallStatus, PendingAnswer, StatusSource,
};
use telephony_core::store::{ForwardOutcome, ForwardResult};
use telephony_core::store_suite::{inbound, t0};
use telephony_core::voice::{CallDirection, CallStatus};
use telephony_core::{
    Address, DeliveryStatus, ErrorInfo, ForwardEvent, ForwardStats, InboxQuery, InboxState,
    InsertOutcome, MessageId, OutboundMessage, PairingLimits, PairingOutcome, PairingStatus,
    PhoneNumber, ProviderReceipt, StatusEvent, StatusOutcome, StatusUpdate, StoreError,
};
use telephony_store::{SqliteOptions, SqliteStore};
use time::OffsetDateTime;

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("telephony.db")
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).await.expect("open store")
}

async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .expect("raw connection")
}

fn secs(n: u64) -> OffsetDateTime {
    t0() + Duration::from_secs(n)
}

fn outbound(body: &str) -> OutboundMessage {
    OutboundMessage::new(Address::parse("+15550005678").unwrap(), body)
}

fn status(sid: &str, s: DeliveryStatus) -> StatusUpdate {
    StatusUpdate::new(sid, s)
}

fn accepted(sid: &str) -> ProviderReceipt {
    ProviderReceipt {
        sid: sid.into(),
        status: DeliveryStatus::Queued,
        from: Some("+15550001234".into()),
        num_segments: Some(1),
        price: Some("-0.00790".into()),
        price_unit: Some("USD".into()),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn everything_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let m = inbound("SMin1", "+15557654321", "survive me", 0);
    let sent = MessageId::from_string("msg_out_sent");
    let pending = MessageId::from_string("msg_out_pending");
    let before = {
        let s = open(&path).await;
        assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
        s.enqueue_outbound(&sent, &outbound("sent"), t0())
            .await
            .unwrap();
        let claimed = s.claim_outbound(t0(), LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        s.complete_outbound(&sent, claimed[0].lease, &accepted("SMout1"), secs(1))
            .await
            .unwrap();
        assert!(matches!(
            s.apply_status(&status("SMout1", DeliveryStatus::Sent), secs(2))
                .await
                .unwrap(),
            StatusOutcome::Applied(_)
        ));
        // A status callback for a send whose response never came back.
        assert_eq!(
            s.apply_status(&status("SMout2", DeliveryStatus::Delivered), secs(3))
                .await
                .unwrap(),
            StatusOutcome::Unknown
        );
        // Accepted, then claimed by a worker that dies before the provider answers.
        s.enqueue_outbound(&pending, &outbound("pending"), secs(4))
            .await
            .unwrap();
        let claimed = s.claim_outbound(secs(4), LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].id, pending);
        let before = s.receipt(&sent).await.unwrap().unwrap();
        s.close().await;
        before
    };

    let s = open(&path).await;
    let inbox = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message, m);
    assert_eq!(inbox[0].state, InboxState::Queued);
    assert_eq!(s.queued_inbound(10).await.unwrap(), vec![m.clone()]);

    let r = s.receipt(&sent).await.unwrap().unwrap();
    assert_eq!(r, before);
    assert_eq!(r.status, DeliveryStatus::Sent);
    assert_eq!(r.provider_sids, ["SMout1"]);
    assert_eq!(r.price.as_deref(), Some("-0.00790"));
    assert_eq!(r.attempts, 1);
    assert_eq!(
        r.history,
        [
            StatusEvent {
                status: DeliveryStatus::Pending,
                at: t0(),
                provider_sid: None,
                error: None,
                provider_status: None
            },
            StatusEvent {
                status: DeliveryStatus::Queued,
                at: secs(1),
                provider_sid: Some("SMout1".into()),
                error: None,
                provider_status: None
            },
            StatusEvent {
                status: DeliveryStatus::Sent,
                at: secs(2),
                provider_sid: Some("SMout1".into()),
                error: None,
                provider_status: None
            },
        ]
    );
    // The SID → receipt map survived too.
    match s
        .apply_status(&status("SMout1", DeliveryStatus::Delivered), secs(5))
        .await
        .unwrap()
    {
        StatusOutcome::Applied(r) => assert_eq!(r.history.len(), 4),
        other => panic!("expected Applied, got {other:?}"),
    }

    // The send accepted before the "crash" is sent after restart, once its lease expired.
    assert_eq!(s.outbox_len().await.unwrap(), 1);
    assert!(
        s.claim_outbound(secs(33), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s.claim_outbound(secs(34), LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, pending);
    assert_eq!(again[0].message, outbound("pending"));
    assert_eq!(again[0].attempts, 1);
    // The dead worker's claim is reported, from when it started, so the worker asks the
    // provider before sending again.
    assert_eq!(again[0].interrupted, Some(secs(4)));
    assert_eq!(s.receipt(&pending).await.unwrap().unwrap().attempts, 2);

    // And the kept status callback is applied when its SID appears.
    let r = s
        .complete_outbound(&pending, again[0].lease, &accepted("SMout2"), secs(35))
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Delivered);
    assert_eq!(s.outbox_len().await.unwrap(), 0);
}

#[tokio::test]
async fn duplicate_detection_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let m = inbound("SMdup", "+15557654321", "first", 0);
    {
        let s = open(&path).await;
        assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
        s.close().await;
    }
    let s = open(&path).await;
    let mut redelivered = m.clone();
    redelivered.id = MessageId::from_string("msg_redelivered");
    redelivered.body = "second".into();
    assert_eq!(
        s.insert_inbound(&redelivered).await.unwrap(),
        InsertOutcome::Duplicate
    );
    let inbox = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.body, "first");
}

const CRASH_CHILD: &str = "TELEPHONY_STORE_CRASH_CHILD_DIR";

/// The real thing: a child process commits, then is killed with SIGKILL (no destructor,
/// no close, no checkpoint); everything it was told was committed is there afterwards.
#[tokio::test]
async fn commits_survive_killing_the_process() {
    if let Ok(dir) = std::env::var(CRASH_CHILD) {
        let dir = PathBuf::from(dir);
        let s = open(&dir.join("telephony.db")).await;
        let m = inbound("SMcrash", "+15557654321", "before the crash", 0);
        assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
        let id = MessageId::from_string("msg_out_crash");
        s.enqueue_outbound(&id, &outbound("send me after restart"), t0())
            .await
            .unwrap();
        assert_eq!(s.claim_outbound(t0(), LEASE, 10).await.unwrap().len(), 1);
        std::fs::write(dir.join("committed"), b"").unwrap();
        // Wait to be killed; give up if the parent is gone.
        std::thread::sleep(Duration::from_secs(120));
        std::process::exit(1);
    }

    let dir = tempfile::tempdir().unwrap();
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // This test's name as the test binary knows it (its module path without the crate).
    let name = match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::commits_survive_killing_the_process"),
        None => "commits_survive_killing_the_process".to_string(),
    };
    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name.as_str(), "--nocapture"])
            .env(CRASH_CHILD, dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let marker = dir.path().join("committed");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("child exited before committing: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "child never committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL: no destructor, no close, no checkpoint.
    drop(child);
    // The commits are only in the write-ahead log: recovery has to replay it.
    let wal = dir.path().join("telephony.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);

    let s = open(&db_path(&dir)).await;
    let inbox = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        inbox[0].message,
        inbound("SMcrash", "+15557654321", "before the crash", 0)
    );
    assert_eq!(s.outbox_len().await.unwrap(), 1);
    let again = s.claim_outbound(secs(31), LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, MessageId::from_string("msg_out_crash"));
    assert_eq!(again[0].message, outbound("send me after restart"));
    assert_eq!(again[0].attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_of_one_sid_store_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&db_path(&dir)).await);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut m = inbound("SMsame", "+15557654321", "x", 0);
                m.id = MessageId::from_string(format!("msg_in_{i}"));
                (m.id.clone(), s.insert_inbound(&m).await.unwrap())
            })
        })
        .collect();
    let mut inserted = Vec::new();
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap() {
            (id, InsertOutcome::Inserted) => inserted.push(id),
            (_, InsertOutcome::Duplicate) => duplicates += 1,
        }
    }
    assert_eq!(inserted.len(), 1);
    assert_eq!(duplicates, 63);
    let inbox = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message.id, inserted[0]);
}

/// Inserts racing into the same batches: SIDs stored before, new SIDs, and new SIDs sent
/// twice under different gateway ids. Each new SID is inserted exactly once (by the request
/// whose id is stored), everything else is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_mixing_stored_new_and_repeated_sids_tell_each_caller_right() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&db_path(&dir)).await);
    for i in 0..20 {
        let m = inbound(&format!("SMold{i:02}"), "+15557654321", "x", i);
        assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        for (sid, copy) in [
            (format!("SMold{i:02}"), 0),
            (format!("SMnew{i:02}"), 0),
            (format!("SMnew{i:02}"), 1),
        ] {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut m = inbound(&sid, "+15557654321", "x", 100 + i);
                m.id = MessageId::from_string(format!("msg_{sid}_{copy}"));
                (sid, m.id.clone(), s.insert_inbound(&m).await.unwrap())
            }));
        }
    }
    let mut inserted = std::collections::BTreeMap::new();
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap() {
            (sid, id, InsertOutcome::Inserted) => {
                assert!(sid.starts_with("SMnew"), "{sid} was stored before");
                assert!(inserted.insert(sid, id).is_none(), "inserted twice");
            }
            (_, _, InsertOutcome::Duplicate) => duplicates += 1,
        }
    }
    assert_eq!((inserted.len(), duplicates), (20, 40));
    let inbox = s
        .inbox(&InboxQuery {
            since: None,
            limit: 500,
        })
        .await
        .unwrap();
    assert_eq!(inbox.len(), 40);
    for e in inbox
        .iter()
        .filter(|e| e.message.provider_sid.starts_with("SMnew"))
    {
        assert_eq!(inserted[&e.message.provider_sid], e.message.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_inserts_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&db_path(&dir)).await);
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let m = inbound(&format!("SM{i:04}"), "+15557654321", "x", i);
                s.insert_inbound(&m).await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), InsertOutcome::Inserted);
    }
    let inbox = s
        .inbox(&InboxQuery {
            since: None,
            limit: 5000,
        })
        .await
        .unwrap();
    let sids: Vec<_> = inbox
        .iter()
        .map(|e| e.message.provider_sid.clone())
        .collect();
    let expected: Vec<_> = (0..1000).map(|i| format!("SM{i:04}")).collect();
    // Oldest first: received_at grows with i.
    assert_eq!(sids, expected);
    assert_eq!(s.queued_inbound(5000).await.unwrap().len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_breaks_a_constraint_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&db_path(&dir)).await);
    let mut first = inbound("SMfirst", "+15557654321", "x", 0);
    first.id = MessageId::from_string("msg_reused");
    s.insert_inbound(&first).await.unwrap();

    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            let m = inbound(&format!("SMok{i}"), "+15557654321", "x", 1);
            store.insert_inbound(&m).await
        }));
        if i == 25 {
            let s = s.clone();
            let mut bad = inbound("SMother", "+15557654321", "x", 1);
            bad.id = MessageId::from_string("msg_reused");
            tasks.push(tokio::spawn(async move { s.insert_inbound(&bad).await }));
        }
    }
    let mut ok = 0;
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(InsertOutcome::Inserted) => ok += 1,
            Ok(InsertOutcome::Duplicate) => panic!("nothing here is a duplicate"),
            Err(StoreError::Backend(e)) => {
                assert!(e.to_string().contains("UNIQUE"), "{e}");
                failed += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!((ok, failed), (50, 1));
    let inbox = s
        .inbox(&InboxQuery {
            since: None,
            limit: 500,
        })
        .await
        .unwrap();
    assert_eq!(inbox.len(), 51);
    assert!(inbox.iter().all(|e| e.message.provider_sid != "SMother"));
}

/// Batches of messages stored with their forward events: each inserted message has its
/// event, a duplicate's or a refused row's event is not stored, and the rest of the batch
/// commits with theirs (the row-by-row path inside the batch's transaction too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_batches_store_exactly_the_inserted_messages_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&db_path(&dir)).await);
    let event = |id: &str| telephony_core::ForwardEvent {
        id: format!("evt_{id}"),
        kind: "message.received".into(),
        payload: serde_json::json!({ "id": id }),
        created_at: t0(),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    let mut first = inbound("SMfirst", "+15557654321", "x", 0);
    first.id = MessageId::from_string("msg_reused");
    s.insert_inbound(&first).await.unwrap();
    s.insert_inbound(&inbound("SMold7", "+15557654321", "x", 0))
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = s.clone();
        let ev = event(&format!("new{i}"));
        tasks.push(tokio::spawn(async move {
            // SMold7 was stored before: a duplicate.
            let sid = if i == 7 {
                "SMold7".to_string()
            } else {
                format!("SMnew{i}")
            };
            let m = inbound(&sid, "+15557654321", "x", 1);
            store
                .insert_inbound_forwarded(&m, InboxState::Accepted, &ev)
                .await
        }));
        if i == 20 {
            let s = s.clone();
            let mut bad = inbound("SMbad", "+15557654321", "x", 1);
            bad.id = MessageId::from_string("msg_reused");
            tasks.push(tokio::spawn(async move {
                s.insert_inbound_forwarded(&bad, InboxState::Accepted, &event("bad"))
                    .await
            }));
        }
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(match t.await.unwrap() {
            Ok(o) => format!("{o:?}"),
            Err(StoreError::Backend(e)) if e.to_string().contains("UNIQUE") => "refused".into(),
            Err(e) => panic!("unexpected error {e}"),
        });
    }
    let count = |what: &str| outcomes.iter().filter(|o| *o == what).count();
    assert_eq!(
        (count("Inserted"), count("Duplicate"), count("refused")),
        (39, 1, 1)
    );
    let claimed = s
        .claim_forwards(t0(), Duration::from_secs(30), 100)
        .await
        .unwrap();
    let mut ids: Vec<String> = claimed.into_iter().map(|c| c.event.id).collect();
    ids.sort();
    let mut expected: Vec<String> = (0..40)
        .filter(|i| *i != 7)
        .map(|i| format!("evt_new{i}"))
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
    // Only the two plain inserts are queued.
    let queued: Vec<String> = s
        .queued_inbound(100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.provider_sid)
        .collect();
    assert_eq!(queued, ["SMfirst", "SMold7"]);
}

/// When a batch cannot commit, its callers get an error and nothing of it is stored.
#[tokio::test]
async fn a_batch_that_cannot_commit_is_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = SqliteStore::open_with(
        &path,
        SqliteOptions::default().busy_timeout(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    // Another process holds the write lock longer than the busy timeout.
    let mut other = raw(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let m = inbound("SMlocked", "+15557654321", "x", 0);
    let err = s.insert_inbound(&m).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let chain = error_chain(&err);
    assert!(chain.contains("rolled back"), "{chain}");
    assert!(chain.contains("database is locked"), "{chain}");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    assert!(s.inbox(&InboxQuery::default()).await.unwrap().is_empty());
    // The provider retries the webhook; now it is stored.
    assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_exclusive_across_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    // Two stores on one file: two independent write connections, like two processes.
    let a = Arc::new(open(&path).await);
    let b = Arc::new(open(&path).await);
    for i in 0..200 {
        a.enqueue_outbound(
            &MessageId::from_string(format!("msg_out_{i:03}")),
            &outbound("x"),
            t0(),
        )
        .await
        .unwrap();
    }
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let s = if w % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s.claim_outbound(secs(1), LEASE, 7).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|i| i.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 200);
    assert_eq!(distinct.len(), 200);
}

#[tokio::test]
async fn claims_hand_out_the_oldest_due_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&db_path(&dir)).await;
    for (id, at) in [("msg_c", 3), ("msg_a", 1), ("msg_b", 2)] {
        s.enqueue_outbound(&MessageId::from_string(id), &outbound(id), secs(at))
            .await
            .unwrap();
    }
    let got = s.claim_outbound(secs(3), LEASE, 2).await.unwrap();
    let ids: Vec<_> = got.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["msg_a", "msg_b"]);
    assert!(
        s.claim_outbound(secs(2), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let got = s.claim_outbound(secs(3), LEASE, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id.as_str(), "msg_c");
}

/// Inbound claims are held in the process's memory: a claim writes nothing to the file,
/// an outcome adds its attempt to the row, and after a restart a message that was claimed
/// but never recorded is claimable at once, with only its recorded attempts.
#[tokio::test]
async fn inbound_claims_live_in_memory_and_restart_frees_them() {
    use telephony_core::store::{DispatchOutcome, DispatchResult};
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    let alice = "+15557654321";
    s.insert_inbound(&inbound("SMm1", alice, "one", 0))
        .await
        .unwrap();
    s.insert_inbound(&inbound("SMm2", alice, "two", 1))
        .await
        .unwrap();
    let row = |sid: &'static str| {
        let path = path.clone();
        async move {
            let mut c = raw(&path).await;
            sqlx::query_as::<_, (i64, Option<i64>, Option<i64>)>(
                "SELECT attempts, leased_until, lease_token FROM inbox WHERE provider_sid = ?1",
            )
            .bind(sid)
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
    };
    let first = s.claim_inbound(secs(10), LEASE, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(row("SMm1").await, (0, None, None), "a claim writes nothing");
    // A retry records the attempt and holds alice's lane until it is due.
    let lost = s
        .record_dispatch(&[DispatchOutcome {
            id: first[0].message.id.clone(),
            lease: first[0].lease,
            result: DispatchResult::Retry {
                error: "handler error: down".into(),
                at: secs(20),
            },
        }])
        .await
        .unwrap();
    assert!(lost.is_empty());
    assert_eq!(row("SMm1").await.0, 1);
    assert!(
        s.claim_inbound(secs(19), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let lane = s.claim_inbound(secs(20), LEASE, 10).await.unwrap();
    let got: Vec<_> = lane
        .iter()
        .map(|c| (c.message.provider_sid.as_str(), c.attempts))
        .collect();
    assert_eq!(got, [("SMm1", 1), ("SMm2", 0)]);
    // The process ends with the lane claimed and nothing recorded.
    s.close().await;
    drop(s);
    let s = open(&path).await;
    let again = s.claim_inbound(secs(21), LEASE, 10).await.unwrap();
    let got: Vec<_> = again
        .iter()
        .map(|c| (c.message.provider_sid.as_str(), c.attempts))
        .collect();
    assert_eq!(
        got,
        [("SMm1", 1), ("SMm2", 0)],
        "claimable at once after a restart"
    );
    // The old claim's outcome is fenced out; the new one's lands with its attempt.
    let done = |c: &telephony_core::store::ClaimedInbound| DispatchOutcome {
        id: c.message.id.clone(),
        lease: c.lease,
        result: DispatchResult::Done {
            state: InboxState::Accepted,
            note: None,
        },
    };
    let lost = s.record_dispatch(&[done(&lane[1])]).await.unwrap();
    assert_eq!(lost, [lane[1].message.id.clone()]);
    let lost = s
        .record_dispatch(&[done(&again[0]), done(&again[1])])
        .await
        .unwrap();
    assert!(lost.is_empty());
    assert_eq!(row("SMm1").await, (2, None, None));
    assert_eq!(row("SMm2").await, (1, None, None));
    s.close().await;
}

/// Leases an earlier version wrote to the rows are void when the file is opened: the
/// process that held them is gone.
#[tokio::test]
async fn leases_stored_by_an_earlier_version_are_cleared_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    s.insert_inbound(&inbound("SMold", "+15557654321", "x", 0))
        .await
        .unwrap();
    s.close().await;
    drop(s);
    let mut c = raw(&path).await;
    let far = secs(3600).unix_timestamp() * 1000;
    sqlx::query("UPDATE inbox SET leased_until = ?1, lease_token = 7, attempts = 1")
        .bind(far)
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    let s = open(&path).await;
    let got = s.claim_inbound(secs(1), LEASE, 10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].message.provider_sid.as_str(), got[0].attempts),
        ("SMold", 1)
    );
    s.close().await;
}

/// Forward claims are held in the process's memory too: a claim writes nothing to the
/// file, a release at the event's place writes nothing, an outcome adds its attempt to the
/// row, and after a restart an event claimed but never recorded is claimable at once, with
/// only its recorded attempts; the dead claim's late outcome is fenced out.
#[tokio::test]
async fn forward_claims_live_in_memory_and_restart_frees_them() {
    use telephony_core::store::{ClaimedForward, ForwardOutcome, ForwardResult};
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    for (i, id) in ["evt_1", "evt_2"].into_iter().enumerate() {
        let event = ForwardEvent {
            id: id.into(),
            kind: "message.received".into(),
            payload: serde_json::json!({ "id": id }),
            created_at: secs(i as u64),
            attempts: 0,
            last_error: None,
            encoded: None,
        };
        s.enqueue_forward(&event).await.unwrap();
    }
    let row = |id: &'static str| {
        let path = path.clone();
        async move {
            let mut c = raw(&path).await;
            sqlx::query_as::<_, (i64, i64, Option<i64>, Option<i64>, Option<i64>)>(
                "SELECT attempts, next_attempt_at, leased_until, lease_token, delivered_at \
                 FROM forwards WHERE id = ?1",
            )
            .bind(id)
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
    };
    let ms = |t: OffsetDateTime| t.unix_timestamp() * 1000;
    let first = s.claim_forwards(secs(10), LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(
        row("evt_1").await,
        (0, ms(secs(0)), None, None, None),
        "a claim writes nothing"
    );
    // A live claim holds its events; an outcome with another token is fenced out.
    assert!(
        s.claim_forwards(secs(11), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = |c: &ClaimedForward, at| ForwardOutcome {
        id: c.event.id.clone(),
        lease: c.lease,
        result: ForwardResult::Retry {
            error: "receiver answered HTTP 503".into(),
            at,
        },
    };
    let release = |c: &ClaimedForward, at| ForwardOutcome {
        id: c.event.id.clone(),
        lease: c.lease,
        result: ForwardResult::Release { at },
    };
    let lost = s
        .record_forwards(
            &[retry(&first[0], secs(20)), release(&first[1], secs(1))],
            secs(12),
        )
        .await
        .unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(row("evt_1").await, (1, ms(secs(20)), None, None, None));
    assert_eq!(
        row("evt_2").await,
        (0, ms(secs(1)), None, None, None),
        "released at its place: unchanged"
    );
    let second = s.claim_forwards(secs(20), LEASE, 10).await.unwrap();
    let got: Vec<_> = second
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts, c.due))
        .collect();
    assert_eq!(got, [("evt_2", 0, secs(1)), ("evt_1", 1, secs(20))]);
    // The process ends with both claimed and nothing recorded.
    s.close().await;
    drop(s);
    let s = open(&path).await;
    let again = s.claim_forwards(secs(21), LEASE, 10).await.unwrap();
    let got: Vec<_> = again
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts))
        .collect();
    assert_eq!(
        got,
        [("evt_2", 0), ("evt_1", 1)],
        "claimable at once after a restart"
    );
    let delivered = |c: &ClaimedForward| ForwardOutcome {
        id: c.event.id.clone(),
        lease: c.lease,
        result: ForwardResult::Delivered,
    };
    let lost = s
        .record_forwards(&[delivered(&second[0])], secs(22))
        .await
        .unwrap();
    assert_eq!(lost, ["evt_2"], "the dead claim is fenced out");
    let lost = s
        .record_forwards(&[delivered(&again[0]), delivered(&again[1])], secs(22))
        .await
        .unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        row("evt_1").await,
        (2, ms(secs(20)), None, None, Some(ms(secs(22))))
    );
    assert_eq!(
        row("evt_2").await,
        (1, ms(secs(1)), None, None, Some(ms(secs(22))))
    );
    let e = s.complete_forward("evt_1", again[1].lease, secs(23)).await;
    assert!(
        matches!(&e, Err(StoreError::LeaseLost { id }) if id == "evt_1"),
        "{e:?}"
    );
    let e = s
        .complete_forward("evt_none", again[1].lease, secs(23))
        .await;
    assert!(
        matches!(&e, Err(StoreError::NotFound { kind: "forward event", id }) if id == "evt_none"),
        "{e:?}"
    );
    s.close().await;
}

/// A forward lease an earlier version wrote to the row is void when the file is opened.
#[tokio::test]
async fn forward_leases_stored_by_an_earlier_version_are_cleared_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    let event = ForwardEvent {
        id: "evt_old".into(),
        kind: "message.received".into(),
        payload: serde_json::json!({ "id": "evt_old" }),
        created_at: secs(0),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    s.enqueue_forward(&event).await.unwrap();
    s.close().await;
    drop(s);
    let mut c = raw(&path).await;
    let far = secs(3600).unix_timestamp() * 1000;
    sqlx::query("UPDATE forwards SET leased_until = ?1, lease_token = 7, attempts = 1")
        .bind(far)
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    let s = open(&path).await;
    let got = s.claim_forwards(secs(1), LEASE, 10).await.unwrap();
    let got: Vec<_> = got
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts))
        .collect();
    assert_eq!(got, [("evt_old", 1)]);
    s.close().await;
}

/// The WAL file's checkpoint sequence number (big-endian at byte 12 of its header), which
/// SQLite increments each time the WAL starts over from its beginning.
fn wal_sequence(db: &Path) -> u32 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let bytes = std::fs::read(&wal).unwrap();
    u32::from_be_bytes(bytes[12..16].try_into().unwrap())
}

/// A WAL grown long under writes is started over by the background checkpointer (the
/// test itself never checkpoints), and writes go on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wal_is_started_over_while_writes_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = Arc::new(open(&path).await);
    // ~6,000 frames: 240 rows with a 100 KB body each (overflow pages, 4 KiB a frame),
    // past the 4096 frames at which the checkpointer restarts the WAL.
    let body = "x".repeat(100_000);
    for i in 0..240 {
        let m = inbound(&format!("SMbig{i:03}"), "+15557654321", &body, i);
        assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
    }
    let before = wal_sequence(&path);
    // Keep writing; the checkpointer runs every second: a generous minute on a loaded machine.
    let mut n = 0;
    while wal_sequence(&path) == before && n < 600 {
        n += 1;
        let m = inbound(&format!("SMafter{n:04}"), "+15557654321", "small", 1000 + n);
        assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(
        wal_sequence(&path),
        before,
        "the WAL was never started over"
    );
    let inbox = s
        .inbox(&InboxQuery {
            since: None,
            limit: 5000,
        })
        .await
        .unwrap();
    assert_eq!(inbox.len(), 240 + n as usize);
}

#[tokio::test]
async fn journal_mode_is_wal_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let _s = open(&path).await;
    let mut conn = raw(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn creates_the_file_and_its_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("telephony-data")
        .join("nested")
        .join("telephony.db");
    assert!(!path.parent().unwrap().exists());
    let s = open(&path).await;
    assert!(path.is_file());
    assert_eq!(s.path(), path);
}

#[tokio::test]
async fn opening_where_no_file_can_be_created_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let path = blocker.join("telephony.db");
    let err = SqliteStore::open(&path).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[tokio::test]
async fn migrations_run_once_and_reopening_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    for _ in 0..3 {
        let s = open(&path).await;
        s.close().await;
    }
    // Two stores opening the same up-to-date file at once.
    let (a, b) = tokio::join!(open(&path), open(&path));
    let mut conn = raw(&path).await;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        applied,
        [
            (1, true),
            (2, true),
            (3, true),
            (4, true),
            (5, true),
            (6, true),
            (7, true),
            (8, true),
            (9, true),
            (10, true),
            (11, true),
            (12, true),
            (13, true),
            (14, true),
            (15, true),
            (16, true),
            (17, true),
        ]
    );
    drop((a, b));

    // A database migrated by a different version of 0001 is refused, not silently used.
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = error_chain(&SqliteStore::open(&path).await.unwrap_err());
    assert!(err.contains("migrating the schema"), "{err}");
    assert!(
        err.contains("migration 1 was previously applied but has been modified"),
        "{err}"
    );
}

#[tokio::test]
async fn times_read_back_at_millisecond_precision() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&db_path(&dir)).await;
    let precise = t0() + Duration::from_nanos(123_456_789);
    let ms = t0() + Duration::from_millis(123);
    let mut m = inbound("SMprecise", "+15557654321", "x", 0);
    m.received_at = precise;
    s.insert_inbound(&m).await.unwrap();
    assert_eq!(
        s.inbox(&InboxQuery::default()).await.unwrap()[0]
            .message
            .received_at,
        ms
    );

    let id = MessageId::from_string("msg_precise");
    let returned = s
        .enqueue_outbound(&id, &outbound("x"), precise)
        .await
        .unwrap();
    assert_eq!(returned.created_at, ms);
    assert_eq!(s.receipt(&id).await.unwrap().unwrap(), returned);
}

#[tokio::test]
async fn enqueueing_an_existing_id_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&db_path(&dir)).await;
    let id = MessageId::from_string("msg_once");
    let first = s
        .enqueue_outbound(&id, &outbound("first"), t0())
        .await
        .unwrap();
    assert!(
        s.enqueue_outbound(&id, &outbound("second"), secs(1))
            .await
            .is_err()
    );
    assert_eq!(s.receipt(&id).await.unwrap().unwrap(), first);
    assert_eq!(s.outbox_len().await.unwrap(), 1);
}

async fn corrupt(path: &Path, sql: &str) {
    let mut conn = raw(path).await;
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

fn corrupt_column(err: StoreError) -> &'static str {
    match err {
        StoreError::Corrupt { what, .. } => what,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn corrupt_json_is_reported_with_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    s.insert_inbound(&inbound("SMbad", "+15557654321", "x", 0))
        .await
        .unwrap();
    corrupt(&path, "UPDATE inbox SET media_json = 'not json'").await;
    let err = s.inbox(&InboxQuery::default()).await.unwrap_err();
    assert!(err.to_string().contains("inbox.media_json"), "{err}");
    assert_eq!(corrupt_column(err), "inbox.media_json");
    assert_eq!(
        corrupt_column(s.queued_inbound(10).await.unwrap_err()),
        "inbox.media_json"
    );

    let id = MessageId::from_string("msg_bad");
    s.enqueue_outbound(&id, &outbound("x"), t0()).await.unwrap();
    // Never claimed: the entry's first token.
    s.retry_outbound(
        &id,
        telephony_core::LeaseToken::from_i64(0),
        &ErrorInfo {
            code: Some(20429),
            message: "Too Many Requests".into(),
            more_info: None,
        },
        t0(),
    )
    .await
    .unwrap();
    corrupt(&path, "UPDATE receipts SET error_json = '{\"code\": ' ").await;
    assert_eq!(
        corrupt_column(s.receipt(&id).await.unwrap_err()),
        "receipts.error_json"
    );

    corrupt(&path, "UPDATE outbox SET message_json = '[]'").await;
    assert_eq!(
        corrupt_column(s.claim_outbound(t0(), LEASE, 10).await.unwrap_err()),
        "outbox.message_json"
    );
    // The failed claim was rolled back: nothing is leased or counted.
    corrupt(
        &path,
        r#"UPDATE outbox SET message_json = '{"to":"+15550005678","body":"x"}'"#,
    )
    .await;
    let got = s.claim_outbound(t0(), LEASE, 10).await.unwrap();
    assert_eq!(got[0].attempts, 0);

    corrupt(&path, "UPDATE inbox SET media_json = '[]', state = 'lost'").await;
    assert_eq!(
        corrupt_column(s.inbox(&InboxQuery::default()).await.unwrap_err()),
        "inbox.state"
    );
}

/// A database created before migration 0002 (with a send in its outbox) is upgraded on open.
#[tokio::test]
async fn a_database_from_the_first_schema_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let only_first = dir.path().join("migrations");
    std::fs::create_dir(&only_first).unwrap();
    std::fs::write(
        only_first.join("0001_init.sql"),
        include_str!("../../migrations/sqlite/0001_init.sql"),
    )
    .unwrap();
    {
        let pool = sqlx::SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::migrate::Migrator::new(only_first.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO receipts (id, recipient, body, status, created_at, updated_at) \
             VALUES ('msg_old', 'whatsapp:+15550005678', 'from v1', 'pending', 0, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO receipt_history (receipt_id, seq, status, at) \
             VALUES ('msg_old', 0, 'pending', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO outbox (id, message_json, next_attempt_at) \
             VALUES ('msg_old', '{\"to\":\"whatsapp:+15550005678\",\"body\":\"from v1\"}', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }

    let s = open(&path).await;
    let mut conn = raw(&path).await;
    let (held, to_number): (i64, String) =
        sqlx::query_as("SELECT held, to_number FROM outbox WHERE id = 'msg_old'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((held, to_number.as_str()), (0, "+15550005678"));
    let claimed = s.claim_outbound(t0(), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].message.body, "from v1");
    assert_eq!(claimed[0].message.to.to_string(), "whatsapp:+15550005678");
}

fn number(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

#[tokio::test]
async fn policy_state_and_forwards_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let limits = PairingLimits::default();
    let stranger = number("+15550000003");
    let held_id = MessageId::from_string("msg_held");
    let event = ForwardEvent {
        id: "evt_1".into(),
        kind: "message.received".into(),
        payload: serde_json::json!({"id": "evt_1", "body": "héllo"}),
        created_at: t0(),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    {
        let s = open(&path).await;
        let PairingOutcome::Created(req) = s
            .pairing_request(&number("+15550000001"), "AAAAAAAA", &limits, t0())
            .await
            .unwrap()
        else {
            panic!("expected a new pairing request")
        };
        assert_eq!(req.expires_at, secs(3600));
        s.pairing_request(&number("+15550000002"), "BBBBBBBB", &limits, t0())
            .await
            .unwrap();
        s.resolve_pairing("BBBBBBBB", true, secs(1)).await.unwrap();
        s.set_opted_out(&number("+15550000009"), true, t0())
            .await
            .unwrap();
        let msg = OutboundMessage::new(Address::whatsapp(stranger.clone()), "first contact");
        s.enqueue_outbound_held(&held_id, &msg, t0()).await.unwrap();
        s.enqueue_forward(&event).await.unwrap();
        let claimed = s.claim_forwards(t0(), LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        s.retry_forward("evt_1", claimed[0].lease, "HTTP 502", secs(5))
            .await
            .unwrap();
        s.close().await;
    }

    let s = open(&path).await;
    let pending = s.pending_pairings(secs(2)).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].code, "AAAAAAAA");
    assert_eq!(pending[0].sender, number("+15550000001"));
    assert_eq!(pending[0].status, PairingStatus::Pending);
    assert_eq!(pending[0].created_at, t0());
    assert!(s.is_approved_sender(&number("+15550000002")).await.unwrap());
    assert!(s.is_known_contact(&number("+15550000002")).await.unwrap());
    assert!(s.is_opted_out(&number("+15550000009")).await.unwrap());
    // The sender with a pending code keeps it across the restart.
    assert!(matches!(
        s.pairing_request(&number("+15550000001"), "ZZZZZZZZ", &limits, secs(3))
            .await
            .unwrap(),
        PairingOutcome::Existing(ref r) if r.code == "AAAAAAAA"
    ));

    // The held send is still held, and is released (for WhatsApp too) by approval.
    assert!(
        s.claim_outbound(secs(10), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let held = s.held_outbound().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].id, held_id);
    assert_eq!(held[0].to.to_string(), "whatsapp:+15550000003");
    assert!(!s.is_known_contact(&stranger).await.unwrap());
    assert_eq!(
        s.approve_contact(&stranger, secs(10)).await.unwrap(),
        std::slice::from_ref(&held_id)
    );
    let claimed = s.claim_outbound(secs(10), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, held_id);

    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 1,
            failing: 1,
            delivered: 0,
            last_error: Some("HTTP 502".into())
        }
    );
    let again = s.claim_forwards(secs(5), LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event.payload, event.payload);
    assert_eq!(again[0].event.attempts, 1);
    assert_eq!(again[0].event.last_error.as_deref(), Some("HTTP 502"));
}

/// The pending and hourly caps hold when requests race on two connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_caps_hold_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let a = Arc::new(open(&path).await);
    let b = Arc::new(open(&path).await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let sender = number(&format!("+155500001{i:02}"));
                let code = format!("CODE{i:04}");
                s.pairing_request(&sender, &code, &PairingLimits::default(), t0())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            PairingOutcome::Created(_) => created += 1,
            PairingOutcome::Limited => limited += 1,
            PairingOutcome::Existing(r) => panic!("no sender asked twice, got {r:?}"),
        }
    }
    assert_eq!((created, limited), (3, 17));
    assert_eq!(a.pending_pairings(t0()).await.unwrap().len(), 3);
}

fn new_call(id: &str, status: CallStatus, session: bool, at: OffsetDateTime) -> NewCall {
    NewCall {
        call_id: id.into(),
        direction: CallDirection::Inbound,
        from: "+15557654321".into(),
        to: "+15550001234".into(),
        status,
        source: StatusSource::Webhook,
        session,
        at,
        note: None,
    }
}

/// A live session (with its history, transcript and pending answer), a refused call and an
/// orphan status are all there after the store is dropped and reopened, and the slot count
/// still holds.
#[tokio::test]
async fn live_sessions_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let turn = CallTurn {
        at: secs(3),
        speech: Some("what are your hours?".into()),
        confidence: Some(0.93),
        digits: None,
    };
    let held = PendingAnswer {
        content_type: "text/xml".into(),
        body: "<Response><Say>We open at nine.</Say></Response>".into(),
    };
    let before = {
        let s = open(&path).await;
        let BeginOutcome::Started(_) = s
            .begin_call(&new_call("CA1", CallStatus::Ringing, true, t0()), Some(1))
            .await
            .unwrap()
        else {
            panic!("expected Started")
        };
        let CallStatusOutcome::Applied(_) = s
            .update_call_status(
                "CA1",
                CallStatus::InProgress,
                None,
                StatusSource::Answer,
                secs(1),
            )
            .await
            .unwrap()
        else {
            panic!("expected Applied")
        };
        s.add_call_turn("CA1", &turn).await.unwrap();
        s.set_pending_answer("CA1", &held).await.unwrap();
        let mut over = new_call("CA2", CallStatus::Ringing, true, secs(2));
        over.note = Some("over the limit".into());
        assert!(matches!(
            s.begin_call(&over, Some(1)).await.unwrap(),
            BeginOutcome::Full { live: 1, .. }
        ));
        assert_eq!(
            s.update_call_status(
                "CA404",
                CallStatus::Completed,
                Some(9),
                StatusSource::Callback,
                secs(4)
            )
            .await
            .unwrap(),
            CallStatusOutcome::Unknown
        );
        s.call("CA1").await.unwrap().unwrap()
        // Dropped without close.
    };

    let s = open(&path).await;
    let live = s.live_sessions().await.unwrap();
    assert_eq!(live, std::slice::from_ref(&before));
    assert_eq!(live[0].status, CallStatus::InProgress);
    assert_eq!(live[0].answered_at, Some(secs(1)));
    assert_eq!(
        live[0].history,
        [
            CallStatusChange {
                status: CallStatus::Ringing,
                at: t0(),
                source: StatusSource::Webhook,
            },
            CallStatusChange {
                status: CallStatus::InProgress,
                at: secs(1),
                source: StatusSource::Answer,
            },
        ]
    );
    assert_eq!(live[0].transcript, [turn]);
    let refused = s.call("CA2").await.unwrap().unwrap();
    assert!(!refused.session);
    assert_eq!(refused.note.as_deref(), Some("over the limit"));
    assert_eq!(
        s.orphan_call_statuses(0).await.unwrap(),
        [OrphanCallStatus {
            call_id: "CA404".into(),
            status: CallStatus::Completed,
            at: secs(4),
        }]
    );
    // The reopened store still counts the session.
    assert!(matches!(
        s.begin_call(
            &new_call("CA3", CallStatus::Ringing, true, secs(5)),
            Some(1)
        )
        .await
        .unwrap(),
        BeginOutcome::Full { live: 1, .. }
    ));
    assert_eq!(s.take_pending_answer("CA1").await.unwrap(), Some(held));
    assert_eq!(s.take_pending_answer("CA1").await.unwrap(), None);
    assert_eq!(s.calls(&CallQuery::default()).await.unwrap().len(), 3);
}

/// The session limit holds when begin_call races on two connections (two stores on one
/// file), and a pending answer is taken by exactly one of many concurrent takers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_holds_across_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let a = Arc::new(open(&path).await);
    let b = Arc::new(open(&path).await);
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let call = new_call(&format!("CA{i:02}"), CallStatus::Ringing, true, secs(i));
                s.begin_call(&call, Some(3)).await.unwrap()
            })
        })
        .collect();
    let mut started = 0;
    for t in tasks {
        match t.await.unwrap() {
            BeginOutcome::Started(_) => started += 1,
            BeginOutcome::Full { live, .. } => assert_eq!(live, 3),
            BeginOutcome::Existing(r) => panic!("no id was begun twice, got {r:?}"),
        }
    }
    assert_eq!(started, 3);
    assert_eq!(a.live_sessions().await.unwrap().len(), 3);
    assert_eq!(b.live_sessions().await.unwrap().len(), 3);

    let answer = PendingAnswer {
        content_type: "text/xml".into(),
        body: "<Response/>".into(),
    };
    let live = a.live_sessions().await.unwrap();
    a.set_pending_answer(&live[0].call_id, &answer)
        .await
        .unwrap();
    let takers: Vec<_> = (0..10)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = live[0].call_id.clone();
            tokio::spawn(async move { s.take_pending_answer(&id).await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for t in takers {
        got.extend(t.await.unwrap());
    }
    assert_eq!(got, [answer]);
}

/// Counting and listing live sessions goes through the `calls_live` partial index.
#[tokio::test]
async fn live_sessions_are_found_through_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let _s = open(&path).await;
    let mut conn = raw(&path).await;
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM calls \
         WHERE session = 1 AND status IN ('queued', 'ringing', 'in-progress')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let details: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
    assert!(
        details.iter().any(|d| d.contains("calls_live")),
        "{details:?}"
    );
}

/// A call row that no longer decodes is reported with its column.
#[tokio::test]
async fn corrupt_call_rows_are_reported_with_their_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    s.begin_call(&new_call("CA1", CallStatus::Ringing, true, t0()), None)
        .await
        .unwrap();
    corrupt(&path, "UPDATE call_history SET source = 'carrier pigeon'").await;
    assert_eq!(
        corrupt_column(s.call("CA1").await.unwrap_err()),
        "call_history.source"
    );
    corrupt(&path, "UPDATE call_history SET source = 'webhook'").await;
    corrupt(&path, "UPDATE calls SET status = 'ringin'").await;
    assert_eq!(
        corrupt_column(s.calls(&CallQuery::default()).await.unwrap_err()),
        "calls.status"
    );
    // A status update cannot be applied to a call it cannot read, and changes nothing.
    assert_eq!(
        corrupt_column(
            s.update_call_status(
                "CA1",
                CallStatus::Completed,
                None,
                StatusSource::Callback,
                secs(1)
            )
            .await
            .unwrap_err()
        ),
        "calls.status"
    );
    corrupt(
        &path,
        "UPDATE calls SET status = 'ringing', direction = 'sideways'",
    )
    .await;
    assert_eq!(
        corrupt_column(s.live_sessions().await.unwrap_err()),
        "calls.direction"
    );
    corrupt(&path, "UPDATE calls SET direction = 'inbound'").await;
    let call = s.call("CA1").await.unwrap().unwrap();
    assert_eq!(call.status, CallStatus::Ringing);
    assert_eq!(call.history.len(), 1);
}

/// The first-contact check reads the per-sender counts the inbox's triggers keep (migration
/// 16): a message counts once (a duplicate not at all), erasing a number takes its count
/// away, and pruning leaves its sender known (as an approved contact).
#[tokio::test]
async fn inbox_sender_counts_follow_inserts_erasure_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    let a = "+15550000101";
    let b = "whatsapp:+15550000102";
    for (i, (sid, from)) in [("SMa1", a), ("SMa2", a), ("SMb1", b), ("SMa1", a)]
        .into_iter()
        .enumerate()
    {
        // Accepted: a queued message is still in use and never pruned.
        s.insert_inbound_in_state(
            &inbound(sid, from, "hi", i as i64),
            InboxState::Accepted,
            None,
        )
        .await
        .unwrap();
    }
    let counts = |path: PathBuf| async move {
        let mut conn = raw(&path).await;
        sqlx::query_as::<_, (String, i64)>(
            "SELECT sender, messages FROM inbox_senders ORDER BY sender",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
    };
    assert_eq!(
        counts(path.clone()).await,
        [(a.to_string(), 2), (b.to_string(), 1)]
    );
    assert!(s.is_known_contact(&number(a)).await.unwrap());
    assert!(s.is_known_contact(&number("+15550000102")).await.unwrap());

    s.forget(&number(a)).await.unwrap();
    assert_eq!(counts(path.clone()).await, [(b.to_string(), 1)]);
    assert!(!s.is_known_contact(&number(a)).await.unwrap());

    let pruned = s
        .prune_batch(
            telephony_core::store::PruneKind::Messages,
            t0() + Duration::from_secs(60),
            10,
        )
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(counts(path.clone()).await, []);
    assert!(s.is_known_contact(&number("+15550000102")).await.unwrap());
    s.close().await;
}

/// Gated messages that arrive together are decided in their batch from one read: each
/// sender's own state (approved, waiting, or a stranger while every slot is taken),
/// whatever else the batch holds, and each caller is told its own state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gated_messages_in_one_batch_are_each_decided_by_their_own_senders_state() {
    use telephony_core::store::{ApprovalGate, Unapproved, insert_inbound_gated};
    use telephony_core::{PairingLimits, PhoneNumber};
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&db_path(&dir)).await);
    let num = |n: &str| PhoneNumber::parse(n).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let limits = PairingLimits {
        ttl: Duration::from_secs(3600),
        max_pending: 1,
        max_per_hour: 10,
    };
    s.pairing_request(&num("+15550000001"), "APPR0001", &limits, now)
        .await
        .unwrap();
    s.resolve_pairing("APPR0001", true, now).await.unwrap();
    s.pairing_request(&num("+15550000002"), "WAIT0002", &limits, now)
        .await
        .unwrap();
    let pair = Arc::new(Unapproved::Pair {
        max_pending: 1,
        max_per_hour: 10,
        waiting: "waiting".into(),
        limited: "limited".into(),
    });
    let senders = ["+15550000001", "+15550000002", "+15550000003"];
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = s.clone();
        let from = senders[i % 3];
        let gate = ApprovalGate {
            sender: num(from),
            unapproved: pair.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let m = inbound(&format!("SMgate{i}"), from, "x", 1);
            let got = insert_inbound_gated(store.as_ref(), &m, &gate)
                .await
                .unwrap();
            (from, got)
        }));
    }
    let mut seen = std::collections::BTreeMap::new();
    for t in tasks {
        let (from, got) = t.await.unwrap();
        *seen.entry((from, format!("{got:?}"))).or_insert(0) += 1;
    }
    let expected: std::collections::BTreeMap<_, _> = [
        (("+15550000001", "(Inserted, Queued)".to_string()), 20),
        (
            ("+15550000002", "(Inserted, PendingPairing)".to_string()),
            20,
        ),
        (("+15550000003", "(Inserted, Dropped)".to_string()), 20),
    ]
    .into_iter()
    .collect();
    assert_eq!(seen, expected);
    let inbox = s
        .inbox(&InboxQuery {
            limit: 100,
            ..InboxQuery::default()
        })
        .await
        .unwrap();
    let mut states = std::collections::BTreeMap::new();
    for e in &inbox {
        *states
            .entry((e.message.from.clone(), e.state.as_str(), e.note.clone()))
            .or_insert(0) += 1;
    }
    assert_eq!(
        states.into_iter().collect::<Vec<_>>(),
        [
            (("+15550000001".to_string(), "queued", None), 20),
            (
                (
                    "+15550000002".to_string(),
                    "pending_pairing",
                    Some("waiting".to_string())
                ),
                20
            ),
            (
                (
                    "+15550000003".to_string(),
                    "dropped",
                    Some("limited".to_string())
                ),
                20
            ),
        ]
    );
}

/// A message's `message.received` event as the gateway makes it: encoded once, its id
/// `evt_<message id>`.
fn received_event(msg: &telephony_core::InboundMessage, at: OffsetDateTime) -> ForwardEvent {
    let id = format!("evt_{}", msg.id);
    let text =
        serde_json::json!({"id": id, "type": "message.received", "data": {"from": msg.from}});
    ForwardEvent {
        id,
        kind: "message.received".into(),
        payload: serde_json::Value::Null,
        created_at: at,
        attempts: 0,
        last_error: None,
        encoded: Some(text.to_string().into()),
    }
}

async fn insert_forwarded(
    s: &SqliteStore,
    sid: &str,
    from: &str,
) -> telephony_core::InboundMessage {
    let msg = inbound(sid, from, "hi", 0);
    let out = s
        .insert_inbound_forwarded(&msg, InboxState::Accepted, &received_event(&msg, t0()))
        .await
        .unwrap();
    assert_eq!(out, InsertOutcome::Inserted);
    msg
}

async fn count(path: &Path, sql: &str) -> i64 {
    let mut conn = raw(path).await;
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

#[tokio::test]
async fn received_events_are_their_inbox_rows_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let s = open(&path).await;
        for (sid, from) in [
            ("SM1", "+15550000001"),
            ("SM2", "+15550000002"),
            ("SM3", "+15550000001"),
        ] {
            insert_forwarded(&s, sid, from).await;
        }
        // In memory, as given: the encoded body, nothing decoded.
        let claimed = s.claim_forwards(t0(), LEASE, 10).await.unwrap();
        let ids: Vec<&str> = claimed.iter().map(|c| c.event.id.as_str()).collect();
        assert_eq!(ids, ["evt_msg_in_SM1", "evt_msg_in_SM2", "evt_msg_in_SM3"]);
        assert_eq!(claimed[0].event.payload, serde_json::Value::Null);
        assert_eq!(
            claimed[0].event.encoded.as_deref(),
            Some(
                r#"{"data":{"from":"+15550000001"},"id":"evt_msg_in_SM1","type":"message.received"}"#
            )
        );
        // Only SM2's is delivered; the process then stops without recording the others.
        let outcome = ForwardOutcome {
            id: "evt_msg_in_SM2".into(),
            lease: claimed[1].lease,
            result: ForwardResult::Delivered,
        };
        assert!(
            s.record_forwards(&[outcome], secs(1))
                .await
                .unwrap()
                .is_empty()
        );
        s.close().await;
    }
    // Nothing was copied into `forwards`; the cursor is below the oldest unsettled event.
    assert_eq!(count(&path, "SELECT COUNT(*) FROM forwards").await, 0);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM inbox WHERE forward_at IS NOT NULL"
        )
        .await,
        3
    );
    assert_eq!(count(&path, "SELECT seq FROM forward_cursor").await, 0);
    assert_eq!(
        count(&path, "SELECT delivered FROM forward_cursor").await,
        1
    );

    let s = open(&path).await;
    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 2,
            failing: 0,
            delivered: 1,
            last_error: None
        }
    );
    // Read back from the rows, in the shape an earlier version stored, times in ms.
    let claimed = s.claim_forwards(secs(2), LEASE, 10).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|c| c.event.id.as_str()).collect();
    assert_eq!(ids, ["evt_msg_in_SM1", "evt_msg_in_SM3"]);
    let p = &claimed[0].event.payload;
    assert_eq!(claimed[0].event.encoded, None);
    assert_eq!(
        (
            p["id"].as_str(),
            p["type"].as_str(),
            p["createdAt"].as_str()
        ),
        (
            Some("evt_msg_in_SM1"),
            Some("message.received"),
            Some("2026-01-02T03:04:05Z")
        )
    );
    assert_eq!(
        p["data"],
        serde_json::to_value(inbound("SM1", "+15550000001", "hi", 0)).unwrap()
    );
    let done: Vec<ForwardOutcome> = claimed
        .iter()
        .map(|c| ForwardOutcome {
            id: c.event.id.clone(),
            lease: c.lease,
            result: ForwardResult::Delivered,
        })
        .collect();
    assert!(s.record_forwards(&done, secs(3)).await.unwrap().is_empty());
    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 0,
            failing: 0,
            delivered: 3,
            last_error: None
        }
    );
    // A late outcome for a delivered event is told apart from an unknown id.
    assert!(matches!(
        s.complete_forward("evt_msg_in_SM1", claimed[0].lease, secs(3)).await,
        Err(StoreError::LeaseLost { ref id }) if id == "evt_msg_in_SM1"
    ));
    assert!(matches!(
        s.complete_forward("evt_msg_in_SM9", claimed[0].lease, secs(3))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    s.close().await;
    assert_eq!(count(&path, "SELECT seq FROM forward_cursor").await, 3);
    let s = open(&path).await;
    assert!(
        s.claim_forwards(secs(4), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_received_event_moves_to_the_table_and_is_retried_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    insert_forwarded(&s, "SM1", "+15550000001").await;
    insert_forwarded(&s, "SM2", "+15550000001").await;
    let claimed = s.claim_forwards(t0(), LEASE, 10).await.unwrap();
    let outcomes = [
        ForwardOutcome {
            id: "evt_msg_in_SM1".into(),
            lease: claimed[0].lease,
            result: ForwardResult::Retry {
                error: "HTTP 503".into(),
                at: secs(5),
            },
        },
        // Held back behind it, untried.
        ForwardOutcome {
            id: "evt_msg_in_SM2".into(),
            lease: claimed[1].lease,
            result: ForwardResult::Release { at: secs(5) },
        },
    ];
    assert!(
        s.record_forwards(&outcomes, secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    s.close().await;
    let mut conn = raw(&path).await;
    let rows: Vec<(String, i64, Option<String>, i64, String)> = sqlx::query_as(
        "SELECT id, attempts, last_error, next_attempt_at, payload_json FROM forwards ORDER BY rowid",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let due = secs(5).unix_timestamp() * 1000;
    assert_eq!(
        rows,
        [
            (
                "evt_msg_in_SM1".to_string(),
                1,
                Some("HTTP 503".to_string()),
                due,
                r#"{"data":{"from":"+15550000001"},"id":"evt_msg_in_SM1","type":"message.received"}"#.to_string()
            ),
            (
                "evt_msg_in_SM2".to_string(),
                0,
                None,
                due,
                r#"{"data":{"from":"+15550000001"},"id":"evt_msg_in_SM2","type":"message.received"}"#.to_string()
            ),
        ]
    );
    drop(conn);
    assert_eq!(count(&path, "SELECT seq FROM forward_cursor").await, 2);
    let s = open(&path).await;
    assert!(
        s.claim_forwards(secs(4), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s.claim_forwards(secs(5), LEASE, 10).await.unwrap();
    let got: Vec<(&str, u32)> = again
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts))
        .collect();
    assert_eq!(got, [("evt_msg_in_SM1", 1), ("evt_msg_in_SM2", 0)]);
}

#[tokio::test]
async fn erasing_a_number_takes_its_undelivered_received_events_and_a_reused_rowid_is_not_skipped()
{
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let s = open(&path).await;
    insert_forwarded(&s, "SM1", "+15550000001").await;
    let claimed = s.claim_forwards(t0(), LEASE, 10).await.unwrap();
    let delivered = ForwardOutcome {
        id: claimed[0].event.id.clone(),
        lease: claimed[0].lease,
        result: ForwardResult::Delivered,
    };
    assert!(
        s.record_forwards(&[delivered], secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    insert_forwarded(&s, "SM2", "+15550000002").await;
    // Erasing +15550000002 takes its pending event; erasing +15550000001 then deletes the
    // row with the largest rowid left, whose event was delivered: the cursor comes down.
    let report = s.forget(&number("+15550000002")).await.unwrap();
    assert_eq!((report.inbound_messages, report.forward_events), (1, 1));
    assert!(
        s.claim_forwards(secs(2), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let report = s.forget(&number("+15550000001")).await.unwrap();
    assert_eq!((report.inbound_messages, report.forward_events), (1, 0));
    assert_eq!(count(&path, "SELECT seq FROM forward_cursor").await, 0);
    // The next message takes rowid 1 again; after a restart its event is still found.
    insert_forwarded(&s, "SM3", "+15550000003").await;
    assert_eq!(
        count(
            &path,
            "SELECT rowid FROM inbox WHERE provider_sid IS NOT NULL"
        )
        .await,
        1
    );
    s.close().await;
    let s = open(&path).await;
    let claimed = s.claim_forwards(secs(3), LEASE, 10).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|c| c.event.id.as_str()).collect();
    assert_eq!(ids, ["evt_msg_in_SM3"]);
}
