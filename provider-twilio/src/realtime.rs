//! Twilio's real-time protocols, as [`Realtime`] for [`TwilioProvider`]: Media Streams
//! (`<Connect><Stream>`) and ConversationRelay (`<Connect><ConversationRelay>`).
//!
//! - **Upgrade**: Twilio signs the WebSocket upgrade (a GET) with `X-Twilio-Signature`:
//!   HMAC-SHA1 keyed with the auth token over the `wss://` URL exactly as written in the
//!   TwiML, with no parameters (see [`crate::signature`]; a URL with a port is also
//!   checked without it, as for webhooks).
//! - **Media Streams**: JSON text frames keyed by `event` (`connected`, `start`, `media`,
//!   `dtmf`, `mark`, `stop`), numbers mostly sent as strings (`"chunk":"2"`), audio as
//!   base64 μ-law. The gateway answers with `media`, `mark` and `clear`.
//! - **ConversationRelay**: JSON text frames keyed by `type` (`setup`, `prompt`, `dtmf`,
//!   `interrupt`, `error`); the gateway answers with `text`, `play`, `sendDigits`,
//!   `language` and `end`, leaving out optional fields it has no value for.
//!
//! Numeric fields are read from a JSON number or a string holding one, whichever Twilio
//! sends. A message that is not JSON, lacks a field the event needs or has one of the
//! wrong kind is [`RealtimeError::Malformed`] naming the field; an `event`/`type` the
//! protocol does not have is [`RealtimeError::UnknownEvent`].
//!
//! ```
//! use telephony_core::voice::{StreamCommand, StreamEvent};
//! use telephony_core::Provider;
//! use telephony_twilio::{TwilioConfig, TwilioProvider};
//!
//! let twilio = TwilioProvider::new(TwilioConfig::new("AC1", "token"))?;
//! let rt = twilio.realtime().expect("Twilio has real-time protocols");
//! let event = rt.decode_stream(r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#)?;
//! assert_eq!(event, StreamEvent::Dtmf { digit: '1' });
//! assert_eq!(
//!     rt.encode_stream("MZ1", &StreamCommand::Audio(vec![0xFF, 0xFF, 0xFF])),
//!     r#"{"event":"media","streamSid":"MZ1","media":{"payload":"////"}}"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use telephony_core::voice::{
    AudioFrame, Realtime, RealtimeError, RelayCommand, RelayEvent, RelaySetup, StreamCommand,
    StreamEvent, StreamStart,
};
use telephony_core::{SignatureCheck, WebhookError, WebhookRequest};

use crate::TwilioProvider;

/// Base64 for incoming audio: the standard alphabet, padding optional.
const PAYLOAD_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Realtime for TwilioProvider {
    /// Unless told to skip it, checks `X-Twilio-Signature` (header names are
    /// case-insensitive) against `req.url` with no parameters: missing or empty is
    /// [`WebhookError::MissingSignature`], not a possible signature is
    /// [`WebhookError::MalformedSignature`], not matching is
    /// [`WebhookError::InvalidSignature`] (all 403, logged as for webhooks).
    ///
    /// A `ws://` URL (the gateway hands one out only when its public URL is plain
    /// `http://`: the sandbox, loopback) verifies with a signature over its `wss://` form,
    /// which Twilio signs, or over the URL exactly as given, which a client that signs
    /// `<Stream url>` as written signs. Both are the URL the gateway handed out; a
    /// signature over anything else is refused as always.
    fn verify_upgrade(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<(), WebhookError> {
        if check == SignatureCheck::DangerouslySkip {
            return Ok(());
        }
        if let Some(rest) = req.url.strip_prefix("ws://") {
            let secure = format!("wss://{rest}");
            let none: [(&[u8], &[u8]); 0] = [];
            let signed_secure = req
                .headers
                .get(crate::provider::SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|sig| {
                    self.validator()
                        .verify_form(&secure, &none, sig.trim())
                        .is_ok()
                });
            if signed_secure {
                return Ok(());
            }
        }
        self.check_signature(req, crate::provider::Signed::UrlOnly)
    }

    fn decode_stream(&self, text: &str) -> Result<StreamEvent, RealtimeError> {
        let envelope: StreamEnvelope<'_> = parse("stream", text)?;
        let event = required(envelope.event, "event")?;
        match &*event {
            "connected" => Ok(StreamEvent::Connected),
            "start" => decode_start(parse("start", text)?),
            "media" => decode_media(parse("media", text)?),
            "dtmf" => {
                let msg: DtmfMsg<'_> = parse("dtmf", text)?;
                let dtmf = required(msg.dtmf, "dtmf")?;
                let digit = digit(required(dtmf.digit, "dtmf.digit")?, "dtmf.digit")?;
                Ok(StreamEvent::Dtmf { digit })
            }
            "mark" => {
                let msg: MarkMsg<'_> = parse("mark", text)?;
                let mark = required(msg.mark, "mark")?;
                let name = required(mark.name, "mark.name")?;
                Ok(StreamEvent::Mark {
                    name: name.into_owned(),
                })
            }
            "stop" => Ok(StreamEvent::Stop),
            other => Err(RealtimeError::UnknownEvent(other.to_string())),
        }
    }

    /// `{"event":"media","streamSid":…,"media":{"payload":<base64>}}`,
    /// `{"event":"mark","streamSid":…,"mark":{"name":…}}` or
    /// `{"event":"clear","streamSid":…}`. A command this version does not know (the enum
    /// is non-exhaustive) encodes to an empty string, which is not a message to send.
    fn encode_stream(&self, stream_id: &str, command: &StreamCommand) -> String {
        let out = match command {
            StreamCommand::Audio(mulaw) => OutStream {
                event: "media",
                stream_sid: stream_id,
                media: Some(OutMedia {
                    payload: STANDARD.encode(mulaw),
                }),
                mark: None,
            },
            StreamCommand::Mark(name) => OutStream {
                event: "mark",
                stream_sid: stream_id,
                media: None,
                mark: Some(OutMark { name }),
            },
            StreamCommand::Clear => OutStream {
                event: "clear",
                stream_sid: stream_id,
                media: None,
                mark: None,
            },
            other => {
                tracing::warn!(command = ?other, "no Twilio stream message for this command");
                return String::new();
            }
        };
        to_json(&out)
    }

    /// Media Streams is the stream bridge's protocol: passed through as it is.
    fn stream_is_bridge_protocol(&self) -> bool {
        true
    }

    fn decode_relay(&self, text: &str) -> Result<RelayEvent, RealtimeError> {
        let envelope: RelayEnvelope<'_> = parse("relay", text)?;
        let kind = required(envelope.kind, "type")?;
        match &*kind {
            "setup" => decode_setup(parse("setup", text)?),
            "prompt" => {
                let msg: PromptMsg<'_> = parse("prompt", text)?;
                Ok(RelayEvent::Prompt {
                    text: required(msg.voice_prompt, "voicePrompt")?.into_owned(),
                    language: msg.lang.map(Cow::into_owned),
                    last: required(msg.last, "last")?,
                })
            }
            "dtmf" => {
                let msg: RelayDtmfMsg<'_> = parse("dtmf", text)?;
                let digit = digit(required(msg.digit, "digit")?, "digit")?;
                Ok(RelayEvent::Dtmf { digit })
            }
            "interrupt" => {
                let msg: InterruptMsg<'_> = parse("interrupt", text)?;
                Ok(RelayEvent::Interrupt {
                    utterance_until_interrupt: required(
                        msg.utterance_until_interrupt,
                        "utteranceUntilInterrupt",
                    )?
                    .into_owned(),
                    duration_until_interrupt_ms: number(
                        msg.duration_until_interrupt_ms,
                        "durationUntilInterruptMs",
                    )?,
                })
            }
            "error" => {
                let msg: ErrorMsg<'_> = parse("error", text)?;
                Ok(RelayEvent::Error {
                    description: required(msg.description, "description")?.into_owned(),
                })
            }
            other => Err(RealtimeError::UnknownEvent(other.to_string())),
        }
    }

    /// `text`, `play`, `sendDigits`, `language` or `end`, with the optional fields that
    /// have a value. A command this version does not know (the enum is non-exhaustive)
    /// encodes to an empty string, which is not a message to send.
    fn encode_relay(&self, command: &RelayCommand) -> String {
        let out = match command {
            RelayCommand::Text {
                token,
                last,
                interruptible,
                preemptible,
            } => OutRelay::Text {
                token,
                last: *last,
                interruptible: *interruptible,
                preemptible: *preemptible,
            },
            RelayCommand::Play { source, loop_count } => OutRelay::Play {
                source,
                loop_count: *loop_count,
            },
            RelayCommand::SendDigits { digits } => OutRelay::SendDigits { digits },
            RelayCommand::Language {
                tts_language,
                transcription_language,
            } => OutRelay::Language {
                tts_language: tts_language.as_deref(),
                transcription_language: transcription_language.as_deref(),
            },
            RelayCommand::End { handoff_data } => OutRelay::End {
                handoff_data: handoff_data.as_deref(),
            },
            other => {
                tracing::warn!(command = ?other, "no ConversationRelay message for this command");
                return String::new();
            }
        };
        to_json(&out)
    }
}

/// Parses `text` as the message `kind`, or says why it is malformed. Only a JSON object
/// will do (serde would also read a struct from an array of its fields).
fn parse<'a, T: Deserialize<'a>>(kind: &str, text: &'a str) -> Result<T, RealtimeError> {
    if !text.trim_start().starts_with('{') {
        let what = if text.trim().is_empty() {
            "empty"
        } else {
            "not a JSON object"
        };
        return Err(RealtimeError::Malformed(format!("{kind} message: {what}")));
    }
    serde_json::from_str(text).map_err(|e| RealtimeError::Malformed(format!("{kind} message: {e}")))
}

/// The value of a field the message needs.
fn required<T>(value: Option<T>, field: &str) -> Result<T, RealtimeError> {
    value.ok_or_else(|| RealtimeError::Malformed(format!("missing {field}")))
}

/// A required whole number, from a JSON number or a string holding one.
fn number<T: TryFrom<u64>>(value: Option<Num<'_>>, field: &str) -> Result<T, RealtimeError> {
    let value = required(value, field)?;
    let parsed = match &value {
        Num::Int(n) => Some(*n),
        Num::Text(s) => s.parse::<u64>().ok(),
    };
    parsed
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| RealtimeError::Malformed(format!("{field} is not a valid number: {value}")))
}

/// A key: exactly one character.
fn digit(value: Cow<'_, str>, field: &str) -> Result<char, RealtimeError> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(RealtimeError::Malformed(format!(
            "{field} is not a single key: {value:?}"
        ))),
    }
}

fn decode_start(msg: StartMsg<'_>) -> Result<StreamEvent, RealtimeError> {
    let start = required(msg.start, "start")?;
    let stream_id = required(start.stream_sid.or(msg.stream_sid), "start.streamSid")?;
    let call_id = required(start.call_sid, "start.callSid")?;
    let format = required(start.media_format, "start.mediaFormat")?;
    let mut out = StreamStart::new(stream_id, call_id);
    out.account = start.account_sid.map(Cow::into_owned);
    out.tracks = start.tracks;
    out.encoding = required(format.encoding, "start.mediaFormat.encoding")?.into_owned();
    out.sample_rate = number(format.sample_rate, "start.mediaFormat.sampleRate")?;
    out.channels = number(format.channels, "start.mediaFormat.channels")?;
    out.custom_parameters = start.custom_parameters;
    Ok(StreamEvent::Start(out))
}

fn decode_media(msg: MediaMsg<'_>) -> Result<StreamEvent, RealtimeError> {
    let media = required(msg.media, "media")?;
    let track = required(media.track, "media.track")?;
    let chunk = number(media.chunk, "media.chunk")?;
    let timestamp_ms = number(media.timestamp, "media.timestamp")?;
    let payload = required(media.payload, "media.payload")?;
    let mulaw = PAYLOAD_DECODER
        .decode(payload.as_bytes())
        .map_err(|e| RealtimeError::Malformed(format!("media.payload is not base64: {e}")))?;
    Ok(StreamEvent::Audio(AudioFrame::new(
        track,
        chunk,
        timestamp_ms,
        mulaw,
    )))
}

fn decode_setup(msg: SetupMsg<'_>) -> Result<RelayEvent, RealtimeError> {
    let mut setup = RelaySetup::new(
        required(msg.session_id, "sessionId")?,
        required(msg.call_sid, "callSid")?,
    );
    setup.account = msg.account_sid.map(Cow::into_owned);
    setup.from = required(msg.from, "from")?.into_owned();
    setup.to = required(msg.to, "to")?.into_owned();
    setup.direction = required(msg.direction, "direction")?.into_owned();
    setup.custom_parameters = msg.custom_parameters;
    Ok(RelayEvent::Setup(setup))
}

/// Serializes a message made of strings, numbers and booleans (which cannot fail).
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("a message of strings, numbers and booleans serializes")
}

/// A number as Twilio sends it: a JSON number or a string. Negative and fractional
/// numbers are kept as text, so that the field's check names them.
#[derive(Debug)]
enum Num<'a> {
    Int(u64),
    Text(Cow<'a, str>),
}

impl fmt::Display for Num<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(n) => write!(f, "{n}"),
            Num::Text(s) => write!(f, "{s:?}"),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Num<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumVisitor;
        impl<'de> Visitor<'de> for NumVisitor {
            type Value = Num<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string holding one")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Num::Int(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Num::Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Num::Text(Cow::Owned(v.to_string())))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Num::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Num::Text(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_any(NumVisitor)
    }
}

// Media Streams, Twilio → gateway. Every field is optional here so that a missing one is
// reported by name (`required`); unknown fields are ignored.

#[derive(Deserialize)]
struct StreamEnvelope<'a> {
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StartMsg<'a> {
    #[serde(borrow)]
    start: Option<StartBody<'a>>,
    #[serde(rename = "streamSid", borrow)]
    stream_sid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody<'a> {
    #[serde(borrow)]
    account_sid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    call_sid: Option<Cow<'a, str>>,
    #[serde(default)]
    tracks: Vec<String>,
    #[serde(borrow)]
    media_format: Option<MediaFormat<'a>>,
    #[serde(default)]
    custom_parameters: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaFormat<'a> {
    #[serde(borrow)]
    encoding: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sample_rate: Option<Num<'a>>,
    #[serde(borrow)]
    channels: Option<Num<'a>>,
}

#[derive(Deserialize)]
struct MediaMsg<'a> {
    #[serde(borrow)]
    media: Option<MediaBody<'a>>,
}

#[derive(Deserialize)]
struct MediaBody<'a> {
    #[serde(borrow)]
    track: Option<Cow<'a, str>>,
    #[serde(borrow)]
    chunk: Option<Num<'a>>,
    #[serde(borrow)]
    timestamp: Option<Num<'a>>,
    #[serde(borrow)]
    payload: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct DtmfMsg<'a> {
    #[serde(borrow)]
    dtmf: Option<DigitBody<'a>>,
}

#[derive(Deserialize)]
struct DigitBody<'a> {
    #[serde(borrow)]
    digit: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MarkMsg<'a> {
    #[serde(borrow)]
    mark: Option<MarkBody<'a>>,
}

#[derive(Deserialize)]
struct MarkBody<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

// Media Streams, gateway → Twilio.

#[derive(Serialize)]
struct OutStream<'a> {
    event: &'static str,
    #[serde(rename = "streamSid")]
    stream_sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    media: Option<OutMedia>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mark: Option<OutMark<'a>>,
}

#[derive(Serialize)]
struct OutMedia {
    payload: String,
}

#[derive(Serialize)]
struct OutMark<'a> {
    name: &'a str,
}

// ConversationRelay, Twilio → gateway.

#[derive(Deserialize)]
struct RelayEnvelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetupMsg<'a> {
    #[serde(borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account_sid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    call_sid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow)]
    direction: Option<Cow<'a, str>>,
    #[serde(default)]
    custom_parameters: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptMsg<'a> {
    #[serde(borrow)]
    voice_prompt: Option<Cow<'a, str>>,
    #[serde(borrow)]
    lang: Option<Cow<'a, str>>,
    last: Option<bool>,
}

#[derive(Deserialize)]
struct RelayDtmfMsg<'a> {
    #[serde(borrow)]
    digit: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InterruptMsg<'a> {
    #[serde(borrow)]
    utterance_until_interrupt: Option<Cow<'a, str>>,
    #[serde(borrow)]
    duration_until_interrupt_ms: Option<Num<'a>>,
}

#[derive(Deserialize)]
struct ErrorMsg<'a> {
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
}

// ConversationRelay, gateway → Twilio.

#[derive(Serialize)]
#[serde(tag = "type")]
enum OutRelay<'a> {
    #[serde(rename = "text")]
    Text {
        token: &'a str,
        last: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        interruptible: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        preemptible: Option<bool>,
    },
    #[serde(rename = "play")]
    Play {
        source: &'a str,
        #[serde(rename = "loop", skip_serializing_if = "Option::is_none")]
        loop_count: Option<u32>,
    },
    #[serde(rename = "sendDigits")]
    SendDigits { digits: &'a str },
    #[serde(rename = "language")]
    Language {
        #[serde(rename = "ttsLanguage", skip_serializing_if = "Option::is_none")]
        tts_language: Option<&'a str>,
        #[serde(
            rename = "transcriptionLanguage",
            skip_serializing_if = "Option::is_none"
        )]
        transcription_language: Option<&'a str>,
    },
    #[serde(rename = "end")]
    End {
        #[serde(rename = "handoffData", skip_serializing_if = "Option::is_none")]
        handoff_data: Option<&'a str>,
    },
}
