//! What the simulator saw and did, for tests to assert on: the API requests it received
//! ([`CreateRequestRecord`], [`CallCreateRecord`]), the status callbacks it sent
//! ([`CallbackRecord`], [`CallCallbackRecord`]), number and service changes
//! ([`SettingsUpdate`]), and what happened on a call's real-time sessions:
//! [`StreamRecord`] for a `<Connect><Stream>`, [`RelayRecord`] for a
//! `<Connect><ConversationRelay>`, both in [`CallOutcome`](crate::script::CallOutcome).
//!
//! Times (`at_ms`, `…_at_ms`) are on the session's simulated clock: milliseconds since
//! the socket opened.

use std::time::Duration;

use telephony_core::DeliveryStatus;
use time::OffsetDateTime;

/// One text message on a session's socket, with when it was sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedMessage {
    /// Simulated milliseconds since the socket opened.
    pub at_ms: u64,
    /// The JSON text, exactly as sent or received.
    pub text: String,
}

/// A Twilio debugger alert raised on a session: 31951 (stream: invalid message), 31920
/// (stream: WebSocket handshake failed), 64107 (relay: invalid message), 64105 (relay:
/// socket ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Twilio's error code.
    pub code: u32,
    /// What happened (the offending message is quoted, cut at 200 characters).
    pub message: String,
    /// Simulated milliseconds since the socket opened.
    pub at_ms: u64,
}

/// How a real-time session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The application closed the socket.
    AppClosed,
    /// The application sent `end` (ConversationRelay).
    Ended,
    /// The call ended (the caller or the API hung up, or the time limit passed): a stream
    /// got `stop`, then Twilio closed the socket.
    CallEnded,
    /// Twilio closed the socket over the application's messages (ConversationRelay: 10
    /// malformed in a row, close code 1007).
    ClosedByTwilio,
    /// The socket could not be opened.
    ConnectFailed,
    /// The connection broke (a transport error, no close handshake).
    Broken,
}

/// A `mark` the application sent on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRecord {
    /// The mark's name.
    pub name: String,
    /// When it arrived.
    pub received_at_ms: u64,
    /// The application's audio still to play ahead of it when it arrived, in bytes.
    pub audio_ahead_bytes: u64,
    /// When Twilio echoed it back: once that audio had played (8000 bytes a second), at
    /// once after a `clear`; `None` if it never was (the stream stopped first).
    pub echoed_at_ms: Option<u64>,
    /// The application's audio played on the stream, in all, when it was echoed.
    pub played_bytes_at_echo: u64,
    /// Echoed because of a `clear` rather than played through.
    pub cleared: bool,
}

/// A `clear` the application sent on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearRecord {
    /// When it arrived.
    pub at_ms: u64,
    /// The application's audio dropped unplayed, in bytes.
    pub dropped_bytes: u64,
    /// The pending marks it sent back, in order.
    pub marks_echoed: Vec<String>,
}

/// One `<Connect><Stream>` session, Twilio's side: what it sent and what the application
/// did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamRecord {
    /// The URL connected to (the TwiML's, without its query).
    pub url: String,
    /// The URL the upgrade was signed over: [`url`](Self::url) with a `wss://` scheme.
    pub signed_url: String,
    /// The `x-twilio-signature` header sent with the upgrade.
    pub signature: String,
    /// `MZ…`.
    pub stream_sid: String,
    /// The `<Stream name>`.
    pub name: Option<String>,
    /// `start.customParameters`, in TwiML order.
    pub custom_parameters: Vec<(String, String)>,
    /// What the simulator let through that Twilio would not, or chose (a `ws://` URL, a
    /// dropped query string, script inputs a stream cannot play, …).
    pub notes: Vec<String>,
    /// Every message Twilio sent, in order.
    pub sent: Vec<TimedMessage>,
    /// Every text message the application sent, in order.
    pub received: Vec<TimedMessage>,
    /// The caller's μ-law audio sent in `media` frames (the last frame's padding
    /// included).
    pub sent_audio: Vec<u8>,
    /// `media` frames sent.
    pub media_frames_sent: u64,
    /// The μ-law audio the application sent, decoded, in order (cleared audio included).
    pub received_audio: Vec<u8>,
    /// `media` messages the application sent (valid ones).
    pub media_frames_received: u64,
    /// How much of the application's audio played (bytes; 8000 a second).
    pub played_bytes: u64,
    /// The application's marks, in the order they arrived.
    pub marks: Vec<MarkRecord>,
    /// The application's clears.
    pub clears: Vec<ClearRecord>,
    /// Alerts (31951 for each invalid message, 31920 when the socket did not open).
    pub alerts: Vec<Alert>,
    /// How it ended; `None` while it runs.
    pub ended_by: Option<SessionEnd>,
    /// The close code and reason of the application's close frame, when it closed the
    /// socket with one.
    pub close_frame: Option<(u16, String)>,
    /// The session's clock when it ended.
    pub duration_ms: u64,
    /// Real time from the (inbound) call's creation, when its first webhook went out, to
    /// the socket opening.
    pub opened_after: Option<Duration>,
    /// Real time from the (inbound) call's creation to the application's first `media`:
    /// how long the caller waited for the first words.
    pub first_media_after: Option<Duration>,
}

impl StreamRecord {
    /// The `event` of every message Twilio sent, in order (`connected`, `start`,
    /// `media`, …, `stop`).
    pub fn sent_events(&self) -> Vec<String> {
        events(&self.sent, "event")
    }

    /// The alert codes, in order.
    pub fn alert_codes(&self) -> Vec<u32> {
        self.alerts.iter().map(|a| a.code).collect()
    }

    /// The names of the marks Twilio echoed, in the order it echoed them.
    pub fn echoed_marks(&self) -> Vec<String> {
        self.sent
            .iter()
            .filter_map(|m| serde_json::from_str::<serde_json::Value>(&m.text).ok())
            .filter(|v| v["event"] == "mark")
            .filter_map(|v| v["mark"]["name"].as_str().map(str::to_string))
            .collect()
    }
}

/// One reply the application spoke on a relay: its `text` tokens up to `last: true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayReply {
    /// The tokens concatenated.
    pub text: String,
    /// The tokens, in order.
    pub tokens: Vec<String>,
    /// When its first token arrived.
    pub started_at_ms: u64,
    /// Whether its `last: true` token arrived.
    pub complete: bool,
    /// Whether the caller could interrupt it (its first token's `interruptible`, else the
    /// relay's `interruptible` attribute).
    pub interruptible: bool,
    /// Whether the caller interrupted it.
    pub interrupted: bool,
}

/// An `interrupt` Twilio sent on a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayInterrupt {
    /// When.
    pub at_ms: u64,
    /// `utteranceUntilInterrupt`: the words spoken to the end by then.
    pub utterance_until_interrupt: String,
    /// `durationUntilInterruptMs`: how long the interrupted speech had been going.
    pub duration_until_interrupt_ms: u64,
    /// The interrupted reply (index in [`RelayRecord::replies`]); `None` for the welcome
    /// greeting or a `play`.
    pub reply: Option<usize>,
}

/// A `play` the application sent on a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPlay {
    /// When it arrived.
    pub at_ms: u64,
    /// `source`.
    pub source: String,
    /// `loop` (default 1).
    pub loop_count: u32,
}

/// A `language` message the application sent on a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageChange {
    /// When it arrived.
    pub at_ms: u64,
    /// `ttsLanguage`.
    pub tts_language: Option<String>,
    /// `transcriptionLanguage` (the `lang` of later prompts).
    pub transcription_language: Option<String>,
}

/// The application's `end` on a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayEnd {
    /// When it arrived.
    pub at_ms: u64,
    /// `handoffData`, posted to `<Connect action>` as `HandoffData`.
    pub handoff_data: Option<String>,
}

/// One `<Connect><ConversationRelay>` session, Twilio's side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RelayRecord {
    /// The URL connected to (as written in the TwiML).
    pub url: String,
    /// The URL the upgrade was signed over: [`url`](Self::url) with a `wss://` scheme.
    pub signed_url: String,
    /// The `x-twilio-signature` header sent with the upgrade.
    pub signature: String,
    /// `VX…`.
    pub session_id: String,
    /// `setup.customParameters`, in TwiML order.
    pub custom_parameters: Vec<(String, String)>,
    /// What the simulator let through that Twilio would not, or chose.
    pub notes: Vec<String>,
    /// Every message Twilio sent, in order.
    pub sent: Vec<TimedMessage>,
    /// Every text message the application sent, in order.
    pub received: Vec<TimedMessage>,
    /// The application's replies, in order.
    pub replies: Vec<RelayReply>,
    /// The application's `play`s.
    pub plays: Vec<RelayPlay>,
    /// The application's `sendDigits`, in order.
    pub digits_sent: Vec<String>,
    /// The application's `language` changes.
    pub language_changes: Vec<LanguageChange>,
    /// The `interrupt`s Twilio sent.
    pub interrupts: Vec<RelayInterrupt>,
    /// The application's `end`, if it sent one.
    pub end: Option<RelayEnd>,
    /// Alerts (64107 for each malformed message; 64105 when the socket ended otherwise
    /// than by `end` or a hang-up, or did not open).
    pub alerts: Vec<Alert>,
    /// How it ended; `None` while it runs.
    pub ended_by: Option<SessionEnd>,
    /// The session's clock when it ended.
    pub duration_ms: u64,
    /// Real time from the (inbound) call's creation, when its first webhook went out, to
    /// the socket opening.
    pub opened_after: Option<Duration>,
    /// Real time from the (inbound) call's creation to the application's first `text`:
    /// how long the caller waited for the first words.
    pub first_text_after: Option<Duration>,
}

impl RelayRecord {
    /// The `type` of every message Twilio sent, in order (`setup`, `prompt`, …).
    pub fn sent_types(&self) -> Vec<String> {
        events(&self.sent, "type")
    }

    /// Every reply's text, in order.
    pub fn reply_texts(&self) -> Vec<&str> {
        self.replies.iter().map(|r| r.text.as_str()).collect()
    }

    /// Every token, in order.
    pub fn tokens(&self) -> Vec<&str> {
        self.replies
            .iter()
            .flat_map(|r| r.tokens.iter().map(String::as_str))
            .collect()
    }

    /// The alert codes, in order.
    pub fn alert_codes(&self) -> Vec<u32> {
        self.alerts.iter().map(|a| a.code).collect()
    }
}

fn events(messages: &[TimedMessage], key: &str) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            serde_json::from_str::<serde_json::Value>(&m.text)
                .ok()
                .and_then(|v| v[key].as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect()
}

/// One `POST …/Messages.json` the simulator received, whatever it answered (created,
/// injected failure, validation error, 401): what a test counts to see how many HTTP
/// attempts a client made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequestRecord {
    /// When it arrived.
    pub at: OffsetDateTime,
    /// Its `To` parameter, as sent, if the body was a form with one.
    pub to: Option<String>,
    /// The HTTP status the simulator answered.
    pub http_status: u16,
}

/// One status callback the simulator attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRecord {
    /// The message it is about.
    pub message_sid: String,
    /// The `MessageStatus` it carried.
    pub status: DeliveryStatus,
    /// The exact URL it was POSTed (and signed) to.
    pub url: String,
    /// The form parameters, in the order sent.
    pub params: Vec<(String, String)>,
    /// The `X-Twilio-Signature` sent.
    pub signature: String,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed (connection error, timeout, non-2xx), if it did. Not retried.
    pub error: Option<String>,
}

impl CallbackRecord {
    /// True if the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One `POST …/Calls.json` the simulator received, whatever it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCreateRecord {
    /// When it arrived.
    pub at: OffsetDateTime,
    /// The form pairs, in the order sent (empty if the body was not a form).
    pub params: Vec<(String, String)>,
    /// The HTTP status the simulator answered.
    pub http_status: u16,
}

/// One call status callback the simulator sent, or dropped on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCallbackRecord {
    /// The call.
    pub call_sid: String,
    /// The `StatusCallbackEvent` it is for: `initiated`, `ringing`, `answered`, `completed`;
    /// `amd` for an asynchronous answering-machine detection result (`AsyncAmdStatusCallback`).
    pub event: String,
    /// The `CallStatus` it carried (`initiated`, `ringing`, `in-progress`, `completed`, …).
    pub call_status: String,
    /// The URL it was (or would have been) POSTed and signed to.
    pub url: String,
    /// The form parameters, in the order sent.
    pub params: Vec<(String, String)>,
    /// The `X-Twilio-Signature` sent (empty when dropped).
    pub signature: String,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed, if it did. Not retried.
    pub error: Option<String>,
    /// Dropped by [`Simulator::drop_call_callbacks`](crate::Simulator::drop_call_callbacks): never sent.
    pub dropped: bool,
}

/// An update the simulator applied (for tests): the resource's SID and the form, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsUpdate {
    /// `PN…` or `MG…`.
    pub sid: String,
    /// The form parameters as sent.
    pub form: Vec<(String, String)>,
}
