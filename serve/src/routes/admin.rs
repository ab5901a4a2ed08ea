//! The admin listener (loopback only, bearer token): send, inbox, receipts, status.
//!
//! | route | does |
//! |---|---|
//! | `POST /telephony/send` `{ "to", "body", "mediaUrl"? }` | queues a message → 202 with its receipt |
//! | `GET /telephony/inbox?since=RFC3339&limit=N` | inbound messages, oldest first |
//! | `GET /telephony/messages/{id}` | a receipt with its status history |
//! | `GET /telephony/status` | gateway status, forwarding health |
//! | `GET /telephony/pairing` | pending pairing requests |
//! | `POST /telephony/pairing/{code}/approve` / `…/reject` | resolve one (404 unknown, 410 expired, 409 already resolved) |
//! | `GET /telephony/contacts/held` | sends waiting for contact approval |
//! | `POST /telephony/contacts/{number}/approve` | approve a contact, release its held sends |
//! | `GET /telephony/log?since=RFC3339&limit=N` | the send log (receipts) |

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
        .route("/telephony/pairing", get(pairing_list))
        .route("/telephony/pairing/{code}/approve", post(pairing_approve))
        .route("/telephony/pairing/{code}/reject", post(pairing_reject))
        .route("/telephony/contacts/held", get(contacts_held))
        .route(
            "/telephony/contacts/{number}/approve",
            post(contact_approve),
        )
        .route("/telephony/log", get(log))
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
    let sent = match st.gateway.send_message(msg).await {
        Ok(r) => r,
        Err(e @ SendError::DailyLimit { .. }) => {
            return error(StatusCode::TOO_MANY_REQUESTS, e.to_string())
        }
        Err(e @ SendError::Store(_)) => {
            tracing::error!(error = %telephony_core::error_chain(&e), "admin send failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let wait = Duration::from_secs(q.wait.unwrap_or(10).min(60));
    let mut receipts = Vec::with_capacity(sent.receipts.len());
    for r in sent.receipts {
        if wait.is_zero() || sent.held {
            receipts.push(r);
            continue;
        }
        match st.gateway.wait_first_attempt(&r.id, wait).await {
            Ok(Some(now)) => receipts.push(now),
            Ok(None) => receipts.push(r),
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({ "receipts": receipts, "held": sent.held })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct InboxParams {
    since: Option<String>,
    limit: Option<usize>,
}

fn parse_since(since: Option<&str>) -> Result<Option<OffsetDateTime>, Box<Response>> {
    match since.map(|s| (s, OffsetDateTime::parse(s, &Rfc3339))) {
        None => Ok(None),
        Some((_, Ok(t))) => Ok(Some(t)),
        Some((s, Err(_))) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid since {s:?}: expected an RFC 3339 timestamp such as 2026-01-02T03:04:05Z"
            ),
        ))),
    }
}

async fn inbox(State(st): State<AdminState>, Query(p): Query<InboxParams>) -> Response {
    let since = match parse_since(p.since.as_deref()) {
        Ok(s) => s,
        Err(r) => return *r,
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
    let forward = match gw.store().forward_stats().await {
        Ok(f) => f,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    Json(json!({
        "status": "ok",
        "provider": gw.provider().name(),
        "inboundPolicy": gw.inner.settings.inbound_policy,
        "forwarding": gw.inner.settings.forward.as_ref().map(|f| json!({
            "url": f.url,
            "pending": forward.pending,
            "failing": forward.failing,
            "delivered": forward.delivered,
            "lastError": forward.last_error,
        })),
        "publicUrl": gw.public_url(),
        "webhookPath": gw.webhook_path(),
        "statusPath": gw.status_path(),
        "statusCallbackUrl": gw.status_callback_url(),
        "outboxPending": outbox,
    }))
    .into_response()
}

async fn pairing_list(State(st): State<AdminState>) -> Response {
    match st.gateway.pending_pairings().await {
        Ok(r) => Json(json!({ "requests": r })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn pairing_result(r: Result<crate::PairingDecision, crate::PairingError>) -> Response {
    use crate::PairingError as E;
    match r {
        Ok(d) => Json(json!(d)).into_response(),
        Err(e @ E::UnknownCode(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ E::Expired { .. }) => error(StatusCode::GONE, e.to_string()),
        Err(e @ E::AlreadyResolved { .. }) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn pairing_approve(State(st): State<AdminState>, Path(code): Path<String>) -> Response {
    pairing_result(st.gateway.approve_pairing(&code).await)
}

async fn pairing_reject(State(st): State<AdminState>, Path(code): Path<String>) -> Response {
    pairing_result(st.gateway.reject_pairing(&code).await)
}

async fn contacts_held(State(st): State<AdminState>) -> Response {
    match st.gateway.held_sends().await {
        Ok(r) => Json(json!({ "receipts": r })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn contact_approve(State(st): State<AdminState>, Path(number): Path<String>) -> Response {
    let n = match telephony_core::PhoneNumber::parse(&number) {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid number: {e}")),
    };
    match st.gateway.approve_contact(&n).await {
        Ok(ids) => Json(json!({ "contact": n, "released": ids })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn log(State(st): State<AdminState>, Query(p): Query<InboxParams>) -> Response {
    let since = match parse_since(p.since.as_deref()) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    match st
        .gateway
        .store()
        .receipts(since, p.limit.unwrap_or(100).min(10_000))
        .await
    {
        Ok(r) => Json(json!({ "receipts": r })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
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
