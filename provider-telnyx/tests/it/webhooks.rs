//! Webhook parsing through `TelnyxProvider::handle_webhook`, signed with the RFC 8032
//! test key and a fixed clock.

use std::sync::Arc;

use telephony_core::{
    Channel, DeliveryStatus, Provider, SignatureCheck, WebhookError, WebhookEvent, WebhookRequest,
};
use telephony_telnyx::{TelnyxConfig, TelnyxProvider, WebhookSigner};

const NOW: i64 = 1_700_000_000;
const URL: &str = "https://gw.example.com/telephony/webhook";

fn signer() -> WebhookSigner {
    WebhookSigner::from_seed([9; 32])
}

fn provider() -> TelnyxProvider {
    TelnyxProvider::new(
        TelnyxConfig::new("KEY1")
            .public_key(signer().public_key_base64())
            .from_number("+15550001234".parse().unwrap()),
    )
    .unwrap()
    .with_clock(Arc::new(|| NOW))
}

fn request(body: &str) -> WebhookRequest {
    WebhookRequest {
        url: URL.into(),
        method: http::Method::POST,
        headers: signer().headers(NOW, body.as_bytes()),
        body: body.to_string().into(),
    }
}

fn handle(body: &str) -> Result<WebhookEvent, WebhookError> {
    provider().handle_webhook(&request(body), SignatureCheck::Verify)
}

fn finalized(status: &str, errors: &str) -> String {
    format!(
        r#"{{"data":{{"event_type":"message.finalized","id":"ev-1","occurred_at":"2023-11-14T22:13:21.000+00:00","payload":{{"id":"40385f64-5717-4562-b3fc-2c963f66afa6","direction":"outbound","from":{{"phone_number":"+15550001234"}},"to":[{{"phone_number":"+15550005678","status":"{status}"}}],"errors":{errors},"type":"SMS"}},"record_type":"event"}},"meta":{{"attempt":1}}}}"#
    )
}

#[test]
fn the_rfc_vector_body_is_an_inbound_message() {
    let body = std::str::from_utf8(crate::support::VECTOR_BODY).unwrap();
    let WebhookEvent::Message(m) = handle(body).unwrap() else {
        panic!()
    };
    assert_eq!(m.provider_sid, "84cca175-9755-4859-b67f-4730d7f58aa3");
    assert_eq!(
        (m.from.as_str(), m.to.as_str()),
        ("+13125550001", "+17735550002")
    );
    assert_eq!(m.body, "Hello from Telnyx");
    assert_eq!(m.channel, Channel::Sms);
    assert!(m.media.is_empty());
    assert!(m.id.as_str().starts_with("msg_"));
    assert_eq!(m.extra["event_id"], "b301ed3f-1490-491f-995f-6e64e69674d4");
    assert_eq!(m.extra["event_type"], "message.received");
    assert_eq!(m.extra["occurred_at"], "2023-11-14T22:13:20.000+00:00");
    assert_eq!(m.extra["type"], "SMS");
    assert_eq!(m.extra["meta_attempt"], "1");
    assert_eq!(
        m.extra["meta_delivered_to"],
        "https://example.com/webhooks/telnyx"
    );
}

#[test]
fn message_received_with_media_and_no_text() {
    let body = r#"{"data":{"event_type":"message.received","id":"ev-2","payload":{"id":"m-2","from":{"phone_number":"+15550005678","carrier":"T-Mobile USA","line_type":"Wireless"},"to":[{"phone_number":"+15550001234","status":"webhook_delivered"}],"media":[{"url":"https://media.telnyx.example/a.jpg","content_type":"image/jpeg","size":48213,"hash_sha256":"ab"},{"url":"https://media.telnyx.example/b.vcf","content_type":null,"size":null}],"parts":1,"type":"MMS"}}}"#;
    let WebhookEvent::Message(m) = handle(body).unwrap() else {
        panic!()
    };
    assert_eq!(m.body, "");
    assert_eq!(m.num_segments, Some(1));
    assert_eq!(m.media.len(), 2);
    assert_eq!(m.media[0].url, "https://media.telnyx.example/a.jpg");
    assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(m.media[0].size, Some(48213));
    assert_eq!(
        (m.media[1].content_type.as_deref(), m.media[1].size),
        (None, None)
    );
    assert_eq!(m.extra["from_carrier"], "T-Mobile USA");
    assert_eq!(m.extra["type"], "MMS");
}

#[test]
fn message_sent_is_a_status_update() {
    let body = r#"{"data":{"event_type":"message.sent","id":"ev-3","payload":{"id":"m-3","to":[{"phone_number":"+15550005678","status":"sent"}],"errors":[]}}}"#;
    let WebhookEvent::Status(u) = handle(body).unwrap() else {
        panic!()
    };
    assert_eq!(u.provider_sid, "m-3");
    assert_eq!(u.status, DeliveryStatus::Sent);
    assert_eq!(
        (u.provider_status, u.error_code, u.more_info),
        (None, None, None)
    );
}

#[test]
fn every_telnyx_status_maps_losslessly() {
    let cases = [
        ("queued", DeliveryStatus::Queued, None),
        ("sending", DeliveryStatus::Sending, None),
        ("sent", DeliveryStatus::Sent, None),
        ("delivered", DeliveryStatus::Delivered, None),
        (
            "sending_failed",
            DeliveryStatus::Failed,
            Some("sending_failed"),
        ),
        (
            "delivery_failed",
            DeliveryStatus::Failed,
            Some("delivery_failed"),
        ),
        (
            "delivery_unconfirmed",
            DeliveryStatus::Unknown,
            Some("delivery_unconfirmed"),
        ),
        ("expired", DeliveryStatus::Expired, None),
    ];
    for (raw, status, provider_status) in cases {
        let WebhookEvent::Status(u) = handle(&finalized(raw, "[]")).unwrap() else {
            panic!("{raw}")
        };
        assert_eq!(u.status, status, "{raw}");
        assert_eq!(u.provider_status.as_deref(), provider_status, "{raw}");
        assert_eq!(u.error_code, None);
    }
}

#[test]
fn delivery_failed_carries_the_error() {
    let errors = r#"[{"code":"40008","title":"Undeliverable","detail":"The recipient carrier did not accept the message."}]"#;
    let WebhookEvent::Status(u) = handle(&finalized("delivery_failed", errors)).unwrap() else {
        panic!()
    };
    assert_eq!(u.status, DeliveryStatus::Failed);
    assert_eq!(u.provider_status.as_deref(), Some("delivery_failed"));
    assert_eq!(u.error_code, Some(40008));
    assert_eq!(
        u.error_message.as_deref(),
        Some("Undeliverable: The recipient carrier did not accept the message.")
    );
    assert_eq!(
        u.more_info.as_deref(),
        Some("https://developers.telnyx.com/api/errors/40008")
    );
}

#[test]
fn an_undocumented_status_is_an_invalid_field() {
    assert_eq!(
        handle(&finalized("teleported", "[]")),
        Err(WebhookError::InvalidField {
            field: "data.payload.to[0].status",
            value: "teleported".into()
        })
    );
}

#[test]
fn other_event_types_are_acknowledged() {
    // Verified events of products the gateway does not use, and call events it has no
    // use for, are acknowledged, not refused.
    for event_type in ["fax.received", "call.bridged", "call.dtmf.received"] {
        let body = format!(
            r#"{{"data":{{"event_type":"{event_type}","id":"ev-9","payload":{{"call_control_id":"x"}}}}}}"#
        );
        assert_eq!(
            handle(&body),
            Ok(WebhookEvent::Other {
                event_type: event_type.into(),
                event_id: Some("ev-9".into())
            })
        );
    }
}

#[test]
fn missing_fields_are_named_by_path() {
    let cases = [
        (r#"{"meta":{}}"#, "data"),
        (r#"{"data":{"id":"e"}}"#, "data.event_type"),
        (r#"{"data":{"event_type":"message.sent"}}"#, "data.payload"),
        (
            r#"{"data":{"event_type":"message.sent","payload":{"to":[]}}}"#,
            "data.payload.id",
        ),
        (
            r#"{"data":{"event_type":"message.sent","payload":{"id":"m","to":[]}}}"#,
            "data.payload.to[0].status",
        ),
        (
            r#"{"data":{"event_type":"message.received","payload":{"id":"m","to":[{"phone_number":"+1"}]}}}"#,
            "data.payload.from.phone_number",
        ),
        (
            r#"{"data":{"event_type":"message.received","payload":{"id":"m","from":{"phone_number":"+1"},"to":[]}}}"#,
            "data.payload.to[0].phone_number",
        ),
    ];
    for (body, field) in cases {
        assert_eq!(
            handle(body),
            Err(WebhookError::MissingField(field)),
            "{body}"
        );
    }
}

#[test]
fn malformed_json_is_malformed() {
    assert!(matches!(
        handle(r#"{"data":"#),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        handle(r#"{"data":{"event_type":"message.sent","payload":{"id":7}}}"#),
        Err(WebhookError::Malformed(_))
    ));
}

#[test]
fn content_type_must_be_json() {
    let body = finalized("delivered", "[]");
    let mut req = request(&body);
    req.headers.insert(
        http::header::CONTENT_TYPE,
        "application/json; charset=utf-8".parse().unwrap(),
    );
    assert!(
        provider()
            .handle_webhook(&req, SignatureCheck::Verify)
            .is_ok()
    );
    req.headers
        .insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
    let err = provider()
        .handle_webhook(&req, SignatureCheck::Verify)
        .unwrap_err();
    assert_eq!(
        err,
        WebhookError::UnsupportedMediaType {
            got: "text/plain".into(),
            expected: "application/json"
        }
    );
    req.headers.remove(http::header::CONTENT_TYPE);
    assert_eq!(
        provider()
            .handle_webhook(&req, SignatureCheck::DangerouslySkip)
            .unwrap_err(),
        WebhookError::UnsupportedMediaType {
            got: String::new(),
            expected: "application/json"
        }
    );
}

#[test]
fn a_twilio_form_webhook_is_refused() {
    let body = "MessageSid=SM1&From=%2B15550005678&To=%2B15550001234&Body=Hi";
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    headers.insert("x-twilio-signature", "abc=".parse().unwrap());
    let req = WebhookRequest {
        url: URL.into(),
        method: http::Method::POST,
        headers,
        body: body.into(),
    };
    for check in [SignatureCheck::Verify, SignatureCheck::DangerouslySkip] {
        let err = provider().handle_webhook(&req, check).unwrap_err();
        assert_eq!(err.http_status(), 415);
    }
    // Even relabelled as JSON it is refused: first by the signature, then as not JSON.
    let mut json = req.clone();
    json.headers.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    assert_eq!(
        provider().handle_webhook(&json, SignatureCheck::Verify),
        Err(WebhookError::MissingSignature("telnyx-signature-ed25519"))
    );
    assert!(matches!(
        provider().handle_webhook(&json, SignatureCheck::DangerouslySkip),
        Err(WebhookError::Malformed(_))
    ));
}

#[test]
fn the_signature_is_checked_before_the_json() {
    let mut req = request("not json at all");
    req.headers
        .insert("telnyx-timestamp", "1700000001".parse().unwrap());
    assert_eq!(
        provider().handle_webhook(&req, SignatureCheck::Verify),
        Err(WebhookError::InvalidSignature { url: URL.into() })
    );
    assert!(matches!(
        provider().handle_webhook(&req, SignatureCheck::DangerouslySkip),
        Err(WebhookError::Malformed(_))
    ));
}

#[test]
fn the_injected_clock_decides_staleness() {
    let body = finalized("delivered", "[]");
    let late = provider().with_clock(Arc::new(|| NOW + 301));
    assert_eq!(
        late.handle_webhook(&request(&body), SignatureCheck::Verify),
        Err(WebhookError::StaleTimestamp {
            timestamp: NOW,
            now: NOW + 301,
            tolerance_secs: 300
        })
    );
}
