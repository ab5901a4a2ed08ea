//! Calls: `POST /telephony/calls`, `GET /telephony/calls`, `GET /telephony/calls/{id}`,
//! `POST /telephony/calls/{id}/hangup`, and the live sessions of `GET /telephony/status`.

use serde::{Deserialize, Serialize};
use telephony_core::store as domain;
use telephony_core::voice::{AnsweredBy, CallDirection, CallStatus};
use time::OffsetDateTime;

/// `POST /telephony/calls`: exactly one of `say`, `twiml`, `url`.
///
/// ```
/// use telephony_serve::api::CallRequest;
/// let r: CallRequest = serde_json::from_str(r#"{"to":"+15550005678","say":"Your table is ready"}"#).unwrap();
/// assert_eq!(r.say.as_deref(), Some("Your table is ready"));
/// assert!(!r.machine_detection);
///
/// let r: CallRequest = serde_json::from_str(
///     r#"{"to":"+15550005678","url":"https://app.example.com/voice","waitForBeep":true,"sendDigits":"ww1234#"}"#,
/// ).unwrap();
/// assert!(r.wait_for_beep);
/// assert_eq!(r.send_digits.as_deref(), Some("ww1234#"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallRequest {
    /// Who to call (E.164).
    pub to: String,
    /// Text to speak (in `voice.voice`/`voice.language`), then hang up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// A TwiML document to run; refused before any API call unless well-formed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twiml: Option<String>,
    /// A URL that serves the call's instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Caller ID (default: the configured number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Ask the provider to detect answering machines.
    #[serde(default)]
    pub machine_detection: bool,
    /// Ring time in seconds before `no-answer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Detect answering machines and wait for the end of a machine's greeting (the beep),
    /// so a message can be left after it; implies `machineDetection`.
    #[serde(default)]
    pub wait_for_beep: bool,
    /// Keys to press once the callee answers (`0-9 A-D * #`, `w` half a second, `W` one
    /// second; at most 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_digits: Option<String>,
    /// Record the whole call (refused when `voice.record` is false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record: bool,
    /// `single` or `dual` (default `voice.recordChannels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_channels: Option<String>,
}

/// One status a call reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStatusChange {
    /// The status (`queued`, `ringing`, `in-progress`, `completed`, `busy`, `failed`,
    /// `no-answer`, `canceled`).
    pub status: CallStatus,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who said so: `webhook`, `answer`, `callback`, `reaper`, `api`.
    pub source: String,
}

/// What the caller said or typed in one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallTurn {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The speech transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech: Option<String>,
    /// The recognizer's confidence, 0.0–1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Keys pressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<String>,
}

/// A call with its status history and transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The provider's call id (Twilio `CallSid`).
    pub id: String,
    /// `inbound`, `outbound`, `dialed`, `unknown`.
    pub direction: CallDirection,
    /// The caller.
    pub from: String,
    /// The callee.
    pub to: String,
    /// The latest status.
    pub status: CallStatus,
    /// True while the call holds a session slot.
    pub live: bool,
    /// When the gateway first saw or placed it.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it was answered.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Seconds, from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    /// Why the gateway treated it so (refused, busy, hung up, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Every status it reached.
    pub history: Vec<CallStatusChange>,
    /// What the caller said or typed.
    pub transcript: Vec<CallTurn>,
    /// Who answered, as answering-machine detection found: `human`, `machine`,
    /// `machine_beep`, `machine_no_beep`, `fax`, `unknown` (absent without detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<AnsweredBy>,
}

impl From<&domain::CallRecord> for Call {
    fn from(c: &domain::CallRecord) -> Self {
        Call {
            id: c.call_id.clone(),
            direction: c.direction,
            from: c.from.clone(),
            to: c.to.clone(),
            status: c.status,
            live: c.is_live_session(),
            started_at: c.started_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            duration_secs: c.duration_secs,
            note: c.note.clone(),
            history: c
                .history
                .iter()
                .map(|h| CallStatusChange {
                    status: h.status,
                    at: h.at,
                    source: h.source.as_str().to_string(),
                })
                .collect(),
            transcript: c
                .transcript
                .iter()
                .map(|t| CallTurn {
                    at: t.at,
                    speech: t.speech.clone(),
                    confidence: t.confidence,
                    digits: t.digits.clone(),
                })
                .collect(),
            answered_by: c.answered_by,
        }
    }
}

/// `GET /telephony/calls`: oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallList {
    /// The calls.
    pub calls: Vec<Call>,
}

/// Voice in `GET /telephony/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceStatus {
    /// `voice.enabled`.
    pub enabled: bool,
    /// `maxConcurrentSessions` (`null`: unlimited).
    pub max_concurrent_sessions: Option<usize>,
    /// Calls holding a session slot now.
    pub live_sessions: Vec<Call>,
}
