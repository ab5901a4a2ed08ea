//! The REST client against Twilio's OpenAPI subset (`testdata/api_v2010_subset.json`) and
//! against a tiny local HTTP server that plays Twilio: auth, form encoding, error
//! decoding, retries and the no-double-send rule.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;
use telephony_core::{
    DeliveryStatus, OutboundMessage, Provider, ProviderError, SendOptions, error_chain,
};
use telephony_twilio::client::CreateMessage;
use telephony_twilio::resources::{MessagePage, MessageResource};
use telephony_twilio::webhook::parse_message_status;
use telephony_twilio::{TwilioClient, TwilioConfig, TwilioProvider};

const SPEC: &str = include_str!("../../testdata/api_v2010_subset.json");
const CREATE_OP: &str = "POST /2010-04-01/Accounts/{AccountSid}/Messages.json";
const LIST_OP: &str = "GET /2010-04-01/Accounts/{AccountSid}/Messages.json";

const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const AUTH_TOKEN: &str = "auth-token-SECRET-0123456789";

/// The oai example `create` response (PROTOCOL §3.1).
const SAMPLE_201: &str = r#"{"account_sid":"ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","api_version":"2010-04-01","body":"Hello! 👍","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","date_sent":"Thu, 24 Aug 2023 05:01:45 +0000","date_updated":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,"from":"+14155552345","num_media":"0","num_segments":"1","price":null,"price_unit":null,"messaging_service_sid":"MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","sid":"SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"queued","subresource_uris":{"media":"/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Media.json"},"to":"+14155552345","uri":"/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"}"#;

const ERROR_21211: &str = r#"{"code":21211,"message":"The 'To' number 5551234567 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;

// ---------------------------------------------------------------------------------------
// Schema checks
// ---------------------------------------------------------------------------------------

fn spec() -> Value {
    serde_json::from_str(SPEC).expect("spec subset parses")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

/// A request that uses every field `to_form` knows.
fn full_create() -> CreateMessage {
    CreateMessage {
        to: "+15550005678".into(),
        from: Some("+15550001234".into()),
        messaging_service_sid: Some("MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".into()),
        body: Some("Hello".into()),
        media_urls: vec![
            "https://example.com/a.jpg".into(),
            "https://example.com/b.png".into(),
        ],
        status_callback: Some("https://gw.example.com/telephony/status".into()),
    }
}

#[test]
fn every_form_key_is_a_create_message_property() {
    let spec = spec();
    let form = &spec["operations"][CREATE_OP]["form"];
    let properties = keys(&form["properties"]);
    let sent: BTreeSet<String> = full_create()
        .to_form()
        .into_iter()
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(
        sent,
        [
            "To",
            "From",
            "MessagingServiceSid",
            "Body",
            "MediaUrl",
            "StatusCallback"
        ]
        .map(String::from)
        .into(),
        "to_form produced an unexpected key set"
    );
    let unknown: Vec<_> = sent.difference(&properties).collect();
    assert!(unknown.is_empty(), "not in the spec: {unknown:?}");
    for required in form["required"].as_array().unwrap() {
        let required = required.as_str().unwrap();
        // Even a minimal request carries every required key.
        let minimal = CreateMessage {
            to: "+1555".into(),
            from: Some("+1".into()),
            body: Some("x".into()),
            ..Default::default()
        };
        assert!(
            minimal.to_form().iter().any(|(k, _)| *k == required),
            "required key {required} missing"
        );
    }
    // MediaUrl is a list in the spec: sent as repeated keys.
    assert_eq!(form["properties"]["MediaUrl"]["type"], "array");
    let media: Vec<_> = full_create()
        .to_form()
        .into_iter()
        .filter(|(k, _)| *k == "MediaUrl")
        .collect();
    assert_eq!(media.len(), 2);
}

/// A Message resource with every field set.
fn full_resource() -> MessageResource {
    let mut r: MessageResource = serde_json::from_str(SAMPLE_201).unwrap();
    r.error_code = Some(30006);
    r.error_message = Some("Landline or unreachable carrier".into());
    r.price = Some("-0.00790".into());
    r.price_unit = Some("USD".into());
    r
}

#[test]
fn message_resource_has_exactly_the_schema_properties() {
    let spec = spec();
    let schema = &spec["schemas"]["api.v2010.account.message"]["properties"];
    let want = keys(schema);
    for resource in [
        full_resource(),
        serde_json::from_str(r#"{"sid":"SM1"}"#).unwrap(),
    ] {
        let json = serde_json::to_value(&resource).unwrap();
        assert_eq!(keys(&json), want, "serialized MessageResource keys");
    }
    // And the values have the schema's types.
    let json = serde_json::to_value(full_resource()).unwrap();
    for (name, prop) in schema.as_object().unwrap() {
        let value = &json[name];
        let ty = prop.get("type").and_then(Value::as_str).unwrap_or("string"); // `$ref`s here are string enums
        let ok = match ty {
            "string" => value.is_string(),
            "integer" => value.is_i64(),
            "object" => value.is_object(),
            other => panic!("unhandled schema type {other}"),
        };
        assert!(ok, "{name} should be a {ty}, is {value}");
    }
}

#[test]
fn message_page_has_exactly_the_list_response_properties() {
    let spec = spec();
    let want = keys(&spec["operations"][LIST_OP]["responses"]["200"]["properties"]);
    let page = MessagePage {
        messages: vec![full_resource()],
        page: 0,
        page_size: 50,
        uri: "/u".into(),
        first_page_uri: "/f".into(),
        next_page_uri: None,
        previous_page_uri: None,
        start: 0,
        end: 0,
    };
    assert_eq!(keys(&serde_json::to_value(&page).unwrap()), want);
}

#[test]
fn every_schema_status_is_understood() {
    let spec = spec();
    for status in spec["schemas"]["message_enum_status"]["enum"]
        .as_array()
        .unwrap()
    {
        let status = status.as_str().unwrap();
        let parsed = parse_message_status(status).unwrap_or_else(|| panic!("{status}"));
        assert_eq!(parsed.as_str(), status);
    }
}

#[test]
fn sample_create_response_decodes() {
    let r: MessageResource = serde_json::from_str(SAMPLE_201).unwrap();
    assert_eq!(r.sid, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(r.status.as_deref(), Some("queued"));
    assert_eq!(r.num_segments.as_deref(), Some("1"));
    assert_eq!(r.body.as_deref(), Some("Hello! 👍"));
}

// ---------------------------------------------------------------------------------------
// A tiny Twilio stand-in
// ---------------------------------------------------------------------------------------

/// What the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).expect("form body")
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

/// One scripted answer.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct AppState {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
}

struct Server {
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let index = {
        let mut seen = state.seen.lock().unwrap();
        seen.push(Seen {
            method,
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers,
            body,
        });
        seen.len() - 1
    };
    let reply = (state.script)(index);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut headers = HeaderMap::new();
    for (k, v) in reply.headers {
        headers.insert(k, v.parse().unwrap());
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        headers,
        reply.body,
    )
        .into_response()
}

async fn serve(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, script)
}

fn serve_on(
    listener: tokio::net::TcpListener,
    script: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> Server {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        seen: seen.clone(),
        script: Arc::new(script),
    };
    let app = axum::Router::new().fallback(handle).with_state(state);
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        base_url: format!("http://{addr}"),
        seen,
    }
}

fn config(base_url: &str) -> TwilioConfig {
    let mut c = TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN).api_base_url(base_url);
    c.max_attempts = 3;
    c.max_backoff = Duration::from_millis(20);
    c.request_timeout = Duration::from_secs(5);
    c
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn simple_message() -> CreateMessage {
    CreateMessage {
        to: "+15550005678".into(),
        from: Some("+15550001234".into()),
        body: Some("Hello".into()),
        ..Default::default()
    }
}

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages.json";

// ---------------------------------------------------------------------------------------
// Client behaviour
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_sends_form_with_auth_token_credentials() {
    let server = serve(|_| Reply::json(201, SAMPLE_201)).await;
    let client = TwilioClient::new(config(&server.base_url)).unwrap();
    let req = CreateMessage {
        media_urls: vec![
            "https://example.com/a.jpg".into(),
            "https://example.com/b.png?x=1&y=2".into(),
        ],
        status_callback: Some("https://gw.example.com/telephony/status".into()),
        ..simple_message()
    };
    let message = client.create_message(&req).await.unwrap();
    assert_eq!(message, serde_json::from_str(SAMPLE_201).unwrap());

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, MESSAGES_PATH);
    assert_eq!(r.query, None);
    assert_eq!(r.header("authorization"), basic(ACCOUNT_SID, AUTH_TOKEN));
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(r.header("accept"), "application/json");
    assert_eq!(
        r.header("user-agent"),
        format!("telephony-gateway/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        r.form(),
        vec![
            ("To".to_string(), "+15550005678".to_string()),
            ("From".into(), "+15550001234".into()),
            ("Body".into(), "Hello".into()),
            ("MediaUrl".into(), "https://example.com/a.jpg".into()),
            (
                "MediaUrl".into(),
                "https://example.com/b.png?x=1&y=2".into()
            ),
            (
                "StatusCallback".into(),
                "https://gw.example.com/telephony/status".into()
            ),
        ]
    );
    // Every key that went over the wire is in the spec.
    let spec = spec();
    let properties = keys(&spec["operations"][CREATE_OP]["form"]["properties"]);
    for (k, _) in r.form() {
        assert!(
            properties.contains(&k),
            "{k} is not a CreateMessage property"
        );
    }
}

#[tokio::test]
async fn api_key_credentials_keep_the_account_sid_in_the_path() {
    let server = serve(|_| Reply::json(201, SAMPLE_201)).await;
    let key_sid = "SKcccccccccccccccccccccccccccccccc";
    let client =
        TwilioClient::new(config(&server.base_url).api_key(key_sid, "api-key-SECRET-secret"))
            .unwrap();
    client.create_message(&simple_message()).await.unwrap();
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, MESSAGES_PATH);
    assert_eq!(
        seen[0].header("authorization"),
        basic(key_sid, "api-key-SECRET-secret")
    );
}

#[tokio::test]
async fn a_create_is_one_attempt_whatever_max_attempts_says() {
    // 429 with Retry-After, 503 and a refused connection: one request each, no sleep; the
    // error carries what the caller (the outbox) needs to retry.
    let server = serve(|_| {
        let mut r = Reply::json(
            429,
            r#"{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}"#,
        );
        r.headers.push(("retry-after", "3600".into()));
        r
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.max_attempts = 10;
    cfg.max_backoff = Duration::from_secs(3600);
    let client = TwilioClient::new(cfg.clone()).unwrap();
    let started = Instant::now();
    let err = client.create_message(&simple_message()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_retryable());
    assert_eq!(err.code(), Some(20429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(server.requests().len(), 1);

    let server = serve(|_| Reply::json(503, "{}")).await;
    let client = TwilioClient::new(config(&server.base_url)).unwrap();
    let err = client.create_message(&simple_message()).await.unwrap_err();
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn too_many_requests_on_a_read_honours_retry_after_then_succeeds() {
    let server = serve(|i| {
        if i == 0 {
            let mut r = Reply::json(
                429,
                r#"{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}"#,
            );
            r.headers.push(("retry-after", "1".into()));
            r
        } else {
            Reply::json(200, SAMPLE_201)
        }
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.max_backoff = Duration::from_secs(2);
    let client = TwilioClient::new(cfg).unwrap();
    let started = Instant::now();
    let message = client
        .fetch_message("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(message.sid, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].path, seen[1].path,
        "the retry reads the same resource"
    );
    assert!(elapsed >= Duration::from_secs(1), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "waited {elapsed:?}");
}

#[tokio::test]
async fn retry_after_is_capped_by_max_backoff() {
    let server = serve(|i| {
        if i == 0 {
            let mut r = Reply::json(
                503,
                r#"{"code":20503,"message":"Service Unavailable","status":503}"#,
            );
            r.headers.push(("retry-after", "3600".into()));
            r
        } else {
            Reply::json(200, SAMPLE_201)
        }
    })
    .await;
    let client = TwilioClient::new(config(&server.base_url)).unwrap();
    let started = Instant::now();
    client
        .fetch_message("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn invalid_to_is_an_api_error_and_not_retried() {
    let server = serve(|_| Reply::json(400, ERROR_21211)).await;
    let client = TwilioClient::new(config(&server.base_url)).unwrap();
    let err = client.create_message(&simple_message()).await.unwrap_err();
    match &err {
        ProviderError::Api {
            provider,
            status,
            code,
            message,
            more_info,
            retry_after,
            ..
        } => {
            assert_eq!(*provider, "twilio");
            assert_eq!(*status, 400);
            assert_eq!(*code, Some(21211));
            assert_eq!(
                message,
                "The 'To' number 5551234567 is not a valid phone number."
            );
            assert_eq!(
                more_info.as_deref(),
                Some("https://www.twilio.com/docs/errors/21211")
            );
            assert_eq!(*retry_after, None);
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_on_reads_are_retried_up_to_max_attempts() {
    let server = serve(|_| {
        Reply::json(
            500,
            r#"{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":500}"#,
        )
    })
    .await;
    let client = TwilioClient::new(config(&server.base_url)).unwrap();
    let err = client
        .fetch_message("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Api {
                status: 500,
                code: Some(20500),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
    // A create is never retried by the client.
    client.create_message(&simple_message()).await.unwrap_err();
    assert_eq!(server.requests().len(), 4);

    // max_attempts = 1 means no retry at all.
    let server = serve(|_| Reply::json(503, "{}")).await;
    let mut cfg = config(&server.base_url);
    cfg.max_attempts = 1;
    let client = TwilioClient::new(cfg).unwrap();
    client.list_messages(None, None, 20).await.unwrap_err();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn non_json_error_body_is_quoted_briefly() {
    let page = format!(
        "<html><body><h1>502 Bad Gateway</h1>{}</body></html>",
        "z".repeat(1000)
    );
    let server = serve(move |_| Reply {
        status: 502,
        headers: vec![("content-type", "text/html".into())],
        body: page.clone(),
        delay: Duration::ZERO,
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.max_attempts = 1;
    let client = TwilioClient::new(cfg).unwrap();
    let err = client.create_message(&simple_message()).await.unwrap_err();
    match &err {
        ProviderError::Api {
            status,
            code,
            message,
            more_info,
            ..
        } => {
            assert_eq!((*status, *code, more_info.as_deref()), (502, None, None));
            assert!(message.contains("502"), "{message}");
            assert!(message.contains("<h1>502 Bad Gateway</h1>"), "{message}");
            let excerpt = message.split_once(": ").unwrap().1;
            assert!(
                excerpt.chars().count() <= 200,
                "{} chars",
                excerpt.chars().count()
            );
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn undecodable_success_is_a_protocol_error() {
    let server = serve(|_| Reply::json(201, r#"{"status":"queued"}"#)).await;
    let client = TwilioClient::new(config(&server.base_url)).unwrap();
    let err = client.create_message(&simple_message()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Protocol {
                provider: "twilio",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn unreachable_api_is_a_transport_error_without_secrets() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = TwilioClient::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let err = client.create_message(&simple_message()).await.unwrap_err();
    match &err {
        ProviderError::Transport {
            provider,
            url,
            timeout,
            ..
        } => {
            assert_eq!(*provider, "twilio");
            assert_eq!(url, &format!("http://127.0.0.1:{port}{MESSAGES_PATH}"));
            assert!(!timeout);
        }
        other => panic!("expected Transport, got {other:?}"),
    }
    assert!(err.is_retryable());
    let shown = format!("{err} | {} | {err:?}", error_chain(&err));
    assert!(!shown.contains(AUTH_TOKEN), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the reqwest error is kept"
    );
}

#[tokio::test]
async fn reads_are_retried_after_a_connect_error() {
    // Nothing listens on the port at first: the first attempts are refused; the API comes
    // up shortly after.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let seen = Arc::new(Mutex::new(None));
    let slot = seen.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        *slot.lock().unwrap() = Some(serve_on(listener, |_| Reply::json(200, SAMPLE_201)));
    });
    let mut cfg = config(&format!("http://127.0.0.1:{port}"));
    cfg.max_attempts = 10;
    cfg.max_backoff = Duration::from_millis(150);
    let client = TwilioClient::new(cfg).unwrap();
    let message = client
        .fetch_message("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap();
    assert_eq!(message.sid, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    let server = seen.lock().unwrap().take().expect("the server came up");
    assert_eq!(
        server.requests().len(),
        1,
        "only the attempt that connected was sent"
    );
}

#[tokio::test]
async fn create_is_not_retried_after_a_timeout() {
    let server = serve(|_| Reply {
        delay: Duration::from_secs(2),
        ..Reply::json(201, SAMPLE_201)
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.request_timeout = Duration::from_millis(300);
    let client = TwilioClient::new(cfg).unwrap();
    let err = client.create_message(&simple_message()).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "a timed-out create must not be re-sent"
    );
}

#[tokio::test]
async fn reads_are_retried_after_a_timeout() {
    let server = serve(|_| Reply {
        delay: Duration::from_secs(2),
        ..Reply::json(200, SAMPLE_201)
    })
    .await;
    let mut cfg = config(&server.base_url);
    cfg.request_timeout = Duration::from_millis(200);
    let client = TwilioClient::new(cfg).unwrap();
    let err = client
        .fetch_message("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn invalid_messages_never_reach_the_network() {
    let server = serve(|_| Reply::json(201, SAMPLE_201)).await;
    let client = TwilioClient::new(config(&server.base_url)).unwrap();
    let too_long = CreateMessage {
        body: Some("x".repeat(1601)),
        ..simple_message()
    };
    match client.create_message(&too_long).await.unwrap_err() {
        ProviderError::InvalidMessage(m) => assert!(m.contains("1601"), "{m}"),
        other => panic!("{other:?}"),
    }
    let no_sender = CreateMessage {
        from: None,
        ..simple_message()
    };
    assert!(matches!(
        client.create_message(&no_sender).await.unwrap_err(),
        ProviderError::InvalidMessage(_)
    ));
    let too_many_media = CreateMessage {
        media_urls: vec!["https://example.com/x.jpg".into(); 11],
        ..simple_message()
    };
    assert!(matches!(
        client.create_message(&too_many_media).await.unwrap_err(),
        ProviderError::InvalidMessage(_)
    ));
    assert_eq!(server.requests().len(), 0);
}

#[tokio::test]
async fn fetch_list_and_account() {
    let page = serde_json::json!({
        "messages": [serde_json::from_str::<Value>(SAMPLE_201).unwrap()],
        "page": 0, "page_size": 20, "start": 0, "end": 0,
        "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages.json?PageSize=20&Page=0",
        "first_page_uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages.json?PageSize=20&Page=0",
        "next_page_uri": null, "previous_page_uri": null
    })
    .to_string();
    let account = serde_json::json!({
        "sid": ACCOUNT_SID, "friendly_name": "Test", "status": "active", "type": "Full",
        "auth_token": AUTH_TOKEN, "owner_account_sid": ACCOUNT_SID
    })
    .to_string();
    let server = serve(move |i| match i {
        0 => Reply::json(200, SAMPLE_201),
        1 => Reply::json(200, &page),
        _ => Reply::json(200, &account),
    })
    .await;
    let client = TwilioClient::new(config(&server.base_url)).unwrap();

    let m = client
        .fetch_message("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap();
    assert_eq!(m.sid, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    let p = client
        .list_messages(Some("+15550005678"), Some("+15550001234"), 20)
        .await
        .unwrap();
    assert_eq!(p.messages.len(), 1);
    assert_eq!(p.page_size, 20);
    let a = client.fetch_account().await.unwrap();
    assert_eq!(a["sid"], ACCOUNT_SID);
    assert_eq!(a["auth_token"], "[redacted]");
    assert!(!a.to_string().contains(AUTH_TOKEN));

    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(
        seen[0].path,
        "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"
    );
    assert_eq!(seen[1].path, MESSAGES_PATH);
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(seen[1].query.as_deref().unwrap()).unwrap();
    assert_eq!(
        query,
        vec![
            ("To".to_string(), "+15550005678".to_string()),
            ("From".into(), "+15550001234".into()),
            ("PageSize".into(), "20".into()),
        ]
    );
    // The list filters are query parameters of ListMessage in the spec.
    let spec = spec();
    let params: BTreeSet<&str> = spec["operations"][LIST_OP]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for (k, _) in &query {
        assert!(
            params.contains(k.as_str()),
            "{k} is not a ListMessage query parameter"
        );
    }
    assert_eq!(
        seen[2].path,
        "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"
    );
    for r in &seen {
        assert_eq!(r.header("authorization"), basic(ACCOUNT_SID, AUTH_TOKEN));
    }
}

// ---------------------------------------------------------------------------------------
// The provider on top of the client
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn provider_send_through_a_messaging_service() {
    let accepted = r#"{"sid":"SMdddddddddddddddddddddddddddddddd","account_sid":"ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"accepted","from":null,"to":"whatsapp:+15550005678","num_segments":"0","num_media":"0","messaging_service_sid":"MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","price":null,"price_unit":"USD"}"#;
    let server = serve(move |_| Reply::json(201, accepted)).await;
    let twilio = TwilioProvider::new(
        config(&server.base_url)
            .from_number("+15550001234".parse().unwrap())
            .messaging_service_sid("MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
    )
    .unwrap();
    let msg = OutboundMessage::new("whatsapp:+15550005678".parse().unwrap(), "Olá");
    let receipt = twilio
        .send(
            &msg,
            &SendOptions::with_status_callback("https://gw.example.com/telephony/status"),
        )
        .await
        .unwrap();
    assert_eq!(receipt.sid, "SMdddddddddddddddddddddddddddddddd");
    assert_eq!(receipt.status, DeliveryStatus::Accepted);
    assert_eq!(receipt.from, None);
    assert_eq!(receipt.num_segments, None, "\"0\" means not segmented yet");
    assert_eq!(receipt.price, None);
    assert_eq!(receipt.price_unit.as_deref(), Some("USD"));
    let seen = server.requests();
    assert_eq!(
        seen[0].form(),
        vec![
            ("To".to_string(), "whatsapp:+15550005678".to_string()),
            (
                "MessagingServiceSid".into(),
                "MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".into()
            ),
            ("Body".into(), "Olá".into()),
            (
                "StatusCallback".into(),
                "https://gw.example.com/telephony/status".into()
            ),
        ]
    );
}

#[tokio::test]
async fn provider_send_from_a_number() {
    let server = serve(|_| Reply::json(201, SAMPLE_201)).await;
    let twilio =
        TwilioProvider::new(config(&server.base_url).from_number("+15550001234".parse().unwrap()))
            .unwrap();
    let msg = OutboundMessage::new("whatsapp:+15550005678".parse().unwrap(), "")
        .with_media("https://example.com/cat.jpg");
    let receipt = twilio.send(&msg, &SendOptions::default()).await.unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Queued);
    assert_eq!(receipt.num_segments, Some(1));
    assert_eq!(receipt.from.as_deref(), Some("+14155552345"));
    assert_eq!(
        server.requests()[0].form(),
        vec![
            ("To".to_string(), "whatsapp:+15550005678".to_string()),
            ("From".into(), "whatsapp:+15550001234".into()),
            ("MediaUrl".into(), "https://example.com/cat.jpg".into()),
        ]
    );
}

#[tokio::test]
async fn provider_send_rejects_an_unknown_status() {
    let server = serve(|_| {
        Reply::json(
            201,
            r#"{"sid":"SMeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","status":"teleported"}"#,
        )
    })
    .await;
    let twilio =
        TwilioProvider::new(config(&server.base_url).from_number("+15550001234".parse().unwrap()))
            .unwrap();
    let msg = OutboundMessage::new("+15550005678".parse().unwrap(), "hi");
    let err = twilio
        .send(&msg, &SendOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("teleported"), "{err}");
}

#[tokio::test]
async fn provider_without_sender_is_not_configured() {
    let twilio = TwilioProvider::new(config("http://127.0.0.1:9")).unwrap();
    let msg = OutboundMessage::new("+15550005678".parse().unwrap(), "hi");
    match twilio
        .send(&msg, &SendOptions::default())
        .await
        .unwrap_err()
    {
        ProviderError::NotConfigured(m) => {
            assert_eq!(m, "set fromNumber or twilio.messagingServiceSid")
        }
        other => panic!("{other:?}"),
    }
}
