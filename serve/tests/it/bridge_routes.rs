//! The SMS bridge routes through `tower::ServiceExt::oneshot`: only loopback peers get an
//! answer; anything else (or a request without a peer address) is refused before the handler.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::json;
use telephony_core::MemoryStore;
use telephony_serve::Gateway;

use crate::support::{TOKEN, builder, oneshot};

fn gateway() -> Gateway {
    builder(TOKEN, Arc::new(MemoryStore::new())).build()
}

async fn health(peer: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut req = Request::get("/health").body(Body::empty()).unwrap();
    if let Some(p) = peer {
        let addr: SocketAddr = p.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    let r = oneshot(gateway().bridge_router(), req).await;
    (r.status, serde_json::from_str(&r.body).unwrap())
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
