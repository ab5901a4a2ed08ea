//! The admin listener (loopback only, bearer token): send, inbox, receipts, status.
//!
//! | route | does |
//! |---|---|
//! | `POST /telephony/send` `{ "to", "body", "mediaUrl"? }` | queues a message → 202 with its receipt |
//! | `GET /telephony/inbox?since=RFC3339&limit=N` | inbound messages, oldest first |
//! | `GET /telephony/messages/{id}` | a receipt with its status history |
//! | `GET /telephony/status` | gateway status |

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use telephony_core::{Address, InboxQuery, MessageId, OutboundMessage, Secret};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::gateway::{Gateway, SendError};

#[derive(Clone)]
struct AdminState {
    gateway: Gateway,
    token: Secret,
}

/// The admin router; every route requires `Authorization: Bearer <token>`.
pub fn router(gateway: Gateway, token: Secret) -> Router {
    let state = AdminState { gateway, token };
    Router::new()
        .route("/telephony/send", post(send))
        .route("/telephony/inbox", get(inbox))
        .route("/telephony/messages/{id}", get(message))
        .route("/telephony/status", get(status))
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

// Constant-time comparison so the token cannot be guessed byte by byte from timings.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(st): State<AdminState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(t) if ct_eq(t.trim().as_bytes(), st.token.expose().as_bytes()) => next.run(req).await,
        Some(_) => error(StatusCode::UNAUTHORIZED, "invalid admin token"),
        None => error(
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer <admin token>",
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SendBody {
    to: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    media_url: Vec<String>,
}

#[derive(Deserialize)]
struct SendQuery {
    /// Seconds to wait for the first provider attempt (default 10, 0 = don't wait).
    wait: Option<u64>,
}

async fn send(State(st): State<AdminState>, Query(q): Query<SendQuery>, body: Bytes) -> Response {
    let req: SendBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid send request: {e}"),
            )
        }
    };
    let to = match Address::parse(&req.to) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid \"to\": {e}")),
    };
    let msg = OutboundMessage {
        to,
        body: req.body,
        media_urls: req.media_url,
    };
    let receipt = match st.gateway.send_message(msg).await {
        Ok(r) => r,
        Err(e @ SendError::Store(_)) => {
            tracing::error!(error = %telephony_core::error_chain(&e), "admin send failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let wait = Duration::from_secs(q.wait.unwrap_or(10).min(60));
    let receipt = if wait.is_zero() {
        Some(receipt)
    } else {
        match st.gateway.wait_first_attempt(&receipt.id, wait).await {
            Ok(r) => r,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    };
    (StatusCode::ACCEPTED, Json(json!(receipt))).into_response()
}

#[derive(Deserialize)]
struct InboxParams {
    since: Option<String>,
    limit: Option<usize>,
}

async fn inbox(State(st): State<AdminState>, Query(p): Query<InboxParams>) -> Response {
    let since = match p
        .since
        .as_deref()
        .map(|s| OffsetDateTime::parse(s, &Rfc3339))
    {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => return error(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid since {:?}: expected an RFC 3339 timestamp such as 2026-01-02T03:04:05Z",
                p.since.unwrap_or_default()
            ),
        ),
    };
    let q = InboxQuery {
        since,
        limit: p.limit.unwrap_or(100).min(10_000),
    };
    match st.gateway.store().inbox(&q).await {
        Ok(entries) => Json(json!({ "messages": entries })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn message(State(st): State<AdminState>, Path(id): Path<String>) -> Response {
    match st
        .gateway
        .receipt(&MessageId::from_string(id.clone()))
        .await
    {
        Ok(Some(r)) => Json(json!(r)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no message with id {id:?}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn status(State(st): State<AdminState>) -> Response {
    let gw = &st.gateway;
    let outbox = match gw.store().outbox_len().await {
        Ok(n) => n,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    Json(json!({
        "status": "ok",
        "provider": gw.provider().name(),
        "publicUrl": gw.public_url(),
        "webhookPath": gw.webhook_path(),
        "statusPath": gw.status_path(),
        "statusCallbackUrl": gw.status_callback_url(),
        "outboxPending": outbox,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::ct_eq;

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
