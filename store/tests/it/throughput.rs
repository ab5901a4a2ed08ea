//! Inbound throughput under concurrency (ignored by default; it measures, it does not assert
//! on time). Run it optimized, the way the gateway ships:
//!
//! ```text
//! cargo test -p telephony-store --release --test it throughput -- --ignored --nocapture
//! ```
//!
//! Set `TELEPHONY_BENCH_SYNC_FULL=1` to measure with `synchronous=FULL` (an fsync per commit).

use std::sync::Arc;
use std::time::{Duration, Instant};

use telephony_core::store::prelude::*;
use telephony_core::store_suite::inbound;
use telephony_core::{InboxQuery, InsertOutcome};
use telephony_store::{SqliteOptions, SqliteStore};

const TASKS: usize = 64;
const MESSAGES: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
async fn inbound_inserts_per_second_with_64_concurrent_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let sync_full = std::env::var_os("TELEPHONY_BENCH_SYNC_FULL").is_some_and(|v| v == "1");
    let opts = SqliteOptions::default().synchronous_full(sync_full);
    let store = Arc::new(
        SqliteStore::open_with(dir.path().join("telephony.db"), opts)
            .await
            .unwrap(),
    );
    let body = "Hi! Is the appointment on Thursday still on? Reply YES to confirm or call us back.";
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(MESSAGES / TASKS + 1);
                for i in (t..MESSAGES).step_by(TASKS) {
                    let m = inbound(&format!("SM{i:032x}"), "+15557654321", body, 0);
                    let t = Instant::now();
                    let outcome = store.insert_inbound(&m).await.unwrap();
                    latencies.push(t.elapsed());
                    assert_eq!(outcome, InsertOutcome::Inserted);
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::with_capacity(MESSAGES);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "synchronous={}: {MESSAGES} inbound inserts from {TASKS} tasks in {elapsed:.2?}: \
         {:.0} inserts/s; \
         latency p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        if sync_full { "FULL" } else { "NORMAL" },
        MESSAGES as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies[latencies.len() - 1],
    );
    let stored = store
        .inbox(&InboxQuery {
            since: None,
            limit: MESSAGES,
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), MESSAGES);
}
