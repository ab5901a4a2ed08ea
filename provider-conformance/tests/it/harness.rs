//! The harness itself: a small JSON provider shaped like Telnyx (signature over
//! `timestamp|body` with a 300 s window, JSON send API with bearer auth) passes its cases,
//! and wrong expectations, extra requests and malformed suites are reported.

use std::time::Duration;

use async_trait::async_trait;
use telephony_conformance::{
    CaseEnv, CaseSource, WebhookRequestParts, check_send_cases, check_webhook_cases,
    run_send_cases, run_webhook_cases,
};
use telephony_core::{
    DeliveryStatus, OutboundMessage, Provider, ProviderError, ProviderReceipt, SendOptions,
    SignatureCheck, StatusUpdate, WebhookError, WebhookEvent, WebhookRequest,
};
use time::OffsetDateTime;

const SIG: &str = "x-acme-signature";
const TS: &str = "x-acme-timestamp";

/// Signs `timestamp|body` (a stand-in for a real MAC: the harness only moves headers).
fn acme_sign(req: &WebhookRequestParts, now: OffsetDateTime) -> Vec<(String, String)> {
    let ts = now.unix_timestamp().to_string();
    vec![
        (TS.into(), ts.clone()),
        (SIG.into(), format!("key1:{ts}|{}", req.body)),
    ]
}

#[derive(Debug)]
struct Acme {
    api: String,
    now: OffsetDateTime,
    attempts: u32,
}

fn acme(env: &CaseEnv) -> Acme {
    Acme {
        api: env.api_base_url.clone(),
        now: env.now,
        attempts: 1,
    }
}

#[async_trait]
impl Provider for Acme {
    async fn send(
        &self,
        msg: &OutboundMessage,
        _: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        if msg.body.is_empty() {
            return Err(ProviderError::InvalidMessage("empty".into()));
        }
        let client = reqwest::Client::new();
        let mut last = None;
        for _ in 0..self.attempts {
            let resp = client
                .post(format!("{}/v2/messages", self.api))
                .bearer_auth("KEY1")
                .json(&serde_json::json!({"to": msg.to.to_string(), "text": msg.body}))
                .send()
                .await
                .map_err(|e| ProviderError::transport("acme", &self.api, false, e))?;
            let status = resp.status().as_u16();
            let retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map(Duration::from_secs);
            let body: serde_json::Value = resp
                .json()
                .await
                .map_err(|e| ProviderError::protocol("acme", e.to_string()))?;
            if status == 200 {
                return Ok(ProviderReceipt {
                    sid: body["data"]["id"].as_str().unwrap_or_default().into(),
                    status: DeliveryStatus::Queued,
                    from: None,
                    num_segments: Some(1),
                    price: None,
                    price_unit: None,
                });
            }
            let code = body["errors"][0]["code"]
                .as_str()
                .and_then(|c| c.parse().ok());
            last = Some(
                ProviderError::api("acme", status, "refused")
                    .with_code(code)
                    .with_retry_after(retry)
                    .with_opted_out(code == Some(40300)),
            );
        }
        Err(last.expect("at least one attempt"))
    }

    fn handle_webhook(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<WebhookEvent, WebhookError> {
        let body =
            std::str::from_utf8(&req.body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        if check == SignatureCheck::Verify {
            let sig = req
                .headers
                .get(SIG)
                .ok_or(WebhookError::MissingSignature(SIG))?;
            let ts: i64 = req
                .headers
                .get(TS)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .ok_or_else(|| WebhookError::MalformedSignature {
                    header: TS,
                    reason: "not a number".into(),
                })?;
            let now = self.now.unix_timestamp();
            if ts.abs_diff(now) > 300 {
                return Err(WebhookError::StaleTimestamp {
                    timestamp: ts,
                    now,
                    tolerance_secs: 300,
                });
            }
            if sig.as_bytes() != format!("key1:{ts}|{body}").as_bytes() {
                return Err(WebhookError::InvalidSignature {
                    url: req.url.clone(),
                });
            }
        }
        let v: serde_json::Value =
            serde_json::from_str(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let data = &v["data"];
        match data["event_type"].as_str() {
            Some("message.finalized") => Ok(WebhookEvent::Status(StatusUpdate {
                provider_status: Some("delivery_unconfirmed".into()),
                ..StatusUpdate::new(
                    data["payload"]["id"].as_str().unwrap_or_default(),
                    DeliveryStatus::Unknown,
                )
            })),
            Some(other) => Ok(WebhookEvent::Other {
                event_type: other.into(),
                event_id: data["id"].as_str().map(String::from),
            }),
            None => Err(WebhookError::MissingField("data.event_type")),
        }
    }
}

const WEBHOOKS: &str = r#"[
  {"label": "status, signed now", "now": 1700000000,
   "request": {"url": "https://gw.example.com/acme", "headers": {"Content-Type": "application/json"},
               "body": "{\"data\":{\"event_type\":\"message.finalized\",\"id\":\"ev1\",\"payload\":{\"id\":\"m1\"}}}"},
   "signature": "valid", "check": "verify",
   "expect": {"http_status": 200,
              "ack": {"content_type": "text/plain; charset=utf-8", "body": ""},
              "events": [{"kind": "status", "provider_sid": "m1", "status": "unknown",
                          "provider_status": "delivery_unconfirmed"}]}},
  {"label": "another event type", "now": 1700000000,
   "request": {"url": "https://gw.example.com/acme", "body": "{\"data\":{\"event_type\":\"call.initiated\",\"id\":\"ev2\"}}"},
   "signature": "valid", "check": "verify",
   "expect": {"http_status": 200, "events": [{"kind": "other", "event_type": "call.initiated", "event_id": "ev2"}]}},
  {"label": "signed 301 s ago", "now": 1700000301,
   "request": {"url": "https://gw.example.com/acme", "body": "{}"},
   "signature": {"valid_for": {"now": 1700000000}}, "check": "verify",
   "expect": {"http_status": 403, "error": "StaleTimestamp:1700000000", "events": []}},
  {"label": "signed over another body", "now": 1700000000,
   "request": {"url": "https://gw.example.com/acme", "body": "{\"a\":2}"},
   "signature": {"valid_for": {"body": "{\"a\":1}"}}, "check": "verify",
   "expect": {"http_status": 403, "error": "InvalidSignature", "events": []}},
  {"label": "an explicit header wins over the computed one", "now": 1700000000,
   "request": {"url": "https://gw.example.com/acme", "headers": {"x-acme-timestamp": "soon"}, "body": "{}"},
   "signature": "valid", "check": "verify",
   "expect": {"http_status": 403, "error": "MalformedSignature:x-acme-timestamp", "events": []}},
  {"label": "literal headers only",
   "request": {"url": "https://gw.example.com/acme", "body": "{}"},
   "signature": {"literal": {"x-acme-timestamp": "1700000000"}}, "check": "verify",
   "expect": {"http_status": 403, "error": "MissingSignature:x-acme-signature", "events": []}}
]"#;

#[test]
fn a_json_provider_with_a_clock_passes_its_webhook_cases() {
    run_webhook_cases(CaseSource::json(WEBHOOKS), acme, acme_sign);
}

#[test]
fn wrong_webhook_expectations_are_all_reported() {
    let wrong = WEBHOOKS
        .replace("\"status\": \"unknown\"", "\"status\": \"delivered\"")
        .replace("StaleTimestamp:1700000000", "InvalidSignature")
        .replace("\"body\": \"\"}", "\"body\": \"<ok/>\"}");
    let report = check_webhook_cases(CaseSource::json(wrong), acme, acme_sign);
    assert_eq!((report.cases, report.failures.len()), (6, 2), "{report}");
    let text = report.to_string();
    assert!(text.contains("[inline] status, signed now"), "{text}");
    assert!(
        text.contains("status: got \"unknown\", want \"delivered\""),
        "{text}"
    );
    assert!(text.contains("ack: got"), "{text}");
    assert!(
        text.contains(
            "error: got Some(\"StaleTimestamp:1700000000\"), want Some(\"InvalidSignature\")"
        ),
        "{text}"
    );
}

const SENDS: &str = r#"[
  {"label": "accepted",
   "message": {"to": "+15550005678", "body": "hi"},
   "provider_answer": {"status": 200, "json": {"data": {"id": "m1"}}},
   "expect_request": {"method": "POST", "path": "/v2/messages",
                      "headers": {"Authorization": "Bearer KEY1", "content-type": "application/json"},
                      "body": {"json": {"text": "hi", "to": "+15550005678"}}},
   "expect": {"receipt": {"sid": "m1", "status": "queued", "num_segments": 1}}},
  {"label": "rate limited",
   "message": {"to": "+15550005678", "body": "hi"},
   "provider_answer": {"status": 429, "headers": {"Retry-After": "7"}, "json": {"errors": [{"code": "10011"}]}},
   "expect_request": {"method": "POST", "path": "/v2/messages"},
   "expect": {"error": {"kind": "api", "http_status": 429, "code": 10011, "retryable": true,
                        "opted_out": false, "retry_after_secs": 7}}},
  {"label": "empty text",
   "message": {"to": "+15550005678", "body": ""}, "expect_no_request": true,
   "expect": {"error": {"kind": "invalid_message", "retryable": false, "opted_out": false}}}
]"#;

#[tokio::test]
async fn a_json_provider_passes_its_send_cases() {
    run_send_cases(CaseSource::json(SENDS), acme).await;
}

#[tokio::test]
async fn a_provider_that_retries_by_itself_is_reported() {
    let report = check_send_cases(CaseSource::json(SENDS), |env: &CaseEnv| Acme {
        attempts: 2,
        ..acme(env)
    })
    .await;
    assert_eq!(report.failures.len(), 1, "{report}");
    assert_eq!(report.failures[0].label, "rate limited");
    assert!(report.failures[0].problems[0].contains("requests: got 2, want exactly 1"));
}

#[tokio::test]
async fn wrong_send_expectations_are_reported() {
    let wrong = SENDS
        .replace("\"text\": \"hi\"", "\"text\": \"ho\"")
        .replace("Bearer KEY1", "Bearer KEY2")
        .replace("\"expect_no_request\": true", "\"provider_answer\": {\"status\": 200}, \"expect_request\": {\"method\": \"POST\", \"path\": \"/\"}");
    let report = check_send_cases(CaseSource::json(wrong), acme).await;
    let text = report.to_string();
    assert_eq!(report.failures.len(), 2, "{text}");
    assert!(
        text.contains(
            "request header Authorization: got Some(\"Bearer KEY1\"), want \"Bearer KEY2\""
        ),
        "{text}"
    );
    assert!(text.contains("request json:"), "{text}");
    assert!(text.contains("requests: got 0, want exactly 1"), "{text}");
}

#[test]
fn malformed_suites_are_reported() {
    for (json, expected) in [
        ("[]", "no cases ran"),
        (r#"[{"label": "a", "bogus": 1}]"#, "unknown field `bogus`"),
    ] {
        let report = check_webhook_cases(CaseSource::json(json), acme, acme_sign);
        assert!(!report.is_ok());
        assert!(report.to_string().contains(expected), "{report}");
    }
    let twice = format!(
        "[{0},{0}]",
        r#"{"label": "a", "request": {"url": "u"}, "signature": "missing", "check": "skip", "expect": {"http_status": 400, "error": "Malformed"}}"#
    );
    let report = check_webhook_cases(CaseSource::json(twice), acme, acme_sign);
    assert!(
        report.to_string().contains("label \"a\" is used twice"),
        "{report}"
    );
    let missing = std::path::PathBuf::from("/nonexistent/conformance/cases");
    let report = check_webhook_cases(missing, acme, acme_sign);
    assert!(
        report.to_string().contains("cannot list the folder"),
        "{report}"
    );
}
