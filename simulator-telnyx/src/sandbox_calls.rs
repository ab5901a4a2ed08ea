//! `POST /_simulator/calls`: a call placed from another process. `telephony simulate call`
//! runs beside a sandbox whose simulator lives in the server's process (the gateway's
//! commands go there), so it asks that simulator to ring the gateway with a caller's script
//! and answers, once the call ended, with what happened. Bearer auth with the API key, as
//! the API routes. Not a Telnyx route: the simulator's own control.
//!
//! Body: `{"from": "+1…", "to": "+1…", "script": CallScript}` (the script as JSON, see
//! [`CallScript`]); answer: 200 with the call's summary (`call_control_id`, `answered`,
//! `hangup_cause`, `hangup_source`, `duration_secs`, `heard`, `commands`, `events`,
//! `gathers`, `transcriptions`, `streams`, `notes`), or 422 naming what is wrong.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use telephony_simulator_voice::CallScript;

use crate::call_records::{CallOutcome, InboundCall};
use crate::errors::ApiError;
use crate::simulator::Simulator;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceCall {
    from: String,
    to: String,
    #[serde(default)]
    script: CallScript,
}

/// The summary `POST /_simulator/calls` answers with.
///
/// ```
/// use std::time::Duration;
/// use telephony_telnyx_simulator::{call_summary, InboundCall, Simulator, SimulatorConfig};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Nothing listens on port 9: nobody answers, the first-command timeout hangs up.
/// let sim = Simulator::new(
///     SimulatorConfig::generate()
///         .with_connection("1494404757140276705", "http://127.0.0.1:9/voice")
///         .with_webhook_retries(1, Duration::ZERO)
///         .with_first_command_timeout(Duration::from_millis(50)),
/// );
/// let outcome = sim.place_inbound_call(InboundCall::new("+15550005678", "+15550001234")).await.unwrap();
/// let summary = call_summary(&outcome);
/// assert_eq!(summary["answered"], false);
/// assert_eq!(summary["hangup_cause"], "timeout");
/// # }
/// ```
pub fn call_summary(o: &CallOutcome) -> Value {
    json!({
        "call_control_id": o.call_control_id,
        "from": o.from,
        "to": o.to,
        "answered": o.answered,
        "hangup_cause": o.hangup_cause,
        "hangup_source": o.hangup_source,
        "duration_secs": o.duration_secs,
        "heard": o.heard(),
        "commands": o.command_names(),
        "events": o.event_types(),
        "gathers": o.gathers.iter().map(|g| json!({
            "command": g.command, "digits": g.digits, "status": g.status,
        })).collect::<Vec<_>>(),
        "transcriptions": o.transcriptions.iter().map(|t| json!({
            "transcript": t.transcript, "confidence": t.confidence, "is_final": t.is_final,
        })).collect::<Vec<_>>(),
        "streams": o.streams.iter().map(|s| json!({
            "frames_sent": s.media_frames_sent,
            "frames_received": s.media_frames_received,
            "audio_bytes_received": s.audio_received.len(),
            "marks_received": s.marks_received,
            "marks_echoed": s.marks_echoed,
            "marks_cleared": s.marks_cleared,
            "clears": s.clears,
            "notes": s.notes,
        })).collect::<Vec<_>>(),
        "notes": o.notes,
    })
}

pub(crate) async fn place(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = crate::auth::authorize(&sim, &headers) {
        return e.into_response();
    }
    let req: PlaceCall = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::new(
                422,
                10015,
                "Invalid parameter",
                format!("not a call to place: {e}"),
            )
            .into_response();
        }
    };
    match sim
        .place_inbound_call(InboundCall::new(req.from, req.to).script(req.script))
        .await
    {
        Ok(outcome) => Json(call_summary(&outcome)).into_response(),
        Err(e) => ApiError::new(422, 10015, "Invalid parameter", e.to_string()).into_response(),
    }
}
