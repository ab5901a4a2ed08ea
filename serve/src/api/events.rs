//! The body POSTed to `forward.url`: one envelope for every event type.
//!
//! ```json
//! {"id":"evt_msg_…","createdAt":"2026-01-02T03:04:05Z","type":"message.received","data":{…}}
//! ```
//!
//! `data` is an [`InboundMessage`] for `message.received`, a [`StatusChange`] for
//! `message.status`, a [`MachineDetection`] for `call.machine_detection` and a
//! [`Recording`](super::Recording) for `call.recording`.

use serde::{Deserialize, Serialize};
use telephony_core as domain;
use telephony_core::voice::{AnsweredBy, MachineDetected};
use telephony_core::{Address, DeliveryStatus, MessageId};
use time::OffsetDateTime;

use super::messages::InboundMessage;
use super::receipts::ErrorInfo;

/// One forwarded event.
///
/// ```
/// use telephony_serve::api::{EventData, ForwardedEvent};
/// let body = r#"{"id":"evt_msg_1_delivered","createdAt":"2026-01-02T03:04:05Z",
///   "type":"message.status","data":{"messageId":"msg_1","to":"+15557654321",
///   "status":"delivered","providerSids":["SM1"]}}"#;
/// let ev: ForwardedEvent = serde_json::from_str(body).unwrap();
/// assert_eq!(ev.kind(), "message.status");
/// assert!(matches!(ev.data, EventData::MessageStatus(s) if s.provider_sids == ["SM1"]));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardedEvent {
    /// Unique id (also in `X-Telephony-Event-Id`); receivers drop ids they have seen.
    pub id: String,
    /// When the gateway created the event (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `type` and `data`.
    #[serde(flatten)]
    pub data: EventData,
}

/// The event's `type` and its `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventData {
    /// An inbound message the sender policy accepted.
    #[serde(rename = "message.received")]
    MessageReceived(InboundMessage),
    /// A sent message's status moved forward.
    #[serde(rename = "message.status")]
    MessageStatus(StatusChange),
    /// Answering-machine detection found who answered a call.
    #[serde(rename = "call.machine_detection")]
    CallMachineDetection(MachineDetection),
    /// A call's recording is ready: its metadata, as `telephony recordings --json` lists it.
    #[serde(rename = "call.recording")]
    CallRecording(super::recordings::Recording),
}

/// `call.machine_detection` data: who answered an outbound call placed with detection.
///
/// ```
/// use telephony_serve::api::{EventData, ForwardedEvent};
/// let body = r#"{"id":"evt_amd_CA1_machine_beep","createdAt":"2026-01-02T03:04:05Z",
///   "type":"call.machine_detection","data":{"callId":"CA1","answeredBy":"machine_beep",
///   "durationMs":4120}}"#;
/// let ev: ForwardedEvent = serde_json::from_str(body).unwrap();
/// assert_eq!(ev.kind(), "call.machine_detection");
/// let EventData::CallMachineDetection(d) = ev.data else { panic!() };
/// assert_eq!((d.call_id.as_str(), d.answered_by.as_str(), d.duration_ms), ("CA1", "machine_beep", Some(4120)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineDetection {
    /// The provider's call id.
    pub call_id: String,
    /// `human`, `machine`, `machine_beep`, `machine_no_beep`, `fax`, `unknown`.
    pub answered_by: AnsweredBy,
    /// How long the detection took, when the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The callee, when the call is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `message.status` data: where a sent message stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    /// The gateway's id of the sent message.
    pub message_id: MessageId,
    /// Recipient.
    pub to: Address,
    /// The new status.
    pub status: DeliveryStatus,
    /// Provider message ids.
    #[serde(default)]
    pub provider_sids: Vec<String>,
    /// The provider's error, for failed or undelivered messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl ForwardedEvent {
    /// The event type: `message.received`, `message.status`, `call.machine_detection` or
    /// `call.recording` (the `X-Telephony-Event` header).
    pub fn kind(&self) -> &'static str {
        match self.data {
            EventData::MessageReceived(_) => "message.received",
            EventData::MessageStatus(_) => "message.status",
            EventData::CallRecording(_) => "call.recording",
            EventData::CallMachineDetection(_) => "call.machine_detection",
        }
    }

    /// A `call.machine_detection` event; its id names the call and the result, so a
    /// provider's repeated callback is one event.
    pub fn machine_detection(d: &MachineDetected, to: Option<String>, now: OffsetDateTime) -> Self {
        ForwardedEvent {
            id: format!("evt_amd_{}_{}", d.call_id, d.answered_by),
            created_at: now,
            data: EventData::CallMachineDetection(MachineDetection {
                call_id: d.call_id.clone(),
                answered_by: d.answered_by,
                duration_ms: d.duration_ms,
                to,
            }),
        }
    }

    /// A `message.received` event for an accepted inbound message.
    pub fn message_received(msg: &domain::InboundMessage, now: OffsetDateTime) -> Self {
        ForwardedEvent {
            id: format!("evt_{}", msg.id),
            created_at: now,
            data: EventData::MessageReceived(InboundMessage::from(msg)),
        }
    }

    /// A `message.status` event for a receipt whose status just moved.
    pub fn message_status(receipt: &domain::Receipt, now: OffsetDateTime) -> Self {
        ForwardedEvent {
            id: format!("evt_{}_{}", receipt.id, receipt.status),
            created_at: now,
            data: EventData::MessageStatus(StatusChange {
                message_id: receipt.id.clone(),
                to: receipt.to.clone(),
                status: receipt.status,
                provider_sids: receipt.provider_sids.clone(),
                error: receipt.error.as_ref().map(ErrorInfo::from),
            }),
        }
    }

    /// A `call.recording` event for a recording just stored; the id is
    /// `evt_rec_{recording id}` (a redelivered callback is not forwarded twice).
    ///
    /// ```
    /// use telephony_core::voice::CallRecording;
    /// use telephony_serve::api::ForwardedEvent;
    /// let rec = CallRecording::new("RE1", "CA1", time::OffsetDateTime::UNIX_EPOCH).duration_secs(3);
    /// let ev = ForwardedEvent::call_recording(&rec, time::OffsetDateTime::UNIX_EPOCH);
    /// assert_eq!((ev.id.as_str(), ev.kind()), ("evt_rec_RE1", "call.recording"));
    /// let json = serde_json::to_value(&ev).unwrap();
    /// assert_eq!(json["data"]["callId"], "CA1");
    /// assert_eq!(json["data"]["durationSecs"], 3);
    /// ```
    pub fn call_recording(rec: &telephony_core::voice::CallRecording, now: OffsetDateTime) -> Self {
        ForwardedEvent {
            id: format!("evt_rec_{}", rec.recording_id),
            created_at: now,
            data: EventData::CallRecording(super::recordings::Recording::from(rec)),
        }
    }

    /// Reads a stored payload, including one queued by an earlier version (snake_case
    /// `data` for `message.received`, `more_info` in `message.status` errors), so that it
    /// is delivered in today's shape.
    pub fn from_stored(payload: &serde_json::Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(payload)
    }
}

/// A message's `message.received` event as JSON text, exactly as
/// `serde_json::to_string(&ForwardedEvent::message_received(msg, now))` writes it, but from
/// borrowed fields (no copy of the message's strings, media or extras): the forwarder
/// encodes every accepted message's event with it. A test pins the two to the same bytes.
pub(crate) fn message_received_json(
    msg: &domain::InboundMessage,
    id: &str,
    now: OffsetDateTime,
) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Envelope<'a> {
        id: &'a str,
        #[serde(with = "time::serde::rfc3339")]
        created_at: OffsetDateTime,
        #[serde(rename = "type")]
        kind: &'static str,
        data: Message<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Message<'a> {
        id: &'a MessageId,
        provider_sid: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        account_sid: Option<&'a str>,
        channel: domain::Channel,
        from: &'a str,
        to: &'a str,
        body: &'a str,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        media: Vec<Media<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        num_segments: Option<u32>,
        #[serde(with = "time::serde::rfc3339")]
        received_at: OffsetDateTime,
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        extra: &'a std::collections::BTreeMap<String, String>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Media<'a> {
        url: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        content_type: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    }
    serde_json::to_string(&Envelope {
        id,
        created_at: now,
        kind: "message.received",
        data: Message {
            id: &msg.id,
            provider_sid: &msg.provider_sid,
            account_sid: msg.account_sid.as_deref(),
            channel: msg.channel,
            from: &msg.from,
            to: &msg.to,
            body: &msg.body,
            media: msg
                .media
                .iter()
                .map(|m| Media {
                    url: &m.url,
                    content_type: m.content_type.as_deref(),
                    size: m.size,
                })
                .collect(),
            num_segments: msg.num_segments,
            received_at: msg.received_at,
            extra: &msg.extra,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_borrowed_received_event_is_the_owned_one_byte_for_byte() {
        let now = OffsetDateTime::from_unix_timestamp_nanos(1_767_323_045_123_456_789).unwrap();
        let mut full = domain::InboundMessage {
            id: MessageId::from_string("msg_1"),
            provider_sid: "SM1".into(),
            account_sid: Some("AC1".into()),
            channel: domain::Channel::Whatsapp,
            from: "whatsapp:+15557654321".into(),
            to: "whatsapp:+15550001234".into(),
            body: "say \"hi\" \u{1F600}\n".into(),
            media: vec![
                domain::Media {
                    url: "https://x/1".into(),
                    content_type: Some("image/png".into()),
                    size: Some(7),
                },
                domain::Media {
                    url: "https://x/2".into(),
                    content_type: None,
                    size: None,
                },
            ],
            num_segments: Some(2),
            received_at: now,
            extra: [("FromCity".to_string(), "Springfield".to_string())].into(),
        };
        let owned = |m: &domain::InboundMessage| {
            serde_json::to_string(&ForwardedEvent::message_received(m, now)).unwrap()
        };
        assert_eq!(
            message_received_json(&full, "evt_msg_1", now).unwrap(),
            owned(&full)
        );
        // And with every optional part absent.
        full.account_sid = None;
        full.media.clear();
        full.num_segments = None;
        full.extra.clear();
        full.channel = domain::Channel::Sms;
        assert_eq!(
            message_received_json(&full, "evt_msg_1", now).unwrap(),
            owned(&full)
        );
    }

    #[test]
    fn events_queued_by_the_previous_version_are_delivered_in_camel_case() {
        // Exactly what 0.1 stored in forwards.payload_json.
        let old_received = json!({
            "id": "evt_msg_1", "type": "message.received", "createdAt": "2026-01-02T03:04:05Z",
            "data": {
                "id": "msg_1", "provider_sid": "SM1", "account_sid": "AC1", "channel": "sms",
                "from": "+15557654321", "to": "+15550001234", "body": "hi",
                "media": [{"url": "https://x/1", "content_type": "image/png"}],
                "num_segments": 1, "received_at": "2026-01-02T03:04:05Z",
                "extra": {"FromCity": "Springfield"}
            }
        });
        let ev = ForwardedEvent::from_stored(&old_received).unwrap();
        assert_eq!(
            serde_json::to_value(&ev).unwrap(),
            json!({
                "id": "evt_msg_1", "type": "message.received", "createdAt": "2026-01-02T03:04:05Z",
                "data": {
                    "id": "msg_1", "providerSid": "SM1", "accountSid": "AC1", "channel": "sms",
                    "from": "+15557654321", "to": "+15550001234", "body": "hi",
                    "media": [{"url": "https://x/1", "contentType": "image/png"}],
                    "numSegments": 1, "receivedAt": "2026-01-02T03:04:05Z",
                    "extra": {"FromCity": "Springfield"}
                }
            })
        );

        let old_status = json!({
            "id": "evt_msg_2_failed", "type": "message.status", "createdAt": "2026-01-02T03:04:06Z",
            "data": {
                "messageId": "msg_2", "to": "+15557654321", "status": "failed",
                "providerSids": ["SM2"],
                "error": {"code": 21610, "message": "unsubscribed", "more_info": "https://www.twilio.com/docs/errors/21610"}
            }
        });
        let ev = ForwardedEvent::from_stored(&old_status).unwrap();
        assert_eq!(ev.kind(), "message.status");
        assert_eq!(
            serde_json::to_value(&ev).unwrap()["data"]["error"],
            json!({"code": 21610, "message": "unsubscribed", "moreInfo": "https://www.twilio.com/docs/errors/21610"})
        );
        // An old status event without an error had `"error": null`.
        let mut no_error = old_status.clone();
        no_error["data"]["error"] = serde_json::Value::Null;
        let ev = ForwardedEvent::from_stored(&no_error).unwrap();
        assert_eq!(
            serde_json::to_value(&ev).unwrap()["data"],
            json!({"messageId": "msg_2", "to": "+15557654321", "status": "failed", "providerSids": ["SM2"]})
        );
    }
}
