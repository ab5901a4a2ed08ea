//! The Calls resource: create, hang up, fetch, the call's signed status callbacks, and
//! the simulated callee of an outbound call (ringing, answer or busy/no-answer/failure,
//! then the [driver](crate::driver) running the call's TwiML).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use time::OffsetDateTime;

use crate::callbacks::send_signed;
use crate::driver::{self, Instructions};
use crate::errors::ApiError;
use crate::inbound::new_sid;
use crate::script::{CallEnd, CallError, CallOutcome, CallScript, CalleeOutcome};
use crate::script::{DocumentRecord, GatherRecord, Heard};
use crate::server::{authorize, first, is_form, normalize_recipient, rfc2822, same_recipient};
use crate::{log_url, CallCallbackRecord, CallCreateRecord, Simulator};
use telephony_twilio::resources::CallResource;

/// Twilio's longest call, in seconds (4 hours): the `TimeLimit` when none is given.
pub(crate) const DEFAULT_TIME_LIMIT_SECS: u64 = 14_400;

/// Twilio's default ring `Timeout`, in seconds.
const DEFAULT_RING_TIMEOUT_SECS: u64 = 60;

/// What the driver did on a call, for [`CallOutcome`].
#[derive(Debug, Default)]
pub(crate) struct DriveLog {
    pub(crate) documents: Vec<DocumentRecord>,
    pub(crate) transcript: Vec<Heard>,
    pub(crate) gathers: Vec<GatherRecord>,
    pub(crate) error: Option<CallError>,
    pub(crate) streams: Vec<crate::records::StreamRecord>,
    pub(crate) relays: Vec<crate::records::RelayRecord>,
    pub(crate) ended_by: Option<CallEnd>,
    /// The simulator is done with the call (ended, last callback sent).
    pub(crate) finished: bool,
}

/// What the simulator keeps about a call besides its resource.
#[derive(Debug, Default)]
pub(crate) struct CallMeta {
    pub(crate) status_callback: Option<String>,
    /// The `StatusCallbackEvent` values asked for (empty: only `completed`, like Twilio).
    pub(crate) events: Vec<String>,
    /// The next `SequenceNumber`.
    pub(crate) sequence: u32,
    pub(crate) answered_at: Option<OffsetDateTime>,
    /// The simulated clock: milliseconds of call time since the answer.
    pub(crate) clock_ms: u64,
    /// A paced wait in progress: when it started and how many simulated milliseconds it
    /// covers (see [`SimulatorConfig::simulated_second`](crate::SimulatorConfig::simulated_second)).
    pub(crate) waiting: Option<(Instant, u64)>,
    /// Woken when the call ends, so that a paced wait stops at once.
    pub(crate) wake: Arc<tokio::sync::Notify>,
    /// `SipResponseCode` for the `completed` callback (busy, no-answer, failed).
    pub(crate) sip_response_code: Option<u16>,
    pub(crate) log: DriveLog,
}

/// Calls, by SID.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    pub(crate) calls: Vec<CallResource>,
    index: HashMap<String, usize>,
    pub(crate) meta: HashMap<String, CallMeta>,
    pub(crate) create_requests: Vec<CallCreateRecord>,
    pub(crate) callbacks: Vec<CallCallbackRecord>,
    pub(crate) dropped_events: Vec<String>,
    /// Scripts for the next outbound calls, by callee (see [`Simulator::script_next_call`]).
    pub(crate) scripts: Vec<(String, VecDeque<CallScript>)>,
}

impl CallState {
    pub(crate) fn call(&self, sid: &str) -> Option<&CallResource> {
        self.index.get(sid).map(|&i| &self.calls[i])
    }

    pub(crate) fn call_mut(&mut self, sid: &str) -> Option<&mut CallResource> {
        let i = *self.index.get(sid)?;
        self.calls.get_mut(i)
    }

    /// Stores a new call.
    pub(crate) fn insert(&mut self, resource: CallResource, meta: CallMeta) {
        self.index.insert(resource.sid.clone(), self.calls.len());
        self.meta.insert(resource.sid.clone(), meta);
        self.calls.push(resource);
    }

    /// The script queued for the next call to `to`, if any.
    fn take_script(&mut self, to: &str) -> Option<CallScript> {
        let (_, queue) = self
            .scripts
            .iter_mut()
            .find(|(number, q)| !q.is_empty() && same_recipient(number, to))?;
        queue.pop_front()
    }

    /// What a test sees of a call: its resource and the driver's log.
    pub(crate) fn outcome(&self, sid: &str) -> Option<CallOutcome> {
        let call = self.call(sid)?;
        let meta = self.meta.get(sid)?;
        let log = &meta.log;
        Some(CallOutcome {
            call_sid: call.sid.clone(),
            direction: call.direction.clone().unwrap_or_default(),
            status: call.status.clone().unwrap_or_default(),
            duration_secs: call.duration.as_deref().and_then(|d| d.parse().ok()),
            answered: meta.answered_at.is_some(),
            ended_by: log.ended_by,
            finished: log.finished,
            documents: log.documents.clone(),
            transcript: log.transcript.clone(),
            gathers: log.gathers.clone(),
            error: log.error.clone(),
            streams: log.streams.clone(),
            relays: log.relays.clone(),
        })
    }
}

/// Whether a call has ended.
pub(crate) fn is_terminal(c: &CallResource) -> bool {
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
    let plan = Plan {
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
    let script = {
        let mut state = sim.lock();
        state.calls.insert(resource.clone(), meta);
        state
            .calls
            .take_script(resource.to.as_deref().unwrap_or_default())
    };
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
/// unknown) answers 404 / 20404, as Twilio does. Other updates (`Twiml`, `Url`,
/// `TimeLimit`) are accepted and ignored.
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
    let delay = sim.inner.config.callback_delay;
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

/// Sleeps `real`, or less if the call ends meanwhile.
pub(crate) async fn wait_or_end(sim: &Simulator, sid: &str, real: Duration) {
    if real.is_zero() {
        return;
    }
    let Some(wake) = sim.lock().calls.meta.get(sid).map(|m| m.wake.clone()) else {
        return;
    };
    let notified = wake.notified();
    tokio::pin!(notified);
    // Register before the check, so that an end between the check and the wait wakes us.
    notified.as_mut().enable();
    if sim.lock().calls.call(sid).is_none_or(is_terminal) {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(real) => {}
        _ = notified => {}
    }
}

/// Marks the simulator done with a call.
pub(crate) fn finished(sim: &Simulator, sid: &str) {
    if let Some(meta) = sim.lock().calls.meta.get_mut(sid) {
        meta.log.finished = true;
    }
}

/// Ends a call that has not ended yet, recording why; `None` if it already had (or is
/// unknown). An answered call's duration is
/// [`SimulatorConfig::call_duration_secs`](crate::SimulatorConfig::call_duration_secs)
/// when set, else its simulated clock in whole seconds, rounded up (a paced wait cut
/// short counts as far as it got); a call never answered lasted 0 s.
pub(crate) fn end_call(
    sim: &Simulator,
    sid: &str,
    status: &str,
    why: CallEnd,
) -> Option<CallResource> {
    let now = OffsetDateTime::now_utc();
    let config = &sim.inner.config;
    let mut state = sim.lock();
    if state.calls.call(sid).is_none_or(is_terminal) {
        return None;
    }
    let meta = state.calls.meta.get_mut(sid)?;
    let duration = match meta.answered_at {
        None => 0,
        Some(_) => config.call_duration_secs.unwrap_or_else(|| {
            let waited = meta.waiting.map_or(0, |(since, covers)| {
                let per_ms = config.simulated_second.as_secs_f64() / 1000.0;
                let done = if per_ms > 0.0 {
                    (since.elapsed().as_secs_f64() / per_ms) as u64
                } else {
                    covers
                };
                done.min(covers)
            });
            (meta.clock_ms + waited).div_ceil(1000)
        }),
    };
    meta.log.ended_by.get_or_insert(why);
    meta.wake.notify_one();
    let call = state.calls.call_mut(sid)?;
    call.status = Some(status.to_string());
    call.end_time = Some(rfc2822(now));
    call.date_updated = Some(rfc2822(now));
    call.duration = Some(duration.to_string());
    Some(call.clone())
}

/// Sends (or drops, see [`Simulator::drop_call_callbacks`]) the status callback for
/// `event` when the call asked for it, and records it.
pub(crate) async fn emit(sim: &Simulator, call: &CallResource, event: &str) {
    let (url, sequence, dropped, sip) = {
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
        (url, sequence, dropped, meta.sip_response_code)
    };
    let params = callback_params(call, event, sequence, sip);
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

/// The form of a call status callback (PROTOCOL §2.4); `sip` is the `SipResponseCode` of
/// a call that ended unanswered.
fn callback_params(
    call: &CallResource,
    event: &str,
    sequence: u32,
    sip: Option<u16>,
) -> Vec<(String, String)> {
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
        if let Some(code) = sip {
            out.push(p("SipResponseCode", &code.to_string()));
        }
    }
    out
}

impl Simulator {
    /// How the callee `number` answers (see [`SimulatorConfig::with_callee_outcome`](crate::SimulatorConfig::with_callee_outcome)).
    pub(crate) fn callee_outcome(&self, number: &str) -> CalleeOutcome {
        self.inner
            .config
            .callee_outcomes
            .iter()
            .find(|(n, _)| same_recipient(n, number))
            .map(|(_, o)| *o)
            .unwrap_or_default()
    }

    /// The real time `sim_ms` simulated milliseconds take.
    pub(crate) fn paced(&self, sim_ms: u64) -> Duration {
        self.inner
            .config
            .simulated_second
            .mul_f64(sim_ms as f64 / 1000.0)
    }
}
