//! The public listener: `POST {path}` (inbound webhooks), `POST {statusPath}` (status
//! callbacks) and `GET /health`. Nothing else is served there.
//!
//! Every webhook goes through the same steps: body limit (413), signature against the
//! URL the provider signed (403; see [`signed_url`]), then content type (415), parse
//! (400), rate limits ([`crate::rate_limit`]: a message over its sender's limit is stored
//! `throttled`, a status callback over its limit is answered 429), persist, then 200 with
//! empty TwiML. Nothing about an unsigned request is looked at beyond its size, nothing is
//! written before the signature is checked, and nothing is
//! acknowledged before it is stored.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, OriginalUri, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use telephony_core::voice::CallEvent;
use telephony_core::{SignatureCheck, StatusOutcome, WebhookEvent, WebhookRequest};
use time::OffsetDateTime;

use crate::client_ip::TrustedProxies;
use crate::gateway::Gateway;
use crate::rate_limit::{self, webhooks::Stored};
use crate::voice;

/// The header `telephony status --probe` marks its signed probe webhook with.
pub const PROBE_HEADER: &str = "x-telephony-probe";
/// The body the gateway answers a verified probe with.
pub const PROBE_ANSWER: &str = "telephony-probe-ok";

/// The public router for a gateway: its [`routes`] plus `GET /health` and a 404 fallback.
pub fn router(gateway: Gateway) -> Router {
    with_health(routes(gateway))
}

/// `GET /health` and the 404 fallback added to `routes` (one or several gateways' [`routes`]
/// merged).
pub fn with_health(routes: Router) -> Router {
    routes.route("/health", get(health)).fallback(not_found)
}

/// A gateway's own public routes: its webhook, status, stream and relay paths.
pub fn routes(gateway: Gateway) -> Router {
    let s = &gateway.inner.settings;
    let limit = s.body_limit;
    let counted = axum::middleware::from_fn_with_state(gateway.clone(), count_webhook);
    // Inside the counter, so its 429s show in telephony_webhooks_total.
    let limited = axum::middleware::from_fn_with_state(
        gateway.clone(),
        crate::limits::limit_invalid_requests,
    );
    Router::new()
        .route(
            &s.webhook_path,
            post(webhook)
                .route_layer(limited.clone())
                .route_layer(counted.clone()),
        )
        .route(
            &s.status_path,
            post(webhook).route_layer(limited).route_layer(counted),
        )
        .route(&s.stream_path, get(super::stream::stream_route))
        .route(
            &format!("{}/relay", s.stream_path),
            get(super::stream::relay_route),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(gateway)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

fn text(status: StatusCode, msg: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

/// The URL the provider signed (for providers that sign it): the public origin + the
/// original path + the raw query, byte for byte.
///
/// The origin is, in order:
///
/// 1. `publicUrl` as configured (scheme, userinfo, host and port kept exactly; its
///    `#fragment` was dropped by [`GatewayBuilder::public_url`](crate::GatewayBuilder::public_url));
/// 2. with `webhookSecurity.trustForwardingHeaders`: `{proto}://{host}`, where `host` is
///    the last `X-Forwarded-Host` entry (else `Host`) and must match
///    `webhookSecurity.allowedHosts`, and `proto` the last `X-Forwarded-Proto` entry
///    (`http` or `https`, default `https`). When `webhookSecurity.trustedProxies` is set,
///    the `X-Forwarded-*` headers are read only from a peer in it; from any other peer,
///    or when the peer is unknown (`peer` is `None`), only `Host` counts;
/// 3. on a loopback-only listener, `http://{Host}`.
///
/// Anything else is an error naming what is missing.
pub(crate) fn signed_url(
    gw: &Gateway,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    path_and_query: &str,
) -> Result<String, String> {
    let s = &gw.inner.settings;
    if let Some(base) = &s.public_url {
        return Ok(format!("{base}{path_and_query}"));
    }
    if s.trust_forwarding_headers {
        let forwarded = forwarded_headers_believed(&s.trusted_proxies, peer);
        let forwarded_host = last_entry(headers, "x-forwarded-host");
        let forwarded_proto = last_entry(headers, "x-forwarded-proto");
        if !forwarded && (forwarded_host.is_some() || forwarded_proto.is_some()) {
            tracing::warn!(
                peer = ?peer,
                "X-Forwarded-Host/X-Forwarded-Proto ignored: the peer is not in webhookSecurity.trustedProxies"
            );
        }
        let host = forwarded_host
            .filter(|_| forwarded)
            .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()));
        if let Some(host) = host {
            if host_allowed(&s.allowed_hosts, host) {
                let proto = forwarded_proto
                    .filter(|_| forwarded)
                    .filter(|p| *p == "http" || *p == "https")
                    .unwrap_or("https");
                return Ok(format!("{proto}://{host}{path_and_query}"));
            }
            return Err(format!(
                "forwarded host {host:?} is not in webhookSecurity.allowedHosts"
            ));
        }
    }
    if s.host_header_fallback {
        if let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
            return Ok(format!("http://{host}{path_and_query}"));
        }
        return Err("request has no Host header".into());
    }
    Err("the gateway has no publicUrl configured, so it cannot check webhook signatures".into())
}

/// Whether `X-Forwarded-*` headers from `peer` are believed: always when no trusted proxy
/// is configured, otherwise only from a trusted proxy (never from an unknown peer).
fn forwarded_headers_believed(proxies: &TrustedProxies, peer: Option<IpAddr>) -> bool {
    proxies.is_empty() || peer.is_some_and(|ip| proxies.trusts(ip))
}

/// The last comma-separated entry of every `name` header (the one the nearest proxy
/// wrote), trimmed; `None` when absent, empty or not text.
fn last_entry<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|e| !e.is_empty())
}

/// `host` (`name` or `name:port`) matches an `allowedHosts` entry: the names equal
/// ignoring ASCII case, and the ports equal when the entry has one (an entry without a
/// port allows any). A port must be digits; anything else never matches.
fn host_allowed(allowed: &[String], host: &str) -> bool {
    fn split(h: &str) -> Option<(&str, Option<&str>)> {
        match h.rsplit_once(':') {
            None => Some((h, None)),
            Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                Some((name, Some(port)))
            }
            Some(_) => None,
        }
    }
    let Some((name, port)) = split(host) else {
        return false;
    };
    allowed.iter().any(|entry| match split(entry) {
        Some((allowed_name, allowed_port)) => {
            allowed_name.eq_ignore_ascii_case(name) && allowed_port.is_none_or(|p| Some(p) == port)
        }
        None => false,
    })
}

async fn webhook(
    State(gw): State<Gateway>,
    OriginalUri(uri): OriginalUri,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = connect.map(|Extension(ConnectInfo(addr))| addr.ip());
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let check = if gw.inner.settings.skip_signature_verification {
        gw.metrics()
            .inc("telephony_signature_verification_skipped_total", &[]);
        SignatureCheck::DangerouslySkip
    } else {
        SignatureCheck::Verify
    };
    let url = match signed_url(&gw, &headers, peer, pq) {
        Ok(u) => u,
        Err(reason) if check == SignatureCheck::Verify => {
            tracing::warn!(path = uri.path(), %reason, "webhook refused");
            return text(StatusCode::FORBIDDEN, format!("{reason}\n"));
        }
        Err(_) => String::new(),
    };
    let signed = url.clone();
    let req = WebhookRequest {
        url,
        method,
        headers,
        body,
    };
    let event = match gw.inner.provider.handle_webhook(&req, check) {
        Ok(e) => e,
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            if status == StatusCode::BAD_REQUEST {
                // A malformed gather result on one of the gateway's call URLs: ask the
                // caller again rather than failing the call.
                if let Some(r) = voice::malformed_gather(&gw, &signed, uri.query()) {
                    tracing::warn!(path = uri.path(), reason = %e, "malformed gather result; re-prompting the caller");
                    return r;
                }
            }
            tracing::warn!(path = uri.path(), status = status.as_u16(), reason = %e, "webhook refused");
            return text(status, format!("{e}\n"));
        }
    };
    if req.headers.contains_key(PROBE_HEADER) {
        // `telephony status --probe`: signed like the provider signs, through the public
        // URL. Verified (we got here), answered, never stored.
        tracing::info!(path = uri.path(), "signed probe verified");
        return text(StatusCode::OK, format!("{PROBE_ANSWER}\n"));
    }
    let now = OffsetDateTime::now_utc();
    match event {
        WebhookEvent::Message(msg) => match rate_limit::webhooks::store_inbound(&gw, &msg).await {
            Ok(Stored::Throttled) => {
                let mut r = ack(&gw);
                r.extensions_mut().insert(Outcome("throttled"));
                return r;
            }
            Ok(Stored::Queued) => {
                tracing::info!(message_sid = %msg.provider_sid, message_id = %msg.id, chars = msg.body.chars().count(), media = msg.media.len(), "inbound message stored");
                gw.inner.inbox_wake.notify_one();
            }
            Ok(Stored::Duplicate) => {
                tracing::info!(message_sid = %msg.provider_sid, "duplicate webhook delivery acknowledged, not dispatched again");
                let mut r = ack(&gw);
                r.extensions_mut().insert(Outcome("duplicate"));
                return r;
            }
            Err(e) => {
                tracing::error!(message_sid = %msg.provider_sid, error = %telephony_core::error_chain(&e), "could not store inbound message");
                // Not acknowledged: the provider will retry.
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not store message\n".into(),
                );
            }
        },
        WebhookEvent::Status(update) => {
            match rate_limit::webhooks::refuse_status(&gw, update.account_sid.as_deref()) {
                Some(over_limit) => return over_limit,
                None => match gw.inner.store.apply_status(&update, now).await {
                    Ok(StatusOutcome::Applied(receipt)) => {
                        gw.metrics().inc(
                            "telephony_sends_total",
                            &[("status", receipt.status.as_str())],
                        );
                        tracing::info!(message_sid = %update.provider_sid, message_id = %receipt.id, status = %update.status, error_code = ?update.error_code, "status updated");
                        gw.forward_status(&receipt).await;
                        if let Some(h) = gw.inner.handler.clone() {
                            tokio::spawn(async move { h.on_status(&receipt).await });
                        }
                    }
                    Ok(StatusOutcome::Stale(receipt)) => {
                        tracing::debug!(message_sid = %update.provider_sid, status = %update.status, current = %receipt.status, "stale status ignored");
                    }
                    Ok(StatusOutcome::Unknown) => {
                        tracing::debug!(message_sid = %update.provider_sid, status = %update.status, "status for unknown message kept for later");
                    }
                    Err(e) => {
                        tracing::error!(message_sid = %update.provider_sid, error = %telephony_core::error_chain(&e), "could not store status");
                        return text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "could not store status\n".into(),
                        );
                    }
                },
            }
        }
        WebhookEvent::Other {
            event_type,
            event_id,
        } => {
            // Verified, but nothing the gateway acts on: acknowledge so the provider does
            // not retry it, and leave a trace.
            tracing::info!(provider = gw.inner.provider.name(), event_type = %event_type, event_id = ?event_id, "acknowledged an event the gateway does not use");
        }
        WebhookEvent::Call(CallEvent::Status(update)) => {
            if let Some(over_limit) =
                rate_limit::webhooks::refuse_status(&gw, update.account.as_deref())
            {
                return over_limit;
            }
            if let Err(response) = voice::call_status(&gw, update).await {
                return response;
            }
        }
        WebhookEvent::Call(event) => {
            return voice::answer_call(&gw, event, &signed, uri.query()).await;
        }
        _ => {
            return text(StatusCode::BAD_REQUEST, "unsupported webhook\n".into());
        }
    }
    ack(&gw)
}

/// The provider's acknowledgement (200, empty TwiML for Twilio).
fn ack(gw: &Gateway) -> Response {
    let ack = gw.inner.provider.webhook_ack();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, ack.content_type)],
        ack.body,
    )
        .into_response()
}

/// A webhook outcome other than its status code, for `telephony_webhooks_total` (set as a
/// response extension by the handler).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome(pub(crate) &'static str);

/// Counts every webhook by route and outcome: `accepted` for a 2xx, the handler's
/// [`Outcome`] when it set one (`duplicate`), else the status code (`403`, `413`, …).
async fn count_webhook(
    State(gw): State<Gateway>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = if req.uri().path() == gw.inner.settings.status_path {
        "status"
    } else {
        "message"
    };
    let resp = next.run(req).await;
    let code = resp.status();
    let outcome = match resp.extensions().get::<Outcome>() {
        Some(o) => o.0,
        None if code.is_success() => "accepted",
        None => code.as_str(),
    };
    gw.metrics().inc(
        "telephony_webhooks_total",
        &[("route", route), ("outcome", outcome)],
    );
    resp
}
