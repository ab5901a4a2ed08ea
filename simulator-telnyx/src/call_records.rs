//! What a test gives a simulated call ([`InboundCall`]) and what it gets back
//! ([`CallOutcome`]): every command, every event and its deliveries, what the party heard,
//! gathers, transcriptions and media streams.

use telephony_simulator_voice::CallScript;

use crate::media_stream::StreamRecord;

/// A call coming in to one of the account's numbers, for
/// [`Simulator::place_inbound_call`](crate::Simulator::place_inbound_call): who calls which
/// number, the Call Control application it goes to, and the caller's [`CallScript`].
///
/// ```
/// use telephony_telnyx_simulator::{CallScript, InboundCall};
/// let call = InboundCall::new("+15550005678", "+15550001234")
///     .script(CallScript::new().say("hello"));
/// assert_eq!(call.connection_id, None); // the first configured application
/// assert_eq!(call.script.inputs.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InboundCall {
    /// The caller (`from`).
    pub from: String,
    /// The number called (`to`).
    pub to: String,
    /// The Call Control application (`connection_id`); `None`: the first one configured.
    pub connection_id: Option<String>,
    /// What the caller says and presses.
    pub script: CallScript,
}

impl InboundCall {
    /// A call from `from` to `to` with a silent caller.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        InboundCall {
            from: from.into(),
            to: to.into(),
            connection_id: None,
            script: CallScript::default(),
        }
    }

    /// Sets [`script`](Self::script).
    pub fn script(mut self, script: CallScript) -> Self {
        self.script = script;
        self
    }

    /// Sets [`connection_id`](Self::connection_id).
    pub fn connection(mut self, id: impl Into<String>) -> Self {
        self.connection_id = Some(id.into());
        self
    }
}

/// Why [`Simulator::place_inbound_call`](crate::Simulator::place_inbound_call) could not
/// place a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveError {
    /// No Call Control application is configured (or none with the id asked for).
    NoConnection(Option<String>),
    /// `from` or `to` is empty.
    MissingNumber,
    /// The simulator stopped driving the call before it ended (its task panicked or the
    /// runtime is shutting down).
    Abandoned(String),
}

impl std::fmt::Display for DriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriveError::NoConnection(None) => f.write_str(
                "no Call Control application is configured: add one with SimulatorConfig::with_connection",
            ),
            DriveError::NoConnection(Some(id)) => {
                write!(f, "no Call Control application {id:?} is configured")
            }
            DriveError::MissingNumber => {
                f.write_str("an inbound call needs a caller (from) and a called number (to)")
            }
            DriveError::Abandoned(id) => {
                write!(f, "the simulated call {id} was abandoned before it ended")
            }
        }
    }
}

impl std::error::Error for DriveError {}

/// One command the application sent for a call.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    /// The action (`answer`, `speak`, …; `client_state_update`; `dial` for `POST /v2/calls`).
    pub name: String,
    /// The JSON body as received (`null` when it was not JSON).
    pub body: serde_json::Value,
    /// The HTTP status answered.
    pub http_status: u16,
    /// The Telnyx error code answered, if any (`"90018"`, `"10004"`, …).
    pub error_code: Option<String>,
    /// Ignored as a repeat of an earlier `command_id`.
    pub duplicate: bool,
    /// The call's simulated clock (ms since it started) when it arrived.
    pub at_ms: u64,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The URL posted to.
    pub url: String,
    /// `meta.attempt` (1 for the first).
    pub attempt: u32,
    /// The `telnyx-timestamp` sent.
    pub timestamp: i64,
    /// The `telnyx-signature-ed25519` sent.
    pub signature: String,
    /// The exact body sent (signed).
    pub body: String,
    /// The application's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed (transport error, non-2xx), if it did.
    pub error: Option<String>,
}

impl DeliveryAttempt {
    /// True if the application answered 2xx.
    ///
    /// ```
    /// use telephony_telnyx_simulator::DeliveryAttempt;
    /// let mut a = DeliveryAttempt {
    ///     url: "http://127.0.0.1:8080/telnyx/voice".into(),
    ///     attempt: 1,
    ///     timestamp: 1_700_000_000,
    ///     signature: String::new(),
    ///     body: "{}".into(),
    ///     http_status: Some(204),
    ///     error: None,
    /// };
    /// assert!(a.succeeded());
    /// a.http_status = Some(500);
    /// a.error = Some("webhook answered HTTP 500".into());
    /// assert!(!a.succeeded());
    /// ```
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One event of a call, in the order the simulator emitted it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEventRecord {
    /// `data.event_type` (`call.initiated`, `call.speak.ended`, `streaming.started`, …).
    pub event_type: String,
    /// `data.id`.
    pub id: String,
    /// `data.payload`.
    pub payload: serde_json::Value,
    /// The call's simulated clock when it happened (ms since the call started).
    pub at_ms: u64,
    /// Not sent, as asked by [`Simulator::drop_call_events`](crate::Simulator::drop_call_events).
    pub dropped: bool,
    /// Every delivery attempt, in order (empty when dropped, or while still queued).
    pub attempts: Vec<DeliveryAttempt>,
}

impl CallEventRecord {
    /// Whether an attempt was answered 2xx.
    pub fn delivered(&self) -> bool {
        self.attempts.iter().any(DeliveryAttempt::succeeded)
    }
}

/// What the party heard, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Heard {
    /// A `speak` (or the prompt of a `gather_using_speak`).
    Speak {
        /// `payload`.
        payload: String,
        /// `voice`.
        voice: String,
        /// `language`, if given.
        language: Option<String>,
    },
    /// A `playback_start` (or the `audio_url` of a `gather_using_audio`).
    Playback {
        /// `audio_url` (or `media_name`).
        url: String,
    },
}

impl Heard {
    /// The text spoken or the URL played.
    ///
    /// ```
    /// use telephony_telnyx_simulator::Heard;
    /// let h = Heard::Playback { url: "https://example.com/hold.mp3".into() };
    /// assert_eq!(h.text(), "https://example.com/hold.mp3");
    /// ```
    pub fn text(&self) -> &str {
        match self {
            Heard::Speak { payload, .. } => payload,
            Heard::Playback { url } => url,
        }
    }
}

/// One `gather`, `gather_using_speak` or `gather_using_audio`, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherRecord {
    /// The command that started it.
    pub command: String,
    /// `digits` of `call.gather.ended`.
    pub digits: String,
    /// `status` of `call.gather.ended` (`valid`, `invalid`, `timeout`, `cancelled`,
    /// `call_hangup`).
    pub status: String,
}

/// One `call.transcription` sent.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionRecord {
    /// `transcription_data.transcript`.
    pub transcript: String,
    /// `transcription_data.confidence`, if sent.
    pub confidence: Option<f64>,
    /// `transcription_data.is_final`.
    pub is_final: bool,
}

/// What happened on a call: its state, and everything the simulator received and did.
/// From [`Simulator::call_outcome`](crate::Simulator::call_outcome),
/// [`Simulator::wait_for_call`](crate::Simulator::wait_for_call) and
/// [`Simulator::place_inbound_call`](crate::Simulator::place_inbound_call).
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    /// `call_control_id` (`v3:…`).
    pub call_control_id: String,
    /// `call_leg_id`.
    pub call_leg_id: String,
    /// `call_session_id`.
    pub call_session_id: String,
    /// `incoming` or `outgoing`.
    pub direction: String,
    /// `from`.
    pub from: String,
    /// `to`.
    pub to: String,
    /// `parked`, `bridging` (an outbound call ringing), `answered` or `hangup`.
    pub state: String,
    /// Whether it was answered.
    pub answered: bool,
    /// `hangup_cause` once ended (`normal_clearing`, `call_rejected`, `user_busy`,
    /// `timeout`, `time_limit`, `not_found`, `originator_cancel`, …).
    pub hangup_cause: Option<String>,
    /// `hangup_source` once ended (`caller`, `callee`, `unknown`).
    pub hangup_source: Option<String>,
    /// `call_duration` in seconds on the simulated clock since the answer (0 if never
    /// answered).
    pub duration_secs: u64,
    /// The simulator is done with it: it ended and every event was delivered (or gave up).
    pub finished: bool,
    /// Every command received, in order (refused ones too).
    pub commands: Vec<CommandRecord>,
    /// Every event, in order.
    pub events: Vec<CallEventRecord>,
    /// What the party heard, in order (as the Twilio simulator's `CallOutcome::transcript`).
    pub transcript: Vec<Heard>,
    /// Every gather.
    pub gathers: Vec<GatherRecord>,
    /// Every `call.transcription`.
    pub transcriptions: Vec<TranscriptionRecord>,
    /// Every DTMF the callee received, in order: `send_digits_on_answer` of the dial, then
    /// each `send_dtmf`.
    pub dtmf_sent: Vec<String>,
    /// Every media stream, in order.
    pub streams: Vec<StreamRecord>,
    /// Things the simulator skipped or noticed (inputs nobody listened to, …).
    pub notes: Vec<String>,
}

impl CallOutcome {
    /// The event types, in order (dropped ones included).
    pub fn event_types(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.event_type.as_str()).collect()
    }

    /// The command names, in order.
    pub fn command_names(&self) -> Vec<&str> {
        self.commands.iter().map(|c| c.name.as_str()).collect()
    }

    /// What was heard, as text: each `speak`'s payload and each playback's URL, in order
    /// (as the Twilio simulator's `CallOutcome::heard`).
    pub fn heard(&self) -> Vec<&str> {
        self.transcript.iter().map(Heard::text).collect()
    }

    /// The first event of this type, if any.
    pub fn event(&self, event_type: &str) -> Option<&CallEventRecord> {
        self.events.iter().find(|e| e.event_type == event_type)
    }
}
