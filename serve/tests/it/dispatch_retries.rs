//! Inbound dispatch at least once: a failing handler is retried with backoff while the
//! sender's later messages wait, then dead-lettered after `max_dispatch_attempts`; the
//! admin API lists dead letters and queues one again. Each handler call carries the
//! message id as its stable event id. (Retries wait the real backoff, 1 s then 2 s.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use telephony_core::store::prelude::*;
use telephony_core::{InboundMessage, InboxQuery, InboxState, MemoryStore};
use telephony_serve::{Gateway, GatewayBuilder, HandlerError, Replier};
use telephony_twilio_simulator::InboundSms;

use crate::support::*;

const PUBLIC: &str = "https://sms.example.com";
const ALICE: &str = "+15557654321";
const BOB: &str = "+15557650000";

fn open(store: Arc<MemoryStore>) -> GatewayBuilder {
    builder(TOKEN, store).public_url(PUBLIC).inbound_policy(
        telephony_core::InboundPolicy::Open,
        telephony_core::AllowList::parse(&["*".to_string()]).unwrap(),
    )
}

/// Every handler call: (message id, body).
type Calls = Arc<Mutex<Vec<(String, String)>>>;

/// A handler that records each call and fails a message's first `fail` calls.
fn failing(builder: GatewayBuilder, calls: Calls, fail: usize) -> Gateway {
    builder
        .handler(move |m: InboundMessage, _r: Replier| {
            let calls = calls.clone();
            async move {
                let n = {
                    let mut c = calls.lock().unwrap();
                    c.push((m.id.to_string(), m.body.clone()));
                    c.iter().filter(|(id, _)| *id == m.id.as_str()).count()
                };
                if n <= fail {
                    return Err::<(), HandlerError>(format!("boom {n}").into());
                }
                Ok(())
            }
        })
        .build()
}

async fn text(gw: &Gateway, from: &str, sid: &str, body: &str) {
    let (form, sig) = InboundSms {
        account_sid: ACCOUNT.into(),
        from: from.into(),
        to: OURS.into(),
        body: body.into(),
        message_sid: Some(sid.into()),
        media: vec![],
    }
    .signed(TOKEN, &format!("{PUBLIC}/telephony/webhook"));
    let r = oneshot(
        gw.router(),
        post("/telephony/webhook", FORM, Some(&sig), form),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Waits until no message is queued (dispatched, retried or dead-lettered), at most 20 s.
async fn settled(store: &MemoryStore) -> Vec<(String, InboxState, Option<String>)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let inbox = store.inbox(&InboxQuery::default()).await.unwrap();
        if inbox.iter().all(|e| e.state != InboxState::Queued) {
            return inbox
                .into_iter()
                .map(|e| (e.message.body, e.state, e.note))
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dispatch did not settle: {inbox:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn bodies(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect()
}

#[tokio::test]
async fn a_handler_that_fails_twice_is_retried_and_accepted_on_the_third_attempt() {
    let store = Arc::new(MemoryStore::new());
    let calls = Calls::default();
    let gw = failing(open(store.clone()), calls.clone(), 2);
    let workers = gw.spawn_workers();
    text(&gw, ALICE, "SMretry1", "a1").await;
    let states = settled(&store).await;
    workers.shutdown().await;
    assert_eq!(
        states,
        [(
            "a1".to_string(),
            InboxState::Accepted,
            Some("accepted on attempt 3".to_string())
        )]
    );
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    // The same message id (the stable event id) on every attempt.
    let id = store.inbox(&InboxQuery::default()).await.unwrap()[0]
        .message
        .id
        .to_string();
    assert!(calls.iter().all(|(i, _)| *i == id), "{calls:?}");
    assert!(store.failed_inbound(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_handler_that_always_fails_dead_letters_the_message_after_max_attempts() {
    let store = Arc::new(MemoryStore::new());
    let calls = Calls::default();
    let gw = failing(
        open(store.clone()).max_dispatch_attempts(3),
        calls.clone(),
        usize::MAX,
    );
    let workers = gw.spawn_workers();
    text(&gw, ALICE, "SMdead1", "a1").await;
    text(&gw, ALICE, "SMdead2", "a2").await;
    let states = settled(&store).await;
    workers.shutdown().await;
    let note = |n: usize| {
        Some(format!(
            "handler error: boom {n} (gave up after 3 attempts)"
        ))
    };
    // a2 waited behind a1's retries; then failed on its own three attempts.
    assert_eq!(bodies(&calls), ["a1", "a1", "a1", "a2", "a2", "a2"]);
    assert_eq!(
        states,
        [
            ("a1".to_string(), InboxState::Failed, note(3)),
            ("a2".to_string(), InboxState::Failed, note(3)),
        ]
    );
    let failed = store.failed_inbound(0).await.unwrap();
    let listed: Vec<_> = failed
        .iter()
        .map(|f| (f.message.body.as_str(), f.attempts))
        .collect();
    assert_eq!(listed, [("a1", 3), ("a2", 3)]);
}

#[tokio::test]
async fn a_senders_messages_keep_their_order_across_a_retry() {
    let store = Arc::new(MemoryStore::new());
    let calls = Calls::default();
    let gw = failing(open(store.clone()), calls.clone(), 1);
    let workers = gw.spawn_workers();
    for (sid, body) in [("SMo1", "a1"), ("SMo2", "a2"), ("SMo3", "a3")] {
        text(&gw, ALICE, sid, body).await;
    }
    text(&gw, BOB, "SMo4", "b1").await;
    let states = settled(&store).await;
    workers.shutdown().await;
    let calls = bodies(&calls);
    // Every message fails once: alice's are handled strictly in order, each after the one
    // before it succeeded; bob's lane is not held up by alice's retries.
    let alice: Vec<_> = calls.iter().filter(|b| b.starts_with('a')).collect();
    assert_eq!(alice, ["a1", "a1", "a2", "a2", "a3", "a3"]);
    let second_a1 = calls.iter().rposition(|b| b == "a1").unwrap();
    let first_b1 = calls.iter().position(|b| b == "b1").unwrap();
    assert!(first_b1 < second_a1, "bob waited for alice: {calls:?}");
    let accepted = Some("accepted on attempt 2".to_string());
    assert_eq!(
        states,
        [
            ("a1".to_string(), InboxState::Accepted, accepted.clone()),
            ("a2".to_string(), InboxState::Accepted, accepted.clone()),
            ("a3".to_string(), InboxState::Accepted, accepted.clone()),
            ("b1".to_string(), InboxState::Accepted, accepted),
        ]
    );
}

fn admin_request(method: &str, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer admintoken")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn admin_api_lists_dead_letters_and_queues_one_again() {
    let store = Arc::new(MemoryStore::new());
    let calls = Calls::default();
    // Fails the first two calls of each message: with 2 attempts, a dead letter; retried,
    // its third call succeeds.
    let gw = failing(
        open(store.clone()).max_dispatch_attempts(2),
        calls.clone(),
        2,
    );
    let admin = gw.admin_router(telephony_core::Secret::new("admintoken"));
    let workers = gw.spawn_workers();
    text(&gw, ALICE, "SMadmin1", "a1").await;
    settled(&store).await;
    let id = store.inbox(&InboxQuery::default()).await.unwrap()[0]
        .message
        .id
        .to_string();

    let r = oneshot(
        admin.clone(),
        admin_request("GET", "/telephony/inbox/failed"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["messages"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["messages"][0]["id"], id.as_str());
    assert_eq!(v["messages"][0]["from"], ALICE);
    assert_eq!(v["messages"][0]["attempts"], 2);
    assert_eq!(
        v["messages"][0]["lastError"],
        "handler error: boom 2 (gave up after 2 attempts)"
    );

    // Without the token: 401, nothing changes.
    let r = oneshot(
        admin.clone(),
        Request::post(format!("/telephony/inbox/{id}/retry"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = oneshot(
        admin.clone(),
        admin_request("POST", "/telephony/inbox/msg_nope/retry"),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(
        r.body
            .contains(r#"no inbound message with id \"msg_nope\""#),
        "{}",
        r.body
    );

    let r = oneshot(
        admin.clone(),
        admin_request("POST", &format!("/telephony/inbox/{id}/retry")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"id": id, "state": "queued", "previousState": "failed"})
    );
    // Dispatched again from attempt 1: the third call succeeds.
    let states = settled(&store).await;
    workers.shutdown().await;
    assert_eq!(states, [("a1".to_string(), InboxState::Accepted, None)]);
    assert_eq!(bodies(&calls), ["a1", "a1", "a1"]);
    // Accepted now, so not retryable.
    let r = oneshot(
        admin,
        admin_request("POST", &format!("/telephony/inbox/{id}/retry")),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("is accepted, not failed"), "{}", r.body);
}

#[tokio::test]
async fn a_retried_message_is_forwarded_as_one_event_with_a_stable_id() {
    let store = Arc::new(MemoryStore::new());
    let calls = Calls::default();
    // A receiver nobody listens on: the event stays queued for delivery.
    let forward = telephony_serve::ForwardSettings::new("http://127.0.0.1:1/events");
    let gw = failing(open(store.clone()).forward(forward), calls.clone(), 2);
    let workers = gw.spawn_workers();
    text(&gw, ALICE, "SMfwd1", "a1").await;
    let states = settled(&store).await;
    workers.shutdown().await;
    assert_eq!(states[0].1, InboxState::Accepted);
    assert_eq!(calls.lock().unwrap().len(), 3);
    // Three dispatch attempts, one event, named after the message.
    let stats = store.forward_stats().await.unwrap();
    assert_eq!(stats.pending + stats.delivered, 1, "{stats:?}");
    let id = store.inbox(&InboxQuery::default()).await.unwrap()[0]
        .message
        .id
        .to_string();
    let later = time::OffsetDateTime::now_utc() + Duration::from_secs(86_400);
    let claimed = store
        .claim_forwards(later, Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event.id, format!("evt_{id}"));
    assert_eq!(claimed[0].event.kind, "message.received");
}
