//! The gateway on Telnyx over real HTTP on loopback, with a real SQLite store in a temporary
//! directory and the Telnyx simulator: signed inbound webhooks → inbox → handler → reply
//! through the simulator → signed status webhooks → receipt `delivered`; redelivery,
//! signature failures, cross-provider webhooks, pairing, opt-outs, chunking, retries,
//! forwarding and config errors.
#![cfg(feature = "telnyx")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony::config::Config;
use telephony::server::{self, RunningGateway, ServeOptions};
use telephony_core::{
    Channel, DeliveryStatus, InboundMessage, InboxQuery, InboxState, Media, PhoneNumber,
};
use telephony_serve::{Gateway, HandlerError, MessageHandler, Replier, SendError};
use telephony_store::SqliteStore;
use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
use telephony_telnyx_simulator::{
    InboundSms, Injection, OPTED_OUT_RECIPIENT, Simulator, SimulatorConfig,
};

use crate::support::{start_with, wait_for};

const ALICE: &str = "+15557654321";
/// The Telnyx sandbox's default sender.
const OUR_NUMBER: &str = "+12025550123";

fn config(dir: &std::path::Path, extra: &str) -> Config {
    Config::from_json5_str(&format!(
        "{{ provider: 'telnyx', serve: {{ port: 0 }}, admin: {{ port: 0 }}, dataDir: {:?}, {extra} }}",
        dir.display().to_string()
    ))
    .unwrap()
}

type Seen = Arc<Mutex<Vec<String>>>;

/// A handler that records `from: body` and replies `echo: body`.
fn echo_handler(seen: Seen) -> Arc<dyn MessageHandler> {
    Arc::new(move |msg: InboundMessage, reply: Replier| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push(format!("{}: {}", msg.from, msg.body));
            reply.send(format!("echo: {}", msg.body)).await?;
            Ok::<(), HandlerError>(())
        }
    })
}

async fn start_sandbox(
    dir: &std::path::Path,
    extra: &str,
    handler: Option<Arc<dyn MessageHandler>>,
) -> (RunningGateway, Simulator) {
    let gw = start_with(&config(dir, extra), handler).await.unwrap();
    let sim = gw
        .simulator
        .as_ref()
        .unwrap()
        .telnyx()
        .expect("a Telnyx sandbox")
        .clone();
    (gw, sim)
}

/// POSTs raw headers and body to `url`; returns status and body text.
async fn post_raw(url: &str, headers: &reqwest::header::HeaderMap, body: Vec<u8>) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .headers(headers.clone())
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Signs `sms` as the simulator would and POSTs it to the gateway's webhook URL.
async fn post_telnyx_inbound(
    gw: &RunningGateway,
    sim: &Simulator,
    sms: &InboundSms,
) -> (u16, String) {
    let signed = sim.signed_inbound(sms, &gw.runtime.webhook_url);
    post_raw(
        &gw.runtime.webhook_url,
        &signed.headers,
        signed.body.to_vec(),
    )
    .await
}

async fn inbox(gw: &RunningGateway) -> Vec<telephony_core::InboxEntry> {
    gw.gateway
        .store()
        .inbox(&InboxQuery::default())
        .await
        .unwrap()
}

/// Texts the simulator was asked to send to `to`, oldest first.
fn texts_to(sim: &Simulator, to: &str) -> Vec<String> {
    sim.messages()
        .iter()
        .filter(|m| m.to[0].phone_number == to)
        .map(|m| m.text.clone().unwrap_or_default())
        .collect()
}

async fn wait_delivered(gw: &Gateway, id: &telephony_core::MessageId) -> telephony_core::Receipt {
    wait_for("delivered", || async {
        gw.receipt(id).await.unwrap().unwrap().status == DeliveryStatus::Delivered
    })
    .await;
    gw.receipt(id).await.unwrap().unwrap()
}

fn history(r: &telephony_core::Receipt) -> Vec<DeliveryStatus> {
    r.history.iter().map(|h| h.status).collect()
}

#[tokio::test]
async fn sandbox_round_trip_inbound_reply_and_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Seen::default();
    let (gw, sim) = start_sandbox(
        dir.path(),
        "inboundPolicy: 'allowlist', allowFrom: ['+15557654321']",
        Some(echo_handler(seen.clone())),
    )
    .await;
    assert_eq!(gw.runtime.provider, "telnyx");
    assert_eq!(
        gw.runtime.status_url,
        format!("http://{}/telephony/status", gw.public_addr)
    );

    let sms = InboundSms::new(ALICE, OUR_NUMBER, "Hello gateway").with_media(
        "https://media.example/cat.jpg",
        "image/jpeg",
        1024,
    );
    // Telnyx expects 200 with an empty body.
    assert_eq!(
        post_telnyx_inbound(&gw, &sim, &sms).await,
        (200, String::new())
    );

    let entries = inbox(&gw).await;
    assert_eq!(entries.len(), 1);
    let m = &entries[0].message;
    assert_eq!(m.channel, Channel::Sms);
    assert_eq!(m.provider_sid, sms.message_id);
    assert_eq!((m.from.as_str(), m.to.as_str()), (ALICE, OUR_NUMBER));
    assert_eq!(m.body, "Hello gateway");
    assert_eq!(
        m.media,
        [Media {
            url: "https://media.example/cat.jpg".into(),
            content_type: Some("image/jpeg".into()),
            size: Some(1024),
        }]
    );

    // Dispatched to the handler, whose reply goes out through the simulator.
    wait_for("the reply", || async { sim.messages().len() == 1 }).await;
    assert_eq!(*seen.lock().unwrap(), ["+15557654321: Hello gateway"]);
    let sent = sim.messages().remove(0);
    assert_eq!(sent.from.as_ref().unwrap().phone_number, OUR_NUMBER);
    assert_eq!(sent.to.len(), 1);
    assert_eq!(sent.to[0].phone_number, ALICE);
    assert_eq!(sent.text.as_deref(), Some("echo: Hello gateway"));
    assert_eq!(
        sent.webhook_url.as_deref(),
        Some(gw.runtime.status_url.as_str())
    );
    wait_for("accepted", || async {
        inbox(&gw).await[0].state == InboxState::Accepted
    })
    .await;

    // message.sent then message.finalized (signed by the simulator) → delivered.
    let receipts = gw.gateway.store().receipts(None, 0).await.unwrap();
    assert_eq!(receipts.len(), 1);
    let r = wait_delivered(&gw.gateway, &receipts[0].id).await;
    assert_eq!(r.provider_sids, std::slice::from_ref(&sent.id));
    assert_eq!(r.body, "echo: Hello gateway");
    assert_eq!(
        history(&r),
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered
        ]
    );
    // The simulator records a webhook's answer once it is back, which can be just after
    // the gateway applied the status it carried.
    wait_for("both status webhooks answered", || async {
        sim.webhooks()
            .iter()
            .filter(|w| w.http_status.is_some())
            .count()
            >= 2
    })
    .await;
    let hooks: Vec<(String, Option<u16>)> = sim
        .webhooks()
        .into_iter()
        .map(|w| (w.event_type, w.http_status))
        .collect();
    assert_eq!(
        hooks,
        [
            ("message.sent".to_string(), Some(200)),
            ("message.finalized".to_string(), Some(200))
        ]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_event_is_acknowledged_stored_once_and_dispatched_once() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Seen::default();
    let (gw, sim) = start_sandbox(
        dir.path(),
        "inboundPolicy: 'open', allowFrom: ['*']",
        Some(echo_handler(seen.clone())),
    )
    .await;
    let sms = InboundSms::new(ALICE, OUR_NUMBER, "only once");
    let signed = sim.signed_inbound(&sms, &gw.runtime.webhook_url);
    for _ in 0..2 {
        assert_eq!(
            post_raw(
                &gw.runtime.webhook_url,
                &signed.headers,
                signed.body.to_vec()
            )
            .await,
            (200, String::new())
        );
    }
    wait_for("the reply", || async { sim.messages().len() == 1 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let entries = inbox(&gw).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].message.provider_sid, sms.message_id);
    assert_eq!(*seen.lock().unwrap(), ["+15557654321: only once"]);
    assert_eq!(texts_to(&sim, ALICE), ["echo: only once"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn signature_failures_get_403_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, sim) =
        start_sandbox(dir.path(), "inboundPolicy: 'open', allowFrom: ['*']", None).await;
    let url = gw.runtime.webhook_url.clone();
    let sms = InboundSms::new(ALICE, OUR_NUMBER, "Hello gateway");
    let signed = sim.signed_inbound(&sms, &url);

    // No signature headers at all.
    let mut bare = reqwest::header::HeaderMap::new();
    bare.insert("content-type", "application/json".parse().unwrap());
    assert_eq!(post_raw(&url, &bare, signed.body.to_vec()).await.0, 403);

    // One byte of the body changed after signing ("Hello" → "Jello": still valid JSON).
    let body = signed.body.to_vec();
    let at = body.windows(5).position(|w| w == b"Hello").unwrap();
    let mut flipped = body.clone();
    flipped[at] = b'J';
    assert_eq!(post_raw(&url, &signed.headers, flipped).await.0, 403);

    // Signed correctly, but 301 s ago (Telnyx's tolerance is 300 s).
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let old = sim.sign(&url, signed.body.clone(), now - 301);
    assert_eq!(post_raw(&url, &old.headers, old.body.to_vec()).await.0, 403);

    assert!(inbox(&gw).await.is_empty());
    // The untouched original is still accepted: the refusals were about the signatures.
    assert_eq!(
        post_raw(&url, &signed.headers, body).await,
        (200, String::new())
    );
    assert_eq!(inbox(&gw).await.len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn webhooks_of_the_other_provider_are_refused_not_misparsed() {
    // A Twilio form webhook, validly signed for Twilio, posted to a Telnyx gateway.
    let dir = tempfile::tempdir().unwrap();
    let (gw, _sim) =
        start_sandbox(dir.path(), "inboundPolicy: 'open', allowFrom: ['*']", None).await;
    let twilio_sms = telephony_twilio_simulator::InboundSms {
        account_sid: "AC00000000000000000000000000000001".into(),
        from: ALICE.into(),
        to: OUR_NUMBER.into(),
        body: "from twilio".into(),
        message_sid: Some("SMe287d7109a5a925f182f0e07fe5b223b".into()),
        media: vec![],
    };
    let (body, sig) = twilio_sms.signed("twilio-token", &gw.runtime.webhook_url);
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8"
            .parse()
            .unwrap(),
    );
    h.insert("x-twilio-signature", sig.parse().unwrap());
    let (status, _) = post_raw(&gw.runtime.webhook_url, &h, body.into_bytes()).await;
    assert_eq!(status, 415);
    assert!(inbox(&gw).await.is_empty());
    gw.shutdown().await;

    // A Telnyx JSON webhook, validly signed by a Telnyx simulator, posted to a Twilio sandbox.
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, inboundPolicy: 'open', allowFrom: ['*'], dataDir: {:?} }}",
        dir.path().display().to_string()
    ))
    .unwrap();
    let gw = server::start(
        &cfg,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(gw.runtime.provider, "twilio");
    let telnyx = Simulator::new(SimulatorConfig::generate());
    let signed = telnyx.signed_inbound(
        &InboundSms::new(ALICE, OUR_NUMBER, "from telnyx"),
        &gw.runtime.webhook_url,
    );
    let (status, _) = post_raw(
        &gw.runtime.webhook_url,
        &signed.headers,
        signed.body.to_vec(),
    )
    .await;
    // A Telnyx JSON body has no Twilio signature (nor a bodySHA256 to check): refused before
    // anything else is looked at.
    assert_eq!(status, 403);
    assert!(inbox(&gw).await.is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn pairing_on_telnyx() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Seen::default();
    let (gw, sim) = start_sandbox(dir.path(), "", Some(echo_handler(seen.clone()))).await;
    let sms = InboundSms::new(ALICE, OUR_NUMBER, "hi");
    assert_eq!(
        post_telnyx_inbound(&gw, &sim, &sms).await,
        (200, String::new())
    );
    wait_for("the pairing SMS", || async { sim.messages().len() == 1 }).await;
    let pending = gw.gateway.pending_pairings().await.unwrap();
    assert_eq!(pending.len(), 1);
    let code = pending[0].code.clone();
    assert_eq!(pending[0].sender.as_str(), ALICE);
    assert_eq!(
        texts_to(&sim, ALICE),
        [format!(
            "Your pairing code is {code}. The owner of this number must approve +15557654321 before your messages are answered. The code expires in 60 minutes."
        )]
    );
    // The dispatch worker records its batch's outcome after the code went out: wait for it.
    wait_for("the message held", || async {
        inbox(&gw)
            .await
            .first()
            .is_some_and(|e| e.state != InboxState::Queued)
    })
    .await;
    let entries = inbox(&gw).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].state, InboxState::PendingPairing);
    assert_eq!(entries[0].note.as_deref(), Some("pairing code sent"));
    assert!(seen.lock().unwrap().is_empty());

    let d = gw.gateway.approve_pairing(&code).await.unwrap();
    assert_eq!(d.request.sender.as_str(), ALICE);
    let notice = d.notification.expect("approval SMS queued");
    let r = wait_delivered(&gw.gateway, &notice.id).await;
    assert_eq!(r.body, "You're approved: you can now text this number.");
    assert_eq!(
        texts_to(&sim, ALICE)[1],
        "You're approved: you can now text this number."
    );
    // Now the sender reaches the handler.
    let sms = InboundSms::new(ALICE, OUR_NUMBER, "now?");
    assert_eq!(
        post_telnyx_inbound(&gw, &sim, &sms).await,
        (200, String::new())
    );
    wait_for("the reply", || async { sim.messages().len() == 3 }).await;
    assert_eq!(*seen.lock().unwrap(), ["+15557654321: now?"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn telnyx_40300_and_inbound_stop_opt_the_number_out() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, sim) = start_sandbox(
        dir.path(),
        "inboundPolicy: 'allowlist', allowFrom: ['+15557654321']",
        None,
    )
    .await;
    let blocked = PhoneNumber::parse(OPTED_OUT_RECIPIENT).unwrap();
    let sent = gw.gateway.send(OPTED_OUT_RECIPIENT, "hi").await.unwrap();
    let r = gw
        .gateway
        .wait_first_attempt(&sent.receipts[0].id, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Failed);
    assert_eq!(r.attempts, 1);
    let err = r.error.unwrap();
    assert_eq!(err.code, Some(40300));
    assert_eq!(
        err.message,
        "Blocked due to STOP message: Messages cannot be sent from +12025550123 to +12025550100 due to an existing block rule."
    );
    assert!(gw.gateway.store().is_opted_out(&blocked).await.unwrap());
    assert_eq!(sim.send_requests(), 1);
    let e = gw
        .gateway
        .send(OPTED_OUT_RECIPIENT, "again")
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::OptedOut { .. }), "{e}");
    assert_eq!(sim.send_requests(), 1);

    // An inbound STOP opts the sender out, as with Twilio.
    let alice = PhoneNumber::parse(ALICE).unwrap();
    assert!(!gw.gateway.store().is_opted_out(&alice).await.unwrap());
    let sms = InboundSms::new(ALICE, OUR_NUMBER, "STOP");
    assert_eq!(
        post_telnyx_inbound(&gw, &sim, &sms).await,
        (200, String::new())
    );
    wait_for("opted out", || async {
        gw.gateway.store().is_opted_out(&alice).await.unwrap()
    })
    .await;
    let e = gw.gateway.send(ALICE, "still there?").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "+15557654321 has opted out of messages (replied STOP); they must text START to opt back in"
    );
    assert_eq!(sim.send_requests(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn long_texts_are_chunked_and_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, sim) = start_sandbox(
        dir.path(),
        "sms: { chunkMode: 'multi', segmentNumbering: true }",
        None,
    )
    .await;
    let (a, b, c) = ("a".repeat(150), "b".repeat(150), "c".repeat(150));
    let sent = gw
        .gateway
        .send(ALICE, format!("{a} {b} {c}"))
        .await
        .unwrap();
    assert_eq!(sent.receipts.len(), 3);
    for r in &sent.receipts {
        wait_delivered(&gw.gateway, &r.id).await;
    }
    let mut got = texts_to(&sim, ALICE);
    got.sort();
    assert_eq!(
        got,
        [
            format!("(1/3) {a}"),
            format!("(2/3) {b}"),
            format!("(3/3) {c}")
        ]
    );
    let bodies: Vec<&str> = sent.receipts.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(bodies, got);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_rate_limit_is_retried_once_then_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, sim) = start_sandbox(dir.path(), "", None).await;
    sim.inject(Injection::rate_limited(1));
    let sent = gw.gateway.send(ALICE, "after the limit").await.unwrap();
    let r = wait_delivered(&gw.gateway, &sent.receipts[0].id).await;
    assert_eq!(r.attempts, 2);
    assert_eq!(sim.send_requests(), 2);
    assert_eq!(texts_to(&sim, ALICE), ["after the limit"]);
    gw.shutdown().await;
}

/// `max_send_attempts` is not a config key; it is set on the gateway builder, so this test
/// builds the gateway itself (real SQLite, the Telnyx provider talking to the simulator).
#[tokio::test]
async fn persistent_500s_fail_after_max_send_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let provider = TelnyxProvider::new(
        TelnyxConfig::new(sim.config().api_key.clone())
            .public_key(sim.public_key_base64())
            .api_base_url(running.url())
            .from_number(OUR_NUMBER.parse().unwrap()),
    )
    .unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db")).await.unwrap());
    let gw = Gateway::builder(Arc::new(provider), store)
        .max_send_attempts(2)
        .build();
    let workers = gw.spawn_workers();
    sim.inject(Injection::server_error().times(100));
    let sent = gw.send(ALICE, "doomed").await.unwrap();
    let id = sent.receipts[0].id.clone();
    wait_for("failed", || async {
        gw.receipt(&id).await.unwrap().unwrap().status == DeliveryStatus::Failed
    })
    .await;
    let r = gw.receipt(&id).await.unwrap().unwrap();
    assert_eq!(r.attempts, 2);
    assert_eq!(r.error.unwrap().code, Some(10007));
    assert_eq!(sim.send_requests(), 2);
    assert!(sim.messages().is_empty());
    workers.shutdown().await;
    running.shutdown().await;
}

#[tokio::test]
async fn telnyx_inbound_is_forwarded_signed() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    type Received = (HeaderMap, Vec<u8>);
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let got2 = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let got = got2.clone();
            async move {
                got.lock().unwrap().push((headers, body.to_vec()));
                StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let receiver = tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let (gw, sim) = start_sandbox(
        dir.path(),
        &format!("inboundPolicy: 'open', allowFrom: ['*'], forward: {{ url: {url:?}, secret: 'fwd-secret' }}"),
        None,
    )
    .await;
    let sms = InboundSms::new(ALICE, OUR_NUMBER, "forward me");
    assert_eq!(
        post_telnyx_inbound(&gw, &sim, &sms).await,
        (200, String::new())
    );
    wait_for("the forward", || async { !got.lock().unwrap().is_empty() }).await;
    let (h, body) = got.lock().unwrap()[0].clone();
    assert_eq!(h["x-telephony-event"], "message.received");
    assert_eq!(
        h["x-telephony-signature"],
        telephony_serve::forward_signature(b"fwd-secret", &body)
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["type"], "message.received");
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains(&format!("{:?}", sms.message_id)), "{text}");
    assert!(text.contains("\"forward me\""), "{text}");
    gw.shutdown().await;
    receiver.abort();
}

#[tokio::test]
async fn config_errors_name_providers_and_keys_and_never_show_secrets() {
    let e = Config::from_json5_str("{ provider: 'bogus' }").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown provider \"bogus\"; compiled-in providers: twilio, telnyx for key \"provider\" in JSON5 source string"
    );

    // No keys and no sandbox: names every missing key and mentions --sandbox.
    let dir = tempfile::tempdir().unwrap();
    let e = server::start(&config(dir.path(), ""), ServeOptions::default())
        .await
        .unwrap_err();
    assert!(e.is_config());
    assert_eq!(
        e.to_string(),
        "cannot talk to Telnyx: missing telnyx.apiKey (or TELNYX_API_KEY), telnyx.publicKey (or TELNYX_PUBLIC_KEY), fromNumber or telnyx.messagingProfileId (or TELNYX_MESSAGING_PROFILE_ID). Set them in the config file or environment, or run `telephony serve --sandbox` to try the gateway against the built-in Telnyx simulator"
    );

    // A 31-byte public key.
    use base64::Engine as _;
    let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
    let e = Config::from_json5_str(&format!(
        "{{ provider: 'telnyx', telnyx: {{ apiKey: 'KEYsecret123', publicKey: {short:?} }}, fromNumber: '+12025550123' }}"
    ))
    .unwrap_err();
    assert!(e.to_string().contains("telnyx.publicKey"), "{e}");

    // Secrets are redacted in Debug and in the redacted JSON.
    let key = SimulatorConfig::generate().public_key_base64();
    let cfg = Config::from_json5_str(&format!(
        "{{ provider: 'telnyx', telnyx: {{ apiKey: 'KEYtopsecret0123456789', publicKey: {key:?} }}, fromNumber: '+12025550123' }}"
    ))
    .unwrap();
    assert!(!format!("{cfg:?}").contains("KEYtopsecret0123456789"));
    assert!(
        !cfg.redacted_json()
            .to_string()
            .contains("KEYtopsecret0123456789")
    );
}

/// The sandbox tells your own code how to reach its simulated Telnyx: the runtime file
/// carries the simulator's API key, which the simulator accepts (and a wrong one gets
/// Telnyx's 401, code 10009); `Debug` does not show it.
#[tokio::test]
async fn the_sandbox_publishes_its_telnyx_api_key_for_your_own_code() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, _sim) = start_sandbox(dir.path(), "", None).await;
    let key = gw
        .runtime
        .sandbox_api_key
        .clone()
        .expect("a Telnyx sandbox publishes its API key");
    let url = format!(
        "{}/v2/phone_numbers?filter[phone_number]=%2B",
        gw.runtime.simulator_url.clone().unwrap()
    );
    let http = reqwest::Client::new();
    let ok = http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1), "{body}");
    let wrong = http
        .get(&url)
        .bearer_auth("KEY-not-the-sandbox")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "10009", "{body}");
    assert!(!format!("{:?}", gw.runtime).contains(&key));
    // The runtime file (0600) carries it under its documented name.
    let file = serde_json::to_value(&gw.runtime).unwrap();
    assert_eq!(file["sandboxApiKey"], key.as_str());
    // And what an SDK needs besides: the numbers, their messaging profile (the simulator's
    // own), and the key that verifies its webhooks.
    assert_eq!(file["sandboxNumbers"], serde_json::json!(["+12025550123"]));
    let profile = file["sandboxMessagingProfileId"].as_str().unwrap();
    let page: serde_json::Value = http
        .get(format!(
            "{}/v2/messaging_profiles/{profile}/phone_numbers",
            gw.runtime.simulator_url.clone().unwrap()
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["phone_number"], "+12025550123", "{page}");
    assert_eq!(
        file["sandboxConnectionId"],
        telephony::providers::TELNYX_SANDBOX_CONNECTION
    );
    let public_key = file["sandboxPublicKey"].as_str().unwrap();
    let seed = file["sandboxSigningKey"].as_str().unwrap();
    assert_eq!(
        telephony_telnyx::WebhookSigner::from_seed_base64(seed)
            .unwrap()
            .public_key_base64(),
        public_key
    );
    gw.stop().await.unwrap();
}
