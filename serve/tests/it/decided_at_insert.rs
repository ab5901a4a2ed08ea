//! A message whose dispatch would only write `accepted` (no handler, a sender the policy
//! admits outright, no opt-out keyword) is stored `accepted` by the webhook itself, with
//! its forward event when forwarding is on; anything else is stored `queued` for the
//! dispatch worker. No worker runs in these tests, so a `queued` row would stay `queued`.

use std::sync::Arc;

use axum::http::StatusCode;
use telephony_core::store::prelude::*;
use telephony_core::{
    AllowList, InboundMessage, InboundPolicy, InboxQuery, InboxState, MemoryStore,
};
use telephony_serve::{ForwardSettings, GatewayBuilder, HandlerError, Replier};

use crate::support::*;

const PUBLIC: &str = "https://sms.example.com";

fn allow(v: &[&str]) -> AllowList {
    AllowList::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

/// Posts a signed SMS from the support sender (`+15557654321`) with `sid` and `body`
/// through a gateway built by `configure`, then returns every row's (sid, state, note).
async fn post_all(
    configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    texts: &[(&str, &str)],
) -> Vec<(String, InboxState, Option<String>)> {
    post_all_to(Arc::new(MemoryStore::new()), configure, texts).await
}

/// [`post_all`] into `store`.
async fn post_all_to(
    store: Arc<MemoryStore>,
    configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    texts: &[(&str, &str)],
) -> Vec<(String, InboxState, Option<String>)> {
    let gw = configure(builder(TOKEN, store.clone()).public_url(PUBLIC)).build();
    for (sid, body) in texts {
        let (b, sig) = sms(sid, body).signed(TOKEN, &format!("{PUBLIC}/telephony/webhook"));
        let r = oneshot(gw.router(), post("/telephony/webhook", FORM, Some(&sig), b)).await;
        assert_eq!(r.status, StatusCode::OK, "{sid}: {}", r.body);
        assert_eq!(r.body, EMPTY_TWIML);
    }
    let mut rows: Vec<_> = store
        .inbox(&InboxQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.message.provider_sid, e.state, e.note))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn row(sid: &str, state: InboxState) -> (String, InboxState, Option<String>) {
    (sid.to_string(), state, None)
}

#[tokio::test]
async fn open_policy_without_handler_or_forwarding_stores_accepted_and_keywords_queued() {
    let rows = post_all(
        |b| b.inbound_policy(InboundPolicy::Open, allow(&["*"])),
        &[
            ("SMa1", "hello"),
            ("SMa2", "STOP"),
            ("SMa3", "start"),
            // A repeated delivery is a duplicate, not a second row.
            ("SMa1", "hello"),
        ],
    )
    .await;
    assert_eq!(
        rows,
        [
            row("SMa1", InboxState::Accepted),
            row("SMa2", InboxState::Queued),
            row("SMa3", InboxState::Queued),
        ]
    );
}

#[tokio::test]
async fn a_sender_in_allow_from_is_accepted_at_once_and_a_stranger_queued_for_pairing() {
    let listed = post_all(
        |b| b.inbound_policy(InboundPolicy::Pairing, allow(&["+15557654321"])),
        &[("SMb1", "hi")],
    )
    .await;
    assert_eq!(listed, [row("SMb1", InboxState::Accepted)]);
    let stranger = post_all(
        |b| b.inbound_policy(InboundPolicy::Pairing, allow(&["+15550009999"])),
        &[("SMb2", "hi")],
    )
    .await;
    assert_eq!(stranger, [row("SMb2", InboxState::Queued)]);
}

#[tokio::test]
async fn a_handler_keeps_messages_queued_for_the_dispatch_worker() {
    let with_handler = post_all(
        |b| {
            b.inbound_policy(InboundPolicy::Open, allow(&["*"]))
                .handler(|_m: InboundMessage, _r: Replier| async { Ok::<(), HandlerError>(()) })
        },
        &[("SMc1", "hello")],
    )
    .await;
    assert_eq!(with_handler, [row("SMc1", InboxState::Queued)]);
}

/// With forwarding (and no handler) the message is stored `accepted` together with its
/// `message.received` event; a repeated delivery adds neither; an opt-out keyword is still
/// queued for the worker, with no event yet.
#[tokio::test]
async fn forwarding_stores_the_message_accepted_with_its_event() {
    let store = Arc::new(MemoryStore::new());
    let rows = post_all_to(
        store.clone(),
        |b| {
            b.inbound_policy(InboundPolicy::Open, allow(&["*"]))
                .forward(ForwardSettings {
                    url: "http://127.0.0.1:9/events".into(),
                    secret: None,
                })
        },
        &[("SMc2", "hello"), ("SMc2", "hello"), ("SMc3", "STOP")],
    )
    .await;
    assert_eq!(
        rows,
        [
            row("SMc2", InboxState::Accepted),
            row("SMc3", InboxState::Queued)
        ]
    );
    let inbox = store.inbox(&InboxQuery::default()).await.unwrap();
    let id = inbox[0].message.id.as_str().to_string();
    let claimed = store
        .claim_forwards(
            time::OffsetDateTime::now_utc(),
            std::time::Duration::from_secs(30),
            10,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let ev = &claimed[0].event;
    assert_eq!(
        (ev.id.as_str(), ev.kind.as_str(), ev.attempts),
        (format!("evt_{id}").as_str(), "message.received", 0)
    );
    let p = &ev.payload;
    assert_eq!(
        (
            p["id"].as_str(),
            p["type"].as_str(),
            p["data"]["id"].as_str(),
            p["data"]["from"].as_str(),
            p["data"]["body"].as_str()
        ),
        (
            Some(ev.id.as_str()),
            Some("message.received"),
            Some(id.as_str()),
            Some("+15557654321"),
            Some("hello")
        )
    );
}
