//! End to end on loopback: the provider sends through the simulator, and the simulator's
//! signed webhooks verify through `TelnyxProvider::handle_webhook`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use telephony_core::{
    DeliveryStatus, OutboundMessage, Provider, SendOptions, SignatureCheck, WebhookEvent,
    WebhookRequest,
};
use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
use telephony_telnyx_simulator::{
    InboundSms, Injection, OPTED_OUT_RECIPIENT, POOL_SENDER, RunningSimulator, Simulator,
    SimulatorConfig,
};
use tokio::sync::mpsc;

use crate::support;

/// A receiver on 127.0.0.1 that forwards every webhook as a `WebhookRequest`.
async fn receiver() -> (String, mpsc::UnboundedReceiver<WebhookRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    async fn hook(
        State((tx, base)): State<(mpsc::UnboundedSender<WebhookRequest>, String)>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        let _ = tx.send(WebhookRequest {
            url: format!("{base}{}", uri.path()),
            method: http::Method::POST,
            headers,
            body,
        });
        ""
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(hook)
        .with_state((tx, base.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("{base}/telephony/webhook"), rx)
}

async fn start(config: SimulatorConfig) -> (Simulator, RunningSimulator, TelnyxProvider) {
    let (sim, running) =
        support::start(config.with_callback_delay(Duration::from_millis(10))).await;
    let provider = TelnyxProvider::new(
        TelnyxConfig::new(sim.config().api_key.expose())
            .public_key(sim.public_key_base64())
            .from_number("+15550001234".parse().unwrap())
            .api_base_url(running.url()),
    )
    .unwrap();
    (sim, running, provider)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<WebhookRequest>) -> WebhookRequest {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a webhook in time")
        .unwrap()
}

fn msg(to: &str) -> OutboundMessage {
    OutboundMessage::new(to.parse().unwrap(), "Hello!")
}

#[tokio::test]
async fn send_then_signed_sent_and_finalized_webhooks_verify() {
    let (url, mut rx) = receiver().await;
    let (sim, running, provider) = start(SimulatorConfig::generate()).await;
    let receipt = provider
        .send(
            &msg("+15550005678"),
            &SendOptions::with_status_callback(&url),
        )
        .await
        .unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Queued);
    assert_eq!(receipt.from.as_deref(), Some("+15550001234"));
    assert_eq!(receipt.num_segments, Some(1));

    let mut statuses = Vec::new();
    for _ in 0..2 {
        let req = next(&mut rx).await;
        assert_eq!(req.headers["content-type"], "application/json");
        let WebhookEvent::Status(u) = provider
            .handle_webhook(&req, SignatureCheck::Verify)
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(u.provider_sid, receipt.sid);
        statuses.push(u.status);
    }
    assert_eq!(statuses, [DeliveryStatus::Sent, DeliveryStatus::Delivered]);

    let stored = sim.message(&receipt.sid).unwrap();
    assert_eq!(stored.to[0].status.as_deref(), Some("delivered"));
    assert_eq!(stored.webhook_url.as_deref(), Some(url.as_str()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hooks = sim.webhooks();
    assert_eq!(
        hooks
            .iter()
            .map(|h| h.event_type.as_str())
            .collect::<Vec<_>>(),
        ["message.sent", "message.finalized"]
    );
    assert!(hooks.iter().all(|h| h.succeeded()));
    running.shutdown().await;
}

#[tokio::test]
async fn another_keys_provider_rejects_the_webhooks() {
    let (url, mut rx) = receiver().await;
    let (_sim, running, provider) = start(SimulatorConfig::generate()).await;
    provider
        .send(
            &msg("+15550005678"),
            &SendOptions::with_status_callback(&url),
        )
        .await
        .unwrap();
    let req = next(&mut rx).await;
    let stranger = TelnyxProvider::new(
        TelnyxConfig::new("k")
            .public_key(SimulatorConfig::generate().public_key_base64())
            .messaging_profile_id("p"),
    )
    .unwrap();
    assert_eq!(
        stranger
            .handle_webhook(&req, SignatureCheck::Verify)
            .unwrap_err()
            .http_status(),
        403
    );
    running.shutdown().await;
}

#[tokio::test]
async fn delivery_failure_carries_the_error_code() {
    let (url, mut rx) = receiver().await;
    let (_sim, running, provider) = start(
        SimulatorConfig::generate()
            .with_default_webhook_url(&url)
            .with_final_status(DeliveryStatus::Failed),
    )
    .await;
    provider
        .send(&msg("+15550005678"), &SendOptions::default())
        .await
        .unwrap();
    let _sent = next(&mut rx).await;
    let WebhookEvent::Status(u) = provider
        .handle_webhook(&next(&mut rx).await, SignatureCheck::Verify)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(u.status, DeliveryStatus::Failed);
    assert_eq!(u.provider_status.as_deref(), Some("delivery_failed"));
    assert_eq!(u.error_code, Some(40008));
    running.shutdown().await;
}

#[tokio::test]
async fn inbound_messages_are_signed_and_posted() {
    let (url, mut rx) = receiver().await;
    let (sim, running, provider) = start(SimulatorConfig::generate()).await;
    let sms = InboundSms::new("+15550005678", "+15550001234", "Hi there").with_media(
        "https://media.example/a.png",
        "image/png",
        99,
    );
    let record = sim.post_inbound(&sms, &url).await;
    assert!(record.succeeded(), "{record:?}");
    let WebhookEvent::Message(m) = provider
        .handle_webhook(&next(&mut rx).await, SignatureCheck::Verify)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (
            m.provider_sid.as_str(),
            m.from.as_str(),
            m.to.as_str(),
            m.body.as_str()
        ),
        (
            sms.message_id.as_str(),
            "+15550005678",
            "+15550001234",
            "Hi there"
        )
    );
    assert_eq!(m.media[0].content_type.as_deref(), Some("image/png"));
    // Without posting: the same event, signed for a URL.
    let signed = sim.signed_inbound(&sms, &url);
    assert!(matches!(
        provider.handle_webhook(&signed.request(), SignatureCheck::Verify),
        Ok(WebhookEvent::Message(_))
    ));
    running.shutdown().await;
}

#[tokio::test]
async fn errors_in_telnyx_shape_one_request_each() {
    let (sim, running, provider) = start(SimulatorConfig::generate()).await;
    let opts = SendOptions::default();

    let err = provider
        .send(&msg(OPTED_OUT_RECIPIENT), &opts)
        .await
        .unwrap_err();
    assert!(err.is_opted_out(), "{err}");
    assert_eq!((err.http_status(), err.code()), (Some(409), Some(40300)));

    sim.inject(Injection::rate_limited(3));
    let err = provider
        .send(&msg("+15550005678"), &opts)
        .await
        .unwrap_err();
    assert_eq!(
        (err.http_status(), err.retry_after()),
        (Some(429), Some(Duration::from_secs(3)))
    );
    assert!(err.is_retryable());

    sim.inject(Injection::server_error().times(2));
    for _ in 0..2 {
        let err = provider
            .send(&msg("+15550005678"), &opts)
            .await
            .unwrap_err();
        assert_eq!((err.http_status(), err.code()), (Some(500), Some(10007)));
    }
    assert_eq!(sim.send_requests(), 4, "no retries inside the client");
    assert!(sim.messages().is_empty());
    provider.send(&msg("+15550005678"), &opts).await.unwrap();
    assert_eq!(sim.messages().len(), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn auth_and_validation_answers() {
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/v2/messages", running.url());

    let resp = http
        .post(&url)
        .bearer_auth("wrong")
        .json(&serde_json::json!({"to": "+15550005678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "10009");

    let key = sim.config().api_key.expose();
    let cases = [
        (
            serde_json::json!({"from": "+15550001234", "text": "x"}),
            "10004",
            "/to",
        ),
        (
            serde_json::json!({"to": "+15550005678", "text": "x"}),
            "10004",
            "/from",
        ),
        (
            serde_json::json!({"from": "+15550001234", "to": "+15550005678"}),
            "10004",
            "/text",
        ),
        (
            serde_json::json!({"from": "+15550001234", "to": "12", "text": "x"}),
            "40310",
            "/to",
        ),
    ];
    for (req, code, pointer) in cases {
        let resp = http
            .post(&url)
            .bearer_auth(key)
            .json(&req)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{req}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], code, "{req}");
        assert_eq!(body["errors"][0]["source"]["pointer"], pointer, "{req}");
    }

    // A profile-only send gets the pool's sender.
    let resp = http
        .post(&url)
        .bearer_auth(key)
        .json(
            &serde_json::json!({"messaging_profile_id": "prof", "to": "+15550005678", "text": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["from"]["phone_number"], POOL_SENDER);
    assert_eq!(body["data"]["to"][0]["status"], "queued");
    running.shutdown().await;
}

#[tokio::test]
async fn unreachable_webhook_is_recorded_not_fatal() {
    // Bound, not listening: a connection is refused, and no other test's listener
    // can be given the port while this socket is held.
    let listener = tokio::net::TcpSocket::new_v4().unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = format!("http://{}/hook", listener.local_addr().unwrap());
    let (sim, running, provider) = start(SimulatorConfig::generate()).await;
    provider
        .send(
            &msg("+15550005678"),
            &SendOptions::with_status_callback(&dead),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sim.webhooks().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let hooks = sim.webhooks();
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|h| !h.succeeded() && h.error.is_some()));
    running.shutdown().await;
}
