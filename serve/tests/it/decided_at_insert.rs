//! A message whose dispatch would only write `accepted` (no handler, no forwarding, a
//! sender the policy admits outright, no opt-out keyword) is stored `accepted` by the
//! webhook itself; anything else is stored `queued` for the dispatch worker. No worker
//! runs in these tests, so a `queued` row would stay `queued`.

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
    let store = Arc::new(MemoryStore::new());
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
async fn a_handler_or_forwarding_keeps_messages_queued_for_the_dispatch_worker() {
    let with_handler = post_all(
        |b| {
            b.inbound_policy(InboundPolicy::Open, allow(&["*"]))
                .handler(|_m: InboundMessage, _r: Replier| async { Ok::<(), HandlerError>(()) })
        },
        &[("SMc1", "hello")],
    )
    .await;
    assert_eq!(with_handler, [row("SMc1", InboxState::Queued)]);
    let forwarding = post_all(
        |b| {
            b.inbound_policy(InboundPolicy::Open, allow(&["*"]))
                .forward(ForwardSettings {
                    url: "http://127.0.0.1:9/events".into(),
                    secret: None,
                })
        },
        &[("SMc2", "hello")],
    )
    .await;
    assert_eq!(forwarding, [row("SMc2", InboxState::Queued)]);
}
