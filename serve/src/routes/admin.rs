//! The admin listener (loopback only, bearer token): send, inbox, receipts, status.
//!
//! | route | does |
//! |---|---|
//! | `POST /telephony/send` `{ "to"?, "body", "mediaUrl"? }` | queues a message (to `defaultTo` without `to`) → 202 with its receipt |
//! | `GET /telephony/inbox?since=RFC3339&limit=N` | inbound messages, oldest first |
//! | `GET /telephony/inbox/failed?limit=N` | dead-lettered inbound messages (handler failed on every attempt) with attempts and last error, oldest first |
//! | `POST /telephony/inbox/{id}/retry` | puts a dead-lettered message back in the queue, attempts reset (404 unknown id, 409 not `failed`) |
//! | `GET /telephony/messages/{id}` | a receipt with its status history |
//! | `GET /telephony/status` | gateway status, forwarding health, the live replicas (heartbeats) |
//! | `GET /telephony/pairing` | pending pairing requests |
//! | `POST /telephony/pairing/{code}/approve` / `…/reject` | resolve one (404 unknown, 410 expired, 409 already resolved) |
//! | `GET /telephony/contacts/held` | sends waiting for contact approval |
//! | `POST /telephony/contacts/{number}/approve` | approve a contact, release its held sends |
//! | `GET /telephony/log?since=RFC3339&limit=N` | the send log (receipts) |
//! | `POST /telephony/calls` `{ "to", "say" \| "twiml" \| "url", "from"?, "machineDetection"?, "waitForBeep"?, "sendDigits"?, "timeout"? }` | places a call → 201 with the call (400 bad number or TwiML, 503 voice off or every session slot taken, 502 provider failure) |
//! | `GET /telephony/calls?since=RFC3339&limit=N` | calls with status history and transcript, oldest first |
//! | `GET /telephony/calls/{id}` | one call |
//! | `POST /telephony/calls/{id}/hangup` | ends a call (one that already ended is fine) |
//! | `POST /telephony/calls/{id}/transfer` `{ "to", "timeout"?, "callerId"? }` | transfers a live call to an E.164 number or `sip:` URI → the call (400 bad target, 404 unknown call, 409 ended call, 502 provider failure) |
//! | `POST /telephony/calls/{id}/update` `{ "say" \| "twiml" \| "hangup": true }` | changes a live call now → the call (400 bad update, TwiML on Telnyx; 404; 409 ended) |
//! | `GET /telephony/recordings?call=ID&limit=N` | recordings' metadata, oldest first (404 unknown call) |
//! | `GET /telephony/calls/{id}/recordings` | one call's recordings (404 unknown call) |
//! | `GET /telephony/recordings/{id}/media` | the audio, fetched from the provider with its credentials (404 unknown recording, 502 provider failure) |
//! | `DELETE /telephony/numbers/{number}` | erases every trace of an E.164 number (messages, sends, calls, approvals, forward events); an opt-out stays, as a keyed hash → the counts (400 invalid number) |
//! | `GET /metrics` | Prometheus text format: counters, and the store's gauges read now ([`crate::metrics`]) |
//!
//! Bodies are the camelCase structs of [`crate::api`]; every failure is an
//! [`AdminError`]: `{"error":{"code":"not_found","message":"…"}}` with the code's status.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use telephony_core::store::CallQuery;
use telephony_core::voice::{CallAnswer, Digits, MachineDetection, OutboundCall, VoiceResponse};
use telephony_core::{Address, InboxQuery, InboxState, MessageId, OutboundMessage, Secret};
use time::OffsetDateTime;

use crate::api::{self, AdminError};
use crate::gateway::Gateway;

#[derive(Clone)]
struct AdminState {
    gateway: Gateway,
    token: Secret,
}

/// What every admin handler returns: a typed JSON answer or an [`AdminError`].
type AdminResult<T> = Result<Json<T>, AdminError>;

/// The admin router; every route requires `Authorization: Bearer <token>`.
pub(crate) fn router(gateway: Gateway, token: Secret) -> Router {
    let state = AdminState { gateway, token };
    Router::new()
        .route("/telephony/send", post(send))
        .route("/telephony/inbox", get(inbox))
        .route("/telephony/inbox/failed", get(inbox_failed))
        .route("/telephony/inbox/{id}/retry", post(inbox_retry))
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
        .route("/telephony/calls", post(place_call).get(calls))
        .route("/telephony/calls/{id}", get(one_call))
        .route("/telephony/calls/{id}/hangup", post(hang_up))
        .route("/telephony/calls/{id}/transfer", post(transfer_call))
        .route("/telephony/calls/{id}/update", post(update_call))
        .route("/telephony/calls/{id}/recordings", get(call_recordings))
        .route("/telephony/recordings", get(recordings))
        .route("/telephony/recordings/{id}/media", get(recording_media))
        .route("/telephony/numbers/{number}", delete(forget_number))
        .route("/metrics", get(metrics))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

async fn no_route(uri: axum::http::Uri) -> AdminError {
    AdminError::not_found(format!("no admin route {}", uri.path()))
}

/// True when `presented` is the admin token, compared in constant time
/// ([`subtle::ConstantTimeEq`]) so the token cannot be guessed byte by byte from response
/// timings. Slices of different lengths compare unequal at once: that leaks only the
/// token's length (51 bytes for generated tokens, which is no secret).
fn token_matches(presented: &str, token: &Secret) -> bool {
    bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes()))
}

async fn auth(State(st): State<AdminState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(t) if token_matches(t.trim(), &st.token) => next.run(req).await,
        Some(_) => AdminError::unauthorized("invalid admin token").into_response(),
        None => {
            AdminError::unauthorized("missing Authorization: Bearer <admin token>").into_response()
        }
    }
}

/// A query string, or a `bad_request` naming what is wrong with it.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, AdminError> {
    q.map(|Query(q)| q)
        .map_err(|e| AdminError::bad_request(format!("invalid query: {}", e.body_text())))
}

#[derive(Deserialize)]
struct SendQuery {
    /// Seconds to wait for the first provider attempt (default 10, 0 = don't wait).
    wait: Option<u64>,
}

async fn send(
    State(st): State<AdminState>,
    q: Result<Query<SendQuery>, QueryRejection>,
    body: Bytes,
) -> Result<(StatusCode, Json<api::SendResponse>), AdminError> {
    let q = query(q)?;
    // Parsed here rather than by the `Json` extractor, so every refusal has our error shape.
    let req: api::SendRequest = serde_json::from_slice(&body)
        .map_err(|e| AdminError::bad_request(format!("invalid send request: {e}")))?;
    let to = recipient(&st.gateway, req.to.as_deref())?;
    let msg = OutboundMessage {
        to,
        body: req.body,
        media_urls: req.media_url,
    };
    let sent = st.gateway.send_message(msg).await?;
    let wait = Duration::from_secs(q.wait.unwrap_or(10).min(60));
    let mut receipts = Vec::with_capacity(sent.receipts.len());
    for r in sent.receipts {
        if wait.is_zero() || sent.held {
            receipts.push(api::Receipt::from(&r));
            continue;
        }
        let now = st.gateway.wait_first_attempt(&r.id, wait).await?;
        receipts.push(api::Receipt::from(now.as_ref().unwrap_or(&r)));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(api::SendResponse {
            receipts,
            held: sent.held,
        }),
    ))
}

/// `to` as given, or the gateway's `defaultTo` when absent.
pub(crate) fn recipient(gateway: &Gateway, to: Option<&str>) -> Result<Address, AdminError> {
    match to {
        Some(t) => {
            Address::parse(t).map_err(|e| AdminError::bad_request(format!("invalid \"to\": {e}")))
        }
        None => gateway.default_to().cloned().ok_or_else(|| {
            AdminError::bad_request("\"to\" is missing and no defaultTo is configured")
        }),
    }
}

#[derive(Deserialize)]
pub(crate) struct ListParams {
    since: Option<String>,
    limit: Option<usize>,
}

impl ListParams {
    fn since(&self) -> Result<Option<OffsetDateTime>, AdminError> {
        let Some(s) = self.since.as_deref() else {
            return Ok(None);
        };
        telephony_core::rfc3339::parse(s).map(Some).map_err(|_| {
            AdminError::bad_request(format!(
                "invalid since {s:?}: expected an RFC 3339 timestamp such as 2026-01-02T03:04:05Z"
            ))
        })
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(100).min(10_000)
    }
}

async fn inbox(
    State(st): State<AdminState>,
    p: Result<Query<ListParams>, QueryRejection>,
) -> AdminResult<api::InboxList> {
    let p = query(p)?;
    let q = InboxQuery {
        since: p.since()?,
        limit: p.limit(),
    };
    let entries = st.gateway.store().inbox(&q).await?;
    Ok(Json(api::InboxList::from(entries.as_slice())))
}

async fn inbox_failed(
    State(st): State<AdminState>,
    p: Result<Query<ListParams>, QueryRejection>,
) -> AdminResult<api::FailedList> {
    let p = query(p)?;
    if p.since.is_some() {
        return Err(AdminError::bad_request(
            "since does not apply to the dead letters; use limit",
        ));
    }
    let failed = st.gateway.store().failed_inbound(p.limit()).await?;
    Ok(Json(api::FailedList::from(failed.as_slice())))
}

async fn inbox_retry(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<api::RetryResponse> {
    let message_id = MessageId::from_string(id.clone());
    let before = match st.gateway.store().requeue_inbound(&message_id).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => {
            return Err(AdminError::not_found(format!(
                "no inbound message with id {id:?}"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if before != InboxState::Failed {
        return Err(AdminError::new(
            api::ErrorCode::Conflict,
            format!(
                "inbound message {id:?} is {}, not failed: only dead-lettered messages can be retried",
                before.as_str()
            ),
        ));
    }
    tracing::info!(message_id = %message_id, "dead-lettered inbound message queued again");
    st.gateway.dispatch().wake();
    Ok(Json(api::RetryResponse {
        id: message_id,
        state: InboxState::Queued,
        previous_state: before,
    }))
}

async fn message(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<api::Receipt> {
    match st
        .gateway
        .receipt(&MessageId::from_string(id.clone()))
        .await?
    {
        Some(r) => Ok(Json(api::Receipt::from(&r))),
        None => Err(AdminError::not_found(format!("no message with id {id:?}"))),
    }
}

async fn status(State(st): State<AdminState>) -> AdminResult<api::GatewayStatus> {
    let gw = &st.gateway;
    let outbox_pending = gw.store().outbox_len().await?;
    let forward = gw.store().forward_stats().await?;
    Ok(Json(api::GatewayStatus {
        status: "ok".into(),
        provider: gw.provider().name().to_string(),
        inbound_policy: gw.dispatch().policy().policy().name().to_string(),
        forwarding: gw
            .dispatch()
            .forwarder()
            .settings()
            .map(|f| api::ForwardingStatus {
                url: f.url.clone(),
                max_batch: f.max_batch.max(1),
                pending: forward.pending,
                failing: forward.failing,
                delivered: forward.delivered,
                last_error: forward.last_error.clone(),
            }),
        public_url: gw.public_url().map(str::to_string),
        webhook_path: gw.webhook_path().to_string(),
        status_path: gw.status_path().to_string(),
        status_callback_url: gw.status_callback_url(),
        outbox_pending,
        voice: api::VoiceStatus {
            enabled: gw.voice_settings().enabled,
            max_concurrent_sessions: gw.voice_settings().max_concurrent_sessions,
            live_sessions: gw
                .live_sessions()
                .await?
                .iter()
                .map(api::Call::from)
                .collect(),
        },
        replica: gw.replica_id().to_string(),
        replicas: gw.replicas().await?,
        store: Some(store_status(gw).await),
    }))
}

/// The store's health for the status: its own account of errors and writes, and its size
/// (left out, and logged, when it cannot be read: the rest of the status still answers).
async fn store_status(gw: &Gateway) -> api::StoreStatus {
    let bytes = match gw.store().size_bytes().await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(error = %telephony_core::error_chain(&e), "status: the store's size cannot be read");
            None
        }
    };
    api::StoreStatus::new(&gw.store().health(), bytes)
}

async fn metrics(State(st): State<AdminState>) -> Result<Response, AdminError> {
    let text = st.gateway.metrics_text().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn pairing_list(State(st): State<AdminState>) -> AdminResult<api::PairingList> {
    let pending = st.gateway.pending_pairings().await?;
    Ok(Json(api::PairingList::from(pending.as_slice())))
}

async fn pairing_approve(
    State(st): State<AdminState>,
    Path(code): Path<String>,
) -> AdminResult<api::PairingDecision> {
    Ok(Json(st.gateway.approve_pairing(&code).await?))
}

async fn pairing_reject(
    State(st): State<AdminState>,
    Path(code): Path<String>,
) -> AdminResult<api::PairingDecision> {
    Ok(Json(st.gateway.reject_pairing(&code).await?))
}

async fn contacts_held(State(st): State<AdminState>) -> AdminResult<api::ReceiptList> {
    let held = st.gateway.held_sends().await?;
    Ok(Json(api::ReceiptList::from(held.as_slice())))
}

async fn contact_approve(
    State(st): State<AdminState>,
    Path(number): Path<String>,
) -> AdminResult<api::ContactApproval> {
    let contact = telephony_core::PhoneNumber::parse(&number)
        .map_err(|e| AdminError::bad_request(format!("invalid number: {e}")))?;
    let released = st.gateway.approve_contact(&contact).await?;
    Ok(Json(api::ContactApproval { contact, released }))
}

async fn log(
    State(st): State<AdminState>,
    p: Result<Query<ListParams>, QueryRejection>,
) -> AdminResult<api::ReceiptList> {
    let p = query(p)?;
    let receipts = st.gateway.store().receipts(p.since()?, p.limit()).await?;
    Ok(Json(api::ReceiptList::from(receipts.as_slice())))
}

async fn place_call(
    State(st): State<AdminState>,
    body: Bytes,
) -> Result<(StatusCode, Json<api::Call>), AdminError> {
    let req: api::CallRequest = serde_json::from_slice(&body)
        .map_err(|e| AdminError::bad_request(format!("invalid call request: {e}")))?;
    let answer = match (req.say, req.twiml, req.url) {
        (Some(text), None, None) => {
            if text.trim().is_empty() {
                return Err(AdminError::bad_request("\"say\" is empty"));
            }
            let v = st.gateway.voice_settings();
            CallAnswer::Response(VoiceResponse::new().say(v.say(&text)).hangup())
        }
        (None, Some(doc), None) => CallAnswer::Markup(doc),
        (None, None, Some(url)) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(AdminError::bad_request(format!(
                    "\"url\" {url:?} must start with https:// or http://"
                )));
            }
            CallAnswer::Url(url)
        }
        _ => {
            return Err(AdminError::bad_request(
                "give exactly one of \"say\", \"twiml\" and \"url\"",
            ));
        }
    };
    let mut call = OutboundCall::new(req.to, answer);
    if req.wait_for_beep {
        call = call.machine_detection(MachineDetection::WaitForBeep);
    } else if req.machine_detection {
        call = call.machine_detection(MachineDetection::Detect);
    }
    if let Some(digits) = req.send_digits {
        let digits = Digits::parse(&digits)
            .map_err(|e| AdminError::bad_request(format!("\"sendDigits\": {e}")))?;
        call = call.send_digits(digits);
    }
    if let Some(from) = req.from {
        call = call.from(from);
    }
    if let Some(t) = req.timeout {
        call = call.ring_timeout_secs(t);
    }
    if req.record || req.record_channels.is_some() {
        let channels = match req.record_channels.as_deref() {
            Some(c) => c
                .parse()
                .map_err(|e| AdminError::bad_request(format!("\"recordChannels\": {e}")))?,
            None => st.gateway.voice_settings().record_channels,
        };
        call = call.record(channels);
    }
    let rec = st.gateway.place_call(call).await?;
    Ok((StatusCode::CREATED, Json(api::Call::from(&rec))))
}

async fn calls(
    State(st): State<AdminState>,
    p: Result<Query<ListParams>, QueryRejection>,
) -> AdminResult<api::CallList> {
    let p = query(p)?;
    let q = CallQuery {
        since: p.since()?,
        limit: p.limit(),
    };
    let calls = st.gateway.calls(&q).await?;
    Ok(Json(api::CallList {
        calls: calls.iter().map(api::Call::from).collect(),
    }))
}

async fn one_call(State(st): State<AdminState>, Path(id): Path<String>) -> AdminResult<api::Call> {
    match st.gateway.call_record(&id).await? {
        Some(c) => Ok(Json(api::Call::from(&c))),
        None => Err(AdminError::not_found(format!("no call with id {id:?}"))),
    }
}

async fn hang_up(State(st): State<AdminState>, Path(id): Path<String>) -> AdminResult<api::Call> {
    let Some(_) = st.gateway.call_record(&id).await? else {
        return Err(AdminError::not_found(format!("no call with id {id:?}")));
    };
    st.gateway.hang_up(&id).await.map_err(|e| {
        AdminError::new(
            api::ErrorCode::ProviderFailed,
            format!("the provider did not hang up the call: {e}"),
        )
    })?;
    tracing::info!(call_sid = %id, "call hung up on request");
    match st.gateway.call_record(&id).await? {
        Some(c) => Ok(Json(api::Call::from(&c))),
        None => Err(AdminError::not_found(format!("no call with id {id:?}"))),
    }
}

/// Transfers a live call (`telephony call transfer`).
async fn transfer_call(
    State(st): State<AdminState>,
    Path(id): Path<String>,
    body: Bytes,
) -> AdminResult<api::Call> {
    let req: api::TransferRequest = serde_json::from_slice(&body)
        .map_err(|e| AdminError::bad_request(format!("invalid transfer request: {e}")))?;
    let mut dial = telephony_core::voice::Dial::new(req.to);
    if let Some(t) = req.timeout {
        dial = dial.timeout(t);
    }
    if let Some(c) = req.caller_id {
        dial = dial.caller_id(c);
    }
    let rec = st.gateway.transfer_call(&id, dial).await?;
    Ok(Json(api::Call::from(&rec)))
}

/// Changes a live call (`telephony call update`).
async fn update_call(
    State(st): State<AdminState>,
    Path(id): Path<String>,
    body: Bytes,
) -> AdminResult<api::Call> {
    use telephony_core::voice::CallUpdate;
    let req: api::UpdateRequest = serde_json::from_slice(&body)
        .map_err(|e| AdminError::bad_request(format!("invalid update request: {e}")))?;
    let update = match (req.say, req.twiml, req.hangup) {
        (Some(text), None, false) => CallUpdate::Say(st.gateway.voice_settings().say(&text)),
        (None, Some(doc), false) => CallUpdate::Twiml(doc),
        (None, None, true) => CallUpdate::Hangup,
        _ => {
            return Err(AdminError::bad_request(
                "give exactly one of \"say\", \"twiml\" and \"hangup\": true",
            ));
        }
    };
    let rec = st.gateway.update_call(&id, update).await?;
    Ok(Json(api::Call::from(&rec)))
}

#[derive(Debug, Default, serde::Deserialize)]
struct RecordingParams {
    call: Option<String>,
    limit: Option<usize>,
}

fn recordings_of(
    call: Option<&str>,
    r: Result<Vec<telephony_core::voice::CallRecording>, telephony_core::StoreError>,
) -> AdminResult<api::RecordingList> {
    match r {
        Ok(list) => Ok(Json(api::RecordingList {
            recordings: list.iter().map(api::Recording::from).collect(),
        })),
        Err(telephony_core::StoreError::NotFound { .. }) => Err(AdminError::not_found(format!(
            "no call with id {:?}",
            call.unwrap_or_default()
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn recordings(
    State(st): State<AdminState>,
    p: Result<Query<RecordingParams>, QueryRejection>,
) -> AdminResult<api::RecordingList> {
    let Query(p) = p.map_err(|e| AdminError::bad_request(e.body_text()))?;
    let call = p.call.as_deref().filter(|c| !c.is_empty());
    recordings_of(
        call,
        st.gateway.recordings(call, p.limit.unwrap_or(0)).await,
    )
}

async fn call_recordings(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<api::RecordingList> {
    recordings_of(Some(&id), st.gateway.recordings(Some(&id), 0).await)
}

/// The audio, with the provider's `Content-Type`.
async fn recording_media(
    State(st): State<AdminState>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, AdminError> {
    use axum::response::IntoResponse;
    match st.gateway.fetch_recording(&id).await {
        Ok(Some(media)) => Ok((
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, media.content_type.clone())],
            media.bytes,
        )
            .into_response()),
        Ok(None) => Err(AdminError::not_found(format!(
            "no recording with id {id:?}"
        ))),
        Err(crate::RecordingError::Store(e)) => Err(e.into()),
        Err(e) => Err(AdminError::new(
            api::ErrorCode::ProviderFailed,
            e.to_string(),
        )),
    }
}

/// Erases a number from this account's store (`telephony forget`).
async fn forget_number(
    State(st): State<AdminState>,
    Path(number): Path<String>,
) -> AdminResult<api::ForgetReport> {
    let n = telephony_core::PhoneNumber::parse(&number)
        .map_err(|e| AdminError::bad_request(format!("invalid number: {e}")))?;
    let store = st.gateway.store();
    let report = store.forget(&n).await?;
    let opted_out = store.is_opted_out(&n).await?;
    tracing::info!(number = %n.redacted(), removed = report.removed(), opted_out, "number erased on request");
    Ok(Json(api::ForgetReport::new(&n, &report, opted_out)))
}

#[cfg(test)]
mod tests {
    use super::token_matches;
    use telephony_core::Secret;

    #[test]
    fn token_comparison_is_exact() {
        let token = Secret::new("tk_abc");
        assert!(token_matches("tk_abc", &token));
        assert!(!token_matches("tk_abd", &token));
        assert!(!token_matches("tk_ab", &token));
        assert!(!token_matches("tk_abcd", &token));
        assert!(!token_matches("", &token));
        assert!(!token_matches("TK_ABC", &token));
    }
}
