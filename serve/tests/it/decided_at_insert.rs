//! A message whose dispatch would only write `accepted` (no handler, a sender the policy
//! admits outright, no opt-out keyword) is stored `accepted` by the webhook itself, with
//! its forward event when forwarding is on; anything else is stored `queued` for the
//! dispatch worker. Under `pairing` and `allowlist`, a message the policy decides without
//! writing anything (refused, held for a code already sent, dropped over the pairing
//! limits) is stored decided too, with the worker's note, the store reading the sender's
//! state in the insert's transaction. No worker runs in these tests, so a `queued` row
//! would stay `queued`.

use std::sync::Arc;

use axum::http::StatusCode;
use telephony_core::store::prelude::*;
use telephony_core::{
    AllowList, InboundMessage, InboundPolicy, InboxQuery, InboxState, MemoryStore, PairingLimits,
    PairingOutcome, PhoneNumber,
};
use telephony_serve::{ForwardSettings, GatewayBuilder, HandlerError, PairingSettings, Replier};

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
    let texts: Vec<_> = texts
        .iter()
        .map(|(sid, body)| (*sid, "+15557654321", *body))
        .collect();
    post_from(store, configure, &texts).await
}

/// [`post_all_to`] with each text's sender: `(sid, from, body)`.
async fn post_from(
    store: Arc<MemoryStore>,
    configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    texts: &[(&str, &str, &str)],
) -> Vec<(String, InboxState, Option<String>)> {
    let gw = configure(builder(TOKEN, store.clone()).public_url(PUBLIC)).build();
    for (sid, from, body) in texts {
        let mut text = sms(sid, body);
        text.from = from.to_string();
        let (b, sig) = text.signed(TOKEN, &format!("{PUBLIC}/telephony/webhook"));
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
                .forward(ForwardSettings::new("http://127.0.0.1:9/events"))
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
    // Encoded once at the webhook, in the wire's shape.
    assert_eq!(ev.payload, serde_json::Value::Null);
    let p = ev.json().unwrap();
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

fn num(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

fn noted(sid: &str, state: InboxState, note: &str) -> (String, InboxState, Option<String>) {
    (sid.to_string(), state, Some(note.to_string()))
}

/// A store where `+15550004444` was approved, and `+15557654321` and `+15550002222` wait
/// with codes: both of the 2 pending slots are taken.
async fn two_waiting_one_approved(limits: &PairingLimits) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let now = time::OffsetDateTime::now_utc();
    for (n, code) in [
        ("+15550004444", "AAAA2222"),
        ("+15557654321", "BBBB3333"),
        ("+15550002222", "CCCC4444"),
    ] {
        let created = store
            .pairing_request(&num(n), code, limits, now)
            .await
            .unwrap();
        assert!(matches!(created, PairingOutcome::Created(_)), "{created:?}");
        if n == "+15550004444" {
            store.resolve_pairing(code, true, now).await.unwrap();
        }
    }
    store
}

/// Under `pairing` with every pending slot taken: a sender who waits is held, a stranger
/// dropped (no request, no SMS), each by the webhook with the dispatch worker's note; an
/// approved sender's message and a keyword go to the worker.
#[tokio::test]
async fn pairing_stores_held_dropped_and_approved_senders_decided() {
    let limits = PairingLimits {
        ttl: std::time::Duration::from_secs(3600),
        max_pending: 2,
        max_per_hour: 10,
    };
    let store = two_waiting_one_approved(&limits).await;
    let rows = post_from(
        store.clone(),
        |b| {
            b.inbound_policy(InboundPolicy::Pairing, allow(&["+15550009999"]))
                .pairing(PairingSettings {
                    limits,
                    ..PairingSettings::default()
                })
        },
        &[
            ("SMd1", "+15557654321", "still there?"),
            ("SMd2", "+15550003333", "hello"),
            ("SMd3", "+15550004444", "approved now"),
            ("SMd4", "+15550003333", "STOP"),
        ],
    )
    .await;
    assert_eq!(
        rows,
        [
            noted(
                "SMd1",
                InboxState::PendingPairing,
                "waiting for pairing approval (code already sent)"
            ),
            noted(
                "SMd2",
                InboxState::Dropped,
                "too many pairing requests (at most 2 pending and 10 per hour); no SMS sent"
            ),
            row("SMd3", InboxState::Queued),
            row("SMd4", InboxState::Queued),
        ]
    );
    // Nothing was created: the same two requests still wait.
    let pending = store
        .pending_pairings(time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let mut waiting: Vec<_> = pending.iter().map(|p| p.code.as_str()).collect();
    waiting.sort_unstable();
    assert_eq!(waiting, ["BBBB3333", "CCCC4444"]);
}

/// With a handler, a message the handler will never see is still decided by the webhook;
/// an approved sender's message is queued for the handler.
#[tokio::test]
async fn with_a_handler_only_messages_for_the_handler_are_queued() {
    let limits = PairingLimits {
        ttl: std::time::Duration::from_secs(3600),
        max_pending: 2,
        max_per_hour: 10,
    };
    let store = two_waiting_one_approved(&limits).await;
    let rows = post_from(
        store,
        |b| {
            b.pairing(PairingSettings {
                limits,
                ..PairingSettings::default()
            })
            .handler(|_m: InboundMessage, _r: Replier| async { Ok::<(), HandlerError>(()) })
        },
        &[
            ("SMe1", "+15550003333", "hello"),
            ("SMe2", "+15550004444", "hello"),
        ],
    )
    .await;
    assert_eq!(
        rows,
        [
            noted(
                "SMe1",
                InboxState::Dropped,
                "too many pairing requests (at most 2 pending and 10 per hour); no SMS sent"
            ),
            row("SMe2", InboxState::Queued),
        ]
    );
}

/// `allowlist` refuses an unlisted sender, and `disabled` everyone, at the webhook, with
/// the reason as the note.
#[tokio::test]
async fn allowlist_and_disabled_store_refused_senders_blocked() {
    let listed = post_all(
        |b| b.inbound_policy(InboundPolicy::Allowlist, allow(&["+15550009999"])),
        &[("SMf1", "hi")],
    )
    .await;
    assert_eq!(
        listed,
        [noted(
            "SMf1",
            InboxState::Blocked,
            "sender is not in allowFrom"
        )]
    );
    let disabled = post_all(
        |b| b.inbound_policy(InboundPolicy::Disabled, allow(&[])),
        &[("SMf2", "hi")],
    )
    .await;
    assert_eq!(
        disabled,
        [noted(
            "SMf2",
            InboxState::Blocked,
            "inboundPolicy is \"disabled\""
        )]
    );
}
