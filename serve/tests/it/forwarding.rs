//! The forward worker against a real receiver on a loopback port: contacts are delivered
//! in parallel, each contact's events one after the other and in order, and a contact's
//! later events wait for an earlier one that failed. Events are queued in the store before
//! the workers start, so the worker's first claim holds all of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use telephony_core::store::prelude::*;
use telephony_core::store_suite::inbound;
use telephony_core::{
    Address, DeliveryStatus, ForwardEvent, MemoryStore, MessageId, OutboundMessage, Receipt,
};
use telephony_serve::ForwardSettings;
use telephony_serve::api::{EventData, ForwardedEvent};
use time::OffsetDateTime;

use crate::support::*;

/// A `message.received` event from `from` (provider id `sid`).
fn received(sid: &str, from: &str) -> ForwardedEvent {
    ForwardedEvent::message_received(&inbound(sid, from, "hi", 0), OffsetDateTime::now_utc())
}

/// A `message.status` event (`sent`) of message `id`, sent to `to`.
fn status(id: &str, to: &str) -> ForwardedEvent {
    let msg = OutboundMessage::new(Address::parse(to).unwrap(), "hello");
    let mut receipt =
        Receipt::new_pending(MessageId::from_string(id), &msg, OffsetDateTime::now_utc());
    receipt.status = DeliveryStatus::Sent;
    ForwardedEvent::message_status(&receipt, OffsetDateTime::now_utc())
}

/// Queues `events` in this order (each due a millisecond after the one before, all due now).
async fn enqueue(store: &MemoryStore, events: &[ForwardedEvent]) {
    let base = OffsetDateTime::now_utc() - Duration::from_secs(60);
    for (i, e) in events.iter().enumerate() {
        let stored = ForwardEvent {
            id: e.id.clone(),
            kind: e.kind().to_string(),
            payload: serde_json::to_value(e).unwrap(),
            created_at: base + Duration::from_millis(i as u64),
            attempts: 0,
            last_error: None,
            encoded: None,
        };
        store.enqueue_forward(&stored).await.unwrap();
    }
}

/// The contact of a forwarded body, as the receiver reads it.
fn contact_of(body: &[u8]) -> String {
    let ev: ForwardedEvent = serde_json::from_slice(body).unwrap();
    match ev.data {
        EventData::MessageReceived(m) => m.from,
        EventData::MessageStatus(s) => s.to.to_string(),
        other => panic!("unexpected event {other:?}"),
    }
}

/// Serves `app` on 127.0.0.1:0; returns its `/hook` URL.
async fn receiver(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

/// Waits until `n` events are delivered (at most 30 s); returns the stats then.
async fn delivered(store: &MemoryStore, n: usize) -> telephony_core::ForwardStats {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st = store.forward_stats().await.unwrap();
        if st.delivered >= n || tokio::time::Instant::now() > deadline {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const CONTACTS: [&str; 4] = [
    "+15557650001",
    "+15557650002",
    "+15557650003",
    "+15557650004",
];

#[derive(Default)]
struct Concurrency {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Per contact: requests in flight now, and the most at once.
    per_contact: Mutex<HashMap<String, (usize, usize)>>,
    /// Per contact: the event ids in the order they arrived.
    arrivals: Mutex<HashMap<String, Vec<String>>>,
}

#[tokio::test]
async fn contacts_are_delivered_in_parallel_each_in_order() {
    let seen = Arc::new(Concurrency::default());
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = s2.clone();
            async move {
                let contact = contact_of(&body);
                let id = headers["x-telephony-event-id"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
                {
                    let mut per = seen.per_contact.lock().unwrap();
                    let c = per.entry(contact.clone()).or_default();
                    c.0 += 1;
                    c.1 = c.1.max(c.0);
                }
                seen.arrivals
                    .lock()
                    .unwrap()
                    .entry(contact.clone())
                    .or_default()
                    .push(id);
                // A slow receiver that holds each request until it has seen one request
                // of every contact at once (at most 5 s, under the worker's 10 s timeout):
                // a worker that delivers one request at a time fails the count below.
                let until = tokio::time::Instant::now() + Duration::from_secs(5);
                while seen.max_in_flight.load(Ordering::SeqCst) < CONTACTS.len()
                    && tokio::time::Instant::now() < until
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                seen.per_contact
                    .lock()
                    .unwrap()
                    .get_mut(&contact)
                    .unwrap()
                    .0 -= 1;
                seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                StatusCode::OK
            }
        }),
    );
    let url = receiver(app).await;

    let store = Arc::new(MemoryStore::new());
    let gw = builder(TOKEN, store.clone())
        .forward(ForwardSettings::new(url))
        .build();
    // Three events per contact, the contacts interleaved: a message from them, the status
    // of a message to them, another message from them.
    let mut events = Vec::new();
    for round in 0..3 {
        for (c, number) in CONTACTS.iter().enumerate() {
            events.push(match round {
                1 => status(&format!("msg_out_{c}"), number),
                _ => received(&format!("SM{c}r{round}"), number),
            });
        }
    }
    enqueue(&store, &events).await;
    let workers = gw.spawn_workers();
    let st = delivered(&store, events.len()).await;
    workers.shutdown().await;
    assert_eq!((st.pending, st.failing, st.delivered), (0, 0, 12), "{st:?}");

    assert_eq!(seen.max_in_flight.load(Ordering::SeqCst), CONTACTS.len());
    let per = seen.per_contact.lock().unwrap();
    let arrivals = seen.arrivals.lock().unwrap();
    for (c, number) in CONTACTS.iter().enumerate() {
        assert_eq!(per[*number], (0, 1), "one request at a time for {number}");
        assert_eq!(
            arrivals[*number],
            [
                format!("evt_msg_in_SM{c}r0"),
                format!("evt_msg_out_{c}_sent"),
                format!("evt_msg_in_SM{c}r2"),
            ],
            "{number}"
        );
    }
}

#[tokio::test]
async fn a_contacts_later_event_waits_for_its_failed_one() {
    const ALICE: &str = "+15557651111";
    const BOB: &str = "+15557652222";
    // Every request: (contact, event id, the status answered).
    let attempts: Arc<Mutex<Vec<(String, String, u16)>>> = Arc::default();
    let a2 = attempts.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let attempts = a2.clone();
            async move {
                let id = headers["x-telephony-event-id"]
                    .to_str()
                    .unwrap()
                    .to_string();
                let mut a = attempts.lock().unwrap();
                // Alice's first event fails once.
                let first_try = !a.iter().any(|(_, seen, _)| *seen == id);
                let code = if id == "evt_msg_in_SMa1" && first_try {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                a.push((contact_of(&body), id, code.as_u16()));
                code
            }
        }),
    );
    let url = receiver(app).await;

    let store = Arc::new(MemoryStore::new());
    let gw = builder(TOKEN, store.clone())
        .forward(ForwardSettings::new(url))
        .build();
    enqueue(
        &store,
        &[
            received("SMa1", ALICE),
            received("SMb1", BOB),
            received("SMa2", ALICE),
        ],
    )
    .await;
    let workers = gw.spawn_workers();
    let st = delivered(&store, 3).await;
    workers.shutdown().await;
    assert_eq!(
        (st.pending, st.failing, st.delivered, st.last_error.clone()),
        (0, 0, 3, None),
        "{st:?}"
    );
    let attempts = attempts.lock().unwrap();
    let of = |who: &str| {
        attempts
            .iter()
            .filter(|(c, _, _)| c == who)
            .map(|(_, id, code)| (id.as_str(), *code))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of(ALICE),
        [
            ("evt_msg_in_SMa1", 500),
            ("evt_msg_in_SMa1", 200),
            ("evt_msg_in_SMa2", 200)
        ]
    );
    assert_eq!(of(BOB), [("evt_msg_in_SMb1", 200)]);
}

/// `GET /telephony/status` on the admin router.
async fn admin_status(gw: &telephony_serve::Gateway) -> serde_json::Value {
    let r = oneshot(
        gw.admin_router(telephony_core::Secret::new("admintoken")),
        axum::http::Request::get("/telephony/status")
            .header("authorization", "Bearer admintoken")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// One POST as a batching receiver saw it: `X-Telephony-Event-Count`, whether
/// `X-Telephony-Signature` matched the body, the answer, and the events' ids and contacts
/// in the array's order.
#[derive(Debug)]
struct BatchPost {
    count: usize,
    signed: bool,
    status: u16,
    events: Vec<(String, String)>,
}

/// What a receiver answers a POST of `events` (ids and contacts), given the POSTs before.
type Answer = fn(&[(String, String)], &[BatchPost]) -> StatusCode;

/// A receiver that records every POST and answers what `answer` says.
fn batch_receiver(
    secret: &'static str,
    posts: Arc<Mutex<Vec<BatchPost>>>,
    answer: Answer,
) -> axum::Router {
    axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let posts = posts.clone();
            async move {
                let events: Vec<ForwardedEvent> = serde_json::from_slice(&body).unwrap();
                let events: Vec<(String, String)> = events
                    .into_iter()
                    .map(|e| {
                        let contact = contact_of(&serde_json::to_vec(&e).unwrap());
                        (e.id, contact)
                    })
                    .collect();
                let signed = headers["x-telephony-signature"].to_str().unwrap()
                    == telephony_serve::forward_signature(secret.as_bytes(), &body);
                assert!(!headers.contains_key("x-telephony-event-id"));
                let mut posts = posts.lock().unwrap();
                let status = answer(&events, &posts);
                posts.push(BatchPost {
                    count: headers["x-telephony-event-count"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap(),
                    signed,
                    status: status.as_u16(),
                    events,
                });
                status
            }
        }),
    )
}

/// The ids a receiver accepted for `contact`, in the order it accepted them.
fn accepted_for(posts: &[BatchPost], contact: &str) -> Vec<String> {
    posts
        .iter()
        .filter(|p| p.status == 200)
        .flat_map(|p| p.events.iter())
        .filter(|(_, c)| c == contact)
        .map(|(id, _)| id.clone())
        .collect()
}

#[tokio::test]
async fn batched_posts_carry_arrays_of_whole_contacts_signed_and_in_order() {
    const SECRET: &str = "batch-secret";
    let posts: Arc<Mutex<Vec<BatchPost>>> = Arc::default();
    let url = receiver(batch_receiver(SECRET, posts.clone(), |_, _| StatusCode::OK)).await;
    let store = Arc::new(MemoryStore::new());
    let gw = builder(TOKEN, store.clone())
        .forward(
            ForwardSettings::new(url)
                .with_secret(SECRET.into())
                .with_max_batch(100),
        )
        .build();
    // 250 events, the four contacts interleaved: 63, 63, 62 and 62 of them.
    let events: Vec<ForwardedEvent> = (0..250)
        .map(|i| received(&format!("SM{i:03}"), CONTACTS[i % 4]))
        .collect();
    enqueue(&store, &events).await;
    let workers = gw.spawn_workers();
    let st = delivered(&store, events.len()).await;
    workers.shutdown().await;
    assert_eq!(
        (st.pending, st.failing, st.delivered),
        (0, 0, 250),
        "{st:?}"
    );
    let status = admin_status(&gw).await;
    assert_eq!(status["forwarding"]["maxBatch"], 100);
    assert_eq!(status["forwarding"]["delivered"], 250);

    let posts = posts.lock().unwrap();
    // One claim of 250: the first two contacts (126 events) are one group, the last two
    // (124) the other; each group goes as 100 events, then the rest.
    let mut sizes: Vec<usize> = posts.iter().map(|p| p.events.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [24, 26, 100, 100]);
    for p in posts.iter() {
        assert_eq!(p.count, p.events.len());
        assert!(p.signed, "{p:?}");
    }
    for (c, number) in CONTACTS.iter().enumerate() {
        let expected: Vec<String> = (c..250)
            .step_by(4)
            .map(|i| format!("evt_msg_in_SM{i:03}"))
            .collect();
        assert_eq!(accepted_for(&posts, number), expected, "{number}");
    }
}

#[tokio::test]
async fn a_failed_batch_is_retried_whole_and_holds_back_the_rest_of_its_group() {
    const SECRET: &str = "batch-secret";
    let posts: Arc<Mutex<Vec<BatchPost>>> = Arc::default();
    // The first POST with Alice's first event is refused; every other one is accepted.
    let answer: Answer = |events, before| {
        let has_a1 = |evs: &[(String, String)]| evs.iter().any(|(id, _)| id == "evt_msg_in_SMa1");
        if has_a1(events) && !before.iter().any(|p| has_a1(&p.events)) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    };
    let url = receiver(batch_receiver(SECRET, posts.clone(), answer)).await;
    let store = Arc::new(MemoryStore::new());
    let gw = builder(TOKEN, store.clone())
        .forward(
            ForwardSettings::new(url)
                .with_secret(SECRET.into())
                .with_max_batch(2),
        )
        .build();
    // Alice has three events, Bob one: Alice's lane fills a group of its own, sent as
    // [a1, a2], then [a3]; Bob's is the other group, sent beside it.
    const ALICE: &str = "+15557651111";
    const BOB: &str = "+15557652222";
    enqueue(
        &store,
        &[
            received("SMa1", ALICE),
            received("SMb1", BOB),
            received("SMa2", ALICE),
            received("SMa3", ALICE),
        ],
    )
    .await;
    let workers = gw.spawn_workers();
    let st = delivered(&store, 4).await;
    workers.shutdown().await;
    assert_eq!(
        (st.pending, st.failing, st.delivered, st.last_error.clone()),
        (0, 0, 4, None),
        "{st:?}"
    );
    let posts = posts.lock().unwrap();
    let of = |who: &str| {
        posts
            .iter()
            .filter(|p| p.events.iter().any(|(_, c)| c == who))
            .map(|p| {
                let ids: Vec<&str> = p.events.iter().map(|(id, _)| id.as_str()).collect();
                (p.status, ids)
            })
            .collect::<Vec<_>>()
    };
    // The refused pair is retried as it was; Alice's third event waited for it; Bob's
    // group did not.
    assert_eq!(
        of(ALICE),
        [
            (503, vec!["evt_msg_in_SMa1", "evt_msg_in_SMa2"]),
            (200, vec!["evt_msg_in_SMa1", "evt_msg_in_SMa2"]),
            (200, vec!["evt_msg_in_SMa3"]),
        ]
    );
    assert_eq!(of(BOB), [(200, vec!["evt_msg_in_SMb1"])]);
    assert!(posts.iter().all(|p| p.signed && p.count == p.events.len()));
}
