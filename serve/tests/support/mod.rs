//! Helpers shared by the signature tests: a gateway on a loopback port, byte-exact POSTs,
//! and a Twilio-shaped inbound SMS. Each test binary uses a part of them.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use telephony_core::store::prelude::*;
use telephony_core::{InboxQuery, MemoryStore};
use telephony_serve::{Gateway, GatewayBuilder};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::InboundSms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TOKEN: &str = "12345678901234567890123456789012";
pub const ACCOUNT: &str = "AC00000000000000000000000000000001";
pub const FORM: &str = "application/x-www-form-urlencoded";

pub fn builder(token: &str, store: Arc<MemoryStore>) -> GatewayBuilder {
    let cfg = TwilioConfig::new(ACCOUNT, token).from_number("+15550001234".parse().unwrap());
    Gateway::builder(Arc::new(TwilioProvider::new(cfg).unwrap()), store)
}

/// Serves the gateway's public router on 127.0.0.1:0 until the test's runtime ends.
pub async fn serve(gw: &Gateway) -> SocketAddr {
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
pub async fn raw_post(
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

pub async fn inbox_len(store: &MemoryStore) -> usize {
    store.inbox(&InboxQuery::default()).await.unwrap().len()
}

pub fn sms(sid: &str, body: &str) -> InboundSms {
    InboundSms {
        account_sid: ACCOUNT.into(),
        from: "+15557654321".into(),
        to: "+15550001234".into(),
        body: body.into(),
        message_sid: Some(sid.into()),
        media: vec![],
    }
}
