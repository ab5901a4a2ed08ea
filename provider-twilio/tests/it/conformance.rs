//! Twilio runs the provider conformance suite: every case in `tests/conformance/`.
//!
//! `webhooks/` goes through `handle_webhook` with "valid" signatures computed by
//! [`RequestValidator::compute`] over the URL and the form parameters; `send/` and
//! `send_messaging_service/` send through a loopback mock of the REST API, with a sender
//! number and a Messaging Service respectively. The shared voice cases
//! (`telephony_conformance::shared_cases("voice")`) render each `VoiceResponse` as TwiML.

use std::collections::BTreeSet;
use std::path::PathBuf;

use telephony_conformance::{
    CallEventKind, CaseEnv, ExpectedCall, ExpectedEvent, SignatureSpec, VoiceHooks,
    WebhookRequestParts, load_webhook_cases, run_send_cases, run_voice_cases, run_webhook_cases,
    run_wrong_signer_cases, shared_cases,
};
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use time::OffsetDateTime;

const ACCOUNT_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const AUTH_TOKEN: &str = "test-auth-token-0123456789abcdef";

fn cases(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(kind)
}

fn config(env: &CaseEnv) -> TwilioConfig {
    // The default max_attempts (3) is left as it is: a send makes one attempt whatever it
    // says (retries belong to the outbox), and the suite counts requests.
    TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN).api_base_url(&env.api_base_url)
}

/// A provider sending from a number.
fn twilio(env: &CaseEnv) -> TwilioProvider {
    let from = "+15550001234".parse().expect("sender number");
    TwilioProvider::new(config(env).from_number(from)).expect("provider builds")
}

/// A provider sending through a Messaging Service (which wins over the number).
fn twilio_service(env: &CaseEnv) -> TwilioProvider {
    TwilioProvider::new(config(env).messaging_service_sid("MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
        .expect("provider builds")
}

/// `X-Twilio-Signature` as Twilio makes it: for a form body, over the URL and the form
/// parameters, decoded with serde_urlencoded (independent of the crate's own decoder); for
/// any other body (JSON), over the URL alone (which carries `bodySHA256`). Twilio needs no
/// clock.
fn sign_with(token: &str, req: &WebhookRequestParts) -> Vec<(String, String)> {
    let is_form = req.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("content-type")
            && value.split(';').next().is_some_and(|e| {
                e.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
    });
    let params: Vec<(String, String)> = if is_form {
        serde_urlencoded::from_str(&req.body).unwrap_or_default()
    } else {
        Vec::new()
    };
    let signature = RequestValidator::new(token).compute(&req.url, &params);
    vec![("X-Twilio-Signature".to_string(), signature)]
}

fn sign(req: &WebhookRequestParts, _now: OffsetDateTime) -> Vec<(String, String)> {
    sign_with(AUTH_TOKEN, req)
}

#[test]
fn webhooks() {
    run_webhook_cases(cases("webhooks"), twilio, sign);
}

#[tokio::test]
async fn sends_from_a_number() {
    run_send_cases(cases("send"), twilio).await;
}

#[tokio::test]
async fn sends_through_a_messaging_service() {
    run_send_cases(cases("send_messaging_service"), twilio_service).await;
}

#[tokio::test]
async fn voice_responses_render_as_twiml() {
    run_voice_cases(shared_cases("voice"), twilio, &VoiceHooks::markup()).await;
}

#[test]
fn every_accepted_verified_case_is_refused_when_signed_with_another_token() {
    // Fail closed: any verified case Twilio accepts gives 403 once the signature is wrong.
    run_wrong_signer_cases(
        cases("webhooks"),
        twilio,
        |parts, _| sign_with("another-token", parts),
        10,
    );
}

#[test]
fn webhook_cases_cover_the_required_behaviours() {
    let cases: Vec<_> = load_webhook_cases(cases("webhooks"))
        .expect("cases load")
        .into_iter()
        .map(|l| l.case)
        .collect();
    let errors: BTreeSet<&str> = cases
        .iter()
        .filter_map(|c| c.expect.error.as_deref())
        .collect();
    for required in [
        "MissingField:MessageSid",
        "MissingField:From",
        "InvalidSignature",
        "MissingSignature:X-Twilio-Signature",
        "UnsupportedMediaType:application/json",
        "InvalidField:NumMedia=abc",
    ] {
        assert!(errors.contains(required), "no case expects {required}");
    }
    let events: Vec<&ExpectedEvent> = cases.iter().flat_map(|c| &c.expect.events).collect();
    for required in ["delivered", "undelivered"] {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ExpectedEvent::Status { status, .. }
                if status.as_str() == required)),
            "no status case for {required}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ExpectedEvent::Message { media, .. } if media.len() == 2))
    );
    assert!(events.iter().any(|e| matches!(e,
        ExpectedEvent::Message { channel: telephony_core::Channel::Whatsapp, extra, .. }
            if extra.contains_key("ProfileName") && extra.contains_key("WaId"))));
    assert!(cases.iter().any(|c| matches!(&c.signature,
        SignatureSpec::ValidFor(s) if s.url.is_some())));
    assert!(cases.iter().any(|c| matches!(&c.signature,
        SignatureSpec::ValidFor(s) if s.body.is_some())));
    // Voice: every call event a markup provider sends, every call status.
    let calls: Vec<&ExpectedCall> = events
        .iter()
        .filter_map(|e| match e {
            ExpectedEvent::Call(c) => Some(c),
            _ => None,
        })
        .collect();
    for kind in [
        CallEventKind::Incoming,
        CallEventKind::Progress,
        CallEventKind::Gather,
        CallEventKind::Status,
    ] {
        assert!(calls.iter().any(|c| c.event == kind), "no {kind:?} case");
    }
    for status in [
        "queued",
        "ringing",
        "completed",
        "busy",
        "no-answer",
        "canceled",
        "failed",
    ] {
        assert!(
            calls
                .iter()
                .any(|c| c.event == CallEventKind::Status && c.status.as_str() == status),
            "no call status case for {status}"
        );
    }
    assert!(
        calls
            .iter()
            .any(|c| c.speech.is_some() && c.confidence.is_some())
    );
    assert!(calls.iter().any(|c| c.digits.is_some()));
    // The verbatim courier capture.
    assert!(cases.iter().any(|c| {
        c.request.body.starts_with(
        "ToCountry=US&ToState=District+Of+Columbia&SmsMessageSid=SMe287d7109a5a925f182f0e07fe5b223b"
    )
    }));
}
