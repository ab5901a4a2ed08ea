//! `/health/live` and `/health/ready`, and a store that is down: the gateway starts anyway,
//! answers 503 (never 200) until the database is up, migrates it when it comes, and answers
//! 503 again while it is away.

use std::net::SocketAddr;

use serde_json::{Value, json};
use telephony::config::Config;
use telephony::server::RunningGateway;
use telephony_twilio_simulator::InboundSms;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::store_config::{drop_schema, test_postgres, unique_schema};
use crate::support::{start, wait_for};

async fn get(url: String) -> (u16, Option<String>, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

async fn admin_inbox(gw: &RunningGateway) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("http://{}/telephony/inbox", gw.admin_addr))
        .bearer_auth(gw.admin_token.expose())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn sms(gw: &RunningGateway, sid: &str) -> InboundSms {
    InboundSms {
        account_sid: gw.runtime.sandbox_account_sid.clone().unwrap(),
        from: "+15550009999".into(),
        to: "+15005550006".into(),
        body: format!("hello {sid}"),
        message_sid: Some(sid.into()),
        media: Vec::new(),
    }
}

fn config(dir: &std::path::Path, store: &str) -> Config {
    Config::from_json5_str(&format!(
        r#"{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, dataDir: {:?}, {store} }}"#,
        dir.display().to_string()
    ))
    .unwrap()
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn live_and_ready_on_both_listeners_with_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&config(dir.path(), "")).await.unwrap();
    for addr in [gw.public_addr, gw.admin_addr] {
        for path in ["/health", "/health/live", "/health/ready"] {
            assert_eq!(
                get(format!("http://{addr}{path}")).await,
                (200, None, json!({"status": "ok"})),
                "{addr}{path}"
            );
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_database_that_is_down_gives_503_never_200() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port().await;
    let cfg = config(
        dir.path(),
        &format!(r#"store: {{ url: "postgres://gw:hunter2@127.0.0.1:{port}/tel" }}"#),
    );
    // Starts although the database does not answer.
    let gw = start(&cfg).await.unwrap();
    let ready = format!("http://{}/health/ready", gw.public_addr);
    wait_for("a failed first attempt", || {
        let ready = ready.clone();
        async move {
            let (_, _, body) = get(ready).await;
            body["store"].as_str().is_some_and(|s| {
                s.starts_with("PostgreSQL is not ready (attempt 1: connecting to the server:")
            })
        }
    })
    .await;
    let (status, retry, body) = get(ready.clone()).await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")));
    assert_eq!(body["status"], "unavailable");
    let reason = body["store"].as_str().unwrap();
    assert!(
        reason.ends_with("(is the server running and reachable?)); next attempt in 1 s"),
        "{reason}"
    );
    assert!(!reason.contains("hunter2"), "{reason}");
    let (status, _, body) = get(format!("http://{}/health", gw.public_addr)).await;
    assert_eq!((status, &body["status"]), (503, &json!("unavailable")));
    assert_eq!(
        get(format!("http://{}/health/live", gw.public_addr)).await,
        (200, None, json!({"status": "ok"}))
    );
    // The admin listener says the same.
    let (status, _, _) = get(format!("http://{}/health/ready", gw.admin_addr)).await;
    assert_eq!(status, 503);
    // A signed webhook is not acknowledged.
    let r = post_webhook(&gw, &sms(&gw, "SMdown000000000000000000000000000")).await;
    assert_eq!(
        r,
        (
            503,
            Some("5".to_string()),
            "the store is unavailable; retry later\n".to_string()
        )
    );
    // The admin API says why.
    let (status, body) = admin_inbox(&gw).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the store is unavailable: PostgreSQL is not ready (attempt "),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    gw.shutdown().await;
}

/// Waits until `url` answers `want`.
async fn wait_status(url: &str, want: u16, what: &str) {
    wait_for(what, || {
        let url = url.to_string();
        async move { get(url).await.0 == want }
    })
    .await;
}

/// POSTs a signed webhook: status, Retry-After, body.
async fn post_webhook(gw: &RunningGateway, sms: &InboundSms) -> (u16, Option<String>, String) {
    let token = gw.runtime.sandbox_auth_token.clone().unwrap();
    let (body, sig) = sms.signed(&token, &gw.runtime.webhook_url);
    let r = reqwest::Client::new()
        .post(&gw.runtime.webhook_url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header("x-twilio-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.text().await.unwrap())
}

/// A TCP forwarder from a loopback port to the test database that can be taken away (every
/// connection cut) and brought back on the same port.
struct Forwarder {
    port: u16,
    target: SocketAddr,
    tasks: Option<JoinSet<()>>,
}

impl Forwarder {
    fn new(port: u16, target: SocketAddr) -> Self {
        Forwarder {
            port,
            target,
            tasks: None,
        }
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let target = self.target;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Cuts every connection and stops listening.
    async fn down(&mut self) {
        if let Some(mut t) = self.tasks.take() {
            t.shutdown().await;
        }
    }
}

#[tokio::test]
async fn the_database_comes_up_later_goes_away_and_comes_back() {
    let Some(url) = test_postgres() else { return };
    let parsed = reqwest::Url::parse(&url).unwrap();
    let target: SocketAddr = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    let port = closed_port().await;
    let mut through = parsed.clone();
    through.set_host(Some("127.0.0.1")).unwrap();
    through.set_port(Some(port)).unwrap();
    let schema = unique_schema("it_later");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!(
            r#"store: {{ url: {:?}, schema: {schema:?}, maxConnections: 3 }}"#,
            through.as_str()
        ),
    );
    let gw = start(&cfg).await.unwrap();
    let ready = format!("http://{}/health/ready", gw.public_addr);
    assert_eq!(get(ready.clone()).await.0, 503);
    assert_eq!(
        post_webhook(&gw, &sms(&gw, "SMlater00000000000000000000000001"))
            .await
            .0,
        503
    );

    // The database comes up: the schema is created and migrated, the gateway turns ready.
    let mut db = Forwarder::new(port, target);
    db.up().await;
    wait_status(&ready, 200, "ready once the database is up").await;
    assert_eq!(
        post_webhook(&gw, &sms(&gw, "SMlater00000000000000000000000001"))
            .await
            .0,
        200
    );
    assert_eq!(admin_inbox(&gw).await.0, 200);

    // It goes away: not ready, webhooks 503, nothing acknowledged.
    db.down().await;
    wait_status(&ready, 503, "not ready once the database is gone").await;
    assert_eq!(
        post_webhook(&gw, &sms(&gw, "SMlater00000000000000000000000002"))
            .await
            .0,
        503
    );
    // Back again: the pool reconnects.
    db.up().await;
    wait_status(&ready, 200, "ready once the database is back").await;
    assert_eq!(
        post_webhook(&gw, &sms(&gw, "SMlater00000000000000000000000002"))
            .await
            .0,
        200
    );
    let inbox = gw
        .gateway
        .store()
        .inbox(&telephony_core::InboxQuery::default())
        .await
        .unwrap();
    let mut sids: Vec<String> = inbox
        .iter()
        .map(|e| e.message.provider_sid.clone())
        .collect();
    sids.sort();
    assert_eq!(
        sids,
        [
            "SMlater00000000000000000000000001",
            "SMlater00000000000000000000000002"
        ]
    );
    gw.shutdown().await;
    db.down().await;
    drop_schema(&url, &schema).await;
}
