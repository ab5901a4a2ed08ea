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
        .forward(ForwardSettings { url, secret: None })
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
        .forward(ForwardSettings { url, secret: None })
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
