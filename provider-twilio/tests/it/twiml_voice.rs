//! Voice TwiML, exact strings: twilio-node's `VoiceResponse.spec.js` (VOICE.md §5) where
//! it has the case, the issue's example, and escaping of hostile input.

use telephony_core::voice::{
    CallAnswer, Dial, Gather, OutboundCall, Play, Record, Redirect, RejectReason, RelayVerb, Say,
    SpeechTimeout, StreamVerb, VoiceError, VoiceResponse,
};
use telephony_core::{Provider, ProviderError};
use telephony_twilio::twiml::{check_twiml, realtime_url_problem, voice_response};
use telephony_twilio::{TwilioConfig, TwilioProvider};

const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// `DECL<Response>{inner}</Response>`.
fn doc(inner: &str) -> String {
    format!("{DECL}<Response>{inner}</Response>")
}

#[test]
fn node_empty_response() {
    assert_eq!(
        voice_response(&VoiceResponse::new()),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
    );
}

#[test]
fn node_pause() {
    assert_eq!(
        voice_response(&VoiceResponse::new().pause(5)),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Pause length="5"/></Response>"#
    );
}

#[test]
fn node_reject_busy() {
    assert_eq!(
        voice_response(&VoiceResponse::new().reject(RejectReason::Busy)),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>"#
    );
    assert_eq!(
        voice_response(&VoiceResponse::new().reject(RejectReason::Rejected)),
        doc(r#"<Reject reason="rejected"/>"#)
    );
}

#[test]
fn node_gather_with_nested_say() {
    let r = VoiceResponse::new().gather(
        Gather::new()
            .timeout(5)
            .finish_on_key("abcd")
            .say(Say::new("hello world!").loop_count(2)),
    );
    assert_eq!(
        voice_response(&r),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather timeout="5" finishOnKey="abcd"><Say loop="2">hello world!</Say></Gather></Response>"#
    );
}

#[test]
fn sdk_redirect_escapes_ampersand() {
    let r = VoiceResponse::new()
        .redirect(Redirect::new("example.com?id=34&action=hey").method(http::Method::POST));
    assert_eq!(
        voice_response(&r),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Redirect method="POST">example.com?id=34&amp;action=hey</Redirect></Response>"#
    );
}

#[test]
fn sdk_hangup_and_plain_dial() {
    assert_eq!(
        voice_response(&VoiceResponse::new().hangup()),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#
    );
    assert_eq!(
        voice_response(&VoiceResponse::new().dial("1231231234")),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial>1231231234</Dial></Response>"#
    );
}

#[test]
fn issue_example_say_alice_then_hangup() {
    let r = VoiceResponse::new()
        .say(Say::new("Hello").voice("alice"))
        .hangup();
    assert_eq!(
        voice_response(&r),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="alice">Hello</Say><Hangup/></Response>"#
    );
}

#[test]
fn say_attribute_order_voice_language_loop() {
    let r = VoiceResponse::new().say(
        Say::new("Hello Monkey")
            .loop_count(3)
            .language("fr")
            .voice("man"),
    );
    assert_eq!(
        voice_response(&r),
        doc(r#"<Say voice="man" language="fr" loop="3">Hello Monkey</Say>"#)
    );
}

#[test]
fn gather_speech_auto_with_hints() {
    let r = VoiceResponse::new().gather(
        Gather::new()
            .speech()
            .speech_timeout(SpeechTimeout::Auto)
            .hints(["yes", "no", "talk to a person"])
            .language("en-US")
            .action("https://gw.example.com/voice/gather?step=1&lang=en")
            .say("How can I help?")
            .pause(1),
    );
    assert_eq!(
        voice_response(&r),
        doc(concat!(
            r#"<Gather input="speech" action="https://gw.example.com/voice/gather?step=1&amp;lang=en" "#,
            r#"speechTimeout="auto" language="en-US" hints="yes, no, talk to a person">"#,
            r#"<Say>How can I help?</Say><Pause length="1"/></Gather>"#
        ))
    );
}

#[test]
fn gather_speech_and_dtmf_is_space_separated() {
    let r = VoiceResponse::new().gather(
        Gather::new()
            .speech()
            .dtmf()
            .speech_timeout(SpeechTimeout::Seconds(3))
            .num_digits(4)
            .play(Play::new("https://a.example/menu.mp3").loop_count(0)),
    );
    assert_eq!(
        voice_response(&r),
        doc(concat!(
            r#"<Gather input="dtmf speech" speechTimeout="3" numDigits="4">"#,
            r#"<Play loop="0">https://a.example/menu.mp3</Play></Gather>"#
        ))
    );
    assert_eq!(
        voice_response(&VoiceResponse::new().gather(Gather::new())),
        doc("<Gather/>")
    );
}

#[test]
fn record_dial_play() {
    let r = VoiceResponse::new()
        .play("https://a.example/beep.wav")
        .record(
            Record::new()
                .max_length(30)
                .action("https://gw.example.com/r")
                .transcribe(true),
        )
        .record(Record::new())
        .dial(
            Dial::new("+15550005678")
                .timeout(20)
                .caller_id("+15550001234"),
        );
    assert_eq!(
        voice_response(&r),
        doc(concat!(
            r#"<Play>https://a.example/beep.wav</Play>"#,
            r#"<Record action="https://gw.example.com/r" maxLength="30" transcribe="true"/>"#,
            r#"<Record/>"#,
            r#"<Dial callerId="+15550001234" timeout="20">+15550005678</Dial>"#
        ))
    );
}

#[test]
fn text_injection_is_escaped() {
    let r = VoiceResponse::new()
        .say("</Say><Hangup/><Say>")
        .say("Tom & Jerry's \"show\" ]]> <![CDATA[x]]>");
    assert_eq!(
        voice_response(&r),
        doc(concat!(
            "<Say>&lt;/Say&gt;&lt;Hangup/&gt;&lt;Say&gt;</Say>",
            "<Say>Tom &amp; Jerry&apos;s &quot;show&quot; ]]&gt; &lt;![CDATA[x]]&gt;</Say>"
        ))
    );
}

#[test]
fn attribute_injection_is_escaped() {
    let r = VoiceResponse::new().say(
        Say::new("hi")
            .voice("alice\" loop=\"99")
            .language("en'\n<x>&\t\r"),
    );
    assert_eq!(
        voice_response(&r),
        doc(
            r#"<Say voice="alice&quot; loop=&quot;99" language="en&apos;&#10;&lt;x&gt;&amp;&#9;&#13;">hi</Say>"#
        )
    );
}

#[test]
fn control_characters_are_dropped_tab_and_newline_kept() {
    // XML 1.0 cannot carry C0 controls other than tab, LF and CR, even escaped.
    let r = VoiceResponse::new()
        .say("a\u{0}b\u{1}c\u{8}d\u{b}e\u{c}f\u{1b}g\u{1f}h\ti\nj\u{FFFE}k")
        .redirect("https://x.example/\u{7}next");
    assert_eq!(
        voice_response(&r),
        doc("<Say>abcdefgh\ti\njk</Say><Redirect>https://x.example/next</Redirect>")
    );
    let only_controls = VoiceResponse::new().say("\u{0}\u{1}");
    assert_eq!(voice_response(&only_controls), doc("<Say/>"));
}

#[test]
fn provider_renders_text_xml_and_never_an_empty_document() {
    let twilio = TwilioProvider::new(TwilioConfig::new("AC1", "token")).unwrap();
    let empty = twilio.render_voice(&VoiceResponse::new()).unwrap();
    assert_eq!(empty.content_type, "text/xml");
    assert_eq!(
        std::str::from_utf8(&empty.body).unwrap(),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#
    );
    let r = VoiceResponse::new().say("Hi").pause(2);
    let answer = twilio.render_voice(&r).unwrap();
    assert_eq!(answer.content_type, "text/xml");
    assert_eq!(
        std::str::from_utf8(&answer.body).unwrap(),
        voice_response(&r)
    );
    assert!(!answer.body.starts_with(b" ") && !answer.body.starts_with(b"\n"));
}

#[test]
fn stream_in_connect_with_name_and_escaped_parameters() {
    let r = VoiceResponse::new().say("Connecting you.").stream(
        StreamVerb::new()
            .url("wss://gw.example.com/telephony/stream")
            .name("agent \"one\"")
            .parameter("token", "a&b<c>\"d\"'e'")
            .parameter("lang", "en\tUS\n"),
    );
    let rendered = voice_response(&r);
    assert_eq!(
        rendered,
        doc(concat!(
            r#"<Say>Connecting you.</Say>"#,
            r#"<Connect><Stream url="wss://gw.example.com/telephony/stream" name="agent &quot;one&quot;">"#,
            r#"<Parameter name="token" value="a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;"/>"#,
            r#"<Parameter name="lang" value="en&#9;US&#10;"/>"#,
            r#"</Stream></Connect>"#
        ))
    );
    assert_eq!(check_twiml(&rendered), Ok(()));
}

#[test]
fn stream_bare_and_without_url() {
    assert_eq!(
        voice_response(&VoiceResponse::new().stream(StreamVerb::new().url("wss://x.example/s"))),
        doc(r#"<Connect><Stream url="wss://x.example/s"/></Connect>"#)
    );
    // What it has: no url attribute (render_voice refuses this one).
    assert_eq!(
        voice_response(&VoiceResponse::new().stream(StreamVerb::new().parameter("k", "v"))),
        doc(r#"<Connect><Stream><Parameter name="k" value="v"/></Stream></Connect>"#)
    );
    assert_eq!(
        voice_response(&VoiceResponse::new().stream(StreamVerb::new())),
        doc("<Connect><Stream/></Connect>")
    );
}

#[test]
fn relay_every_attribute_in_order() {
    let mut relay = RelayVerb::new()
        .url("wss://gw.example.com/telephony/relay")
        .language("en-US")
        .voice("en-US-Journey-O")
        .welcome_greeting("Hi! Tom & Jerry's line <3")
        .interruptible(true)
        .dtmf_detection(false)
        .partial_prompts(true)
        .parameter("token", "t&1")
        .parameter("caller", "+15550005678");
    relay.tts_language = Some("sv-SE".into());
    relay.transcription_language = Some("en-GB".into());
    relay.tts_provider = Some("ElevenLabs".into());
    relay.transcription_provider = Some("Deepgram".into());
    relay.welcome_greeting_interruptible = Some(false);
    relay.hints = vec!["yes".into(), "no".into(), "talk to a person".into()];
    relay.profanity_filter = Some(true);
    let rendered = voice_response(&VoiceResponse::new().relay(relay).hangup());
    assert_eq!(
        rendered,
        doc(concat!(
            r#"<Connect><ConversationRelay url="wss://gw.example.com/telephony/relay" language="en-US" "#,
            r#"ttsLanguage="sv-SE" transcriptionLanguage="en-GB" ttsProvider="ElevenLabs" "#,
            r#"voice="en-US-Journey-O" transcriptionProvider="Deepgram" "#,
            r#"welcomeGreeting="Hi! Tom &amp; Jerry&apos;s line &lt;3" "#,
            r#"welcomeGreetingInterruptible="false" interruptible="true" dtmfDetection="false" "#,
            r#"partialPrompts="true" hints="yes, no, talk to a person" profanityFilter="true">"#,
            r#"<Parameter name="token" value="t&amp;1"/>"#,
            r#"<Parameter name="caller" value="+15550005678"/>"#,
            r#"</ConversationRelay></Connect><Hangup/>"#
        ))
    );
    assert_eq!(check_twiml(&rendered), Ok(()));
}

#[test]
fn relay_minimal() {
    assert_eq!(
        voice_response(&VoiceResponse::new().relay(RelayVerb::new().url("wss://r.example/ws"))),
        doc(r#"<Connect><ConversationRelay url="wss://r.example/ws"/></Connect>"#)
    );
    assert_eq!(
        voice_response(&VoiceResponse::new().relay(RelayVerb::new().welcome_greeting("Hi"))),
        doc(r#"<Connect><ConversationRelay welcomeGreeting="Hi"/></Connect>"#)
    );
}

fn twilio() -> TwilioProvider {
    TwilioProvider::new(
        TwilioConfig::new("AC1", "token").from_number("+15550001234".parse().unwrap()),
    )
    .unwrap()
}

fn refusal(r: &VoiceResponse) -> String {
    match twilio().render_voice(r) {
        Err(VoiceError::Invalid { provider, reason }) => {
            assert_eq!(provider, "twilio");
            reason
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn render_voice_refuses_stream_and_relay_urls_twilio_cannot_use() {
    let stream = |url: &str| VoiceResponse::new().stream(StreamVerb::new().url(url));
    let relay = |url: &str| VoiceResponse::new().relay(RelayVerb::new().url(url));
    assert_eq!(
        refusal(&VoiceResponse::new().say("Hi").stream(StreamVerb::new())),
        "the <Stream> has no URL (the gateway fills in its own before rendering)"
    );
    assert_eq!(
        refusal(&VoiceResponse::new().relay(RelayVerb::new())),
        "the <ConversationRelay> has no URL (the gateway fills in its own before rendering)"
    );
    assert_eq!(
        refusal(&stream("ws://gw.example.com/s")),
        r#"the <Stream> URL "ws://gw.example.com/s" is not a wss:// URL (Twilio opens only secure WebSockets)"#
    );
    assert_eq!(
        refusal(&relay("https://gw.example.com/r")),
        r#"the <ConversationRelay> URL "https://gw.example.com/r" is not a wss:// URL (Twilio opens only secure WebSockets)"#
    );
    assert_eq!(
        refusal(&stream("wss://gw.example.com/s?token=abc")),
        r#"the <Stream> URL "wss://gw.example.com/s?token=abc" has a query string, which Twilio strips: pass values as parameters"#
    );
    assert_eq!(
        refusal(&relay("wss://gw.example.com/r?")),
        r#"the <ConversationRelay> URL "wss://gw.example.com/r?" has a query string, which Twilio strips: pass values as parameters"#
    );
    assert_eq!(
        refusal(&stream("wss:///s")),
        r#"the <Stream> URL "wss:///s" has no host"#
    );
    assert_eq!(
        refusal(&stream("wss")),
        r#"the <Stream> URL "wss" is not a wss:// URL (Twilio opens only secure WebSockets)"#
    );
    // The first bad one is named, after good ones.
    let mixed = stream("wss://ok.example/s").relay(RelayVerb::new().url("wss://x/?a=1"));
    assert!(refusal(&mixed).starts_with("the <ConversationRelay> URL"));
}

#[test]
fn render_voice_accepts_wss_without_query() {
    for url in [
        "wss://gw.example.com/telephony/stream",
        "WSS://gw.example.com:8443/s",
    ] {
        let r = VoiceResponse::new().stream(StreamVerb::new().url(url));
        assert_eq!(realtime_url_problem(&r), None);
        let answer = twilio().render_voice(&r).unwrap();
        assert_eq!(
            std::str::from_utf8(&answer.body).unwrap(),
            voice_response(&r)
        );
    }
}

#[test]
fn outbound_call_with_a_bad_stream_url_is_refused() {
    let call = OutboundCall::new(
        "+15550005678",
        CallAnswer::Response(
            VoiceResponse::new().stream(StreamVerb::new().url("wss://gw.example.com/s?t=1")),
        ),
    );
    match twilio().call_request(&call) {
        Err(ProviderError::InvalidMessage(m)) => assert!(m.contains("query string"), "{m}"),
        other => panic!("{other:?}"),
    }
}
