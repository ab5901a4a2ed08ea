//! What several test modules use: the Twilio account and a gateway builder around it, a
//! gateway on a loopback port, byte-exact POSTs, requests through
//! `tower::ServiceExt::oneshot`, a Twilio-shaped inbound SMS, and log capture ([`logs`]).

pub(crate) mod logs;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use telephony_core::store::prelude::*;
use telephony_core::{InboxQuery, MemoryStore};
use telephony_serve::{Gateway, GatewayBuilder};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::InboundSms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

pub(crate) const TOKEN: &str = "12345678901234567890123456789012";
pub(crate) const ACCOUNT: &str = "AC00000000000000000000000000000001";
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";
/// The gateway's own number.
pub(crate) const OURS: &str = "+15550001234";
/// Twilio's acknowledgement of a webhook.
pub(crate) const EMPTY_TWIML: &str =
    r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// A gateway on the Twilio provider with `token`, sending from `+15550001234`.
pub(crate) fn builder(token: &str, store: Arc<MemoryStore>) -> GatewayBuilder {
    let cfg = TwilioConfig::new(ACCOUNT, token).from_number(OURS.parse().unwrap());
    Gateway::builder(Arc::new(TwilioProvider::new(cfg).unwrap()), store)
}

/// Serves the gateway's public router on 127.0.0.1:0 until the test's runtime ends.
pub(crate) async fn serve(gw: &Gateway) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = gw
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// One HTTP/1.1 POST written byte for byte (the request target is sent exactly as
/// given, unlike an HTTP client that would re-encode it): (status, body).
pub(crate) async fn raw_post(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = Vec::new();
    write!(
        req,
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    )
    .unwrap();
    for (name, value) in headers {
        write!(req, "{name}: {value}\r\n").unwrap();
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    stream.write_all(&req).await.unwrap();
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8(resp).unwrap();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub(crate) async fn inbox_len(store: &MemoryStore) -> usize {
    store.inbox(&InboxQuery::default()).await.unwrap().len()
}

pub(crate) fn sms(sid: &str, body: &str) -> InboundSms {
    InboundSms {
        account_sid: ACCOUNT.into(),
        from: "+15557654321".into(),
        to: "+15550001234".into(),
        body: body.into(),
        message_sid: Some(sid.into()),
        media: vec![],
    }
}

/// A POST to `path` with a content type and, when given, an `X-Twilio-Signature`.
pub(crate) fn post(
    path: &str,
    content_type: &str,
    sig: Option<&str>,
    body: String,
) -> Request<Body> {
    let mut b = Request::post(path).header("content-type", content_type);
    if let Some(s) = sig {
        b = b.header("x-twilio-signature", s);
    }
    b.body(Body::from(body)).unwrap()
}

/// A response read whole.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// A header's value, or `""` when absent.
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// Sends one request through `router` with `tower::ServiceExt::oneshot`.
pub(crate) async fn oneshot(router: axum::Router, req: Request<Body>) -> Reply {
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}
