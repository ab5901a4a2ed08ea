//! The public listener: `POST {path}` (inbound webhooks), `POST {statusPath}` (status
//! callbacks) and the health routes (`GET /health`, `/health/live`, `/health/ready`: see
//! [`crate::health`]). Nothing else is served there.
//!
//! Every webhook goes through the same steps: body limit (413), signature against the
//! URL the provider signed (403; see [`crate::security`]), then content type (415), parse
//! (400), rate limits ([`crate::rate_limit`]: a message over its sender's limit is stored
//! `throttled`, a status callback over its limit is answered 429), persist, then 200 with
//! empty TwiML. Nothing about an unsigned request is looked at beyond its size, nothing is
//! written before the signature is checked, and nothing is
//! acknowledged before it is stored.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use telephony_core::voice::CallEvent;
use telephony_core::{InboxState, SignatureCheck, StatusOutcome, WebhookEvent, WebhookRequest};
use time::OffsetDateTime;
use tracing::Instrument as _;

use crate::gateway::Gateway;
use crate::health::Readiness;
use crate::rate_limit::webhooks::Stored;
use crate::voice::answer;

/// The header `telephony status --probe` marks its signed probe webhook with.
pub const PROBE_HEADER: &str = "x-telephony-probe";
/// The body the gateway answers a verified probe with.
pub const PROBE_ANSWER: &str = "telephony-probe-ok";

/// The public router for a gateway: its [`routes`] plus the health routes (ready when its
/// store answers) and a 404 fallback.
pub(crate) fn router(gateway: Gateway) -> Router {
    let readiness = Readiness::new().store(None, gateway.store().clone());
    with_health(routes(gateway), readiness)
}

/// `GET /health`, `/health/live`, `/health/ready` ([`crate::health`]) and the 404 fallback
/// added to `routes` (one or several gateways' [`routes`] merged).
pub(crate) fn with_health(routes: Router, readiness: Readiness) -> Router {
    routes
        .merge(crate::health::router(readiness))
        .fallback(not_found)
}

/// A gateway's own public routes: its webhook, status, stream and relay paths.
pub(crate) fn routes(gateway: Gateway) -> Router {
    let shared = gateway.shared().clone();
    let limit = gateway.security().body_limit();
    let counted = axum::middleware::from_fn_with_state(gateway.clone(), count_webhook);
    // Inside the counter, so its 429s show in telephony_webhooks_total.
    let limited = axum::middleware::from_fn_with_state(gateway.clone(), limit_invalid_requests);
    let stream_path = shared.stream_path();
    Router::new()
        .route(
            shared.webhook_path(),
            post(webhook)
                .route_layer(limited.clone())
                .route_layer(counted.clone()),
        )
        .route(
            shared.status_path(),
            post(webhook).route_layer(limited).route_layer(counted),
        )
        .route(stream_path, get(super::stream::stream_route))
        .route(
            &format!("{stream_path}/relay"),
            get(super::stream::relay_route),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(gateway)
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
    let check = if gw.security().skips_signatures() {
        gw.metrics()
            .inc("telephony_signature_verification_skipped_total", &[]);
        SignatureCheck::DangerouslySkip
    } else {
        SignatureCheck::Verify
    };
    let url = match gw.security().signed_url(&headers, peer, pq) {
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
    let event = match gw.provider().handle_webhook(&req, check) {
        Ok(e) => e,
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            if status == StatusCode::BAD_REQUEST {
                // A malformed gather result on one of the gateway's call URLs: ask the
                // caller again rather than failing the call.
                if let Some(r) = answer::malformed_gather(&gw, &signed, uri.query()) {
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
        WebhookEvent::Message(msg) => match gw
            .security()
            .webhook_limiters()
            .store_inbound(gw.shared(), &msg, gw.dispatch().decided_at_insert(&msg))
            .instrument(crate::trace::child("store"))
            .await
        {
            Ok(Stored::Throttled) => {
                let mut r = ack(&gw);
                r.extensions_mut().insert(Outcome("throttled"));
                return r;
            }
            Ok(Stored::Queued) => {
                gw.shared().traces().link_current(msg.id.as_str());
                // Per message at debug: at info this line was a write to stderr per
                // webhook. The SQLite group commit logs a summary at info once a minute.
                tracing::debug!(message_sid = %msg.provider_sid, message_id = %msg.id, chars = msg.body.chars().count(), media = msg.media.len(), "inbound message stored");
                gw.dispatch().wake();
            }
            Ok(Stored::Decided(state)) => {
                gw.shared().traces().link_current(msg.id.as_str());
                if state == InboxState::Dropped {
                    gw.dispatch().policy().dropped_at_insert(&msg);
                }
                tracing::debug!(message_sid = %msg.provider_sid, message_id = %msg.id, state = state.as_str(), chars = msg.body.chars().count(), media = msg.media.len(), "inbound message stored");
            }
            Ok(Stored::Forwarded(state)) => {
                gw.shared().traces().link_current(msg.id.as_str());
                tracing::debug!(message_sid = %msg.provider_sid, message_id = %msg.id, state = state.as_str(), chars = msg.body.chars().count(), media = msg.media.len(), "inbound message stored with its forward event");
                gw.dispatch().forwarder().wake();
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
                return store_unavailable("could not store message\n");
            }
        },
        WebhookEvent::Status(update) => {
            // The status callback joins the trace of the send it reports on.
            let span = gw
                .shared()
                .traces()
                .follow("status", &update.provider_sid, false);
            let limiters = gw.security().webhook_limiters();
            match limiters.refuse_status(gw.metrics(), update.account_sid.as_deref()) {
                Some(over_limit) => return over_limit,
                None => match gw
                    .store()
                    .apply_status(&update, now)
                    .instrument(span.clone())
                    .await
                {
                    Ok(StatusOutcome::Applied(receipt)) => {
                        gw.metrics().inc(
                            "telephony_sends_total",
                            &[("status", receipt.status.as_str())],
                        );
                        tracing::info!(message_sid = %update.provider_sid, message_id = %receipt.id, status = %update.status, error_code = ?update.error_code, "status updated");
                        gw.dispatch().status_changed(receipt).instrument(span).await;
                    }
                    Ok(StatusOutcome::Stale(receipt)) => {
                        tracing::debug!(message_sid = %update.provider_sid, status = %update.status, current = %receipt.status, "stale status ignored");
                    }
                    Ok(StatusOutcome::Unknown) => {
                        tracing::debug!(message_sid = %update.provider_sid, status = %update.status, "status for unknown message kept for later");
                    }
                    Err(e) => {
                        tracing::error!(message_sid = %update.provider_sid, error = %telephony_core::error_chain(&e), "could not store status");
                        return store_unavailable("could not store status\n");
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
            tracing::info!(provider = gw.provider().name(), event_type = %event_type, event_id = ?event_id, "acknowledged an event the gateway does not use");
        }
        WebhookEvent::Call(CallEvent::Status(update)) => {
            let span = gw.shared().traces().follow("call", &update.call_id, false);
            let limiters = gw.security().webhook_limiters();
            if let Some(over_limit) =
                limiters.refuse_status(gw.metrics(), update.account.as_deref())
            {
                return over_limit;
            }
            if let Err(response) = answer::call_status(&gw, update).instrument(span).await {
                return response;
            }
        }
        WebhookEvent::Call(CallEvent::MachineDetection(d)) => {
            // A detection result is a status-like callback: the same per-account limit.
            let limiters = gw.security().webhook_limiters();
            if let Some(over_limit) = limiters.refuse_status(gw.metrics(), d.account.as_deref()) {
                return over_limit;
            }
            if let Err(response) = crate::voice::machine::machine_detected(&gw, d).await {
                return response;
            }
        }
        WebhookEvent::Call(CallEvent::Recording { recording, then }) => {
            return crate::voice::recording_callback::received(&gw, recording, then, &signed).await;
        }
        WebhookEvent::Call(event)
            if gw.provider().voice_control() == telephony_core::voice::VoiceControl::Commands =>
        {
            let span = gw.shared().traces().follow("call", event.call_id(), true);
            let (started, name) = (std::time::Instant::now(), event_name(&event));
            let response = crate::voice::commands::answer(&gw, event, &signed)
                .instrument(span)
                .await;
            observe_answer(&gw, name, started);
            return response;
        }
        WebhookEvent::Call(event) => {
            let span = gw.shared().traces().follow("call", event.call_id(), true);
            let (started, name) = (std::time::Instant::now(), event_name(&event));
            let response = answer::answer_call(&gw, event, &signed, uri.query())
                .instrument(span)
                .await;
            observe_answer(&gw, name, started);
            return response;
        }
        _ => {
            return text(StatusCode::BAD_REQUEST, "unsupported webhook\n".into());
        }
    }
    ack(&gw)
}

/// A call event's name, the `event` label of `telephony_voice_answer_duration_seconds`.
fn event_name(event: &CallEvent) -> &'static str {
    match event {
        CallEvent::Incoming(_) => "incoming",
        CallEvent::Progress(_) => "progress",
        CallEvent::Gather { .. } => "gather",
        CallEvent::Resume { .. } => "resume",
        _ => "other",
    }
}

/// Counts one call answer that started at `started` (decided, rendered or commanded).
fn observe_answer(gw: &Gateway, event: &'static str, started: std::time::Instant) {
    gw.metrics().observe(
        "telephony_voice_answer_duration_seconds",
        &[("provider", gw.provider().name()), ("event", event)],
        started.elapsed().as_secs_f64(),
    );
}

/// 503 with `Retry-After`: the store failed, nothing was acknowledged; the provider retries.
fn store_unavailable(msg: &str) -> Response {
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, msg.to_string());
    r.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from(crate::health::RETRY_AFTER_SECS),
    );
    r
}

/// The provider's acknowledgement (200, empty TwiML for Twilio).
fn ack(gw: &Gateway) -> Response {
    let ack = gw.provider().webhook_ack();
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
    let route = if req.uri().path() == gw.status_path() {
        "status"
    } else {
        "message"
    };
    let started = std::time::Instant::now();
    let resp = next
        .run(req)
        .instrument(crate::trace::root("webhook", route))
        .await;
    let code = resp.status();
    let outcome = match resp.extensions().get::<Outcome>() {
        Some(o) => o.0,
        None if code.is_success() => "accepted",
        None => code.as_str(),
    };
    let labels = [("route", route), ("outcome", outcome)];
    gw.metrics().inc("telephony_webhooks_total", &labels);
    gw.metrics().observe(
        "telephony_webhook_duration_seconds",
        &labels,
        started.elapsed().as_secs_f64(),
    );
    resp
}

/// The invalid-request limiter on the webhook routes ([`crate::limits`]): runs the route,
/// and when it answered 4xx counts the failure against the client, answering 429 once the
/// client is over its rate.
async fn limit_invalid_requests(
    State(gw): State<Gateway>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let security = gw.security();
    let Some(limiter) = security.invalid_requests() else {
        return next.run(req).await;
    };
    let client = match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => security
            .trusted_proxies()
            .client_ip(peer.ip(), req.headers()),
        // Served without client addresses: every client shares one budget, so a flood of
        // invalid requests is still cut (and the operator is told how to key per client).
        None => security.unknown_peer(),
    };
    let resp = next.run(req).await;
    if !resp.status().is_client_error() {
        return resp;
    }
    let status = resp.status();
    match limiter.refuse(client) {
        None => resp,
        Some(refusal) => {
            gw.metrics().inc(
                "telephony_rate_limited_total",
                &[("limiter", "invalid_requests")],
            );
            tracing::debug!(client = %client, refused_status = status.as_u16(), "invalid request over rateLimits.invalidRequests");
            refusal
        }
    }
}
