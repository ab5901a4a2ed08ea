//! Twilio's real-time protocols (VOICE.md §6–7): every message of Media Streams and
//! ConversationRelay decoded to exact values, every command encoded to an exact string,
//! malformed input refused by name, and the signed WebSocket upgrade checked against an
//! HMAC computed here (and by Python's `hmac`, for the fixed vector).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use telephony_core::voice::{
    AudioFrame, Realtime, RealtimeError, RelayCommand, RelayEvent, RelaySetup, StreamCommand,
    StreamEvent, StreamStart,
};
use telephony_core::{Provider, SignatureCheck, WebhookError, WebhookRequest};
use telephony_twilio::{TwilioConfig, TwilioProvider};

const TOKEN: &str = "12345";
const URL: &str = "wss://gw.example.com/telephony/stream";

fn twilio() -> TwilioProvider {
    TwilioProvider::new(TwilioConfig::new("AC1", TOKEN)).unwrap()
}

fn stream(text: &str) -> Result<StreamEvent, RealtimeError> {
    twilio().realtime().unwrap().decode_stream(text)
}

fn relay(text: &str) -> Result<RelayEvent, RealtimeError> {
    twilio().realtime().unwrap().decode_relay(text)
}

fn malformed(result: Result<impl std::fmt::Debug, RealtimeError>) -> String {
    match result {
        Err(RealtimeError::Malformed(m)) => m,
        other => panic!("{other:?}"),
    }
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---- Media Streams, Twilio → gateway ----

#[test]
fn stream_connected() {
    assert_eq!(
        stream(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#),
        Ok(StreamEvent::Connected)
    );
}

#[test]
fn stream_start_with_format_and_custom_parameters() {
    let text = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC123","streamSid":"MZ456","callSid":"CA789","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"token":"t-1","lang":"en","empty":""}},"streamSid":"MZ456"}"#;
    let mut want = StreamStart::new("MZ456", "CA789");
    want.account = Some("AC123".into());
    want.tracks = vec!["inbound".into()];
    want.encoding = "audio/x-mulaw".into();
    want.sample_rate = 8000;
    want.channels = 1;
    want.custom_parameters = params(&[("token", "t-1"), ("lang", "en"), ("empty", "")]);
    assert_eq!(stream(text), Ok(StreamEvent::Start(want)));
}

#[test]
fn stream_start_numbers_as_strings_and_top_level_stream_sid() {
    let text = r#"{"event":"start","start":{"callSid":"CA1","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-l16","sampleRate":"16000","channels":"2"}},"streamSid":"MZ1"}"#;
    let StreamEvent::Start(start) = stream(text).unwrap() else {
        panic!()
    };
    assert_eq!(start.stream_id, "MZ1");
    assert_eq!(start.account, None);
    assert_eq!(start.tracks, ["inbound", "outbound"]);
    assert_eq!(
        (start.encoding.as_str(), start.sample_rate, start.channels),
        ("audio/x-l16", 16000, 2)
    );
    assert!(start.custom_parameters.is_empty());
}

#[test]
fn stream_media_decodes_base64_mulaw() {
    let text = r#"{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"/38AgAE="},"streamSid":"MZ1"}"#;
    assert_eq!(
        stream(text),
        Ok(StreamEvent::Audio(AudioFrame::new(
            "inbound",
            2,
            5,
            vec![0xFF, 0x7F, 0x00, 0x80, 0x01]
        )))
    );
    // JSON numbers too, an escaped slash, no padding, and a 20 ms frame.
    let frame: Vec<u8> = (0..160).collect();
    let b64 = STANDARD.encode(&frame);
    let text = format!(
        r#"{{"event":"media","media":{{"track":"outbound","chunk":7,"timestamp":140,"payload":"{b64}"}}}}"#
    );
    assert_eq!(
        stream(&text),
        Ok(StreamEvent::Audio(AudioFrame::new(
            "outbound", 7, 140, frame
        )))
    );
    let escaped = r#"{"event":"media","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"\/38AgAE"}}"#;
    assert_eq!(
        stream(escaped),
        Ok(StreamEvent::Audio(AudioFrame::new(
            "inbound",
            1,
            0,
            vec![0xFF, 0x7F, 0x00, 0x80, 0x01]
        )))
    );
    let empty = r#"{"event":"media","media":{"track":"inbound","chunk":"3","timestamp":"40","payload":""}}"#;
    assert_eq!(
        stream(empty),
        Ok(StreamEvent::Audio(AudioFrame::new(
            "inbound",
            3,
            40,
            vec![]
        )))
    );
}

#[test]
fn stream_dtmf_mark_stop() {
    assert_eq!(
        stream(
            r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#
        ),
        Ok(StreamEvent::Dtmf { digit: '1' })
    );
    assert_eq!(
        stream(r##"{"event":"dtmf","dtmf":{"digit":"#"}}"##),
        Ok(StreamEvent::Dtmf { digit: '#' })
    );
    assert_eq!(
        stream(
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"goodbye \"1\" ☎"}}"#
        ),
        Ok(StreamEvent::Mark {
            name: "goodbye \"1\" ☎".into()
        })
    );
    assert_eq!(
        stream(
            r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"}"#
        ),
        Ok(StreamEvent::Stop)
    );
}

#[test]
fn stream_unknown_event() {
    assert_eq!(
        stream(r#"{"event":"hello","streamSid":"MZ1"}"#),
        Err(RealtimeError::UnknownEvent("hello".into()))
    );
    assert_eq!(
        stream(r#"{"event":"clear","streamSid":"MZ1"}"#),
        Err(RealtimeError::UnknownEvent("clear".into()))
    );
}

#[test]
fn stream_malformed_names_the_field() {
    let media = |inner: &str| format!(r#"{{"event":"media","media":{{{inner}}}}}"#);
    let start = |inner: &str| format!(r#"{{"event":"start","start":{{{inner}}}}}"#);
    let format = r#""mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}"#;
    let cases: Vec<(String, &str)> = vec![
        ("{}".into(), "missing event"),
        (r#"{"event":null}"#.into(), "missing event"),
        (r#"{"event":"media"}"#.into(), "missing media"),
        (
            media(r#""chunk":"1","timestamp":"0","payload":"AA==""#),
            "missing media.track",
        ),
        (
            media(r#""track":"inbound","timestamp":"0","payload":"AA==""#),
            "missing media.chunk",
        ),
        (
            media(r#""track":"inbound","chunk":"1","payload":"AA==""#),
            "missing media.timestamp",
        ),
        (
            media(r#""track":"inbound","chunk":"1","timestamp":"0""#),
            "missing media.payload",
        ),
        (
            media(r#""track":"inbound","chunk":"x","timestamp":"0","payload":"""#),
            r#"media.chunk is not a valid number: "x""#,
        ),
        (
            media(r#""track":"inbound","chunk":-1,"timestamp":"0","payload":"""#),
            r#"media.chunk is not a valid number: "-1""#,
        ),
        (
            media(r#""track":"inbound","chunk":"1","timestamp":1.5,"payload":"""#),
            r#"media.timestamp is not a valid number: "1.5""#,
        ),
        (
            media(r#""track":"inbound","chunk":"1","timestamp":" 5","payload":"""#),
            r#"media.timestamp is not a valid number: " 5""#,
        ),
        (r#"{"event":"start"}"#.into(), "missing start"),
        (
            start(&format!(r#""streamSid":"MZ1",{format}"#)),
            "missing start.callSid",
        ),
        (
            start(&format!(r#""callSid":"CA1",{format}"#)),
            "missing start.streamSid",
        ),
        (
            start(r#""streamSid":"MZ1","callSid":"CA1""#),
            "missing start.mediaFormat",
        ),
        (
            start(
                r#""streamSid":"MZ1","callSid":"CA1","mediaFormat":{"sampleRate":8000,"channels":1}"#,
            ),
            "missing start.mediaFormat.encoding",
        ),
        (
            start(
                r#""streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":"audio/x-mulaw","channels":1}"#,
            ),
            "missing start.mediaFormat.sampleRate",
        ),
        (
            start(
                r#""streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}"#,
            ),
            "missing start.mediaFormat.channels",
        ),
        (
            start(
                r#""streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":"e","sampleRate":"4294967296","channels":1}"#,
            ),
            r#"start.mediaFormat.sampleRate is not a valid number: "4294967296""#,
        ),
        (
            start(
                r#""streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":"e","sampleRate":8000,"channels":65536}"#,
            ),
            "start.mediaFormat.channels is not a valid number: 65536",
        ),
        (r#"{"event":"dtmf"}"#.into(), "missing dtmf"),
        (r#"{"event":"dtmf","dtmf":{}}"#.into(), "missing dtmf.digit"),
        (
            r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#.into(),
            r#"dtmf.digit is not a single key: "12""#,
        ),
        (
            r#"{"event":"dtmf","dtmf":{"digit":""}}"#.into(),
            r#"dtmf.digit is not a single key: """#,
        ),
        (r#"{"event":"mark"}"#.into(), "missing mark"),
        (r#"{"event":"mark","mark":{}}"#.into(), "missing mark.name"),
    ];
    for (text, want) in cases {
        assert_eq!(malformed(stream(&text)), want, "{text}");
    }
}

#[test]
fn stream_malformed_json_and_kinds_carry_serde_s_reason() {
    for (text, prefix) in [
        ("{", "stream message: EOF while parsing an object"),
        ("{event}", "stream message: key must be a string"),
        (
            r#"{"event":5}"#,
            "stream message: invalid type: integer `5`",
        ),
        (
            r#"{"event":"media","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":7}}"#,
            "media message: invalid type: integer `7`",
        ),
        (
            r#"{"event":"media","media":{"track":"inbound","chunk":true,"timestamp":"0","payload":""}}"#,
            "media message: invalid type: boolean `true`, expected a number or a string holding one",
        ),
        (
            r#"{"event":"start","start":{"customParameters":{"n":1}}}"#,
            "start message: invalid type: integer `1`",
        ),
        (
            r#"{"event":"mark""#,
            "stream message: EOF while parsing an object",
        ),
    ] {
        let m = malformed(stream(text));
        assert!(m.starts_with(prefix), "{text}: {m}");
    }
    for (text, want) in [
        ("", "stream message: empty"),
        (" \n", "stream message: empty"),
        ("not json", "stream message: not a JSON object"),
        (r#"["connected"]"#, "stream message: not a JSON object"),
        ("null", "stream message: not a JSON object"),
    ] {
        assert_eq!(malformed(stream(text)), want, "{text:?}");
    }
    assert_eq!(
        malformed(relay(r#"["setup"]"#)),
        "relay message: not a JSON object"
    );
    let m = malformed(stream(
        r#"{"event":"media","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"!!!!"}}"#,
    ));
    assert!(m.starts_with("media.payload is not base64: "), "{m}");
}

// ---- Media Streams, gateway → Twilio ----

#[test]
fn stream_commands_exact() {
    let twilio = twilio();
    let rt = twilio.realtime().unwrap();
    assert_eq!(
        rt.encode_stream(
            "MZ456",
            &StreamCommand::Audio(vec![0xFF, 0x7F, 0x00, 0x80, 0x01])
        ),
        r#"{"event":"media","streamSid":"MZ456","media":{"payload":"/38AgAE="}}"#
    );
    assert_eq!(
        rt.encode_stream("MZ456", &StreamCommand::Audio(vec![])),
        r#"{"event":"media","streamSid":"MZ456","media":{"payload":""}}"#
    );
    let frame: Vec<u8> = (0..160).collect();
    assert_eq!(
        rt.encode_stream("MZ1", &StreamCommand::Audio(frame)),
        concat!(
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":""#,
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+",
            "P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9",
            "fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2enw==",
            r#""}}"#
        )
    );
    assert_eq!(
        rt.encode_stream("MZ456", &StreamCommand::Mark("goodbye".into())),
        r#"{"event":"mark","streamSid":"MZ456","mark":{"name":"goodbye"}}"#
    );
    assert_eq!(
        rt.encode_stream("MZ\"1", &StreamCommand::Mark("a\"b\\c\nd ☎".into())),
        r#"{"event":"mark","streamSid":"MZ\"1","mark":{"name":"a\"b\\c\nd ☎"}}"#
    );
    assert_eq!(
        rt.encode_stream("MZ456", &StreamCommand::Clear),
        r#"{"event":"clear","streamSid":"MZ456"}"#
    );
}

#[test]
fn stream_mark_round_trips_through_twilio_s_echo() {
    let twilio = twilio();
    let rt = twilio.realtime().unwrap();
    let sent = rt.encode_stream("MZ1", &StreamCommand::Mark("end \"of\" reply".into()));
    // Twilio echoes the same mark object back with a sequence number.
    let echoed = sent.replacen(
        r#""event":"mark","#,
        r#""event":"mark","sequenceNumber":"9","#,
        1,
    );
    assert_eq!(
        rt.decode_stream(&echoed),
        Ok(StreamEvent::Mark {
            name: "end \"of\" reply".into()
        })
    );
}

// ---- ConversationRelay, Twilio → gateway ----

#[test]
fn relay_setup() {
    let text = r#"{"type":"setup","sessionId":"VX123","accountSid":"AC123","callSid":"CA123","from":"+15550005678","to":"+15550001234","forwardedFrom":"+15550001234","callerName":"","direction":"inbound","callType":"PSTN","callStatus":"RINGING","parentCallSid":"","customParameters":{"token":"t-1","greeting":"Hi & \"welcome\""}}"#;
    let mut want = RelaySetup::new("VX123", "CA123");
    want.account = Some("AC123".into());
    want.from = "+15550005678".into();
    want.to = "+15550001234".into();
    want.direction = "inbound".into();
    want.custom_parameters = params(&[("token", "t-1"), ("greeting", "Hi & \"welcome\"")]);
    assert_eq!(relay(text), Ok(RelayEvent::Setup(want)));
    // No customParameters, no accountSid.
    let bare = r#"{"type":"setup","sessionId":"VX1","callSid":"CA1","from":"","to":"+1","direction":"outbound-api"}"#;
    let mut want = RelaySetup::new("VX1", "CA1");
    want.to = "+1".into();
    want.direction = "outbound-api".into();
    assert_eq!(relay(bare), Ok(RelayEvent::Setup(want)));
}

#[test]
fn relay_prompt_dtmf_interrupt_error() {
    assert_eq!(
        relay(
            r#"{"type":"prompt","voicePrompt":"I'd like to book a table.","lang":"en-US","last":true}"#
        ),
        Ok(RelayEvent::Prompt {
            text: "I'd like to book a table.".into(),
            language: Some("en-US".into()),
            last: true
        })
    );
    assert_eq!(
        relay(r#"{"type":"prompt","voicePrompt":"I'd like","last":false}"#),
        Ok(RelayEvent::Prompt {
            text: "I'd like".into(),
            language: None,
            last: false
        })
    );
    assert_eq!(
        relay(r#"{"type":"dtmf","digit":"1"}"#),
        Ok(RelayEvent::Dtmf { digit: '1' })
    );
    assert_eq!(
        relay(r#"{"type":"dtmf","digit":"*"}"#),
        Ok(RelayEvent::Dtmf { digit: '*' })
    );
    assert_eq!(
        relay(
            r#"{"type":"interrupt","utteranceUntilInterrupt":"Sure, our opening","durationUntilInterruptMs":460}"#
        ),
        Ok(RelayEvent::Interrupt {
            utterance_until_interrupt: "Sure, our opening".into(),
            duration_until_interrupt_ms: 460
        })
    );
    assert_eq!(
        relay(
            r#"{"type":"interrupt","utteranceUntilInterrupt":"","durationUntilInterruptMs":"460"}"#
        ),
        Ok(RelayEvent::Interrupt {
            utterance_until_interrupt: String::new(),
            duration_until_interrupt_ms: 460
        })
    );
    assert_eq!(
        relay(r#"{"type":"error","description":"Invalid message received: {\"foo\":1}"}"#),
        Ok(RelayEvent::Error {
            description: "Invalid message received: {\"foo\":1}".into()
        })
    );
}

#[test]
fn relay_unknown_and_malformed() {
    assert_eq!(
        relay(r#"{"type":"info","name":"roundTripDelayMs","value":"300"}"#),
        Err(RealtimeError::UnknownEvent("info".into()))
    );
    assert_eq!(
        relay(r#"{"type":"text","token":"x","last":true}"#),
        Err(RealtimeError::UnknownEvent("text".into()))
    );
    for (text, want) in [
        ("{}", "missing type"),
        (r#"{"event":"setup"}"#, "missing type"),
        (
            r#"{"type":"setup","callSid":"CA1","from":"","to":"","direction":"inbound"}"#,
            "missing sessionId",
        ),
        (
            r#"{"type":"setup","sessionId":"VX1","from":"","to":"","direction":"inbound"}"#,
            "missing callSid",
        ),
        (
            r#"{"type":"setup","sessionId":"VX1","callSid":"CA1","to":"","direction":"inbound"}"#,
            "missing from",
        ),
        (
            r#"{"type":"setup","sessionId":"VX1","callSid":"CA1","from":"","direction":"inbound"}"#,
            "missing to",
        ),
        (
            r#"{"type":"setup","sessionId":"VX1","callSid":"CA1","from":"","to":""}"#,
            "missing direction",
        ),
        (r#"{"type":"prompt","last":true}"#, "missing voicePrompt"),
        (r#"{"type":"prompt","voicePrompt":"hi"}"#, "missing last"),
        (r#"{"type":"dtmf"}"#, "missing digit"),
        (
            r###"{"type":"dtmf","digit":"##"}"###,
            r###"digit is not a single key: "##""###,
        ),
        (
            r#"{"type":"interrupt","durationUntilInterruptMs":1}"#,
            "missing utteranceUntilInterrupt",
        ),
        (
            r#"{"type":"interrupt","utteranceUntilInterrupt":"a"}"#,
            "missing durationUntilInterruptMs",
        ),
        (
            r#"{"type":"interrupt","utteranceUntilInterrupt":"a","durationUntilInterruptMs":-5}"#,
            r#"durationUntilInterruptMs is not a valid number: "-5""#,
        ),
        (r#"{"type":"error"}"#, "missing description"),
    ] {
        assert_eq!(malformed(relay(text)), want, "{text}");
    }
    for (text, prefix) in [
        ("{]", "relay message: key must be a string"),
        (
            r#"{"type":["setup"]}"#,
            "relay message: invalid type: sequence",
        ),
        (
            r#"{"type":"prompt","voicePrompt":"hi","last":"yes"}"#,
            "prompt message: invalid type: string \"yes\", expected a boolean",
        ),
        (
            r#"{"type":"setup","sessionId":"VX1","callSid":"CA1","from":"","to":"","direction":"inbound","customParameters":[]}"#,
            "setup message: invalid type: sequence, expected a map",
        ),
    ] {
        let m = malformed(relay(text));
        assert!(m.starts_with(prefix), "{text}: {m}");
    }
}

// ---- ConversationRelay, gateway → Twilio ----

#[test]
fn relay_commands_exact() {
    let twilio = twilio();
    let rt = twilio.realtime().unwrap();
    let cases: [(RelayCommand, &str); 11] = [
        (
            RelayCommand::Text {
                token: "Hello".into(),
                last: false,
                interruptible: Some(true),
                preemptible: Some(false),
            },
            r#"{"type":"text","token":"Hello","last":false,"interruptible":true,"preemptible":false}"#,
        ),
        (
            RelayCommand::Text {
                token: " world, \"friend\".".into(),
                last: true,
                interruptible: None,
                preemptible: None,
            },
            r#"{"type":"text","token":" world, \"friend\".","last":true}"#,
        ),
        (
            RelayCommand::Text {
                token: String::new(),
                last: true,
                interruptible: None,
                preemptible: Some(true),
            },
            r#"{"type":"text","token":"","last":true,"preemptible":true}"#,
        ),
        (
            RelayCommand::Play {
                source: "https://api.twilio.com/cowbell.mp3".into(),
                loop_count: Some(1),
            },
            r#"{"type":"play","source":"https://api.twilio.com/cowbell.mp3","loop":1}"#,
        ),
        (
            RelayCommand::Play {
                source: "https://a.example/x.mp3?a=1&b=2".into(),
                loop_count: None,
            },
            r#"{"type":"play","source":"https://a.example/x.mp3?a=1&b=2"}"#,
        ),
        (
            RelayCommand::SendDigits {
                digits: "9www4085551212".into(),
            },
            r#"{"type":"sendDigits","digits":"9www4085551212"}"#,
        ),
        (
            RelayCommand::Language {
                tts_language: Some("sv-SE".into()),
                transcription_language: Some("en-US".into()),
            },
            r#"{"type":"language","ttsLanguage":"sv-SE","transcriptionLanguage":"en-US"}"#,
        ),
        (
            RelayCommand::Language {
                tts_language: None,
                transcription_language: Some("fr-FR".into()),
            },
            r#"{"type":"language","transcriptionLanguage":"fr-FR"}"#,
        ),
        (
            RelayCommand::Language {
                tts_language: None,
                transcription_language: None,
            },
            r#"{"type":"language"}"#,
        ),
        (
            RelayCommand::End {
                handoff_data: Some(r#"{"reason":"agent","queue":"sales"}"#.into()),
            },
            r#"{"type":"end","handoffData":"{\"reason\":\"agent\",\"queue\":\"sales\"}"}"#,
        ),
        (
            RelayCommand::End { handoff_data: None },
            r#"{"type":"end"}"#,
        ),
    ];
    for (command, want) in cases {
        assert_eq!(rt.encode_relay(&command), want, "{command:?}");
    }
}

// ---- The signed upgrade ----

/// X-Twilio-Signature for a GET of `url`, computed here from the definition.
fn sign(token: &str, url: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn upgrade(url: &str, signature: Option<(&str, &str)>) -> WebhookRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert("upgrade", "websocket".parse().unwrap());
    if let Some((name, value)) = signature {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    WebhookRequest {
        url: url.into(),
        method: http::Method::GET,
        headers,
        body: bytes::Bytes::new(),
    }
}

fn verify(req: &WebhookRequest, check: SignatureCheck) -> Result<(), WebhookError> {
    twilio().realtime().unwrap().verify_upgrade(req, check)
}

#[test]
fn upgrade_signature_is_hmac_sha1_of_the_wss_url() {
    // Fixed vector, from Python: base64(hmac.new(b"12345", URL, sha1).digest()).
    assert_eq!(sign(TOKEN, URL), "nXaJreQyOiaSm8y9STpDqgm8v0o=");
    for name in [
        "x-twilio-signature",
        "X-Twilio-Signature",
        "X-TWILIO-SIGNATURE",
    ] {
        let req = upgrade(URL, Some((name, "nXaJreQyOiaSm8y9STpDqgm8v0o=")));
        assert_eq!(verify(&req, SignatureCheck::Verify), Ok(()), "{name}");
    }
    let other = "wss://other.example/ws/relay";
    let req = upgrade(other, Some(("x-twilio-signature", &sign(TOKEN, other))));
    assert_eq!(verify(&req, SignatureCheck::Verify), Ok(()));
    // Surrounding whitespace in the header is tolerated, as for webhooks.
    let padded = format!(" {} ", sign(TOKEN, URL));
    assert_eq!(
        verify(
            &upgrade(URL, Some(("x-twilio-signature", &padded))),
            SignatureCheck::Verify
        ),
        Ok(())
    );
    // Like webhooks: a URL received with a port also matches the signature without it.
    let with_port = "wss://gw.example.com:443/telephony/stream";
    assert_eq!(
        verify(
            &upgrade(with_port, Some(("x-twilio-signature", &sign(TOKEN, URL)))),
            SignatureCheck::Verify
        ),
        Ok(())
    );
}

#[test]
fn upgrade_wrong_or_missing_signature_is_refused() {
    let invalid = |req: &WebhookRequest| match verify(req, SignatureCheck::Verify) {
        Err(e @ WebhookError::InvalidSignature { .. }) => {
            assert_eq!(e.http_status(), 403);
            e
        }
        other => panic!("{other:?}"),
    };
    let e = invalid(&upgrade(
        URL,
        Some(("x-twilio-signature", &sign("other-token", URL))),
    ));
    assert_eq!(
        e,
        WebhookError::InvalidSignature {
            url: URL.to_string()
        }
    );
    // Signed for another URL, with a query, or as a form POST with parameters.
    invalid(&upgrade(
        URL,
        Some((
            "x-twilio-signature",
            &sign(TOKEN, "wss://gw.example.com/telephony/relay"),
        )),
    ));
    invalid(&upgrade(
        URL,
        Some((
            "x-twilio-signature",
            &sign(TOKEN, &format!("{URL}?token=1")),
        )),
    ));
    invalid(&upgrade(
        URL,
        Some((
            "x-twilio-signature",
            &sign(TOKEN, &format!("{URL}CallSidCA1")),
        )),
    ));
    assert_eq!(
        verify(
            &upgrade(URL, Some(("x-twilio-signature", "not-base64"))),
            SignatureCheck::Verify
        ),
        Err(WebhookError::MalformedSignature {
            header: "X-Twilio-Signature",
            reason: "expected 28 characters of padded base64, got 10".into()
        })
    );
    invalid(&upgrade(
        URL,
        Some(("x-twilio-signature", &sign(TOKEN, URL).to_lowercase())),
    ));

    for req in [
        upgrade(URL, None),
        upgrade(URL, Some(("x-twilio-signature", ""))),
    ] {
        let e = verify(&req, SignatureCheck::Verify).unwrap_err();
        assert_eq!(e, WebhookError::MissingSignature("X-Twilio-Signature"));
        assert_eq!(e.http_status(), 403);
    }
}

#[test]
fn upgrade_check_can_be_skipped() {
    assert_eq!(
        verify(&upgrade(URL, None), SignatureCheck::DangerouslySkip),
        Ok(())
    );
    assert_eq!(
        verify(
            &upgrade(URL, Some(("x-twilio-signature", "bogus"))),
            SignatureCheck::DangerouslySkip
        ),
        Ok(())
    );
}

#[test]
fn the_provider_exposes_its_realtime_protocols() {
    let twilio = twilio();
    assert!(twilio.realtime().is_some());
    // Also usable directly, as the trait.
    let rt: &dyn Realtime = &twilio;
    assert_eq!(
        rt.decode_stream(r#"{"event":"stop"}"#),
        Ok(StreamEvent::Stop)
    );
}

#[test]
fn a_ws_url_verifies_signed_as_given_or_in_its_wss_form_and_nothing_else() {
    // The gateway hands out ws:// only on a plain http:// public URL (the sandbox).
    let given = "ws://127.0.0.1:3335/telephony/stream";
    let signed = |url: &str| upgrade(given, Some(("x-twilio-signature", &sign(TOKEN, url))));
    assert_eq!(verify(&signed(given), SignatureCheck::Verify), Ok(()));
    assert_eq!(
        verify(
            &signed("wss://127.0.0.1:3335/telephony/stream"),
            SignatureCheck::Verify
        ),
        Ok(())
    );
    for wrong in [
        "http://127.0.0.1:3335/telephony/stream",
        "ws://127.0.0.1:3335/telephony/relay",
        "wss://127.0.0.1:9999/telephony/stream",
    ] {
        assert!(
            matches!(
                verify(&signed(wrong), SignatureCheck::Verify),
                Err(WebhookError::InvalidSignature { .. })
            ),
            "{wrong}"
        );
    }
    // A wss:// URL (an https:// public URL) verifies as itself only, never as ws://.
    let secure = "wss://gw.example.com/telephony/stream";
    let over_ws = upgrade(
        secure,
        Some((
            "x-twilio-signature",
            &sign(TOKEN, "ws://gw.example.com/telephony/stream"),
        )),
    );
    assert!(matches!(
        verify(&over_ws, SignatureCheck::Verify),
        Err(WebhookError::InvalidSignature { .. })
    ));
}
