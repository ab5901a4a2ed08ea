//! Signed webhooks: the event envelope, the life of a sent message (`message.sent`, then
//! `message.finalized`), and the POST that delivers one.

use std::time::Duration;

use bytes::Bytes;
use telephony_core::DeliveryStatus;
use telephony_core::redact::redact_url;
use telephony_telnyx::resources::{ErrorObject, MessageResource};
use telephony_telnyx::webhook::{MESSAGE_FINALIZED, MESSAGE_SENT};
use time::OffsetDateTime;

use crate::dates::rfc3339;
use crate::ids::new_uuid;
use crate::simulator::Simulator;
use crate::webhooks::WebhookRecord;

/// `{"data":{"event_type","id","occurred_at","payload","record_type":"event"},"meta":{…}}`.
pub(crate) fn envelope(
    event_type: &str,
    payload: &MessageResource,
    url: &str,
    at: OffsetDateTime,
) -> Bytes {
    let body = serde_json::json!({
        "data": {
            "event_type": event_type,
            "id": new_uuid(),
            "occurred_at": rfc3339(at),
            "payload": payload,
            "record_type": "event",
        },
        "meta": { "attempt": 1, "delivered_to": url },
    });
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// One status a sent message moves to: the event, the Telnyx status, an error.
#[derive(Debug, Clone, Copy)]
struct Step {
    event_type: &'static str,
    status: &'static str,
    error: Option<(i64, &'static str, &'static str)>,
}

fn steps(final_status: DeliveryStatus) -> Vec<Step> {
    let sent = Step {
        event_type: MESSAGE_SENT,
        status: "sent",
        error: None,
    };
    let finalized = |status, error| Step {
        event_type: MESSAGE_FINALIZED,
        status,
        error,
    };
    match final_status {
        DeliveryStatus::Delivered => vec![sent, finalized("delivered", None)],
        DeliveryStatus::Failed => vec![
            sent,
            finalized(
                "delivery_failed",
                Some((
                    40008,
                    "Undeliverable",
                    "The recipient carrier did not accept the message.",
                )),
            ),
        ],
        DeliveryStatus::Expired => vec![
            sent,
            finalized(
                "expired",
                Some((
                    40005,
                    "Message expired during transmission",
                    "The message expired before it could be fully delivered to the recipient.",
                )),
            ),
        ],
        DeliveryStatus::Unknown => vec![sent, finalized("delivery_unconfirmed", None)],
        DeliveryStatus::Sent => vec![sent],
        _ => Vec::new(),
    }
}

/// Runs the message's steps `callback_delay` apart, POSTing a signed webhook for each when
/// there is a URL. Never blocks the send's answer.
pub(crate) fn spawn(sim: Simulator, id: String, url: Option<String>) {
    tokio::spawn(async move {
        let delay = sim.config().callback_delay;
        for step in steps(sim.config().final_status) {
            tokio::time::sleep(delay).await;
            let now = OffsetDateTime::now_utc();
            let Some(snapshot) = sim.apply_step(&id, step, now) else {
                return;
            };
            if let Some(url) = &url {
                let body = envelope(step.event_type, &snapshot, url, now);
                sim.deliver(step.event_type, &id, step.status, url, body)
                    .await;
            }
        }
    });
}

impl Simulator {
    fn apply_step(&self, id: &str, step: Step, now: OffsetDateTime) -> Option<MessageResource> {
        let mut state = self.lock();
        let m = state.message_mut(id)?;
        for to in &mut m.to {
            to.status = Some(step.status.to_string());
        }
        let at = rfc3339(now);
        if step.event_type == MESSAGE_SENT {
            m.sent_at = Some(at);
        } else {
            m.completed_at = Some(at);
        }
        if let Some((code, title, detail)) = step.error {
            m.errors = vec![ErrorObject {
                code: Some(serde_json::Value::String(code.to_string())),
                title: Some(title.to_string()),
                detail: Some(detail.to_string()),
                ..Default::default()
            }];
        }
        Some(m.clone())
    }

    /// Signs `body` now and POSTs it to `url` (no retry), recording the attempt.
    pub(crate) async fn deliver(
        &self,
        event_type: &str,
        message_id: &str,
        status: &str,
        url: &str,
        body: Bytes,
    ) -> WebhookRecord {
        let signed = self.sign(url, body, OffsetDateTime::now_utc().unix_timestamp());
        let signature = signed
            .headers
            .get(telephony_telnyx::signature::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let result = self
            .http()
            .post(self.delivery_url(url))
            .headers(signed.headers.clone())
            .body(signed.body.clone())
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        let (http_status, error) = match result {
            Ok(resp) => {
                let code = resp.status();
                let _ = resp.bytes().await;
                if code.is_success() {
                    tracing::debug!(message_id, event_type, url = %redact_url(url), http_status = code.as_u16(), "telnyx simulator: webhook delivered");
                    (Some(code.as_u16()), None)
                } else {
                    tracing::warn!(message_id, event_type, url = %redact_url(url), http_status = code.as_u16(), "telnyx simulator: webhook answered with an error status (not retried)");
                    (
                        Some(code.as_u16()),
                        Some(format!("webhook answered HTTP {}", code.as_u16())),
                    )
                }
            }
            Err(e) => {
                let reason = telephony_core::error_chain(&e.without_url());
                tracing::warn!(message_id, event_type, url = %redact_url(url), error = %reason, "telnyx simulator: webhook failed (not retried)");
                (None, Some(reason))
            }
        };
        let record = WebhookRecord {
            event_type: event_type.to_string(),
            message_id: message_id.to_string(),
            status: status.to_string(),
            url: url.to_string(),
            body: String::from_utf8_lossy(&signed.body).into_owned(),
            signature,
            timestamp: signed.timestamp,
            http_status,
            error,
        };
        self.lock().webhooks.push(record.clone());
        record
    }
}
