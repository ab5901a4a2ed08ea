//! The Calls resource: create, hang up, fetch, and the simulated callee of an outbound
//! call (ringing, answer or busy/no-answer/failure, then the [driver](crate::driver)
//! running the call's TwiML). Status changes and their callbacks live in
//! [`call_events`](crate::call_events).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use telephony_twilio::resources::CallResource;
use time::OffsetDateTime;

use crate::auth::authorize;
use crate::call_events::{emit, end_call, finished, wait_or_end};
use crate::call_state::{CallMeta, DEFAULT_TIME_LIMIT_SECS, is_terminal};
use crate::dates::rfc2822;
use crate::driver::{self, Instructions};
use crate::errors::ApiError;
use crate::form::{first, is_form};
use crate::recipients::normalize_recipient;
use crate::records::CallCreateRecord;
use crate::script::{CallEnd, CallScript, CalleeOutcome, Heard};
use crate::sids::new_sid;
use crate::simulator::Simulator;

/// Twilio's default ring `Timeout`, in seconds.
const DEFAULT_RING_TIMEOUT_SECS: u64 = 60;

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
            ));
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
    // Twilio ignores `Twiml` when `Url` is given too.
    let instructions = match (first(params, "Url"), first(params, "Twiml")) {
        (Some(url), _) => Instructions::Fetch {
            url,
            method: match first(params, "Method") {
                Some(m) if m.eq_ignore_ascii_case("GET") => "GET".to_string(),
                _ => "POST".to_string(),
            },
        },
        (None, Some(twiml)) => Instructions::Inline(twiml),
        (None, None) => unreachable!("checked above"),
    };
    let secs = |key: &str, default: u64| {
        first(params, key)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&v| v > 0)
            .unwrap_or(default)
    };
    let detection = crate::amd::requested(params).map_err(|m| ApiError::bad_request(21626, m))?;
    let send_digits = first(params, "SendDigits");
    if let Some(bad) = send_digits
        .as_deref()
        .and_then(|d| d.chars().find(|c| !"0123456789ABCD*#wW".contains(*c)))
    {
        return Err(ApiError::bad_request(
            21608,
            format!("Invalid SendDigits: {bad:?} is not a digit, A-D, *, #, w or W"),
        ));
    }
    let plan = Plan {
        detection,
        send_digits,
        instructions,
        ring_timeout_secs: secs("Timeout", DEFAULT_RING_TIMEOUT_SECS),
        time_limit_secs: secs("TimeLimit", DEFAULT_TIME_LIMIT_SECS),
    };
    let to = normalize_recipient(&raw_to).unwrap_or(raw_to);
    let events: Vec<String> = params
        .iter()
        .filter(|(k, v)| k == "StatusCallbackEvent" && !v.is_empty())
        .flat_map(|(_, v)| v.split([' ', ',']).filter(|e| !e.is_empty()))
        .map(str::to_string)
        .collect();

    let config = &sim.config();
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
    let script = {
        let mut state = sim.lock();
        state.calls.insert(resource.clone(), meta);
        state
            .calls
            .take_script(resource.to.as_deref().unwrap_or_default())
    };
    if first(params, "Record").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        crate::recordings::start(
            sim,
            &sid,
            crate::recordings::channels(first(params, "RecordingChannels").as_deref()),
            first(params, "RecordingStatusCallback"),
            "OutboundAPI",
        );
    }
    spawn_lifecycle(sim.clone(), sid, plan, script.unwrap_or_default());
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
/// `canceled` before); `Status=canceled` ends a call not answered yet. A driven call stops
/// at its next step (a paced wait stops at once). A call that has already ended (or is
/// unknown) answers 404 / 20404, as Twilio does. `Twiml` (or `Url`, with `Method`,
/// which wins over `Twiml` as on create) replaces what an answered call runs: the driver
/// stops at its next step or wait (a document being fetched is discarded when it comes)
/// and runs the new instructions; on a call not answered yet it is refused (21220, as
/// Twilio answers updates to a call that is not in progress). `TimeLimit` is accepted
/// and ignored.
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
    sim.lock()
        .calls
        .update_requests
        .push((sid.to_string(), params.clone()));
    if is_terminal(&current) {
        return Err(not_found());
    }
    let answered = current.status.as_deref() == Some("in-progress");
    let replacement = match (first(&params, "Url"), first(&params, "Twiml")) {
        (Some(url), _) => Some(Instructions::Fetch {
            url,
            method: first(&params, "Method").unwrap_or_else(|| "POST".into()),
        }),
        (None, Some(twiml)) => Some(Instructions::Inline(twiml)),
        (None, None) => None,
    };
    if let (Some(new), None) = (replacement, first(&params, "Status")) {
        if !answered {
            return Err(ApiError::bad_request(
                21220,
                "Call is not in-progress. Cannot redirect.",
            ));
        }
        let mut state = sim.lock();
        if let Some(meta) = state.calls.meta.get_mut(sid) {
            meta.replacement = Some(new);
            meta.wake.notify_one();
        }
        tracing::info!(call_sid = %sid, "simulator: live update replaces the call's instructions");
        return Ok(Json(current));
    }
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
            ));
        }
    };
    match end_call(&sim, sid, final_status, CallEnd::ApiHangUp) {
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

/// How an outbound call runs once created.
struct Plan {
    detection: Option<crate::amd::Detection>,
    send_digits: Option<String>,
    instructions: Instructions,
    ring_timeout_secs: u64,
    time_limit_secs: u64,
}

/// The simulated callee of an outbound call: `initiated`, `ringing`, then, by its
/// [`CalleeOutcome`], answered (the driver runs the call's instructions with `script`) or
/// busy / no-answer (after the ring timeout) / failed; `callback_delay` between steps.
/// Stops as soon as the call has ended (hung up through the API).
fn spawn_lifecycle(sim: Simulator, sid: String, plan: Plan, script: CallScript) {
    tokio::spawn(async move {
        run_lifecycle(&sim, &sid, plan, script).await;
        finished(&sim, &sid);
    });
}

async fn run_lifecycle(sim: &Simulator, sid: &str, plan: Plan, script: CallScript) {
    let delay = sim.config().callback_delay;
    let to = sim
        .lock()
        .calls
        .call(sid)
        .and_then(|c| c.to.clone())
        .unwrap_or_default();
    let outcome = sim.callee_outcome(&to);
    let steps: &[(&str, Option<&str>)] = match outcome {
        CalleeOutcome::Fail => &[("initiated", None)],
        _ => &[("initiated", None), ("ringing", Some("ringing"))],
    };
    for &(event, status) in steps {
        tokio::time::sleep(delay).await;
        if !progress(sim, sid, event, status).await {
            return;
        }
    }
    let (status, end, sip) = match outcome {
        CalleeOutcome::Answer => {
            tokio::time::sleep(delay).await;
            if progress(sim, sid, "answered", Some("in-progress")).await {
                if let Some(digits) = plan.send_digits {
                    if let Some(meta) = sim.lock().calls.meta.get_mut(sid) {
                        meta.log.transcript.push(Heard::Digits { digits });
                    }
                }
                if let Some(d) = plan.detection {
                    crate::amd::spawn(sim.clone(), sid.to_string(), to.clone(), d);
                }
                driver::run(
                    sim.clone(),
                    sid.to_string(),
                    plan.instructions,
                    script,
                    true,
                    plan.time_limit_secs,
                )
                .await;
            }
            return;
        }
        CalleeOutcome::Busy => ("busy", CallEnd::Busy, 486),
        CalleeOutcome::NoAnswer => {
            let ring = sim.paced(plan.ring_timeout_secs * 1000);
            wait_or_end(sim, sid, ring).await;
            ("no-answer", CallEnd::NoAnswer, 487)
        }
        CalleeOutcome::Fail => ("failed", CallEnd::Failed, 404),
    };
    tokio::time::sleep(delay).await;
    if let Some(meta) = sim.lock().calls.meta.get_mut(sid) {
        meta.sip_response_code = Some(sip);
    }
    if let Some(ended) = end_call(sim, sid, status, end) {
        emit(sim, &ended, "completed").await;
    }
}

/// Moves a live call to the step of `event` and sends its callback; `false` if the call
/// has ended meanwhile.
async fn progress(sim: &Simulator, sid: &str, event: &str, status: Option<&str>) -> bool {
    let snapshot = {
        let mut state = sim.lock();
        let now = OffsetDateTime::now_utc();
        let Some(call) = state.calls.call_mut(sid) else {
            return false;
        };
        if is_terminal(call) {
            return false;
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
            if let Some(meta) = state.calls.meta.get_mut(sid) {
                meta.answered_at = Some(now);
            }
        }
        snapshot
    };
    emit(sim, &snapshot, event).await;
    true
}
