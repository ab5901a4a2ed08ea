//! What several connections (as several gateway replicas would) sharing one PostgreSQL
//! database must get right, what separate schemas must keep apart, and how connection
//! failures read.

use std::collections::HashSet;
use std::time::Duration;

use std::num::NonZeroU32;
use telephony_core::store::prelude::*;
use telephony_core::store_suite::{inbound, t0};

use telephony_core::{
    Address, ForwardEvent, InboxQuery, InsertOutcome, MessageId, OutboundMessage, SendRate,
    StoreError,
};
use telephony_store::{PostgresOptions, PostgresStore};

use super::{DropSchema, options, server_url, unique_schema};

/// Two stores (two pools, like two replicas) on one fresh schema.
async fn two_replicas() -> Option<(PostgresStore, PostgresStore, DropSchema)> {
    let url = server_url()?;
    let schema = unique_schema();
    let guard = DropSchema::new(&url, &schema);
    let a = PostgresStore::connect_with(&url, options(&schema))
        .await
        .expect("open replica a");
    let b = PostgresStore::connect_with(&url, options(&schema))
        .await
        .expect("open replica b");
    Some((a, b, guard))
}

fn outbound(i: usize) -> OutboundMessage {
    OutboundMessage::new(
        Address::parse(&format!("+1555000{:04}", i % 7)).unwrap(),
        format!("message {i}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claim_disjoint_outbox_rows() {
    let Some((a, b, _guard)) = two_replicas().await else {
        return;
    };
    let now = t0();
    let mut all = HashSet::new();
    for i in 0..60 {
        let id = MessageId::generate();
        a.enqueue_outbound(&id, &outbound(i), now).await.unwrap();
        all.insert(id);
    }
    // Both replicas claim in small batches, at the same time, until nothing is left.
    let drain = |store: PostgresStore| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_outbound(now, Duration::from_secs(60), 4)
                    .await
                    .unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|item| item.id));
                tokio::task::yield_now().await;
            }
        })
    };
    let (from_a, from_b) = tokio::join!(drain(a.clone()), drain(b.clone()));
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    let set_a: HashSet<_> = from_a.iter().cloned().collect();
    let set_b: HashSet<_> = from_b.iter().cloned().collect();
    assert_eq!(set_a.len(), from_a.len(), "replica a claimed a row twice");
    assert_eq!(set_b.len(), from_b.len(), "replica b claimed a row twice");
    assert!(
        set_a.is_disjoint(&set_b),
        "a row was claimed by both replicas"
    );
    assert_eq!(&set_a | &set_b, all, "every row was claimed once");

    // Leases hold: nothing is claimable until they expire, then everything is again.
    assert!(
        b.claim_outbound(now + Duration::from_secs(59), Duration::from_secs(60), 100)
            .await
            .unwrap()
            .is_empty()
    );
    let again = a
        .claim_outbound(now + Duration::from_secs(61), Duration::from_secs(60), 100)
        .await
        .unwrap();
    assert_eq!(again.len(), all.len());
    assert!(again.iter().all(|item| item.attempts == 1));
}

/// Two replicas booking one sender's slots at once, in batches, get disjoint slots that
/// together follow the rate exactly: never more than the burst plus one per interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_senders_send_slots() {
    let Some((a, b, _guard)) = two_replicas().await else {
        return;
    };
    let rate = SendRate::new(Duration::from_millis(10), NonZeroU32::new(3).unwrap());
    let now = t0();
    let book = |store: PostgresStore| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..20 {
                mine.extend(
                    store
                        .reserve_send_slots("+15550001234", rate, 5, now)
                        .await
                        .unwrap(),
                );
                tokio::task::yield_now().await;
            }
            mine
        })
    };
    let (from_a, from_b) = tokio::join!(book(a.clone()), book(b.clone()));
    let mut all: Vec<_> = from_a.unwrap().into_iter().chain(from_b.unwrap()).collect();
    all.sort();
    let offsets: Vec<i128> = all
        .iter()
        .map(|t| (*t - now).whole_milliseconds())
        .collect();
    // 200 slots: three at once (the burst), then one every 10 ms, whichever replica
    // booked them.
    let expected: Vec<i128> = (0..200).map(|i: i128| (i - 2).max(0) * 10).collect();
    assert_eq!(offsets, expected);
    // Another sender is booked on its own.
    let other = a.reserve_send_slots("MG0001", rate, 1, now).await.unwrap();
    assert_eq!(other, [now]);
    // The next free time is in the database: either replica continues after it.
    let next = b
        .reserve_send_slots("+15550001234", rate, 1, now)
        .await
        .unwrap();
    assert_eq!((next[0] - now).whole_milliseconds(), 1_980);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claim_disjoint_forward_events() {
    let Some((a, b, _guard)) = two_replicas().await else {
        return;
    };
    let now = t0();
    for i in 0..40 {
        let event = ForwardEvent {
            id: format!("evt_{i}"),
            kind: "message.received".into(),
            payload: serde_json::json!({ "n": i }),
            created_at: now,
            attempts: 0,
            last_error: None,
            encoded: None,
        };
        a.enqueue_forward(&event).await.unwrap();
    }
    let (ca, cb) = tokio::join!(
        a.claim_forwards(now, Duration::from_secs(60), 25),
        b.claim_forwards(now, Duration::from_secs(60), 25)
    );
    let ids_a: HashSet<String> = ca.unwrap().into_iter().map(|c| c.event.id).collect();
    let ids_b: HashSet<String> = cb.unwrap().into_iter().map(|c| c.event.id).collect();
    assert!(ids_a.is_disjoint(&ids_b));
    assert_eq!(ids_a.len() + ids_b.len(), 40);
}

/// Two replicas dispatching one inbox at the same time: no message twice, never one
/// sender's messages on both at once, each sender's messages in arrival order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_claim_inbound_apart_by_sender() {
    let Some((a, b, _guard)) = two_replicas().await else {
        return;
    };
    telephony_core::store_suite::inbox::claim_race(vec![
        std::sync::Arc::new(a.clone()),
        std::sync::Arc::new(b.clone()),
        std::sync::Arc::new(a),
        std::sync::Arc::new(b),
    ])
    .await;
}

/// A replica whose lease ran out cannot record an outcome once the other replica claimed
/// the message again, nor complete a forward event the other one claimed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_its_lease_changes_nothing() {
    use telephony_core::store::{DispatchOutcome, DispatchResult};
    let Some((a, b, _guard)) = two_replicas().await else {
        return;
    };
    let lease = Duration::from_secs(30);
    a.insert_inbound(&inbound("SMlease1", "+15557654321", "hi", 0))
        .await
        .unwrap();
    let old = a.claim_inbound(t0(), lease, 10).await.unwrap();
    let new = b.claim_inbound(t0() + lease, lease, 10).await.unwrap();
    assert_eq!((old.len(), new.len(), new[0].attempts), (1, 1, 1));
    let outcome = |c: &telephony_core::store::ClaimedInbound| DispatchOutcome {
        id: c.message.id.clone(),
        lease: c.lease,
        result: DispatchResult::Done {
            state: telephony_core::InboxState::Accepted,
            note: None,
        },
    };
    assert_eq!(
        a.record_dispatch(&[outcome(&old[0])]).await.unwrap(),
        [old[0].message.id.clone()]
    );
    assert!(
        b.record_dispatch(&[outcome(&new[0])])
            .await
            .unwrap()
            .is_empty()
    );

    let event = ForwardEvent {
        id: "evt_lease".into(),
        kind: "message.received".into(),
        payload: serde_json::json!({}),
        created_at: t0(),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    a.enqueue_forward(&event).await.unwrap();
    let old = a.claim_forwards(t0(), lease, 10).await.unwrap();
    let new = b.claim_forwards(t0() + lease, lease, 10).await.unwrap();
    assert!(matches!(
        a.complete_forward("evt_lease", old[0].lease, t0()).await,
        Err(StoreError::LeaseLost { .. })
    ));
    b.complete_forward("evt_lease", new[0].lease, t0())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicate_inserts_store_once() {
    let Some((a, b, _guard)) = two_replicas().await else {
        return;
    };
    for i in 0..30 {
        let msg = inbound(&format!("SM{i:032}"), "+15557654321", "hi", i);
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let (a, msg) = (a.clone(), msg.clone());
                async move { a.insert_inbound(&msg).await }
            }),
            tokio::spawn({
                let (b, msg) = (b.clone(), msg.clone());
                async move { b.insert_inbound(&msg).await }
            }),
        );
        let mut outcomes = vec![ra.unwrap().unwrap(), rb.unwrap().unwrap()];
        outcomes.sort_by_key(|o| *o == InsertOutcome::Duplicate);
        assert_eq!(
            outcomes,
            [InsertOutcome::Inserted, InsertOutcome::Duplicate],
            "message {i}: exactly one replica stores it, the other hears duplicate"
        );
    }
    let inbox = b
        .inbox(&InboxQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(inbox.len(), 30);
    assert_eq!(a.queued_inbound(1000).await.unwrap().len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_concurrently_without_error() {
    let Some(url) = server_url() else {
        return;
    };
    let schema = unique_schema();
    let _guard = DropSchema::new(&url, &schema);
    // Four replicas start at once on a schema that does not exist yet.
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let (url, opts) = (url.clone(), options(&schema));
            tokio::spawn(async move { PostgresStore::connect_with(&url, opts).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().expect("every replica opens"));
    }
    // And once more on the migrated schema.
    let again = PostgresStore::connect_with(&url, options(&schema))
        .await
        .expect("reopen");
    let msg = inbound(
        "SM00000000000000000000000000000001",
        "+15557654321",
        "hi",
        0,
    );
    assert_eq!(
        stores[0].insert_inbound(&msg).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        again.insert_inbound(&msg).await.unwrap(),
        InsertOutcome::Duplicate
    );

    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {schema}._sqlx_migrations WHERE success"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(applied, 15, "each migration applied once");
}

#[tokio::test]
async fn schemas_do_not_see_each_others_rows() {
    let Some(url) = server_url() else {
        return;
    };
    let (s1, s2) = (unique_schema(), unique_schema());
    let _g1 = DropSchema::new(&url, &s1);
    let _g2 = DropSchema::new(&url, &s2);
    let one = PostgresStore::connect_with(&url, options(&s1))
        .await
        .unwrap();
    let two = PostgresStore::connect_with(&url, options(&s2))
        .await
        .unwrap();
    assert_eq!((one.schema(), two.schema()), (s1.as_str(), s2.as_str()));

    let msg = inbound(
        "SM00000000000000000000000000000002",
        "+15557654321",
        "hi",
        0,
    );
    assert_eq!(
        one.insert_inbound(&msg).await.unwrap(),
        InsertOutcome::Inserted
    );
    // The same provider SID in another account is that account's own message.
    assert_eq!(
        two.insert_inbound(&msg).await.unwrap(),
        InsertOutcome::Inserted
    );
    let id = MessageId::generate();
    one.enqueue_outbound(&id, &outbound(1), t0()).await.unwrap();

    assert_eq!(two.outbox_len().await.unwrap(), 0);
    assert!(
        two.claim_outbound(t0(), Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(two.receipt(&id).await.unwrap().is_none());
    assert_eq!(one.outbox_len().await.unwrap(), 1);
    let number = "+15557654321".parse().unwrap();
    two.set_opted_out(&number, true, t0()).await.unwrap();
    assert!(!one.is_opted_out(&number).await.unwrap());
    assert!(two.is_opted_out(&number).await.unwrap());
}

#[tokio::test]
async fn a_server_that_is_down_gives_a_clear_error_without_the_password() {
    // Port 1 on loopback: nothing listens there.
    let url = "postgres://gateway:hunter2secret@127.0.0.1:1/telephony";
    let opts = PostgresOptions::default().connect_timeout(Duration::from_secs(5));
    let started = std::time::Instant::now();
    let err = PostgresStore::connect_with(url, opts).await.unwrap_err();
    let text = format!("{err} / {:?}", std::error::Error::source(&err));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "fails promptly"
    );
    assert!(matches!(err, StoreError::Backend(_)));
    assert!(
        text.contains("cannot open the PostgreSQL store at postgres://gateway:[redacted]@127.0.0.1:1/telephony"),
        "{text}"
    );
    assert!(text.contains("connect"), "{text}");
    assert!(!text.contains("hunter2secret"), "{text}");
}

#[tokio::test]
async fn a_bad_schema_name_or_url_is_refused_by_name() {
    let err = PostgresStore::connect_with(
        "postgres://gateway:pw@127.0.0.1:1/telephony",
        PostgresOptions::default().schema("Robert'); DROP TABLE students;--"),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("schema name"), "{text}");
    assert!(text.contains("lowercase SQL identifier"), "{text}");

    let err =
        PostgresStore::connect("postgres://gateway:pw@127.0.0.1:1/telephony?sslmode=sometimes")
            .await
            .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not a valid PostgreSQL URL"), "{text}");
    assert!(!text.contains(":pw@"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sending_at_once_never_overshoot_the_daily_cap() {
    use telephony_core::store::{CappedEnqueue, SendCap};
    let Some((a, b, _guard)) = two_replicas().await else {
        return;
    };
    let now = t0();
    let cap = SendCap { since: now, max: 7 };
    // 20 two-part sends, half through each replica, all at once: 3 fit (6 parts), then a
    // two-part send would make 8 of 7, so every later one is refused whole.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let parts = [
                (MessageId::generate(), outbound(2 * i)),
                (MessageId::generate(), outbound(2 * i + 1)),
            ];
            store
                .enqueue_outbound_capped(&parts, false, Some(cap), now)
                .await
                .unwrap()
        }));
    }
    let mut queued = 0;
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            CappedEnqueue::Queued(r) => queued += r.len(),
            CappedEnqueue::OverCap { sent } => refused.push(sent),
        }
    }
    assert_eq!(queued, 6);
    assert_eq!(refused.len(), 17);
    assert!(refused.iter().all(|&sent| sent == 6), "{refused:?}");
    assert_eq!(a.count_outbound_since(now).await.unwrap(), 6);
    assert_eq!(b.outbox_len().await.unwrap(), 6);
}

/// Extras are stored compact; a row written as JSON before migration 12 still reads back.
#[tokio::test]
async fn extras_are_compact_and_json_rows_still_read() {
    let Some(url) = server_url() else {
        return;
    };
    let schema = unique_schema();
    let _guard = DropSchema::new(&url, &schema);
    let a = PostgresStore::connect_with(&url, options(&schema))
        .await
        .expect("open");
    let sid = "SM00000000000000000000000000000077";
    let mut msg = inbound(sid, "+15557654321", "hi", 0);
    msg.extra = [
        ("ApiVersion", "2010-04-01"),
        ("FromCity", "OSLO"),
        ("SmsSid", sid),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    a.insert_inbound(&msg).await.unwrap();
    let stored = a.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(stored[0].message, msg);
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let size: i32 = sqlx::query_scalar(&format!(
        "SELECT octet_length(extra_json) FROM {schema}.inbox"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // Version byte, the ApiVersion pair, FromCity (tag, length, 4 bytes), SmsSid (tag, marker).
    assert_eq!(size, 1 + 1 + 6 + 2);
    sqlx::query(&format!(
        "UPDATE {schema}.inbox SET extra_json = convert_to('{{\"FromCity\":\"BERGEN\"}}', 'UTF8')"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let stored = a.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(
        stored[0].message.extra,
        [("FromCity".to_string(), "BERGEN".to_string())].into()
    );
}
