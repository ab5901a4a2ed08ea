//! The schema of a voice case: a neutral `VoiceResponse` (and, for providers driven by
//! commands, the call it runs on) in, the provider's exact rendering or requests out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use telephony_core::voice::{
    Call, CallDirection, CallStatus, Dial, Gather, Play, Record, Redirect, RejectReason, RelayVerb,
    Say, SpeechTimeout, StreamVerb, VoiceResponse,
};

use crate::{ExpectedRequest, ProviderAnswer};

/// One voice case: a response, the call it runs on, and what each provider must do
/// with it, keyed by [`Provider::name`](telephony_core::Provider::name).
///
/// ```
/// use telephony_conformance::VoiceCase;
/// let case: VoiceCase = serde_json::from_str(r#"{
///   "label": "say then hang up",
///   "response": [{"say": {"text": "Hello"}}, "hangup"],
///   "call": {"call_id": "v3:call-1", "direction": "inbound", "status": "in-progress"},
///   "expect": {
///     "twilio": {"markup": {"content_type": "text/xml",
///                "body": "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Hello</Say><Hangup/></Response>"}},
///     "telnyx": {"requests": [{"method": "POST", "path": "/v2/calls/v3:call-1/actions/speak"}],
///                "run": "done"}
///   }
/// }"#)?;
/// assert_eq!(case.response().verbs().len(), 2);
/// assert!(case.expect.contains_key("telnyx"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VoiceCase {
    /// Unique within the folder.
    pub label: String,
    /// The verbs of the `VoiceResponse`, in order (empty in an `update` case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response: Vec<CaseVerb>,
    /// A live update of the call instead of a response: the provider's
    /// [`update_call`](telephony_core::Provider::update_call) on the case's call, checked
    /// like a commands run (`requests` and `run`) on every provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<CaseUpdate>,
    /// The call a commands provider runs the response on (required by those providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CaseCall>,
    /// What each provider must do, by provider name. A provider running a folder must
    /// have an entry in every case of it.
    pub expect: BTreeMap<String, VoiceExpect>,
}

impl VoiceCase {
    /// The case's `VoiceResponse`.
    pub fn response(&self) -> VoiceResponse {
        self.response
            .iter()
            .fold(VoiceResponse::new(), |r, verb| r.verb(verb.to_verb()))
    }
}

/// A live update, as JSON: `{"say": {"text": "…"}}`, `{"response": [verbs]}`,
/// `{"twiml": "<Response>…</Response>"}` or `"hangup"`
/// ([`CallUpdate`](telephony_core::voice::CallUpdate)).
///
/// ```
/// use telephony_conformance::CaseUpdate;
/// use telephony_core::voice::CallUpdate;
/// let u: CaseUpdate = serde_json::from_str(r#"{"say": {"text": "Your order is ready."}}"#)?;
/// assert_eq!(u.to_update().kind(), "say");
/// let u: CaseUpdate = serde_json::from_str(r#""hangup""#)?;
/// assert_eq!(u.to_update(), CallUpdate::Hangup);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CaseUpdate {
    /// [`CallUpdate::Say`](telephony_core::voice::CallUpdate::Say).
    Say(CaseSay),
    /// [`CallUpdate::Response`](telephony_core::voice::CallUpdate::Response).
    Response(Vec<CaseVerb>),
    /// [`CallUpdate::Twiml`](telephony_core::voice::CallUpdate::Twiml).
    Twiml(String),
    /// [`CallUpdate::Hangup`](telephony_core::voice::CallUpdate::Hangup).
    Hangup,
}

impl CaseUpdate {
    /// The neutral update.
    pub fn to_update(&self) -> telephony_core::voice::CallUpdate {
        use telephony_core::voice::CallUpdate;
        match self {
            CaseUpdate::Say(s) => CallUpdate::Say(s.to_say()),
            CaseUpdate::Response(verbs) => CallUpdate::Response(
                verbs
                    .iter()
                    .fold(VoiceResponse::new(), |r, v| r.verb(v.to_verb())),
            ),
            CaseUpdate::Twiml(doc) => CallUpdate::Twiml(doc.clone()),
            CaseUpdate::Hangup => CallUpdate::Hangup,
        }
    }
}

/// One verb, as JSON: `{"say": {…}}`, `{"pause": {"seconds": 2}}`, `"hangup"`,
/// `{"reject": "busy"}`, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CaseVerb {
    /// [`Say`].
    Say(CaseSay),
    /// [`Play`].
    Play(CasePlay),
    /// Silence.
    Pause(CasePause),
    /// [`Gather`].
    Gather(CaseGather),
    /// [`Record`].
    Record(CaseRecord),
    /// [`Dial`].
    Dial(CaseDial),
    /// [`Redirect`].
    Redirect(CaseRedirect),
    /// End the call.
    Hangup,
    /// Refuse the call unanswered: `"busy"` or `"rejected"`.
    Reject(CaseRejectReason),
    /// [`StreamVerb`].
    Stream(CaseStream),
    /// [`RelayVerb`].
    Relay(CaseRelay),
    /// Keys to press: `{"send_digits": "ww12#"}` ([`Verb::SendDigits`](telephony_core::voice::Verb::SendDigits)).
    SendDigits(String),
    /// [`RecordCall`](telephony_core::voice::RecordCall): `{"record_call": {"channels":
    /// "dual", "status_callback": "https://…"}}`.
    RecordCall(CaseRecordCall),
}

/// `{"channels": "single" | "dual", "status_callback": "https://…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRecordCall {
    /// `single` (default) or `dual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<String>,
    /// Where the finished recording is announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
}

impl CaseVerb {
    fn to_verb(&self) -> telephony_core::voice::Verb {
        use telephony_core::voice::Verb;
        match self {
            CaseVerb::Say(s) => Verb::Say(s.to_say()),
            CaseVerb::Play(p) => Verb::Play(p.to_play()),
            CaseVerb::Pause(p) => Verb::Pause { seconds: p.seconds },
            CaseVerb::Gather(g) => Verb::Gather(g.to_gather()),
            CaseVerb::Record(r) => {
                let mut record = Record::new().transcribe(r.transcribe);
                if let Some(a) = &r.action {
                    record = record.action(a);
                }
                if let Some(n) = r.max_length {
                    record = record.max_length(n);
                }
                if let Some(n) = r.timeout {
                    record = record.timeout_secs(n);
                }
                if let Some(u) = &r.status_callback {
                    record = record.status_callback(u);
                }
                Verb::Record(record)
            }
            CaseVerb::Dial(d) => {
                let mut dial = Dial::new(&d.number);
                if let Some(c) = &d.caller_id {
                    dial = dial.caller_id(c);
                }
                if let Some(t) = d.timeout {
                    dial = dial.timeout(t);
                }
                if let Some(a) = &d.action {
                    dial = dial.action(a);
                }
                Verb::Dial(dial)
            }
            CaseVerb::Redirect(r) => {
                let mut redirect = Redirect::new(&r.url);
                if let Some(m) = r.method {
                    redirect = redirect.method(match m {
                        CaseMethod::Get => http::Method::GET,
                        CaseMethod::Post => http::Method::POST,
                    });
                }
                Verb::Redirect(redirect)
            }
            CaseVerb::RecordCall(r) => {
                let channels = r
                    .channels
                    .as_deref()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or_default();
                let mut rc = telephony_core::voice::RecordCall::new(channels);
                if let Some(u) = &r.status_callback {
                    rc = rc.status_callback(u);
                }
                Verb::RecordCall(rc)
            }
            CaseVerb::Hangup => Verb::Hangup,
            CaseVerb::Reject(CaseRejectReason::Busy) => Verb::Reject(RejectReason::Busy),
            CaseVerb::Reject(CaseRejectReason::Rejected) => Verb::Reject(RejectReason::Rejected),
            CaseVerb::Stream(s) => {
                let mut stream = StreamVerb::new();
                if let Some(u) = &s.url {
                    stream = stream.url(u);
                }
                if let Some(n) = &s.name {
                    stream = stream.name(n);
                }
                for (k, v) in &s.parameters {
                    stream = stream.parameter(k, v);
                }
                Verb::Stream(stream)
            }
            CaseVerb::Relay(r) => {
                let mut relay = RelayVerb::new();
                if let Some(u) = &r.url {
                    relay = relay.url(u);
                }
                if let Some(l) = &r.language {
                    relay = relay.language(l);
                }
                if let Some(v) = &r.voice {
                    relay = relay.voice(v);
                }
                if let Some(g) = &r.welcome_greeting {
                    relay = relay.welcome_greeting(g);
                }
                if let Some(i) = r.interruptible {
                    relay = relay.interruptible(i);
                }
                for (k, v) in &r.parameters {
                    relay = relay.parameter(k, v);
                }
                Verb::Relay(relay)
            }
            CaseVerb::SendDigits(d) => match telephony_core::voice::Digits::parse(d) {
                Ok(digits) => Verb::SendDigits(digits),
                Err(e) => panic!("a case's send_digits: {e}"),
            },
        }
    }
}

/// `{"text": "Hello", "voice": "alice", "language": "en-US", "loop": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseSay {
    /// The text.
    pub text: String,
    /// The voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// The language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The repeat count.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_count: Option<u32>,
}

impl CaseSay {
    fn to_say(&self) -> Say {
        let mut say = Say::new(&self.text);
        if let Some(v) = &self.voice {
            say = say.voice(v);
        }
        if let Some(l) = &self.language {
            say = say.language(l);
        }
        if let Some(n) = self.loop_count {
            say = say.loop_count(n);
        }
        say
    }
}

/// `{"url": "https://…/a.mp3", "loop": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CasePlay {
    /// The audio URL.
    pub url: String,
    /// The repeat count.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_count: Option<u32>,
}

impl CasePlay {
    fn to_play(&self) -> Play {
        let play = Play::new(&self.url);
        match self.loop_count {
            Some(n) => play.loop_count(n),
            None => play,
        }
    }
}

/// `{"seconds": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CasePause {
    /// How long.
    pub seconds: u32,
}

/// A gather: `{"speech": true, "dtmf": true, "action": "…", "timeout": 5,
/// "speech_timeout": "auto" | 3, "hints": […], "language": "en-US", "finish_on_key": "#",
/// "num_digits": 4, "prompts": [{"say": {…}}, {"play": {…}}, {"pause": {…}}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseGather {
    /// Listen for speech.
    #[serde(default)]
    pub speech: bool,
    /// Listen for keys.
    #[serde(default)]
    pub dtmf: bool,
    /// Where the result goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Seconds to wait for input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// `"auto"` or seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_timeout: Option<CaseSpeechTimeout>,
    /// Expected phrases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// Speech language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Keys that end digit input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_on_key: Option<String>,
    /// Stop after this many digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_digits: Option<u32>,
    /// What to say or play while listening.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<CasePrompt>,
}

impl CaseGather {
    fn to_gather(&self) -> Gather {
        let mut g = Gather::new();
        if self.speech {
            g = g.speech();
        }
        if self.dtmf {
            g = g.dtmf();
        }
        if let Some(a) = &self.action {
            g = g.action(a);
        }
        if let Some(t) = self.timeout {
            g = g.timeout(t);
        }
        match self.speech_timeout {
            Some(CaseSpeechTimeout::Auto(_)) => g = g.speech_timeout(SpeechTimeout::Auto),
            Some(CaseSpeechTimeout::Seconds(n)) => g = g.speech_timeout(SpeechTimeout::Seconds(n)),
            None => {}
        }
        if !self.hints.is_empty() {
            g = g.hints(self.hints.iter().cloned());
        }
        if let Some(l) = &self.language {
            g = g.language(l);
        }
        if let Some(k) = &self.finish_on_key {
            g = g.finish_on_key(k);
        }
        if let Some(n) = self.num_digits {
            g = g.num_digits(n);
        }
        for prompt in &self.prompts {
            g = match prompt {
                CasePrompt::Say(s) => g.say(s.to_say()),
                CasePrompt::Play(p) => g.play(p.to_play()),
                CasePrompt::Pause(p) => g.pause(p.seconds),
            };
        }
        g
    }
}

/// `"auto"` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum CaseSpeechTimeout {
    /// Seconds of silence.
    Seconds(u32),
    /// `"auto"`.
    Auto(AutoWord),
}

/// The word `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoWord {
    /// `auto`.
    Auto,
}

/// A gather prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CasePrompt {
    /// Speak.
    Say(CaseSay),
    /// Play.
    Play(CasePlay),
    /// Silence.
    Pause(CasePause),
}

/// `{"action": "…", "max_length": 30, "transcribe": false}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseRecord {
    /// Where the recording goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Longest recording in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// Ask for a transcription.
    #[serde(default)]
    pub transcribe: bool,
    /// Seconds of silence that end it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Where the finished recording is announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
}

/// `{"number": "+1…", "caller_id": "+1…", "timeout": 20}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseDial {
    /// The number.
    pub number: String,
    /// The caller id shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// Ring time in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Where the transfer's outcome goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `{"url": "…", "method": "POST"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseRedirect {
    /// The URL.
    pub url: String,
    /// `GET` or `POST` (the provider's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<CaseMethod>,
}

/// An HTTP method of a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CaseMethod {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

/// `"busy"` or `"rejected"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseRejectReason {
    /// A busy signal.
    Busy,
    /// "Not in service".
    Rejected,
}

/// `{"url": "wss://…", "name": "…", "parameters": [["k", "v"]]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseStream {
    /// The socket URL (the gateway's own route when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Custom parameters, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<(String, String)>,
}

/// `{"url": "wss://…", "language": "…", "voice": "…", "welcome_greeting": "…",
/// "interruptible": true, "parameters": [["k", "v"]]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseRelay {
    /// The socket URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Speech language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Text-to-speech voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// Said when the call connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome_greeting: Option<String>,
    /// Whether the caller can interrupt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruptible: Option<bool>,
    /// Custom parameters, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<(String, String)>,
}

/// The call a commands provider runs a response on.
///
/// `{"call_id": "v3:…", "from": "+1…", "to": "+1…", "direction": "inbound",
/// "status": "ringing", "extra": {"telnyx.event_id": "…"}}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CaseCall {
    /// The provider's call id.
    pub call_id: String,
    /// The caller.
    #[serde(default)]
    pub from: String,
    /// The callee.
    #[serde(default)]
    pub to: String,
    /// Who placed it.
    pub direction: CallDirection,
    /// Its status when the event came.
    pub status: CallStatus,
    /// What the provider's event left in [`Call::extra`].
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

impl CaseCall {
    /// The [`Call`].
    pub fn to_call(&self) -> Call {
        let mut call = Call::new(
            &self.call_id,
            &self.from,
            &self.to,
            self.direction,
            self.status,
        );
        call.extra = self.extra.clone();
        call
    }
}

/// What one provider must do with a case.
///
/// - `{"render_error": "…"}`: [`render_voice`](telephony_core::Provider::render_voice)
///   refuses the response with exactly this message (and nothing is sent);
/// - a markup provider: `{"markup": {"content_type": "text/xml", "body": "…"}}`, the
///   exact rendering;
/// - a commands provider: `{"requests": […], "run": …}`, the exact requests
///   [`run_voice`](telephony_core::Provider::run_voice) makes, in order, and its result;
///   `answers` are what the mock API answers, one per request in order (the last one
///   repeats; the runner's default answer when absent); `same_on_redelivery: true` runs the
///   case a second time and requires byte-identical requests (a redelivered event must
///   not make different commands).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VoiceExpect {
    /// The exact refusal message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_error: Option<String>,
    /// The exact rendering (markup providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markup: Option<crate::ExpectedAck>,
    /// What the mock API answers (commands providers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<ProviderAnswer>,
    /// The exact requests, in order (commands providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<ExpectedRequest>>,
    /// The result of the run (commands providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<ExpectedRun>,
    /// Run twice; the requests must be the same.
    #[serde(default)]
    pub same_on_redelivery: bool,
}

/// The expected [`VoiceRun`](telephony_core::voice::VoiceRun), or the run's error.
///
/// `"done"`, `"call_ended"`, `{"redirect": "https://…"}` or `{"error": {…}}` (as a send
/// case's error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExpectedRun {
    /// `VoiceRun::Done`.
    Done,
    /// `VoiceRun::CallEnded`.
    CallEnded,
    /// `VoiceRun::Redirect(url)`.
    Redirect(String),
    /// `run_voice` failed like this.
    Error(crate::ExpectedError),
}
