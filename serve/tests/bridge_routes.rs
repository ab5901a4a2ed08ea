//! The SMS bridge routes through `tower::ServiceExt::oneshot`: only loopback peers get an
//! answer; anything else (or a request without a peer address) is refused before the handler.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use telephony_core::MemoryStore;
use telephony_serve::Gateway;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use tower::ServiceExt;

fn gateway() -> Gateway {
    let cfg = TwilioConfig::new(
        "AC00000000000000000000000000000001",
        "12345678901234567890123456789012",
    )
    .from_number("+15550001234".parse().unwrap());
    Gateway::builder(
        Arc::new(TwilioProvider::new(cfg).unwrap()),
        Arc::new(MemoryStore::new()),
    )
    .build()
}

async fn health(peer: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut req = Request::get("/health").body(Body::empty()).unwrap();
    if let Some(p) = peer {
        let addr: SocketAddr = p.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    let resp = gateway().bridge_router().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn only_loopback_peers_are_answered() {
    assert_eq!(
        health(Some("127.0.0.1:50000")).await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert_eq!(health(Some("[::1]:50000")).await.0, StatusCode::OK);
    let refused = (
        StatusCode::FORBIDDEN,
        json!({"ok": false, "error": "the SMS bridge API answers loopback clients only"}),
    );
    assert_eq!(health(Some("192.0.2.7:50000")).await, refused);
    assert_eq!(health(None).await, refused);
}
