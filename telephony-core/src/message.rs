//! Inbound and outbound messages, receipts, and status updates.

use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;

use crate::address::{Address, Channel};
use crate::status::DeliveryStatus;

/// The gateway's own identifier for a message (inbound or outbound), e.g. `msg_018f3a…`.
///
/// Ids sort by creation time.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// A new, unique, time-ordered id.
    pub fn generate() -> Self {
        use rand::Rng;
        let ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
        let r: u64 = rand::thread_rng().r#gen();
        MessageId(format!("msg_{ms:012x}{r:016x}"))
    }

    /// When [`generate`](Self::generate) made this id (to the millisecond), or `None` for
    /// an id it did not make.
    ///
    /// ```
    /// use telephony_core::MessageId;
    ///
    /// let id = MessageId::from_string("msg_019b0a1f2c3d0123456789abcdef");
    /// assert_eq!(id.generated_at().unwrap().unix_timestamp_nanos(), 0x019b0a1f2c3d * 1_000_000);
    /// assert_eq!(MessageId::from_string("SM123").generated_at(), None);
    /// ```
    pub fn generated_at(&self) -> Option<OffsetDateTime> {
        let hex = self.0.strip_prefix("msg_")?.get(..12)?;
        let ms = u64::from_str_radix(hex, 16).ok()?;
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    }

    /// Wraps an existing id string.
    pub fn from_string(s: impl Into<String>) -> Self {
        MessageId(s.into())
    }

    /// The id string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A media attachment (MMS, WhatsApp).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Media {
    /// Where the provider serves it (may need provider credentials to fetch).
    pub url: String,
    /// MIME type, when the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Size in bytes, when the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A message someone sent to one of our numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InboundMessage {
    /// The gateway's id.
    pub id: MessageId,
    /// The provider's id (Twilio `MessageSid`); unique, used to recognize duplicate deliveries.
    pub provider_sid: String,
    /// The provider account it arrived on (Twilio `AccountSid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// The channel it arrived on.
    pub channel: Channel,
    /// Sender as the provider gave it (`+1555…`, `whatsapp:+1555…`, a short code…).
    pub from: String,
    /// Our number it was sent to.
    pub to: String,
    /// The text.
    pub body: String,
    /// Attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Media>,
    /// SMS segments the provider counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_segments: Option<u32>,
    /// When the gateway received it.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Every other parameter the provider sent (geo fields, WhatsApp profile, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl InboundMessage {
    /// The sender as an [`Address`], when it is a phone number.
    pub fn from_address(&self) -> Option<Address> {
        Address::parse(&self.from).ok()
    }
}

/// A message to send.
///
/// ```
/// use telephony_core::OutboundMessage;
/// let m = OutboundMessage::new("+15550005678".parse()?, "Hello from the gateway")
///     .with_media("https://example.com/cat.jpg");
/// assert_eq!(m.media_urls.len(), 1);
/// # Ok::<(), telephony_core::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboundMessage {
    /// Recipient.
    pub to: Address,
    /// Text (may be empty when media is present).
    pub body: String,
    /// Media URLs (MMS/WhatsApp), at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
}

impl OutboundMessage {
    /// A text message.
    pub fn new(to: Address, body: impl Into<String>) -> Self {
        OutboundMessage {
            to,
            body: body.into(),
            media_urls: Vec::new(),
        }
    }

    /// Adds a media URL.
    pub fn with_media(mut self, url: impl Into<String>) -> Self {
        self.media_urls.push(url.into());
        self
    }
}

/// What the provider returned when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProviderReceipt {
    /// Provider's message id (Twilio `SM…`/`MM…`).
    pub sid: String,
    /// Status at acceptance (`queued`, `accepted`, …).
    pub status: DeliveryStatus,
    /// The sender the provider used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Segments the provider counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_segments: Option<u32>,
    /// Price as the provider reported it (a decimal string, often negative), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Currency of `price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_unit: Option<String>,
}

/// A provider error recorded on a receipt (Twilio's `code`, `message`, `more_info`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorInfo {
    /// Provider error code (e.g. 21211), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Human-readable reason.
    pub message: String,
    /// Link to the provider's documentation for the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(c) => write!(f, "error {c}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(m) = &self.more_info {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

/// A status callback from the provider about a message we sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusUpdate {
    /// Provider's message id.
    pub provider_sid: String,
    /// The new status.
    pub status: DeliveryStatus,
    /// Provider error code (Twilio `ErrorCode`), for failed/undelivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// Provider error message, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The provider account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// Link to the provider's documentation for `error_code`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
    /// The status exactly as the provider named it (`delivery_unconfirmed`,
    /// `sending_failed`, …) when [`status`](Self::status) maps it to a neutral name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
}

impl StatusUpdate {
    /// An update to `status` for the provider's message `provider_sid`, with nothing else
    /// known; set the other fields as the provider reports them.
    ///
    /// ```
    /// use telephony_core::{DeliveryStatus, StatusUpdate};
    /// let u = StatusUpdate::new("SM1", DeliveryStatus::Delivered);
    /// assert_eq!((u.provider_sid.as_str(), u.error_code), ("SM1", None));
    /// ```
    pub fn new(provider_sid: impl Into<String>, status: DeliveryStatus) -> Self {
        StatusUpdate {
            provider_sid: provider_sid.into(),
            status,
            error_code: None,
            error_message: None,
            account_sid: None,
            more_info: None,
            provider_status: None,
        }
    }
}

/// One entry of a receipt's status history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusEvent {
    /// The status reached.
    pub status: DeliveryStatus,
    /// When the gateway recorded it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Provider message id it concerns, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_sid: Option<String>,
    /// Error attached to this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The status as the provider named it, when that differs from [`status`](Self::status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
}

/// Everything the gateway knows about one outbound message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// The gateway's id.
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
    /// Provider message ids (one per message the provider created).
    #[serde(default)]
    pub provider_sids: Vec<String>,
    /// Sender the provider used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Segments, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    /// Price, when known.
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
    /// When the gateway accepted it.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Receipt {
    /// A fresh receipt in `pending` for a message the gateway just accepted.
    pub fn new_pending(id: MessageId, msg: &OutboundMessage, now: OffsetDateTime) -> Self {
        Receipt {
            id,
            to: msg.to.clone(),
            body: msg.body.clone(),
            media_urls: msg.media_urls.clone(),
            status: DeliveryStatus::Pending,
            provider_sids: Vec::new(),
            from: None,
            segments: None,
            price: None,
            price_unit: None,
            error: None,
            attempts: 0,
            history: vec![StatusEvent {
                status: DeliveryStatus::Pending,
                at: now,
                provider_sid: None,
                error: None,
                provider_status: None,
            }],
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a status update if it moves the receipt forward; returns whether it did.
    pub fn apply_status(&mut self, update: &StatusUpdate, now: OffsetDateTime) -> bool {
        if !self.status.can_advance_to(update.status) {
            return false;
        }
        let error = update.error_code.map(|code| ErrorInfo {
            code: Some(code),
            message: update
                .error_message
                .clone()
                .unwrap_or_else(|| format!("{} reported by provider", update.status)),
            more_info: update.more_info.clone(),
        });
        if error.is_some() {
            self.error = error.clone();
        }
        self.status = update.status;
        self.updated_at = now;
        self.history.push(StatusEvent {
            status: update.status,
            at: now,
            provider_sid: Some(update.provider_sid.clone()),
            error,
            provider_status: update.provider_status.clone(),
        });
        true
    }

    /// Records the provider's acceptance of a send.
    pub fn apply_sent(&mut self, r: &ProviderReceipt, now: OffsetDateTime) {
        if !self.provider_sids.contains(&r.sid) {
            self.provider_sids.push(r.sid.clone());
        }
        if r.from.is_some() {
            self.from = r.from.clone();
        }
        if let Some(n) = r.num_segments {
            self.segments = Some(self.segments.unwrap_or(0) + n);
        }
        if r.price.is_some() {
            self.price = r.price.clone();
            self.price_unit = r.price_unit.clone();
        }
        self.updated_at = now;
        if self.status.can_advance_to(r.status) {
            self.status = r.status;
            self.history.push(StatusEvent {
                status: r.status,
                at: now,
                provider_sid: Some(r.sid.clone()),
                error: None,
                provider_status: None,
            });
        }
    }

    /// Marks the receipt failed with an error (a permanent send failure).
    pub fn apply_failure(&mut self, error: ErrorInfo, now: OffsetDateTime) {
        self.error = Some(error.clone());
        self.updated_at = now;
        if self.status.can_advance_to(DeliveryStatus::Failed) {
            self.status = DeliveryStatus::Failed;
            self.history.push(StatusEvent {
                status: DeliveryStatus::Failed,
                at: now,
                provider_sid: None,
                error: Some(error),
                provider_status: None,
            });
        }
    }
}
