//! The SMS bridge's local API (seed 000), for agents written against the bridge: served on
//! the loopback admin listener, without a token, only when the operator turns it on
//! (`admin.bridgeApi`).
//!
//! | route | answers |
//! |---|---|
//! | `POST /sms/send` `{ "to"?, "body" }` | 200 `{"ok":true,"to","held","receipts":[…]}`; without `to`, the `defaultTo` recipient |
//! | `GET /sms/inbox?since=` | 200 `{"messages":[…]}`: the latest 100 inbound messages, oldest first (`since`: RFC 3339 or Unix milliseconds) |
//! | `GET /health` | 200 `{"status":"ok"}` |
//!
//! Failures answer `{"ok":false,"error":"…"}` with the admin API's status for the same
//! failure. Sends go through [`Gateway::send_message`]: the same opt-outs, daily cap,
//! first-contact approval and send log as every other send. A request from a peer that is
//! not loopback is refused (403) even if the listener was bound elsewhere by mistake.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use telephony_core::{InboxQuery, OutboundMessage};
use time::OffsetDateTime;

use crate::api::{self, AdminError};
use crate::gateway::Gateway;

/// The bridge routes; merge them into the admin router of a loopback listener.
pub(crate) fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/sms/send", post(send))
        .route("/sms/inbox", get(inbox))
        .route("/health", get(health))
        .layer(middleware::from_fn(loopback_only))
        .with_state(gateway)
}

/// How many messages `GET /sms/inbox` returns, as the bridge kept.
pub(crate) const INBOX_LIMIT: usize = 100;

async fn loopback_only(req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match peer {
        Some(ip) if ip.is_loopback() => next.run(req).await,
        _ => bridge_error(
            StatusCode::FORBIDDEN,
            "the SMS bridge API answers loopback clients only".into(),
        ),
    }
}

fn bridge_error(status: StatusCode, error: String) -> Response {
    (status, Json(json!({ "ok": false, "error": error }))).into_response()
}

fn from_admin(e: AdminError) -> Response {
    bridge_error(e.code.http_status(), e.message)
}

#[derive(Deserialize)]
struct SendBody {
    to: Option<String>,
    body: String,
}

/// `POST /sms/send` answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendAnswer {
    ok: bool,
    to: String,
    held: bool,
    receipts: Vec<api::Receipt>,
}

async fn send(State(gw): State<Gateway>, body: Bytes) -> Response {
    let req: SendBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bridge_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "invalid send request: {e}; expected {{\"to\": \"+15551234567\", \"body\": \"…\"}}"
                ),
            );
        }
    };
    let to = match super::admin::recipient(&gw, req.to.as_deref()) {
        Ok(t) => t,
        Err(e) => return from_admin(e),
    };
    let sent = match gw
        .send_message(OutboundMessage::new(to.clone(), req.body))
        .await
    {
        Ok(s) => s,
        Err(e) => return from_admin(AdminError::from(e)),
    };
    let mut receipts = Vec::with_capacity(sent.receipts.len());
    for r in sent.receipts {
        if sent.held {
            receipts.push(api::Receipt::from(&r));
            continue;
        }
        match gw.wait_first_attempt(&r.id, Duration::from_secs(10)).await {
            Ok(now) => receipts.push(api::Receipt::from(now.as_ref().unwrap_or(&r))),
            Err(e) => return from_admin(AdminError::from(e)),
        }
    }
    (
        StatusCode::OK,
        Json(SendAnswer {
            ok: true,
            to: to.to_string(),
            held: sent.held,
            receipts,
        }),
    )
        .into_response()
}

#[derive(Deserialize)]
struct InboxParams {
    since: Option<String>,
}

/// `since` as RFC 3339 or Unix milliseconds (what `Date.now()` gives).
fn parse_since(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = telephony_core::rfc3339::parse(s) {
        return Ok(t);
    }
    s.parse::<i64>()
        .ok()
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok())
        .ok_or_else(|| {
            format!("invalid since {s:?}: expected an RFC 3339 timestamp (2026-01-02T03:04:05Z) or Unix milliseconds")
        })
}

async fn inbox(
    State(gw): State<Gateway>,
    q: Result<Query<InboxParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => {
            return bridge_error(
                StatusCode::BAD_REQUEST,
                format!("invalid query: {}", e.body_text()),
            );
        }
    };
    let since = match q.since.as_deref().map(parse_since).transpose() {
        Ok(s) => s,
        Err(e) => return bridge_error(StatusCode::BAD_REQUEST, e),
    };
    let query = InboxQuery {
        since,
        limit: INBOX_LIMIT,
    };
    match gw.store().inbox(&query).await {
        Ok(entries) => Json(api::InboxList::from(entries.as_slice())).into_response(),
        Err(e) => from_admin(AdminError::from(e)),
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_takes_rfc3339_and_unix_milliseconds() {
        let a = parse_since("2026-01-02T03:04:05Z").unwrap();
        let b = parse_since("1767323045000").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            parse_since("yesterday").unwrap_err(),
            "invalid since \"yesterday\": expected an RFC 3339 timestamp (2026-01-02T03:04:05Z) or Unix milliseconds"
        );
    }
}
