//! Parsing Twilio voice webhooks (already decoded form parameters) into [`CallEvent`]s.
//!
//! Four kinds of request carry `CallSid` and no message SID (PROTOCOL §2.3, §2.4):
//!
//! - an **asynchronous answering-machine detection** result (`AsyncAmdStatusCallback`):
//!   `AnsweredBy` without `CallStatus` (Twilio sends `CallSid`, `AccountSid`,
//!   `AnsweredBy`, `MachineDetectionDuration`) ⇒ [`CallEvent::MachineDetection`];
//! - a **status callback** (`StatusCallback` on a call): recognised by `CallbackSource`,
//!   `SequenceNumber` or `CallDuration`, or by a terminal `CallStatus` (Twilio never asks
//!   an ended call for TwiML) ⇒ [`CallEvent::Status`];
//! - a **gather result** (POST to a `<Gather action>`): `SpeechResult` and/or `Digits`,
//!   without `RecordingUrl` (a `<Record>` action also sends `Digits`) ⇒
//!   [`CallEvent::Gather`];
//! - otherwise a request for TwiML: a new call (`CallStatus` `ringing` or `queued`) ⇒
//!   [`CallEvent::Incoming`], any other (an answered outbound call, a redirect, a record
//!   action) ⇒ [`CallEvent::Progress`];
//! - a **dial action** (`DialCallStatus`, the `<Dial action>` request) ⇒
//!   [`CallEvent::Transfer`] (`completed`/`answered` → answered, `busy`, `no-answer`,
//!   `failed`, `canceled`; anything else is an invalid field).
//!
//! Required: `CallSid` and `CallStatus` always; `From` on everything but status
//! callbacks. Twilio's `initiated` callback status is read as [`CallStatus::Queued`] (the
//! call exists, nothing rang yet) and its raw value kept in `extra`. Unknown parameters
//! never cause errors: they are kept in `extra`.

use std::collections::BTreeMap;

use telephony_core::voice::{
    AnsweredBy, Call, CallDirection, CallEvent, CallRecording, CallStatus, CallStatusUpdate,
    MachineDetected, RecordingChannels, SpeechResult, TransferOutcome,
};
use telephony_core::{WebhookError, WebhookEvent};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::webhook::Params;

/// Parses one voice webhook (see the module documentation for the rules).
///
/// ```
/// use telephony_core::voice::{CallEvent, CallStatus};
/// use telephony_twilio::webhook::decode_form;
/// use telephony_twilio::voice_webhook::parse_call_event;
///
/// let params = decode_form(b"CallSid=CA1&From=%2B15550005678&To=%2B15550001234&CallStatus=in-progress&SpeechResult=yes+please&Confidence=0.92").unwrap();
/// let CallEvent::Gather { call, speech, digits } = parse_call_event(&params, time::OffsetDateTime::UNIX_EPOCH)? else { panic!() };
/// assert_eq!((call.call_id.as_str(), call.status), ("CA1", CallStatus::InProgress));
/// let speech = speech.unwrap();
/// assert_eq!((speech.text.as_str(), speech.confidence), ("yes please", Some(0.92)));
/// assert_eq!(digits, None);
/// # Ok::<(), telephony_core::WebhookError>(())
/// ```
pub fn parse_call_event(
    params: &[(String, String)],
    received_at: OffsetDateTime,
) -> Result<CallEvent, WebhookError> {
    let p = Params { params };
    let call_id = p
        .non_empty("CallSid")
        .ok_or(WebhookError::MissingField("CallSid"))?;
    if p.has("AnsweredBy") && !p.has("CallStatus") {
        return parse_machine_detection(&p, call_id).map(CallEvent::MachineDetection);
    }
    let raw_status = p
        .non_empty("CallStatus")
        .ok_or(WebhookError::MissingField("CallStatus"))?;
    let status = parse_call_status(raw_status).ok_or_else(|| WebhookError::InvalidField {
        field: "CallStatus",
        value: raw_status.to_string(),
    })?;
    // `initiated` is not a call status of ours: keep what Twilio said.
    let mut consumed = vec!["CallSid", "AccountSid"];
    if raw_status != "initiated" {
        consumed.push("CallStatus");
    }

    // A `<Dial action>` request: how the transfer went (even when the caller has hung
    // up meanwhile, `CallStatus=completed`).
    if let Some(raw) = p.non_empty("DialCallStatus") {
        let outcome =
            TransferOutcome::from_dial_status(raw).ok_or_else(|| WebhookError::InvalidField {
                field: "DialCallStatus",
                value: raw.to_string(),
            })?;
        let target_call_id = p.non_empty("DialCallSid").map(str::to_string);
        consumed.extend(["DialCallStatus", "DialCallSid"]);
        let call = parse_call(&p, call_id, status, consumed, None)?;
        return Ok(CallEvent::Transfer {
            call,
            outcome,
            target_call_id,
        });
    }

    let is_status_callback = ["CallbackSource", "SequenceNumber", "CallDuration"]
        .iter()
        .any(|k| p.has(k))
        || status.is_terminal();
    if is_status_callback {
        return parse_status(&p, call_id, status, consumed).map(CallEvent::Status);
    }

    let speech_text = p.non_empty("SpeechResult");
    let digits = p.non_empty("Digits");
    let is_gather = (p.has("SpeechResult") || p.has("Digits")) && !p.has("RecordingUrl");
    if is_gather {
        let confidence = match p.non_empty("Confidence") {
            None => None,
            Some(raw) => Some(
                parse_confidence(raw).ok_or_else(|| WebhookError::InvalidField {
                    field: "Confidence",
                    value: raw.to_string(),
                })?,
            ),
        };
        consumed.extend(["SpeechResult", "Confidence", "Digits"]);
        let call = parse_call(&p, call_id, status, consumed, None)?;
        return Ok(CallEvent::Gather {
            call,
            speech: speech_text.map(|text| SpeechResult::new(text, confidence)),
            digits: digits.map(str::to_string),
        });
    }

    if matches!(status, CallStatus::Ringing | CallStatus::Queued) {
        let call = parse_call(&p, call_id, status, consumed, Some(received_at))?;
        Ok(CallEvent::Incoming(call))
    } else {
        let call = parse_call(&p, call_id, status, consumed, None)?;
        Ok(CallEvent::Progress(call))
    }
}

/// Twilio's `AnsweredBy` in the gateway's terms: `machine_start` is a machine whose
/// greeting was not waited for, `machine_end_beep` one that beeped,
/// `machine_end_silence`/`machine_end_other` one whose greeting ended otherwise.
///
/// ```
/// use telephony_core::voice::AnsweredBy;
/// use telephony_twilio::voice_webhook::parse_answered_by;
/// assert_eq!(parse_answered_by("machine_end_beep"), Some(AnsweredBy::MachineBeep));
/// assert_eq!(parse_answered_by("machine_end_other"), Some(AnsweredBy::MachineNoBeep));
/// assert_eq!(parse_answered_by("robot"), None);
/// ```
pub fn parse_answered_by(s: &str) -> Option<AnsweredBy> {
    Some(match s {
        "human" => AnsweredBy::Human,
        "machine_start" => AnsweredBy::Machine,
        "machine_end_beep" => AnsweredBy::MachineBeep,
        "machine_end_silence" | "machine_end_other" => AnsweredBy::MachineNoBeep,
        "fax" => AnsweredBy::Fax,
        "unknown" => AnsweredBy::Unknown,
        _ => return None,
    })
}

fn parse_machine_detection(p: &Params<'_>, call_id: &str) -> Result<MachineDetected, WebhookError> {
    let raw = p.get("AnsweredBy").unwrap_or_default();
    let answered_by = parse_answered_by(raw).ok_or_else(|| WebhookError::InvalidField {
        field: "AnsweredBy",
        value: raw.to_string(),
    })?;
    let mut d = MachineDetected::new(call_id, answered_by).raw(raw);
    if let Some(ms) = p.non_empty("MachineDetectionDuration") {
        d.duration_ms = Some(ms.trim().parse().map_err(|_| WebhookError::InvalidField {
            field: "MachineDetectionDuration",
            value: ms.to_string(),
        })?);
    }
    d.account = p.non_empty("AccountSid").map(str::to_string);
    Ok(d)
}

/// A recording status callback (`RecordingStatusCallback` on a call, `<Record>` or
/// `<Start><Recording>`): recognised by `RecordingStatus`. A `completed` recording is
/// [`CallEvent::Recording`]; any other status (`in-progress`, `absent`, `failed`) is a
/// verified event the gateway only acknowledges ([`WebhookEvent::Other`] named
/// `recording.<status>`).
///
/// Required: `CallSid`, `RecordingSid`. `RecordingDuration` (seconds) must be a number
/// when present; `RecordingChannels` `1` or `2` (default 1); `RecordingStartTime` (RFC
/// 2822) is the recording's time, else the arrival. `RecordingSource` `RecordVerb` is a
/// turn recording (`source` `turn`), anything else the whole call (`call`); the raw value
/// and every other parameter stay in `extra`. Media is fetched as WAV.
///
/// ```
/// use telephony_core::WebhookEvent;
/// use telephony_core::voice::{CallEvent, RecordingChannels};
/// use telephony_twilio::webhook::decode_form;
/// use telephony_twilio::voice_webhook::parse_recording_callback;
///
/// let params = decode_form(b"AccountSid=AC1&CallSid=CA1&RecordingSid=RE1&RecordingStatus=completed&RecordingDuration=7&RecordingChannels=2&RecordingSource=OutboundAPI&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FRecordings%2FRE1").unwrap();
/// let WebhookEvent::Call(CallEvent::Recording { recording, then: None }) =
///     parse_recording_callback(&params, time::OffsetDateTime::UNIX_EPOCH)? else { panic!() };
/// assert_eq!((recording.recording_id.as_str(), recording.call_id.as_str()), ("RE1", "CA1"));
/// assert_eq!((recording.duration_secs, recording.channels), (Some(7), RecordingChannels::Dual));
/// assert_eq!((recording.format.as_str(), recording.source.as_deref()), ("wav", Some("call")));
/// assert_eq!(recording.url.as_deref(), Some("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"));
/// # Ok::<(), telephony_core::WebhookError>(())
/// ```
pub fn parse_recording_callback(
    params: &[(String, String)],
    received_at: OffsetDateTime,
) -> Result<WebhookEvent, WebhookError> {
    let p = Params { params };
    let call_id = p
        .non_empty("CallSid")
        .ok_or(WebhookError::MissingField("CallSid"))?;
    let recording_id = p
        .non_empty("RecordingSid")
        .ok_or(WebhookError::MissingField("RecordingSid"))?;
    let status = p.get("RecordingStatus").unwrap_or_default();
    if status != "completed" {
        return Ok(WebhookEvent::Other {
            event_type: format!("recording.{status}"),
            event_id: Some(recording_id.to_string()),
        });
    }
    let duration = parse_number::<u64>(&p, "RecordingDuration")?;
    let channels = match p.non_empty("RecordingChannels") {
        None | Some("1") => RecordingChannels::Single,
        Some("2") => RecordingChannels::Dual,
        Some(other) => {
            return Err(WebhookError::InvalidField {
                field: "RecordingChannels",
                value: other.to_string(),
            });
        }
    };
    let started = p
        .non_empty("RecordingStartTime")
        .and_then(|t| OffsetDateTime::parse(t.trim(), &Rfc2822).ok());
    let source = match p.get("RecordingSource") {
        Some("RecordVerb") => "turn",
        _ => "call",
    };
    let mut rec = CallRecording::new(recording_id, call_id, started.unwrap_or(received_at))
        .channels(channels)
        .format("wav")
        .source(source);
    rec.duration_secs = duration;
    rec.url = p.non_empty("RecordingUrl").map(str::to_string);
    let mut consumed = vec![
        "CallSid",
        "RecordingSid",
        "RecordingStatus",
        "RecordingDuration",
        "RecordingChannels",
        "RecordingUrl",
    ];
    if started.is_some() {
        consumed.push("RecordingStartTime");
    }
    rec.extra = extra(&p, &consumed);
    Ok(WebhookEvent::Call(CallEvent::Recording {
        recording: rec,
        then: None,
    }))
}

/// Twilio's call status name (`call_enum_status`, plus the callback-only `initiated`,
/// read as `queued`).
///
/// ```
/// use telephony_core::voice::CallStatus;
/// use telephony_twilio::voice_webhook::parse_call_status;
/// assert_eq!(parse_call_status("no-answer"), Some(CallStatus::NoAnswer));
/// assert_eq!(parse_call_status("initiated"), Some(CallStatus::Queued));
/// assert_eq!(parse_call_status("answered"), None);
/// ```
pub fn parse_call_status(s: &str) -> Option<CallStatus> {
    match s {
        "initiated" => Some(CallStatus::Queued),
        other => other.parse().ok(),
    }
}

/// 0.0–1.0, finite.
fn parse_confidence(raw: &str) -> Option<f32> {
    raw.trim()
        .parse::<f32>()
        .ok()
        .filter(|c| c.is_finite() && (0.0..=1.0).contains(c))
}

/// The call parameters common to every request for TwiML.
fn parse_call(
    p: &Params<'_>,
    call_id: &str,
    status: CallStatus,
    mut consumed: Vec<&'static str>,
    started_at: Option<OffsetDateTime>,
) -> Result<Call, WebhookError> {
    let from = p
        .non_empty("From")
        .ok_or(WebhookError::MissingField("From"))?;
    consumed.extend(["From", "To"]);
    let direction = match p.get("Direction") {
        Some("inbound") => CallDirection::Inbound,
        Some("outbound-api") => CallDirection::Outbound,
        Some("outbound-dial") => CallDirection::Dialed,
        // Kept in `extra` (trunking-*, or something new).
        _ => CallDirection::Unknown,
    };
    if direction != CallDirection::Unknown {
        consumed.push("Direction");
    }
    let mut call = Call::new(
        call_id,
        from,
        p.get("To").unwrap_or_default(),
        direction,
        status,
    );
    call.account = p.non_empty("AccountSid").map(str::to_string);
    call.started_at = started_at;
    call.extra = extra(p, &consumed);
    Ok(call)
}

/// A status callback (§2.4).
fn parse_status(
    p: &Params<'_>,
    call_id: &str,
    status: CallStatus,
    mut consumed: Vec<&'static str>,
) -> Result<CallStatusUpdate, WebhookError> {
    let duration_secs = parse_number::<u64>(p, "CallDuration")?;
    let sequence = parse_number::<u32>(p, "SequenceNumber")?;
    consumed.extend(["CallDuration", "SequenceNumber"]);
    // Informational: an odd timestamp stays in `extra` rather than refuse the callback.
    let timestamp = p
        .non_empty("Timestamp")
        .and_then(|t| OffsetDateTime::parse(t.trim(), &Rfc2822).ok());
    if timestamp.is_some() || p.get("Timestamp") == Some("") {
        consumed.push("Timestamp");
    }
    let mut update = CallStatusUpdate::new(call_id, status);
    update.duration_secs = duration_secs;
    update.sequence = sequence;
    update.timestamp = timestamp;
    update.account = p.non_empty("AccountSid").map(str::to_string);
    update.extra = extra(p, &consumed);
    Ok(update)
}

/// An optional non-negative integer: empty or absent is `None`, anything else that is not
/// a number is [`WebhookError::InvalidField`].
fn parse_number<T: std::str::FromStr>(
    p: &Params<'_>,
    field: &'static str,
) -> Result<Option<T>, WebhookError> {
    match p.non_empty(field) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|_| WebhookError::InvalidField {
                field,
                value: raw.to_string(),
            }),
    }
}

/// Every parameter not in `consumed` (first value when a name repeats).
fn extra(p: &Params<'_>, consumed: &[&str]) -> BTreeMap<String, String> {
    let mut extra = BTreeMap::new();
    for (k, v) in p.params {
        if !consumed.contains(&k.as_str()) && !extra.contains_key(k) {
            extra.insert(k.clone(), v.clone());
        }
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[(&str, &str)]) -> Result<CallEvent, WebhookError> {
        let pairs: Vec<(String, String)> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_call_event(&pairs, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn confidence_bounds() {
        assert_eq!(parse_confidence("0"), Some(0.0));
        assert_eq!(parse_confidence("1.0"), Some(1.0));
        for bad in ["1.01", "-0.1", "NaN", "inf", "high", "0,9"] {
            assert_eq!(parse_confidence(bad), None, "{bad}");
        }
    }

    #[test]
    fn initiated_is_queued_and_kept_in_extra() {
        let CallEvent::Status(s) = parse(&[
            ("CallSid", "CA1"),
            ("CallStatus", "initiated"),
            ("SequenceNumber", "0"),
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.status, CallStatus::Queued);
        assert_eq!(s.sequence, Some(0));
        assert_eq!(s.extra["CallStatus"], "initiated");
    }

    #[test]
    fn terminal_status_without_callback_fields_is_a_status() {
        let ev = parse(&[("CallSid", "CA1"), ("CallStatus", "busy")]).unwrap();
        assert!(ev.is_hangup(), "{ev:?}");
    }

    #[test]
    fn record_action_is_progress_not_gather() {
        let ev = parse(&[
            ("CallSid", "CA1"),
            ("From", "+1"),
            ("CallStatus", "in-progress"),
            ("Digits", "hangup"),
            ("RecordingUrl", "https://r"),
        ])
        .unwrap();
        let CallEvent::Progress(call) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(call.extra["Digits"], "hangup");
        assert_eq!(call.extra["RecordingUrl"], "https://r");
    }

    #[test]
    fn odd_timestamp_stays_in_extra() {
        let CallEvent::Status(s) = parse(&[
            ("CallSid", "CA1"),
            ("CallStatus", "ringing"),
            ("CallbackSource", "call-progress-events"),
            ("Timestamp", "yesterday"),
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.timestamp, None);
        assert_eq!(s.extra["Timestamp"], "yesterday");
    }

    #[test]
    fn recording_callbacks() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let absent = parse_recording_callback(
            &pairs(&[
                ("CallSid", "CA1"),
                ("RecordingSid", "RE1"),
                ("RecordingStatus", "absent"),
                ("ErrorCode", "16102"),
            ]),
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(
            absent,
            WebhookEvent::Other {
                event_type: "recording.absent".into(),
                event_id: Some("RE1".into())
            }
        );
        let missing = parse_recording_callback(
            &pairs(&[("CallSid", "CA1"), ("RecordingStatus", "completed")]),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(missing, Err(WebhookError::MissingField("RecordingSid")));
        let bad = parse_recording_callback(
            &pairs(&[
                ("CallSid", "CA1"),
                ("RecordingSid", "RE1"),
                ("RecordingStatus", "completed"),
                ("RecordingChannels", "3"),
            ]),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(
            bad,
            Err(WebhookError::InvalidField {
                field: "RecordingChannels",
                value: "3".into()
            })
        );
        let Ok(WebhookEvent::Call(CallEvent::Recording { recording, .. })) =
            parse_recording_callback(
                &pairs(&[
                    ("CallSid", "CA1"),
                    ("RecordingSid", "RE1"),
                    ("RecordingStatus", "completed"),
                    ("RecordingSource", "RecordVerb"),
                    ("RecordingStartTime", "Mon, 07 Dec 2026 10:00:00 +0000"),
                ]),
                OffsetDateTime::UNIX_EPOCH,
            )
        else {
            panic!()
        };
        assert_eq!(recording.source.as_deref(), Some("turn"));
        assert_eq!(recording.created_at.unix_timestamp(), 1_796_637_600);
        assert_eq!(recording.extra["RecordingSource"], "RecordVerb");
    }

    #[test]
    fn missing_fields() {
        assert_eq!(
            parse(&[("CallSid", "CA1")]).unwrap_err(),
            WebhookError::MissingField("CallStatus")
        );
        assert_eq!(
            parse(&[("CallSid", "CA1"), ("CallStatus", "ringing")]).unwrap_err(),
            WebhookError::MissingField("From")
        );
        assert_eq!(
            parse(&[("CallSid", ""), ("CallStatus", "ringing")]).unwrap_err(),
            WebhookError::MissingField("CallSid")
        );
    }

    #[test]
    fn dial_action_is_a_transfer_outcome() {
        let ev = parse(&[
            ("CallSid", "CA1"),
            ("From", "+15550005678"),
            ("CallStatus", "in-progress"),
            ("DialCallStatus", "no-answer"),
            ("DialCallSid", "CA2"),
            ("DialCallDuration", "0"),
        ])
        .unwrap();
        let CallEvent::Transfer {
            call,
            outcome,
            target_call_id,
        } = ev
        else {
            panic!("{ev:?}")
        };
        assert_eq!(outcome, TransferOutcome::NoAnswer);
        assert_eq!(target_call_id.as_deref(), Some("CA2"));
        assert_eq!(call.extra["DialCallDuration"], "0");
        assert_eq!(
            parse(&[
                ("CallSid", "CA1"),
                ("From", "+1"),
                ("CallStatus", "in-progress"),
                ("DialCallStatus", "ringing"),
            ])
            .unwrap_err(),
            WebhookError::InvalidField {
                field: "DialCallStatus",
                value: "ringing".into()
            }
        );
    }
}
