//! Secrets never leak: every secret the config accepts gets a distinctive value, all
//! `tracing` output is captured at TRACE (plus `log` records), and the suite drives config
//! loading (file, TOML, environment, bad input), `Debug` of the config and of every section,
//! a gateway on the Twilio and Telnyx simulators (sends, inbound webhooks, bad signatures,
//! provider auth failures, a forward to a dead receiver, `GET /metrics`, admin errors) and
//! a sandbox start. Every captured log line, error string, `Debug` string, HTTP body and
//! metrics text is then searched for each secret value (and the base64 forms that could
//! carry one).
#![cfg(feature = "telnyx")]

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use telephony::config::Config;
use telephony::server::{self, RunningGateway, ServeOptions};

use crate::support::logs::capture as logs;

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TW_AUTH_TOKEN: &str = "twAuthTOKENzq81x7v0b1";
const TW_API_KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
const TW_API_KEY_SECRET: &str = "twKeySECRETpp42n6m3k9";
const TW_WRONG_KEY_SECRET: &str = "twWrongSECRETyy17c5d2";
const TELNYX_API_KEY: &str = "KEYtelnyxSECRETqq93w4e8";
const TELNYX_WRONG_API_KEY: &str = "KEYwrongSECRETrr62t8u1";
const FORWARD_SECRET: &str = "fwdSECRETkk05j3h7g2";
const NGROK_TOKEN: &str = "ngrokSECRETmm48n2b6v5";
const ADMIN_TOKEN: &str = "adminSECRETtt71r9e3w6";
/// A digits-only secret: the environment parser types it as a number.
const NUMERIC_SECRET: &str = "918273645546372819";
/// The seed of the Telnyx key pair whose public key the config carries.
const TELNYX_SEED: [u8; 32] = [7; 32];

const ALICE: &str = "+15557654321";
const OUR_NUMBER: &str = "+15550001234";

/// The Telnyx public key (base64) the suite configures: a key the issue counts as secret.
fn telnyx_public_key() -> String {
    telephony_telnyx::WebhookSigner::from_seed(TELNYX_SEED).public_key_base64()
}

/// Every value that must never be shown, with the forms it could take on the wire.
fn secrets() -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out: Vec<String> = [
        TW_AUTH_TOKEN,
        TW_API_KEY_SECRET,
        TW_WRONG_KEY_SECRET,
        TELNYX_API_KEY,
        TELNYX_WRONG_API_KEY,
        FORWARD_SECRET,
        NGROK_TOKEN,
        ADMIN_TOKEN,
        NUMERIC_SECRET,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    out.push(telnyx_public_key());
    // HTTP basic credentials as a log of headers would show them.
    out.push(b64(&format!("{ACCOUNT_SID}:{TW_AUTH_TOKEN}")));
    out.push(b64(&format!("{TW_API_KEY_SID}:{TW_API_KEY_SECRET}")));
    out.push(b64(&format!("{TW_API_KEY_SID}:{TW_WRONG_KEY_SECRET}")));
    out
}

/// Fails naming the secret and the context if `text` contains any secret.
fn assert_clean(what: &str, text: &str) {
    for s in secrets() {
        if let Some(at) = text.find(&s) {
            let start = at.saturating_sub(200);
            let end = (at + s.len() + 200).min(text.len());
            let start = (0..=start)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            let end = (end..=text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap();
            panic!("{what} contains the secret {s:?}:\n…{}…", &text[start..end]);
        }
    }
}

/// Everything logged so far, and a check that it is not empty (the capture works).
fn assert_logs_clean() -> usize {
    let text = logs().text();
    assert!(!text.is_empty(), "nothing was captured");
    assert_clean("the captured logs", &text);
    text.len()
}

fn json5_config(extra: &str) -> String {
    format!(
        r#"{{
            channels: {{ telephony: {{
                fromNumber: "{OUR_NUMBER}",
                allowFrom: ["{ALICE}"],
                twilio: {{
                    accountSid: "{ACCOUNT_SID}",
                    authToken: "{TW_AUTH_TOKEN}",
                    apiKeySid: "{TW_API_KEY_SID}",
                    apiKeySecret: "{TW_API_KEY_SECRET}",
                }},
                telnyx: {{ apiKey: "{TELNYX_API_KEY}", publicKey: "{pk}" }},
                forward: {{ url: "http://127.0.0.1:9/forward", secret: "{FORWARD_SECRET}" }},
                tunnel: {{ provider: "ngrok", ngrokAuthToken: "{NGROK_TOKEN}" }},
                admin: {{ token: "{ADMIN_TOKEN}" }},
                {extra}
            }} }},
        }}"#,
        pk = telnyx_public_key()
    )
}

/// `Debug` of the config and of each of its sections, and the redacted JSON.
fn config_views(cfg: &Config) -> Vec<(String, String)> {
    vec![
        ("Config".into(), format!("{cfg:?}")),
        ("Config (pretty)".into(), format!("{cfg:#?}")),
        ("twilio".into(), format!("{:?}", cfg.twilio)),
        ("telnyx".into(), format!("{:?}", cfg.telnyx)),
        ("forward".into(), format!("{:?}", cfg.forward)),
        ("tunnel".into(), format!("{:?}", cfg.tunnel)),
        ("admin".into(), format!("{:?}", cfg.admin)),
        ("serve".into(), format!("{:?}", cfg.serve)),
        (
            "webhookSecurity".into(),
            format!("{:?}", cfg.webhook_security),
        ),
        ("rateLimits".into(), format!("{:?}", cfg.rate_limits)),
        ("voice".into(), format!("{:?}", cfg.voice)),
        ("redacted_json".into(), cfg.redacted_json().to_string()),
        (
            "twilio provider config".into(),
            format!("{:?}", telephony::providers::twilio_config(cfg)),
        ),
    ]
}

#[test]
fn config_sources_debug_and_errors_never_show_secrets() {
    logs();
    let dir = tempfile::tempdir().unwrap();

    // JSON5 file: every secret set, every view redacted, and the values really loaded.
    let json5 = dir.path().join("telephony.json5");
    std::fs::write(&json5, json5_config("")).unwrap();
    let (cfg, _) = Config::load_with_env(Some(&json5), &[]).unwrap();
    assert_eq!(
        cfg.twilio.auth_token.as_ref().unwrap().expose(),
        TW_AUTH_TOKEN
    );
    assert_eq!(cfg.admin.token.as_ref().unwrap().expose(), ADMIN_TOKEN);
    assert_eq!(
        cfg.telnyx.public_key.as_ref().unwrap().expose(),
        telnyx_public_key()
    );
    for (what, text) in config_views(&cfg) {
        assert_clean(&what, &text);
    }
    let json = cfg.redacted_json();
    for (section, key) in [
        ("twilio", "authToken"),
        ("twilio", "apiKeySecret"),
        ("telnyx", "apiKey"),
        ("telnyx", "publicKey"),
        ("forward", "secret"),
        ("tunnel", "ngrokAuthToken"),
        ("admin", "token"),
    ] {
        assert_eq!(json[section][key], "[redacted]", "{section}.{key}");
    }

    // The same keys in TOML.
    let toml = dir.path().join("telephony.toml");
    std::fs::write(
        &toml,
        format!(
            "[twilio]\naccountSid = \"{ACCOUNT_SID}\"\nauthToken = \"{TW_AUTH_TOKEN}\"\n\
             [admin]\ntoken = \"{ADMIN_TOKEN}\"\n[forward]\nurl = \"http://127.0.0.1:9/\"\n\
             secret = \"{FORWARD_SECRET}\"\n"
        ),
    )
    .unwrap();
    let (cfg, _) = Config::load_with_env(Some(&toml), &[]).unwrap();
    assert_eq!(
        cfg.forward
            .as_ref()
            .unwrap()
            .secret
            .as_ref()
            .unwrap()
            .expose(),
        FORWARD_SECRET
    );
    for (what, text) in config_views(&cfg) {
        assert_clean(&format!("TOML {what}"), &text);
    }

    // The environment forms.
    let env: Vec<(String, String)> = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", TW_AUTH_TOKEN),
        ("TWILIO_API_KEY_SID", TW_API_KEY_SID),
        ("TWILIO_API_KEY_SECRET", TW_API_KEY_SECRET),
        ("TELNYX_API_KEY", TELNYX_API_KEY),
        ("TELNYX_PUBLIC_KEY", &telnyx_public_key()),
        ("NGROK_AUTHTOKEN", NGROK_TOKEN),
        ("TELEPHONY_ADMIN__TOKEN", ADMIN_TOKEN),
        ("TELEPHONY_FORWARD__URL", "http://127.0.0.1:9/"),
        ("TELEPHONY_FORWARD__SECRET", FORWARD_SECRET),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (cfg, sources) = Config::load_with_env(None, &env).unwrap();
    assert_eq!(
        cfg.tunnel
            .as_ref()
            .unwrap()
            .ngrok_auth_token
            .as_ref()
            .unwrap()
            .expose(),
        NGROK_TOKEN
    );
    assert_eq!(sources.env.len(), env.len());
    assert_clean("the sources", &format!("{sources:?}"));
    for (what, text) in config_views(&cfg) {
        assert_clean(&format!("env {what}"), &text);
    }

    // A digits-only secret from the environment is still a secret (and still loads).
    let numeric = vec![
        (
            "TELEPHONY_ADMIN__TOKEN".to_string(),
            NUMERIC_SECRET.to_string(),
        ),
        ("TWILIO_AUTH_TOKEN".to_string(), NUMERIC_SECRET.to_string()),
    ];
    let (cfg, _) = Config::load_with_env(None, &numeric).unwrap();
    assert_eq!(cfg.admin.token.as_ref().unwrap().expose(), NUMERIC_SECRET);
    assert_eq!(
        cfg.twilio.auth_token.as_ref().unwrap().expose(),
        NUMERIC_SECRET
    );

    // Errors: a secret of the wrong type, syntax errors on a secret's line (JSON5 and TOML),
    // and a malformed public key never echo the value.
    let mut errors = Vec::new();
    for (name, text) in [
        (
            "wrong-type.json5",
            format!("{{ twilio: {{ authToken: {NUMERIC_SECRET}.5 }} }}"),
        ),
        (
            "bool-then-bad.json5",
            format!("{{ admin: {{ token: [\"{ADMIN_TOKEN}\"] }} }}"),
        ),
        (
            "syntax.json5",
            format!("{{\n  twilio: {{ authToken: \"{TW_AUTH_TOKEN}\" oops }}\n}}"),
        ),
        (
            "syntax.toml",
            format!("[twilio]\nauthToken = \"{TW_AUTH_TOKEN}\" oops\n"),
        ),
        (
            "unterminated.toml",
            format!("[admin]\ntoken = \"{ADMIN_TOKEN}\n"),
        ),
        (
            "bad-public-key.json5",
            format!("{{ telnyx: {{ publicKey: \"{TELNYX_API_KEY}\" }} }}"),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = Config::load_with_env(Some(&path), &[]).unwrap_err();
        errors.push((name, err.to_string(), format!("{err:?}")));
    }
    let typed = vec![(
        "TELEPHONY_FORWARD__SECRET".to_string(),
        NUMERIC_SECRET.to_string(),
    )];
    // forward.secret without forward.url: an error that names the key, not the secret.
    let err = Config::load_with_env(None, &typed).unwrap_err();
    errors.push(("env", err.to_string(), format!("{err:?}")));
    for (name, display, debug) in &errors {
        assert_clean(&format!("the error for {name}"), display);
        assert_clean(&format!("the error Debug for {name}"), debug);
    }
    // The errors still say where and what.
    assert!(errors[0].1.contains("authToken"), "{}", errors[0].1);
    assert!(
        errors[2].1.contains("2:"),
        "JSON5 error keeps its line: {}",
        errors[2].1
    );
    assert!(
        errors[3].1.contains("line 2"),
        "TOML error keeps its line: {}",
        errors[3].1
    );
    assert!(errors[5].1.contains("telnyx.publicKey"), "{}", errors[5].1);
    assert!(errors[6].1.contains("forward"), "{}", errors[6].1);

    assert_logs_clean();
}

/// A simulated Twilio account that knows the suite's auth token and API key.
async fn twilio_simulator() -> (
    telephony_twilio_simulator::Simulator,
    telephony_twilio_simulator::RunningSimulator,
) {
    use telephony_twilio_simulator::{Simulator, SimulatorConfig};
    let sim = Simulator::new(
        SimulatorConfig::new(ACCOUNT_SID, TW_AUTH_TOKEN)
            .with_api_key(TW_API_KEY_SID, TW_API_KEY_SECRET)
            .with_callback_delay(Duration::from_millis(5)),
    );
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (sim, running)
}

/// A loopback port nothing listens on (the forward receiver that is down).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn gateway_config(dir: &std::path::Path, provider_extra: &str) -> Config {
    Config::from_json5_str(&format!(
        r#"{{
            fromNumber: "{OUR_NUMBER}",
            allowFrom: ["{ALICE}"],
            forward: {{ url: "http://127.0.0.1:{port}/forward", secret: "{FORWARD_SECRET}" }},
            // The token is set (and must stay hidden) but no tunnel starts: ngrok's
            // servers cannot be reached from tests.
            tunnel: {{ provider: "none", ngrokAuthToken: "{NGROK_TOKEN}" }},
            admin: {{ port: 0, token: "{ADMIN_TOKEN}" }},
            serve: {{ port: 0 }},
            dataDir: {dir:?},
            {provider_extra}
        }}"#,
        port = dead_port(),
        dir = dir.display().to_string(),
    ))
    .unwrap()
}

/// What a test saw over HTTP and in `Debug`, checked at the end.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn push(&mut self, what: &str, text: impl Into<String>) {
        self.0.push((what.to_string(), text.into()));
    }
    fn assert_clean(&self) {
        for (what, text) in &self.0 {
            assert_clean(what, text);
        }
    }
}

struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        Http {
            client: reqwest::Client::new(),
        }
    }

    /// An admin request with `token`; returns status and body.
    async fn admin(
        &self,
        gw: &RunningGateway,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, String) {
        let mut r = self
            .client
            .request(method, format!("http://{}{path}", gw.admin_addr));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post_form(&self, url: &str, body: String, signature: &str) -> (u16, String) {
        let r = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

async fn wait_for_status(http: &Http, gw: &RunningGateway, id: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..400 {
        let (_, body) = http
            .admin(
                gw,
                reqwest::Method::GET,
                &format!("/telephony/messages/{id}"),
                Some(ADMIN_TOKEN),
                None,
            )
            .await;
        if body.contains(&format!("\"status\":\"{want}\"")) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {id} never reached {want}: {last}");
}

fn message_id(send_response: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(send_response).unwrap();
    v["receipts"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_gateway_traffic_never_shows_secrets() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let (sim, running) = twilio_simulator().await;
    let twilio = format!(
        r#"twilio: {{ accountSid: "{ACCOUNT_SID}", authToken: "{TW_AUTH_TOKEN}",
            apiKeySid: "{TW_API_KEY_SID}", apiKeySecret: "{TW_API_KEY_SECRET}",
            apiBaseUrl: "{}" }},"#,
        running.url()
    );
    let cfg = gateway_config(dir.path(), &twilio);
    let gw = server::start(&cfg, ServeOptions::default()).await.unwrap();
    let http = Http::new();
    let mut seen = Seen::default();
    seen.push("RunningGateway Debug", format!("{gw:?}"));
    seen.push("RuntimeInfo Debug", format!("{:?}", gw.runtime));
    seen.push("Gateway Debug", format!("{:?}", gw.gateway));

    // A send that is delivered (REST with the API key; callbacks signed with the token).
    let (code, body) = http
        .admin(
            &gw,
            reqwest::Method::POST,
            "/telephony/send",
            Some(ADMIN_TOKEN),
            Some(serde_json::json!({ "to": ALICE, "body": "hello" })),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = message_id(&body);
    seen.push("send response", body);
    seen.push(
        "delivered receipt",
        wait_for_status(&http, &gw, &id, "delivered").await,
    );

    // A provider authentication failure (20003) on the next send.
    sim.inject(telephony_twilio_simulator::Injection::error(
        401,
        20003,
        "Authenticate",
    ));
    let (code, body) = http
        .admin(
            &gw,
            reqwest::Method::POST,
            "/telephony/send",
            Some(ADMIN_TOKEN),
            Some(serde_json::json!({ "to": ALICE, "body": "refused" })),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = message_id(&body);
    seen.push("send response (401)", body);
    seen.push(
        "failed receipt (401)",
        wait_for_status(&http, &gw, &id, "failed").await,
    );

    // Inbound: a signed webhook is accepted (and forwarded to the dead receiver), a
    // forged one refused.
    let sms =
        telephony_twilio_simulator::InboundSms::new(ACCOUNT_SID, ALICE, OUR_NUMBER, "hi there");
    let (form, sig) = sms.signed(TW_AUTH_TOKEN, &gw.runtime.webhook_url);
    let (code, body) = http
        .post_form(&gw.runtime.webhook_url, form.clone(), &sig)
        .await;
    assert_eq!(code, 200, "{body}");
    seen.push("webhook answer", body);
    let (code, body) = http
        .post_form(
            &gw.runtime.webhook_url,
            form,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .await;
    assert_eq!(code, 403, "{body}");
    seen.push("forged webhook answer", body);
    let (code, body) = http
        .post_form(
            &gw.runtime.status_url,
            "MessageSid=SM1&MessageStatus=sent".into(),
            "bad",
        )
        .await;
    assert_eq!(code, 403, "{body}");
    seen.push("forged status callback answer", body);

    // The forward to the dead receiver fails and is retried (and logged) at least once.
    for _ in 0..200 {
        let (_, status) = http
            .admin(
                &gw,
                reqwest::Method::GET,
                "/telephony/status",
                Some(ADMIN_TOKEN),
                None,
            )
            .await;
        if status.contains("\"lastError\":\"") || status.contains("\"lastError\": \"") {
            seen.push("status with forward error", status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (_, status) = http
        .admin(
            &gw,
            reqwest::Method::GET,
            "/telephony/status",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    seen.push("status", status);

    // Admin errors: a wrong token, a token that differs by its last character, none.
    let near = format!("{}x", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
    for (what, token) in [
        ("wrong", Some("nope")),
        ("near", Some(near.as_str())),
        ("none", None),
    ] {
        let (code, body) = http
            .admin(&gw, reqwest::Method::GET, "/telephony/status", token, None)
            .await;
        assert_eq!(code, 401, "{what}: {body}");
        seen.push(&format!("admin answer ({what} token)"), body);
    }

    // Metrics.
    let (code, metrics) = http
        .admin(
            &gw,
            reqwest::Method::GET,
            "/metrics",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert!(metrics.contains("telephony_webhooks_total"), "{metrics}");
    seen.push("metrics", metrics);

    gw.shutdown().await;

    // The same account with a wrong API key secret: every send fails with 20003.
    let dir2 = tempfile::tempdir().unwrap();
    let twilio = format!(
        r#"twilio: {{ accountSid: "{ACCOUNT_SID}", authToken: "{TW_AUTH_TOKEN}",
            apiKeySid: "{TW_API_KEY_SID}", apiKeySecret: "{TW_WRONG_KEY_SECRET}",
            apiBaseUrl: "{}" }},"#,
        running.url()
    );
    let gw = server::start(
        &gateway_config(dir2.path(), &twilio),
        ServeOptions::default(),
    )
    .await
    .unwrap();
    let (code, body) = http
        .admin(
            &gw,
            reqwest::Method::POST,
            "/telephony/send",
            Some(ADMIN_TOKEN),
            Some(serde_json::json!({ "to": ALICE, "body": "bad key" })),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = message_id(&body);
    let failed = wait_for_status(&http, &gw, &id, "failed").await;
    assert!(failed.contains("20003"), "{failed}");
    seen.push("failed receipt (bad key)", failed);
    // The direct provider error, as a library user would print it.
    let provider = telephony::providers::provider(&gateway_config(dir2.path(), &twilio)).unwrap();
    let err = provider
        .send(
            &telephony_core::OutboundMessage {
                to: telephony_core::Address::parse(ALICE).unwrap(),
                body: "direct".into(),
                media_urls: vec![],
            },
            &telephony_core::SendOptions::default(),
        )
        .await
        .unwrap_err();
    seen.push("provider error Display", err.to_string());
    seen.push("provider error Debug", format!("{err:?}"));
    seen.push("provider Debug", format!("{provider:?}"));
    gw.shutdown().await;
    running.shutdown().await;

    seen.assert_clean();
    assert_logs_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telnyx_gateway_traffic_never_shows_secrets() {
    use telephony_telnyx::WebhookSigner;
    use telephony_telnyx_simulator::{InboundSms, Simulator, SimulatorConfig};
    logs();
    let sim = Simulator::new(
        SimulatorConfig::new(TELNYX_API_KEY, WebhookSigner::from_seed(TELNYX_SEED))
            .with_callback_delay(Duration::from_millis(5)),
    );
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let http = Http::new();
    let mut seen = Seen::default();

    let telnyx = |key: &str| {
        format!(
            r#"provider: "telnyx", telnyx: {{ apiKey: "{key}", publicKey: "{}", apiBaseUrl: "{}" }},"#,
            telnyx_public_key(),
            running.url()
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = gateway_config(dir.path(), &telnyx(TELNYX_API_KEY));
    seen.push("telnyx config Debug", format!("{cfg:?}"));
    let gw = server::start(&cfg, ServeOptions::default()).await.unwrap();
    seen.push("RunningGateway Debug", format!("{gw:?}"));

    let (code, body) = http
        .admin(
            &gw,
            reqwest::Method::POST,
            "/telephony/send",
            Some(ADMIN_TOKEN),
            Some(serde_json::json!({ "to": ALICE, "body": "hello" })),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = message_id(&body);
    seen.push(
        "delivered receipt",
        wait_for_status(&http, &gw, &id, "delivered").await,
    );

    // A signed inbound webhook, then the same body with a broken signature.
    let sms = InboundSms::new(ALICE, OUR_NUMBER, "hi");
    let signed = sim.signed_inbound(&sms, &gw.runtime.webhook_url);
    let r = http
        .client
        .post(&gw.runtime.webhook_url)
        .headers(signed.headers.clone())
        .body(signed.body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    seen.push("webhook answer", r.text().await.unwrap());
    let mut forged = signed.headers.clone();
    forged.insert(
        "telnyx-signature-ed25519",
        base64::engine::general_purpose::STANDARD
            .encode([1u8; 64])
            .parse()
            .unwrap(),
    );
    let r = http
        .client
        .post(&gw.runtime.webhook_url)
        .headers(forged)
        .body(signed.body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    seen.push("forged webhook answer", r.text().await.unwrap());
    let (_, metrics) = http
        .admin(
            &gw,
            reqwest::Method::GET,
            "/metrics",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    seen.push("metrics", metrics);
    gw.shutdown().await;

    // A wrong API key: the send fails with the simulator's 401.
    let dir2 = tempfile::tempdir().unwrap();
    let gw = server::start(
        &gateway_config(dir2.path(), &telnyx(TELNYX_WRONG_API_KEY)),
        ServeOptions::default(),
    )
    .await
    .unwrap();
    let (code, body) = http
        .admin(
            &gw,
            reqwest::Method::POST,
            "/telephony/send",
            Some(ADMIN_TOKEN),
            Some(serde_json::json!({ "to": ALICE, "body": "bad key" })),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = message_id(&body);
    seen.push(
        "failed receipt (bad key)",
        wait_for_status(&http, &gw, &id, "failed").await,
    );
    gw.shutdown().await;
    running.shutdown().await;

    seen.assert_clean();
    assert_logs_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_start_never_shows_its_credentials() {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0 }}, admin: {{ port: 0 }}, dataDir: {:?} }}",
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
    assert!(gw.admin_token_generated);
    let token = gw.admin_token.expose().to_string();
    let sandbox_token = gw.runtime.sandbox_auth_token.clone().unwrap();
    let views = [
        format!("{gw:?}"),
        format!("{:?}", gw.runtime),
        format!("{:?}", gw.simulator),
    ];
    for v in &views {
        assert!(!v.contains(&token), "admin token in {v}");
        assert!(!v.contains(&sandbox_token), "sandbox auth token in {v}");
    }
    // The token file is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(telephony::runtime::ADMIN_TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "admin.token");
        let mode = std::fs::metadata(telephony::runtime::runtime_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "gateway.json (holds the sandbox credentials)"
        );
    }
    gw.shutdown().await;
    let text = logs().text();
    assert!(
        !text.contains(&token),
        "the generated admin token was logged"
    );
    assert!(
        !text.contains(&sandbox_token),
        "the sandbox auth token was logged"
    );
    let _ = std::io::stderr().flush();
}
