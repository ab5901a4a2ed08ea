//! The public routes through `tower::ServiceExt::oneshot`: signature checks, limits, bad
//! input, persistence before acknowledgement, duplicate deliveries.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use telephony_core::store::prelude::*;
use telephony_core::{InboxQuery, InboxState, MemoryStore};
use telephony_serve::Gateway;
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use tower::ServiceExt;

use crate::support::*;

const PUBLIC: &str = "https://sms.example.com";

fn gateway(store: Arc<MemoryStore>) -> Gateway {
    builder(TOKEN, store).public_url(PUBLIC).build()
}

/// (status, content type, body).
async fn call(gw: &Gateway, req: Request<Body>) -> (StatusCode, String, String) {
    let r = oneshot(gw.router(), req).await;
    let ct = r.header("content-type");
    (r.status, ct, r.body)
}

#[tokio::test]
async fn signed_webhook_is_stored_then_acknowledged_with_empty_twiml() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(store.clone());
    let (body, sig) = sms("SM0123456789abcdef0123456789abcdef", "Hello + bye")
        .signed(TOKEN, &format!("{PUBLIC}/telephony/webhook"));
    let (status, ct, text) = call(
        &gw,
        post(
            "/telephony/webhook",
            "application/x-www-form-urlencoded; charset=utf-8",
            Some(&sig),
            body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/xml");
    assert_eq!(text, EMPTY_TWIML);
    let inbox = store.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(inbox.len(), 1);
    let m = &inbox[0].message;
    assert_eq!(m.provider_sid, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(m.from, "+15557654321");
    assert_eq!(m.to, "+15550001234");
    assert_eq!(m.body, "Hello + bye");
    assert_eq!(m.account_sid.as_deref(), Some(ACCOUNT));
    assert_eq!(inbox[0].state, InboxState::Queued);
}

#[tokio::test]
async fn duplicate_delivery_is_acknowledged_and_stored_once() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(store.clone());
    let (body, sig) = sms("SMdup00000000000000000000000000000", "once")
        .signed(TOKEN, &format!("{PUBLIC}/telephony/webhook"));
    for _ in 0..3 {
        let (status, _, text) = call(
            &gw,
            post(
                "/telephony/webhook",
                "application/x-www-form-urlencoded",
                Some(&sig),
                body.clone(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(text, EMPTY_TWIML);
    }
    assert_eq!(inbox_len(&store).await, 1);
    assert_eq!(store.queued_inbound(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_signed_url_includes_the_raw_query_string() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(store.clone());
    let (body, sig) =
        sms("SMq", "q").signed(TOKEN, &format!("{PUBLIC}/telephony/webhook?acct=a%20b&x=1"));
    let (status, _, _) = call(
        &gw,
        post(
            "/telephony/webhook?acct=a%20b&x=1",
            "application/x-www-form-urlencoded",
            Some(&sig),
            body.clone(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Same body and signature without the query: a different URL, refused.
    let (status, _, _) = call(
        &gw,
        post(
            "/telephony/webhook",
            "application/x-www-form-urlencoded",
            Some(&sig),
            body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(inbox_len(&store).await, 1);
}

#[tokio::test]
async fn bad_requests_are_refused_and_write_nothing() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(store.clone());
    let url = format!("{PUBLIC}/telephony/webhook");
    let form = "application/x-www-form-urlencoded";
    let (body, sig) = sms("SMbad", "x").signed(TOKEN, &url);

    // Missing signature.
    let (s, _, t) = call(&gw, post("/telephony/webhook", form, None, body.clone())).await;
    assert_eq!(
        (s, t.as_str()),
        (StatusCode::FORBIDDEN, "missing X-Twilio-Signature header\n")
    );
    // Invalid signature (signed with another token).
    let (_, other) = sms("SMbad", "x").signed("00000000000000000000000000000000", &url);
    let (s, _, t) = call(
        &gw,
        post("/telephony/webhook", form, Some(&other), body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(t, format!("invalid webhook signature for {url}\n"));
    // Signed for a different host.
    let (_, elsewhere) =
        sms("SMbad", "x").signed(TOKEN, "https://evil.example.com/telephony/webhook");
    let (s, _, _) = call(
        &gw,
        post("/telephony/webhook", form, Some(&elsewhere), body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A Host header cannot change the signed URL when publicUrl is set.
    let mut req = post("/telephony/webhook", form, Some(&elsewhere), body.clone());
    req.headers_mut()
        .insert("host", "evil.example.com".parse().unwrap());
    assert_eq!(call(&gw, req).await.0, StatusCode::FORBIDDEN);
    // Non-form content type: signed over the URL alone with bodySHA256 (PROTOCOL §1.4);
    // a form signature on a URL without bodySHA256 is refused before the content type
    // is looked at.
    let (s, _, t) = call(
        &gw,
        post(
            "/telephony/webhook",
            "application/json",
            Some(&sig),
            "{}".into(),
        ),
    )
    .await;
    assert_eq!(
        (s, t),
        (
            StatusCode::FORBIDDEN,
            format!("invalid webhook signature for {url}\n")
        )
    );
    // Over 64 KiB.
    let big = "Body=".to_string() + &"a".repeat(64 * 1024);
    let (s, _, _) = call(&gw, post("/telephony/webhook", form, Some(&sig), big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // Missing MessageSid / From, correctly signed: 400 with a reason.
    for (params, missing) in [
        (vec![("From", "+15557654321"), ("Body", "hi")], "MessageSid"),
        (vec![("MessageSid", "SMnofrom"), ("Body", "hi")], "From"),
    ] {
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sig = RequestValidator::new(TOKEN).compute(&url, &pairs);
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let (s, _, t) = call(&gw, post("/telephony/webhook", form, Some(&sig), body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            t,
            format!("webhook is missing required parameter {missing}\n")
        );
    }
    assert_eq!(inbox_len(&store).await, 0);
}

#[tokio::test]
async fn health_and_nothing_else() {
    let gw = gateway(Arc::new(MemoryStore::new()));
    let (s, ct, t) = call(&gw, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (s, ct.as_str(), t.as_str()),
        (StatusCode::OK, "application/json", r#"{"status":"ok"}"#)
    );
    for path in [
        "/telephony/send",
        "/telephony/inbox",
        "/telephony/messages/x",
        "/",
        "/admin",
    ] {
        let (s, _, _) = call(&gw, post(path, "application/json", None, "{}".into())).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _, _) = call(
        &gw,
        Request::get("/telephony/webhook")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn without_public_url_the_router_fails_closed() {
    let store = Arc::new(MemoryStore::new());
    let cfg = TwilioConfig::new(ACCOUNT, TOKEN);
    let gw = Gateway::builder(Arc::new(TwilioProvider::new(cfg).unwrap()), store.clone()).build();
    let (body, sig) = sms("SMx", "x").signed(TOKEN, "http://localhost/telephony/webhook");
    let mut req = post(
        "/telephony/webhook",
        "application/x-www-form-urlencoded",
        Some(&sig),
        body,
    );
    req.headers_mut()
        .insert("host", "localhost".parse().unwrap());
    let (s, _, t) = call(&gw, req).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(t.contains("no publicUrl configured"), "{t}");
    assert_eq!(inbox_len(&store).await, 0);
}

#[tokio::test]
async fn status_callbacks_only_move_forward() {
    use telephony_core::{Address, DeliveryStatus, MessageId, OutboundMessage, ProviderReceipt};
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(store.clone());
    let id = MessageId::from_string("msg_1");
    let now = time::OffsetDateTime::now_utc();
    store
        .enqueue_outbound(
            &id,
            &OutboundMessage::new(Address::parse("+15557654321").unwrap(), "x"),
            now,
        )
        .await
        .unwrap();
    let claimed = store
        .claim_outbound(now, std::time::Duration::from_secs(60), 1)
        .await
        .unwrap();
    store
        .complete_outbound(
            &id,
            claimed[0].lease,
            &ProviderReceipt {
                sid: "SMs1".into(),
                status: DeliveryStatus::Queued,
                from: None,
                num_segments: Some(1),
                price: None,
                price_unit: None,
            },
            now,
        )
        .await
        .unwrap();
    let url = format!("{PUBLIC}/telephony/status");
    for st in ["sent", "delivered", "sent"] {
        let pairs: Vec<(String, String)> = [
            ("MessageSid", "SMs1"),
            ("MessageStatus", st),
            ("SmsSid", "SMs1"),
            ("SmsStatus", st),
            ("AccountSid", ACCOUNT),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sig = RequestValidator::new(TOKEN).compute(&url, &pairs);
        let (s, _, t) = call(
            &gw,
            post(
                "/telephony/status",
                "application/x-www-form-urlencoded",
                Some(&sig),
                serde_urlencoded::to_string(&pairs).unwrap(),
            ),
        )
        .await;
        assert_eq!((s, t.as_str()), (StatusCode::OK, EMPTY_TWIML));
    }
    let r = store.receipt(&id).await.unwrap().unwrap();
    assert_eq!(r.status, DeliveryStatus::Delivered);
    let hist: Vec<_> = r.history.iter().map(|h| h.status.as_str()).collect();
    assert_eq!(hist, ["pending", "queued", "sent", "delivered"]);
}

/// Signs form `params` for `path` with the test auth token.
fn signed_form(path: &str, params: &[(&str, &str)]) -> (String, String) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sig = RequestValidator::new(TOKEN).compute(&format!("{PUBLIC}{path}"), &owned);
    (serde_urlencoded::to_string(&owned).unwrap(), sig)
}

#[tokio::test]
async fn calls_are_rejected_with_valid_twiml_until_voice_is_enabled() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(store.clone());
    let form = "application/x-www-form-urlencoded";
    // "A call comes in" (PROTOCOL §2.3): never a 404 or an empty answer, which Twilio
    // reports as 11200/12100 and the caller hears as an application error.
    let (body, sig) = signed_form(
        "/telephony/webhook",
        &[
            ("CallSid", "CA0123456789abcdef0123456789abcdef"),
            ("AccountSid", ACCOUNT),
            ("From", "+15557654321"),
            ("To", "+15550001234"),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ],
    );
    let (status, ct, text) = call(&gw, post("/telephony/webhook", form, Some(&sig), body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/xml");
    assert_eq!(
        text,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="rejected"/></Response>"#
    );
    // A call status callback is acknowledged (200, valid TwiML): never 15003.
    let (body, sig) = signed_form(
        "/telephony/status",
        &[
            ("CallSid", "CA0123456789abcdef0123456789abcdef"),
            ("AccountSid", ACCOUNT),
            ("From", "+15557654321"),
            ("To", "+15550001234"),
            ("CallStatus", "completed"),
            ("CallDuration", "0"),
            ("SequenceNumber", "0"),
        ],
    );
    let (status, ct, text) = call(&gw, post("/telephony/status", form, Some(&sig), body)).await;
    assert_eq!(
        (status, ct.as_str(), text.as_str()),
        (StatusCode::OK, "text/xml", EMPTY_TWIML)
    );
    // A call with a bad signature changes nothing and is refused.
    let (body, _) = signed_form(
        "/telephony/webhook",
        &[
            ("CallSid", "CA1"),
            ("From", "+15557654321"),
            ("CallStatus", "ringing"),
        ],
    );
    let (status, _, _) = call(
        &gw,
        post("/telephony/webhook", form, Some("bm90IGl0"), body),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(inbox_len(&store).await, 0);
}

#[tokio::test]
async fn metrics_count_webhooks_by_outcome_and_read_the_store_gauges() {
    let store = Arc::new(MemoryStore::new());
    let gw = gateway(store.clone());
    let (body, sig) = sms("SM0123456789abcdef0123456789abcdef", "hi")
        .signed(TOKEN, &format!("{PUBLIC}/telephony/webhook"));
    let form = "application/x-www-form-urlencoded";
    for _ in 0..2 {
        let r = post("/telephony/webhook", form, Some(&sig), body.clone());
        assert_eq!(call(&gw, r).await.0, StatusCode::OK);
    }
    let forged = post("/telephony/webhook", form, Some("AAAA"), body.clone());
    assert_eq!(call(&gw, forged).await.0, StatusCode::FORBIDDEN);
    let huge = post("/telephony/status", form, Some(&sig), "a=1&".repeat(20_000));
    assert_eq!(call(&gw, huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    gw.send("+15550005678", "queued").await.unwrap();

    let admin = gw.admin_router(telephony_core::Secret::new("admintoken"));
    let resp = admin
        .oneshot(
            Request::get("/metrics")
                .header("authorization", "Bearer admintoken")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let age_line = series
        .iter()
        .find(|l| l.starts_with("telephony_outbox_oldest_age_seconds{"))
        .unwrap()
        .to_string();
    let age: f64 = age_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((0.0..5.0).contains(&age), "{age}");
    // Every series names the replica (the process's default id here); per-account ones
    // the account too.
    let replica = telephony_serve::default_replica_id();
    assert_eq!(gw.replica_id(), replica);
    let r = format!("replica=\"{replica}\"");
    let ra = format!("{r},account=\"default\"");
    assert!(
        age_line.starts_with(&format!("telephony_outbox_oldest_age_seconds{{{ra}}} ")),
        "{age_line}"
    );
    // Each webhook counted is also timed: one observation per count, by route and outcome.
    for (route, outcome) in [
        ("message", "403"),
        ("message", "accepted"),
        ("message", "duplicate"),
        ("status", "413"),
    ] {
        let labels = format!("{ra},route=\"{route}\",outcome=\"{outcome}\"");
        assert!(
            series.contains(
                &format!("telephony_webhook_duration_seconds_count{{{labels}}} 1").as_str()
            ),
            "{route} {outcome}: {text}"
        );
        assert!(
            series.contains(
                &format!("telephony_webhook_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 1")
                    .as_str()
            ),
            "{text}"
        );
    }
    assert_eq!(
        series
            .iter()
            .filter(|l| !l.starts_with("telephony_outbox_oldest_age_seconds{"))
            .filter(|l| !l.starts_with("telephony_webhook_duration_seconds"))
            .cloned()
            .collect::<Vec<_>>(),
        [
            format!(
                "telephony_build_info{{{r},version=\"{}\",provider=\"twilio\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
            format!("telephony_webhooks_total{{{ra},route=\"message\",outcome=\"403\"}} 1"),
            format!("telephony_webhooks_total{{{ra},route=\"message\",outcome=\"accepted\"}} 1"),
            format!("telephony_webhooks_total{{{ra},route=\"message\",outcome=\"duplicate\"}} 1"),
            format!("telephony_webhooks_total{{{ra},route=\"status\",outcome=\"413\"}} 1"),
            format!("telephony_outbox_depth{{{ra}}} 1"),
            format!("telephony_forward_queue_depth{{{ra}}} 0"),
            format!("telephony_live_sessions{{{ra}}} 0"),
            // The store's own account: no errors, writes commit (a memory store has no
            // size on disk, so no telephony_store_bytes).
            format!("telephony_store_errors_total{{{ra},kind=\"disk_full\"}} 0"),
            format!("telephony_store_errors_total{{{ra},kind=\"io\"}} 0"),
            format!("telephony_store_errors_total{{{ra},kind=\"busy\"}} 0"),
            format!("telephony_store_errors_total{{{ra},kind=\"unavailable\"}} 0"),
            format!("telephony_store_errors_total{{{ra},kind=\"constraint\"}} 0"),
            format!("telephony_store_errors_total{{{ra},kind=\"other\"}} 0"),
            format!("telephony_store_write_failing{{{ra}}} 0"),
        ]
    );
    let unauthorized = gw
        .admin_router(telephony_core::Secret::new("admintoken"))
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
}

/// Without a `ConnectInfo` peer (as through `oneshot`) the peer is untrusted: forwarded
/// headers are ignored when `trustedProxies` is set; with a trusted peer they are used.
#[tokio::test]
async fn forwarded_headers_need_a_known_trusted_peer() {
    use axum::extract::ConnectInfo;
    let store = Arc::new(MemoryStore::new());
    let cfg = TwilioConfig::new(ACCOUNT, TOKEN).from_number("+15550001234".parse().unwrap());
    let gw = Gateway::builder(Arc::new(TwilioProvider::new(cfg).unwrap()), store.clone())
        .trust_forwarding_headers(vec!["gw.example.com".into()])
        .trusted_proxies(
            telephony_serve::client_ip::TrustedProxies::parse(&["192.0.2.1".into()]).unwrap(),
        )
        .build();
    // Twilio requested http://gw.example.com (the proxy says so in X-Forwarded-Proto).
    let (body, sig) = sms("SM0000000000000000000000000000prx1", "x")
        .signed(TOKEN, "http://gw.example.com/telephony/webhook");
    let req = |peer: Option<&str>| {
        let mut r = post(
            "/telephony/webhook",
            "application/x-www-form-urlencoded",
            Some(&sig),
            body.clone(),
        );
        r.headers_mut()
            .insert("host", "gw.example.com".parse().unwrap());
        r.headers_mut()
            .insert("x-forwarded-proto", "http".parse().unwrap());
        if let Some(p) = peer {
            r.extensions_mut()
                .insert(ConnectInfo(p.parse::<std::net::SocketAddr>().unwrap()));
        }
        r
    };
    // Unknown peer and untrusted peer: the proto header is ignored, https:// is checked.
    for peer in [None, Some("198.51.100.7:4000")] {
        let (s, _, t) = call(&gw, req(peer)).await;
        assert_eq!(
            (s, t.as_str()),
            (
                StatusCode::FORBIDDEN,
                "invalid webhook signature for https://gw.example.com/telephony/webhook\n"
            ),
            "{peer:?}"
        );
    }
    assert_eq!(inbox_len(&store).await, 0);
    let (s, _, t) = call(&gw, req(Some("192.0.2.1:4000"))).await;
    assert_eq!((s, t.as_str()), (StatusCode::OK, EMPTY_TWIML));
    assert_eq!(inbox_len(&store).await, 1);
}
