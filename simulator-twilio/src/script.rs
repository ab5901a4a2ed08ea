//! What a simulated caller does on a driven call (shared with the Telnyx simulator, see
//! `telephony-simulator-voice`), and what happened on it.

pub use telephony_simulator_voice::{Answerer, CallScript, CalleeOutcome, CallerInput};

/// A call coming in to one of the account's numbers, for
/// [`Simulator::place_inbound_call`](crate::Simulator::place_inbound_call): who calls
/// which number, the number's voice webhook, its "call status changes" URL, and the
/// caller's [`CallScript`].
///
/// ```
/// use telephony_twilio_simulator::{CallScript, InboundCall};
/// let call = InboundCall::new("+15550005678", "+15550001234", "https://gw.example.com/voice")
///     .status_callback("https://gw.example.com/voice/status")
///     .script(CallScript::new().say("hello"));
/// assert_eq!(call.voice_method, "POST");
/// assert_eq!(call.script.inputs.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InboundCall {
    /// The caller (`From`, `Caller`).
    pub from: String,
    /// The account's number that is called (`To`, `Called`).
    pub to: String,
    /// The number's voice URL ("A call comes in"): an absolute `http(s)` URL.
    pub voice_url: String,
    /// `POST` (default) or `GET`.
    pub voice_method: String,
    /// The number's status callback URL: gets a signed `completed` callback when the call
    /// ends (phone numbers send no other events). `None`: no callback.
    pub status_callback: Option<String>,
    /// What the caller says and presses.
    pub script: CallScript,
}

impl InboundCall {
    /// A call from `from` to `to`, whose webhook is `voice_url`, with a silent caller.
    pub fn new(
        from: impl Into<String>,
        to: impl Into<String>,
        voice_url: impl Into<String>,
    ) -> Self {
        InboundCall {
            from: from.into(),
            to: to.into(),
            voice_url: voice_url.into(),
            voice_method: "POST".into(),
            status_callback: None,
            script: CallScript::default(),
        }
    }

    /// Sets [`status_callback`](Self::status_callback).
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Sets [`script`](Self::script).
    pub fn script(mut self, script: CallScript) -> Self {
        self.script = script;
        self
    }

    /// Sets [`voice_method`](Self::voice_method) (`GET` or `POST`).
    pub fn voice_method(mut self, method: impl Into<String>) -> Self {
        self.voice_method = method.into();
        self
    }
}

/// Why a driven call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEnd {
    /// A `<Hangup/>` verb.
    Hangup,
    /// The last document ran out of verbs.
    DocumentEnd,
    /// A `<Reject>` (before the answer: `busy` or `no-answer`; after it: `completed`).
    Rejected,
    /// The scripted party hung up ([`CallScript::hang_up_when_done`]).
    CallerHangUp,
    /// `POST …/Calls/{Sid}.json` with `Status=completed` or `canceled`.
    ApiHangUp,
    /// The call's `TimeLimit` (default 14400 s) passed on the simulated clock.
    TimeLimit,
    /// A Twilio error (see [`CallOutcome::error`]).
    Error,
    /// The callee was busy ([`CalleeOutcome::Busy`]).
    Busy,
    /// The callee did not answer ([`CalleeOutcome::NoAnswer`]).
    NoAnswer,
    /// The callee could not be reached ([`CalleeOutcome::Fail`]).
    Failed,
}

/// A Twilio error that ended a driven call, as Twilio's debugger would log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// Twilio's code: 11200 (HTTP retrieval failure: transport error, non-2xx, no
    /// `Content-Type`), 12300 (invalid `Content-Type`), 12100 (document parse failure),
    /// 11100 (invalid URL), 14106 (document retrieval limit, see
    /// [`MAX_CALL_DOCUMENTS`](crate::config::MAX_CALL_DOCUMENTS)).
    pub code: u32,
    /// What went wrong.
    pub message: String,
    /// The document URL concerned, if any.
    pub url: Option<String>,
}

/// One TwiML document the call ran or tried to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    /// The URL requested (with the query for a `GET`); `None` for the `Twiml` given to
    /// `Calls.json`.
    pub url: Option<String>,
    /// `POST` or `GET` (empty for inline `Twiml`).
    pub method: String,
    /// The parameters sent (in the body for `POST`, the query for `GET`), in order.
    pub params: Vec<(String, String)>,
    /// The `X-Twilio-Signature` sent (empty for inline `Twiml`).
    pub signature: String,
    /// The HTTP status answered; `None` for inline `Twiml` or when nothing answered.
    pub http_status: Option<u16>,
    /// The `Content-Type` answered, if any.
    pub content_type: Option<String>,
    /// The body answered (the TwiML), or the inline `Twiml`.
    pub body: String,
}

/// What the simulated party heard, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Heard {
    /// A `<Say>` (once per `loop`).
    Say {
        /// The text.
        text: String,
        /// `voice`.
        voice: Option<String>,
        /// `language`.
        language: Option<String>,
    },
    /// A `<Play>` of a URL (once per `loop`).
    Play {
        /// The audio URL.
        url: String,
    },
    /// A `<Dial>`: who, and how the dialed leg ended (`completed`, `busy`, `no-answer`,
    /// `failed`).
    Dial {
        /// The dialed number or address.
        target: String,
        /// `DialCallStatus`.
        status: String,
    },
    /// DTMF tones the party received: a `<Play digits>`, or the call's `SendDigits` on
    /// answer (as given, pauses `w` included).
    Digits {
        /// The digits.
        digits: String,
    },
}

/// One `<Gather>` or `<Record>` that waited for the party.
#[derive(Debug, Clone, PartialEq)]
pub struct GatherRecord {
    /// `Gather` or `Record`.
    pub verb: String,
    /// The scripted input it consumed ([`CallerInput::Silence`] when the script was empty).
    pub input: CallerInput,
    /// The absolute URL the result was sent to; `None` when Twilio went on with the next
    /// verb instead (silence, or an input the verb does not listen for, such as speech
    /// to `input="dtmf"`).
    pub action: Option<String>,
    /// The result parameters added to the call's (`SpeechResult`, `Confidence`, `Digits`,
    /// `FinishedOnKey`, `RecordingUrl`, …), in order.
    pub params: Vec<(String, String)>,
}

/// What happened on a driven call: the final (or current) status and everything the
/// simulator did. Returned by
/// [`Simulator::place_inbound_call`](crate::Simulator::place_inbound_call) and
/// [`Simulator::call_outcome`](crate::Simulator::call_outcome).
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    /// `CA…`.
    pub call_sid: String,
    /// `inbound` or `outbound-api`.
    pub direction: String,
    /// The call's status (`completed`, `busy`, `no-answer`, `failed`, `canceled`; or
    /// `ringing`/`in-progress` while it runs).
    pub status: String,
    /// `CallDuration` once ended: seconds on the simulated clock since the answer (or
    /// [`SimulatorConfig::call_duration_secs`](crate::SimulatorConfig::call_duration_secs)),
    /// 0 when never answered.
    pub duration_secs: Option<u64>,
    /// Whether the call was answered.
    pub answered: bool,
    /// Why it ended; `None` while it runs.
    pub ended_by: Option<CallEnd>,
    /// Whether the simulator is done with it (the call ended and its last callback was
    /// sent).
    pub finished: bool,
    /// Every document run or requested, in order.
    pub documents: Vec<DocumentRecord>,
    /// What the party heard.
    pub transcript: Vec<Heard>,
    /// Every `<Gather>`/`<Record>` that waited for input.
    pub gathers: Vec<GatherRecord>,
    /// The Twilio error that ended the call, if one did.
    pub error: Option<CallError>,
    /// Every `<Connect><Stream>` session, in order.
    pub streams: Vec<crate::records::StreamRecord>,
    /// Every `<Connect><ConversationRelay>` session, in order.
    pub relays: Vec<crate::records::RelayRecord>,
}

impl CallOutcome {
    /// The transcript as text: each `<Say>`'s text and each `<Play>`'s URL, in order
    /// (dials and digits left out).
    pub fn heard(&self) -> Vec<&str> {
        self.transcript
            .iter()
            .filter_map(|h| match h {
                Heard::Say { text, .. } => Some(text.as_str()),
                Heard::Play { url } => Some(url.as_str()),
                Heard::Dial { .. } | Heard::Digits { .. } => None,
            })
            .collect()
    }

    /// The DTMF the party received, in order (`SendDigits` on answer, `<Play digits>`).
    pub fn digits_received(&self) -> Vec<&str> {
        self.transcript
            .iter()
            .filter_map(|h| match h {
                Heard::Digits { digits } => Some(digits.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The Twilio error code that ended the call, if any.
    pub fn error_code(&self) -> Option<u32> {
        self.error.as_ref().map(|e| e.code)
    }
}

/// Why [`Simulator::place_inbound_call`](crate::Simulator::place_inbound_call) could not
/// place a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// The voice URL is not an absolute `http`/`https` URL.
    #[error("the voice URL {url:?} is not an absolute http(s) URL: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// `from` or `to` is empty.
    #[error("an inbound call needs a caller (from) and a called number (to)")]
    MissingNumber,
    /// The task driving the call stopped before the call ended (it panicked, or the
    /// runtime is shutting down).
    #[error("the simulated call {0} was abandoned before it ended")]
    Abandoned(String),
}
