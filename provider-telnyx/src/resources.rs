//! Telnyx Messaging API v2 JSON shapes: the message resource (send answers and webhook
//! payloads) and the error body.
//!
//! Every field Telnyx may leave out or null is optional, and unknown fields are ignored,
//! so a new field on Telnyx's side never breaks decoding.

use serde::{Deserialize, Serialize};

/// `{"data": <message>}`: the answer to `POST /v2/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageResponse {
    /// The message.
    pub data: MessageResource,
}

/// A Telnyx message (`record_type: "message"`), outbound or inbound.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageResource {
    /// The message id (a UUID).
    #[serde(default)]
    pub id: String,
    /// `"message"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// `"outbound"` or `"inbound"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// `"SMS"` or `"MMS"`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// The sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Endpoint>,
    /// The recipients, each with its own status.
    #[serde(default)]
    pub to: Vec<Endpoint>,
    /// The text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaItem>,
    /// Message parts (segments) Telnyx counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    /// `"GSM-7"`, `"UCS-2"`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The messaging profile it went through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_profile_id: Option<String>,
    /// Where this message's webhooks go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Why it failed (delivery errors on `message.finalized`).
    #[serde(default)]
    pub errors: Vec<ErrorObject>,
    /// When Telnyx received it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    /// When it was sent (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// When it reached a final status (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// A phone number with what Telnyx knows about it; on `to[]` also the per-recipient status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// E.164 number, short code or alphanumeric sender.
    #[serde(default)]
    pub phone_number: String,
    /// Per-recipient status (`queued`, `sent`, `delivered`, `delivery_failed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The carrier's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// `"Wireless"`, `"Wireline"`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_type: Option<String>,
}

/// An attachment of an inbound MMS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    /// Where Telnyx serves it.
    #[serde(default)]
    pub url: String,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of the content, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_sha256: Option<String>,
}

/// `{"errors": [...]}`: a Telnyx error answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The errors, most relevant first.
    #[serde(default)]
    pub errors: Vec<ErrorObject>,
}

/// One Telnyx error: `{"code":"10004","title":"…","detail":"…","source":{"pointer":"/to"}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The code; Telnyx sends a string of digits (`"10004"`), numbers are accepted too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<serde_json::Value>,
    /// Short title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Longer explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Which part of the request it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
    /// Extra data (often a docs `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<serde_json::Value>,
}

impl ErrorObject {
    /// The code as a number (`"10004"` → 10004), when it is one.
    pub fn code_number(&self) -> Option<i64> {
        match self.code.as_ref()? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// `"{title}: {detail}"`, or whichever of the two is present and non-empty.
    pub fn message(&self) -> Option<String> {
        let title = self
            .title
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let detail = self
            .detail
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match (title, detail) {
            (Some(t), Some(d)) => Some(format!("{t}: {d}")),
            (Some(s), None) | (None, Some(s)) => Some(s.to_string()),
            (None, None) => None,
        }
    }
}

/// Where in the request an error points (`{"pointer": "/text"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSource {
    /// A JSON pointer into the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The query parameter at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// Telnyx's documentation page for an error code.
///
/// ```
/// assert_eq!(telephony_telnyx::resources::error_docs_url(40300),
///     "https://developers.telnyx.com/api/errors/40300");
/// ```
pub fn error_docs_url(code: i64) -> String {
    format!("https://developers.telnyx.com/api/errors/{code}")
}

/// `{"data": …}`: the envelope of every single-resource answer of API v2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data<T> {
    /// The resource.
    pub data: T,
}

/// `{"data": [ … ]}`: a list answer (pagination `meta` is ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataList<T> {
    /// The resources on this page.
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// A number of the account (`record_type: "phone_number"`), as `GET /v2/phone_numbers`
/// lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumberResource {
    /// Telnyx's id for the number.
    #[serde(default)]
    pub id: String,
    /// `"phone_number"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// E.164.
    #[serde(default)]
    pub phone_number: String,
    /// `active`, `purchase_pending`, `port_pending`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The voice connection or Call Control Application its calls go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// The messaging profile its messages go through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_profile_id: Option<String>,
}

/// A number's messaging settings: `GET /v2/phone_numbers/{id}/messaging`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingSettings {
    /// The number's id.
    #[serde(default)]
    pub id: String,
    /// E.164.
    #[serde(default)]
    pub phone_number: String,
    /// The messaging profile its messages go through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_profile_id: Option<String>,
    /// What it can do; a feature that is `null` is not available.
    #[serde(default)]
    pub features: MessagingFeatures,
}

/// `features` of [`MessagingSettings`]: each is an object when available, `null` when not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingFeatures {
    /// SMS (`{"domestic_two_way": true, …}`), `None` when the number cannot do SMS.
    #[serde(default)]
    pub sms: Option<serde_json::Value>,
    /// MMS, `None` when the number cannot do MMS.
    #[serde(default)]
    pub mms: Option<serde_json::Value>,
}

/// A messaging profile (`record_type: "messaging_profile"`): where inbound messages and
/// delivery events of its numbers go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingProfileResource {
    /// The profile id (a UUID).
    #[serde(default)]
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where Telnyx posts inbound messages and delivery events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Where they go when `webhook_url` fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_failover_url: Option<String>,
    /// `"1"`, `"2"` or `"2010-04-01"`: the webhook format; the gateway parses `"2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_api_version: Option<String>,
    /// Whether the profile is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The body of `PATCH /v2/messaging_profiles/{id}`: only the settings being changed.
///
/// ```
/// use telephony_telnyx::resources::UpdateMessagingProfile;
/// let only_url = UpdateMessagingProfile {
///     webhook_url: Some("https://gw.example.com/telephony/webhook".into()),
///     ..Default::default()
/// };
/// assert_eq!(
///     serde_json::to_string(&only_url)?,
///     r#"{"webhook_url":"https://gw.example.com/telephony/webhook"}"#
/// );
/// assert!(UpdateMessagingProfile::default().is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateMessagingProfile {
    /// New `webhook_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// New `webhook_api_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_api_version: Option<String>,
}

impl UpdateMessagingProfile {
    /// True when nothing is to change.
    pub fn is_empty(&self) -> bool {
        self.webhook_url.is_none() && self.webhook_api_version.is_none()
    }
}
