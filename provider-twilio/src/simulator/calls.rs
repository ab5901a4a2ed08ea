//! The Calls resource: create, hang up, fetch, and the call's signed status callbacks.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;

use super::callbacks::send_signed;
use super::errors::ApiError;
use super::inbound::new_sid;
use super::server::{authorize, first, is_form, normalize_recipient, rfc2822};
use super::{log_url, CallCallbackRecord, CallCreateRecord, Simulator};
use crate::resources::CallResource;

/// What the simulator keeps about a call besides its resource.
#[derive(Debug, Default)]
pub(crate) struct CallMeta {
    status_callback: Option<String>,
    /// The `StatusCallbackEvent` values asked for (empty: only `completed`, like Twilio).
    events: Vec<String>,
    /// The next `SequenceNumber`.
    sequence: u32,
    answered_at: Option<OffsetDateTime>,
}

/// Calls, by SID.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    pub(crate) calls: Vec<CallResource>,
    index: HashMap<String, usize>,
    meta: HashMap<String, CallMeta>,
    pub(crate) create_requests: Vec<CallCreateRecord>,
    pub(crate) callbacks: Vec<CallCallbackRecord>,
    pub(crate) dropped_events: Vec<String>,
}

impl CallState {
    pub(crate) fn call(&self, sid: &str) -> Option<&CallResource> {
        self.index.get(sid).map(|&i| &self.calls[i])
    }

    fn call_mut(&mut self, sid: &str) -> Option<&mut CallResource> {
        let i = *self.index.get(sid)?;
        self.calls.get_mut(i)
    }
}

fn is_terminal(c: &CallResource) -> bool {
    !matches!(
        c.status.as_deref(),
        Some("queued") | Some("ringing") | Some("in-progress")
    )
}

/// `POST …/Calls.json`: every request is recorded (see [`Simulator::call_create_requests`]).
pub(crate) async fn create_call(
    State(sim): State<Simulator>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let at = OffsetDateTime::now_utc();
    let params: Option<Vec<(String, String)>> = serde_urlencoded::from_bytes(&body).ok();
    let result = create_call_answer(&sim, &account, &uri, &headers, params.as_deref());
    let http_status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(e) => e.status,
    };
    sim.lock().calls.create_requests.push(CallCreateRecord {
        at,
        params: params.unwrap_or_default(),
        http_status,
    });
    result
}

fn create_call_answer(
    sim: &Simulator,
    account: &str,
    uri: &Uri,
    headers: &HeaderMap,
    params: Option<&[(String, String)]>,
) -> Result<Response, ApiError> {
    authorize(sim, headers, account, uri.path())?;
    let params = match params {
        Some(p) if is_form(headers) => p,
        _ => {
            return Err(ApiError::bad_request(
                400,
                "Content-Type must be application/x-www-form-urlencoded",
            ))
        }
    };
    let raw_to = first(params, "To")
        .ok_or_else(|| ApiError::bad_request(21201, "No 'To' number is specified"))?;
    let from = first(params, "From")
        .ok_or_else(|| ApiError::bad_request(21213, "'From' phone number is required"))?;
    if first(params, "Url").is_none() && first(params, "Twiml").is_none() {
        // Twilio's 21205 is "Invalid URL"; a missing Url/Twiml is the generic Calls 21200.
        return Err(ApiError::bad_request(
            21200,
            "Provide Url, Twiml or ApplicationSid for the call's instructions",
        ));
    }
    let to = normalize_recipient(&raw_to).unwrap_or(raw_to);
    let events: Vec<String> = params
        .iter()
        .filter(|(k, v)| k == "StatusCallbackEvent" && !v.is_empty())
        .flat_map(|(_, v)| v.split([' ', ',']).filter(|e| !e.is_empty()))
        .map(str::to_string)
        .collect();

    let config = &sim.inner.config;
    let sid = new_sid("CA");
    let now = rfc2822(OffsetDateTime::now_utc());
    let resource = CallResource {
        sid: sid.clone(),
        account_sid: Some(config.account_sid.clone()),
        api_version: Some("2010-04-01".into()),
        date_created: Some(now.clone()),
        date_updated: Some(now),
        direction: Some("outbound-api".into()),
        from: Some(from),
        status: Some("queued".into()),
        to: Some(to),
        price_unit: Some("USD".into()),
        uri: Some(format!(
            "/2010-04-01/Accounts/{}/Calls/{sid}.json",
            config.account_sid
        )),
        ..Default::default()
    };
    let meta = CallMeta {
        status_callback: first(params, "StatusCallback"),
        events,
        ..Default::default()
    };
    tracing::info!(call_sid = %sid, status_callback = meta.status_callback.is_some(), "simulator: call created");
    {
        let mut state = sim.lock();
        let calls = &mut state.calls;
        calls.index.insert(sid.clone(), calls.calls.len());
        calls.calls.push(resource.clone());
        calls.meta.insert(sid.clone(), meta);
    }
    spawn_lifecycle(sim.clone(), sid);
    Ok((StatusCode::CREATED, Json(resource)).into_response())
}

/// `GET …/Calls/{Sid}.json`: the call in its current state (an ended call too).
pub(crate) async fn fetch_call(
    State(sim): State<Simulator>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<CallResource>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    file.strip_suffix(".json")
        .and_then(|sid| sim.lock().calls.call(sid).cloned())
        .map(Json)
        .ok_or_else(|| ApiError::not_found(uri.path()))
}

/// `POST …/Calls/{Sid}.json`: `Status=completed` ends the call (`completed` once answered,
/// `canceled` before); `Status=canceled` ends a call not answered yet. A call that has
/// already ended (or is unknown) answers 404 / 20404, as Twilio does. Other updates
/// (`Twiml`, `Url`, `TimeLimit`) are accepted and ignored.
pub(crate) async fn update_call(
    State(sim): State<Simulator>,
    Path((account, file)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CallResource>, ApiError> {
    authorize(&sim, &headers, &account, uri.path())?;
    let not_found = || ApiError::not_found(uri.path());
    let sid = file.strip_suffix(".json").ok_or_else(not_found)?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::bad_request(400, "The request body is not a valid form"))?;
    let current = sim.lock().calls.call(sid).cloned().ok_or_else(not_found)?;
    if is_terminal(&current) {
        return Err(not_found());
    }
    let answered = current.status.as_deref() == Some("in-progress");
    let final_status = match first(&params, "Status").as_deref() {
        None => return Ok(Json(current)),
        Some("completed") if answered => "completed",
        Some("completed") => "canceled",
        Some("canceled") if answered => return Ok(Json(current)),
        Some("canceled") => "canceled",
        Some(other) => {
            return Err(ApiError::bad_request(
                400,
                format!("Invalid Status {other:?}: use completed or canceled"),
            ))
        }
    };
    match end_call(&sim, sid, final_status, None) {
        Some(ended) => {
            let sim2 = sim.clone();
            let snapshot = ended.clone();
            tokio::spawn(async move { emit(&sim2, &snapshot, "completed").await });
            Ok(Json(ended))
        }
        // Ended meanwhile by the simulated callee.
        None => Err(not_found()),
    }
}

/// The simulated callee: `initiated`, ringing, answered, `callback_delay` apart; then, with
/// [`SimulatorConfig::call_duration_secs`](super::SimulatorConfig::call_duration_secs), it
/// hangs up. Stops as soon as the call has ended.
fn spawn_lifecycle(sim: Simulator, sid: String) {
    tokio::spawn(async move {
        let delay = sim.inner.config.callback_delay;
        for (event, status) in [
            ("initiated", None),
            ("ringing", Some("ringing")),
            ("answered", Some("in-progress")),
        ] {
            tokio::time::sleep(delay).await;
            let snapshot = {
                let mut state = sim.lock();
                let now = OffsetDateTime::now_utc();
                let Some(call) = state.calls.call_mut(&sid) else {
                    return;
                };
                if is_terminal(call) {
                    return;
                }
                if let Some(status) = status {
                    call.status = Some(status.to_string());
                    call.date_updated = Some(rfc2822(now));
                }
                if event == "ringing" {
                    call.start_time = Some(rfc2822(now));
                }
                let snapshot = call.clone();
                if event == "answered" {
                    if let Some(meta) = state.calls.meta.get_mut(&sid) {
                        meta.answered_at = Some(now);
                    }
                }
                snapshot
            };
            emit(&sim, &snapshot, event).await;
        }
        if let Some(secs) = sim.inner.config.call_duration_secs {
            tokio::time::sleep(delay).await;
            if let Some(ended) = end_call(&sim, &sid, "completed", Some(secs)) {
                emit(&sim, &ended, "completed").await;
            }
        }
    });
}

/// Ends a call that has not ended yet; `None` if it already had (or is unknown).
fn end_call(
    sim: &Simulator,
    sid: &str,
    status: &str,
    duration_secs: Option<u64>,
) -> Option<CallResource> {
    let now = OffsetDateTime::now_utc();
    let mut state = sim.lock();
    let answered_at = state.calls.meta.get(sid).and_then(|m| m.answered_at);
    let call = state.calls.call_mut(sid)?;
    if is_terminal(call) {
        return None;
    }
    let duration = duration_secs
        .unwrap_or_else(|| answered_at.map_or(0, |a| (now - a).whole_seconds().max(0) as u64));
    call.status = Some(status.to_string());
    call.end_time = Some(rfc2822(now));
    call.date_updated = Some(rfc2822(now));
    call.duration = Some(duration.to_string());
    Some(call.clone())
}

/// Sends (or drops, see [`Simulator::drop_call_callbacks`]) the status callback for
/// `event` when the call asked for it, and records it.
async fn emit(sim: &Simulator, call: &CallResource, event: &str) {
    let (url, sequence, dropped) = {
        let mut state = sim.lock();
        let dropped = state.calls.dropped_events.iter().any(|e| e == event);
        let Some(meta) = state.calls.meta.get_mut(&call.sid) else {
            return;
        };
        let wanted = if meta.events.is_empty() {
            event == "completed"
        } else {
            meta.events.iter().any(|e| e == event)
        };
        let Some(url) = meta.status_callback.clone().filter(|_| wanted) else {
            return;
        };
        let sequence = meta.sequence;
        meta.sequence += 1;
        (url, sequence, dropped)
    };
    let params = callback_params(call, event, sequence);
    let call_status = call.status.clone().unwrap_or_default();
    let call_status = if event == "initiated" {
        "initiated".to_string()
    } else {
        call_status
    };
    let (signature, http_status, error) = if dropped {
        tracing::info!(call_sid = %call.sid, event, "simulator: dropping a call status callback as asked");
        (String::new(), None, None)
    } else {
        let (signature, http_status, error) = send_signed(sim, &url, &params).await;
        match &error {
            None => {
                tracing::debug!(call_sid = %call.sid, event, url = %log_url(&url), "simulator: call status callback delivered")
            }
            Some(e) => {
                tracing::warn!(call_sid = %call.sid, event, url = %log_url(&url), error = %e, "simulator: call status callback failed (not retried)")
            }
        }
        (signature, http_status, error)
    };
    sim.lock().calls.callbacks.push(CallCallbackRecord {
        call_sid: call.sid.clone(),
        event: event.to_string(),
        call_status,
        url,
        params,
        signature,
        http_status,
        error,
        dropped,
    });
}

/// The form of a call status callback (PROTOCOL §2.4).
fn callback_params(call: &CallResource, event: &str, sequence: u32) -> Vec<(String, String)> {
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    let status = if event == "initiated" {
        "initiated"
    } else {
        call.status.as_deref().unwrap_or_default()
    };
    let mut out = vec![
        p("CallSid", &call.sid),
        p(
            "AccountSid",
            call.account_sid.as_deref().unwrap_or_default(),
        ),
        p("From", call.from.as_deref().unwrap_or_default()),
        p("To", call.to.as_deref().unwrap_or_default()),
        p("CallStatus", status),
        p("Direction", call.direction.as_deref().unwrap_or_default()),
        p("ApiVersion", "2010-04-01"),
        p("CallbackSource", "call-progress-events"),
        p("SequenceNumber", &sequence.to_string()),
        p("Timestamp", &rfc2822(OffsetDateTime::now_utc())),
    ];
    if event == "completed" {
        let secs: u64 = call
            .duration
            .as_deref()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        out.push(p("CallDuration", &secs.to_string()));
        // Billed minutes, rounded up.
        out.push(p("Duration", &secs.div_ceil(60).to_string()));
    }
    out
}
