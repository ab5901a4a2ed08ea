//! The gateway over real HTTP on loopback, against the Twilio simulator: inbound webhook →
//! inbox; send → simulator → signed status callbacks → receipt `delivered`; restarts lose
//! nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use telephony::config::Config;
use telephony::server::{self, RunningGateway, ServeOptions};
use telephony_core::store::prelude::*;
use telephony_core::{AllowList, DeliveryStatus, InboundMessage, InboundPolicy, MessageId};
use telephony_serve::{Gateway, HandlerError, Replier};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{InboundSms, RunningSimulator, Simulator, SimulatorConfig};

use crate::support::{post_inbound, start, wait_for};

fn config(dir: &std::path::Path) -> Config {
    Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, allowFrom: ['+15557654321'], dataDir: {:?} }}",
        dir.display().to_string()
    ))
    .unwrap()
}

async fn start_sandbox(dir: &std::path::Path) -> RunningGateway {
    start(&config(dir)).await.unwrap()
}

struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    fn of(gw: &RunningGateway) -> Self {
        Admin {
            http: reqwest::Client::new(),
            base: format!("http://{}", gw.admin_addr),
            token: gw.admin_token.expose().to_string(),
        }
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

#[tokio::test]
async fn sandbox_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start_sandbox(dir.path()).await;
    let admin = Admin::of(&gw);
    assert!(gw.admin_token_generated);
    assert_eq!(
        gw.runtime.webhook_url,
        format!("http://{}/telephony/webhook", gw.public_addr)
    );

    // Inbound: signed webhook → inbox, duplicates stored once.
    let sms = InboundSms {
        account_sid: gw.runtime.sandbox_account_sid.clone().unwrap(),
        from: "+15557654321".into(),
        to: "+15005550006".into(),
        body: "Hello gateway".into(),
        message_sid: Some("SMe287d7109a5a925f182f0e07fe5b223b".into()),
        media: vec![],
    };
    assert_eq!(post_inbound(&gw, &sms).await, 200);
    assert_eq!(post_inbound(&gw, &sms).await, 200);
    let (s, inbox) = admin.get("/telephony/inbox").await;
    assert_eq!(s, 200);
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["providerSid"], "SMe287d7109a5a925f182f0e07fe5b223b");
    assert_eq!(msgs[0]["accountSid"], sms.account_sid.as_str());
    assert!(msgs[0].get("provider_sid").is_none(), "{}", msgs[0]);
    // The same JSON reads back into the typed struct the CLI uses.
    let typed: telephony_serve::api::InboxList = serde_json::from_value(inbox.clone()).unwrap();
    assert_eq!(
        typed.messages[0].message.provider_sid,
        "SMe287d7109a5a925f182f0e07fe5b223b"
    );
    assert_eq!(msgs[0]["body"], "Hello gateway");
    assert_eq!(msgs[0]["from"], "+15557654321");
    wait_for("dispatch", || async {
        admin.get("/telephony/inbox").await.1["messages"][0]["state"] == "accepted"
    })
    .await;

    // Outbound: admin send → simulator → signed callbacks → delivered.
    let (s, r) = admin
        .post(
            "/telephony/send",
            json!({"to": "+1 555 765 4321", "body": "Hi there"}),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(r["held"], false);
    let r = r["receipts"][0].clone();
    assert_eq!(r["to"], "+15557654321");
    assert_eq!(r["status"], "queued");
    let sid = r["providerSids"][0].as_str().unwrap().to_string();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    let id = r["id"].as_str().unwrap().to_string();
    wait_for("delivered", || async {
        admin.get(&format!("/telephony/messages/{id}")).await.1["status"] == "delivered"
    })
    .await;
    let (_, r) = admin.get(&format!("/telephony/messages/{id}")).await;
    let hist: Vec<&str> = r["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(hist, ["pending", "queued", "sent", "delivered"]);
    assert_eq!(r["segments"], 1);
    assert!(
        r["createdAt"].is_string() && r["updatedAt"].is_string(),
        "{r}"
    );
    let typed: telephony_serve::api::Receipt = serde_json::from_value(r.clone()).unwrap();
    assert_eq!(typed.provider_sids, vec![sid.clone()]);
    let sim = gw.simulator.as_ref().unwrap();
    let _ = sim;

    // Provider error: the receipt records Twilio's code and message.
    let (s, r) = admin
        .post(
            "/telephony/send",
            json!({"to": "+15005550001", "body": "x"}),
        )
        .await;
    assert_eq!(s, 202);
    let r = r["receipts"][0].clone();
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error"]["code"], 21211);
    assert_eq!(
        r["error"]["message"],
        "The 'To' number +15005550001 is not a valid phone number."
    );
    assert_eq!(
        r["error"]["moreInfo"],
        "https://www.twilio.com/docs/errors/21211"
    );

    gw.shutdown().await;
    assert!(!dir.path().join("gateway.json").exists());
}

#[tokio::test]
async fn admin_api_requires_the_token_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start_sandbox(dir.path()).await;
    let admin = Admin::of(&gw);
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/telephony/inbox", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": {"code": "unauthorized", "message": "missing Authorization: Bearer <admin token>"}})
    );
    let r = http
        .get(format!("{}/telephony/inbox", admin.base))
        .bearer_auth("tk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": {"code": "unauthorized", "message": "invalid admin token"}})
    );

    let (s, r) = admin
        .post("/telephony/send", json!({"to": "5551234567", "body": "x"}))
        .await;
    assert_eq!((s, &r["error"]["code"]), (400, &json!("bad_request")));
    assert_eq!(
        r["error"]["message"],
        "invalid \"to\": invalid address \"5551234567\": phone number \"5551234567\" has no country code: write it in E.164 form with a leading '+' and the country code, e.g. +15551234567"
    );
    let (s, r) = admin
        .post("/telephony/send", json!({"to": "+15557654321", "body": ""}))
        .await;
    assert_eq!(
        (s, &r["error"]),
        (
            400,
            &json!({"code": "bad_request", "message": "invalid message: body is empty and there is no media"})
        )
    );
    let (s, r) = admin
        .post("/telephony/send", json!({"to": "+15557654321", "bdy": "x"}))
        .await;
    assert_eq!(s, 400);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `bdy`"),
        "{r}"
    );
    let (s, r) = admin.get("/telephony/inbox?since=yesterday").await;
    assert_eq!(s, 400);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid since \"yesterday\""),
        "{r}"
    );
    let (s, r) = admin.get("/telephony/messages/msg_nope").await;
    assert_eq!(
        (s, r),
        (
            404,
            json!({"error": {"code": "not_found", "message": "no message with id \"msg_nope\""}})
        )
    );
    // Query strings the extractor refuses, and unknown routes, answer in the same shape.
    let (s, r) = admin.get("/telephony/log?limit=many").await;
    assert_eq!(
        (s, &r["error"]["code"]),
        (400, &json!("bad_request")),
        "{r}"
    );
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid query: "),
        "{r}"
    );
    let (s, r) = admin.get("/telephony/nope").await;
    assert_eq!(
        (s, r),
        (
            404,
            json!({"error": {"code": "not_found", "message": "no admin route /telephony/nope"}})
        )
    );
    // Nothing was queued by any of the refused requests.
    assert_eq!(gw.gateway.store().outbox_len().await.unwrap(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn refuses_unsafe_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.serve.bind = "0.0.0.0".into();
    let e = server::start(
        &cfg,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap_err();
    assert!(e.is_config());
    assert!(
        e.to_string()
            .starts_with("publicUrl: required when serve.bind is 0.0.0.0 (not loopback)"),
        "{e}"
    );
    cfg.public_url = Some("https://sms.example.com".into());
    cfg.skip_signature_verification = true;
    let e = server::start(
        &cfg,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "skipSignatureVerification: refused because serve.bind 0.0.0.0 is not loopback"
        ),
        "{e}"
    );
    // Loopback, but a tunnel makes it public.
    let mut cfg = config(dir.path());
    cfg.skip_signature_verification = true;
    cfg.tunnel = Some(telephony::config::TunnelSection {
        provider: Some("ngrok".into()),
        ..Default::default()
    });
    let e = server::start(
        &cfg,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap_err();
    assert!(e.is_config());
    assert_eq!(
        e.to_string(),
        "skipSignatureVerification: refused because a tunnel is configured (tunnel.provider is not \"none\"): the tunnel makes the loopback listener public; never disable signature checks on a public listener"
    );
    let mut cfg = config(dir.path());
    cfg.admin.bind = "0.0.0.0".into();
    let e = server::start(
        &cfg,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("admin.bind: 0.0.0.0 is not a loopback address"),
        "{e}"
    );
    // No credentials and no sandbox: names what is missing and mentions --sandbox.
    let e = server::start(&config(dir.path()), ServeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot talk to Twilio: missing twilio.accountSid (or TWILIO_ACCOUNT_SID), twilio.authToken (or TWILIO_AUTH_TOKEN), fromNumber (or TWILIO_PHONE_NUMBER) or twilio.messagingServiceSid (or TWILIO_MESSAGING_SERVICE_SID). Set them in the config file or environment, or run `telephony serve --sandbox` to try the gateway against the built-in Twilio simulator"
    );
}

/// A simulator on loopback and a SQLite store in a temporary directory (kept alive by `dir`).
async fn simulator_and_store() -> (
    tempfile::TempDir,
    Simulator,
    RunningSimulator,
    Arc<SqliteStore>,
) {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db")).await.unwrap());
    (dir, sim, running, store)
}

fn provider_for(sim: &Simulator, url: &str) -> Arc<TwilioProvider> {
    let c = sim.config();
    Arc::new(
        TwilioProvider::new(
            TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                .api_base_url(url)
                .from_number("+15005550006".parse().unwrap()),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn receipts_record_segments_even_when_twilio_reports_none() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = sim.config();
    // Through a Messaging Service, Twilio answers num_segments "0" (no sender chosen yet).
    let provider = Arc::new(
        TwilioProvider::new(
            TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                .api_base_url(running.url())
                .messaging_service_sid("MG00000000000000000000000000000001"),
        )
        .unwrap(),
    );
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db")).await.unwrap());
    let gw = Gateway::builder(provider, store).build();
    let workers = gw.spawn_workers();
    // 161 GSM-7 characters: 2 segments; an emoji text of 71 UTF-16 units: 2 segments.
    for (text, want) in [
        ("1".repeat(161), 2),
        ("😀".repeat(36), 2),
        ("hi".to_string(), 1),
    ] {
        let id = gw.send("+15557654321", text).await.unwrap().receipts[0]
            .id
            .clone();
        let r = gw
            .wait_first_attempt(&id, Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, DeliveryStatus::Accepted);
        assert_eq!(r.segments, Some(want));
    }
    workers.shutdown().await;
    running.shutdown().await;
}

#[tokio::test]
async fn a_send_accepted_before_a_crash_is_sent_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();

    // First life: accepted into the outbox, but the process "dies" before the worker runs.
    let id: MessageId = {
        let store = Arc::new(SqliteStore::open(&db).await.unwrap());
        let gw = Gateway::builder(provider_for(&sim, &running.url()), store).build();
        let sent = gw.send("+15557654321", "survives restarts").await.unwrap();
        assert_eq!(sent.receipts.len(), 1);
        assert_eq!(sent.receipts[0].status, DeliveryStatus::Pending);
        sent.receipts[0].id.clone()
    };
    assert!(sim.messages().is_empty());

    // Second life: the worker finds it and sends it.
    let store = Arc::new(SqliteStore::open(&db).await.unwrap());
    let gw = Gateway::builder(provider_for(&sim, &running.url()), store.clone()).build();
    let workers = gw.spawn_workers();
    let r = gw
        .wait_first_attempt(&id, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Queued);
    assert_eq!(r.attempts, 1);
    let sent = sim.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body.as_deref(), Some("survives restarts"));
    assert_eq!(r.provider_sids, [sent[0].sid.clone()]);
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    workers.shutdown().await;
    running.shutdown().await;
}

/// The `POST …/Messages.json` requests the simulator received for `to`, as (time, status).
fn creates_to(sim: &Simulator, to: &str) -> Vec<(time::OffsetDateTime, u16)> {
    sim.create_requests()
        .into_iter()
        .filter(|r| r.to.as_deref() == Some(to))
        .map(|r| (r.at, r.http_status))
        .collect()
}

/// Waits until the receipt leaves `pending` for a final outcome of the outbox: accepted by
/// the provider (it has a SID) or failed.
async fn wait_settled(gw: &Gateway, id: &MessageId) -> telephony_core::Receipt {
    wait_for("the outbox to settle the message", || {
        let gw = gw.clone();
        let id = id.clone();
        async move {
            let r = gw.receipt(&id).await.unwrap().unwrap();
            !r.provider_sids.is_empty() || r.status == DeliveryStatus::Failed
        }
    })
    .await;
    gw.receipt(id).await.unwrap().unwrap()
}

#[tokio::test]
async fn permanent_errors_fail_at_once_after_one_request() {
    let (_dir, sim, running, store) = simulator_and_store().await;
    let gw = Gateway::builder(provider_for(&sim, &running.url()), store).build();
    let workers = gw.spawn_workers();
    // 400, 21610 (unsubscribed recipient) and 21211 (invalid number): failed at once.
    for (to, code) in [("+15005550004", 21610), ("+15005550001", 21211)] {
        let id = gw.send(to, "x").await.unwrap().receipts.remove(0).id;
        let r = wait_settled(&gw, &id).await;
        assert_eq!(r.status, DeliveryStatus::Failed);
        assert_eq!(r.error.as_ref().unwrap().code, Some(code));
        assert_eq!(r.attempts, 1);
        let creates = creates_to(&sim, to);
        assert_eq!(creates.len(), 1, "{to}: exactly one request");
        assert_eq!(creates[0].1, 400);
    }
    workers.shutdown().await;
    running.shutdown().await;
}

#[tokio::test]
async fn a_rate_limit_is_retried_once_after_retry_after() {
    use telephony_twilio_simulator::Injection;
    let (_dir, sim, running, store) = simulator_and_store().await;
    let gw = Gateway::builder(provider_for(&sim, &running.url()), store).build();
    let workers = gw.spawn_workers();
    // Retry-After: 2 is longer than the first backoff step (1 s): it wins.
    sim.inject(Injection::rate_limited(2).to("+15557654321"));
    let id = gw
        .send("+15557654321", "after the rate limit")
        .await
        .unwrap()
        .receipts
        .remove(0)
        .id;
    let r = wait_settled(&gw, &id).await;
    assert_eq!(r.status, DeliveryStatus::Queued);
    assert_eq!(r.attempts, 2);
    let creates = creates_to(&sim, "+15557654321");
    let statuses: Vec<u16> = creates.iter().map(|c| c.1).collect();
    assert_eq!(statuses, [429, 201], "exactly two requests");
    let gap = creates[1].0 - creates[0].0;
    assert!(
        gap >= time::Duration::seconds(2),
        "the retry came {gap} after the 429, before Retry-After"
    );
    assert!(
        gap < time::Duration::seconds(5),
        "the retry came {gap} later"
    );
    assert_eq!(sim.messages().len(), 1);
    assert_eq!(r.provider_sids, [sim.messages()[0].sid.clone()]);
    workers.shutdown().await;
    running.shutdown().await;
}

#[tokio::test]
async fn a_persistent_server_error_fails_after_max_send_attempts_requests() {
    use telephony_twilio_simulator::Injection;
    let (_dir, sim, running, store) = simulator_and_store().await;
    let gw = Gateway::builder(provider_for(&sim, &running.url()), store)
        .max_send_attempts(3)
        .build();
    let workers = gw.spawn_workers();
    sim.inject(Injection::error(500, 20500, "Internal Server Error").times(100));
    let id = gw
        .send("+15557654321", "never")
        .await
        .unwrap()
        .receipts
        .remove(0)
        .id;
    let r = wait_settled(&gw, &id).await;
    assert_eq!(r.status, DeliveryStatus::Failed);
    assert_eq!(r.error.as_ref().unwrap().code, Some(20500));
    assert_eq!(r.attempts, 3);
    let creates = creates_to(&sim, "+15557654321");
    let statuses: Vec<u16> = creates.iter().map(|c| c.1).collect();
    assert_eq!(
        statuses,
        [500, 500, 500],
        "exactly max_send_attempts requests"
    );
    // The backoff between them: 1 s, then 2 s.
    assert!(creates[1].0 - creates[0].0 >= time::Duration::seconds(1));
    assert!(creates[2].0 - creates[1].0 >= time::Duration::seconds(2));
    // Nothing more is tried once it failed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(creates_to(&sim, "+15557654321").len(), 3);
    assert!(sim.messages().is_empty());
    workers.shutdown().await;
    running.shutdown().await;
}

#[tokio::test]
async fn embedded_handler_gets_messages_in_order_and_replies() {
    let (_dir, sim, running, store) = simulator_and_store().await;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen2 = seen.clone();
    // One attempt per message: a handler error dead-letters it at once (retries are
    // tested in telephony-serve's dispatch_retries), and the lane goes on.
    let gw = Gateway::builder(provider_for(&sim, &running.url()), store.clone())
        .public_url("https://sms.example.com")
        .inbound_policy(
            InboundPolicy::Open,
            AllowList::parse(&["*".to_string()]).unwrap(),
        )
        .max_dispatch_attempts(1)
        .handler(move |msg: InboundMessage, reply: Replier| {
            let seen = seen2.clone();
            async move {
                seen.lock().unwrap().push(msg.body.clone());
                if msg.body == "boom" {
                    return Err::<(), HandlerError>("handler refused".into());
                }
                reply.send(format!("echo: {}", msg.body)).await?;
                Ok(())
            }
        })
        .build();
    let app = axum::Router::new().merge(gw.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let workers = gw.spawn_workers();
    let token = sim.config().auth_token.expose().to_string();
    for (i, body) in ["one", "two", "boom", "three"].iter().enumerate() {
        let sms = InboundSms {
            account_sid: sim.config().account_sid.clone(),
            from: "+15557654321".into(),
            to: "+15005550006".into(),
            body: body.to_string(),
            message_sid: Some(format!("SM{i:032}")),
            media: vec![],
        };
        let (b, sig) = sms.signed(&token, "https://sms.example.com/telephony/webhook");
        let s = reqwest::Client::new()
            .post(format!("http://{addr}/telephony/webhook"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(b)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s.as_u16(), 200);
    }
    wait_for("three replies", || async { sim.messages().len() == 3 }).await;
    assert_eq!(*seen.lock().unwrap(), ["one", "two", "boom", "three"]);
    let bodies: Vec<String> = sim
        .messages()
        .iter()
        .map(|m| m.body.clone().unwrap())
        .collect();
    assert_eq!(bodies, ["echo: one", "echo: two", "echo: three"]);
    let inbox = store.inbox(&Default::default()).await.unwrap();
    let states: Vec<(&str, Option<&str>)> = inbox
        .iter()
        .map(|e| (e.state.as_str(), e.note.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            ("accepted", None),
            ("accepted", None),
            (
                "failed",
                Some("handler error: handler refused (gave up after 1 attempt)")
            ),
            ("accepted", None)
        ]
    );
    workers.shutdown().await;
    server.abort();
    running.shutdown().await;
}

#[tokio::test]
async fn inbound_stored_before_a_crash_is_dispatched_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    {
        let store = SqliteStore::open(&db).await.unwrap();
        store
            .insert_inbound(&telephony_core::store_suite::inbound(
                "SMcrash",
                "+15557654321",
                "left behind",
                0,
            ))
            .await
            .unwrap();
    }
    let store = Arc::new(SqliteStore::open(&db).await.unwrap());
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let got2 = got.clone();
    let gw = Gateway::builder(
        Arc::new(telephony_core::StubProvider::new_ok()),
        store.clone(),
    )
    .inbound_policy(
        InboundPolicy::Allowlist,
        AllowList::parse(&["+15557654321".to_string()]).unwrap(),
    )
    .handler(move |m: InboundMessage, _r: Replier| {
        let got = got2.clone();
        async move {
            got.lock().unwrap().push(m.body);
            Ok::<(), HandlerError>(())
        }
    })
    .build();
    let workers = gw.spawn_workers();
    wait_for("dispatch after restart", || async {
        got.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(*got.lock().unwrap(), ["left behind"]);
    workers.shutdown().await;
    assert!(store.queued_inbound(10).await.unwrap().is_empty());
}
