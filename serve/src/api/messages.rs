//! Inbound messages as the admin API lists them and as `message.received` events carry them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use telephony_core as domain;
use telephony_core::{Channel, InboxState, MessageId};
use time::OffsetDateTime;

/// A media attachment.
///
/// The `alias`es accept the snake_case names that events queued by earlier versions carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    /// Where the provider serves it.
    pub url: String,
    /// MIME type, when the provider said.
    #[serde(
        default,
        alias = "content_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    /// Size in bytes, when the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A message someone sent to one of our numbers.
///
/// The `alias`es accept the snake_case names that events queued by earlier versions carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessage {
    /// The gateway's id.
    pub id: MessageId,
    /// The provider's id (Twilio `MessageSid`).
    #[serde(alias = "provider_sid")]
    pub provider_sid: String,
    /// The provider account it arrived on.
    #[serde(
        default,
        alias = "account_sid",
        skip_serializing_if = "Option::is_none"
    )]
    pub account_sid: Option<String>,
    /// The channel it arrived on.
    pub channel: Channel,
    /// Sender as the provider gave it.
    pub from: String,
    /// Our number it was sent to.
    pub to: String,
    /// The text.
    pub body: String,
    /// Attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Media>,
    /// SMS segments the provider counted.
    #[serde(
        default,
        alias = "num_segments",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_segments: Option<u32>,
    /// When the gateway received it (RFC 3339).
    #[serde(alias = "received_at", with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Every other parameter the provider sent, under the provider's own names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// An inbound message with what the gateway did with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxEntry {
    /// The message (its fields appear at the top level).
    #[serde(flatten)]
    pub message: InboundMessage,
    /// `queued`, `accepted`, `pending_pairing`, `blocked`, `dropped`, `failed` or
    /// `throttled`.
    pub state: InboxState,
    /// Why it is in that state, when there is more to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `GET /telephony/inbox`: `{"messages":[…]}`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxList {
    /// The entries.
    pub messages: Vec<InboxEntry>,
}

impl From<&domain::Media> for Media {
    fn from(m: &domain::Media) -> Self {
        Media {
            url: m.url.clone(),
            content_type: m.content_type.clone(),
            size: m.size,
        }
    }
}

impl From<&domain::InboundMessage> for InboundMessage {
    fn from(m: &domain::InboundMessage) -> Self {
        InboundMessage {
            id: m.id.clone(),
            provider_sid: m.provider_sid.clone(),
            account_sid: m.account_sid.clone(),
            channel: m.channel,
            from: m.from.clone(),
            to: m.to.clone(),
            body: m.body.clone(),
            media: m.media.iter().map(Media::from).collect(),
            num_segments: m.num_segments,
            received_at: m.received_at,
            extra: m.extra.clone(),
        }
    }
}

impl From<&domain::InboxEntry> for InboxEntry {
    fn from(e: &domain::InboxEntry) -> Self {
        InboxEntry {
            message: InboundMessage::from(&e.message),
            state: e.state,
            note: e.note.clone(),
        }
    }
}

impl From<&[domain::InboxEntry]> for InboxList {
    fn from(entries: &[domain::InboxEntry]) -> Self {
        InboxList {
            messages: entries.iter().map(InboxEntry::from).collect(),
        }
    }
}
