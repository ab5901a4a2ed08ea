//! Health cases ([`HealthStore`]): a fresh store reports no errors and no write failure,
//! its write probe commits, and its size (when it has one on disk) grows with what it
//! stores. How a backend counts and recovers from real failures (a full disk, a server
//! gone) needs that backend's own means to cause them: each tests it itself.

use super::*;
use crate::store::{HealthStore, StoreErrorKind};

/// A fresh store: no error of any kind, no write failure; the probe commits (twice, so it
/// leaves nothing behind that stops the next one), and a store that tracks commits
/// reports the probe's.
pub async fn a_fresh_store_is_healthy_and_its_probe_commits<S: HealthStore + ?Sized>(s: &S) {
    let h = s.health();
    assert_eq!(h.write_failure, None);
    for kind in StoreErrorKind::ALL {
        assert_eq!(h.errors_of(kind), 0, "{kind}");
    }
    let before = OffsetDateTime::now_utc() - Duration::from_secs(1);
    s.probe_write().await.unwrap();
    s.probe_write().await.unwrap();
    let after = OffsetDateTime::now_utc() + Duration::from_secs(1);
    let h = s.health();
    assert_eq!(h.write_failure, None);
    assert_eq!(h.errors.values().sum::<u64>(), 0, "{:?}", h.errors);
    if let Some(at) = h.last_commit {
        assert!(before <= at && at <= after, "{at} not within the probes");
    }
}

/// A store on disk reports a size above zero that grows as messages are stored; a store
/// in memory reports none.
pub async fn size_grows_with_what_is_stored<S: HealthStore + InboxStore + ?Sized>(s: &S) {
    let Some(before) = s.size_bytes().await.unwrap() else {
        return;
    };
    assert!(before > 0, "an open store takes some bytes");
    let body = "x".repeat(1000);
    for i in 0..200 {
        let m = inbound(&format!("SMsize{i:028}"), "+15557654321", &body, i);
        assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
    }
    let after = s.size_bytes().await.unwrap().unwrap();
    assert!(
        after >= before + 200 * 1000,
        "200 messages of 1000 bytes took {} bytes ({before} → {after})",
        after.saturating_sub(before)
    );
}
