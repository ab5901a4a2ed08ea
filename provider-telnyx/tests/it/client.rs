//! The client against a loopback server that records every request and answers with a
//! scripted response: exact requests, receipts, and one request per send in every error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use telephony_core::{DeliveryStatus, OutboundMessage, Provider, ProviderError, SendOptions};
use telephony_telnyx::{TelnyxConfig, TelnyxProvider};

const PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: serde_json::Value,
}

#[derive(Clone)]
struct Script {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

async fn answer(
    State(s): State<Script>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    s.seen.lock().unwrap().push(Recorded {
        path: uri.path().to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    });
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    for (k, v) in &s.headers {
        h.insert(*k, v.parse().unwrap());
    }
    (StatusCode::from_u16(s.status).unwrap(), h, s.body.clone())
}

/// Serves one scripted answer on 127.0.0.1; returns its base URL and the request log.
async fn server(
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: &str,
) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Script {
        status,
        headers,
        body: body.to_string(),
        seen: seen.clone(),
    };
    let app = axum::Router::new().fallback(answer).with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn provider(base: &str, profile: Option<&str>) -> TelnyxProvider {
    let mut config = TelnyxConfig::new("KEY-test-123")
        .public_key(PUBLIC_KEY)
        .from_number("+15550001234".parse().unwrap())
        .api_base_url(base)
        .request_timeout(Duration::from_secs(5));
    if let Some(p) = profile {
        config = config.messaging_profile_id(p);
    }
    TelnyxProvider::new(config).unwrap()
}

fn msg() -> OutboundMessage {
    OutboundMessage::new("+15550005678".parse().unwrap(), "Hello!")
}

const ACCEPTED: &str = r#"{"data":{"record_type":"message","direction":"outbound","id":"40385f64-5717-4562-b3fc-2c963f66afa6","type":"MMS","messaging_profile_id":"prof-1","from":{"phone_number":"+15550001234","carrier":"Telnyx","line_type":"Wireless"},"to":[{"phone_number":"+15550005678","status":"queued","carrier":"T-MOBILE USA, INC.","line_type":"Wireless"}],"text":"Hello!","media":[{"url":"https://e.example/cat.jpg"}],"webhook_url":"https://gw.example/status","encoding":"GSM-7","parts":1,"tags":[],"cost":null,"received_at":"2024-01-01T00:00:00.000+00:00","sent_at":null,"completed_at":null,"valid_until":null,"errors":[]}}"#;

#[tokio::test]
async fn the_exact_request_and_the_receipt() {
    let (base, seen) = server(200, vec![], ACCEPTED).await;
    let receipt = provider(&base, Some("prof-1"))
        .send(
            &msg().with_media("https://e.example/cat.jpg"),
            &SendOptions::with_status_callback("https://gw.example/status"),
        )
        .await
        .unwrap();
    assert_eq!(receipt.sid, "40385f64-5717-4562-b3fc-2c963f66afa6");
    assert_eq!(receipt.status, DeliveryStatus::Queued);
    assert_eq!(receipt.from.as_deref(), Some("+15550001234"));
    assert_eq!(receipt.num_segments, Some(1));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.path, "/v2/messages");
    assert_eq!(r.headers["authorization"], "Bearer KEY-test-123");
    assert_eq!(r.headers["accept"], "application/json");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.body,
        serde_json::json!({
            "from": "+15550001234",
            "to": "+15550005678",
            "text": "Hello!",
            "media_urls": ["https://e.example/cat.jpg"],
            "messaging_profile_id": "prof-1",
            "webhook_url": "https://gw.example/status",
        })
    );
}

#[tokio::test]
async fn sms_without_profile_sends_only_from_to_text() {
    let (base, seen) = server(200, vec![], ACCEPTED).await;
    provider(&base, None)
        .send(&msg(), &SendOptions::default())
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap()[0].body,
        serde_json::json!({"from": "+15550001234", "to": "+15550005678", "text": "Hello!"})
    );
}

/// Sends once and checks exactly one request reached the server.
async fn one_error(status: u16, headers: Vec<(&'static str, String)>, body: &str) -> ProviderError {
    let (base, seen) = server(status, headers, body).await;
    let err = provider(&base, None)
        .send(&msg(), &SendOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "exactly one request per send: {err}"
    );
    err
}

#[tokio::test]
async fn validation_error_keeps_the_code() {
    let err = one_error(422, vec![], r#"{"errors":[{"code":"10004","title":"Missing required parameter","detail":"The 'text' parameter is required.","source":{"pointer":"/text"}}]}"#).await;
    assert_eq!(err.http_status(), Some(422));
    assert_eq!(err.code(), Some(10004));
    assert!(!err.is_retryable() && !err.is_opted_out());
    let ProviderError::Api {
        message, more_info, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        message,
        "Missing required parameter: The 'text' parameter is required."
    );
    assert_eq!(
        more_info.as_deref(),
        Some("https://developers.telnyx.com/api/errors/10004")
    );
}

#[tokio::test]
async fn stop_block_is_opted_out() {
    let err = one_error(409, vec![], r#"{"errors":[{"code":"40300","title":"Blocked due to STOP message","detail":"Messages cannot be sent from +15550001234 to +15550005678 due to an existing block rule."}]}"#).await;
    assert!(err.is_opted_out());
    assert_eq!((err.http_status(), err.code()), (Some(409), Some(40300)));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn rate_limit_is_retryable_with_retry_after() {
    let err = one_error(429, vec![("retry-after", "7".into())], r#"{"errors":[{"code":"10011","title":"Too many requests","detail":"You have exceeded the maximum number of allowed requests."}]}"#).await;
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.code(), Some(10011));
    // An HTTP-date a minute ahead.
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(60);
    let date = at
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap();
    let err = one_error(429, vec![("retry-after", date)], "{}").await;
    let wait = err.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retryable_and_excerpted() {
    let err = one_error(
        500,
        vec![],
        r#"{"errors":[{"code":"10007","title":"Unexpected error"}]}"#,
    )
    .await;
    assert!(err.is_retryable());
    assert_eq!(err.code(), Some(10007));
    let err = one_error(
        503,
        vec![],
        "<html><body>upstream unavailable</body></html>",
    )
    .await;
    assert!(err.is_retryable());
    assert_eq!(err.code(), None);
    assert!(
        err.to_string().ends_with(
            "HTTP 503 Service Unavailable: <html><body>upstream unavailable</body></html>"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn unreadable_success_is_a_protocol_error() {
    let (base, seen) = server(200, vec![], "{\"data\":{}}").await;
    let err = provider(&base, None)
        .send(&msg(), &SendOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Protocol { .. }), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_messages_never_reach_the_network() {
    let (base, seen) = server(200, vec![], ACCEPTED).await;
    let p = provider(&base, None);
    let empty = OutboundMessage::new("+15550005678".parse().unwrap(), "");
    let err = p.send(&empty, &SendOptions::default()).await.unwrap_err();
    assert!(matches!(err, ProviderError::InvalidMessage(_)), "{err:?}");
    let mut many = msg();
    for i in 0..11 {
        many = many.with_media(format!("https://e.example/{i}.jpg"));
    }
    let err = p.send(&many, &SendOptions::default()).await.unwrap_err();
    assert!(matches!(err, ProviderError::InvalidMessage(_)), "{err:?}");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_port_is_a_transport_error() {
    // Bound, not listening: a connection is refused, and no other test's listener
    // can be given the port while this socket is held.
    let listener = tokio::net::TcpSocket::new_v4().unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let err = provider(&format!("http://{addr}"), None)
        .send(&msg(), &SendOptions::default())
        .await
        .unwrap_err();
    let ProviderError::Transport {
        provider,
        url,
        timeout,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (*provider, url.as_str(), *timeout),
        (
            "telnyx",
            format!("http://{addr}/v2/messages").as_str(),
            false
        )
    );
    assert!(err.is_retryable());
}
