//! The public listener's rate limits through `tower::ServiceExt::oneshot`: inbound
//! messages per sender (stored `throttled`, acknowledged, never dispatched; counted only
//! after the signature check) and status callbacks (429 with `Retry-After`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use telephony_core::store::prelude::*;
use telephony_core::{InboundMessage, InboxQuery, InboxState, MemoryStore};
use telephony_serve::rate_limit::{Rate, RateLimits};
use telephony_serve::{Gateway, HandlerError, Replier};
use telephony_twilio::RequestValidator;
use telephony_twilio_simulator::InboundSms;

use crate::support::*;

const PUBLIC: &str = "https://sms.example.com";

fn limited(store: Arc<MemoryStore>, limits: RateLimits) -> telephony_serve::GatewayBuilder {
    builder(TOKEN, store)
        .public_url(PUBLIC)
        .inbound_policy(
            telephony_core::InboundPolicy::Open,
            telephony_core::AllowList::parse(&["*".to_string()]).unwrap(),
        )
        .rate_limits(limits)
}

fn signed_post(path: &str, sig: &str, body: String) -> Request<Body> {
    post(path, FORM, Some(sig), body)
}

/// (status, `Retry-After`, body).
async fn call(gw: &Gateway, req: Request<Body>) -> (StatusCode, Option<String>, String) {
    let r = oneshot(gw.router(), req).await;
    let retry_after = r
        .headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status, retry_after, r.body)
}

async fn text(gw: &Gateway, from: &str, sid: &str, forged: bool) -> StatusCode {
    let (body, sig) = InboundSms {
        account_sid: ACCOUNT.into(),
        from: from.into(),
        to: "+15550001234".into(),
        body: sid.into(),
        message_sid: Some(sid.into()),
        media: vec![],
    }
    .signed(
        if forged { "not-the-token" } else { TOKEN },
        &format!("{PUBLIC}/telephony/webhook"),
    );
    let (status, _, answer) = call(gw, signed_post("/telephony/webhook", &sig, body)).await;
    if status == StatusCode::OK {
        assert_eq!(answer, EMPTY_TWIML);
    }
    status
}

#[tokio::test]
async fn messages_over_the_per_sender_limit_are_stored_throttled_and_never_dispatched() {
    let store = Arc::new(MemoryStore::new());
    let handled = Arc::new(AtomicUsize::new(0));
    let seen = handled.clone();
    let limits = RateLimits {
        inbound_per_sender: Rate::per_minute(2.0).unwrap().with_burst(2).unwrap(),
        ..RateLimits::default()
    };
    let gw = limited(store.clone(), limits)
        .handler(move |_m: InboundMessage, _r: Replier| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok::<(), HandlerError>(())
            }
        })
        .build();
    let workers = gw.spawn_workers();
    let (alice, bob, carol) = ("+15557654321", "+15557650000", "+15557651111");
    // Forged requests are refused before the limiter: they spend nothing of carol's budget.
    for i in 0..3 {
        assert_eq!(
            text(&gw, carol, &format!("SMforged{i}"), true).await,
            StatusCode::FORBIDDEN
        );
    }
    for sid in ["SMa1", "SMa2", "SMa3", "SMa4"] {
        assert_eq!(text(&gw, alice, sid, false).await, StatusCode::OK);
    }
    assert_eq!(text(&gw, bob, "SMb1", false).await, StatusCode::OK);
    assert_eq!(text(&gw, carol, "SMc1", false).await, StatusCode::OK);
    assert_eq!(text(&gw, carol, "SMc2", false).await, StatusCode::OK);
    // A repeated delivery of a throttled message is a duplicate, not another throttle.
    assert_eq!(text(&gw, alice, "SMa3", false).await, StatusCode::OK);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.queued_inbound(10).await.unwrap().len() + handled.load(Ordering::SeqCst) < 5
        || !store.queued_inbound(10).await.unwrap().is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dispatch did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.shutdown().await;
    let inbox = store.inbox(&InboxQuery::default()).await.unwrap();
    let states: Vec<(&str, InboxState, Option<&str>)> = inbox
        .iter()
        .map(|e| (e.message.provider_sid.as_str(), e.state, e.note.as_deref()))
        .collect();
    let note = Some("over rateLimits.inboundPerSender (2/min, burst 2)");
    assert_eq!(
        states,
        [
            ("SMa1", InboxState::Accepted, None),
            ("SMa2", InboxState::Accepted, None),
            ("SMa3", InboxState::Throttled, note),
            ("SMa4", InboxState::Throttled, note),
            ("SMb1", InboxState::Accepted, None),
            ("SMc1", InboxState::Accepted, None),
            ("SMc2", InboxState::Accepted, None),
        ]
    );
    assert_eq!(
        handled.load(Ordering::SeqCst),
        5,
        "throttled messages never reach the handler"
    );
    let m = gw.metrics();
    assert_eq!(
        m.get(
            "telephony_rate_limited_total",
            &[("limiter", "inbound_sender")]
        ),
        2
    );
    assert_eq!(
        m.get(
            "telephony_webhooks_total",
            &[("route", "message"), ("outcome", "throttled")]
        ),
        2
    );
    assert_eq!(
        m.get(
            "telephony_webhooks_total",
            &[("route", "message"), ("outcome", "duplicate")]
        ),
        1
    );
}

#[tokio::test]
async fn status_callbacks_over_their_limit_are_answered_429_with_retry_after() {
    let store = Arc::new(MemoryStore::new());
    let limits = RateLimits {
        status_callbacks: Rate::per_minute(1.0).unwrap().with_burst(2).unwrap(),
        // The message limit is separate: a tight one does not touch status callbacks.
        inbound_per_sender: Rate::per_minute(1.0).unwrap(),
        ..RateLimits::default()
    };
    let gw = limited(store.clone(), limits).build();
    let url = format!("{PUBLIC}/telephony/status");
    let mut answers = Vec::new();
    for (i, st) in ["sent", "delivered", "read"].iter().enumerate() {
        let pairs: Vec<(String, String)> = [
            ("MessageSid", format!("SMs{i}")),
            ("MessageStatus", st.to_string()),
            ("AccountSid", ACCOUNT.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let sig = RequestValidator::new(TOKEN).compute(&url, &pairs);
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        answers.push(call(&gw, signed_post("/telephony/status", &sig, body)).await);
    }
    assert_eq!(
        (answers[0].0, answers[1].0),
        (StatusCode::OK, StatusCode::OK)
    );
    // Burst 2 spent; the next slot is one interval (60 s) after the burst.
    assert_eq!(
        answers[2],
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("60".to_string()),
            "too many status callbacks (rateLimits.statusCallbacks 1/min, burst 2); retry after 60 s\n"
                .to_string()
        )
    );
    let m = gw.metrics();
    assert_eq!(
        m.get(
            "telephony_rate_limited_total",
            &[("limiter", "status_callbacks")]
        ),
        1
    );
    assert_eq!(
        m.get(
            "telephony_webhooks_total",
            &[("route", "status"), ("outcome", "429")]
        ),
        1
    );
    // Messages still have their own budget.
    assert_eq!(
        text(&gw, "+15557654321", "SMafter", false).await,
        StatusCode::OK
    );
    // Stored, not throttled: `accepted` at once, since this gateway has no handler and no
    // forwarding and its policy is `open` (nothing left for the dispatch worker).
    let inbox = store.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(inbox[0].state, InboxState::Accepted);
}

/// A router served without `ConnectInfo` (plain `axum::serve(listener, router)`, as
/// `examples/embed_axum.rs` does) still limits invalid requests: they share one
/// "unknown peer" budget instead of going unlimited, and one warning says how to give the
/// gateway client addresses.
#[tokio::test]
async fn invalid_requests_are_limited_when_served_without_client_addresses() {
    use std::num::NonZeroU32;
    use telephony_serve::limits::Quota;

    let logs = logs::capture();
    let gw = limited(Arc::new(MemoryStore::new()), RateLimits::default())
        .invalid_request_limit(Some(Quota::per_hour(NonZeroU32::new(2).unwrap())))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = gw.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..4 {
        let resp = http
            .post(format!("http://{addr}/telephony/webhook"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", "forged")
            .body(format!("MessageSid=SM{i}&From=%2B15557654321&Body=hi"))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(
        statuses,
        [403, 403, 429, 429],
        "the quota is 2 invalid requests"
    );
    let warnings: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("into_make_service_with_connect_info::<SocketAddr>()"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning, at first use: {warnings:?}");
    assert!(warnings[0].starts_with(" WARN "), "{warnings:?}");
    assert_eq!(
        gw.metrics().get(
            "telephony_rate_limited_total",
            &[("limiter", "invalid_requests")]
        ),
        2
    );
}
