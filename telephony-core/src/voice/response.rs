//! [`VoiceResponse`]: what to do on a call, as an ordered list of verbs.
//!
//! Provider-neutral: a provider renders it in its own language with
//! [`Provider::render_voice`](crate::Provider::render_voice), so the gateway never sees
//! markup.

/// What to do next on a call: verbs run in order.
///
/// Built with consuming methods; each verb method takes either plain text / a URL or the
/// verb's own builder ([`Say`], [`Play`], [`Dial`], [`Redirect`]) for its options.
///
/// ```
/// use telephony_core::voice::{Gather, RejectReason, Say, SpeechTimeout, Verb, VoiceResponse};
///
/// let answer = VoiceResponse::new()
///     .say(Say::new("Hello").voice("alice"))
///     .gather(
///         Gather::new()
///             .speech()
///             .speech_timeout(SpeechTimeout::Auto)
///             .action("https://gw.example.com/voice/gather")
///             .say("What can I do for you?"),
///     )
///     .hangup();
/// assert_eq!(answer.verbs().len(), 3);
/// assert!(matches!(answer.verbs()[2], Verb::Hangup));
/// assert!(VoiceResponse::new().is_empty());
/// assert!(!VoiceResponse::new().reject(RejectReason::Busy).is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoiceResponse {
    verbs: Vec<Verb>,
}

impl VoiceResponse {
    /// An empty response (no verbs).
    pub fn new() -> Self {
        VoiceResponse::default()
    }

    /// The verbs, in the order they run.
    pub fn verbs(&self) -> &[Verb] {
        &self.verbs
    }

    /// The verbs, to adjust in place (the gateway fills in a [`Gather`] without an
    /// `action`, for instance).
    pub fn verbs_mut(&mut self) -> &mut [Verb] {
        &mut self.verbs
    }

    /// True when there are no verbs. Providers decide what an empty answer means to them
    /// and document it (see [`Provider::render_voice`](crate::Provider::render_voice)).
    pub fn is_empty(&self) -> bool {
        self.verbs.is_empty()
    }

    /// Appends any verb.
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verbs.push(verb);
        self
    }

    /// Speaks text: `.say("Hi")` or `.say(Say::new("Hi").voice("alice").language("en-GB"))`.
    pub fn say(self, say: impl Into<Say>) -> Self {
        self.verb(Verb::Say(say.into()))
    }

    /// Plays audio from a URL: `.play(url)` or `.play(Play::new(url).loop_count(2))`.
    pub fn play(self, play: impl Into<Play>) -> Self {
        self.verb(Verb::Play(play.into()))
    }

    /// Collects speech and/or key presses; the result goes to the gather's `action`.
    pub fn gather(self, gather: Gather) -> Self {
        self.verb(Verb::Gather(gather))
    }

    /// Records the caller.
    pub fn record(self, record: Record) -> Self {
        self.verb(Verb::Record(record))
    }

    /// Connects the call to a number: `.dial("+15550001234")` or `.dial(Dial::new(n).timeout(20))`.
    pub fn dial(self, dial: impl Into<Dial>) -> Self {
        self.verb(Verb::Dial(dial.into()))
    }

    /// Waits silently for `seconds`.
    pub fn pause(self, seconds: u32) -> Self {
        self.verb(Verb::Pause { seconds })
    }

    /// Fetches the next instructions from a URL: `.redirect(url)` or
    /// `.redirect(Redirect::new(url).method(http::Method::POST))`.
    pub fn redirect(self, redirect: impl Into<Redirect>) -> Self {
        self.verb(Verb::Redirect(redirect.into()))
    }

    /// Ends the call.
    pub fn hangup(self) -> Self {
        self.verb(Verb::Hangup)
    }

    /// Refuses an incoming call without answering it (no charge on most providers).
    pub fn reject(self, reason: RejectReason) -> Self {
        self.verb(Verb::Reject(reason))
    }

    /// Connects the call to a live audio stream.
    pub fn stream(self, stream: super::realtime::StreamVerb) -> Self {
        self.verb(Verb::Stream(stream))
    }

    /// Connects the call to a text relay.
    pub fn relay(self, relay: super::realtime::RelayVerb) -> Self {
        self.verb(Verb::Relay(relay))
    }

    /// Presses keys into the call ([`Verb::SendDigits`]).
    pub fn send_digits(self, digits: super::dtmf::Digits) -> Self {
        self.verb(Verb::SendDigits(digits))
    }

    /// Starts recording the whole call (see [`RecordCall`](super::RecordCall)).
    pub fn record_call(self, record: super::recording::RecordCall) -> Self {
        self.verb(Verb::RecordCall(record))
    }
}

/// One instruction of a [`VoiceResponse`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Verb {
    /// Speak text.
    Say(Say),
    /// Play audio.
    Play(Play),
    /// Collect speech and/or digits.
    Gather(Gather),
    /// Record the caller.
    Record(Record),
    /// Connect to a number.
    Dial(Dial),
    /// Silence.
    Pause {
        /// How long.
        seconds: u32,
    },
    /// Continue with instructions from a URL.
    Redirect(Redirect),
    /// End the call.
    Hangup,
    /// Refuse the call unanswered.
    Reject(RejectReason),
    /// Connect the call to a live audio stream (the rest of the response runs when the
    /// stream ends).
    Stream(super::realtime::StreamVerb),
    /// Connect the call to a text relay (speech-to-text and text-to-speech by the
    /// provider).
    Relay(super::realtime::RelayVerb),
    /// Press keys into the call (DTMF out), e.g. to drive an IVR; `w` waits half a second,
    /// `W` one second (Twilio `<Play digits>`, Telnyx `send_dtmf`).
    ///
    /// ```
    /// use telephony_core::voice::{Digits, Verb, VoiceResponse};
    /// let r = VoiceResponse::new().send_digits(Digits::parse("ww1234#").unwrap());
    /// assert!(matches!(&r.verbs()[0], Verb::SendDigits(d) if d.as_str() == "ww1234#"));
    /// ```
    SendDigits(super::dtmf::Digits),
    /// Start recording the whole call from here; the rest of the response runs at once
    /// (Twilio `<Start><Recording>`, Telnyx `record_start`).
    RecordCall(super::recording::RecordCall),
}

/// Text to speak, with an optional voice, language and repeat count.
///
/// ```
/// use telephony_core::voice::Say;
/// let s = Say::new("Hej").voice("alice").language("sv-SE").loop_count(2);
/// assert_eq!((s.text.as_str(), s.loop_count), ("Hej", Some(2)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Say {
    /// The text.
    pub text: String,
    /// The provider's voice name.
    pub voice: Option<String>,
    /// BCP 47 language tag (`en-US`).
    pub language: Option<String>,
    /// How many times to say it (0 means "until the call ends" on providers that allow it).
    pub loop_count: Option<u32>,
}

impl Say {
    /// Says `text` in the provider's default voice.
    pub fn new(text: impl Into<String>) -> Self {
        Say {
            text: text.into(),
            voice: None,
            language: None,
            loop_count: None,
        }
    }

    /// The voice.
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// The language.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// The repeat count.
    pub fn loop_count(mut self, n: u32) -> Self {
        self.loop_count = Some(n);
        self
    }
}

impl From<&str> for Say {
    fn from(text: &str) -> Self {
        Say::new(text)
    }
}

impl From<String> for Say {
    fn from(text: String) -> Self {
        Say::new(text)
    }
}

/// Audio to play from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Play {
    /// The audio URL.
    pub url: String,
    /// How many times to play it (0 means "until the call ends" on providers that allow it).
    pub loop_count: Option<u32>,
}

impl Play {
    /// Plays `url` once.
    pub fn new(url: impl Into<String>) -> Self {
        Play {
            url: url.into(),
            loop_count: None,
        }
    }

    /// The repeat count.
    pub fn loop_count(mut self, n: u32) -> Self {
        self.loop_count = Some(n);
        self
    }
}

impl From<&str> for Play {
    fn from(url: &str) -> Self {
        Play::new(url)
    }
}

impl From<String> for Play {
    fn from(url: String) -> Self {
        Play::new(url)
    }
}

/// How long a gather waits after the caller stops speaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechTimeout {
    /// The provider decides when the caller has finished.
    Auto,
    /// This many seconds of silence.
    Seconds(u32),
}

/// What a [`Gather`] prompts with while it listens.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GatherPrompt {
    /// Speak text.
    Say(Say),
    /// Play audio.
    Play(Play),
    /// Silence.
    Pause {
        /// How long.
        seconds: u32,
    },
}

/// Collects speech and/or key presses (DTMF), then sends them to `action`.
///
/// With neither [`speech`](Self::speech) nor [`dtmf`](Self::dtmf) the provider's default
/// applies (key presses, on the providers we know).
///
/// ```
/// use telephony_core::voice::{Gather, SpeechTimeout};
/// let g = Gather::new().speech().dtmf().num_digits(4).hints(["yes", "no"]).say("Say yes or no");
/// assert!(g.speech && g.dtmf);
/// assert_eq!(g.hints, ["yes", "no"]);
/// assert_eq!(g.prompts.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Gather {
    /// Listen for speech.
    pub speech: bool,
    /// Listen for key presses.
    pub dtmf: bool,
    /// Where the result is sent.
    pub action: Option<String>,
    /// Seconds to wait for the first input (and between digits).
    pub timeout: Option<u32>,
    /// When speech is considered finished.
    pub speech_timeout: Option<SpeechTimeout>,
    /// Words and phrases the recogniser should expect.
    pub hints: Vec<String>,
    /// Language of the expected speech (BCP 47).
    pub language: Option<String>,
    /// Keys that end digit input.
    pub finish_on_key: Option<String>,
    /// Stop after this many digits.
    pub num_digits: Option<u32>,
    /// What to say or play while listening, in order.
    pub prompts: Vec<GatherPrompt>,
}

impl Gather {
    /// A gather with the provider's defaults.
    pub fn new() -> Self {
        Gather::default()
    }

    /// Listens for speech.
    pub fn speech(mut self) -> Self {
        self.speech = true;
        self
    }

    /// Listens for key presses.
    pub fn dtmf(mut self) -> Self {
        self.dtmf = true;
        self
    }

    /// Where to send the result.
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }

    /// Seconds to wait for input.
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }

    /// When speech is finished.
    pub fn speech_timeout(mut self, timeout: SpeechTimeout) -> Self {
        self.speech_timeout = Some(timeout);
        self
    }

    /// Expected words and phrases.
    pub fn hints<I, S>(mut self, hints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hints = hints.into_iter().map(Into::into).collect();
        self
    }

    /// Language of the speech.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Keys that end digit input.
    pub fn finish_on_key(mut self, keys: impl Into<String>) -> Self {
        self.finish_on_key = Some(keys.into());
        self
    }

    /// Stop after `n` digits.
    pub fn num_digits(mut self, n: u32) -> Self {
        self.num_digits = Some(n);
        self
    }

    /// Speaks while listening.
    pub fn say(mut self, say: impl Into<Say>) -> Self {
        self.prompts.push(GatherPrompt::Say(say.into()));
        self
    }

    /// Plays audio while listening.
    pub fn play(mut self, play: impl Into<Play>) -> Self {
        self.prompts.push(GatherPrompt::Play(play.into()));
        self
    }

    /// Pauses while listening.
    pub fn pause(mut self, seconds: u32) -> Self {
        self.prompts.push(GatherPrompt::Pause { seconds });
        self
    }
}

/// Records the caller; the recording is announced to `action`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// Where the recording's details are sent.
    pub action: Option<String>,
    /// Longest recording, in seconds.
    pub max_length_secs: Option<u32>,
    /// Ask the provider for a transcription.
    pub transcribe: bool,
    /// Where the provider announces the finished recording's metadata (the gateway fills
    /// in its status URL, so the recording is stored with the call).
    pub status_callback: Option<String>,
    /// Seconds of silence that end the recording (the provider's default when `None`).
    pub timeout_secs: Option<u32>,
}

impl Record {
    /// A recording with the provider's defaults.
    pub fn new() -> Self {
        Record::default()
    }

    /// Where the recording's details are sent.
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }

    /// Longest recording, in seconds.
    pub fn max_length(mut self, seconds: u32) -> Self {
        self.max_length_secs = Some(seconds);
        self
    }

    /// Ask for a transcription.
    pub fn transcribe(mut self, yes: bool) -> Self {
        self.transcribe = yes;
        self
    }

    /// Where the provider announces the finished recording.
    ///
    /// ```
    /// use telephony_core::voice::Record;
    /// let r = Record::new().status_callback("https://gw.example.com/telephony/status").timeout_secs(3);
    /// assert_eq!(r.status_callback.as_deref(), Some("https://gw.example.com/telephony/status"));
    /// assert_eq!(r.timeout_secs, Some(3));
    /// ```
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Seconds of silence that end the recording.
    pub fn timeout_secs(mut self, secs: u32) -> Self {
        self.timeout_secs = Some(secs);
        self
    }
}

/// Connects the call to another number or SIP URI (a cold transfer).
///
/// How it went comes back as [`CallEvent::Transfer`](crate::voice::CallEvent::Transfer)
/// at `action` (the gateway fills it in when it is `None`). Check a target with
/// [`transfer_target`](crate::voice::transfer_target).
///
/// ```
/// use telephony_core::voice::Dial;
/// let d = Dial::new("sip:agent@pbx.example.com").timeout(20).caller_id("+15550001234");
/// assert_eq!((d.number.as_str(), d.timeout, d.action), ("sip:agent@pbx.example.com", Some(20), None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dial {
    /// The number (E.164) or SIP URI (`sip:…`) to call.
    pub number: String,
    /// The caller id shown to the callee.
    pub caller_id: Option<String>,
    /// Seconds to let it ring.
    pub timeout: Option<u32>,
    /// Where the outcome is reported (Twilio's `<Dial action>`).
    pub action: Option<String>,
}

impl Dial {
    /// Dials `number`.
    pub fn new(number: impl Into<String>) -> Self {
        Dial {
            number: number.into(),
            caller_id: None,
            timeout: None,
            action: None,
        }
    }

    /// Where the outcome is reported.
    pub fn action(mut self, url: impl Into<String>) -> Self {
        self.action = Some(url.into());
        self
    }

    /// The caller id shown to the callee.
    pub fn caller_id(mut self, caller_id: impl Into<String>) -> Self {
        self.caller_id = Some(caller_id.into());
        self
    }

    /// Seconds to let it ring.
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }
}

impl From<&str> for Dial {
    fn from(number: &str) -> Self {
        Dial::new(number)
    }
}

impl From<String> for Dial {
    fn from(number: String) -> Self {
        Dial::new(number)
    }
}

/// Continues the call with instructions fetched from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redirect {
    /// The URL.
    pub url: String,
    /// The HTTP method (the provider's default when `None`).
    pub method: Option<http::Method>,
}

impl Redirect {
    /// Redirects to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Redirect {
            url: url.into(),
            method: None,
        }
    }

    /// The HTTP method.
    pub fn method(mut self, method: http::Method) -> Self {
        self.method = Some(method);
        self
    }
}

impl From<&str> for Redirect {
    fn from(url: &str) -> Self {
        Redirect::new(url)
    }
}

impl From<String> for Redirect {
    fn from(url: String) -> Self {
        Redirect::new(url)
    }
}

/// What the caller hears when a call is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// A busy signal.
    Busy,
    /// "Not in service" (the providers' default).
    Rejected,
}

impl RejectReason {
    /// `busy` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Busy => "busy",
            RejectReason::Rejected => "rejected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_keep_insertion_order() {
        let r = VoiceResponse::new()
            .pause(1)
            .say("a")
            .play("u")
            .dial("+1")
            .redirect("r")
            .record(Record::new().max_length(5))
            .reject(RejectReason::Rejected)
            .send_digits(super::super::dtmf::Digits::parse("1").unwrap())
            .hangup();
        let kinds: Vec<&str> = r
            .verbs()
            .iter()
            .map(|v| match v {
                Verb::Pause { .. } => "pause",
                Verb::Say(_) => "say",
                Verb::Play(_) => "play",
                Verb::Dial(_) => "dial",
                Verb::Redirect(_) => "redirect",
                Verb::Record(_) => "record",
                Verb::Reject(_) => "reject",
                Verb::Hangup => "hangup",
                Verb::Gather(_) => "gather",
                Verb::Stream(_) => "stream",
                Verb::Relay(_) => "relay",
                Verb::SendDigits(_) => "digits",
                Verb::RecordCall(_) => "record_call",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "pause", "say", "play", "dial", "redirect", "record", "reject", "digits", "hangup"
            ]
        );
    }

    #[test]
    fn gather_prompts_in_order() {
        let g = Gather::new().say("a").pause(2).play("u");
        assert_eq!(
            g.prompts,
            [
                GatherPrompt::Say(Say::new("a")),
                GatherPrompt::Pause { seconds: 2 },
                GatherPrompt::Play(Play::new("u"))
            ]
        );
        assert!(!g.speech && !g.dtmf);
    }
}
