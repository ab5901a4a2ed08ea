//! Table-driven webhook tests: every row of `testdata/webhooks.json` goes through
//! `TwilioProvider::handle_webhook` and must give exactly the expected event or error.
//!
//! Row format: `{ label, url, content_type (null = no header), body (raw form string),
//! signature: "valid" | "missing" | "<literal header value>", sign_url?, sign_body?,
//! check: "verify" | "skip", expect: { error, http_status, event } }`. A `"valid"`
//! signature is computed with the fixed test auth token over `sign_url` (default: the
//! row's exact `url`) and the params of `sign_body` (default: `body`).

use std::collections::{BTreeMap, BTreeSet};

use telephony_core::{
    Channel, DeliveryStatus, InboundMessage, Media, Provider, SignatureCheck, StatusUpdate,
    WebhookError, WebhookEvent, WebhookRequest,
};
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use time::OffsetDateTime;

const AUTH_TOKEN: &str = "test-auth-token-0123456789abcdef";
const TABLE: &str = include_str!("../testdata/webhooks.json");

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    label: String,
    url: String,
    content_type: Option<String>,
    body: String,
    signature: String,
    #[serde(default)]
    sign_url: Option<String>,
    #[serde(default)]
    sign_body: Option<String>,
    check: String,
    expect: Expect,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    error: Option<String>,
    http_status: u16,
    event: Option<ExpectedEvent>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum ExpectedEvent {
    Message {
        provider_sid: String,
        account_sid: Option<String>,
        channel: Channel,
        from: String,
        to: String,
        body: String,
        media: Vec<Media>,
        num_segments: Option<u32>,
        extra: BTreeMap<String, String>,
    },
    Status {
        provider_sid: String,
        status: DeliveryStatus,
        error_code: Option<i64>,
        error_message: Option<String>,
        account_sid: Option<String>,
    },
}

fn cases() -> Vec<Case> {
    serde_json::from_str(TABLE).expect("testdata/webhooks.json parses")
}

fn provider() -> TwilioProvider {
    TwilioProvider::new(TwilioConfig::new(
        "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        AUTH_TOKEN,
    ))
    .expect("provider builds")
}

/// The stable name of an error used in the table: `Variant` or `Variant:detail`.
fn error_name(e: &WebhookError) -> String {
    match e {
        WebhookError::MissingSignature(h) => format!("MissingSignature:{h}"),
        WebhookError::InvalidSignature { .. } => "InvalidSignature".into(),
        WebhookError::UnsupportedMediaType { got, .. } => format!("UnsupportedMediaType:{got}"),
        WebhookError::Malformed(_) => "Malformed".into(),
        WebhookError::MissingField(f) => format!("MissingField:{f}"),
        WebhookError::InvalidField { field, value } => format!("InvalidField:{field}={value}"),
        WebhookError::Unsupported => "Unsupported".into(),
        other => format!("unknown variant: {other:?}"),
    }
}

fn request(case: &Case) -> WebhookRequest {
    let mut headers = http::HeaderMap::new();
    if let Some(ct) = &case.content_type {
        headers.insert(
            http::header::CONTENT_TYPE,
            ct.parse().expect("content type header"),
        );
    }
    let signature = match case.signature.as_str() {
        "missing" => None,
        "valid" => {
            let signed_body = case.sign_body.as_deref().unwrap_or(&case.body);
            // serde_urlencoded is an independent decoder from the crate's own.
            let params: Vec<(String, String)> =
                serde_urlencoded::from_str(signed_body).expect("signed body decodes");
            let url = case.sign_url.as_deref().unwrap_or(&case.url);
            Some(RequestValidator::new(AUTH_TOKEN).compute(url, &params))
        }
        literal => Some(literal.to_string()),
    };
    if let Some(sig) = signature {
        headers.insert("X-Twilio-Signature", sig.parse().expect("signature header"));
    }
    WebhookRequest {
        url: case.url.clone(),
        method: http::Method::POST,
        headers,
        body: case.body.clone().into_bytes().into(),
    }
}

/// Checks one row; returns a description of every mismatch.
fn run(twilio: &TwilioProvider, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let check = match case.check.as_str() {
        "verify" => SignatureCheck::Verify,
        "skip" => SignatureCheck::DangerouslySkip,
        other => return vec![format!("bad check value {other:?}")],
    };
    let before = OffsetDateTime::now_utc();
    let result = twilio.handle_webhook(&request(case), check);
    let after = OffsetDateTime::now_utc();
    match (&result, &case.expect.error, &case.expect.event) {
        (Err(e), Some(expected), None) => {
            if &error_name(e) != expected {
                problems.push(format!("error {:?}, expected {expected:?}", error_name(e)));
            }
            if e.http_status() != case.expect.http_status {
                problems.push(format!(
                    "HTTP {}, expected {}",
                    e.http_status(),
                    case.expect.http_status
                ));
            }
        }
        (Ok(event), None, Some(expected)) => {
            if case.expect.http_status != 200 {
                problems.push(format!(
                    "an accepted webhook answers 200, the row says {}",
                    case.expect.http_status
                ));
            }
            match (event, expected) {
                (
                    WebhookEvent::Message(got),
                    ExpectedEvent::Message {
                        provider_sid,
                        account_sid,
                        channel,
                        from,
                        to,
                        body,
                        media,
                        num_segments,
                        extra,
                    },
                ) => {
                    if !got.id.as_str().starts_with("msg_") {
                        problems.push(format!("id {} is not a generated id", got.id));
                    }
                    if got.received_at < before || got.received_at > after {
                        problems.push(format!("received_at {} is not now", got.received_at));
                    }
                    let want = InboundMessage {
                        id: got.id.clone(),
                        received_at: got.received_at,
                        provider_sid: provider_sid.clone(),
                        account_sid: account_sid.clone(),
                        channel: *channel,
                        from: from.clone(),
                        to: to.clone(),
                        body: body.clone(),
                        media: media.clone(),
                        num_segments: *num_segments,
                        extra: extra.clone(),
                    };
                    if got != &want {
                        problems.push(format!("message\n  got:  {got:?}\n  want: {want:?}"));
                    }
                }
                (
                    WebhookEvent::Status(got),
                    ExpectedEvent::Status {
                        provider_sid,
                        status,
                        error_code,
                        error_message,
                        account_sid,
                    },
                ) => {
                    let want = StatusUpdate {
                        error_code: *error_code,
                        error_message: error_message.clone(),
                        account_sid: account_sid.clone(),
                        more_info: error_code
                            .map(|c| format!("https://www.twilio.com/docs/errors/{c}")),
                        ..StatusUpdate::new(provider_sid.clone(), *status)
                    };
                    if got != &want {
                        problems.push(format!("status\n  got:  {got:?}\n  want: {want:?}"));
                    }
                }
                (got, want) => problems.push(format!("event {got:?}, expected {want:?}")),
            }
        }
        (_, Some(_), Some(_)) | (_, None, None) => {
            problems.push("the row must have exactly one of expect.error / expect.event".into())
        }
        (got, _, _) => problems.push(format!(
            "got {got:?}, expected error {:?} / event {:?}",
            case.expect.error, case.expect.event
        )),
    }
    problems
}

#[test]
fn webhook_table() {
    let twilio = provider();
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        for problem in run(&twilio, case) {
            failures.push(format!("[{}] {problem}", case.label));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} webhook cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn table_is_well_formed_and_covers_the_required_cases() {
    let cases = cases();
    let labels: BTreeSet<&str> = cases.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels.len(), cases.len(), "labels must be unique");

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
    let statuses: Vec<DeliveryStatus> = cases
        .iter()
        .filter_map(|c| match &c.expect.event {
            Some(ExpectedEvent::Status { status, .. }) => Some(*status),
            _ => None,
        })
        .collect();
    for required in [DeliveryStatus::Delivered, DeliveryStatus::Undelivered] {
        assert!(
            statuses.contains(&required),
            "no status case for {required}"
        );
    }
    assert!(
        cases.iter().any(|c| c.sign_url.is_some()),
        "no wrong-URL case"
    );
    assert!(cases.iter().any(|c| matches!(&c.expect.event,
        Some(ExpectedEvent::Message { media, .. }) if media.len() == 2)));
    assert!(cases.iter().any(|c| matches!(&c.expect.event,
        Some(ExpectedEvent::Message { channel: Channel::Whatsapp, extra, .. })
            if extra.contains_key("ProfileName") && extra.contains_key("WaId"))));
    // The verbatim courier capture.
    assert!(cases.iter().any(|c| {
        c.body.starts_with(
        "ToCountry=US&ToState=District+Of+Columbia&SmsMessageSid=SMe287d7109a5a925f182f0e07fe5b223b"
    )
    }));
}

#[test]
fn every_accepted_row_is_refused_when_its_signature_is_wrong() {
    // Fail closed: flipping any verified, accepted row to a wrong signature gives 403.
    let twilio = provider();
    for case in cases()
        .into_iter()
        .filter(|c| c.check == "verify" && c.expect.event.is_some())
    {
        let mut req = request(&case);
        req.headers.insert(
            "X-Twilio-Signature",
            RequestValidator::new("another-token")
                .compute(
                    &case.url,
                    &serde_urlencoded::from_str::<Vec<(String, String)>>(&case.body).unwrap(),
                )
                .parse()
                .unwrap(),
        );
        let err = twilio
            .handle_webhook(&req, SignatureCheck::Verify)
            .expect_err(&case.label);
        assert_eq!(err.http_status(), 403, "[{}] {err}", case.label);
    }
}

#[test]
fn ack_is_empty_twiml() {
    let ack = provider().webhook_ack();
    assert_eq!(ack.content_type, "text/xml");
    assert_eq!(
        std::str::from_utf8(&ack.body).unwrap(),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
    );
}
