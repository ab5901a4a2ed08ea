//! Voice webhooks through `TwilioProvider::handle_webhook`, signed like Twilio signs them.
//!
//! A table test rather than conformance cases: the shared conformance schema
//! (`ExpectedEvent`) has no `call` event kind yet, and extending it is a change to
//! provider-conformance. Voice refusals that the schema can express live in
//! `tests/conformance/webhooks/` as well.

use std::collections::BTreeMap;

use telephony_core::voice::{CallDirection, CallEvent, CallStatus};
use telephony_core::{Provider, SignatureCheck, WebhookError, WebhookEvent, WebhookRequest};
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use time::macros::datetime;

const TOKEN: &str = "test-auth-token-0123456789abcdef";
const URL: &str = "https://gw.example.com/telephony/voice";

const INCOMING: &str = "CallSid=CA00000000000000000000000000000001&AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&From=%2B15550005678&To=%2B15550001234&CallStatus=ringing&ApiVersion=2010-04-01&Direction=inbound&CallerCity=OSLO";
const GATHER_SPEECH: &str = "CallSid=CA1&AccountSid=AC1&From=%2B15550005678&To=%2B15550001234&CallStatus=in-progress&ApiVersion=2010-04-01&Direction=inbound&SpeechResult=Book+a+table+for+two.&Confidence=0.9128386";
const GATHER_DIGITS: &str = "CallSid=CA1&AccountSid=AC1&From=%2B15550005678&To=%2B15550001234&CallStatus=in-progress&Direction=inbound&Digits=1234&FinishedOnKey=%23";
/// PROTOCOL §2.4's real capture (sids shortened as there).
const STATUS_COMPLETED: &str = "Called=%2B551135892112&ToState=SP&CallerCountry=US&Direction=outbound-api&Timestamp=Sun%2C%2025%20Mar%202018%2009%3A53%3A19%20%2B0000&CallbackSource=call-progress-events&CallerState=NY&ToZip=&SequenceNumber=3&To=%2B551135892112&CallSid=CAbe98&ToCountry=BR&CallerZip=10004&CalledZip=&ApiVersion=2010-04-01&CallStatus=completed&CalledCity=S%C3%A3o%20Paulo&Duration=1&From=%2B16466063895&CallDuration=49&AccountSid=AC47eb&CalledCountry=BR&CallerCity=NEW%20YORK&ToCity=S%C3%A3o%20Paulo&FromCountry=US&Caller=%2B16466063895&FromCity=NEW%20YORK&CalledState=SP&FromZip=10004&AnsweredBy=human&FromState=NY";

fn twilio() -> TwilioProvider {
    TwilioProvider::new(TwilioConfig::new(
        "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        TOKEN,
    ))
    .unwrap()
}

/// A request signed with `token` (decoded with serde_urlencoded, independent of the
/// crate's own decoder).
fn request(body: &str, token: &str) -> WebhookRequest {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
    let signature = RequestValidator::new(token).compute(URL, &params);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    headers.insert("x-twilio-signature", signature.parse().unwrap());
    WebhookRequest {
        url: URL.into(),
        method: http::Method::POST,
        headers,
        body: body.to_string().into(),
    }
}

fn call_event(body: &str) -> CallEvent {
    match twilio().handle_webhook(&request(body, TOKEN), SignatureCheck::Verify) {
        Ok(WebhookEvent::Call(ev)) => ev,
        other => panic!("expected a call event for {body}, got {other:?}"),
    }
}

fn refusal(body: &str) -> WebhookError {
    twilio()
        .handle_webhook(&request(body, TOKEN), SignatureCheck::Verify)
        .expect_err(body)
}

#[test]
fn incoming_call() {
    let CallEvent::Incoming(call) = call_event(INCOMING) else {
        panic!()
    };
    assert_eq!(call.call_id, "CA00000000000000000000000000000001");
    assert_eq!(
        call.account.as_deref(),
        Some("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    );
    assert_eq!(
        (call.from.as_str(), call.to.as_str()),
        ("+15550005678", "+15550001234")
    );
    assert_eq!(call.direction, CallDirection::Inbound);
    assert_eq!(call.status, CallStatus::Ringing);
    assert!(call.started_at.is_some());
    assert_eq!((call.answered_at, call.ended_at), (None, None));
    let expected: BTreeMap<String, String> = [("ApiVersion", "2010-04-01"), ("CallerCity", "OSLO")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(call.extra, expected);
}

#[test]
fn gather_speech() {
    let CallEvent::Gather {
        call,
        speech,
        digits,
    } = call_event(GATHER_SPEECH)
    else {
        panic!()
    };
    assert_eq!(call.call_id, "CA1");
    assert_eq!(call.status, CallStatus::InProgress);
    let speech = speech.expect("speech");
    assert_eq!(speech.text, "Book a table for two.");
    assert_eq!(speech.confidence, Some(0.912_838_6));
    assert_eq!(digits, None);
    assert!(!call.extra.contains_key("SpeechResult") && !call.extra.contains_key("Confidence"));
}

#[test]
fn gather_speech_without_confidence() {
    let body = GATHER_SPEECH.replace("&Confidence=0.9128386", "");
    let CallEvent::Gather { speech, .. } = call_event(&body) else {
        panic!()
    };
    assert_eq!(speech.unwrap().confidence, None);
}

#[test]
fn gather_digits() {
    let CallEvent::Gather {
        call,
        speech,
        digits,
    } = call_event(GATHER_DIGITS)
    else {
        panic!()
    };
    assert_eq!(speech, None);
    assert_eq!(digits.as_deref(), Some("1234"));
    assert_eq!(call.extra["FinishedOnKey"], "#");
}

#[test]
fn status_completed_with_duration() {
    let CallEvent::Status(s) = call_event(STATUS_COMPLETED) else {
        panic!()
    };
    assert_eq!(s.call_id, "CAbe98");
    assert_eq!(s.status, CallStatus::Completed);
    assert_eq!(s.duration_secs, Some(49));
    assert_eq!(s.sequence, Some(3));
    assert_eq!(s.timestamp, Some(datetime!(2018-03-25 09:53:19 UTC)));
    assert_eq!(s.account.as_deref(), Some("AC47eb"));
    assert_eq!(s.extra["AnsweredBy"], "human");
    assert_eq!(s.extra["Duration"], "1");
    assert_eq!(s.extra["CalledCity"], "São Paulo");
    for consumed in [
        "CallSid",
        "CallStatus",
        "CallDuration",
        "SequenceNumber",
        "Timestamp",
        "AccountSid",
    ] {
        assert!(!s.extra.contains_key(consumed), "{consumed}");
    }
}

#[test]
fn outbound_answered_is_progress() {
    let body = "CallSid=CA2&From=%2B15550001234&To=%2B15550005678&CallStatus=in-progress&Direction=outbound-api";
    let CallEvent::Progress(call) = call_event(body) else {
        panic!()
    };
    assert_eq!(call.direction, CallDirection::Outbound);
    assert_eq!(call.started_at, None);
}

#[test]
fn bad_signature_is_403() {
    for body in [INCOMING, GATHER_SPEECH, GATHER_DIGITS, STATUS_COMPLETED] {
        let err = twilio()
            .handle_webhook(&request(body, "another-token"), SignatureCheck::Verify)
            .unwrap_err();
        assert!(
            matches!(err, WebhookError::InvalidSignature { .. }),
            "{err:?}"
        );
        assert_eq!(err.http_status(), 403);
    }
}

#[test]
fn malformed_numbers_are_invalid_fields() {
    let cases = [
        (
            GATHER_SPEECH.replace("0.9128386", "high"),
            "Confidence",
            "high",
        ),
        (
            GATHER_SPEECH.replace("0.9128386", "1.5"),
            "Confidence",
            "1.5",
        ),
        (
            STATUS_COMPLETED.replace("CallDuration=49", "CallDuration=-3"),
            "CallDuration",
            "-3",
        ),
        (
            STATUS_COMPLETED.replace("CallDuration=49", "CallDuration=4.9"),
            "CallDuration",
            "4.9",
        ),
        (
            STATUS_COMPLETED.replace("SequenceNumber=3", "SequenceNumber=x"),
            "SequenceNumber",
            "x",
        ),
        (
            INCOMING.replace("CallStatus=ringing", "CallStatus=answered"),
            "CallStatus",
            "answered",
        ),
    ];
    for (body, field, value) in cases {
        let err = refusal(&body);
        assert_eq!(
            err,
            WebhookError::InvalidField {
                field,
                value: value.into()
            }
        );
        assert_eq!(err.http_status(), 400);
    }
}
