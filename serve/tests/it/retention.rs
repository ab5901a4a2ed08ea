//! The retention pruner of `spawn_workers`: old records go in the background, on one
//! replica at a time, counted in `telephony_pruned_total{kind}`; without a retention
//! policy nothing is ever deleted.

use std::sync::Arc;
use std::time::Duration;

use telephony_core::store::prelude::*;
use telephony_core::store::{PruneKind, RetentionPolicy};
use telephony_core::store_suite::inbound;
use telephony_core::{InboxQuery, InboxState, MemoryStore, Store, StubProvider};
use telephony_serve::Gateway;
use time::OffsetDateTime;

const DAY: Duration = Duration::from_secs(86_400);

/// `n` accepted messages received `age` ago.
async fn messages(store: &MemoryStore, prefix: &str, n: usize, age: Duration) {
    for i in 0..n {
        let mut m = inbound(&format!("{prefix}{i}"), "+15557654321", "hi", 0);
        m.received_at = OffsetDateTime::now_utc() - age;
        store
            .insert_inbound_in_state(&m, InboxState::Accepted, None)
            .await
            .unwrap();
    }
}

fn replica(store: &Arc<MemoryStore>, id: &str, policy: RetentionPolicy) -> Gateway {
    Gateway::builder(
        Arc::new(StubProvider::new_ok()),
        store.clone() as Arc<dyn Store>,
    )
    .replica_id(id)
    .retention(policy)
    .retention_interval(Duration::from_millis(50))
    .build()
}

async fn inbox_len(store: &MemoryStore) -> usize {
    store
        .inbox(&InboxQuery {
            since: None,
            limit: 100_000,
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn one_replica_prunes_old_messages_in_batches_and_counts_them() {
    let store = Arc::new(MemoryStore::new());
    messages(&store, "SMold", 1203, 2 * DAY).await;
    messages(&store, "SMnew", 1, Duration::from_secs(60)).await;
    let policy = RetentionPolicy::keep_everything().with(PruneKind::Messages, Some(DAY));
    let (a, b) = (
        replica(&store, "gw-a", policy),
        replica(&store, "gw-b", policy),
    );
    let (wa, wb) = (a.spawn_workers(), b.spawn_workers());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while inbox_len(&store).await > 1 {
        assert!(tokio::time::Instant::now() < deadline, "not pruned in 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the other replica tick a few times: it must not prune (the lease is taken).
    tokio::time::sleep(Duration::from_millis(300)).await;
    wa.shutdown().await;
    wb.shutdown().await;

    let pruned = |g: &Gateway| {
        g.metrics()
            .get("telephony_pruned_total", &[("kind", "messages")])
    };
    let (by_a, by_b) = (pruned(&a), pruned(&b));
    assert_eq!(by_a + by_b, 1203, "a {by_a}, b {by_b}");
    assert!(by_a == 0 || by_b == 0, "both pruned: a {by_a}, b {by_b}");
    let leader = if by_a > 0 { &a } else { &b };
    let text = leader.metrics_text().await.unwrap();
    assert!(
        text.contains(&format!(
            "telephony_pruned_total{{replica=\"{}\",account=\"default\",kind=\"messages\"}} 1203\n",
            leader.replica_id()
        )),
        "{text}"
    );
    let left = store.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(left[0].message.provider_sid, "SMnew0");
}

#[tokio::test]
async fn without_retention_nothing_is_pruned() {
    let store = Arc::new(MemoryStore::new());
    messages(&store, "SMold", 3, 3650 * DAY).await;
    let gw = replica(&store, "gw-a", RetentionPolicy::default());
    assert_eq!(gw.retention().describe(), "keep everything");
    let workers = gw.spawn_workers();
    tokio::time::sleep(Duration::from_millis(300)).await;
    workers.shutdown().await;
    assert_eq!(inbox_len(&store).await, 3);
    assert_eq!(
        gw.metrics()
            .get("telephony_pruned_total", &[("kind", "messages")]),
        0
    );
}
