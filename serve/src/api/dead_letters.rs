//! Dead-lettered inbound messages: `GET /telephony/inbox/failed` and
//! `POST /telephony/inbox/{id}/retry` (`telephony inbox --failed`, `telephony retry <id>`).

use serde::{Deserialize, Serialize};
use telephony_core as domain;
use telephony_core::{InboxState, MessageId};
use time::OffsetDateTime;

/// A message whose handler failed on every attempt.
///
/// ```
/// use telephony_serve::api::FailedList;
/// let body = r#"{"messages":[{"id":"msg_1","providerSid":"SM1","from":"+15557654321",
///   "to":"+15550001234","body":"hi","receivedAt":"2026-01-02T03:04:05Z","attempts":5,
///   "lastError":"handler error: boom (gave up after 5 attempts)"}]}"#;
/// let list: FailedList = serde_json::from_str(body).unwrap();
/// assert_eq!(list.messages[0].attempts, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedMessage {
    /// The gateway's message id (what `telephony retry` takes).
    pub id: MessageId,
    /// The provider's message id.
    pub provider_sid: String,
    /// Sender.
    pub from: String,
    /// Our number it was sent to.
    pub to: String,
    /// The text.
    pub body: String,
    /// When the gateway received it (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Dispatch attempts made.
    pub attempts: u32,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// `GET /telephony/inbox/failed`: `{"messages":[…]}`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedList {
    /// The dead-lettered messages.
    pub messages: Vec<FailedMessage>,
}

/// `POST /telephony/inbox/{id}/retry`: the message is queued again, attempts reset.
///
/// ```
/// use telephony_serve::api::RetryResponse;
/// let r: RetryResponse = serde_json::from_str(
///     r#"{"id":"msg_1","state":"queued","previousState":"failed"}"#).unwrap();
/// assert_eq!(r.previous_state, telephony_core::InboxState::Failed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryResponse {
    /// The message.
    pub id: MessageId,
    /// Its state now: `queued`.
    pub state: InboxState,
    /// Its state before: `failed`.
    pub previous_state: InboxState,
}

impl From<&domain::store::FailedInbound> for FailedMessage {
    fn from(f: &domain::store::FailedInbound) -> Self {
        FailedMessage {
            id: f.message.id.clone(),
            provider_sid: f.message.provider_sid.clone(),
            from: f.message.from.clone(),
            to: f.message.to.clone(),
            body: f.message.body.clone(),
            received_at: f.message.received_at,
            attempts: f.attempts,
            last_error: f.note.clone(),
        }
    }
}

impl From<&[domain::store::FailedInbound]> for FailedList {
    fn from(failed: &[domain::store::FailedInbound]) -> Self {
        FailedList {
            messages: failed.iter().map(FailedMessage::from).collect(),
        }
    }
}
