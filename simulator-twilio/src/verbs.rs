//! The simulator's reading of a TwiML document: a flat list of verbs the call driver
//! executes in order.

use telephony_twilio::twiml::{TwimlError, parse_response};
use telephony_twilio::xml_tree::{Element, Node, error_at};

/// One TwiML verb as the simulator understands it, attributes at Twilio's defaults when
/// absent. Read with [`parse_twiml`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TwimlVerb {
    /// `<Say>`.
    Say(SayVerb),
    /// `<Play>`.
    Play(PlayVerb),
    /// `<Pause length>` (default 1 second).
    Pause {
        /// Seconds.
        length: u32,
    },
    /// `<Gather>`.
    Gather(GatherVerb),
    /// `<Record>`.
    Record(RecordVerb),
    /// `<Dial>`.
    Dial(DialVerb),
    /// `<Redirect method>URL</Redirect>`.
    Redirect {
        /// The URL as written (may be relative to the document's URL).
        url: String,
        /// `POST` (default) or `GET`.
        method: String,
    },
    /// `<Hangup/>`.
    Hangup,
    /// `<Reject reason>`.
    Reject {
        /// `rejected` (default) or `busy`.
        reason: String,
    },
    /// `<Start><Recording/></Start>`.
    StartRecording(StartRecording),
    /// `<Connect><Stream>`: a bidirectional Media Stream (VOICE.md §6).
    ConnectStream(ConnectStream),
    /// `<Connect><ConversationRelay>`: a ConversationRelay session (VOICE.md §7).
    ConnectRelay(ConnectRelay),
}

/// `<Say voice language loop>text</Say>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SayVerb {
    /// The text, with nested SSML tags' text included and their markup dropped.
    pub text: String,
    /// `voice`.
    pub voice: Option<String>,
    /// `language`.
    pub language: Option<String>,
    /// `loop` (default 1; `0` means as often as Twilio allows, taken as 1000).
    pub loops: u32,
}

/// `<Play loop digits>url</Play>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlayVerb {
    /// The audio URL (empty when only `digits` are played).
    pub url: String,
    /// `loop` (default 1; `0` taken as 1000).
    pub loops: u32,
    /// `digits`: DTMF tones to play instead of audio.
    pub digits: Option<String>,
}

/// `<Gather>` with its nested `<Say>`, `<Play>` and `<Pause>` prompts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatherVerb {
    /// `input`: `dtmf` (default), `speech`, or both (`dtmf speech`).
    pub input: String,
    /// `action`, as written; `None` posts to the current document's URL.
    pub action: Option<String>,
    /// `method`: `POST` (default) or `GET`.
    pub method: String,
    /// `timeout` in seconds (default 5).
    pub timeout: u32,
    /// `speechTimeout`: seconds or `auto`.
    pub speech_timeout: Option<String>,
    /// `numDigits`.
    pub num_digits: Option<u32>,
    /// `finishOnKey` (default `#`; empty for none).
    pub finish_on_key: String,
    /// `hints`.
    pub hints: Option<String>,
    /// `language`.
    pub language: Option<String>,
    /// `actionOnEmptyResult="true"`: request the action even when nothing was heard.
    pub action_on_empty_result: bool,
    /// The nested prompts, in order (only `Say`, `Play` and `Pause`).
    pub prompts: Vec<TwimlVerb>,
}

impl GatherVerb {
    /// Whether `input` includes `dtmf`.
    pub fn accepts_digits(&self) -> bool {
        self.input
            .split([' ', ','])
            .any(|i| i.eq_ignore_ascii_case("dtmf"))
    }

    /// Whether `input` includes `speech`.
    pub fn accepts_speech(&self) -> bool {
        self.input
            .split([' ', ','])
            .any(|i| i.eq_ignore_ascii_case("speech"))
    }
}

/// `<Record>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordVerb {
    /// `action`; `None` posts to the current document's URL.
    pub action: Option<String>,
    /// `method`: `POST` (default) or `GET`.
    pub method: String,
    /// `timeout`: seconds of silence that end the recording (default 5).
    pub timeout: u32,
    /// `maxLength` in seconds (default 3600).
    pub max_length: u32,
    /// `finishOnKey` (default `1234567890*#`).
    pub finish_on_key: String,
    /// `recordingStatusCallback`: where the finished recording is announced.
    pub recording_status_callback: Option<String>,
}

/// `<Start><Recording channels recordingStatusCallback/></Start>`: record the rest of the
/// call in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StartRecording {
    /// `channels`: 1 (`mono`, default) or 2 (`dual`).
    pub channels: u8,
    /// `recordingStatusCallback`.
    pub recording_status_callback: Option<String>,
}

/// `<Dial>` with a plain number or one nested noun (`<Number>`, `<Client>`, `<Sip>`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DialVerb {
    /// Who is dialed: the text of the `<Dial>` or of its noun.
    pub target: String,
    /// The nested noun's name (`Number`, `Client`, `Sip`, `Conference`, `Queue`, …), if any.
    pub noun: Option<String>,
    /// `action`: where `DialCallStatus` is posted when the dialed leg ends; without one
    /// Twilio goes on with the next verb.
    pub action: Option<String>,
    /// `method`: `POST` (default) or `GET`.
    pub method: String,
    /// `timeout`: ring seconds (default 30).
    pub timeout: u32,
    /// `callerId`.
    pub caller_id: Option<String>,
}

/// `<Connect action method><Stream url name track statusCallback><Parameter name value/>…</Stream></Connect>`.
///
/// Twilio takes only a `wss://` URL without a query string. The simulator also accepts
/// `ws://` (it has no TLS: loopback tests connect in the clear) and records a note when it
/// does; a query string is dropped as Twilio drops it ([`dropped_query`](Self::dropped_query)),
/// with a note: values belong in `<Parameter>`s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectStream {
    /// The socket URL as written, without its query string.
    pub url: String,
    /// The query string Twilio dropped from the URL (without the `?`), if there was one.
    pub dropped_query: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `track` (`<Connect>` streams carry `inbound_track` only).
    pub track: Option<String>,
    /// `statusCallback` (read, not called by the simulator).
    pub status_callback: Option<String>,
    /// The nested `<Parameter name value/>`s, in order: `start.customParameters`.
    pub parameters: Vec<(String, String)>,
    /// `<Connect action>`: requested when the stream ends; without it Twilio goes on with
    /// the verbs after `<Connect>`.
    pub action: Option<String>,
    /// `<Connect method>`: `POST` (default) or `GET`.
    pub method: String,
}

/// `<Connect action method><ConversationRelay url …><Parameter name value/>…</ConversationRelay></Connect>`,
/// with the attributes of VOICE.md §7. `<Language>` children are accepted and not read.
///
/// The URL is kept as written, query included (only `<Stream>` URLs lose theirs); `ws://`
/// is accepted with a note, as for [`ConnectStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectRelay {
    /// The socket URL as written.
    pub url: String,
    /// `language` (both directions; default `en-US`).
    pub language: Option<String>,
    /// `ttsLanguage`.
    pub tts_language: Option<String>,
    /// `transcriptionLanguage`: the `lang` of prompts (else `language`, else `en-US`).
    pub transcription_language: Option<String>,
    /// `ttsProvider`.
    pub tts_provider: Option<String>,
    /// `voice`.
    pub voice: Option<String>,
    /// `transcriptionProvider`.
    pub transcription_provider: Option<String>,
    /// `welcomeGreeting`: spoken when the session starts.
    pub welcome_greeting: Option<String>,
    /// `welcomeGreetingInterruptible`: `any` (default), `speech`, `dtmf`, `none`, or the
    /// older `true`/`false`.
    pub welcome_greeting_interruptible: Option<String>,
    /// `interruptible`: `any` (default), `speech`, `dtmf`, `none`, or `true`/`false`.
    pub interruptible: Option<String>,
    /// `dtmfDetection="true"`: key presses are sent as `dtmf` messages (default off).
    pub dtmf_detection: bool,
    /// `partialPrompts="true"`: partial transcripts are sent (`last: false`) before the
    /// final one (default off).
    pub partial_prompts: bool,
    /// `hints`.
    pub hints: Option<String>,
    /// `profanityFilter` (default `true`).
    pub profanity_filter: bool,
    /// The nested `<Parameter name value/>`s, in order: `setup.customParameters`.
    pub parameters: Vec<(String, String)>,
    /// `<Connect action>`: requested after the application's `end` with `SessionId`,
    /// `SessionStatus` and `HandoffData`.
    pub action: Option<String>,
    /// `<Connect method>`: `POST` (default) or `GET`.
    pub method: String,
}

impl ConnectRelay {
    /// The `lang` of prompts: `transcriptionLanguage`, else `language`, else `en-US`.
    pub fn prompt_language(&self) -> &str {
        self.transcription_language
            .as_deref()
            .or(self.language.as_deref())
            .unwrap_or("en-US")
    }
}

/// Whether an `interruptible`-style attribute lets the caller's speech interrupt: `any`
/// (the default), `speech` and `true` do; `dtmf`, `none` and `false` do not.
pub(crate) fn speech_interrupts(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("dtmf" | "none" | "false")
    )
}

/// The verbs Twilio knows but the simulator does not run; a document using one fails
/// like an unknown verb, with a message saying so.
const NOT_SIMULATED: &[&str] = &[
    "Stop", "Enqueue", "Leave", "Echo", "Pay", "Prompt", "Refer", "Sms", "Message", "Queue",
];

/// Reads a TwiML document into the verbs of its `<Response>`, in order.
///
/// Fails (Twilio's error 12100) when [`check_twiml`](telephony_twilio::twiml::check_twiml) does, when
/// a verb is unknown or not simulated (`<Start>`, `<Enqueue>`, …), when text
/// stands directly in `<Response>`, when `<Gather>` nests anything but `<Say>`, `<Play>`
/// and `<Pause>`, when `<Redirect>` has no URL, when `<Connect>` does not hold exactly one
/// `<Stream>` or `<ConversationRelay>` (other nouns are not simulated), or when their `url`
/// is missing or not `ws(s)://`. Attributes Twilio would warn about
/// (an unparseable number, an unknown name) are read at their defaults.
///
/// ```
/// use telephony_twilio_simulator::{parse_twiml, TwimlVerb};
/// let verbs = parse_twiml(r#"<Response><Pause length="2"/><Hangup/></Response>"#).unwrap();
/// assert_eq!(verbs, [TwimlVerb::Pause { length: 2 }, TwimlVerb::Hangup]);
/// let err = parse_twiml("<Response><Dance/></Response>").unwrap_err();
/// assert_eq!(err.to_string(), "line 1, column 11: <Dance> is not a TwiML verb");
/// ```
pub fn parse_twiml(doc: &str) -> Result<Vec<TwimlVerb>, TwimlError> {
    let root = parse_response(doc)?;
    let mut verbs = Vec::new();
    for child in &root.children {
        match child {
            Node::Text(t) if t.trim().is_empty() => {}
            Node::Text(t) => {
                return Err(error_at(
                    doc,
                    root.offset,
                    format!(
                        "text {:?} directly in <Response>: wrap it in a verb such as <Say>",
                        t.trim()
                    ),
                ));
            }
            Node::Element(e) => verbs.push(verb(doc, e)?),
        }
    }
    Ok(verbs)
}

fn verb(doc: &str, e: &Element) -> Result<TwimlVerb, TwimlError> {
    Ok(match e.name.as_str() {
        "Say" => TwimlVerb::Say(SayVerb {
            text: e.text().trim().to_string(),
            voice: e.attr("voice").map(str::to_string),
            language: e.attr("language").map(str::to_string),
            loops: loops(e),
        }),
        "Play" => TwimlVerb::Play(PlayVerb {
            url: e.text().trim().to_string(),
            loops: loops(e),
            digits: e.attr("digits").map(str::to_string),
        }),
        "Pause" => TwimlVerb::Pause {
            length: number(e, "length", 1),
        },
        "Gather" => {
            let mut prompts = Vec::new();
            for inner in e.elements() {
                match inner.name.as_str() {
                    "Say" | "Play" | "Pause" => prompts.push(verb(doc, inner)?),
                    other => {
                        return Err(error_at(
                            doc,
                            inner.offset,
                            format!("<Gather> may nest <Say>, <Play> and <Pause>, not <{other}>"),
                        ));
                    }
                }
            }
            TwimlVerb::Gather(GatherVerb {
                input: e.attr("input").unwrap_or("dtmf").to_string(),
                action: e.attr("action").map(str::to_string),
                method: method(e),
                timeout: number(e, "timeout", 5),
                speech_timeout: e.attr("speechTimeout").map(str::to_string),
                num_digits: e.attr("numDigits").and_then(|n| n.trim().parse().ok()),
                finish_on_key: e.attr("finishOnKey").unwrap_or("#").to_string(),
                hints: e.attr("hints").map(str::to_string),
                language: e.attr("language").map(str::to_string),
                action_on_empty_result: e
                    .attr("actionOnEmptyResult")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
                prompts,
            })
        }
        "Record" => TwimlVerb::Record(RecordVerb {
            action: e.attr("action").map(str::to_string),
            method: method(e),
            timeout: number(e, "timeout", 5),
            max_length: number(e, "maxLength", 3600),
            finish_on_key: e.attr("finishOnKey").unwrap_or("1234567890*#").to_string(),
            recording_status_callback: e.attr("recordingStatusCallback").map(str::to_string),
        }),
        "Start" => {
            let mut nouns = e.elements();
            match (nouns.next(), nouns.next()) {
                (Some(r), None) if r.name == "Recording" => {
                    TwimlVerb::StartRecording(StartRecording {
                        channels: crate::recordings::channels(r.attr("channels")),
                        recording_status_callback: r
                            .attr("recordingStatusCallback")
                            .map(str::to_string),
                    })
                }
                _ => {
                    return Err(error_at(
                        doc,
                        e.offset,
                        "<Start> is TwiML the simulator does not run (only <Start><Recording/></Start>)"
                            .to_string(),
                    ));
                }
            }
        }
        "Dial" => {
            let noun = e.elements().next();
            TwimlVerb::Dial(DialVerb {
                target: noun
                    .map_or_else(|| e.text(), Element::text)
                    .trim()
                    .to_string(),
                noun: noun.map(|n| n.name.clone()),
                action: e.attr("action").map(str::to_string),
                method: method(e),
                timeout: number(e, "timeout", 30),
                caller_id: e.attr("callerId").map(str::to_string),
            })
        }
        "Redirect" => {
            let url = e.text().trim().to_string();
            if url.is_empty() {
                return Err(error_at(doc, e.offset, "<Redirect> needs a URL"));
            }
            TwimlVerb::Redirect {
                url,
                method: method(e),
            }
        }
        "Hangup" => TwimlVerb::Hangup,
        "Reject" => TwimlVerb::Reject {
            reason: e.attr("reason").unwrap_or("rejected").to_string(),
        },
        "Connect" => connect(doc, e)?,
        other if NOT_SIMULATED.contains(&other) => {
            return Err(error_at(
                doc,
                e.offset,
                format!("<{other}> is TwiML the simulator does not run"),
            ));
        }
        other => {
            return Err(error_at(
                doc,
                e.offset,
                format!("<{other}> is not a TwiML verb"),
            ));
        }
    })
}

/// `<Connect>` with its one noun.
fn connect(doc: &str, e: &Element) -> Result<TwimlVerb, TwimlError> {
    let mut nouns = e.elements();
    let Some(noun) = nouns.next() else {
        return Err(error_at(
            doc,
            e.offset,
            "<Connect> needs a noun: <Stream> or <ConversationRelay>",
        ));
    };
    if let Some(extra) = nouns.next() {
        return Err(error_at(
            doc,
            extra.offset,
            format!("<Connect> holds one noun; <{}> is a second one", extra.name),
        ));
    }
    let action = e.attr("action").map(str::to_string);
    let method = method(e);
    Ok(match noun.name.as_str() {
        "Stream" => {
            let written = socket_url(doc, noun)?;
            let (url, dropped_query) = match written.split_once('?') {
                Some((url, query)) => (url.to_string(), Some(query.to_string())),
                None => (written, None),
            };
            TwimlVerb::ConnectStream(ConnectStream {
                url,
                dropped_query,
                name: noun.attr("name").map(str::to_string),
                track: noun.attr("track").map(str::to_string),
                status_callback: noun.attr("statusCallback").map(str::to_string),
                parameters: parameters(doc, noun, &[])?,
                action,
                method,
            })
        }
        "ConversationRelay" => {
            let attr = |name: &str| noun.attr(name).map(str::to_string);
            let flag = |name: &str, default: bool| {
                noun.attr(name)
                    .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
            };
            TwimlVerb::ConnectRelay(ConnectRelay {
                url: socket_url(doc, noun)?,
                language: attr("language"),
                tts_language: attr("ttsLanguage"),
                transcription_language: attr("transcriptionLanguage"),
                tts_provider: attr("ttsProvider"),
                voice: attr("voice"),
                transcription_provider: attr("transcriptionProvider"),
                welcome_greeting: attr("welcomeGreeting"),
                welcome_greeting_interruptible: attr("welcomeGreetingInterruptible"),
                interruptible: attr("interruptible"),
                dtmf_detection: flag("dtmfDetection", false),
                partial_prompts: flag("partialPrompts", false),
                hints: attr("hints"),
                profanity_filter: flag("profanityFilter", true),
                parameters: parameters(doc, noun, &["Language"])?,
                action,
                method,
            })
        }
        other => {
            return Err(error_at(
                doc,
                noun.offset,
                format!("<Connect><{other}> is TwiML the simulator does not run"),
            ));
        }
    })
}

/// A `<Stream>`'s or `<ConversationRelay>`'s `url`: present, absolute `wss://` (or `ws://`).
fn socket_url(doc: &str, noun: &Element) -> Result<String, TwimlError> {
    let url = noun.attr("url").map(str::trim).unwrap_or_default();
    if url.is_empty() {
        return Err(error_at(
            doc,
            noun.offset,
            format!("<{}> needs a url", noun.name),
        ));
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("wss" | "ws")) {
        return Err(error_at(
            doc,
            noun.offset,
            format!("<{}> url {url:?} is not a wss:// URL", noun.name),
        ));
    }
    Ok(url.to_string())
}

/// The `<Parameter name value/>` children, in order; `also` names other children that
/// are allowed and skipped.
fn parameters(
    doc: &str,
    noun: &Element,
    also: &[&str],
) -> Result<Vec<(String, String)>, TwimlError> {
    let mut out = Vec::new();
    for child in noun.elements() {
        match child.name.as_str() {
            "Parameter" => match child.attr("name") {
                Some(name) if !name.is_empty() => out.push((
                    name.to_string(),
                    child.attr("value").unwrap_or_default().to_string(),
                )),
                _ => return Err(error_at(doc, child.offset, "<Parameter> needs a name")),
            },
            other if also.contains(&other) => {}
            other => {
                return Err(error_at(
                    doc,
                    child.offset,
                    format!("<{}> may nest <Parameter>, not <{other}>", noun.name),
                ));
            }
        }
    }
    Ok(out)
}

/// `loop`: default 1, `0` (Twilio: repeat "indefinitely") taken as 1000.
fn loops(e: &Element) -> u32 {
    match number(e, "loop", 1) {
        0 => 1000,
        n => n,
    }
}

fn number(e: &Element, name: &str, default: u32) -> u32 {
    e.attr(name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// `method`: `GET` when it says so (any case), else `POST`.
fn method(e: &Element) -> String {
    match e.attr("method") {
        Some(m) if m.trim().eq_ignore_ascii_case("GET") => "GET".to_string(),
        _ => "POST".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_verb_with_attributes_and_defaults() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say voice="alice" language="en-GB" loop="2">Hello <break time="1s"/>there &amp; welcome</Say>
  <Play loop="0">https://example.com/a.mp3</Play>
  <Play digits="1w2"/>
  <Pause/>
  <Pause length="3"/>
  <Gather input="speech dtmf" action="/next?x=1&amp;y=2" method="get" timeout="7" speechTimeout="auto"
          numDigits="4" finishOnKey="*" hints="yes, no" language="fr-FR" actionOnEmptyResult="true">
    <Say>Speak</Say><Pause length="2"/><Play>https://example.com/b.mp3</Play>
  </Gather>
  <Gather/>
  <Record action="rec" maxLength="20" timeout="bad"/>
  <Dial action="/dialed" timeout="10" callerId="+15550001111"><Number>+15550002222</Number></Dial>
  <Dial>+15550003333</Dial>
  <Redirect method="GET">https://example.com/loop</Redirect>
  <Redirect>/again</Redirect>
  <Hangup/>
  <Reject/>
  <Reject reason="busy"/>
</Response>"#;
        let verbs = parse_twiml(doc).unwrap();
        let expected = vec![
            TwimlVerb::Say(SayVerb {
                text: "Hello there & welcome".into(),
                voice: Some("alice".into()),
                language: Some("en-GB".into()),
                loops: 2,
            }),
            TwimlVerb::Play(PlayVerb {
                url: "https://example.com/a.mp3".into(),
                loops: 1000,
                digits: None,
            }),
            TwimlVerb::Play(PlayVerb {
                url: String::new(),
                loops: 1,
                digits: Some("1w2".into()),
            }),
            TwimlVerb::Pause { length: 1 },
            TwimlVerb::Pause { length: 3 },
            TwimlVerb::Gather(GatherVerb {
                input: "speech dtmf".into(),
                action: Some("/next?x=1&y=2".into()),
                method: "GET".into(),
                timeout: 7,
                speech_timeout: Some("auto".into()),
                num_digits: Some(4),
                finish_on_key: "*".into(),
                hints: Some("yes, no".into()),
                language: Some("fr-FR".into()),
                action_on_empty_result: true,
                prompts: vec![
                    TwimlVerb::Say(SayVerb {
                        text: "Speak".into(),
                        voice: None,
                        language: None,
                        loops: 1,
                    }),
                    TwimlVerb::Pause { length: 2 },
                    TwimlVerb::Play(PlayVerb {
                        url: "https://example.com/b.mp3".into(),
                        loops: 1,
                        digits: None,
                    }),
                ],
            }),
            TwimlVerb::Gather(GatherVerb {
                input: "dtmf".into(),
                action: None,
                method: "POST".into(),
                timeout: 5,
                speech_timeout: None,
                num_digits: None,
                finish_on_key: "#".into(),
                hints: None,
                language: None,
                action_on_empty_result: false,
                prompts: vec![],
            }),
            TwimlVerb::Record(RecordVerb {
                action: Some("rec".into()),
                method: "POST".into(),
                timeout: 5,
                max_length: 20,
                finish_on_key: "1234567890*#".into(),
                recording_status_callback: None,
            }),
            TwimlVerb::Dial(DialVerb {
                target: "+15550002222".into(),
                noun: Some("Number".into()),
                action: Some("/dialed".into()),
                method: "POST".into(),
                timeout: 10,
                caller_id: Some("+15550001111".into()),
            }),
            TwimlVerb::Dial(DialVerb {
                target: "+15550003333".into(),
                noun: None,
                action: None,
                method: "POST".into(),
                timeout: 30,
                caller_id: None,
            }),
            TwimlVerb::Redirect {
                url: "https://example.com/loop".into(),
                method: "GET".into(),
            },
            TwimlVerb::Redirect {
                url: "/again".into(),
                method: "POST".into(),
            },
            TwimlVerb::Hangup,
            TwimlVerb::Reject {
                reason: "rejected".into(),
            },
            TwimlVerb::Reject {
                reason: "busy".into(),
            },
        ];
        assert_eq!(verbs, expected);
        let TwimlVerb::Gather(g) = &verbs[5] else {
            unreachable!()
        };
        assert!(g.accepts_digits() && g.accepts_speech());
        let TwimlVerb::Gather(g) = &verbs[6] else {
            unreachable!()
        };
        assert!(g.accepts_digits() && !g.accepts_speech());
    }

    #[test]
    fn reads_connect_stream_and_conversation_relay() {
        let doc = r#"<Response>
  <Connect action="/after" method="GET">
    <Stream url="wss://gw.example.com/stream?token=abc&amp;x=1" name="caller" track="inbound_track">
      <Parameter name="lang" value="en"/><Parameter name="empty"/>
    </Stream>
  </Connect>
  <Connect>
    <ConversationRelay url="ws://127.0.0.1:9/relay?k=v" language="sv-SE" ttsLanguage="en-GB"
        transcriptionLanguage="fr-FR" ttsProvider="Google" voice="en-GB-Journey-D"
        transcriptionProvider="Deepgram" welcomeGreeting="Hi there" welcomeGreetingInterruptible="none"
        interruptible="speech" dtmfDetection="true" partialPrompts="TRUE" hints="a,b" profanityFilter="false">
      <Language code="sv-SE"/><Parameter name="who" value="me"/>
    </ConversationRelay>
  </Connect>
  <Connect><ConversationRelay url="wss://r.example.com/"/></Connect>
</Response>"#;
        let verbs = parse_twiml(doc).unwrap();
        assert_eq!(
            verbs[0],
            TwimlVerb::ConnectStream(ConnectStream {
                url: "wss://gw.example.com/stream".into(),
                dropped_query: Some("token=abc&x=1".into()),
                name: Some("caller".into()),
                track: Some("inbound_track".into()),
                status_callback: None,
                parameters: vec![
                    ("lang".into(), "en".into()),
                    ("empty".into(), String::new())
                ],
                action: Some("/after".into()),
                method: "GET".into(),
            })
        );
        let TwimlVerb::ConnectRelay(relay) = &verbs[1] else {
            panic!("{:?}", verbs[1])
        };
        assert_eq!(
            relay,
            &ConnectRelay {
                url: "ws://127.0.0.1:9/relay?k=v".into(),
                language: Some("sv-SE".into()),
                tts_language: Some("en-GB".into()),
                transcription_language: Some("fr-FR".into()),
                tts_provider: Some("Google".into()),
                voice: Some("en-GB-Journey-D".into()),
                transcription_provider: Some("Deepgram".into()),
                welcome_greeting: Some("Hi there".into()),
                welcome_greeting_interruptible: Some("none".into()),
                interruptible: Some("speech".into()),
                dtmf_detection: true,
                partial_prompts: true,
                hints: Some("a,b".into()),
                profanity_filter: false,
                parameters: vec![("who".into(), "me".into())],
                action: None,
                method: "POST".into(),
            }
        );
        assert_eq!(relay.prompt_language(), "fr-FR");
        let TwimlVerb::ConnectRelay(plain) = &verbs[2] else {
            panic!("{:?}", verbs[2])
        };
        assert_eq!(plain.prompt_language(), "en-US");
        assert!(!plain.dtmf_detection && !plain.partial_prompts && plain.profanity_filter);
        assert!(speech_interrupts(plain.interruptible.as_deref()));
        assert!(speech_interrupts(Some("speech")) && speech_interrupts(Some("true")));
        assert!(!speech_interrupts(Some("none")) && !speech_interrupts(Some("DTMF")));
        assert!(!speech_interrupts(Some("false")));
    }

    #[test]
    fn refuses_what_twilio_cannot_run() {
        let cases = [
            (
                "<Response><Dance/></Response>",
                "line 1, column 11: <Dance> is not a TwiML verb",
            ),
            (
                "<Response>\n<Start><Stream url=\"wss://x\"/></Start></Response>",
                "line 2, column 1: <Start> is TwiML the simulator does not run (only <Start><Recording/></Start>)",
            ),
            (
                "<Response><Connect/></Response>",
                "line 1, column 11: <Connect> needs a noun: <Stream> or <ConversationRelay>",
            ),
            (
                "<Response><Connect><Room>r</Room></Connect></Response>",
                "line 1, column 20: <Connect><Room> is TwiML the simulator does not run",
            ),
            (
                "<Response><Connect><Stream url=\"wss://a\"/><Stream url=\"wss://b\"/></Connect></Response>",
                "line 1, column 43: <Connect> holds one noun; <Stream> is a second one",
            ),
            (
                "<Response><Connect><Stream/></Connect></Response>",
                "line 1, column 20: <Stream> needs a url",
            ),
            (
                "<Response><Connect><Stream url=\"https://x/s\"/></Connect></Response>",
                "line 1, column 20: <Stream> url \"https://x/s\" is not a wss:// URL",
            ),
            (
                "<Response><Connect><ConversationRelay url=\"/relay\"/></Connect></Response>",
                "line 1, column 20: <ConversationRelay> url \"/relay\" is not a wss:// URL",
            ),
            (
                "<Response><Connect><Stream url=\"wss://x\"><Parameter value=\"v\"/></Stream></Connect></Response>",
                "line 1, column 42: <Parameter> needs a name",
            ),
            (
                "<Response><Connect><Stream url=\"wss://x\"><Say>hi</Say></Stream></Connect></Response>",
                "line 1, column 42: <Stream> may nest <Parameter>, not <Say>",
            ),
            (
                "<Response>Hello</Response>",
                "line 1, column 1: text \"Hello\" directly in <Response>: wrap it in a verb such as <Say>",
            ),
            (
                "<Response><Gather><Dial>+1555</Dial></Gather></Response>",
                "line 1, column 19: <Gather> may nest <Say>, <Play> and <Pause>, not <Dial>",
            ),
            (
                "<Response><Redirect> </Redirect></Response>",
                "line 1, column 11: <Redirect> needs a URL",
            ),
            (
                "<Response><say>lower case</say></Response>",
                "line 1, column 11: <say> is not a TwiML verb",
            ),
            (
                "<response/>",
                "line 1, column 1: the root element is <response>; TwiML needs <Response>",
            ),
        ];
        for (doc, message) in cases {
            assert_eq!(
                parse_twiml(doc).unwrap_err().to_string(),
                message,
                "{doc:?}"
            );
        }
        assert_eq!(parse_twiml("<Response/>"), Ok(vec![]));
    }
}
