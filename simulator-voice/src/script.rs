//! What a simulated caller does on a driven call, and how a simulated callee answers.

use std::collections::VecDeque;

/// What the simulated party says or presses when the application listens: a Twilio
/// `<Gather>` or `<Record>`, a Telnyx `gather` or `transcription_start`, a media stream.
///
/// Not `#[non_exhaustive]`: each simulator matches every input, so a new one must be
/// handled by both.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerInput {
    /// Words; a Twilio `<Gather>` with `input` including `speech` posts them as
    /// `SpeechResult` (and `Confidence` when given); a Telnyx transcription sends them as
    /// a final `call.transcription`.
    Speech {
        /// The transcript the provider would send.
        text: String,
        /// `Confidence` (0.0–1.0); `None` leaves it out (as Twilio sometimes does; Telnyx
        /// then reports 1.0).
        confidence: Option<f64>,
    },
    /// Keys pressed; a Twilio `<Gather>` with `input` including `dtmf` posts them as
    /// `Digits` (cut at `finishOnKey`, which goes to `FinishedOnKey`, or at `numDigits`);
    /// a Telnyx `gather` ends with them as `digits`; a real-time session sends one `dtmf`
    /// message a key.
    Digits(String),
    /// Nothing: the gather times out (Twilio goes on with the next verb; Telnyx sends
    /// `call.gather.ended` with `status: "timeout"`).
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
    /// a Twilio `<Gather>` or `<Record>` takes it as silence.
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
/// Shared by the Twilio and Telnyx simulators (each re-exports it); each simulator's
/// crate docs say how its calls use the inputs. On Twilio, a
/// `<Gather>` or `<Record>` that waits takes the next input (real-time-only inputs,
/// see [`CallerInput::is_realtime_only`], count as silence there). A real-time session
/// (`<Connect><Stream>`, `<Connect><ConversationRelay>`) takes the inputs one after
/// another on its simulated clock until they run out or the session ends; what it leaves
/// goes to the verbs after it:
///
/// On Twilio:
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
/// next input is wanted, or when a session has played its last input (on Twilio the
/// call ends `completed`, `CallEnd::CallerHangUp`).
///
/// On Telnyx (Call Control), the party takes its next input once something listens (a
/// gather, a transcription, an open media stream) and the application's audio has
/// played: speech becomes `call.transcription`, keys end a gather (else
/// `call.dtmf.received`), audio and keys go to open streams; see the Telnyx simulator's
/// crate docs.
///
/// ```
/// use telephony_simulator_voice::{CallScript, CallerInput};
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
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CallScript {
    /// The inputs, first first.
    pub inputs: VecDeque<CallerInput>,
    /// Hang up when an input is wanted and none is left (default: stay silent).
    pub hang_up_when_done: bool,
}

impl CallScript {
    /// No input: every gather times out.
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

    /// Adds a silence: one gather times out.
    pub fn silence(self) -> Self {
        self.input(CallerInput::Silence)
    }

    /// Adds caller audio: 8 kHz μ-law bytes (a Media Stream sends them as `media`).
    ///
    /// ```
    /// use telephony_simulator_voice::{CallScript, CallerInput};
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
    /// `SpeechResult`, a Telnyx transcription as a final `call.transcription`).
    ///
    /// ```
    /// use telephony_simulator_voice::{CallScript, CallerInput};
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

/// How a simulated callee answers an outbound call (or a Twilio `<Dial>`ed number); set
/// per number with each simulator's `SimulatorConfig::with_callee_outcome`. The states
/// named below are Twilio's; the Telnyx simulator's docs give its `call.hangup` causes.
///
/// Not `#[non_exhaustive]`, like [`CallerInput`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CalleeOutcome {
    /// Answers (the default): the call runs its TwiML (Twilio) or waits for commands
    /// after `call.answered` (Telnyx).
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
