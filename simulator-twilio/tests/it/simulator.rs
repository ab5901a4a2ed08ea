//! The Twilio simulator over real HTTP on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use telephony_core::DeliveryStatus;
use telephony_twilio::RequestValidator;
use telephony_twilio_simulator::{
    InboundSms, Injection, MESSAGING_SERVICE_SENDER, RunningSimulator, Simulator, SimulatorConfig,
    new_message_sid,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::support::{ACCOUNT, TOKEN, start};

const OTHER_ACCOUNT: &str = "ACffffffffffffffffffffffffffffffff";
const MG: &str = "MG00112233445566778899aabbccddeeff";
const TO: &str = "+15550001111";
const FROM: &str = "+15550002222";

fn config() -> SimulatorConfig {
    SimulatorConfig::new(ACCOUNT, TOKEN).with_callback_delay(Duration::from_millis(10))
}

/// Messages stay as created: the first status step is an hour away.
fn frozen_config() -> SimulatorConfig {
    SimulatorConfig::new(ACCOUNT, TOKEN).with_callback_delay(Duration::from_secs(3600))
}

fn messages_url(server: &RunningSimulator, account: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account}/Messages.json",
        server.url()
    )
}

async fn create(server: &RunningSimulator, form: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(messages_url(server, ACCOUNT))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn create_ok(server: &RunningSimulator, form: &[(&str, &str)]) -> Value {
    let resp = create(server, form).await;
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

async fn get(server: &RunningSimulator, path_and_query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path_and_query}", server.url()))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .unwrap()
}

fn error_body(code: i64, message: &str, status: u16) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

async fn assert_error(resp: reqwest::Response, status: u16, code: i64, message: &str) {
    assert_eq!(resp.status().as_u16(), status, "HTTP status for {message}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, error_body(code, message, status));
}

/// Polls `f` every 10 ms for up to 5 s.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------
// OpenAPI subset checks

fn openapi() -> Value {
    // The provider crate's fixture, read at compile time: the binary does not depend on
    // where the checkout is.
    const SPEC: &str = include_str!("../../../provider-twilio/testdata/api_v2010_subset.json");
    serde_json::from_str(SPEC).unwrap()
}

/// `^AC[0-9a-fA-F]{32}$` / `^(SM|MM)[0-9a-fA-F]{32}$`, the only pattern shapes in these schemas.
fn matches_sid_pattern(pattern: &str, value: &str) -> bool {
    let prefixes = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix("[0-9a-fA-F]{32}$"))
        .unwrap_or_else(|| panic!("unexpected pattern {pattern}"));
    let prefixes: Vec<&str> = match prefixes.strip_prefix('(').and_then(|p| p.strip_suffix(')')) {
        Some(alts) => alts.split('|').collect(),
        None => vec![prefixes],
    };
    value.len() == 34
        && prefixes.iter().any(|p| value.starts_with(p))
        && value[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Every property of `schema` is present in `value` with the schema's type (or null where
/// nullable), enum values are in the enum, SID patterns and lengths hold, and `value` has
/// no keys the schema doesn't know.
fn check_schema(doc: &Value, schema: &Value, value: &Value, what: &str) {
    let props = schema["properties"].as_object().unwrap();
    let obj = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object"));
    for key in obj.keys() {
        assert!(
            props.contains_key(key),
            "{what}: {key} is not in the schema"
        );
    }
    for (name, prop) in props {
        let prop = match prop.get("$ref").and_then(Value::as_str) {
            Some(r) => &doc["schemas"][r.trim_start_matches("#/components/schemas/")],
            None => prop,
        };
        let v = obj
            .get(name)
            .unwrap_or_else(|| panic!("{what}: missing {name}"));
        let ty = prop["type"].as_str().unwrap();
        match v {
            Value::Null => assert_eq!(
                prop.get("nullable"),
                Some(&Value::Bool(true)),
                "{what}: {name} is null but not nullable"
            ),
            Value::String(s) => {
                assert_eq!(ty, "string", "{what}: {name} is a string, schema says {ty}");
                if let Some(allowed) = prop.get("enum").and_then(Value::as_array) {
                    assert!(allowed.contains(v), "{what}: {name}={s} not in {allowed:?}");
                }
                if let Some(p) = prop.get("pattern").and_then(Value::as_str) {
                    assert!(matches_sid_pattern(p, s), "{what}: {name}={s} !~ {p}");
                }
                if let Some(min) = prop.get("minLength").and_then(Value::as_u64) {
                    assert!(s.len() as u64 >= min, "{what}: {name} too short");
                }
                if let Some(max) = prop.get("maxLength").and_then(Value::as_u64) {
                    assert!(s.len() as u64 <= max, "{what}: {name} too long");
                }
                if prop.get("format").and_then(Value::as_str) == Some("date-time-rfc-2822") {
                    OffsetDateTime::parse(s, &Rfc2822)
                        .unwrap_or_else(|e| panic!("{what}: {name}={s} is not RFC 2822: {e}"));
                }
            }
            Value::Number(n) => {
                assert_eq!(
                    ty, "integer",
                    "{what}: {name} is a number, schema says {ty}"
                );
                assert!(n.is_i64(), "{what}: {name} is not an integer");
            }
            Value::Object(_) => assert_eq!(ty, "object", "{what}: {name} is an object"),
            Value::Array(_) => assert_eq!(ty, "array", "{what}: {name} is an array"),
            Value::Bool(_) => assert_eq!(ty, "boolean", "{what}: {name} is a boolean"),
        }
    }
}

fn check_message_schema(value: &Value) {
    let doc = openapi();
    let schema = &doc["schemas"]["api.v2010.account.message"];
    check_schema(&doc, schema, value, "message");
}

// ---------------------------------------------------------------------------------------
// Create

#[tokio::test]
async fn create_returns_a_full_message_resource() {
    let (sim, server) = start(frozen_config()).await;
    let before = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let m = create_ok(
        &server,
        &[("To", TO), ("From", FROM), ("Body", "Hello! 👍")],
    )
    .await;
    check_message_schema(&m);

    let sid = m["sid"].as_str().unwrap().to_string();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert!(
        sid[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{sid}"
    );
    let created = m["date_created"].as_str().unwrap();
    let t = OffsetDateTime::parse(created, &Rfc2822).unwrap();
    assert!(t >= before && t <= OffsetDateTime::now_utc(), "{created}");
    assert!(created.ends_with(" +0000"), "{created}");
    let uri = format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json");
    let media = format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media.json");
    assert_eq!(
        m,
        json!({
            "account_sid": ACCOUNT,
            "api_version": "2010-04-01",
            "body": "Hello! 👍",
            "date_created": created,
            "date_sent": created,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": FROM,
            "messaging_service_sid": null,
            "num_media": "0",
            "num_segments": "1",
            "price": null,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": media},
            "to": TO,
            "uri": uri,
        })
    );
    let stored = sim.messages();
    assert_eq!(stored.len(), 1);
    assert_eq!(serde_json::to_value(&stored[0]).unwrap(), m);
    server.shutdown().await;
}

#[tokio::test]
async fn create_counts_segments_media_and_normalizes_recipients() {
    let (_sim, server) = start(frozen_config()).await;
    let long = "a".repeat(161);
    let m = create_ok(
        &server,
        &[("To", "+1 (555) 000-1111"), ("From", FROM), ("Body", &long)],
    )
    .await;
    assert_eq!(m["num_segments"], "2");
    assert_eq!(m["to"], TO);
    let emoji = "👍".repeat(36);
    let m = create_ok(&server, &[("To", TO), ("From", FROM), ("Body", &emoji)]).await;
    assert_eq!(m["num_segments"], "2");
    let m = create_ok(
        &server,
        &[
            ("To", TO),
            ("From", FROM),
            ("MediaUrl", "https://example.com/a.jpg"),
            ("MediaUrl", "https://example.com/b.png"),
        ],
    )
    .await;
    check_message_schema(&m);
    assert!(m["sid"].as_str().unwrap().starts_with("MM"));
    assert_eq!(m["num_media"], "2");
    assert_eq!(m["num_segments"], "1");
    assert_eq!(m["body"], "");
    let m = create_ok(
        &server,
        &[
            ("To", "whatsapp:+15550001111"),
            ("From", "whatsapp:+15550002222"),
            ("Body", "hi"),
        ],
    )
    .await;
    assert_eq!(m["to"], "whatsapp:+15550001111");
    assert_eq!(m["from"], "whatsapp:+15550002222");
    server.shutdown().await;
}

#[tokio::test]
async fn messaging_service_create_is_accepted_without_a_sender() {
    let (sim, server) = start(frozen_config()).await;
    let m = create_ok(
        &server,
        &[("To", TO), ("MessagingServiceSid", MG), ("Body", "hi")],
    )
    .await;
    check_message_schema(&m);
    assert_eq!(m["status"], "accepted");
    assert_eq!(m["from"], Value::Null);
    assert_eq!(m["num_segments"], "0");
    assert_eq!(m["messaging_service_sid"], MG);
    assert_eq!(sim.messages()[0].status.as_deref(), Some("accepted"));

    // With an explicit From as well, Twilio queues it from that sender (PROTOCOL §3.1 sample).
    let m = create_ok(
        &server,
        &[
            ("To", TO),
            ("From", FROM),
            ("MessagingServiceSid", MG),
            ("Body", "hi"),
        ],
    )
    .await;
    assert_eq!(m["status"], "queued");
    assert_eq!(m["from"], FROM);
    assert_eq!(m["num_segments"], "1");
    assert_eq!(m["messaging_service_sid"], MG);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Auth

#[tokio::test]
async fn authentication_failures() {
    let config = frozen_config().with_api_key("SK0123456789abcdef0123456789abcdef", "key-secret");
    let (sim, server) = start(config).await;
    let client = reqwest::Client::new();
    let form = [("To", TO), ("From", FROM), ("Body", "x")];
    let send = |user: &'static str, pass: Option<&'static str>, account: &'static str| {
        let mut req = client.post(messages_url(&server, account)).form(&form);
        if let Some(pass) = pass {
            req = req.basic_auth(user, Some(pass));
        }
        req.send()
    };

    // Wrong token.
    assert_error(
        send(ACCOUNT, Some("wrong"), ACCOUNT).await.unwrap(),
        401,
        20003,
        "Authenticate",
    )
    .await;
    // No credentials at all.
    assert_error(
        send(ACCOUNT, None, ACCOUNT).await.unwrap(),
        401,
        20003,
        "Authenticate",
    )
    .await;
    // Another account's SID with our token.
    assert_error(
        send(OTHER_ACCOUNT, Some(TOKEN), OTHER_ACCOUNT)
            .await
            .unwrap(),
        401,
        20003,
        "Authenticate",
    )
    .await;
    // Wrong API key secret.
    assert_error(
        send("SK0123456789abcdef0123456789abcdef", Some("nope"), ACCOUNT)
            .await
            .unwrap(),
        401,
        20003,
        "Authenticate",
    )
    .await;
    // Valid credentials, someone else's account in the path.
    assert_error(
        send(ACCOUNT, Some(TOKEN), OTHER_ACCOUNT).await.unwrap(),
        404,
        20404,
        &format!("The requested resource /2010-04-01/Accounts/{OTHER_ACCOUNT}/Messages.json was not found"),
    )
    .await;
    // Reads need auth too.
    let resp = client
        .get(messages_url(&server, ACCOUNT))
        .basic_auth(ACCOUNT, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, 20003, "Authenticate").await;
    assert!(sim.messages().is_empty());

    // An API key works, with the account SID in the path.
    let resp = send(
        "SK0123456789abcdef0123456789abcdef",
        Some("key-secret"),
        ACCOUNT,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(sim.messages().len(), 1);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Validation and magic numbers

#[tokio::test]
async fn validation_errors_have_twilio_codes_and_messages() {
    let (sim, server) = start(frozen_config()).await;
    let long = "a".repeat(1601);
    let media: Vec<(&str, &str)> = [("To", TO), ("From", FROM)]
        .into_iter()
        .chain(std::iter::repeat_n(
            ("MediaUrl", "https://example.com/x.jpg"),
            11,
        ))
        .collect();
    type Case<'a> = (Vec<(&'a str, &'a str)>, i64, String);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("From", FROM), ("Body", "x")],
            21604,
            "A 'To' phone number is required.".into(),
        ),
        (
            vec![("To", ""), ("From", FROM), ("Body", "x")],
            21604,
            "A 'To' phone number is required.".into(),
        ),
        (
            vec![("To", "5551234567"), ("From", FROM), ("Body", "x")],
            21211,
            "The 'To' number 5551234567 is not a valid phone number.".into(),
        ),
        (
            vec![("To", "whatsapp:12"), ("From", FROM), ("Body", "x")],
            21211,
            "The 'To' number whatsapp:12 is not a valid phone number.".into(),
        ),
        (
            vec![("To", TO), ("Body", "x")],
            21603,
            "A 'From' phone number is required.".into(),
        ),
        (
            vec![("To", TO), ("From", FROM)],
            21602,
            "Message body is required.".into(),
        ),
        (
            vec![("To", TO), ("From", FROM), ("Body", "")],
            21602,
            "Message body is required.".into(),
        ),
        (
            vec![("To", TO), ("From", FROM), ("Body", &long)],
            21617,
            "The concatenated message body exceeds the 1600 character limit.".into(),
        ),
        (media, 21623, "Too many media urls".into()),
        (
            vec![("To", "+15005550001"), ("From", FROM), ("Body", "x")],
            21211,
            "The 'To' number +15005550001 is not a valid phone number.".into(),
        ),
        (
            vec![("To", "+15005550002"), ("From", FROM), ("Body", "x")],
            21612,
            "The 'To' phone number is not currently reachable via SMS.".into(),
        ),
        (
            vec![("To", "+15005550004"), ("From", FROM), ("Body", "x")],
            21610,
            "Attempt to send to unsubscribed recipient".into(),
        ),
        (
            vec![("To", "+15005550009"), ("From", FROM), ("Body", "x")],
            21614,
            "'To' number is not a valid mobile number".into(),
        ),
    ];
    for (form, code, message) in cases {
        assert_error(create(&server, &form).await, 400, code, &message).await;
    }
    // Exactly 1600 characters is fine.
    let max = "é".repeat(1600);
    create_ok(&server, &[("To", TO), ("From", FROM), ("Body", &max)]).await;
    assert_eq!(sim.messages().len(), 1);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Injection

#[tokio::test]
async fn injected_rate_limit_then_success() {
    let (sim, server) = start(frozen_config()).await;
    sim.inject(Injection::rate_limited(2));
    let resp = create(&server, &[("To", TO), ("From", FROM), ("Body", "x")]).await;
    assert_eq!(resp.headers().get("retry-after").unwrap(), "2");
    assert_error(resp, 429, 20429, "Too Many Requests").await;
    assert!(sim.messages().is_empty());
    create_ok(&server, &[("To", TO), ("From", FROM), ("Body", "x")]).await;
    assert_eq!(sim.messages().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn injections_match_recipient_and_count_down() {
    let (sim, server) = start(frozen_config()).await;
    sim.inject(
        Injection::error(503, 20500, "Internal Server Error")
            .times(2)
            .to("+1 555 000 3333"),
    );
    // Another recipient is unaffected, and the injection comes before validation.
    create_ok(&server, &[("To", TO), ("From", FROM), ("Body", "x")]).await;
    for _ in 0..2 {
        let resp = create(&server, &[("To", "+15550003333"), ("Body", "x")]).await;
        assert!(resp.headers().get("retry-after").is_none());
        assert_error(resp, 503, 20500, "Internal Server Error").await;
    }
    assert_error(
        create(&server, &[("To", "+15550003333"), ("Body", "x")]).await,
        400,
        21603,
        "A 'From' phone number is required.",
    )
    .await;
    create_ok(
        &server,
        &[("To", "+15550003333"), ("From", FROM), ("Body", "x")],
    )
    .await;
    assert_eq!(sim.messages().len(), 2);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Fetch, list, account, unknown routes

#[tokio::test]
async fn fetch_and_list_messages() {
    let (sim, server) = start(frozen_config()).await;
    let a = create_ok(&server, &[("To", TO), ("From", FROM), ("Body", "one")]).await;
    let b = create_ok(
        &server,
        &[("To", "+15550003333"), ("From", FROM), ("Body", "two")],
    )
    .await;
    let c = create_ok(&server, &[("To", TO), ("From", FROM), ("Body", "three")]).await;

    let resp = get(
        &server,
        &format!(
            "/2010-04-01/Accounts/{ACCOUNT}/Messages/{}.json",
            b["sid"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), b);

    let missing =
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/SM00000000000000000000000000000000.json");
    assert_error(
        get(&server, &missing).await,
        404,
        20404,
        &format!("The requested resource {missing} was not found"),
    )
    .await;

    let base = format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json");
    let doc = openapi();
    let page_schema = &doc["operations"]["GET /2010-04-01/Accounts/{AccountSid}/Messages.json"]["responses"]
        ["200"];

    let resp = get(&server, &base).await;
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.unwrap();
    check_schema(&doc, page_schema, &page, "page");
    assert_eq!(page["messages"], json!([c, b, a]));
    assert_eq!(page["page"], 0);
    assert_eq!(page["page_size"], 50);
    assert_eq!(page["start"], 0);
    assert_eq!(page["end"], 2);
    assert_eq!(page["uri"], format!("{base}?PageSize=50&Page=0"));
    assert_eq!(page["first_page_uri"], format!("{base}?PageSize=50&Page=0"));
    assert_eq!(page["next_page_uri"], Value::Null);
    assert_eq!(page["previous_page_uri"], Value::Null);

    let page: Value = get(&server, &format!("{base}?To=%2B15550001111"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"], json!([c, a]));
    let page: Value = get(
        &server,
        &format!("{base}?From=%2B15550002222&To=%2B15550003333"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["messages"], json!([b]));
    let page: Value = get(&server, &format!("{base}?From=%2B15559999999"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"], json!([]));

    let page: Value = get(&server, &format!("{base}?PageSize=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"], json!([c, b]));
    assert_eq!(
        (page["start"].as_u64(), page["end"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(page["next_page_uri"], format!("{base}?PageSize=2&Page=1"));
    let page: Value = get(&server, page["next_page_uri"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"], json!([a]));
    assert_eq!(
        (page["start"].as_u64(), page["end"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(page["next_page_uri"], Value::Null);
    assert_eq!(
        page["previous_page_uri"],
        format!("{base}?PageSize=2&Page=0")
    );

    let page: Value = get(&server, &format!("{base}?PageSize=5000"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["page_size"], 1000);
    assert_eq!(sim.messages().len(), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn account_fetch_never_shows_the_auth_token() {
    let (_sim, server) = start(frozen_config()).await;
    let resp = get(&server, &format!("/2010-04-01/Accounts/{ACCOUNT}.json")).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(TOKEN));
    let account: Value = serde_json::from_str(&text).unwrap();
    assert!(account.get("auth_token").is_none());
    assert_eq!(account["sid"], ACCOUNT);
    assert_eq!(account["status"], "active");
    assert_eq!(account["type"], "Full");
    assert!(account["friendly_name"].is_string());
    let doc = openapi();
    let schema = &doc["schemas"]["api.v2010.account"];
    let mut full = account.clone();
    full["auth_token"] = Value::Null; // the only schema property left out on purpose
    check_schema(&doc, schema, &full, "account");

    let other = format!("/2010-04-01/Accounts/{OTHER_ACCOUNT}.json");
    assert_error(
        get(&server, &other).await,
        404,
        20404,
        &format!("The requested resource {other} was not found"),
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_non_form_posts() {
    let (sim, server) = start(frozen_config()).await;
    let recordings = format!("/2010-04-01/Accounts/{ACCOUNT}/Recordings.json");
    assert_error(
        get(&server, &recordings).await,
        404,
        20404,
        &format!("The requested resource {recordings} was not found"),
    )
    .await;
    assert_error(
        get(&server, "/").await,
        404,
        20404,
        "The requested resource / was not found",
    )
    .await;
    let resp = reqwest::Client::new()
        .delete(messages_url(&server, ACCOUNT))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .unwrap();
    // A resource the simulator has, a method it does not serve: 501, never a 404.
    assert_error(
        resp,
        501,
        20004,
        "The simulator does not support DELETE /2010-04-01/Accounts/{AccountSid}/Messages.json (it serves GET, POST there); see the README's simulated resources",
    )
    .await;

    let resp = reqwest::Client::new()
        .post(messages_url(&server, ACCOUNT))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .json(&json!({"To": TO, "From": FROM, "Body": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(
        resp,
        400,
        400,
        "Content-Type must be application/x-www-form-urlencoded",
    )
    .await;
    assert!(sim.messages().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn router_mounts_into_another_app() {
    let sim = Simulator::new(frozen_config());
    let app = axum::Router::new()
        .route("/other", axum::routing::get(|| async { "other" }))
        .merge(sim.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let resp = reqwest::Client::new()
        .post(format!(
            "http://{addr}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        ))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("To", TO), ("From", FROM), ("Body", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let other = reqwest::get(format!("http://{addr}/other"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(other, "other");
    assert_eq!(sim.messages().len(), 1);
    task.abort();
}

// ---------------------------------------------------------------------------------------
// Status callbacks

#[derive(Debug, Clone)]
struct Received {
    signature: Option<String>,
    content_type: Option<String>,
    user_agent: Option<String>,
    params: Vec<(String, String)>,
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answer: StatusCode,
}

/// A status-callback receiver on 127.0.0.1:0 answering `answer`; returns its address.
async fn receiver(
    answer: StatusCode,
) -> (
    SocketAddr,
    Arc<Mutex<Vec<Received>>>,
    tokio::task::JoinHandle<()>,
) {
    async fn handle(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
        let h = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
        r.got.lock().unwrap().push(Received {
            signature: h("x-twilio-signature"),
            content_type: h("content-type"),
            user_agent: h("user-agent"),
            params: serde_urlencoded::from_str(&body).unwrap(),
        });
        r.answer
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/status", post(handle))
        .with_state(Receiver {
            got: got.clone(),
            answer,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, got, task)
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn status_callbacks_arrive_in_order_signed() {
    let (sim, server) = start(config()).await;
    let (addr, got, rx_task) = receiver(StatusCode::OK).await;
    // A query string with escapes: the signature covers the exact URL string.
    let url = format!("http://{addr}/status?tenant=a%20b&x='1'");
    let m = create_ok(
        &server,
        &[
            ("To", TO),
            ("From", FROM),
            ("Body", "hi"),
            ("StatusCallback", &url),
        ],
    )
    .await;
    let sid = m["sid"].as_str().unwrap().to_string();
    assert_eq!(m["status"], "queued");

    let received = eventually("3 callbacks", || {
        let g = got.lock().unwrap();
        (g.len() >= 3).then(|| g.clone())
    })
    .await;
    // Nothing more comes after the final status.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(got.lock().unwrap().len(), 3);

    let validator = RequestValidator::new(TOKEN);
    let statuses: Vec<&str> = received
        .iter()
        .map(|r| param(&r.params, "MessageStatus").unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "sent", "delivered"]);
    for (r, status) in received.iter().zip(["queued", "sent", "delivered"]) {
        assert_eq!(
            r.params,
            pairs(&[
                ("MessageSid", &sid),
                ("SmsSid", &sid),
                ("MessageStatus", status),
                ("SmsStatus", status),
                ("AccountSid", ACCOUNT),
                ("From", FROM),
                ("To", TO),
                ("ApiVersion", "2010-04-01"),
            ])
        );
        let signature = r.signature.as_deref().expect("X-Twilio-Signature");
        assert!(
            validator.validate(&url, &r.params, signature),
            "signature for {status}"
        );
        assert!(!RequestValidator::new("another-token").validate(&url, &r.params, signature));
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/x-www-form-urlencoded; charset=utf-8")
        );
        assert_eq!(r.user_agent.as_deref(), Some("TwilioProxy/1.1"));
    }

    let records = eventually("3 records", || {
        let c = sim.callbacks();
        (c.len() == 3).then_some(c)
    })
    .await;
    for (rec, status) in records.iter().zip([
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
    ]) {
        assert_eq!(rec.status, status);
        assert_eq!(rec.message_sid, sid);
        assert_eq!(rec.url, url);
        assert_eq!(rec.http_status, Some(200));
        assert_eq!(rec.error, None);
        assert!(rec.succeeded());
    }
    let stored = sim.message(&sid).unwrap();
    assert_eq!(stored.status.as_deref(), Some("delivered"));
    assert_eq!(stored.error_code, None);
    // The API shows the same.
    let fetched: Value = get(
        &server,
        &format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(fetched["status"], "delivered");
    check_message_schema(&fetched);
    server.shutdown().await;
    rx_task.abort();
}

#[tokio::test]
async fn undelivered_final_status_carries_error_30006() {
    let (sim, server) = start(config().with_final_status(DeliveryStatus::Undelivered)).await;
    let (addr, got, rx_task) = receiver(StatusCode::NO_CONTENT).await;
    let url = format!("http://{addr}/status");
    let m = create_ok(
        &server,
        &[
            ("To", TO),
            ("From", FROM),
            ("Body", "hi"),
            ("StatusCallback", &url),
        ],
    )
    .await;
    let received = eventually("3 callbacks", || {
        let g = got.lock().unwrap();
        (g.len() >= 3).then(|| g.clone())
    })
    .await;
    let statuses: Vec<&str> = received
        .iter()
        .map(|r| param(&r.params, "MessageStatus").unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "sent", "undelivered"]);
    assert_eq!(param(&received[0].params, "ErrorCode"), None);
    assert_eq!(param(&received[2].params, "ErrorCode"), Some("30006"));
    let stored = sim.message(m["sid"].as_str().unwrap()).unwrap();
    assert_eq!(stored.status.as_deref(), Some("undelivered"));
    assert_eq!(stored.error_code, Some(30006));
    eventually("records", || (sim.callbacks().len() == 3).then_some(())).await;
    assert!(
        sim.callbacks()
            .iter()
            .all(|c| c.http_status == Some(204) && c.succeeded())
    );
    server.shutdown().await;
    rx_task.abort();
}

#[tokio::test]
async fn messaging_service_callbacks_name_the_service_and_the_chosen_sender() {
    let (sim, server) = start(config()).await;
    let (addr, got, rx_task) = receiver(StatusCode::OK).await;
    let url = format!("http://{addr}/status");
    let m = create_ok(
        &server,
        &[
            ("To", TO),
            ("MessagingServiceSid", MG),
            ("Body", "hi"),
            ("StatusCallback", &url),
        ],
    )
    .await;
    let received = eventually("3 callbacks", || {
        let g = got.lock().unwrap();
        (g.len() >= 3).then(|| g.clone())
    })
    .await;
    for r in &received {
        assert_eq!(param(&r.params, "MessagingServiceSid"), Some(MG));
        assert_eq!(param(&r.params, "From"), Some(MESSAGING_SERVICE_SENDER));
        assert!(RequestValidator::new(TOKEN).validate(
            &url,
            &r.params,
            r.signature.as_deref().unwrap()
        ));
    }
    let stored = sim.message(m["sid"].as_str().unwrap()).unwrap();
    assert_eq!(stored.from.as_deref(), Some(MESSAGING_SERVICE_SENDER));
    assert_eq!(stored.num_segments.as_deref(), Some("1"));
    assert_eq!(stored.status.as_deref(), Some("delivered"));
    server.shutdown().await;
    rx_task.abort();
}

#[tokio::test]
async fn failing_callback_urls_are_recorded_and_not_retried() {
    let (sim, server) = start(config()).await;
    // Bound, not listening: a connection is refused, and no other test's listener
    // can be given the port while this socket is held.
    let dead = tokio::net::TcpSocket::new_v4().unwrap();
    dead.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead_url = format!("http://{}/status", dead.local_addr().unwrap());
    // And one that answers 500.
    let (addr, got, rx_task) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let erroring_url = format!("http://{addr}/status");

    let m1 = create_ok(
        &server,
        &[
            ("To", TO),
            ("From", FROM),
            ("Body", "a"),
            ("StatusCallback", &dead_url),
        ],
    )
    .await;
    let m2 = create_ok(
        &server,
        &[
            ("To", TO),
            ("From", FROM),
            ("Body", "b"),
            ("StatusCallback", &erroring_url),
        ],
    )
    .await;
    let records = eventually("6 records", || {
        let c = sim.callbacks();
        (c.len() >= 6).then_some(c)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.callbacks().len(), 6, "no retries");
    assert_eq!(got.lock().unwrap().len(), 3, "one POST per status");

    let for_sid = |sid: &Value| {
        records
            .iter()
            .filter(|r| r.message_sid == sid.as_str().unwrap())
            .cloned()
            .collect::<Vec<_>>()
    };
    let dead_records = for_sid(&m1["sid"]);
    assert_eq!(dead_records.len(), 3);
    for r in &dead_records {
        assert_eq!(r.url, dead_url);
        assert_eq!(r.http_status, None);
        assert!(r.error.is_some());
        assert!(!r.succeeded());
    }
    let erroring_records = for_sid(&m2["sid"]);
    assert_eq!(
        erroring_records
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered
        ]
    );
    for r in &erroring_records {
        assert_eq!(r.http_status, Some(500));
        assert_eq!(r.error.as_deref(), Some("callback answered HTTP 500"));
    }
    // The messages still reached their final status, and the simulator still works.
    for m in [&m1, &m2] {
        let sid = m["sid"].as_str().unwrap();
        eventually("delivered", || {
            (sim.message(sid)?.status.as_deref() == Some("delivered")).then_some(())
        })
        .await;
    }
    create_ok(&server, &[("To", TO), ("From", FROM), ("Body", "c")]).await;
    server.shutdown().await;
    rx_task.abort();
}

// ---------------------------------------------------------------------------------------
// Inbound webhooks, config, Debug

#[test]
fn inbound_sms_form_and_signature() {
    let sms = InboundSms {
        account_sid: ACCOUNT.into(),
        from: "+14133881111".into(),
        to: "+12028831111".into(),
        body: "Msg & more".into(),
        message_sid: Some("SMe287d7109a5a925f182f0e07fe5b223b".into()),
        media: vec![],
    };
    let sid = "SMe287d7109a5a925f182f0e07fe5b223b";
    assert_eq!(
        sms.form(),
        pairs(&[
            ("ToCountry", "US"),
            ("ToState", ""),
            ("SmsMessageSid", sid),
            ("NumMedia", "0"),
            ("ToCity", ""),
            ("FromZip", ""),
            ("SmsSid", sid),
            ("FromState", ""),
            ("SmsStatus", "received"),
            ("FromCity", ""),
            ("Body", "Msg & more"),
            ("FromCountry", "US"),
            ("To", "+12028831111"),
            ("ToZip", ""),
            ("NumSegments", "1"),
            ("MessageSid", sid),
            ("AccountSid", ACCOUNT),
            ("From", "+14133881111"),
            ("ApiVersion", "2010-04-01"),
        ])
    );
    let url = "https://gateway.example.com/telephony/webhook";
    let (body, signature) = sms.signed(TOKEN, url);
    assert!(body.contains("Body=Msg+%26+more"), "{body}");
    assert!(body.contains("To=%2B12028831111"), "{body}");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
    assert_eq!(params, sms.form());
    let validator = RequestValidator::new(TOKEN);
    assert!(validator.validate(url, &params, &signature));
    assert!(!validator.validate("https://gateway.example.com/other", &params, &signature));
    let mut tampered = params.clone();
    tampered[10].1 = "Msg".into();
    assert!(!validator.validate(url, &tampered, &signature));
}

#[test]
fn inbound_mms_and_generated_sids() {
    let sms = InboundSms::new(
        ACCOUNT,
        "whatsapp:+447911123456",
        "whatsapp:+15550002222",
        "",
    )
    .with_media("https://api.twilio.com/media/1", "image/jpeg")
    .with_media("https://api.twilio.com/media/2", "image/png");
    let form = sms.form();
    assert_eq!(param(&form, "NumMedia"), Some("2"));
    assert_eq!(
        param(&form, "MediaUrl0"),
        Some("https://api.twilio.com/media/1")
    );
    assert_eq!(param(&form, "MediaContentType0"), Some("image/jpeg"));
    assert_eq!(
        param(&form, "MediaUrl1"),
        Some("https://api.twilio.com/media/2")
    );
    assert_eq!(param(&form, "MediaContentType1"), Some("image/png"));
    assert_eq!(param(&form, "FromCountry"), Some("GB"));
    assert_eq!(param(&form, "From"), Some("whatsapp:+447911123456"));
    // `new` fixes the SID, so the form is stable.
    assert_eq!(sms.form(), form);
    let (body, signature) = sms.signed(TOKEN, "http://127.0.0.1:3335/telephony/webhook");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
    assert!(RequestValidator::new(TOKEN).validate(
        "http://127.0.0.1:3335/telephony/webhook",
        &params,
        &signature
    ));

    let anonymous = InboundSms {
        message_sid: None,
        ..sms
    };
    let sid = param(&anonymous.form(), "MessageSid").unwrap().to_string();
    assert!(sid.starts_with("SM") && sid.len() == 34);
    let a = new_message_sid();
    let b = new_message_sid();
    assert_ne!(a, b);
    for s in [a, b] {
        assert!(s.starts_with("SM") && s.len() == 34);
        assert!(s[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    }
}

#[test]
fn generated_config_and_debug_without_secrets() {
    let c = SimulatorConfig::generate();
    assert!(c.account_sid.starts_with("AC") && c.account_sid.len() == 34);
    assert!(c.account_sid[2..].chars().all(|ch| ch.is_ascii_hexdigit()));
    let token = c.auth_token.expose().to_string();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|ch| ch.is_ascii_hexdigit()));
    assert_ne!(SimulatorConfig::generate().account_sid, c.account_sid);
    assert_eq!(c.callback_delay, Duration::from_millis(50));
    assert_eq!(c.final_status, DeliveryStatus::Delivered);

    let c = c.with_api_key("SK0123456789abcdef0123456789abcdef", "key-secret-value");
    let sim = Simulator::new(c.clone());
    for dbg in [
        format!("{c:?}"),
        format!("{sim:?}"),
        format!("{:?}", sim.config()),
    ] {
        assert!(!dbg.contains(&token), "{dbg}");
        assert!(!dbg.contains("key-secret-value"), "{dbg}");
    }
    assert!(format!("{sim:?}").contains(&c.account_sid));
}

// ---------------------------------------------------------------------------------------
// Through the crate's own REST client

#[tokio::test]
async fn twilio_client_against_the_simulator() {
    use telephony_core::ProviderError;
    use telephony_twilio::client::CreateMessage;
    use telephony_twilio::{TwilioClient, TwilioConfig};

    let config = config().with_api_key("SK0123456789abcdef0123456789abcdef", "key-secret");
    let (sim, server) = start(config).await;
    let (addr, got, rx_task) = receiver(StatusCode::OK).await;
    let callback = format!("http://{addr}/status");
    let mut client_config = TwilioConfig::new(ACCOUNT, TOKEN).api_base_url(server.url());
    client_config.max_attempts = 2;
    client_config.max_backoff = Duration::from_secs(2);
    let client = TwilioClient::new(client_config.clone()).unwrap();

    // A 429 with Retry-After: 1 comes back at once (one request, whatever max_attempts
    // says: the caller owns retries of sends); the caller's next try succeeds.
    sim.inject(Injection::rate_limited(1));
    let create = CreateMessage {
        to: TO.into(),
        from: Some(FROM.into()),
        body: Some("through the client".into()),
        media_urls: vec!["https://example.com/a.jpg".into()],
        status_callback: Some(callback.clone()),
        ..Default::default()
    };
    let err = client.create_message(&create).await.unwrap_err();
    assert_eq!(
        (err.http_status(), err.code(), err.retry_after()),
        (Some(429), Some(20429), Some(Duration::from_secs(1)))
    );
    assert_eq!(sim.create_requests().len(), 1);
    let m = client.create_message(&create).await.unwrap();
    let statuses: Vec<u16> = sim
        .create_requests()
        .iter()
        .map(|r| r.http_status)
        .collect();
    assert_eq!(statuses, [429, 201]);
    assert!(m.sid.starts_with("MM"));
    assert_eq!(m.status.as_deref(), Some("queued"));
    assert_eq!(m.num_media.as_deref(), Some("1"));
    assert_eq!(sim.messages().len(), 1);

    // Callbacks reach the receiver, signed.
    let received = eventually("3 callbacks", || {
        let g = got.lock().unwrap();
        (g.len() >= 3).then(|| g.clone())
    })
    .await;
    for r in &received {
        assert!(RequestValidator::new(TOKEN).validate(
            &callback,
            &r.params,
            r.signature.as_deref().unwrap()
        ));
    }
    eventually("delivered", || {
        (sim.message(&m.sid)?.status.as_deref() == Some("delivered")).then_some(())
    })
    .await;
    let fetched = client.fetch_message(&m.sid).await.unwrap();
    assert_eq!(fetched.status.as_deref(), Some("delivered"));
    let page = client.list_messages(Some(TO), None, 10).await.unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].sid, m.sid);

    // Permanent errors come back typed.
    let err = client
        .create_message(&CreateMessage {
            to: "+15005550004".into(),
            from: Some(FROM.into()),
            body: Some("x".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    match err {
        ProviderError::Api {
            status,
            code,
            message,
            more_info,
            ..
        } => {
            assert_eq!((status, code), (400, Some(21610)));
            assert_eq!(message, "Attempt to send to unsubscribed recipient");
            assert_eq!(
                more_info.as_deref(),
                Some("https://www.twilio.com/docs/errors/21610")
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    // API-key credentials work for the account probe, and the token is never there.
    let key_client = TwilioClient::new(
        client_config.api_key("SK0123456789abcdef0123456789abcdef", "key-secret"),
    )
    .unwrap();
    let account = key_client.fetch_account().await.unwrap();
    assert_eq!(account["sid"], ACCOUNT);
    assert!(account.get("auth_token").is_none());
    let bad =
        TwilioClient::new(TwilioConfig::new(ACCOUNT, "wrong").api_base_url(server.url())).unwrap();
    match bad.fetch_account().await.unwrap_err() {
        ProviderError::Api { status, code, .. } => assert_eq!((status, code), (401, Some(20003))),
        other => panic!("unexpected {other:?}"),
    }
    server.shutdown().await;
    rx_task.abort();
}

// ---------------------------------------------------------------------------------------
// TwilioProvider::send: one HTTP attempt per call (the gateway's outbox owns retries)

#[tokio::test]
async fn provider_send_makes_exactly_one_request_whatever_max_attempts_says() {
    use telephony_core::{OutboundMessage, Provider, SendOptions};
    use telephony_twilio::{TwilioConfig, TwilioProvider};

    let (sim, server) = start(frozen_config()).await;
    let mut twilio_config = TwilioConfig::new(ACCOUNT, TOKEN)
        .api_base_url(server.url())
        .from_number(FROM.parse().unwrap());
    // Generous read retries must not turn into send retries.
    twilio_config.max_attempts = 10;
    twilio_config.max_backoff = Duration::from_secs(3600);
    let twilio = TwilioProvider::new(twilio_config).unwrap();
    let msg = OutboundMessage::new(TO.parse().unwrap(), "once");
    let opts = SendOptions::default();

    // 429 with Retry-After: 30 → one request, no sleep, the wait handed to the caller.
    sim.inject(Injection::rate_limited(30));
    let started = std::time::Instant::now();
    let err = twilio.send(&msg, &opts).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "slept inside send"
    );
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(sim.create_requests().len(), 1);

    // 500 three times → one request per send call.
    sim.inject(Injection::error(500, 20500, "Internal Server Error").times(3));
    for n in 2..=4 {
        let err = twilio.send(&msg, &opts).await.unwrap_err();
        assert_eq!(err.http_status(), Some(500));
        assert!(err.is_retryable());
        assert_eq!(sim.create_requests().len(), n);
    }

    // 400 (21211) → one request, permanent.
    let bad = OutboundMessage::new("+15005550001".parse().unwrap(), "once");
    let err = twilio.send(&bad, &opts).await.unwrap_err();
    assert_eq!((err.http_status(), err.code()), (Some(400), Some(21211)));
    assert!(!err.is_retryable());

    // Then success, one request.
    let receipt = twilio.send(&msg, &opts).await.unwrap();
    let statuses: Vec<u16> = sim
        .create_requests()
        .iter()
        .map(|r| r.http_status)
        .collect();
    assert_eq!(statuses, [429, 500, 500, 500, 400, 201]);
    assert_eq!(sim.messages().len(), 1);
    assert_eq!(sim.messages()[0].sid, receipt.sid);
    server.shutdown().await;
}
