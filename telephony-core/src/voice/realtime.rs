//! Real-time calls: a live audio **stream** (the provider sends the caller's audio and
//! plays ours) or a text **relay** (the provider does speech-to-text and text-to-speech),
//! both over a WebSocket the provider opens to the gateway.
//!
//! A [`VoiceResponse`](super::VoiceResponse) connects a call with
//! [`StreamVerb`] or [`RelayVerb`]; the provider then opens the socket and speaks its own
//! wire protocol, which its [`Realtime`] implementation translates to and from the
//! provider-neutral [`StreamEvent`]/[`StreamCommand`] and [`RelayEvent`]/[`RelayCommand`].

use std::collections::BTreeMap;

use crate::provider::{SignatureCheck, WebhookError, WebhookRequest};

/// Connect the call to a bidirectional audio stream.
///
/// Without a `url` the gateway fills in its own stream route and a per-call token
/// parameter. Values travel as `parameters` (the provider's stream URL takes no query).
///
/// ```
/// use telephony_core::voice::{StreamVerb, VoiceResponse};
/// let r = VoiceResponse::new().say("Connecting you.").stream(StreamVerb::new().parameter("lang", "en"));
/// assert_eq!(r.verbs().len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamVerb {
    /// The `wss://` URL; `None` = the gateway's own stream route.
    pub url: Option<String>,
    /// A name for the stream.
    pub name: Option<String>,
    /// Key/value pairs handed to the socket in its start message.
    pub parameters: Vec<(String, String)>,
}

impl StreamVerb {
    /// A stream to the gateway's own route.
    pub fn new() -> Self {
        Self::default()
    }

    /// Streams to another `wss://` URL (the gateway neither authenticates nor sees it).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Names the stream.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a parameter.
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }
}

/// Connect the call to a text relay: the provider transcribes the caller and speaks the
/// text the application sends.
///
/// ```
/// use telephony_core::voice::{RelayVerb, VoiceResponse};
/// let relay = RelayVerb::new()
///     .welcome_greeting("Hi! How can I help?")
///     .language("en-US")
///     .voice("en-US-Journey-O")
///     .interruptible(true);
/// let r = VoiceResponse::new().relay(relay);
/// assert_eq!(r.verbs().len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayVerb {
    /// The `wss://` URL; `None` = the gateway's own relay route.
    pub url: Option<String>,
    /// Speech language (both directions).
    pub language: Option<String>,
    /// Text-to-speech language.
    pub tts_language: Option<String>,
    /// Speech-recognition language.
    pub transcription_language: Option<String>,
    /// Text-to-speech provider (`Google`, `Amazon`, `ElevenLabs`).
    pub tts_provider: Option<String>,
    /// Text-to-speech voice.
    pub voice: Option<String>,
    /// Speech-recognition provider (`Google`, `Deepgram`).
    pub transcription_provider: Option<String>,
    /// Spoken when the relay connects.
    pub welcome_greeting: Option<String>,
    /// Whether the caller may interrupt the welcome greeting.
    pub welcome_greeting_interruptible: Option<bool>,
    /// Whether the caller may interrupt speech.
    pub interruptible: Option<bool>,
    /// Report key presses.
    pub dtmf_detection: Option<bool>,
    /// Send partial transcripts as they come.
    pub partial_prompts: Option<bool>,
    /// Words to help recognition.
    pub hints: Vec<String>,
    /// Mask profanity in transcripts.
    pub profanity_filter: Option<bool>,
    /// Key/value pairs handed to the socket in its setup message.
    pub parameters: Vec<(String, String)>,
}

impl RelayVerb {
    /// A relay to the gateway's own route, with the provider's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Relays to another `wss://` URL (the gateway neither authenticates nor sees it).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets the language (speech both ways).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Sets the voice.
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// Sets the welcome greeting.
    pub fn welcome_greeting(mut self, text: impl Into<String>) -> Self {
        self.welcome_greeting = Some(text.into());
        self
    }

    /// Whether the caller may interrupt.
    pub fn interruptible(mut self, yes: bool) -> Self {
        self.interruptible = Some(yes);
        self
    }

    /// Report key presses.
    pub fn dtmf_detection(mut self, yes: bool) -> Self {
        self.dtmf_detection = Some(yes);
        self
    }

    /// Send partial transcripts.
    pub fn partial_prompts(mut self, yes: bool) -> Self {
        self.partial_prompts = Some(yes);
        self
    }

    /// Adds a parameter.
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }
}

/// The start of an audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStart {
    /// The provider's stream id.
    pub stream_id: String,
    /// The call.
    pub call_id: String,
    /// The provider account.
    pub account: Option<String>,
    /// Which audio the stream carries (`inbound`, `outbound`).
    pub tracks: Vec<String>,
    /// Audio encoding (`audio/x-mulaw`).
    pub encoding: String,
    /// Samples per second (8000).
    pub sample_rate: u32,
    /// Channels (1).
    pub channels: u16,
    /// The stream's parameters.
    pub custom_parameters: BTreeMap<String, String>,
}

impl StreamStart {
    /// The start of stream `stream_id` on call `call_id`, as 8 kHz mono μ-law
    /// (`audio/x-mulaw`) with no account, tracks or parameters; set the public fields for
    /// the rest.
    ///
    /// ```
    /// use telephony_core::voice::StreamStart;
    /// let mut start = StreamStart::new("MZ1", "CA1");
    /// start.tracks.push("inbound".into());
    /// assert_eq!((start.encoding.as_str(), start.sample_rate, start.channels), ("audio/x-mulaw", 8000, 1));
    /// ```
    pub fn new(stream_id: impl Into<String>, call_id: impl Into<String>) -> Self {
        StreamStart {
            stream_id: stream_id.into(),
            call_id: call_id.into(),
            account: None,
            tracks: Vec::new(),
            encoding: "audio/x-mulaw".into(),
            sample_rate: 8000,
            channels: 1,
            custom_parameters: BTreeMap::new(),
        }
    }
}

/// Audio from the call: G.711 μ-law bytes (decode with
/// [`audio::decode_mulaw`](crate::audio::decode_mulaw)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioFrame {
    /// `inbound` (the caller) or `outbound`.
    pub track: String,
    /// The provider's chunk counter (from 1).
    pub chunk: u64,
    /// Milliseconds since the stream started.
    pub timestamp_ms: u64,
    /// μ-law samples, 8 kHz mono (160 bytes = 20 ms).
    pub mulaw: Vec<u8>,
}

impl AudioFrame {
    /// A frame.
    pub fn new(track: impl Into<String>, chunk: u64, timestamp_ms: u64, mulaw: Vec<u8>) -> Self {
        AudioFrame {
            track: track.into(),
            chunk,
            timestamp_ms,
            mulaw,
        }
    }
}

/// What the provider says on an audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The socket is open (before `Start`).
    Connected,
    /// The stream started.
    Start(StreamStart),
    /// Audio.
    Audio(AudioFrame),
    /// The caller pressed a key.
    Dtmf {
        /// The key.
        digit: char,
    },
    /// The audio before this mark has been played (as the provider sends it, this is
    /// also how cleared marks come back; the gateway's live stream reports those as
    /// [`MarkCleared`](Self::MarkCleared)).
    Mark {
        /// The mark's name.
        name: String,
    },
    /// The stream ended (the call hung up, or the stream was stopped).
    Stop,
    /// A mark came back because the audio before it was cleared (barge-in), not played:
    /// the caller did not hear that audio. Providers echo cleared marks like played ones
    /// ([`Mark`](Self::Mark)); the gateway tells them apart: a mark still pending when
    /// the application sent [`StreamCommand::Clear`] is reported as cleared.
    ///
    /// ```
    /// use telephony_core::voice::StreamEvent;
    /// let ev = StreamEvent::MarkCleared { name: "reply-2".into() };
    /// assert!(matches!(ev, StreamEvent::MarkCleared { ref name } if name == "reply-2"));
    /// ```
    MarkCleared {
        /// The mark's name.
        name: String,
    },
}

/// What the gateway sends on an audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamCommand {
    /// μ-law audio to play, in order, any length.
    Audio(Vec<u8>),
    /// A named mark: echoed as [`StreamEvent::Mark`] once the audio before it played.
    Mark(String),
    /// Drop the audio not played yet (barge-in); pending marks come back.
    Clear,
}

/// The start of a relay session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelaySetup {
    /// The provider's session id.
    pub session_id: String,
    /// The call.
    pub call_id: String,
    /// The provider account.
    pub account: Option<String>,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The session's parameters.
    pub custom_parameters: BTreeMap<String, String>,
}

impl RelaySetup {
    /// The start of relay session `session_id` on call `call_id`, with no account or
    /// parameters and empty `from`, `to` and `direction`; set the public fields for the
    /// rest.
    ///
    /// ```
    /// use telephony_core::voice::RelaySetup;
    /// let mut setup = RelaySetup::new("VX1", "CA1");
    /// setup.direction = "inbound".into();
    /// assert_eq!(setup.session_id, "VX1");
    /// ```
    pub fn new(session_id: impl Into<String>, call_id: impl Into<String>) -> Self {
        RelaySetup {
            session_id: session_id.into(),
            call_id: call_id.into(),
            account: None,
            from: String::new(),
            to: String::new(),
            direction: String::new(),
            custom_parameters: BTreeMap::new(),
        }
    }
}

/// What the provider says on a relay.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RelayEvent {
    /// The session started.
    Setup(RelaySetup),
    /// What the caller said: a final prompt has `last`, partial ones do not.
    Prompt {
        /// The transcript.
        text: String,
        /// Its language.
        language: Option<String>,
        /// Final (true) or partial.
        last: bool,
    },
    /// The caller pressed a key.
    Dtmf {
        /// The key.
        digit: char,
    },
    /// The caller spoke over the application's speech.
    Interrupt {
        /// What had been spoken when the caller interrupted.
        utterance_until_interrupt: String,
        /// How long it had been speaking.
        duration_until_interrupt_ms: u64,
    },
    /// The provider reports an error.
    Error {
        /// Its description.
        description: String,
    },
}

/// What the gateway sends on a relay.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RelayCommand {
    /// Text to speak: a token of a reply (`last` on the final token).
    Text {
        /// The text.
        token: String,
        /// The reply's final token.
        last: bool,
        /// Whether the caller may interrupt it.
        interruptible: Option<bool>,
        /// Whether the next reply may replace it.
        preemptible: Option<bool>,
    },
    /// Play audio from a URL.
    Play {
        /// The URL.
        source: String,
        /// Times to play it.
        loop_count: Option<u32>,
    },
    /// Send DTMF tones (`w` waits half a second).
    SendDigits {
        /// The digits.
        digits: String,
    },
    /// Change languages.
    Language {
        /// Text-to-speech language.
        tts_language: Option<String>,
        /// Speech-recognition language.
        transcription_language: Option<String>,
    },
    /// End the session, handing control back to the call with this data.
    End {
        /// Free-form data (JSON, usually).
        handoff_data: Option<String>,
    },
}

/// A message on a real-time socket that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RealtimeError {
    /// Not JSON, or not the expected shape.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// An event type the protocol does not have.
    #[error("unknown event type {0:?}")]
    UnknownEvent(String),
}

/// A provider's real-time protocols: the signed WebSocket upgrade, and the messages of its
/// audio stream and text relay. Returned by
/// [`Provider::realtime`](crate::Provider::realtime).
pub trait Realtime: Send + Sync {
    /// Checks the upgrade request's signature. `req.url` is the socket URL the provider
    /// was given (`wss://…`, or `ws://…` when the public URL is plain `http://`; no
    /// query); `req.body` is empty.
    fn verify_upgrade(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<(), WebhookError>;

    /// Reads one text message of an audio stream.
    fn decode_stream(&self, text: &str) -> Result<StreamEvent, RealtimeError>;

    /// Writes one command for an audio stream.
    fn encode_stream(&self, stream_id: &str, command: &StreamCommand) -> String;

    /// Reads one text message of a relay.
    fn decode_relay(&self, text: &str) -> Result<RelayEvent, RealtimeError>;

    /// Writes one command for a relay.
    fn encode_relay(&self, command: &RelayCommand) -> String;

    /// Whether this provider's stream messages already are the stream bridge's protocol
    /// (Twilio Media Streams JSON), so `voice.mode: "stream"` passes them through as they
    /// are. Otherwise (the default) the bridge translates every message through the
    /// neutral [`StreamEvent`] and [`StreamCommand`], so the application speaks Media
    /// Streams whatever the provider.
    fn stream_is_bridge_protocol(&self) -> bool {
        false
    }
}
