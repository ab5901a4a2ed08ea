//! The wire format of the admin API and of forwarded events: one JSON casing (camelCase),
//! one set of typed structs that the admin routes serialize and the `telephony` CLI
//! deserializes.
//!
//! | module | types | used by |
//! |---|---|---|
//! | [`messages`] | [`InboundMessage`], [`Media`], [`InboxEntry`], [`InboxList`] | `GET /telephony/inbox`, `message.received` events |
//! | [`dead_letters`] | [`FailedMessage`], [`FailedList`], [`RetryResponse`] | `GET /telephony/inbox/failed`, `POST /telephony/inbox/{id}/retry` |
//! | [`receipts`] | [`SendRequest`], [`SendResponse`], [`Receipt`], [`StatusEvent`], [`ErrorInfo`], [`ReceiptList`] | `POST /telephony/send`, `GET /telephony/messages/{id}`, `GET /telephony/log`, `GET /telephony/contacts/held` |
//! | [`status`] | [`GatewayStatus`], [`ForwardingStatus`], [`StoreStatus`] | `GET /telephony/status` |
//! | [`calls`] | [`CallRequest`], [`Call`], [`CallStatusChange`], [`CallTurn`], [`CallList`], [`VoiceStatus`] | `POST /telephony/calls`, `GET /telephony/calls[/{id}]`, `POST …/hangup`, voice in `GET /telephony/status` |
//! | [`pairing`] | [`PairingRequest`], [`PairingList`], [`PairingDecision`] | `GET /telephony/pairing`, `POST …/approve`, `POST …/reject` |
//! | [`contacts`] | [`ContactApproval`] | `POST /telephony/contacts/{number}/approve` |
//! | [`erasure`] | [`ForgetReport`] | `DELETE /telephony/numbers/{number}`, `telephony forget --json` |
//! | [`error`] | [`AdminError`], [`ErrorCode`], [`ErrorResponse`] | every admin error: `{"error":{"code":"not_found","message":"…"}}` |
//! | [`events`] | [`ForwardedEvent`], [`EventData`], [`StatusChange`] | the body POSTed to `forward.url` |
//!
//! The core types ([`telephony_core::Receipt`], …) keep their serde shape, which is the
//! storage format (JSON columns in SQLite); these structs are the API format, built from
//! them with `From`. So a database written by an older version loads unchanged, and a
//! rename in the domain cannot silently change the wire.
//!
//! **Names.** Ten of these structs are the JSON form of a type with the same name:
//! [`InboundMessage`], [`Media`], [`InboxEntry`], [`Receipt`], [`ErrorInfo`],
//! [`StatusEvent`], [`PairingRequest`], [`Call`], [`CallTurn`] and [`CallStatusChange`]
//! of `telephony-core`. [`PairingDecision`] exists only here: it is what
//! [`Gateway::approve_pairing`](crate::Gateway::approve_pairing) returns. They live only here and are always written with the module in front
//! (`api::Receipt`, never a bare `Receipt` imported from here), so a reader always sees
//! which form a name is: `api::Receipt` is JSON, `Receipt` is the domain. Inside this
//! module the domain types are written `domain::Receipt`.
//!
//! ```
//! use telephony_serve::api::{ErrorCode, ErrorResponse};
//! let body = r#"{"error":{"code":"not_found","message":"no message with id \"msg_x\""}}"#;
//! let e: ErrorResponse = serde_json::from_str(body).unwrap();
//! assert_eq!(e.error.code, ErrorCode::NotFound);
//! ```

pub mod call_control;
pub mod calls;
pub mod contacts;
pub mod dead_letters;
pub mod erasure;
pub mod error;
pub mod events;
pub mod messages;
pub mod pairing;
pub mod receipts;
pub mod recordings;
pub mod status;

pub use call_control::{TransferRequest, UpdateRequest};
pub use calls::{Call, CallList, CallRequest, CallStatusChange, CallTurn, VoiceStatus};
pub use contacts::ContactApproval;
pub use dead_letters::{FailedList, FailedMessage, RetryResponse};
pub use erasure::ForgetReport;
pub use error::{AdminError, ErrorBody, ErrorCode, ErrorResponse};
pub use events::{EventData, ForwardedEvent, MachineDetection, StatusChange};
pub use messages::{InboundMessage, InboxEntry, InboxList, Media};
pub use pairing::{PairingDecision, PairingList, PairingRequest};
pub use receipts::{ErrorInfo, Receipt, ReceiptList, SendRequest, SendResponse, StatusEvent};
pub use recordings::{Recording, RecordingList};
pub use status::{ForwardingStatus, GatewayStatus, Replica, ReplicaHolds, StoreStatus};

#[cfg(test)]
mod tests {
    use serde_json::json;
    use telephony_core as domain;

    /// Rows written by the previous version keep loading: the JSON columns hold the core
    /// types' serde (snake_case), which this version still reads and writes, and the API
    /// renders them camelCase.
    #[test]
    fn rows_stored_by_the_previous_version_load_and_render_camel_case() {
        // receipts.error_json / receipt_history.error_json
        let error: domain::ErrorInfo = serde_json::from_str(
            r#"{"code":21211,"message":"The 'To' number is not valid.","more_info":"https://www.twilio.com/docs/errors/21211"}"#,
        )
        .unwrap();
        assert_eq!(
            error.more_info.as_deref(),
            Some("https://www.twilio.com/docs/errors/21211")
        );
        // inbox.media_json
        let media: Vec<domain::Media> =
            serde_json::from_str(r#"[{"url":"https://x/1","content_type":"image/jpeg","size":7}]"#)
                .unwrap();
        assert_eq!(media[0].content_type.as_deref(), Some("image/jpeg"));
        // orphan_status.update_json
        let update: domain::StatusUpdate = serde_json::from_str(
            r#"{"provider_sid":"SM1","status":"undelivered","error_code":30003,"error_message":"Unreachable","provider_status":"undelivered"}"#,
        )
        .unwrap();
        assert_eq!(
            (update.provider_sid.as_str(), update.error_code),
            ("SM1", Some(30003))
        );
        // outbox.message_json
        let out: domain::OutboundMessage = serde_json::from_str(
            r#"{"to":"+15557654321","body":"hi","media_urls":["https://x/2"]}"#,
        )
        .unwrap();
        assert_eq!(out.media_urls, ["https://x/2"]);

        // A whole receipt and inbound message as the previous version serialized them.
        let receipt: domain::Receipt = serde_json::from_value(json!({
            "id": "msg_1", "to": "+15557654321", "body": "hi", "status": "failed",
            "provider_sids": ["SM1"], "price_unit": "USD", "price": "-0.0079",
            "error": {"code": 21211, "message": "bad", "more_info": "https://e/21211"},
            "attempts": 1,
            "history": [
                {"status": "pending", "at": "2026-01-02T03:04:05Z"},
                {"status": "failed", "at": "2026-01-02T03:04:06Z", "provider_sid": "SM1",
                 "error": {"code": 21211, "message": "bad"}, "provider_status": "failed"}
            ],
            "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:06Z"
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(super::Receipt::from(&receipt)).unwrap(),
            json!({
                "id": "msg_1", "to": "+15557654321", "body": "hi", "status": "failed",
                "providerSids": ["SM1"], "price": "-0.0079", "priceUnit": "USD",
                "error": {"code": 21211, "message": "bad", "moreInfo": "https://e/21211"},
                "attempts": 1,
                "history": [
                    {"status": "pending", "at": "2026-01-02T03:04:05Z"},
                    {"status": "failed", "at": "2026-01-02T03:04:06Z", "providerSid": "SM1",
                     "error": {"code": 21211, "message": "bad"}, "providerStatus": "failed"}
                ],
                "createdAt": "2026-01-02T03:04:05Z", "updatedAt": "2026-01-02T03:04:06Z"
            })
        );
        let entry: domain::InboxEntry = serde_json::from_value(json!({
            "id": "msg_2", "provider_sid": "SM2", "channel": "whatsapp",
            "from": "whatsapp:+15557654321", "to": "whatsapp:+15550001234", "body": "yo",
            "media": [{"url": "https://x/1", "content_type": "image/jpeg"}],
            "num_segments": 1, "received_at": "2026-01-02T03:04:05Z",
            "extra": {"ProfileName": "Ann"}, "state": "pending_pairing", "note": "pairing code sent"
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(super::InboxEntry::from(&entry)).unwrap(),
            json!({
                "id": "msg_2", "providerSid": "SM2", "channel": "whatsapp",
                "from": "whatsapp:+15557654321", "to": "whatsapp:+15550001234", "body": "yo",
                "media": [{"url": "https://x/1", "contentType": "image/jpeg"}],
                "numSegments": 1, "receivedAt": "2026-01-02T03:04:05Z",
                "extra": {"ProfileName": "Ann"}, "state": "pending_pairing", "note": "pairing code sent"
            })
        );
    }
}
