//! What a simulated caller does on a driven call, and what happened on it.

use std::collections::VecDeque;

/// What the simulated party says or presses when a `<Gather>` or `<Record>` waits for it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallerInput {
    /// Words; a `<Gather>` with `input` including `speech` posts them as `SpeechResult`
    /// (and `Confidence` when given).
    Speech {
        /// The transcript Twilio would post.
        text: String,
        /// `Confidence` (0.0–1.0); `None` leaves the parameter out, as Twilio sometimes does.
        confidence: Option<f64>,
    },
    /// Keys pressed; a `<Gather>` with `input` including `dtmf` posts them as `Digits`
    /// (cut at `finishOnKey`, which goes to `FinishedOnKey`, or at `numDigits`); a
    /// real-time session sends one `dtmf` message a key.
    Digits(String),
    /// Nothing: the `<Gather>` times out and Twilio goes on with the next verb.
    Silence,
    /// 8 kHz μ-law audio the caller sends on a Media Stream, as `media` frames of 160
    /// bytes (20 ms) paced by the simulated clock (consecutive audio inputs are framed as
    /// one; the last frame is padded with μ-law silence).
    Audio(Vec<u8>),
    /// A partial transcript: a ConversationRelay with `partialPrompts` sends it as a
    /// `prompt` with `last: false`.
    PartialSpeech(String),
    /// Barge in after `after_ms` of the application's speech (ConversationRelay: an
    /// `interrupt` message) or audio (Media Stream: the script goes on, so the next input
    /// plays over the application's audio).
    Interrupt {
        /// Milliseconds of the application's speech or audio before the caller barges in.
        after_ms: u64,
    },
    /// Let `ms` pass on the simulated clock (the caller is silent).
    Wait {
        /// Simulated milliseconds.
        ms: u64,
    },
}

impl CallerInput {
    /// Whether only a real-time session (Media Stream, ConversationRelay) uses this input;
    /// a `<Gather>` or `<Record>` takes it as silence.
    pub fn is_realtime_only(&self) -> bool {
        matches!(
            self,
            CallerInput::Audio(_)
                | CallerInput::PartialSpeech(_)
                | CallerInput::Interrupt { .. }
                | CallerInput::Wait { .. }
        )
    }
}

/// The simulated party's side of a call: its inputs, in order.
///
/// A `<Gather>` or `<Record>` that waits takes the next input (real-time-only inputs,
/// see [`CallerInput::is_realtime_only`], count as silence there). A real-time session
/// (`<Connect><Stream>`, `<Connect><ConversationRelay>`) takes the inputs one after
/// another on its simulated clock until they run out or the session ends; what it leaves
/// goes to the verbs after it:
///
/// | input | Media Stream | ConversationRelay |
/// |---|---|---|
/// | [`audio`](Self::audio), [`tone`](Self::tone), [`wav`](Self::wav) | `media` frames, 20 ms each | skipped (noted) |
/// | [`prompt`](Self::prompt) / [`say`](Self::say) | skipped (noted) | once the application is not speaking, 400 ms a word, then a `prompt` (`last: true`; partial ones first with `partialPrompts`) |
/// | [`partial_prompt`](Self::partial_prompt) | skipped (noted) | a `prompt` with `last: false` (only with `partialPrompts`) |
/// | [`press`](Self::press) | one `dtmf` event a key | one `dtmf` message a key (only with `dtmfDetection`) |
/// | [`interrupt_after_ms`](Self::interrupt_after_ms) | waits until that much of the application's audio played | an `interrupt` once a reply was spoken that long |
/// | [`wait_ms`](Self::wait_ms) | time passes | time passes |
/// | [`silence`](Self::silence) | skipped | skipped |
///
/// Once the inputs run out the party stays silent (every later `<Gather>` times out, a
/// session waits for the application), unless
/// [`hang_up_when_done`](Self::hang_up_when_done) is set: then it hangs up when the
/// next input is wanted, or when a session has played its last input (the call ends
/// `completed`, [`CallEnd::CallerHangUp`]).
///
/// ```
/// use telephony_twilio_simulator::{CallScript, CallerInput};
/// let script = CallScript::new()
///     .say("I'd like a table for two")
///     .say_with_confidence("tonight", 0.87)
///     .press("1234#")
///     .silence()
///     .hang_up_when_done();
/// assert_eq!(script.inputs.len(), 4);
/// assert_eq!(script.inputs[2], CallerInput::Digits("1234#".into()));
/// assert!(script.hang_up_when_done);
/// assert_eq!(CallScript::default(), CallScript::new());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct CallScript {
    /// The inputs, first first.
    pub inputs: VecDeque<CallerInput>,
    /// Hang up when an input is wanted and none is left (default: stay silent).
    pub hang_up_when_done: bool,
}

impl CallScript {
    /// No input: every `<Gather>` times out.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds any input.
    pub fn input(mut self, input: CallerInput) -> Self {
        self.inputs.push_back(input);
        self
    }

    /// Adds speech without a `Confidence`.
    pub fn say(self, text: impl Into<String>) -> Self {
        self.input(CallerInput::Speech {
            text: text.into(),
            confidence: None,
        })
    }

    /// Adds speech with a `Confidence`.
    pub fn say_with_confidence(self, text: impl Into<String>, confidence: f64) -> Self {
        self.input(CallerInput::Speech {
            text: text.into(),
            confidence: Some(confidence),
        })
    }

    /// Adds key presses (`"1234#"`).
    pub fn press(self, digits: impl Into<String>) -> Self {
        self.input(CallerInput::Digits(digits.into()))
    }

    /// Adds a silence: one `<Gather>` times out.
    pub fn silence(self) -> Self {
        self.input(CallerInput::Silence)
    }

    /// Adds caller audio: 8 kHz μ-law bytes (a Media Stream sends them as `media`).
    ///
    /// ```
    /// use telephony_twilio_simulator::{CallScript, CallerInput};
    /// let s = CallScript::new().audio(vec![0xFF; 320]).tone(440.0, 20).wait_ms(500);
    /// assert_eq!(s.inputs[0], CallerInput::Audio(vec![0xFF; 320]));
    /// assert!(matches!(&s.inputs[1], CallerInput::Audio(a) if a.len() == 160));
    /// assert_eq!(s.inputs[2], CallerInput::Wait { ms: 500 });
    /// ```
    pub fn audio(self, mulaw: impl Into<Vec<u8>>) -> Self {
        self.input(CallerInput::Audio(mulaw.into()))
    }

    /// Adds a sine tone of `freq_hz` for `millis` as caller audio (see
    /// [`audio::tone_mulaw`](crate::audio::tone_mulaw)).
    pub fn tone(self, freq_hz: f64, millis: u64) -> Self {
        self.audio(crate::audio::tone_mulaw(freq_hz, millis))
    }

    /// Adds a WAV file as caller audio: 8 kHz mono, μ-law or 16-bit PCM (converted; see
    /// [`audio::wav_to_mulaw`](crate::audio::wav_to_mulaw)).
    ///
    /// # Errors
    ///
    /// The file cannot be read, or is not such a WAV file (`InvalidData`, saying why).
    pub fn wav(self, path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)?;
        let mulaw = crate::audio::wav_to_mulaw(&bytes).map_err(|reason| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {reason}", path.display()),
            )
        })?;
        Ok(self.audio(mulaw))
    }

    /// Adds words the caller says: the same input as [`say`](Self::say), named for
    /// ConversationRelay, which sends it as a final `prompt` (a `<Gather>` posts it as
    /// `SpeechResult`).
    ///
    /// ```
    /// use telephony_twilio_simulator::{CallScript, CallerInput};
    /// let s = CallScript::new()
    ///     .partial_prompt("book a")
    ///     .prompt("book a table")
    ///     .interrupt_after_ms(800)
    ///     .press("1");
    /// assert_eq!(s.inputs[0], CallerInput::PartialSpeech("book a".into()));
    /// assert_eq!(s.inputs[1], CallerInput::Speech { text: "book a table".into(), confidence: None });
    /// assert_eq!(s.inputs[2], CallerInput::Interrupt { after_ms: 800 });
    /// assert!(s.inputs[2].is_realtime_only() && !s.inputs[3].is_realtime_only());
    /// ```
    pub fn prompt(self, text: impl Into<String>) -> Self {
        self.say(text)
    }

    /// Adds a partial transcript ([`CallerInput::PartialSpeech`]).
    pub fn partial_prompt(self, text: impl Into<String>) -> Self {
        self.input(CallerInput::PartialSpeech(text.into()))
    }

    /// Adds a barge-in after `millis` of the application's speech or audio
    /// ([`CallerInput::Interrupt`]).
    pub fn interrupt_after_ms(self, millis: u64) -> Self {
        self.input(CallerInput::Interrupt { after_ms: millis })
    }

    /// Adds `millis` of waiting on the simulated clock ([`CallerInput::Wait`]).
    pub fn wait_ms(self, millis: u64) -> Self {
        self.input(CallerInput::Wait { ms: millis })
    }

    /// Sets [`hang_up_when_done`](Self::hang_up_when_done).
    pub fn hang_up_when_done(mut self) -> Self {
        self.hang_up_when_done = true;
        self
    }
}

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

/// How a simulated callee answers an outbound call (or a `<Dial>`ed number); set per number
/// with [`SimulatorConfig::with_callee_outcome`](crate::SimulatorConfig::with_callee_outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CalleeOutcome {
    /// Answers (the default): the call runs its TwiML.
    #[default]
    Answer,
    /// Busy: `initiated`, `ringing`, then `busy` (`SipResponseCode` 486).
    Busy,
    /// Never answers: `initiated`, `ringing`, then, after the call's ring `Timeout`
    /// (default 60 s, on the simulated clock), `no-answer` (`SipResponseCode` 487).
    NoAnswer,
    /// Cannot be reached: `initiated`, then `failed` (`SipResponseCode` 404).
    Fail,
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
    /// (dials left out).
    pub fn heard(&self) -> Vec<&str> {
        self.transcript
            .iter()
            .filter_map(|h| match h {
                Heard::Say { text, .. } => Some(text.as_str()),
                Heard::Play { url } => Some(url.as_str()),
                Heard::Dial { .. } => None,
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
