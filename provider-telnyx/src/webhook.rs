//! Telnyx messaging webhooks: the JSON event envelope and what it means to the gateway.
//!
//! ```json
//! {"data":{"event_type":"message.received","id":"<event uuid>","occurred_at":"…",
//!          "payload":{…message…},"record_type":"event"},
//!  "meta":{"attempt":1,"delivered_to":"https://…"}}
//! ```
//!
//! `message.received` is an inbound message; `message.sent` and `message.finalized` are
//! status updates of a message we sent; Call Control events (`call.*`, `streaming.*`) are
//! read by [`crate::voice::parse_call_event`]; any other `event_type` is
//! [`WebhookEvent::Other`], acknowledged so Telnyx does not retry it. Parsing happens only
//! after the signature check.

use std::collections::BTreeMap;

use serde::Deserialize;
use telephony_core::{
    Channel, DeliveryStatus, InboundMessage, Media, MessageId, StatusUpdate, WebhookError,
    WebhookEvent,
};
use time::OffsetDateTime;

use crate::resources::{MessageResource, error_docs_url};

/// `event_type` of an inbound message.
pub const MESSAGE_RECEIVED: &str = "message.received";
/// `event_type` when Telnyx handed a message to the carrier.
pub const MESSAGE_SENT: &str = "message.sent";
/// `event_type` when a message reached its final status.
pub const MESSAGE_FINALIZED: &str = "message.finalized";

#[derive(Deserialize)]
struct Envelope {
    data: Option<EventData>,
    #[serde(default)]
    meta: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct EventData {
    event_type: Option<String>,
    id: Option<String>,
    occurred_at: Option<String>,
    payload: Option<serde_json::Value>,
}

/// Telnyx's per-recipient status as a [`DeliveryStatus`], losslessly: every Telnyx status
/// has its own neutral meaning, and the raw name is kept on the update when it differs.
///
/// ```
/// use telephony_core::DeliveryStatus;
/// use telephony_telnyx::webhook::map_status;
/// assert_eq!(map_status("delivery_unconfirmed"), Some(DeliveryStatus::Unknown));
/// assert_eq!(map_status("sending_failed"), Some(DeliveryStatus::Failed));
/// assert_eq!(map_status("webhook_delivered"), None);
/// ```
pub fn map_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status {
        "queued" => DeliveryStatus::Queued,
        "sending" => DeliveryStatus::Sending,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "sending_failed" | "delivery_failed" => DeliveryStatus::Failed,
        "delivery_unconfirmed" => DeliveryStatus::Unknown,
        "expired" => DeliveryStatus::Expired,
        _ => return None,
    })
}

/// Parses a (verified) webhook body into what it tells the gateway.
///
/// `received_at` becomes [`InboundMessage::received_at`]. Errors: a body that is not a
/// JSON envelope is [`WebhookError::Malformed`]; a missing field is
/// [`WebhookError::MissingField`] named by its path (`data.payload.id`); a status Telnyx
/// does not document is [`WebhookError::InvalidField`].
///
/// ```
/// use telephony_core::WebhookEvent;
/// use telephony_telnyx::webhook::parse_event;
///
/// let body = br#"{"data":{"event_type":"message.received","id":"e1","payload":{
///     "id":"m1","from":{"phone_number":"+15550005678"},
///     "to":[{"phone_number":"+15550001234","status":"webhook_delivered"}],"text":"Hi"}}}"#;
/// let WebhookEvent::Message(m) = parse_event(body, time::OffsetDateTime::now_utc())? else { panic!() };
/// assert_eq!((m.provider_sid.as_str(), m.from.as_str(), m.body.as_str()), ("m1", "+15550005678", "Hi"));
/// # Ok::<(), telephony_core::WebhookError>(())
/// ```
pub fn parse_event(body: &[u8], received_at: OffsetDateTime) -> Result<WebhookEvent, WebhookError> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a Telnyx event envelope: {e}")))?;
    let data = envelope.data.ok_or(WebhookError::MissingField("data"))?;
    let event_type = data
        .event_type
        .filter(|t| !t.is_empty())
        .ok_or(WebhookError::MissingField("data.event_type"))?;
    let event_id = data.id.filter(|id| !id.is_empty());
    if crate::voice::is_call_event(&event_type) {
        let payload = data
            .payload
            .filter(|p| !p.is_null())
            .ok_or(WebhookError::MissingField("data.payload"))?;
        return crate::voice::parse_call_event(
            &event_type,
            event_id.as_deref(),
            data.occurred_at.as_deref(),
            &payload,
            received_at,
        );
    }
    if ![MESSAGE_RECEIVED, MESSAGE_SENT, MESSAGE_FINALIZED].contains(&event_type.as_str()) {
        return Ok(WebhookEvent::Other {
            event_type,
            event_id,
        });
    }
    let payload = data
        .payload
        .filter(|p| !p.is_null())
        .ok_or(WebhookError::MissingField("data.payload"))?;
    let message: MessageResource = serde_json::from_value(payload)
        .map_err(|e| WebhookError::Malformed(format!("data.payload is not a message: {e}")))?;
    if message.id.trim().is_empty() {
        return Err(WebhookError::MissingField("data.payload.id"));
    }
    if event_type == MESSAGE_RECEIVED {
        let mut extra = BTreeMap::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                extra.insert(k.to_string(), v.to_string());
            }
        };
        put("event_id", event_id.as_deref());
        put("event_type", Some(&event_type));
        put("occurred_at", data.occurred_at.as_deref());
        put("type", message.message_type.as_deref());
        put("direction", message.direction.as_deref());
        put("encoding", message.encoding.as_deref());
        put(
            "messaging_profile_id",
            message.messaging_profile_id.as_deref(),
        );
        put("received_at", message.received_at.as_deref());
        if let Some(from) = &message.from {
            put("from_carrier", from.carrier.as_deref());
            put("from_line_type", from.line_type.as_deref());
        }
        for (k, v) in envelope.meta.iter().flatten() {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            put(&format!("meta_{k}"), Some(&v));
        }
        return inbound(message, received_at, extra).map(WebhookEvent::Message);
    }
    status_update(message).map(WebhookEvent::Status)
}

fn inbound(
    m: MessageResource,
    received_at: OffsetDateTime,
    extra: BTreeMap<String, String>,
) -> Result<InboundMessage, WebhookError> {
    let from = m
        .from
        .map(|f| f.phone_number)
        .filter(|n| !n.is_empty())
        .ok_or(WebhookError::MissingField("data.payload.from.phone_number"))?;
    let to =
        m.to.into_iter()
            .next()
            .map(|t| t.phone_number)
            .filter(|n| !n.is_empty())
            .ok_or(WebhookError::MissingField(
                "data.payload.to[0].phone_number",
            ))?;
    let media = m
        .media
        .into_iter()
        .filter(|item| !item.url.is_empty())
        .map(|item| Media {
            url: item.url,
            content_type: item.content_type.filter(|c| !c.is_empty()),
            size: item.size,
        })
        .collect();
    Ok(InboundMessage {
        id: MessageId::generate(),
        provider_sid: m.id,
        account_sid: None,
        channel: Channel::Sms,
        from,
        to,
        body: m.text.unwrap_or_default(),
        media,
        num_segments: m.parts.filter(|&p| p > 0),
        received_at,
        extra,
    })
}

fn status_update(m: MessageResource) -> Result<StatusUpdate, WebhookError> {
    let raw =
        m.to.first()
            .and_then(|t| t.status.clone())
            .filter(|s| !s.is_empty())
            .ok_or(WebhookError::MissingField("data.payload.to[0].status"))?;
    let status = map_status(&raw).ok_or_else(|| WebhookError::InvalidField {
        field: "data.payload.to[0].status",
        value: raw.clone(),
    })?;
    let mut update = StatusUpdate::new(m.id, status);
    if raw != status.as_str() {
        update.provider_status = Some(raw);
    }
    if let Some(error) = m.errors.first() {
        update.error_code = error.code_number();
        update.error_message = error.message();
        update.more_info = update.error_code.map(error_docs_url);
    }
    Ok(update)
}
