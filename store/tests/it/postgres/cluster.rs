//! What replicas on one schema learn from each other: wake-ups (`LISTEN`/`NOTIFY`) that
//! survive a lost connection, one call-slot count, one holder of a singleton lease.

use std::time::{Duration, Instant};

use telephony_core::store::prelude::*;
use telephony_core::store::{BeginOutcome, NewCall, StatusSource, WorkKind, WorkWatch};
use telephony_core::store_suite::{inbound, t0};
use telephony_core::voice::{CallDirection, CallStatus};
use telephony_core::{Address, ForwardEvent, MessageId, OutboundMessage, PhoneNumber};
use telephony_store::PostgresStore;

use super::{DropSchema, options, server_url, unique_schema};

/// Two stores (two pools, like two replicas) on one fresh schema, and the schema's name.
async fn two_replicas() -> Option<(PostgresStore, PostgresStore, DropSchema, String)> {
    let url = server_url()?;
    let schema = unique_schema();
    let guard = DropSchema::new(&url, &schema);
    let a = PostgresStore::connect_with(&url, options(&schema))
        .await
        .expect("open replica a");
    let b = PostgresStore::connect_with(&url, options(&schema))
        .await
        .expect("open replica b");
    Some((a, b, guard, schema))
}

/// Less than the workers' 500 ms idle poll: a wake-up that comes later is no better than
/// the poll. (Locally it comes within a few milliseconds.)
const PROMPT: Duration = Duration::from_millis(450);

/// Waits for the watch's first wake-up, which says the listener is listening.
async fn listening(w: &mut WorkWatch) {
    tokio::time::timeout(Duration::from_secs(10), w.changed())
        .await
        .expect("the listener starts and wakes its watches once");
}

/// True if `w` fires within `within`.
async fn woken(w: &mut WorkWatch, within: Duration) -> bool {
    tokio::time::timeout(within, w.changed()).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_is_woken_promptly_by_each_kind_of_enqueue() {
    let Some((a, b, _guard, _)) = two_replicas().await else {
        return;
    };
    let mut b_inbound = b.watch_work(WorkKind::Inbound);
    let mut b_outbound = b.watch_work(WorkKind::Outbound);
    let mut b_forward = b.watch_work(WorkKind::Forward);
    let mut a_outbound = a.watch_work(WorkKind::Outbound);
    listening(&mut b_inbound).await;
    listening(&mut b_outbound).await;
    listening(&mut b_forward).await;
    listening(&mut a_outbound).await;

    // An inbound message stored on a (through its group-commit writer) wakes b's dispatch.
    let started = Instant::now();
    a.insert_inbound(&inbound("SM0001", "+15557654321", "hi", 0))
        .await
        .unwrap();
    assert!(woken(&mut b_inbound, PROMPT).await, "b woken for inbound");
    eprintln!("inbound wake-up after {:?}", started.elapsed());
    // Only that kind.
    assert!(!woken(&mut b_outbound, Duration::from_millis(50)).await);
    assert!(!woken(&mut b_forward, Duration::from_millis(1)).await);
    // A duplicate stores nothing and wakes nobody.
    a.insert_inbound(&inbound("SM0001", "+15557654321", "hi", 0))
        .await
        .unwrap();
    assert!(!woken(&mut b_inbound, Duration::from_millis(200)).await);

    // An outbox entry enqueued on a wakes b's outbox worker, not a's own (a woke itself).
    let to = Address::parse("+15550005678").unwrap();
    let started = Instant::now();
    a.enqueue_outbound(
        &MessageId::generate(),
        &OutboundMessage::new(to.clone(), "x"),
        t0(),
    )
    .await
    .unwrap();
    assert!(woken(&mut b_outbound, PROMPT).await, "b woken for outbound");
    eprintln!("outbound wake-up after {:?}", started.elapsed());
    assert!(
        !woken(&mut a_outbound, Duration::from_millis(200)).await,
        "a store's own enqueue does not come back to it"
    );

    // A held send wakes nobody until its contact is approved; the approval does.
    a.enqueue_outbound_held(&MessageId::generate(), &OutboundMessage::new(to, "y"), t0())
        .await
        .unwrap();
    assert!(!woken(&mut b_outbound, Duration::from_millis(200)).await);
    let released = a
        .approve_contact(&PhoneNumber::parse("+15550005678").unwrap(), t0())
        .await
        .unwrap();
    assert_eq!(released.len(), 1);
    assert!(
        woken(&mut b_outbound, PROMPT).await,
        "b woken for a release"
    );

    // A forward event.
    let event = ForwardEvent {
        id: "evt_1".into(),
        kind: "message.received".into(),
        payload: serde_json::json!({ "n": 1 }),
        created_at: t0(),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    a.enqueue_forward(&event).await.unwrap();
    assert!(woken(&mut b_forward, PROMPT).await, "b woken for forward");

    // Several enqueues while b is busy are one wake-up, not lost and not queued up.
    for i in 2..5 {
        a.insert_inbound(&inbound(&format!("SM{i:04}"), "+15557654321", "hi", i))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(woken(&mut b_inbound, Duration::from_millis(1)).await);
    assert!(!woken(&mut b_inbound, Duration::from_millis(100)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_after_its_connection_is_killed() {
    let Some((a, b, _guard, schema)) = two_replicas().await else {
        return;
    };
    let mut w = b.watch_work(WorkKind::Outbound);
    listening(&mut w).await;

    // The server ends b's LISTEN connection (as a restart or a network cut would).
    use sqlx::Connection;
    let url = server_url().unwrap();
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
    )
    .bind(format!("LISTEN \"telephony_work_{schema}\""))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        killed,
        [true],
        "exactly one listener connection on the schema"
    );

    // The listener reconnects and wakes its watches (work may have come meanwhile)...
    assert!(
        woken(&mut w, Duration::from_secs(10)).await,
        "woken after reconnecting"
    );
    // ... and hears the other replica again.
    let to = Address::parse("+15550005678").unwrap();
    a.enqueue_outbound(&MessageId::generate(), &OutboundMessage::new(to, "x"), t0())
        .await
        .unwrap();
    assert!(woken(&mut w, PROMPT).await, "b hears a after reconnecting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_begin_call_on_two_replicas_respects_max_live() {
    let Some((a, b, _guard, _)) = two_replicas().await else {
        return;
    };
    let tasks: Vec<_> = (0..24u64)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let call = NewCall {
                    call_id: format!("CA{i:02}"),
                    direction: CallDirection::Inbound,
                    from: "+15557654321".into(),
                    to: "+15550001234".into(),
                    status: CallStatus::Ringing,
                    source: StatusSource::Webhook,
                    session: true,
                    at: t0() + Duration::from_secs(i),
                    note: None,
                };
                store.begin_call(&call, Some(3)).await.unwrap()
            })
        })
        .collect();
    let (mut started, mut full) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            BeginOutcome::Started(_) => started += 1,
            BeginOutcome::Full { live, .. } => {
                assert_eq!(live, 3);
                full += 1;
            }
            BeginOutcome::Existing(r) => panic!("no call was begun twice: {r:?}"),
        }
    }
    assert_eq!((started, full), (3, 21));
    assert_eq!(a.live_sessions().await.unwrap().len(), 3);
    assert_eq!(b.live_sessions().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_wins_an_expired_singleton_lease() {
    let Some((a, b, _guard, _)) = two_replicas().await else {
        return;
    };
    let ttl = Duration::from_secs(30);
    assert!(a.try_lead("voice-reaper", "old", t0(), ttl).await.unwrap());
    // The old holder is gone; at expiry, 16 contenders on two replicas race.
    let at = t0() + ttl;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                store
                    .try_lead("voice-reaper", &format!("replica-{i}"), at, ttl)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one contender leads");
}
