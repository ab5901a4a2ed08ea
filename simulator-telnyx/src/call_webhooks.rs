//! Call Control events: the payload every event of a call shares, the envelope, and the
//! per-call delivery task that POSTs them signed, one at a time and in order, retrying
//! an event that is not answered 2xx before going on to the next.

use bytes::Bytes;
use serde_json::{Map, Value, json};
use telephony_core::redact::redact_url;
use time::OffsetDateTime;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::call_records::{CallEventRecord, DeliveryAttempt};
use crate::call_state::CallRecord;
use crate::dates::rfc3339;
use crate::ids::new_uuid;
use crate::simulator::Simulator;

/// How many of a call's events were delivered (or given up on), and when the last was.
pub(crate) type Delivered = (u64, Option<tokio::time::Instant>);

/// One event waiting for delivery.
#[derive(Debug)]
pub(crate) struct Delivery {
    /// Index in the call's `log.events`.
    index: usize,
    event_type: String,
    id: String,
    occurred_at: String,
    payload: Value,
    url: String,
    failover: Option<String>,
}

/// The fields every event payload of `call` carries.
pub(crate) fn base_payload(call: &CallRecord) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("call_control_id".into(), json!(call.call_control_id));
    p.insert("call_leg_id".into(), json!(call.call_leg_id));
    p.insert("call_session_id".into(), json!(call.call_session_id));
    p.insert("client_state".into(), json!(call.client_state));
    p.insert("connection_id".into(), json!(call.connection_id));
    p.insert("from".into(), json!(call.from));
    p.insert("to".into(), json!(call.to));
    p
}

/// `{"data":{"event_type","id","occurred_at","payload","record_type":"event"},"meta":{"attempt","delivered_to"}}`.
fn envelope(d: &Delivery, attempt: u32, url: &str) -> Bytes {
    let body = json!({
        "data": {
            "event_type": d.event_type,
            "id": d.id,
            "occurred_at": d.occurred_at,
            "payload": d.payload,
            "record_type": "event",
        },
        "meta": { "attempt": attempt, "delivered_to": url },
    });
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

impl Simulator {
    /// Records event `event_type` of call `id` with `extra` payload fields (on top of the
    /// call's shared ones) at the call's clock, and queues it on `deliveries` unless the
    /// type is dropped. `url` overrides the call's webhook URL (a command's `webhook_url`).
    pub(crate) fn emit_call_event(
        &self,
        id: &str,
        event_type: &str,
        extra: Map<String, Value>,
        url: Option<&str>,
        deliveries: &UnboundedSender<Delivery>,
    ) -> bool {
        let mut state = self.lock();
        let dropped = state.calls.dropped_events.iter().any(|e| e == event_type);
        let Some(call) = state.calls.get_mut(id) else {
            return false;
        };
        let mut payload = base_payload(call);
        payload.extend(extra);
        let payload = Value::Object(payload);
        let event_id = new_uuid();
        let index = call.log.events.len();
        call.log.events.push(CallEventRecord {
            event_type: event_type.to_string(),
            id: event_id.clone(),
            payload: payload.clone(),
            at_ms: call.clock_ms,
            dropped,
            attempts: Vec::new(),
        });
        if dropped {
            tracing::info!(call_control_id = %id, event_type, "telnyx simulator: call event dropped as asked");
            return false;
        }
        let delivery = Delivery {
            index,
            event_type: event_type.to_string(),
            id: event_id,
            occurred_at: rfc3339(OffsetDateTime::now_utc()),
            payload,
            url: url.unwrap_or(&call.webhook_url).to_string(),
            failover: call.failover_url.clone(),
        };
        deliveries.send(delivery).is_ok()
    }

    /// Delivers call `id`'s events in order until the driver is done with the call, then
    /// marks the call finished. `done` counts the events delivered (or given up on) and
    /// says when the last one was.
    pub(crate) async fn deliver_call_events(
        self,
        id: String,
        mut queue: UnboundedReceiver<Delivery>,
        done: tokio::sync::watch::Sender<Delivered>,
    ) {
        while let Some(d) = queue.recv().await {
            self.deliver_call_event(&id, &d).await;
            done.send_modify(|(count, at)| {
                *count += 1;
                *at = Some(tokio::time::Instant::now());
            });
        }
        if let Some(call) = self.lock().calls.get_mut(&id) {
            call.finished = true;
        }
        tracing::debug!(call_control_id = %id, "telnyx simulator: call finished");
    }

    /// Up to `webhook_attempts` attempts at the URL, then one at the failover URL.
    async fn deliver_call_event(&self, id: &str, d: &Delivery) {
        let voice = &self.config().voice;
        let mut targets: Vec<&str> = vec![d.url.as_str(); voice.webhook_attempts.max(1) as usize];
        if let Some(failover) = d.failover.as_deref() {
            targets.push(failover);
        }
        for (n, url) in targets.into_iter().enumerate() {
            if n > 0 {
                tokio::time::sleep(voice.webhook_retry_delay).await;
            }
            let attempt = n as u32 + 1;
            let record = self.post_call_event(id, d, attempt, url).await;
            let ok = record.succeeded();
            if let Some(call) = self.lock().calls.get_mut(id) {
                if let Some(event) = call.log.events.get_mut(d.index) {
                    event.attempts.push(record);
                }
            }
            if ok {
                return;
            }
        }
        tracing::warn!(call_control_id = %id, event_type = %d.event_type, "telnyx simulator: call event never delivered; giving up");
    }

    async fn post_call_event(
        &self,
        id: &str,
        d: &Delivery,
        attempt: u32,
        url: &str,
    ) -> DeliveryAttempt {
        let body = envelope(d, attempt, url);
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
            .timeout(self.config().voice.webhook_timeout)
            .send()
            .await;
        let (http_status, error) = match result {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let _ = resp.bytes().await;
                if (200..300).contains(&code) {
                    tracing::debug!(call_control_id = %id, event_type = %d.event_type, attempt, url = %redact_url(url), http_status = code, "telnyx simulator: call event delivered");
                    (Some(code), None)
                } else {
                    tracing::warn!(call_control_id = %id, event_type = %d.event_type, attempt, url = %redact_url(url), http_status = code, "telnyx simulator: call event answered with an error status");
                    (Some(code), Some(format!("webhook answered HTTP {code}")))
                }
            }
            Err(e) => {
                let reason = telephony_core::error_chain(&e.without_url());
                tracing::warn!(call_control_id = %id, event_type = %d.event_type, attempt, url = %redact_url(url), error = %reason, "telnyx simulator: call event failed");
                (None, Some(reason))
            }
        };
        DeliveryAttempt {
            url: url.to_string(),
            attempt,
            timestamp: signed.timestamp,
            signature,
            body: String::from_utf8_lossy(&signed.body).into_owned(),
            http_status,
            error,
        }
    }
}
