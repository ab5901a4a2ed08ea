//! The simulator's reading of a TwiML document: a flat list of verbs the call driver
//! executes in order.

use crate::twiml::{parse_response, TwimlError};
use crate::xml_tree::{error_at, Element, Node};

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

/// The verbs Twilio knows but the simulator does not run; a document using one fails
/// like an unknown verb, with a message saying so.
const NOT_SIMULATED: &[&str] = &[
    "Connect", "Start", "Stop", "Enqueue", "Leave", "Echo", "Pay", "Prompt", "Refer", "Sms",
    "Message", "Queue",
];

/// Reads a TwiML document into the verbs of its `<Response>`, in order.
///
/// Fails (Twilio's error 12100) when [`check_twiml`](crate::twiml::check_twiml) does, when
/// a verb is unknown or not simulated (`<Connect>`, `<Start>`, `<Enqueue>`, …), when text
/// stands directly in `<Response>`, when `<Gather>` nests anything but `<Say>`, `<Play>`
/// and `<Pause>`, or when `<Redirect>` has no URL. Attributes Twilio would warn about
/// (an unparseable number, an unknown name) are read at their defaults.
///
/// ```
/// use telephony_twilio::simulator::{parse_twiml, TwimlVerb};
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
                ))
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
                        ))
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
        }),
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
        other if NOT_SIMULATED.contains(&other) => {
            return Err(error_at(
                doc,
                e.offset,
                format!("<{other}> is TwiML the simulator does not run"),
            ))
        }
        other => {
            return Err(error_at(
                doc,
                e.offset,
                format!("<{other}> is not a TwiML verb"),
            ))
        }
    })
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
    fn refuses_what_twilio_cannot_run() {
        let cases = [
            ("<Response><Dance/></Response>", "line 1, column 11: <Dance> is not a TwiML verb"),
            ("<Response>\n<Connect><Stream url=\"wss://x\"/></Connect></Response>", "line 2, column 1: <Connect> is TwiML the simulator does not run"),
            ("<Response>Hello</Response>", "line 1, column 1: text \"Hello\" directly in <Response>: wrap it in a verb such as <Say>"),
            ("<Response><Gather><Dial>+1555</Dial></Gather></Response>", "line 1, column 19: <Gather> may nest <Say>, <Play> and <Pause>, not <Dial>"),
            ("<Response><Redirect> </Redirect></Response>", "line 1, column 11: <Redirect> needs a URL"),
            ("<Response><say>lower case</say></Response>", "line 1, column 11: <say> is not a TwiML verb"),
            ("<response/>", "line 1, column 1: the root element is <response>; TwiML needs <Response>"),
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
