//! JSON shapes of Twilio REST resources (`api.v2010.account.message`) and error bodies,
//! shared by the client (decoding) and the simulator (encoding).

use std::collections::BTreeMap;

/// A Message resource as Twilio returns it (`api.v2010.account.message`).
///
/// Numbers that Twilio sends as strings (`num_segments`, `num_media`) stay strings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageResource {
    /// `SM…` or `MM…`.
    pub sid: String,
    /// `AC…`.
    pub account_sid: Option<String>,
    /// Always `2010-04-01`.
    pub api_version: Option<String>,
    /// Text.
    pub body: Option<String>,
    /// RFC 2822 date.
    pub date_created: Option<String>,
    /// RFC 2822 date.
    pub date_sent: Option<String>,
    /// RFC 2822 date.
    pub date_updated: Option<String>,
    /// `inbound`, `outbound-api`, `outbound-call`, `outbound-reply`.
    pub direction: Option<String>,
    /// Error code, for failed messages.
    pub error_code: Option<i64>,
    /// Error message, for failed messages.
    pub error_message: Option<String>,
    /// Sender (null for a Messaging Service send before a sender is chosen).
    pub from: Option<String>,
    /// `MG…`, when sent through a Messaging Service.
    pub messaging_service_sid: Option<String>,
    /// Media count, as a string.
    pub num_media: Option<String>,
    /// Segment count, as a string.
    pub num_segments: Option<String>,
    /// Price, a decimal string.
    pub price: Option<String>,
    /// Currency of `price`.
    pub price_unit: Option<String>,
    /// `message_enum_status`.
    pub status: Option<String>,
    /// Sub-resource URIs (`media`, `feedback`).
    pub subresource_uris: Option<BTreeMap<String, String>>,
    /// Recipient.
    pub to: Option<String>,
    /// This resource's URI.
    pub uri: Option<String>,
}

/// A page of Message resources (`GET …/Messages.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessagePage {
    /// The messages on this page, newest first.
    pub messages: Vec<MessageResource>,
    /// Page index.
    pub page: u32,
    /// Page size.
    pub page_size: u32,
    /// URI of this page.
    pub uri: String,
    /// URI of the first page.
    pub first_page_uri: String,
    /// URI of the next page, if any.
    pub next_page_uri: Option<String>,
    /// URI of the previous page, if any.
    pub previous_page_uri: Option<String>,
    /// Index of the first item.
    pub start: u32,
    /// Index of the last item.
    pub end: u32,
}

/// Twilio's error body: `{"code":21211,"message":"…","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Twilio error code.
    pub code: Option<i64>,
    /// Human-readable message.
    pub message: String,
    /// Documentation URL.
    pub more_info: Option<String>,
    /// HTTP status.
    pub status: u16,
}
