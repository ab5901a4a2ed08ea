//! The Call Control REST API: `POST /v2/calls` (dial), `GET /v2/calls/{call_control_id}`,
//! and the commands `POST /v2/calls/{call_control_id}/actions/{name}`, with Telnyx's
//! validation and errors. A valid command is recorded, handed to the call's driver in
//! order, and answered `{"data":{"result":"ok"}}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use telephony_core::PhoneNumber;
use time::OffsetDateTime;

use crate::auth::authorize;
use crate::call_driver::{Action, AudioItem, Command, GatherSpec, OnAnswer, Start};
use crate::call_records::{CommandRecord, Heard};
use crate::call_state::{CallLog, CallRecord, DEFAULT_TIME_LIMIT_SECS, new_call_control_id};
use crate::dates::rfc3339;
use crate::errors::ApiError;
use crate::ids::new_uuid;
use crate::media_stream::StreamParams;
use crate::simulator::Simulator;

/// The commands the simulator runs.
pub(crate) const COMMANDS: &[&str] = &[
    "answer",
    "hangup",
    "reject",
    "speak",
    "playback_start",
    "playback_stop",
    "gather",
    "gather_using_speak",
    "gather_using_audio",
    "gather_stop",
    "transcription_start",
    "transcription_stop",
    "streaming_start",
    "streaming_stop",
    "send_dtmf",
    "client_state_update",
    "transfer",
    "record_start",
    "record_stop",
];

/// Commands a parked (or ringing) call takes.
const BEFORE_ANSWER: &[&str] = &["answer", "hangup", "reject", "client_state_update"];

fn call_ended() -> ApiError {
    ApiError::new(
        422,
        90018,
        "Call has already ended",
        "This call is no longer active and can't receive commands.",
    )
}

fn call_not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        10005,
        "Resource not found",
        format!("Call {id:?} could not be found."),
    )
}

fn missing(field: &str, pointer: &'static str) -> ApiError {
    ApiError::invalid(
        10004,
        "Missing required parameter",
        format!("The '{field}' parameter is required."),
        pointer,
    )
}

fn invalid(detail: String, pointer: &'static str) -> ApiError {
    ApiError::invalid(10015, "Invalid parameter", detail, pointer)
}

fn invalid_state(detail: String) -> ApiError {
    ApiError::new(422, 10015, "Invalid call state", detail)
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::new(
            400,
            10023,
            "Invalid JSON",
            "The request body is not a valid JSON object.",
        )),
    }
}

/// An optional string field; any other JSON type is an error naming it.
fn opt_str(
    body: &Map<String, Value>,
    field: &str,
    pointer: &'static str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(
            format!("The '{field}' parameter must be a string."),
            pointer,
        )),
    }
}

fn req_str(
    body: &Map<String, Value>,
    field: &str,
    pointer: &'static str,
) -> Result<String, ApiError> {
    opt_str(body, field, pointer)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| missing(field, pointer))
}

fn opt_u64(
    body: &Map<String, Value>,
    field: &str,
    pointer: &'static str,
) -> Result<Option<u64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            invalid(
                format!("The '{field}' parameter must be a non-negative integer."),
                pointer,
            )
        }),
    }
}

fn one_of(
    value: Option<String>,
    field: &str,
    allowed: &[&str],
    pointer: &'static str,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(invalid(
            format!(
                "The '{field}' parameter must be one of {}; got {v:?}.",
                allowed.join(", ")
            ),
            pointer,
        )),
        other => Ok(other),
    }
}

fn in_range(
    value: Option<u64>,
    field: &str,
    min: u64,
    max: u64,
    pointer: &'static str,
) -> Result<Option<u64>, ApiError> {
    match value {
        Some(v) if v < min || v > max => Err(invalid(
            format!("The '{field}' parameter must be between {min} and {max}; got {v}."),
            pointer,
        )),
        other => Ok(other),
    }
}

/// `client_state`: base64, as Telnyx requires.
fn client_state(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let state = opt_str(body, "client_state", "/client_state")?;
    if let Some(s) = &state {
        if base64::engine::general_purpose::STANDARD.decode(s).is_err() {
            return Err(invalid(
                "The 'client_state' parameter must be a base64-encoded string.".into(),
                "/client_state",
            ));
        }
    }
    Ok(state)
}

/// The `stream_*` fields (of `streaming_start`, `answer` or dial); `None` without a URL.
fn stream_params(
    body: &Map<String, Value>,
    url_required: bool,
) -> Result<Option<StreamParams>, ApiError> {
    let url = if url_required {
        Some(req_str(body, "stream_url", "/stream_url")?)
    } else {
        opt_str(body, "stream_url", "/stream_url")?
    };
    let Some(url) = url else {
        return Ok(None);
    };
    if reqwest::Url::parse(&url).map(|u| matches!(u.scheme(), "ws" | "wss")) != Ok(true) {
        return Err(invalid(
            format!("The 'stream_url' parameter must be a ws:// or wss:// URL; got {url:?}."),
            "/stream_url",
        ));
    }
    const CODECS: &[&str] = &["PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16"];
    let track = one_of(
        opt_str(body, "stream_track", "/stream_track")?,
        "stream_track",
        &["inbound_track", "outbound_track", "both_tracks"],
        "/stream_track",
    )?;
    let codec = one_of(
        opt_str(body, "stream_codec", "/stream_codec")?,
        "stream_codec",
        &["PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16", "default"],
        "/stream_codec",
    )?;
    let mode = one_of(
        opt_str(
            body,
            "stream_bidirectional_mode",
            "/stream_bidirectional_mode",
        )?,
        "stream_bidirectional_mode",
        &["mp3", "rtp"],
        "/stream_bidirectional_mode",
    )?;
    let bi_codec = one_of(
        opt_str(
            body,
            "stream_bidirectional_codec",
            "/stream_bidirectional_codec",
        )?,
        "stream_bidirectional_codec",
        CODECS,
        "/stream_bidirectional_codec",
    )?;
    let rate = match opt_u64(
        body,
        "stream_bidirectional_sampling_rate",
        "/stream_bidirectional_sampling_rate",
    )? {
        None => 8000,
        Some(r @ (8000 | 16000 | 22050 | 24000 | 48000)) => r as u32,
        Some(r) => {
            return Err(invalid(
                format!(
                    "The 'stream_bidirectional_sampling_rate' parameter must be one of 8000, 16000, 22050, 24000, 48000; got {r}."
                ),
                "/stream_bidirectional_sampling_rate",
            ));
        }
    };
    let token = opt_str(body, "stream_auth_token", "/stream_auth_token")?;
    if token.as_ref().is_some_and(|t| t.len() > 4000) {
        return Err(invalid(
            "The 'stream_auth_token' parameter must be at most 4000 characters.".into(),
            "/stream_auth_token",
        ));
    }
    let mut custom = Vec::new();
    match body.get("custom_parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let name = item.get("name").and_then(Value::as_str);
                let value = item.get("value").and_then(Value::as_str);
                match (name, value) {
                    (Some(n), Some(v)) => custom.push((n.to_string(), v.to_string())),
                    _ => {
                        return Err(invalid(
                            "Each of 'custom_parameters' must be {\"name\": string, \"value\": string}.".into(),
                            "/custom_parameters",
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(invalid(
                "The 'custom_parameters' parameter must be an array.".into(),
                "/custom_parameters",
            ));
        }
    }
    Ok(Some(StreamParams {
        url,
        track: track.unwrap_or_else(|| "inbound_track".into()),
        codec: codec.unwrap_or_else(|| "default".into()),
        bidirectional_mode: mode,
        bidirectional_codec: bi_codec,
        bidirectional_sampling_rate: rate,
        auth_token: token,
        custom_parameters: custom,
    }))
}

/// The gather fields shared by `gather`, `gather_using_speak` and `gather_using_audio`.
fn gather_spec(
    name: &str,
    body: &Map<String, Value>,
    prompt: Option<Heard>,
) -> Result<GatherSpec, ApiError> {
    let minimum = in_range(
        opt_u64(body, "minimum_digits", "/minimum_digits")?,
        "minimum_digits",
        1,
        128,
        "/minimum_digits",
    )?;
    let maximum = in_range(
        opt_u64(body, "maximum_digits", "/maximum_digits")?,
        "maximum_digits",
        1,
        128,
        "/maximum_digits",
    )?;
    let timeout = opt_u64(body, "timeout_millis", "/timeout_millis")?;
    let initial = opt_u64(body, "initial_timeout_millis", "/initial_timeout_millis")?;
    Ok(GatherSpec {
        command: name.to_string(),
        prompt,
        minimum_digits: minimum.unwrap_or(1) as usize,
        maximum_digits: maximum.unwrap_or(128) as usize,
        terminating_digit: opt_str(body, "terminating_digit", "/terminating_digit")?
            .unwrap_or_else(|| "#".into()),
        valid_digits: opt_str(body, "valid_digits", "/valid_digits")?
            .unwrap_or_else(|| "0123456789#*".into()),
        timeout_ms: initial.or(timeout).unwrap_or(60_000),
        webhook_url: opt_str(body, "webhook_url", "/webhook_url")?,
    })
}

/// `payload` and `voice` of a speak (or `gather_using_speak`).
fn speech(body: &Map<String, Value>) -> Result<Heard, ApiError> {
    let payload = req_str(body, "payload", "/payload")?;
    if payload.chars().count() > 3000 {
        return Err(invalid(
            "The 'payload' parameter must be at most 3,000 characters.".into(),
            "/payload",
        ));
    }
    let voice = req_str(body, "voice", "/voice")?;
    one_of(
        opt_str(body, "payload_type", "/payload_type")?,
        "payload_type",
        &["text", "ssml"],
        "/payload_type",
    )?;
    one_of(
        opt_str(body, "service_level", "/service_level")?,
        "service_level",
        &["basic", "premium"],
        "/service_level",
    )?;
    Ok(Heard::Speak {
        payload,
        voice,
        language: opt_str(body, "language", "/language")?,
    })
}

/// `audio_url` or `media_name`.
fn audio_source(body: &Map<String, Value>) -> Result<String, ApiError> {
    match (
        opt_str(body, "audio_url", "/audio_url")?,
        opt_str(body, "media_name", "/media_name")?,
    ) {
        (Some(_), Some(_)) => Err(invalid(
            "'audio_url' and 'media_name' cannot be used together.".into(),
            "/audio_url",
        )),
        (Some(url), None) | (None, Some(url)) => Ok(url),
        (None, None) => Err(missing("audio_url", "/audio_url")),
    }
}

/// The driver action of a valid command.
fn action(name: &str, body: &Map<String, Value>) -> Result<Action, ApiError> {
    Ok(match name {
        "answer" => Action::Answer {
            webhook_url: opt_str(body, "webhook_url", "/webhook_url")?,
            stream: stream_params(body, false)?,
        },
        "hangup" => Action::Hangup,
        "reject" => {
            let cause = req_str(body, "cause", "/cause")?;
            match cause.as_str() {
                "CALL_REJECTED" => Action::Reject {
                    cause: "call_rejected",
                    sip: "603",
                },
                "USER_BUSY" => Action::Reject {
                    cause: "user_busy",
                    sip: "486",
                },
                other => {
                    return Err(invalid(
                        format!(
                            "The 'cause' parameter must be CALL_REJECTED or USER_BUSY; got {other:?}."
                        ),
                        "/cause",
                    ));
                }
            }
        }
        "speak" => {
            let Heard::Speak {
                payload,
                voice,
                language,
            } = speech(body)?
            else {
                unreachable!("speech() returns a Speak")
            };
            let mut item = AudioItem::speak(payload, voice, language);
            item.webhook_url = opt_str(body, "webhook_url", "/webhook_url")?;
            item.stop = one_of(
                opt_str(body, "stop", "/stop")?,
                "stop",
                &["current", "all"],
                "/stop",
            )?;
            Action::Audio(item)
        }
        "playback_start" => {
            let mut item = AudioItem::playback(audio_source(body)?);
            item.webhook_url = opt_str(body, "webhook_url", "/webhook_url")?;
            Action::Audio(item)
        }
        "playback_stop" => Action::PlaybackStop,
        "gather" => Action::Gather(gather_spec(name, body, None)?),
        "gather_using_speak" => Action::Gather(gather_spec(name, body, Some(speech(body)?))?),
        "gather_using_audio" => Action::Gather(gather_spec(
            name,
            body,
            Some(Heard::Playback {
                url: audio_source(body)?,
            }),
        )?),
        "gather_stop" => Action::GatherStop,
        "transcription_start" => {
            one_of(
                opt_str(body, "transcription_tracks", "/transcription_tracks")?,
                "transcription_tracks",
                &["inbound", "outbound", "both"],
                "/transcription_tracks",
            )?;
            Action::TranscriptionStart
        }
        "transcription_stop" => Action::TranscriptionStop,
        "streaming_start" => match stream_params(body, true)? {
            Some(params) => Action::StreamingStart(params),
            None => return Err(missing("stream_url", "/stream_url")),
        },
        "streaming_stop" => Action::StreamingStop {
            stream_id: opt_str(body, "stream_id", "/stream_id")?,
        },
        "send_dtmf" => {
            let digits = req_str(body, "digits", "/digits")?;
            if let Some(bad) = digits.chars().find(|c| !"0123456789ABCD*#wW".contains(*c)) {
                return Err(invalid(
                    format!(
                        "The 'digits' parameter may hold 0-9, A-D, *, #, w and W only; got {bad:?}."
                    ),
                    "/digits",
                ));
            }
            Action::SendDtmf { digits }
        }
        "client_state_update" => {
            req_str(body, "client_state", "/client_state")?;
            Action::ClientStateUpdate
        }
        "transfer" => {
            let to = req_str(body, "to", "/to")?;
            let e164 = |value: &str, pointer: &'static str| {
                PhoneNumber::parse(value).map(|_| ()).map_err(|_| {
                    ApiError::invalid(
                        10016,
                        "Phone number must be in +E.164 format",
                        format!("The specified phone number {value:?} must be in +E.164 format."),
                        pointer,
                    )
                })
            };
            if !(to.starts_with("sip:") || to.starts_with("sips:")) {
                e164(&to, "/to")?;
            }
            let from = opt_str(body, "from", "/from")?;
            if let Some(f) = &from {
                e164(f, "/from")?;
            }
            let timeout_secs = in_range(
                opt_u64(body, "timeout_secs", "/timeout_secs")?,
                "timeout_secs",
                5,
                600,
                "/timeout_secs",
            )?
            .unwrap_or(30);
            let target_state =
                opt_str(body, "target_leg_client_state", "/target_leg_client_state")?;
            if let Some(s) = &target_state {
                if base64::engine::general_purpose::STANDARD.decode(s).is_err() {
                    return Err(invalid(
                        "The 'target_leg_client_state' parameter must be a base64-encoded string."
                            .into(),
                        "/target_leg_client_state",
                    ));
                }
            }
            Action::Transfer {
                to,
                from,
                timeout_secs,
                target_state,
            }
        }
        "record_start" => {
            let format = one_of(
                Some(req_str(body, "format", "/format")?),
                "format",
                &["wav", "mp3"],
                "/format",
            )?
            .unwrap_or_default();
            let channels = one_of(
                Some(req_str(body, "channels", "/channels")?),
                "channels",
                &["single", "dual"],
                "/channels",
            )?
            .unwrap_or_default();
            let max_length_secs = in_range(
                opt_u64(body, "max_length", "/max_length")?,
                "max_length",
                0,
                14_400,
                "/max_length",
            )?
            .unwrap_or(0);
            let timeout_secs = opt_u64(body, "timeout_secs", "/timeout_secs")?.unwrap_or(0);
            Action::RecordStart(crate::recordings::RecordSpec {
                format,
                channels,
                max_length_secs,
                timeout_secs,
            })
        }
        "record_stop" => Action::RecordStop,
        _ => return Err(unknown_command(name)),
    })
}

fn unknown_command(name: &str) -> ApiError {
    ApiError::new(
        404,
        10005,
        "Resource not found",
        format!(
            "There is no call command {name:?}: POST /v2/calls/{{call_control_id}}/actions/{{name}} takes {}.",
            COMMANDS.join(", ")
        ),
    )
}

fn ok() -> Response {
    Json(json!({"data": {"result": "ok"}})).into_response()
}

/// `POST /v2/calls/{call_control_id}/actions/{name}` (and `PUT …/client_state_update`).
pub(crate) async fn command(
    State(sim): State<Simulator>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers)?;
    if sim.lock().calls.get(&id).is_none() {
        return Err(call_not_found(&id));
    }
    let parsed = parse_body(&body);
    let raw = parsed.clone().map(Value::Object).unwrap_or(Value::Null);
    let result = check_command(&sim, &id, &name, parsed);
    let mut state = sim.lock();
    let Some(call) = state.calls.get_mut(&id) else {
        return Err(call_not_found(&id));
    };
    let (status, code, duplicate, outcome) = match result {
        Ok(Checked::Duplicate) => (200, None, true, Ok(ok())),
        Ok(Checked::Run(cmd, command_id)) => {
            if let Some(cid) = command_id {
                call.command_ids.insert(cid);
            }
            if let Some(tx) = &call.commands {
                let _ = tx.send(*cmd);
            }
            (200, None, false, Ok(ok()))
        }
        Err(e) => (e.status, Some(e.code.to_string()), false, Err(e)),
    };
    call.log.commands.push(CommandRecord {
        name: name.clone(),
        body: raw,
        http_status: status,
        error_code: code,
        duplicate,
        at_ms: call.clock_ms,
    });
    drop(state);
    match &outcome {
        Ok(_) => {
            tracing::debug!(call_control_id = %id, command = %name, duplicate, "telnyx simulator: call command accepted")
        }
        Err(e) => {
            tracing::info!(call_control_id = %id, command = %name, status = e.status, code = e.code, detail = %e.detail, "telnyx simulator: call command refused")
        }
    }
    outcome
}

enum Checked {
    Run(Box<Command>, Option<String>),
    Duplicate,
}

fn check_command(
    sim: &Simulator,
    id: &str,
    name: &str,
    parsed: Result<Map<String, Value>, ApiError>,
) -> Result<Checked, ApiError> {
    if !COMMANDS.contains(&name) {
        return Err(unknown_command(name));
    }
    let body = parsed?;
    let (alive, answered, direction, seen) = {
        let state = sim.lock();
        let call = state.calls.get(id).ok_or_else(|| call_not_found(id))?;
        let command_id = body.get("command_id").and_then(Value::as_str);
        (
            call.alive(),
            call.answered,
            call.direction,
            command_id.is_some_and(|c| call.command_ids.contains(c)),
        )
    };
    if !alive {
        return Err(call_ended());
    }
    if seen {
        return Ok(Checked::Duplicate);
    }
    let command_id = opt_str(&body, "command_id", "/command_id")?;
    let client_state = client_state(&body)?;
    let action = action(name, &body)?;
    if !answered && !BEFORE_ANSWER.contains(&name) {
        return Err(invalid_state(format!(
            "The call is not answered yet: {name} needs an answered call{}.",
            if direction == "incoming" {
                " (send answer first)"
            } else {
                ""
            }
        )));
    }
    if answered && matches!(name, "answer" | "reject") {
        return Err(invalid_state(format!(
            "The call is already answered: {name} is for a call that rings."
        )));
    }
    if direction == "outgoing" && matches!(name, "answer" | "reject") {
        return Err(invalid_state(format!(
            "{name} is for incoming calls; this call was dialed."
        )));
    }
    Ok(Checked::Run(
        Box::new(Command {
            client_state,
            action,
        }),
        command_id,
    ))
}

/// `GET /v2/calls/{call_control_id}`.
pub(crate) async fn retrieve(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers)?;
    let state = sim.lock();
    let call = state.calls.get(&id).ok_or_else(|| call_not_found(&id))?;
    let mut data = json!({
        "call_control_id": call.call_control_id,
        "call_duration": call.duration_secs(),
        "call_leg_id": call.call_leg_id,
        "call_session_id": call.call_session_id,
        "client_state": call.client_state,
        "is_alive": call.alive(),
        "record_type": "call",
        "start_time": rfc3339(call.start_time),
    });
    if let Some(end) = call.end_time {
        data["end_time"] = json!(rfc3339(end));
    }
    Ok(Json(json!({ "data": data })).into_response())
}

/// `POST /v2/calls`: dials `to` from `connection_id`; the call rings, then its callee
/// answers, is busy, does not answer or cannot be reached.
pub(crate) async fn dial(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers)?;
    let parsed = parse_body(&body);
    sim.lock()
        .calls
        .dial_requests
        .push(parsed.clone().map(Value::Object).unwrap_or(Value::Null));
    let body = parsed?;
    let connection_id = req_str(&body, "connection_id", "/connection_id")?;
    let Some(app) = sim.app_for_call(Some(&connection_id)) else {
        return Err(invalid(
            format!(
                "The 'connection_id' {connection_id:?} is not a Call Control application of this account."
            ),
            "/connection_id",
        ));
    };
    let to = match body.get("to") {
        Some(Value::Array(items)) => items.first().and_then(Value::as_str).map(str::to_string),
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(invalid(
                "The 'to' parameter must be a string or an array of strings.".into(),
                "/to",
            ));
        }
    }
    .filter(|s| !s.trim().is_empty())
    .ok_or_else(|| missing("to", "/to"))?;
    let e164 = |value: &str, pointer: &'static str| {
        PhoneNumber::parse(value).map_err(|_| {
            ApiError::invalid(
                10016,
                "Phone number must be in +E.164 format",
                format!("The specified phone number {value:?} must be in +E.164 format."),
                pointer,
            )
        })
    };
    if !to.starts_with("sip:") {
        e164(&to, "/to")?;
    }
    let from = req_str(&body, "from", "/from")?;
    e164(&from, "/from")?;
    let client_state = client_state(&body)?;
    let webhook_url = opt_str(&body, "webhook_url", "/webhook_url")?;
    let timeout_secs = in_range(
        opt_u64(&body, "timeout_secs", "/timeout_secs")?,
        "timeout_secs",
        5,
        600,
        "/timeout_secs",
    )?
    .unwrap_or(30);
    let time_limit = in_range(
        opt_u64(&body, "time_limit_secs", "/time_limit_secs")?,
        "time_limit_secs",
        1,
        DEFAULT_TIME_LIMIT_SECS,
        "/time_limit_secs",
    )?
    .unwrap_or(DEFAULT_TIME_LIMIT_SECS);
    let amd = opt_str(
        &body,
        "answering_machine_detection",
        "/answering_machine_detection",
    )?;
    let send_digits = opt_str(&body, "send_digits_on_answer", "/send_digits_on_answer")?;
    if let Some(bad) = send_digits
        .as_deref()
        .and_then(|d| d.chars().find(|c| !"0123456789ABCD*#wW".contains(*c)))
    {
        return Err(invalid(
            format!(
                "The 'send_digits_on_answer' parameter may hold 0-9, A-D, *, #, w and W only; got {bad:?}."
            ),
            "/send_digits_on_answer",
        ));
    }
    one_of(
        amd.clone(),
        "answering_machine_detection",
        &[
            "premium",
            "detect",
            "detect_beep",
            "detect_words",
            "greeting_end",
            "disabled",
        ],
        "/answering_machine_detection",
    )?;
    let stream = stream_params(&body, false)?;
    let record_spec = match opt_str(&body, "record", "/record")?.as_deref() {
        None => None,
        Some("record-from-answer") => Some(crate::recordings::RecordSpec {
            format: one_of(
                opt_str(&body, "record_format", "/record_format")?,
                "record_format",
                &["wav", "mp3"],
                "/record_format",
            )?
            .unwrap_or_else(|| "mp3".into()),
            channels: one_of(
                opt_str(&body, "record_channels", "/record_channels")?,
                "record_channels",
                &["single", "dual"],
                "/record_channels",
            )?
            .unwrap_or_else(|| "dual".into()),
            max_length_secs: 0,
            timeout_secs: 0,
        }),
        Some(other) => {
            return Err(invalid(
                format!("The 'record' parameter must be record-from-answer; got {other:?}."),
                "/record",
            ));
        }
    };
    let outcome = sim.callee_outcome(&to);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let id = new_call_control_id();
    let record = CallRecord {
        call_control_id: id.clone(),
        call_leg_id: new_uuid(),
        call_session_id: new_uuid(),
        connection_id: app.id.clone(),
        direction: "outgoing",
        from,
        to: to.clone(),
        state: "bridging",
        answered: false,
        client_state: client_state.clone(),
        webhook_url: webhook_url.unwrap_or(app.webhook_event_url),
        failover_url: app.webhook_event_failover_url,
        start_time: OffsetDateTime::now_utc(),
        end_time: None,
        clock_ms: 0,
        answered_ms: None,
        hangup_cause: None,
        hangup_source: None,
        command_ids: opt_str(&body, "command_id", "/command_id")?
            .into_iter()
            .collect(),
        commands: Some(tx.clone()),
        finished: false,
        transferred_from: None,
        log: CallLog::default(),
        created: std::time::Instant::now(),
    };
    let (leg, session) = (record.call_leg_id.clone(), record.call_session_id.clone());
    let script = {
        let mut state = sim.lock();
        let script = state.calls.take_script(&to);
        state.calls.insert(record);
        script
    };
    tracing::info!(call_control_id = %id, ?outcome, "telnyx simulator: dialing");
    if let Some(spec) = record_spec {
        // Recorded from the answer: the driver starts it when the callee picks up.
        let _ = tx.send(Command {
            client_state: None,
            action: Action::RecordFromAnswer(spec),
        });
    }
    sim.spawn_call(
        id.clone(),
        rx,
        tx,
        script,
        Start::Outgoing {
            outcome,
            timeout_secs,
            stream,
            on_answer: Box::new(OnAnswer {
                amd: amd.map(|mode| (mode, sim.answerer(&to))),
                send_digits,
            }),
        },
        time_limit,
    );
    let mut data = json!({
        "call_control_id": id,
        "call_leg_id": leg,
        "call_session_id": session,
        "is_alive": false,
        "record_type": "call",
    });
    if let Some(state) = client_state {
        data["client_state"] = json!(state);
    }
    Ok(Json(json!({ "data": data })).into_response())
}

/// A `transfer`'s new leg from call `from_id` to `to`: it rings, then its callee (by the
/// simulator's callee outcomes) answers, is busy, does not answer within `timeout_secs`
/// or cannot be reached. Its events carry `target_state` and go where the transferred
/// call's go; it shares the call's `call_session_id`. Once answered it is bridged: the
/// person talks for [`TRANSFER_TALK_MS`] of simulated time and hangs up, which ends the
/// transferred call too. Returns the new leg's `call_control_id`.
pub(crate) fn start_transfer_leg(
    sim: &Simulator,
    from_id: &str,
    to: String,
    from: Option<String>,
    timeout_secs: u64,
    target_state: Option<String>,
) -> Option<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let id = new_call_control_id();
    let outcome = sim.callee_outcome(&to);
    {
        let mut state = sim.lock();
        let original = state.calls.get(from_id)?;
        let record = CallRecord {
            call_control_id: id.clone(),
            call_leg_id: new_uuid(),
            call_session_id: original.call_session_id.clone(),
            connection_id: original.connection_id.clone(),
            direction: "outgoing",
            from: from.unwrap_or_else(|| original.to.clone()),
            to: to.clone(),
            state: "bridging",
            answered: false,
            client_state: target_state,
            webhook_url: original.webhook_url.clone(),
            failover_url: original.failover_url.clone(),
            start_time: OffsetDateTime::now_utc(),
            created: std::time::Instant::now(),
            end_time: None,
            clock_ms: 0,
            answered_ms: None,
            hangup_cause: None,
            hangup_source: None,
            command_ids: Default::default(),
            commands: Some(tx.clone()),
            finished: false,
            transferred_from: Some(from_id.to_string()),
            log: CallLog::default(),
        };
        state.calls.insert(record);
    }
    tracing::info!(call_control_id = %id, transferred_from = %from_id, ?outcome, "telnyx simulator: transfer leg dialing");
    sim.spawn_call(
        id.clone(),
        rx,
        tx,
        telephony_simulator_voice::CallScript::new(),
        Start::Outgoing {
            outcome,
            timeout_secs,
            stream: None,
            on_answer: Box::new(crate::call_driver::OnAnswer {
                amd: None,
                send_digits: None,
            }),
        },
        DEFAULT_TIME_LIMIT_SECS,
    );
    Some(id)
}

/// Simulated milliseconds the person a call was transferred to talks before hanging up.
pub(crate) const TRANSFER_TALK_MS: u64 = 2000;
