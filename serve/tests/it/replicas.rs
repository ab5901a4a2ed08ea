//! Two gateways (two replicas) on one PostgreSQL schema: a call's webhooks and its status
//! callbacks may reach either, the session limit counts both, the heartbeats list both,
//! the metrics name each. Needs `TELEPHONY_TEST_POSTGRES` (see the store crate's tests);
//! without it the tests skip with a message, or fail when `CI` is set.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use telephony_core::store::StatusSource;
use telephony_core::store::prelude::*;
use telephony_core::voice::CallStatus;
use telephony_core::{AllowList, InboundPolicy};
use telephony_serve::{Gateway, VoiceSettings};
use telephony_store::{PostgresOptions, PostgresStore};

use crate::voice::{FRIEND, PUBLIC, Scripted, XML, greeting_twiml, ring, status_callback};

fn server_url() -> Option<String> {
    match std::env::var("TELEPHONY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("TELEPHONY_TEST_POSTGRES is not set, and CI must run the PostgreSQL tests")
        }
        _ => {
            eprintln!("skipped: TELEPHONY_TEST_POSTGRES is not set");
            None
        }
    }
}

fn unique_schema() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("test_serve_{:016x}", h.finish())
}

/// Drops the schema when dropped (also when the test panics).
struct DropSchema(String, String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.0.clone(), self.1.clone());
        let done = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&url).await?;
                    sqlx::query("SET lock_timeout = '10s'")
                        .execute(&mut conn)
                        .await?;
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.1);
        }
    }
}

struct Replica {
    gw: Gateway,
    store: PostgresStore,
}

/// Two replicas of one gateway: each its own store (pool) on one schema, its own provider
/// client, its own id; voice on with at most `max` sessions.
async fn two_replicas(max: usize) -> Option<(Replica, Replica, DropSchema)> {
    let url = server_url()?;
    let schema = unique_schema();
    let guard = DropSchema(url.clone(), schema.clone());
    let mut replicas = Vec::new();
    for id in ["replica-a", "replica-b"] {
        let store = PostgresStore::connect_with(
            &url,
            PostgresOptions::default()
                .schema(&schema)
                .max_connections(4),
        )
        .await
        .expect("open the store");
        let allow = AllowList::parse(&[FRIEND.to_string()]).unwrap();
        let gw = Gateway::builder(Arc::new(Scripted::new()), Arc::new(store.clone()))
            .public_url(PUBLIC)
            .inbound_policy(InboundPolicy::Pairing, allow)
            .voice(VoiceSettings::enabled().max_concurrent_sessions(Some(max)))
            .replica_id(id)
            .build();
        replicas.push(Replica { gw, store });
    }
    let b = replicas.pop().unwrap();
    let a = replicas.pop().unwrap();
    Some((a, b, guard))
}

const CALL_1: &str = "CA00000000000000000000000000000001";
const CALL_2: &str = "CA00000000000000000000000000000002";
const CALL_3: &str = "CA00000000000000000000000000000003";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_answered_on_one_replica_is_ended_by_a_status_callback_on_the_other() {
    let Some((a, b, _guard)) = two_replicas(1).await else {
        return;
    };
    // The call's webhook reaches replica A: answered, one session live, seen by both.
    assert_eq!(ring(&a.gw, CALL_1, FRIEND).await, greeting_twiml(CALL_1));
    assert_eq!(a.store.live_sessions().await.unwrap().len(), 1);
    assert_eq!(b.store.live_sessions().await.unwrap().len(), 1);

    // A second call reaching replica B finds the one slot taken (the limit is shared).
    let busy = ring(&b.gw, CALL_2, FRIEND).await;
    assert_eq!(
        busy,
        format!(
            "{XML}<Response><Say>All our lines are busy right now. Please call again later.</Say><Hangup/></Response>"
        )
    );

    // The first call's completion reaches replica B: the session ends, on both.
    assert_eq!(
        status_callback(&b.gw, CALL_1, "completed", "17").await,
        StatusCode::OK
    );
    assert!(a.store.live_sessions().await.unwrap().is_empty());
    assert!(b.store.live_sessions().await.unwrap().is_empty());
    let rec = a.store.call(CALL_1).await.unwrap().unwrap();
    assert_eq!(rec.status, CallStatus::Completed);
    assert_eq!(rec.duration_secs, Some(17));
    assert_eq!(
        rec.history
            .iter()
            .map(|h| (h.status, h.source))
            .collect::<Vec<_>>(),
        [
            (CallStatus::InProgress, StatusSource::Answer),
            (CallStatus::Completed, StatusSource::Callback)
        ]
    );
    // The slot is free for the next caller, on either replica.
    assert_eq!(ring(&a.gw, CALL_3, FRIEND).await, greeting_twiml(CALL_3));

    // Each replica's metrics name it; the gauges are the shared store's.
    for (r, id) in [(&a, "replica-a"), (&b, "replica-b")] {
        let text = r.gw.metrics_text().await.unwrap();
        assert!(
            text.contains(&format!(
                "\ntelephony_live_sessions{{replica=\"{id}\",account=\"default\"}} 1\n"
            )),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_beat_lead_the_reaper_one_at_a_time_and_leave_on_shutdown() {
    let Some((a, b, _guard)) = two_replicas(5).await else {
        return;
    };
    let workers_a = a.gw.spawn_workers();
    let workers_b = b.gw.spawn_workers();
    let ids = |list: Vec<telephony_core::store::ReplicaBeat>| {
        list.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    // Each beats at once on start.
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = ids(a.gw.replicas().await.unwrap());
        if listed.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(listed, ["replica-a", "replica-b"]);
    let listed = b.gw.replicas().await.unwrap();
    let me = &listed[1];
    assert_eq!(
        (me.pid, me.accounts.as_slice()),
        (std::process::id(), ["default".to_string()].as_slice())
    );

    // One of them leads the voice reaper: a third contender is refused. (Until a replica
    // took it, a probe may take the free lease, for a millisecond.)
    let mut led = false;
    for i in 0..100 {
        let now = time::OffsetDateTime::now_utc();
        if !a
            .store
            .try_lead(
                "voice-reaper",
                &format!("probe-{i}"),
                now,
                Duration::from_millis(1),
            )
            .await
            .unwrap()
        {
            led = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(led, "a replica holds the reaper's lease");

    // A replica that stops cleanly leaves the list at once.
    workers_a.shutdown().await;
    assert_eq!(ids(b.gw.replicas().await.unwrap()), ["replica-b"]);
    workers_b.shutdown().await;
    assert!(a.gw.replicas().await.unwrap().is_empty());
}
