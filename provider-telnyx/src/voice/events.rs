//! Call Control webhooks (`call.*`, `streaming.*`) as neutral [`CallEvent`]s.
//!
//! | Telnyx event | neutral event |
//! |---|---|
//! | `call.initiated`, `direction: incoming` | [`CallEvent::Incoming`] (`ringing`) |
//! | `call.initiated`, `direction: outgoing` | [`CallEvent::Status`] `ringing` |
//! | `call.answered` with the gateway's state | [`CallEvent::Resume`] (the plan after `answer`/dial) |
//! | `call.answered` without it | [`CallEvent::Progress`] (`in-progress`: ask what to do) |
//! | `call.speak.ended` / `call.playback.ended` `completed` | [`CallEvent::Resume`] |
//! | `call.gather.ended` `valid` with digits | [`CallEvent::Gather`] (digits) |
//! | `call.gather.ended` `timeout`/`invalid` | [`CallEvent::Resume`] (the gather falls through; its action under [`ACTION_EXTRA`]) |
//! | `call.transcription`, final | [`CallEvent::Gather`] (speech) |
//! | `streaming.stopped` / `streaming.failed` | [`CallEvent::Resume`] (the rest after the stream) |
//! | `call.hangup` | [`CallEvent::Status`], terminal (see [`hangup_status`]) |
//! | a transfer's new leg (state names the transferred call): `call.answered` | [`CallEvent::Transfer`] answered, for the transferred call |
//! | the new leg's `call.hangup` before an answer | [`CallEvent::Transfer`] busy / no-answer / failed / canceled (from [`hangup_status`]) |
//! | the new leg's other events (`call.initiated`, `call.bridged`, its hang-up after talking) | [`WebhookEvent::Other`] |
//! | `call.machine.detection.ended`, `call.machine.greeting.ended` (and the `premium` ones) | [`CallEvent::MachineDetection`] (see [`answered_by`]) |
//! | `call.recording.saved` | [`CallEvent::Recording`]; `then` is the [`CallEvent::Resume`] after a turn recording |
//! | anything else, or an event whose state is not waiting for it | [`WebhookEvent::Other`] |
//!
//! Every call's [`Call::extra`] has `telnyx.event_id` (the event's `data.id`, used to make
//! commands idempotent), `call_leg_id`, `call_session_id` and `connection_id` when sent; a
//! gather result has the gather's action URL under [`ACTION_EXTRA`].

use std::collections::BTreeMap;

use serde_json::Value;
use telephony_core::voice::{
    ACTION_EXTRA, AnsweredBy, Call, CallDirection, CallEvent, CallRecording, CallStatus,
    CallStatusUpdate, MachineDetected, RecordingChannels, SpeechResult, TransferOutcome,
};
use telephony_core::{WebhookError, WebhookEvent, rfc3339};
use time::OffsetDateTime;

use super::plan::{CallState, Wait, encode_plan};

/// `Call::extra` key: the Telnyx event id that led to this event.
pub const EVENT_ID_EXTRA: &str = "telnyx.event_id";
/// `Call::extra` key, `"1"`: a transcription runs for a finished gather and must be
/// stopped before the next step.
pub const TRANSCRIBING_EXTRA: &str = "telnyx.transcribing";
/// `Call::extra` key, `"1"`: a key gather still waits (speech answered first) and must be
/// stopped before the next step.
pub const GATHERING_EXTRA: &str = "telnyx.gathering";

/// The recording resource's base: a stored Telnyx recording's `url` is this plus its id
/// (the API way to fetch it, with the API key).
pub const RECORDINGS_API: &str = "https://api.telnyx.com/v2/recordings";

/// True for the event types this module reads.
pub fn is_call_event(event_type: &str) -> bool {
    event_type.starts_with("call.") || event_type.starts_with("streaming.")
}

fn text<'a>(payload: &'a Value, key: &str) -> Option<&'a str> {
    payload
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A `call.hangup`'s `hangup_cause` as a terminal status. `sip_hangup_cause` refines
/// `unspecified`: a SIP failure code (≥ 400) is `failed`, anything else `completed`.
///
/// ```
/// use telephony_core::voice::CallStatus;
/// use telephony_telnyx::voice::hangup_status;
/// assert_eq!(hangup_status("normal_clearing", None), CallStatus::Completed);
/// assert_eq!(hangup_status("user_busy", Some("486")), CallStatus::Busy);
/// assert_eq!(hangup_status("timeout", None), CallStatus::NoAnswer);
/// assert_eq!(hangup_status("originator_cancel", None), CallStatus::Canceled);
/// assert_eq!(hangup_status("unspecified", Some("503")), CallStatus::Failed);
/// ```
pub fn hangup_status(cause: &str, sip_cause: Option<&str>) -> CallStatus {
    match cause {
        "user_busy" | "call_rejected" => CallStatus::Busy,
        "timeout" | "no_answer" => CallStatus::NoAnswer,
        "originator_cancel" => CallStatus::Canceled,
        "not_found" => CallStatus::Failed,
        "unspecified" => match sip_cause.and_then(|c| c.parse::<u16>().ok()) {
            Some(code) if code >= 400 => CallStatus::Failed,
            _ => CallStatus::Completed,
        },
        // normal_clearing, time_limit, and causes Telnyx may add.
        _ => CallStatus::Completed,
    }
}

/// An answering-machine detection event's `result` in the gateway's terms: the
/// detection's `human`/`machine`/`not_sure` (premium: `human_residence`, `human_business`,
/// `silence`, `fax_detected`), the greeting's `beep_detected`, `ended`/`no_beep_detected`
/// and `not_sure` (the greeting ended, no beep heard). `None`: not a detection event, or a
/// result Telnyx does not document.
///
/// ```
/// use telephony_core::voice::AnsweredBy;
/// use telephony_telnyx::voice::answered_by;
/// assert_eq!(answered_by("call.machine.detection.ended", "not_sure"), Some(AnsweredBy::Unknown));
/// assert_eq!(answered_by("call.machine.greeting.ended", "beep_detected"), Some(AnsweredBy::MachineBeep));
/// assert_eq!(answered_by("call.machine.premium.detection.ended", "fax_detected"), Some(AnsweredBy::Fax));
/// assert_eq!(answered_by("call.machine.detection.ended", "beep_detected"), None);
/// ```
pub fn answered_by(event_type: &str, result: &str) -> Option<AnsweredBy> {
    match event_type {
        "call.machine.detection.ended" | "call.machine.premium.detection.ended" => {
            Some(match result {
                "human" | "human_residence" | "human_business" => AnsweredBy::Human,
                "machine" => AnsweredBy::Machine,
                "fax_detected" => AnsweredBy::Fax,
                "not_sure" | "silence" => AnsweredBy::Unknown,
                _ => return None,
            })
        }
        "call.machine.greeting.ended" | "call.machine.premium.greeting.ended" => {
            Some(match result {
                "beep_detected" => AnsweredBy::MachineBeep,
                "ended" | "no_beep_detected" | "not_sure" => AnsweredBy::MachineNoBeep,
                _ => return None,
            })
        }
        _ => None,
    }
}

fn direction(raw: Option<&str>) -> CallDirection {
    match raw {
        Some("incoming") => CallDirection::Inbound,
        Some("outgoing") => CallDirection::Outbound,
        _ => CallDirection::Unknown,
    }
}

struct Envelope<'a> {
    event_type: &'a str,
    event_id: Option<&'a str>,
    occurred_at: Option<OffsetDateTime>,
    payload: &'a Value,
}

impl Envelope<'_> {
    fn call(&self, status: CallStatus) -> Result<Call, WebhookError> {
        let p = self.payload;
        let id = text(p, "call_control_id")
            .ok_or(WebhookError::MissingField("data.payload.call_control_id"))?;
        let mut call = Call::new(
            id,
            text(p, "from").unwrap_or_default(),
            text(p, "to").unwrap_or_default(),
            direction(text(p, "direction")),
            status,
        );
        let mut extra = BTreeMap::new();
        for key in ["call_leg_id", "call_session_id", "connection_id", "state"] {
            if let Some(v) = text(p, key) {
                extra.insert(key.to_string(), v.to_string());
            }
        }
        extra.insert("event_type".to_string(), self.event_type.to_string());
        if let Some(id) = self.event_id {
            extra.insert(EVENT_ID_EXTRA.to_string(), id.to_string());
        }
        call.extra = extra;
        call.started_at = text(p, "start_time").and_then(|t| rfc3339::parse(t).ok());
        Ok(call)
    }

    /// A `call.recording.saved` as the recording's metadata. The call is
    /// `call_control_id`; the id is `recording_id` (else the event's id); the URL kept is
    /// the recording resource's (the callback's download links expire after 10 minutes
    /// and are never kept: they open the audio without credentials).
    fn recording(
        &self,
        turn: bool,
        received_at: OffsetDateTime,
    ) -> Result<CallRecording, WebhookError> {
        let p = self.payload;
        let call_id = text(p, "call_control_id")
            .ok_or(WebhookError::MissingField("data.payload.call_control_id"))?;
        let id = text(p, "recording_id")
            .or(self.event_id)
            .ok_or(WebhookError::MissingField("data.payload.recording_id"))?;
        let channels = match text(p, "channels") {
            None | Some("single") => RecordingChannels::Single,
            Some("dual") => RecordingChannels::Dual,
            Some(other) => {
                return Err(WebhookError::InvalidField {
                    field: "data.payload.channels",
                    value: other.to_string(),
                });
            }
        };
        let urls = p.get("recording_urls").unwrap_or(&Value::Null);
        let format = if text(urls, "wav").is_some() || text(urls, "mp3").is_none() {
            "wav"
        } else {
            "mp3"
        };
        let started = text(p, "recording_started_at").and_then(|t| rfc3339::parse(t).ok());
        let ended = text(p, "recording_ended_at").and_then(|t| rfc3339::parse(t).ok());
        let mut rec = CallRecording::new(
            id,
            call_id,
            started.or(self.occurred_at).unwrap_or(received_at),
        )
        .channels(channels)
        .format(format)
        .url(format!("{RECORDINGS_API}/{id}"))
        .source(if turn { "turn" } else { "call" });
        if let (Some(s), Some(e)) = (started, ended) {
            rec.duration_secs = u64::try_from((e - s).whole_seconds()).ok();
        }
        for key in ["call_leg_id", "call_session_id", "connection_id"] {
            if let Some(v) = text(p, key) {
                rec.extra.insert(key.to_string(), v.to_string());
            }
        }
        if let Some(e) = self.event_id {
            rec.extra.insert(EVENT_ID_EXTRA.to_string(), e.to_string());
        }
        Ok(rec)
    }

    fn state(&self) -> Option<CallState> {
        text(self.payload, "client_state").and_then(CallState::decode)
    }

    fn other(&self) -> WebhookEvent {
        WebhookEvent::Other {
            event_type: self.event_type.to_string(),
            event_id: self.event_id.map(str::to_string),
        }
    }

    fn resume(&self, state: CallState, status: CallStatus) -> Result<WebhookEvent, WebhookError> {
        let mut call = self.call(status)?;
        if state.t {
            call.extra
                .insert(TRANSCRIBING_EXTRA.to_string(), "1".to_string());
        }
        Ok(WebhookEvent::Call(CallEvent::Resume {
            call,
            plan: encode_plan(&state.p),
        }))
    }
}

/// An event of a transfer's new leg: its answer or its hang-up before one is the
/// transfer's outcome, reported for the call that was transferred (`o` in the state),
/// with the outcome's action URL under [`ACTION_EXTRA`].
fn transfer_leg(ev: &Envelope<'_>, s: &CallState) -> Result<WebhookEvent, WebhookError> {
    let p = ev.payload;
    let outcome = match ev.event_type {
        "call.answered" => TransferOutcome::Answered,
        "call.hangup" => {
            let cause = text(p, "hangup_cause").unwrap_or("unspecified");
            match hangup_status(cause, text(p, "sip_hangup_cause")) {
                CallStatus::Busy => TransferOutcome::Busy,
                CallStatus::NoAnswer => TransferOutcome::NoAnswer,
                CallStatus::Failed => TransferOutcome::Failed,
                CallStatus::Canceled => TransferOutcome::Canceled,
                // The leg ended after it was answered (the people finished talking).
                _ => return Ok(ev.other()),
            }
        }
        _ => return Ok(ev.other()),
    };
    let Some(original) = s.o.as_deref().filter(|o| !o.is_empty()) else {
        return Ok(ev.other());
    };
    let leg = text(p, "call_control_id").map(str::to_string);
    let mut call = Call::new(
        original,
        "",
        "",
        CallDirection::Unknown,
        CallStatus::InProgress,
    );
    if let Some(a) = &s.a {
        call.extra.insert(ACTION_EXTRA.to_string(), a.clone());
    }
    call.extra
        .insert("event_type".to_string(), ev.event_type.to_string());
    if let Some(id) = ev.event_id {
        call.extra
            .insert(EVENT_ID_EXTRA.to_string(), id.to_string());
    }
    if let Some(v) = text(p, "call_session_id") {
        call.extra
            .insert("call_session_id".to_string(), v.to_string());
    }
    Ok(WebhookEvent::Call(CallEvent::Transfer {
        call,
        outcome,
        target_call_id: leg,
    }))
}

/// Parses a verified Call Control event (see the module documentation). `received_at`
/// is the start of a new inbound call. An event made from `call.answered` has
/// [`Call::answered_at`] set (the event's `occurred_at`): the answer is reported by it.
///
/// ```
/// use telephony_core::WebhookEvent;
/// use telephony_core::voice::{CallDirection, CallEvent, CallStatus};
/// use telephony_telnyx::voice::parse_call_event;
///
/// let payload = serde_json::json!({"call_control_id":"v3:abc","from":"+15550005678",
///     "to":"+15550001234","direction":"incoming","state":"parked","client_state":null});
/// let ev = parse_call_event("call.initiated", Some("e1"), None, &payload, time::OffsetDateTime::UNIX_EPOCH)?;
/// let WebhookEvent::Call(CallEvent::Incoming(call)) = ev else { panic!() };
/// assert_eq!((call.call_id.as_str(), call.direction, call.status), ("v3:abc", CallDirection::Inbound, CallStatus::Ringing));
/// # Ok::<(), telephony_core::WebhookError>(())
/// ```
pub fn parse_call_event(
    event_type: &str,
    event_id: Option<&str>,
    occurred_at: Option<&str>,
    payload: &Value,
    received_at: OffsetDateTime,
) -> Result<WebhookEvent, WebhookError> {
    if !payload.is_object() {
        return Err(WebhookError::MissingField("data.payload"));
    }
    let ev = Envelope {
        event_type,
        event_id,
        occurred_at: occurred_at.and_then(|t| rfc3339::parse(t).ok()),
        payload,
    };
    let state = ev.state();
    if let Some(s) = state.as_ref().filter(|s| s.w == Wait::Transfer) {
        return transfer_leg(&ev, s);
    }
    let waiting = |w: Wait| state.as_ref().filter(|s| s.w == w).cloned();
    let status_field = text(payload, "status");
    Ok(match event_type {
        "call.initiated" => match text(payload, "direction") {
            Some("incoming") => {
                let mut call = ev.call(CallStatus::Ringing)?;
                call.started_at = call.started_at.or(Some(received_at));
                WebhookEvent::Call(CallEvent::Incoming(call))
            }
            _ => {
                let call = ev.call(CallStatus::Ringing)?;
                let mut update = CallStatusUpdate::new(call.call_id, CallStatus::Ringing);
                update.timestamp = ev.occurred_at;
                update.extra = call.extra;
                WebhookEvent::Call(CallEvent::Status(update))
            }
        },
        "call.answered" => {
            // The answer is reported by this event itself: `answered_at` says so.
            let answered_at = ev.occurred_at.or(Some(received_at));
            match waiting(Wait::Answer) {
                Some(s) => match ev.resume(s, CallStatus::InProgress)? {
                    WebhookEvent::Call(CallEvent::Resume { mut call, plan }) => {
                        call.answered_at = answered_at;
                        WebhookEvent::Call(CallEvent::Resume { call, plan })
                    }
                    other => other,
                },
                None => {
                    let mut call = ev.call(CallStatus::InProgress)?;
                    call.answered_at = answered_at;
                    WebhookEvent::Call(CallEvent::Progress(call))
                }
            }
        }
        "call.speak.ended" | "call.playback.ended" => {
            let wait = if event_type == "call.speak.ended" {
                Wait::Speak
            } else {
                Wait::Play
            };
            match (waiting(wait), status_field) {
                (Some(s), Some("completed") | None) => ev.resume(s, CallStatus::InProgress)?,
                _ => ev.other(),
            }
        }
        "call.gather.ended" if waiting(Wait::Pause).is_some() => {
            match (waiting(Wait::Pause), status_field) {
                // A pause is over when its gather ends, however it ended (a key press
                // cuts it short).
                (Some(s), Some("valid" | "timeout" | "invalid") | None) => {
                    ev.resume(s, CallStatus::InProgress)?
                }
                _ => ev.other(),
            }
        }
        "call.gather.ended" => match (waiting(Wait::Gather), status_field) {
            (Some(s), Some("valid")) if text(payload, "digits").is_some() => {
                let mut call = ev.call(CallStatus::InProgress)?;
                if let Some(a) = &s.a {
                    call.extra.insert(ACTION_EXTRA.to_string(), a.clone());
                }
                if s.t {
                    call.extra
                        .insert(TRANSCRIBING_EXTRA.to_string(), "1".to_string());
                }
                WebhookEvent::Call(CallEvent::Gather {
                    call,
                    speech: None,
                    digits: text(payload, "digits").map(str::to_string),
                })
            }
            (Some(s), Some("valid" | "timeout" | "invalid")) => {
                // The gather falls through; its action says which gather it was, so a
                // gateway that already has its answer (a final transcription came first)
                // can tell this is late.
                let action = s.a.clone();
                match ev.resume(s, CallStatus::InProgress)? {
                    WebhookEvent::Call(CallEvent::Resume { mut call, plan }) => {
                        if let Some(a) = action {
                            call.extra.insert(ACTION_EXTRA.to_string(), a);
                        }
                        WebhookEvent::Call(CallEvent::Resume { call, plan })
                    }
                    other => other,
                }
            }
            _ => ev.other(),
        },
        "call.transcription" => {
            let data = payload.get("transcription_data").unwrap_or(&Value::Null);
            let transcript = text(data, "transcript").map(str::trim).unwrap_or_default();
            let is_final = data
                .get("is_final")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            match waiting(Wait::Gather) {
                Some(s) if is_final && !transcript.is_empty() => {
                    let confidence = match data.get("confidence") {
                        None | Some(Value::Null) => None,
                        Some(v) => Some(v.as_f64().filter(|c| (0.0..=1.0).contains(c)).ok_or(
                            WebhookError::InvalidField {
                                field: "data.payload.transcription_data.confidence",
                                value: v.to_string(),
                            },
                        )? as f32),
                    };
                    let mut call = ev.call(CallStatus::InProgress)?;
                    if let Some(a) = &s.a {
                        call.extra.insert(ACTION_EXTRA.to_string(), a.clone());
                    }
                    call.extra
                        .insert(TRANSCRIBING_EXTRA.to_string(), "1".to_string());
                    call.extra
                        .insert(GATHERING_EXTRA.to_string(), "1".to_string());
                    WebhookEvent::Call(CallEvent::Gather {
                        call,
                        speech: Some(SpeechResult::new(transcript, confidence)),
                        digits: None,
                    })
                }
                _ => ev.other(),
            }
        }
        "streaming.stopped" | "streaming.failed" => match waiting(Wait::Stream) {
            Some(s) => {
                if event_type == "streaming.failed" {
                    tracing::warn!(
                        reason = text(payload, "failure_reason").unwrap_or("not given"),
                        "Telnyx could not stream the call's audio; going on with the rest of the answer"
                    );
                }
                ev.resume(s, CallStatus::InProgress)?
            }
            None => ev.other(),
        },
        "call.hangup" => {
            let cause = text(payload, "hangup_cause").unwrap_or("unspecified");
            let sip = text(payload, "sip_hangup_cause");
            let call = ev.call(hangup_status(cause, sip))?;
            let mut update = CallStatusUpdate::new(call.call_id.clone(), call.status);
            update.timestamp = ev.occurred_at;
            let end = text(payload, "end_time").and_then(|t| rfc3339::parse(t).ok());
            if let (Some(start), Some(end)) = (call.started_at, end.or(ev.occurred_at)) {
                update.duration_secs = u64::try_from((end - start).whole_seconds()).ok();
            }
            update.extra = call.extra;
            for key in ["hangup_cause", "hangup_source", "sip_hangup_cause"] {
                if let Some(v) = text(payload, key) {
                    update.extra.insert(key.to_string(), v.to_string());
                }
            }
            WebhookEvent::Call(CallEvent::Status(update))
        }
        "call.machine.detection.ended"
        | "call.machine.greeting.ended"
        | "call.machine.premium.detection.ended"
        | "call.machine.premium.greeting.ended" => {
            let call = ev.call(CallStatus::InProgress)?;
            let raw =
                text(payload, "result").ok_or(WebhookError::MissingField("data.payload.result"))?;
            let answered =
                answered_by(event_type, raw).ok_or_else(|| WebhookError::InvalidField {
                    field: "data.payload.result",
                    value: raw.to_string(),
                })?;
            let mut d = MachineDetected::new(call.call_id, answered).raw(raw);
            d.timestamp = ev.occurred_at;
            WebhookEvent::Call(CallEvent::MachineDetection(d))
        }
        "call.recording.saved" => {
            let recording = ev.recording(waiting(Wait::Record).is_some(), received_at)?;
            let then = match waiting(Wait::Record) {
                Some(s) => match ev.resume(s, CallStatus::InProgress)? {
                    WebhookEvent::Call(resume) => Some(Box::new(resume)),
                    _ => None,
                },
                None => None,
            };
            WebhookEvent::Call(CallEvent::Recording { recording, then })
        }
        _ => ev.other(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::super::plan::Step;
    use super::*;
    use serde_json::json;

    fn parse(event_type: &str, payload: Value) -> WebhookEvent {
        parse_call_event(
            event_type,
            Some("ev-1"),
            Some("2026-12-07T10:00:05.000000Z"),
            &payload,
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap()
    }

    #[test]
    fn recording_saved() {
        let turn = state(Wait::Record, &[Step::Hangup]);
        let ev = parse(
            "call.recording.saved",
            json!({"call_control_id":"v3:a","call_leg_id":"leg1","recording_id":"rec-1",
                "channels":"single","client_state":turn,
                "recording_started_at":"2026-12-07T10:00:00Z","recording_ended_at":"2026-12-07T10:00:09Z",
                "recording_urls":{"mp3":null,"wav":"https://s3.example/rec-1.wav?sig=x"}}),
        );
        let WebhookEvent::Call(CallEvent::Recording { recording, then }) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (recording.recording_id.as_str(), recording.call_id.as_str()),
            ("rec-1", "v3:a")
        );
        assert_eq!(recording.duration_secs, Some(9));
        assert_eq!(recording.format, "wav");
        assert_eq!(recording.source.as_deref(), Some("turn"));
        assert_eq!(
            recording.url.as_deref(),
            Some("https://api.telnyx.com/v2/recordings/rec-1")
        );
        assert!(!recording.extra.values().any(|v| v.contains("sig=")));
        let Some(then) = then else { panic!() };
        let CallEvent::Resume { plan, .. } = *then else {
            panic!()
        };
        assert_eq!(plan, r#"[{"k":"hangup"}]"#);

        // A whole-call recording (no turn waiting): nothing to resume.
        let ev = parse(
            "call.recording.saved",
            json!({"call_control_id":"v3:a","recording_id":"rec-2","channels":"dual"}),
        );
        let WebhookEvent::Call(CallEvent::Recording {
            recording,
            then: None,
        }) = ev
        else {
            panic!("{ev:?}")
        };
        assert_eq!(recording.channels, RecordingChannels::Dual);
        assert_eq!(recording.source.as_deref(), Some("call"));
        assert_eq!(
            recording.created_at,
            rfc3339::parse("2026-12-07T10:00:05Z").unwrap()
        );

        let bad = parse_call_event(
            "call.recording.saved",
            Some("ev-1"),
            None,
            &json!({"call_control_id":"v3:a","channels":"quad"}),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(
            bad,
            Err(WebhookError::InvalidField {
                field: "data.payload.channels",
                value: "quad".into()
            })
        );
        let missing = parse_call_event(
            "call.recording.saved",
            Some("ev-1"),
            None,
            &json!({"recording_id":"rec-3"}),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(
            missing,
            Err(WebhookError::MissingField("data.payload.call_control_id"))
        );
    }

    fn state(w: Wait, rest: &[Step]) -> String {
        let mut s = CallState::new(w, &rest.iter().cloned().collect::<VecDeque<_>>());
        s.a = Some("https://gw/v?call=v3:a&turn=1".into());
        s.t = w == Wait::Gather;
        s.encode()
    }

    #[test]
    fn hangup_is_a_terminal_status_with_its_cause_and_duration() {
        let ev = parse(
            "call.hangup",
            json!({"call_control_id":"v3:a","hangup_cause":"user_busy","hangup_source":"callee",
                   "sip_hangup_cause":"486","start_time":"2026-12-07T10:00:00Z",
                   "end_time":"2026-12-07T10:00:03Z"}),
        );
        let WebhookEvent::Call(CallEvent::Status(u)) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!((u.call_id.as_str(), u.status), ("v3:a", CallStatus::Busy));
        assert_eq!(u.duration_secs, Some(3));
        assert_eq!(u.extra["hangup_source"], "callee");
        assert_eq!(u.extra[EVENT_ID_EXTRA], "ev-1");
    }

    #[test]
    fn a_speak_ending_resumes_the_plan_only_when_the_state_waits_for_it() {
        let cs = state(Wait::Speak, &[Step::Hangup]);
        let ev = parse(
            "call.speak.ended",
            json!({"call_control_id":"v3:a","status":"completed","client_state":cs}),
        );
        let WebhookEvent::Call(CallEvent::Resume { call, plan }) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (call.call_id.as_str(), plan.as_str()),
            ("v3:a", r#"[{"k":"hangup"}]"#)
        );
        // Cut short by a hangup, or someone else's state: nothing to do.
        for payload in [
            json!({"call_control_id":"v3:a","status":"call_hangup","client_state":cs}),
            json!({"call_control_id":"v3:a","status":"completed","client_state":"aGk="}),
        ] {
            assert!(matches!(
                parse("call.speak.ended", payload),
                WebhookEvent::Other { .. }
            ));
        }
    }

    #[test]
    fn gather_results_carry_the_action_url() {
        let cs = state(Wait::Gather, &[Step::Hangup]);
        let ev = parse(
            "call.transcription",
            json!({"call_control_id":"v3:a","client_state":cs,
                   "transcription_data":{"transcript":" yes please ","confidence":0.93,"is_final":true}}),
        );
        let WebhookEvent::Call(CallEvent::Gather {
            call,
            speech,
            digits,
        }) = ev
        else {
            panic!("{ev:?}")
        };
        assert_eq!(call.extra[ACTION_EXTRA], "https://gw/v?call=v3:a&turn=1");
        assert_eq!(call.extra[TRANSCRIBING_EXTRA], "1");
        assert_eq!(speech, Some(SpeechResult::new("yes please", Some(0.93))));
        assert_eq!(digits, None);
        let interim = parse(
            "call.transcription",
            json!({"call_control_id":"v3:a","client_state":cs,
                   "transcription_data":{"transcript":"yes","is_final":false}}),
        );
        assert!(matches!(interim, WebhookEvent::Other { .. }));
        let keys = parse(
            "call.gather.ended",
            json!({"call_control_id":"v3:a","client_state":cs,"status":"valid","digits":"42"}),
        );
        let WebhookEvent::Call(CallEvent::Gather { digits, .. }) = keys else {
            panic!("{keys:?}")
        };
        assert_eq!(digits.as_deref(), Some("42"));
        let silence = parse(
            "call.gather.ended",
            json!({"call_control_id":"v3:a","client_state":cs,"status":"timeout"}),
        );
        let WebhookEvent::Call(CallEvent::Resume { call, plan }) = silence else {
            panic!("{silence:?}")
        };
        assert_eq!(plan, r#"[{"k":"hangup"}]"#);
        assert_eq!(call.extra[TRANSCRIBING_EXTRA], "1");
        let bad = parse_call_event(
            "call.transcription",
            None,
            None,
            &json!({"call_control_id":"v3:a","client_state":cs,
                    "transcription_data":{"transcript":"x","confidence":"high"}}),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert!(
            matches!(bad, Err(WebhookError::InvalidField { .. })),
            "{bad:?}"
        );
    }

    #[test]
    fn answered_calls_resume_or_ask() {
        let cs = state(Wait::Answer, &[Step::Hangup]);
        let ev = parse(
            "call.answered",
            json!({"call_control_id":"v3:a","client_state":cs,"direction":"outgoing"}),
        );
        assert!(
            matches!(ev, WebhookEvent::Call(CallEvent::Resume { .. })),
            "{ev:?}"
        );
        let ev = parse(
            "call.answered",
            json!({"call_control_id":"v3:a","client_state":null,"direction":"outgoing"}),
        );
        let WebhookEvent::Call(CallEvent::Progress(call)) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (call.status, call.direction),
            (CallStatus::InProgress, CallDirection::Outbound)
        );
        let missing = parse_call_event(
            "call.answered",
            None,
            None,
            &json!({"from":"+1"}),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(
            missing.unwrap_err(),
            WebhookError::MissingField("data.payload.call_control_id")
        );
    }
}
