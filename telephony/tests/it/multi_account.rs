//! Accounts served by one gateway over real HTTP on loopback: two Twilio accounts (each its
//! own simulator and Auth Token) and a second number of one of them served as a third
//! account. A webhook is verified only with the token of the account whose path it came
//! to, and inbox entries, pairing requests and approvals, opt-outs and sends are each
//! account's own.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use telephony::config::Config;
use telephony::server::{self, RunningGateway, ServeOptions};
use telephony_twilio_simulator::{InboundSms, RunningSimulator, Simulator, SimulatorConfig};

const SID_A: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SID_B: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TOKEN_A: &str = "token-of-account-support";
const TOKEN_B: &str = "token-of-account-alerts";
const NUMBER_A: &str = "+15005550006";
const NUMBER_B: &str = "+15005550007";
/// A second number of the alerts account's Twilio account, served as its own account.
const NUMBER_C: &str = "+15005550008";
const CALLER: &str = "+15557654321";

async fn simulator(sid: &str, token: &str) -> (Simulator, RunningSimulator) {
    let sim = Simulator::new(SimulatorConfig::new(sid, token));
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (sim, running)
}

struct Setup {
    _dir: tempfile::TempDir,
    gw: RunningGateway,
    sim_a: Simulator,
    sim_b: Simulator,
    _running: (RunningSimulator, RunningSimulator),
}

async fn start_accounts() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (sim_a, run_a) = simulator(SID_A, TOKEN_A).await;
    let (sim_b, run_b) = simulator(SID_B, TOKEN_B).await;
    let cfg = Config::from_json5_str(&format!(
        r#"{{
          serve: {{ port: 0 }}, admin: {{ port: 0, token: "admin-secret" }},
          dataDir: {dir:?},
          defaultAccount: "support",
          accounts: {{
            support: {{
              fromNumber: "{NUMBER_A}",
              twilio: {{ accountSid: "{SID_A}", authToken: "{TOKEN_A}", apiBaseUrl: "{url_a}" }},
              inboundPolicy: "open", allowFrom: ["*"],
              serve: {{ path: "/sms/support", statusPath: "/sms/support/status", streamPath: "/sms/support/stream" }},
            }},
            billing: {{
              fromNumber: "{NUMBER_C}",
              twilio: {{ accountSid: "{SID_B}", authToken: "{TOKEN_B}", apiBaseUrl: "{url_b}" }},
              inboundPolicy: "pairing",
              serve: {{ path: "/sms/billing", statusPath: "/sms/billing/status", streamPath: "/sms/billing/stream" }},
            }},
            alerts: {{
              fromNumber: "{NUMBER_B}",
              twilio: {{ accountSid: "{SID_B}", authToken: "{TOKEN_B}", apiBaseUrl: "{url_b}" }},
              inboundPolicy: "pairing",
              serve: {{ path: "/sms/alerts", statusPath: "/sms/alerts/status", streamPath: "/sms/alerts/stream" }},
            }},
          }},
        }}"#,
        dir = dir.path().display().to_string(),
        url_a = run_a.url(),
        url_b = run_b.url(),
    ))
    .unwrap();
    let gw = server::start(&cfg, ServeOptions::default()).await.unwrap();
    Setup {
        _dir: dir,
        gw,
        sim_a,
        sim_b,
        _running: (run_a, run_b),
    }
}

/// An inbound SMS to `to`, signed with `token` over `url`, POSTed to `url`.
async fn inbound(sid: &str, token: &str, url: &str, to: &str, body: &str) -> u16 {
    let sms = InboundSms {
        account_sid: sid.into(),
        from: CALLER.into(),
        to: to.into(),
        body: body.into(),
        message_sid: None,
        media: vec![],
    };
    let (form, sig) = sms.signed(token, url);
    reqwest::Client::new()
        .post(url)
        .header("X-Twilio-Signature", sig)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn admin(gw: &RunningGateway, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("http://{}{path}", gw.admin_addr);
    let mut req = match method {
        "POST" => http.post(url),
        _ => http.get(url),
    }
    .bearer_auth("admin-secret");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The account's inbox once the inbound worker has handled every entry.
async fn settled_inbox(gw: &RunningGateway, path: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (st, inbox) = admin(gw, "GET", path, None).await;
        assert_eq!(st, 200, "{inbox}");
        let queued = inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["state"] == "queued");
        if !queued || tokio::time::Instant::now() > deadline {
            return inbox;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each inbox entry's (body, state).
fn states(inbox: &Value) -> Vec<(String, String)> {
    inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["body"].as_str().unwrap().to_string(),
                m["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn bodies(inbox: &Value) -> Vec<String> {
    states(inbox).into_iter().map(|(body, _)| body).collect()
}

#[tokio::test]
async fn accounts_with_their_own_tokens_inboxes_pairing_approvals_and_opt_outs() {
    let s = start_accounts().await;
    let gw = &s.gw;
    assert_eq!(gw.accounts.len(), 3);
    let rt_support = gw.runtime.for_account("support").unwrap();
    let rt_alerts = gw.runtime.for_account("alerts").unwrap();
    assert_eq!(
        rt_support.webhook_url,
        format!("http://{}/sms/support", gw.public_addr)
    );
    assert_eq!(
        rt_alerts.webhook_url,
        format!("http://{}/sms/alerts", gw.public_addr)
    );
    // The top level of the runtime file is the default account's.
    assert_eq!(gw.runtime.webhook_url, rt_support.webhook_url);
    let (url_a, url_b) = (
        rt_support.webhook_url.clone(),
        rt_alerts.webhook_url.clone(),
    );

    // Each account's own token on its own path: accepted.
    assert_eq!(
        inbound(SID_A, TOKEN_A, &url_a, NUMBER_A, "to support").await,
        200
    );
    assert_eq!(
        inbound(SID_B, TOKEN_B, &url_b, NUMBER_B, "to alerts").await,
        200
    );
    // Signed with the other account's token: 403, and nothing is stored.
    assert_eq!(
        inbound(SID_B, TOKEN_B, &url_a, NUMBER_A, "forged b→a").await,
        403
    );
    assert_eq!(
        inbound(SID_A, TOKEN_A, &url_b, NUMBER_B, "forged a→b").await,
        403
    );

    // Inboxes: each account's own; the root is the default account's.
    let support = settled_inbox(gw, "/accounts/support/telephony/inbox").await;
    assert_eq!(bodies(&support), ["to support"]);
    let root = settled_inbox(gw, "/telephony/inbox").await;
    assert_eq!(bodies(&root), ["to support"]);
    let alerts = settled_inbox(gw, "/accounts/alerts/telephony/inbox").await;
    assert_eq!(bodies(&alerts), ["to alerts"]);
    assert_eq!(alerts["messages"][0]["state"], "pending_pairing");
    assert_eq!(support["messages"][0]["state"], "accepted");

    // Pairing: the request is the alerts account's only.
    let (_, pairing_alerts) = admin(gw, "GET", "/accounts/alerts/telephony/pairing", None).await;
    let (_, pairing_support) = admin(gw, "GET", "/accounts/support/telephony/pairing", None).await;
    assert_eq!(pairing_alerts["requests"].as_array().unwrap().len(), 1);
    assert_eq!(pairing_alerts["requests"][0]["sender"], CALLER);
    assert_eq!(pairing_support["requests"], json!([]));

    // An approval in one account does not apply to another: billing (the same Twilio
    // account as alerts, another number) keeps asking the caller to pair.
    let url_c = gw.runtime.for_account("billing").unwrap().webhook_url;
    assert_eq!(
        inbound(SID_B, TOKEN_B, &url_c, NUMBER_C, "to billing").await,
        200
    );
    let code = pairing_alerts["requests"][0]["code"].as_str().unwrap();
    let (st, approved) = admin(
        gw,
        "POST",
        &format!("/accounts/alerts/telephony/pairing/{code}/approve"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{approved}");
    assert_eq!(
        inbound(SID_B, TOKEN_B, &url_b, NUMBER_B, "again to alerts").await,
        200
    );
    assert_eq!(
        inbound(SID_B, TOKEN_B, &url_c, NUMBER_C, "again to billing").await,
        200
    );
    let alerts = settled_inbox(gw, "/accounts/alerts/telephony/inbox").await;
    assert!(
        states(&alerts).contains(&("again to alerts".into(), "accepted".into())),
        "{alerts}"
    );
    let billing = settled_inbox(gw, "/accounts/billing/telephony/inbox").await;
    let mut billing_states = states(&billing);
    billing_states.sort();
    assert_eq!(
        billing_states,
        [
            (
                "again to billing".to_string(),
                "pending_pairing".to_string()
            ),
            ("to billing".to_string(), "pending_pairing".to_string()),
        ]
    );
    let (_, pairing_billing) = admin(gw, "GET", "/accounts/billing/telephony/pairing", None).await;
    assert_eq!(
        pairing_billing["requests"].as_array().unwrap().len(),
        1,
        "{pairing_billing}"
    );
    assert_eq!(pairing_billing["requests"][0]["status"], "pending");

    // The caller texts STOP to alerts: opted out there, not at support.
    assert_eq!(inbound(SID_B, TOKEN_B, &url_b, NUMBER_B, "STOP").await, 200);
    settled_inbox(gw, "/accounts/alerts/telephony/inbox").await;
    let send = |body: &str| json!({"to": CALLER, "body": body});
    let (st, refused) = admin(
        gw,
        "POST",
        "/accounts/alerts/telephony/send?wait=0",
        Some(send("x")),
    )
    .await;
    assert_eq!(st, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("opted out"),
        "{refused}"
    );
    let (st, sent) = admin(
        gw,
        "POST",
        "/accounts/support/telephony/send?wait=10",
        Some(send("from support")),
    )
    .await;
    assert_eq!(st, 202, "{sent}");
    // Accepted by the provider; its status callbacks may already have moved it on.
    assert!(
        matches!(
            sent["receipts"][0]["status"].as_str(),
            Some("queued" | "sent" | "delivered")
        ),
        "{sent}"
    );
    assert_eq!(sent["receipts"][0]["from"], NUMBER_A, "{sent}");

    // Each send went through its own account's provider, from its own number.
    let from_a: Vec<(String, String)> = s
        .sim_a
        .messages()
        .iter()
        .map(|m| {
            (
                m.from.clone().unwrap_or_default(),
                m.body.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(from_a, [(NUMBER_A.to_string(), "from support".to_string())]);
    // Alerts and billing (the second Twilio account) sent only their own pairing texts,
    // each from its own number.
    let from_b = s.sim_b.messages();
    assert!(
        from_b
            .iter()
            .all(|m| matches!(m.from.as_deref(), Some(NUMBER_B) | Some(NUMBER_C))),
        "{from_b:?}"
    );
    for number in [NUMBER_B, NUMBER_C] {
        assert!(
            from_b.iter().any(|m| m.from.as_deref() == Some(number)
                && m.body
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("Your pairing code is ")),
            "{number}: {from_b:?}"
        );
    }
    assert!(
        s.sim_a
            .messages()
            .iter()
            .all(|m| m.to.as_deref() == Some(CALLER))
    );

    // Each account has its own store file.
    for name in ["support", "alerts", "billing"] {
        let db = s
            ._dir
            .path()
            .join("accounts")
            .join(name)
            .join("telephony.db");
        assert!(db.exists(), "{}", db.display());
    }
    // An unknown account's admin routes are 404.
    let (st, _) = admin(gw, "GET", "/accounts/nope/telephony/inbox", None).await;
    assert_eq!(st, 404);
    tokio::time::timeout(Duration::from_secs(10), s.gw.shutdown())
        .await
        .unwrap();
}
