//! Outbound messages: the send request and answer, receipts with their status history.

use serde::{Deserialize, Serialize};
use telephony_core as domain;
use telephony_core::{Address, DeliveryStatus, MessageId};
use time::OffsetDateTime;

/// `POST /telephony/send` body: `{"to":"+1555…","body":"…","mediaUrl":["https://…"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendRequest {
    /// Recipient: `+1555…`, `sms:+1…`, `whatsapp:+1…`; when absent, the gateway's
    /// `defaultTo` (an error when none is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Text (may be empty when there is media).
    #[serde(default)]
    pub body: String,
    /// Media URLs to attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_url: Vec<String>,
}

/// `POST /telephony/send` answer (202): one receipt per SMS (long texts are chunked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    /// The receipts, in sending order.
    pub receipts: Vec<Receipt>,
    /// True when the sends wait for contact approval.
    pub held: bool,
}

/// `GET /telephony/log` and `GET /telephony/contacts/held`: `{"receipts":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptList {
    /// The receipts.
    pub receipts: Vec<Receipt>,
}

/// A provider error on a receipt: Twilio's `code`, `message` and `moreInfo`.
///
/// The alias accepts `more_info`, as events queued by earlier versions carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    /// Provider error code (e.g. 21211).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Human-readable reason.
    pub message: String,
    /// Link to the provider's documentation for the code.
    #[serde(default, alias = "more_info", skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        domain::ErrorInfo::from(self).fmt(f)
    }
}

/// One step of a receipt's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    /// The status reached.
    pub status: DeliveryStatus,
    /// When the gateway recorded it (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Provider message id it concerns, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_sid: Option<String>,
    /// Error attached to this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The status as the provider named it, when that differs from `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
}

/// Everything the gateway knows about one outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The gateway's id (`msg_…`).
    pub id: MessageId,
    /// Recipient.
    pub to: Address,
    /// Text as sent.
    pub body: String,
    /// Media URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
    /// Current status (never moves backwards).
    pub status: DeliveryStatus,
    /// Provider message ids.
    #[serde(default)]
    pub provider_sids: Vec<String>,
    /// Sender the provider used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Segments, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    /// Price, when known (a decimal string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Currency of `price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_unit: Option<String>,
    /// The last error, for failed messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Send attempts made so far.
    pub attempts: u32,
    /// Every status reached, oldest first.
    pub history: Vec<StatusEvent>,
    /// When the gateway accepted it (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&domain::ErrorInfo> for ErrorInfo {
    fn from(e: &domain::ErrorInfo) -> Self {
        ErrorInfo {
            code: e.code,
            message: e.message.clone(),
            more_info: e.more_info.clone(),
        }
    }
}

impl From<&ErrorInfo> for domain::ErrorInfo {
    fn from(e: &ErrorInfo) -> Self {
        domain::ErrorInfo {
            code: e.code,
            message: e.message.clone(),
            more_info: e.more_info.clone(),
        }
    }
}

impl From<&domain::StatusEvent> for StatusEvent {
    fn from(e: &domain::StatusEvent) -> Self {
        StatusEvent {
            status: e.status,
            at: e.at,
            provider_sid: e.provider_sid.clone(),
            error: e.error.as_ref().map(ErrorInfo::from),
            provider_status: e.provider_status.clone(),
        }
    }
}

impl From<&domain::Receipt> for Receipt {
    fn from(r: &domain::Receipt) -> Self {
        Receipt {
            id: r.id.clone(),
            to: r.to.clone(),
            body: r.body.clone(),
            media_urls: r.media_urls.clone(),
            status: r.status,
            provider_sids: r.provider_sids.clone(),
            from: r.from.clone(),
            segments: r.segments,
            price: r.price.clone(),
            price_unit: r.price_unit.clone(),
            error: r.error.as_ref().map(ErrorInfo::from),
            attempts: r.attempts,
            history: r.history.iter().map(StatusEvent::from).collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<&[domain::Receipt]> for ReceiptList {
    fn from(receipts: &[domain::Receipt]) -> Self {
        ReceiptList {
            receipts: receipts.iter().map(Receipt::from).collect(),
        }
    }
}
