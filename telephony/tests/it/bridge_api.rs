//! The SMS bridge's local API (seed 000) over real HTTP on loopback, against the Twilio
//! simulator: seed 000's "Verifying Everything Works" calls, `defaultTo`, the outbound
//! policy on bridge sends, and the refusals (off, or an admin listener that is not loopback).

use std::time::Duration;

use serde_json::{Value, json};
use telephony::config::Config;
use telephony_twilio_simulator::InboundSms;

use crate::support::{post_inbound, start};

fn config(dir: &std::path::Path, extra: &str) -> Config {
    Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0 }}, admin: {{ port: 0, bridgeApi: true }}, allowFrom: ['+15557654321'], dataDir: {:?} {extra} }}",
        dir.display().to_string()
    ))
    .unwrap()
}

/// A request with no Authorization header, as the bridge's clients send.
async fn call(method: &str, url: String, body: Option<&str>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut req = match method {
        "POST" => http.post(url),
        _ => http.get(url),
    };
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn seed_000_verification_calls_work_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&config(dir.path(), "")).await.unwrap();
    let base = format!("http://{}", gw.admin_addr);

    // curl http://localhost:3032/health
    assert_eq!(
        call("GET", format!("{base}/health"), None).await,
        (200, json!({"status": "ok"}))
    );

    // curl -s -X POST …/sms/send -H "Content-Type: application/json" -d '{"to":…,"body":…}'
    let (s, r) = call(
        "POST",
        format!("{base}/sms/send"),
        Some(r#"{"to":"+15551234567","body":"Test from the SMS bridge"}"#),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["ok"], true);
    assert_eq!(r["to"], "+15551234567");
    assert_eq!(r["held"], false);
    assert_eq!(r["receipts"][0]["body"], "Test from the SMS bridge");
    assert_eq!(r["receipts"][0]["status"], "queued");
    // The send is in the send log like every other send.
    let id = r["receipts"][0]["id"].as_str().unwrap().to_string();
    let sent = gw
        .gateway
        .receipt(&telephony_core::MessageId::from_string(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.to.to_string(), "+15551234567");

    // A reply, then: curl http://localhost:3032/sms/inbox
    let reply = InboundSms {
        account_sid: gw.runtime.sandbox_account_sid.clone().unwrap(),
        from: "+15557654321".into(),
        to: "+15005550006".into(),
        body: "Got it".into(),
        message_sid: None,
        media: vec![],
    };
    assert_eq!(post_inbound(&gw, &reply).await, 200);
    let (s, inbox) = call("GET", format!("{base}/sms/inbox"), None).await;
    assert_eq!(s, 200);
    let msgs = inbox["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["from"], "+15557654321");
    assert_eq!(msgs[0]["body"], "Got it");
    // since: later than every message → none.
    let (s, later) = call(
        "GET",
        format!("{base}/sms/inbox?since=2999-01-01T00:00:00Z"),
        None,
    )
    .await;
    assert_eq!((s, later), (200, json!({"messages": []})));
    let (s, bad) = call("GET", format!("{base}/sms/inbox?since=soon"), None).await;
    assert_eq!(s, 400);
    assert_eq!(bad["ok"], false);

    // The other admin routes still want the token.
    let (s, _) = call("GET", format!("{base}/telephony/inbox"), None).await;
    assert_eq!(s, 401);
    // No recipient and no defaultTo: refused.
    let (s, r) = call("POST", format!("{base}/sms/send"), Some(r#"{"body":"x"}"#)).await;
    assert_eq!(
        (s, r),
        (
            400,
            json!({"ok": false, "error": "\"to\" is missing and no defaultTo is configured"})
        )
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn bridge_sends_take_default_to_and_the_outbound_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        ", defaultTo: '+15550009999', outboundPolicy: { maxPerDay: 1, requireApprovalForNewContacts: true }",
    );
    let gw = start(&cfg).await.unwrap();
    let base = format!("http://{}", gw.admin_addr);
    // First contact: held for approval, not sent.
    let (s, r) = call("POST", format!("{base}/sms/send"), Some(r#"{"body":"hi"}"#)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["to"], "+15550009999");
    assert_eq!(r["held"], true);
    // Daily cap of 1 reached: the second send is refused with the admin API's status.
    let (s, r) = call(
        "POST",
        format!("{base}/sms/send"),
        Some(r#"{"to":"+15550009998","body":"again"}"#),
    )
    .await;
    assert_eq!(s, 429, "{r}");
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("daily send limit reached: 1 of outboundPolicy.maxPerDay 1"),
        "{r}"
    );
    // The library's default-recipient send goes through the same policy.
    let e = gw.gateway.send_to_default("lib").await.unwrap_err();
    assert!(e.to_string().starts_with("daily send limit reached"), "{e}");
    gw.shutdown().await;
}

#[tokio::test]
async fn bridge_routes_are_absent_when_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), "");
    cfg.admin.bridge_api = false;
    let gw = start(&cfg).await.unwrap();
    let base = format!("http://{}", gw.admin_addr);
    for (method, path, body) in [
        ("GET", "/health", None),
        ("GET", "/sms/inbox", None),
        (
            "POST",
            "/sms/send",
            Some(r#"{"to":"+15551234567","body":"x"}"#),
        ),
    ] {
        let (s, r) = call(method, format!("{base}{path}"), body).await;
        assert_eq!(s, 401, "{path}: {r}");
        assert_eq!(r["error"]["code"], "unauthorized", "{path}");
    }
    gw.shutdown().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn bridge_api_on_an_admin_listener_that_is_not_loopback_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), "");
    cfg.admin.bind = "0.0.0.0".into();
    let e = start(&cfg).await.unwrap_err();
    assert!(e.is_config());
    assert_eq!(
        e.to_string(),
        "admin.bridgeApi: refused because admin.bind 0.0.0.0 is not loopback: the SMS bridge routes answer without a token, so they are served on a loopback admin listener only"
    );
}

#[tokio::test]
async fn admin_sends_without_a_recipient_go_to_default_to() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), ", defaultTo: '+1 555 000 9999'");
    cfg.admin.bridge_api = false;
    let gw = start(&cfg).await.unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://{}/telephony/send", gw.admin_addr))
        .bearer_auth(gw.admin_token.expose())
        .json(&json!({"body": "to the default"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["receipts"][0]["to"], "+15550009999");
    assert_eq!(v["receipts"][0]["body"], "to the default");
    gw.shutdown().await;
    // A defaultTo that is not an address is a config error naming the key.
    let e = Config::from_json5_str("{ defaultTo: 'nobody' }").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid configuration: defaultTo: \"nobody\": "),
        "{e}"
    );
}
