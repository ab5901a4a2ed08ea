//! TwiML responses for messaging and voice webhooks.
//!
//! Twilio reads the body of the answer to an inbound-message webhook as TwiML: an empty
//! `<Response>` acknowledges the message without replying, and `<Message>` replies with
//! text. The strings match what the official SDKs produce (twilio-python
//! `MessagingResponse`), with the XML declaration first.
//!
//! Voice answers ([`voice_response`]) follow **twilio-node**'s `VoiceResponse` style,
//! pinned by exact-string tests from its spec: the declaration
//! `<?xml version="1.0" encoding="UTF-8"?>` with nothing before it and no newline after,
//! attributes in a fixed order per verb (node keeps insertion order; ours is the order
//! listed on each verb below), elements without content self-closed as `<X/>`, array
//! attributes space-separated.
//!
//! [`check_twiml`] tells whether a raw document (one the gateway did not render, such as
//! [`CallAnswer::Markup`](telephony_core::voice::CallAnswer::Markup)) is TwiML Twilio can
//! parse.

use telephony_core::voice::{
    Dial, Gather, GatherPrompt, Play, Record, RecordCall, RecordingChannels, Redirect, RelayVerb,
    Say, SpeechTimeout, StreamVerb, Verb, VoiceResponse,
};

/// The content type of every TwiML answer (Twilio accepts `text/xml` or
/// `application/xml`; anything else is error 12300).
pub const CONTENT_TYPE: &str = "text/xml";

/// The empty TwiML document: acknowledges a webhook without doing anything.
///
/// ```
/// assert_eq!(
///     telephony_twilio::twiml::EMPTY_RESPONSE,
///     r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
/// );
/// ```
pub const EMPTY_RESPONSE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// The XML declaration every document starts with.
const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// A TwiML document that replies to the sender with `text`.
///
/// `&`, `<`, `>`, `"` and `'` are escaped; characters that XML 1.0 cannot carry at all
/// (C0 controls other than tab, LF and CR; U+FFFE and U+FFFF) are dropped, so the result
/// is always a well-formed document.
///
/// ```
/// use telephony_twilio::twiml::message_response;
/// assert_eq!(
///     message_response("Tom & Jerry <3"),
///     r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Tom &amp; Jerry &lt;3</Message></Response>"#
/// );
/// ```
pub fn message_response(text: &str) -> String {
    let mut out = String::with_capacity(XML_DECLARATION.len() + 40 + text.len());
    out.push_str(XML_DECLARATION);
    out.push_str("<Response><Message>");
    push_escaped(&mut out, text);
    out.push_str("</Message></Response>");
    out
}

/// Appends `text` to `out` with the five XML special characters escaped and characters
/// that are not allowed in XML 1.0 removed.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// Renders a [`VoiceResponse`] as a TwiML document, exactly as written: an empty
/// response gives `<Response/>` (Twilio then ends the call). The gateway does not call
/// this directly but [`Provider::render_voice`](telephony_core::Provider::render_voice),
/// which never sends an empty document (see
/// [`TwilioProvider`](crate::TwilioProvider)).
///
/// Per verb, attributes in this order: `<Say voice language loop>`, `<Play loop>`,
/// `<Gather input action timeout speechTimeout numDigits finishOnKey language hints>`
/// (`input` is `dtmf`, `speech` or `dtmf speech`; `hints` joined with `, ` as Twilio's
/// docs write them), `<Record action timeout maxLength transcribe recordingStatusCallback>`,
/// `<Start><Recording channels recordingStatusCallback/></Start>` (channels `mono` or
/// `dual`), `<Dial callerId timeout>`,
/// `<Pause length>`, `<Redirect method>`, `<Reject reason>`,
/// `<Connect><Stream url name>` and `<Connect><ConversationRelay url language ttsLanguage
/// transcriptionLanguage ttsProvider voice transcriptionProvider welcomeGreeting
/// welcomeGreetingInterruptible interruptible dtmfDetection partialPrompts hints
/// profanityFilter>` (booleans as `true`/`false`, `hints` joined with `, `), each stream
/// or relay with its parameters as `<Parameter name value/>` children in the order they
/// were added. Text and attribute values are escaped as in [`message_response`]
/// (attribute tabs and line breaks as character references, so they survive attribute
/// normalisation).
///
/// A stream or relay without a URL is rendered without the `url` attribute (the gateway
/// fills the URL in before answering); [`realtime_url_problem`] tells whether the URLs
/// are ones Twilio accepts, and
/// [`TwilioProvider::render_voice`](crate::TwilioProvider) refuses the response if not.
///
/// ```
/// use telephony_core::voice::{Say, VoiceResponse};
/// use telephony_twilio::twiml::voice_response;
/// assert_eq!(
///     voice_response(&VoiceResponse::new().say(Say::new("Hello").voice("alice")).hangup()),
///     r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="alice">Hello</Say><Hangup/></Response>"#
/// );
/// ```
pub fn voice_response(response: &VoiceResponse) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(XML_DECLARATION);
    let mut body = String::new();
    for verb in response.verbs() {
        push_verb(&mut body, verb);
    }
    push_element(&mut out, "Response", &[], &body);
    out
}

/// One attribute: name and value, or `None` to leave it out.
type Attr<'a> = (&'static str, Option<String>);

fn push_verb(out: &mut String, verb: &Verb) {
    match verb {
        Verb::Say(say) => push_say(out, say),
        Verb::Play(play) => push_play(out, play),
        Verb::Gather(gather) => push_gather(out, gather),
        Verb::Record(record) => push_record(out, record),
        Verb::Dial(dial) => push_dial(out, dial),
        Verb::Pause { seconds } => push_pause(out, *seconds),
        Verb::Redirect(redirect) => push_redirect(out, redirect),
        Verb::Hangup => push_element(out, "Hangup", &[], ""),
        Verb::Reject(reason) => push_element(
            out,
            "Reject",
            &[("reason", Some(reason.as_str().to_string()))],
            "",
        ),
        Verb::Stream(stream) => push_stream(out, stream),
        Verb::Relay(relay) => push_relay(out, relay),
        Verb::SendDigits(digits) => {
            push_element(out, "Play", &[("digits", Some(play_digits(digits)))], "")
        }
        Verb::RecordCall(record) => push_record_call(out, record),
        // `Verb` is non-exhaustive: a verb added to core later renders as nothing until
        // this renderer learns it, rather than as something Twilio would misread.
        _ => {}
    }
}

fn push_say(out: &mut String, say: &Say) {
    let attrs: [Attr<'_>; 3] = [
        ("voice", say.voice.clone()),
        ("language", say.language.clone()),
        ("loop", say.loop_count.map(|n| n.to_string())),
    ];
    push_element(out, "Say", &attrs, &escaped(&say.text));
}

fn push_play(out: &mut String, play: &Play) {
    let attrs: [Attr<'_>; 1] = [("loop", play.loop_count.map(|n| n.to_string()))];
    push_element(out, "Play", &attrs, &escaped(&play.url));
}

/// `<Play digits>` knows one pause, `w` (half a second): a `W` (one second) is `ww`.
///
/// ```
/// use telephony_core::voice::Digits;
/// use telephony_twilio::twiml::play_digits;
/// assert_eq!(play_digits(&Digits::parse("W1w2#").unwrap()), "ww1w2#");
/// ```
pub fn play_digits(digits: &telephony_core::voice::Digits) -> String {
    digits.as_str().replace('W', "ww")
}

fn push_pause(out: &mut String, seconds: u32) {
    push_element(out, "Pause", &[("length", Some(seconds.to_string()))], "");
}

fn push_gather(out: &mut String, gather: &Gather) {
    let input = match (gather.dtmf, gather.speech) {
        (false, false) => None,
        (true, false) => Some("dtmf"),
        (false, true) => Some("speech"),
        (true, true) => Some("dtmf speech"),
    };
    let speech_timeout = gather.speech_timeout.map(|t| match t {
        SpeechTimeout::Auto => "auto".to_string(),
        SpeechTimeout::Seconds(n) => n.to_string(),
    });
    let hints = Some(gather.hints.join(", ")).filter(|h| !h.is_empty());
    let attrs: [Attr<'_>; 8] = [
        ("input", input.map(str::to_string)),
        ("action", gather.action.clone()),
        ("timeout", gather.timeout.map(|n| n.to_string())),
        ("speechTimeout", speech_timeout),
        ("numDigits", gather.num_digits.map(|n| n.to_string())),
        ("finishOnKey", gather.finish_on_key.clone()),
        ("language", gather.language.clone()),
        ("hints", hints),
    ];
    let mut body = String::new();
    for prompt in &gather.prompts {
        match prompt {
            GatherPrompt::Say(say) => push_say(&mut body, say),
            GatherPrompt::Play(play) => push_play(&mut body, play),
            GatherPrompt::Pause { seconds } => push_pause(&mut body, *seconds),
            _ => {}
        }
    }
    push_element(out, "Gather", &attrs, &body);
}

fn push_record(out: &mut String, record: &Record) {
    let attrs: [Attr<'_>; 5] = [
        ("action", record.action.clone()),
        ("timeout", record.timeout_secs.map(|n| n.to_string())),
        ("maxLength", record.max_length_secs.map(|n| n.to_string())),
        ("transcribe", record.transcribe.then(|| "true".to_string())),
        ("recordingStatusCallback", record.status_callback.clone()),
    ];
    push_element(out, "Record", &attrs, "");
}

/// `<Start><Recording channels recordingStatusCallback/></Start>`: records the rest of
/// the call in the background (`mono` or `dual`).
fn push_record_call(out: &mut String, record: &RecordCall) {
    let channels = match record.channels {
        RecordingChannels::Dual => "dual",
        _ => "mono",
    };
    let attrs: [Attr<'_>; 2] = [
        ("channels", Some(channels.to_string())),
        ("recordingStatusCallback", record.status_callback.clone()),
    ];
    let mut body = String::new();
    push_element(&mut body, "Recording", &attrs, "");
    push_element(out, "Start", &[], &body);
}

/// `<Dial action callerId timeout>number</Dial>`, or with a `<Sip>` noun for a SIP URI.
fn push_dial(out: &mut String, dial: &Dial) {
    let attrs: [Attr<'_>; 3] = [
        ("action", dial.action.clone()),
        ("callerId", dial.caller_id.clone()),
        ("timeout", dial.timeout.map(|n| n.to_string())),
    ];
    let target = dial.number.trim();
    let lower = target.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        let mut inner = String::new();
        push_element(&mut inner, "Sip", &[], &escaped(target));
        push_element(out, "Dial", &attrs, &inner);
    } else {
        push_element(out, "Dial", &attrs, &escaped(target));
    }
}

fn push_redirect(out: &mut String, redirect: &Redirect) {
    let attrs: [Attr<'_>; 1] = [("method", redirect.method.as_ref().map(|m| m.to_string()))];
    push_element(out, "Redirect", &attrs, &escaped(&redirect.url));
}

/// `<Connect><Stream url name>…</Stream></Connect>`.
fn push_stream(out: &mut String, stream: &StreamVerb) {
    let attrs: [Attr<'_>; 2] = [("url", stream.url.clone()), ("name", stream.name.clone())];
    let mut inner = String::new();
    push_element(
        &mut inner,
        "Stream",
        &attrs,
        &parameters(&stream.parameters),
    );
    push_element(out, "Connect", &[], &inner);
}

/// `<Connect><ConversationRelay …>…</ConversationRelay></Connect>`.
fn push_relay(out: &mut String, relay: &RelayVerb) {
    let flag = |b: Option<bool>| b.map(|b| b.to_string());
    let hints = Some(relay.hints.join(", ")).filter(|h| !h.is_empty());
    let attrs: [Attr<'_>; 14] = [
        ("url", relay.url.clone()),
        ("language", relay.language.clone()),
        ("ttsLanguage", relay.tts_language.clone()),
        (
            "transcriptionLanguage",
            relay.transcription_language.clone(),
        ),
        ("ttsProvider", relay.tts_provider.clone()),
        ("voice", relay.voice.clone()),
        (
            "transcriptionProvider",
            relay.transcription_provider.clone(),
        ),
        ("welcomeGreeting", relay.welcome_greeting.clone()),
        (
            "welcomeGreetingInterruptible",
            flag(relay.welcome_greeting_interruptible),
        ),
        ("interruptible", flag(relay.interruptible)),
        ("dtmfDetection", flag(relay.dtmf_detection)),
        ("partialPrompts", flag(relay.partial_prompts)),
        ("hints", hints),
        ("profanityFilter", flag(relay.profanity_filter)),
    ];
    let mut inner = String::new();
    push_element(
        &mut inner,
        "ConversationRelay",
        &attrs,
        &parameters(&relay.parameters),
    );
    push_element(out, "Connect", &[], &inner);
}

/// `<Parameter name value/>` for each pair, in order.
fn parameters(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        let attrs: [Attr<'_>; 2] = [("name", Some(name.clone())), ("value", Some(value.clone()))];
        push_element(&mut out, "Parameter", &attrs, "");
    }
    out
}

/// What is wrong with the socket URLs of a response's `<Stream>`s and
/// `<ConversationRelay>`s for Twilio, or `None` when they are all usable: each needs a
/// URL (the gateway fills in its own before rendering), `wss://` with a host, and no
/// query string, which Twilio strips (values go in parameters instead).
///
/// ```
/// use telephony_core::voice::{StreamVerb, VoiceResponse};
/// use telephony_twilio::twiml::realtime_url_problem;
/// let ok = VoiceResponse::new().stream(StreamVerb::new().url("wss://gw.example.com/stream"));
/// assert_eq!(realtime_url_problem(&ok), None);
/// let query = VoiceResponse::new().stream(StreamVerb::new().url("wss://gw.example.com/s?token=1"));
/// assert_eq!(
///     realtime_url_problem(&query).as_deref(),
///     Some("the <Stream> URL \"wss://gw.example.com/s?token=1\" has a query string, which Twilio strips: pass values as parameters")
/// );
/// ```
pub fn realtime_url_problem(response: &VoiceResponse) -> Option<String> {
    response.verbs().iter().find_map(|verb| {
        let (element, url) = match verb {
            Verb::Stream(stream) => ("<Stream>", stream.url.as_deref()),
            Verb::Relay(relay) => ("<ConversationRelay>", relay.url.as_deref()),
            _ => return None,
        };
        let Some(url) = url else {
            return Some(format!(
                "the {element} has no URL (the gateway fills in its own before rendering)"
            ));
        };
        let host = url
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case("wss://"))
            .map(|_| &url[6..])
            // A plain ws:// URL is let through for loopback only (the simulator and tests
            // on this machine; Twilio itself cannot reach loopback at all).
            .or_else(|| {
                let rest = url
                    .get(..5)
                    .filter(|s| s.eq_ignore_ascii_case("ws://"))
                    .map(|_| &url[5..])?;
                let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
                let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
                matches!(name, "127.0.0.1" | "localhost" | "[::1]").then_some(rest)
            });
        match host {
            None => Some(format!(
                "the {element} URL {url:?} is not a wss:// URL (Twilio opens only secure WebSockets)"
            )),
            Some(rest) if rest.is_empty() || rest.starts_with(['/', '?', '#']) => {
                Some(format!("the {element} URL {url:?} has no host"))
            }
            Some(_) if url.contains('?') => Some(format!(
                "the {element} URL {url:?} has a query string, which Twilio strips: pass values as parameters"
            )),
            Some(_) => None,
        }
    })
}

/// `<name attrs…>content</name>`, or `<name attrs…/>` when `content` (already escaped
/// markup) is empty, as twilio-node writes it.
fn push_element(out: &mut String, name: &str, attrs: &[Attr<'_>], content: &str) {
    out.push('<');
    out.push_str(name);
    for (key, value) in attrs {
        if let Some(value) = value {
            out.push(' ');
            out.push_str(key);
            out.push_str("=\"");
            push_escaped_attr(out, value);
            out.push('"');
        }
    }
    if content.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        out.push_str(content);
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

/// Like [`push_escaped`], and tab, LF and CR as character references: a parser turns
/// them into spaces inside an attribute value otherwise.
fn push_escaped_attr(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => {
                let mut buf = [0u8; 4];
                push_escaped(out, c.encode_utf8(&mut buf));
            }
        }
    }
}

/// Why a document is not TwiML Twilio can read (Twilio's error 12100, "document parse
/// failure"): where (1-based line and column, in characters) and what.
///
/// ```
/// use telephony_twilio::twiml::check_twiml;
/// let err = check_twiml("<Response><Say>Tom & Jerry</Say></Response>").unwrap_err();
/// assert_eq!((err.line, err.column), (1, 20));
/// assert!(err.to_string().starts_with("line 1, column 20: "), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TwimlError {
    /// Line of the problem, from 1.
    pub line: usize,
    /// Column of the problem, from 1, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Checks that `doc` is a document Twilio will parse: well-formed XML (every tag closed
/// and matched, no bare `&` or `<`, only the five predefined entities and character
/// references, no duplicate attributes), nothing before the XML declaration (not even
/// whitespace), and a `<Response>` root element with nothing but whitespace, comments
/// and processing instructions around it.
///
/// It does not check verbs or attributes: Twilio reports those separately (and the
/// `parse_twiml` of the `telephony-twilio-simulator` crate refuses verbs it does not know).
///
/// ```
/// use telephony_twilio::twiml::check_twiml;
/// assert_eq!(check_twiml(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hi</Say></Response>"#), Ok(()));
/// assert_eq!(
///     check_twiml("<Reply/>").unwrap_err().to_string(),
///     "line 1, column 1: the root element is <Reply>; TwiML needs <Response>"
/// );
/// assert_eq!(
///     check_twiml("<Response>\n  <Say>Hi</Response>").unwrap_err().line,
///     2
/// );
/// ```
pub fn check_twiml(doc: &str) -> Result<(), TwimlError> {
    parse_response(doc).map(|_| ())
}

/// The `<Response>` element of `doc`, parsed (see [`check_twiml`] for what is refused).
///
/// ```
/// use telephony_twilio::twiml::parse_response;
/// let root = parse_response("<Response><Hangup/></Response>").unwrap();
/// assert_eq!(root.elements().next().unwrap().name, "Hangup");
/// assert_eq!(parse_response("<Reply/>").unwrap_err().column, 1);
/// ```
pub fn parse_response(doc: &str) -> Result<crate::xml_tree::Element, TwimlError> {
    let root = crate::xml_tree::parse(doc)?;
    if root.name != "Response" {
        return Err(crate::xml_tree::error_at(
            doc,
            root.offset,
            format!(
                "the root element is <{}>; TwiML needs <Response>",
                root.name
            ),
        ));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_response_is_exact() {
        assert_eq!(
            EMPTY_RESPONSE,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
        );
    }

    #[test]
    fn message_response_plain() {
        // twilio-python test_messaging_response: `<Message>Hello</Message>`.
        assert_eq!(
            message_response("Hello"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>Hello</Message></Response>"#
        );
    }

    #[test]
    fn message_response_escapes_all_five() {
        assert_eq!(
            message_response(r#"a & b < c > d "e" 'f'"#),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;</Message></Response>"#
        );
    }

    #[test]
    fn message_response_does_not_double_escape() {
        assert_eq!(
            message_response("&amp;"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>&amp;amp;</Message></Response>"#
        );
    }

    #[test]
    fn message_response_keeps_unicode_and_whitespace() {
        assert_eq!(
            message_response("Olá 👍\n\tline two\r\n"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>Olá 👍\n\tline two\r\n</Message></Response>"
        );
    }

    #[test]
    fn message_response_drops_characters_xml_cannot_carry() {
        assert_eq!(
            message_response("a\u{0}b\u{7}c\u{1b}d\u{FFFF}e"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>abcde</Message></Response>"#
        );
    }

    #[test]
    fn message_response_empty_text() {
        assert_eq!(
            message_response(""),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message></Message></Response>"#
        );
    }

    fn err(doc: &str) -> (usize, usize, String) {
        let e = check_twiml(doc).unwrap_err();
        (e.line, e.column, e.message)
    }

    #[test]
    fn check_twiml_accepts_what_the_renderers_write_and_plain_twiml() {
        for doc in [
            EMPTY_RESPONSE,
            "<Response/>",
            "\u{feff}<?xml version=\"1.0\"?><Response/>",
            "<Response>\n  <Say voice=\"alice\">Tom &amp; Jerry &#x263A; &#65;</Say>\n</Response>\n",
            "<!-- a comment --><Response><![CDATA[x<y]]></Response>",
            "<Response><Gather input=\"speech\"><Say>Hi<break time=\"1s\"/></Say></Gather></Response>",
        ] {
            assert_eq!(check_twiml(doc), Ok(()), "{doc:?}");
        }
        assert_eq!(check_twiml(&message_response("a & b < c")), Ok(()));
    }

    #[test]
    fn check_twiml_names_line_column_and_problem() {
        let cases: [(&str, (usize, usize, &str)); 12] = [
            ("", (1, 1, "no root element")),
            (
                "<Reply/>",
                (1, 1, "the root element is <Reply>; TwiML needs <Response>"),
            ),
            (
                r#"{"say":"hi"}"#,
                (
                    1,
                    1,
                    "text \"{\\\"say\\\":\\\"hi\\\"}\" outside the root element",
                ),
            ),
            (
                "<Response><Say>Hi</Response>",
                (
                    1,
                    18,
                    "ill-formed document: expected `</Say>`, but `</Response>` was found",
                ),
            ),
            (
                "<Response>\n<Say>Hi</Say>",
                (1, 1, "<Response> is never closed"),
            ),
            (
                " <?xml version=\"1.0\"?><Response/>",
                (
                    1,
                    2,
                    "the XML declaration must come first: nothing, not even whitespace, may precede <?xml",
                ),
            ),
            (
                "<Response>\n  <Say>Tom & Jerry</Say>\n</Response>",
                (
                    2,
                    12,
                    "ill-formed document: entity or character reference not closed: `;` not found before end of input",
                ),
            ),
            (
                "<Response><Say>1 < 2</Say></Response>",
                (
                    1,
                    18,
                    "a bare < that does not start a tag (write it as &lt;)",
                ),
            ),
            (
                "<Response><Say>&nbsp;</Say></Response>",
                (
                    1,
                    16,
                    "unknown entity &nbsp; (a bare & must be written &amp;)",
                ),
            ),
            (
                "<Response/><Response/>",
                (
                    1,
                    12,
                    "a second root element <Response> after the first one closed",
                ),
            ),
            (
                "<Response/>trailing",
                (1, 12, "text \"trailing\" outside the root element"),
            ),
            (
                "<Response",
                (
                    1,
                    1,
                    "syntax error: tag not closed: `>` not found before end of input",
                ),
            ),
        ];
        for (doc, (line, column, message)) in cases {
            assert_eq!(err(doc), (line, column, message.to_string()), "{doc:?}");
        }
        // Columns count characters, not bytes.
        assert_eq!(err("<Response><Say>Olá 👍 &</Say></Response>").1, 22);
        assert_eq!(
            check_twiml("<Reply/>").unwrap_err().to_string(),
            "line 1, column 1: the root element is <Reply>; TwiML needs <Response>"
        );
    }
}
