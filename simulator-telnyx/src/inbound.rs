//! Fake inbound messages: the `message.received` webhook Telnyx would send a gateway.

use bytes::Bytes;
use telephony_telnyx::resources::{Endpoint, MediaItem, MessageResource};
use telephony_telnyx::webhook::MESSAGE_RECEIVED;
use time::OffsetDateTime;

use crate::dates::rfc3339;
use crate::events;
use crate::ids::new_uuid;
use crate::simulator::Simulator;
use crate::webhooks::{SignedWebhook, WebhookRecord};

/// An inbound SMS/MMS as Telnyx would deliver it in a `message.received` webhook.
///
/// ```
/// use telephony_core::{Provider, SignatureCheck, WebhookEvent};
/// use telephony_telnyx_simulator::{InboundSms, Simulator, SimulatorConfig};
/// use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
///
/// let sim = Simulator::new(SimulatorConfig::generate());
/// let sms = InboundSms::new("+15550005678", "+15550001234", "hi")
///     .with_media("https://media.example/cat.jpg", "image/jpeg", 1024);
/// let signed = sim.signed_inbound(&sms, "https://gw.example.com/telephony/webhook");
///
/// let gateway = TelnyxProvider::new(
///     TelnyxConfig::new("KEY1").public_key(sim.public_key_base64()).from_number("+15550001234".parse()?),
/// )?;
/// let WebhookEvent::Message(m) = gateway.handle_webhook(&signed.request(), SignatureCheck::Verify)? else { panic!() };
/// assert_eq!((m.provider_sid.as_str(), m.body.as_str()), (sms.message_id.as_str(), "hi"));
/// assert_eq!(m.media[0].size, Some(1024));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The sender.
    pub from: String,
    /// Our number it was sent to.
    pub to: String,
    /// The text.
    pub text: String,
    /// The Telnyx message id (`payload.id`), a fresh UUID from [`InboundSms::new`].
    pub message_id: String,
    /// Attachments (`media[]`); with any, the message type is `MMS`.
    pub media: Vec<MediaItem>,
}

impl InboundSms {
    /// A text message with a fresh message id and no media.
    pub fn new(from: impl Into<String>, to: impl Into<String>, text: impl Into<String>) -> Self {
        InboundSms {
            from: from.into(),
            to: to.into(),
            text: text.into(),
            message_id: new_uuid(),
            media: Vec::new(),
        }
    }

    /// Adds an attachment.
    pub fn with_media(
        mut self,
        url: impl Into<String>,
        content_type: impl Into<String>,
        size: u64,
    ) -> Self {
        self.media.push(MediaItem {
            url: url.into(),
            content_type: Some(content_type.into()),
            size: Some(size),
            hash_sha256: None,
        });
        self
    }

    /// The `payload` of the event: an inbound message resource.
    pub fn payload(&self, messaging_profile_id: &str, at: OffsetDateTime) -> MessageResource {
        let parts = telephony_core::sms::analyze(&self.text);
        MessageResource {
            id: self.message_id.clone(),
            record_type: Some("message".into()),
            direction: Some("inbound".into()),
            message_type: Some(if self.media.is_empty() { "SMS" } else { "MMS" }.into()),
            from: Some(Endpoint {
                phone_number: self.from.clone(),
                carrier: Some("T-Mobile USA".into()),
                line_type: Some("Wireless".into()),
                status: None,
            }),
            to: vec![Endpoint {
                phone_number: self.to.clone(),
                status: Some("webhook_delivered".into()),
                carrier: Some("Telnyx".into()),
                line_type: Some("Wireless".into()),
            }],
            text: Some(self.text.clone()),
            media: self.media.clone(),
            parts: Some(parts.segments.max(1) as u32),
            encoding: serde_json::to_value(parts.encoding)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string)),
            messaging_profile_id: Some(messaging_profile_id.to_string()),
            received_at: Some(rfc3339(at)),
            ..Default::default()
        }
    }
}

impl Simulator {
    /// The `message.received` webhook for `sms`, signed now for `url`, not sent.
    pub fn signed_inbound(&self, sms: &InboundSms, url: &str) -> SignedWebhook {
        let now = OffsetDateTime::now_utc();
        let body = self.inbound_body(sms, url, now);
        self.sign(url, body, now.unix_timestamp())
    }

    /// POSTs the signed `message.received` webhook for `sms` to `url` (no retry) and
    /// returns the attempt, also kept in [`webhooks`](Self::webhooks).
    pub async fn post_inbound(&self, sms: &InboundSms, url: &str) -> WebhookRecord {
        let body = self.inbound_body(sms, url, OffsetDateTime::now_utc());
        self.deliver(
            MESSAGE_RECEIVED,
            &sms.message_id,
            "webhook_delivered",
            url,
            body,
        )
        .await
    }

    fn inbound_body(&self, sms: &InboundSms, url: &str, at: OffsetDateTime) -> Bytes {
        let payload = sms.payload(&self.config().messaging_profile_id, at);
        events::envelope(MESSAGE_RECEIVED, &payload, url, at)
    }
}
