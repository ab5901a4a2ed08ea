//! Voice TwiML, exact strings: twilio-node's `VoiceResponse.spec.js` (VOICE.md §5) where
//! it has the case, the issue's example, and escaping of hostile input.

use telephony_core::voice::{
    Dial, Gather, Play, Record, Redirect, RejectReason, Say, SpeechTimeout, VoiceResponse,
};
use telephony_core::Provider;
use telephony_twilio::twiml::voice_response;
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
