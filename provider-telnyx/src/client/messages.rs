//! Messages: `POST /v2/messages`, its request and validation, and Telnyx's limits on a
//! message.

use reqwest::header;
use serde::Serialize;
use telephony_core::redact::excerpt;
use telephony_core::{ProviderError, ProviderLimits, retry};
use time::OffsetDateTime;

use super::transport::{EXCERPT_CHARS, PROVIDER, TelnyxClient, api_error, transport};
use crate::resources::{MessageResource, MessageResponse};

/// Media URLs per MMS: "You can include up to 10 media URLs per MMS message"
/// (developers.telnyx.com/docs/messaging/messages/mms-transcoding).
pub const MAX_MEDIA_URLS: usize = 10;

/// Characters of text per message. Telnyx splits long texts "up to a maximum of 10
/// parts", 153 GSM-7 characters each in a multi-part message
/// (developers.telnyx.com/docs/messaging/messages/character-and-rate-limits), so 1530.
/// A text outside GSM-7 is sent as UCS-2 with 67 characters per part (670 in 10 parts);
/// the limit is counted in characters, so such a text between 671 and 1530 characters
/// passes this check and is refused by Telnyx.
pub const MAX_BODY_CHARS: usize = 1530;

/// What one Telnyx message may carry, as
/// [`Provider::limits`](telephony_core::Provider::limits) reports it.
pub const LIMITS: ProviderLimits = ProviderLimits::new(MAX_MEDIA_URLS, MAX_BODY_CHARS);

/// The JSON body of `POST /v2/messages`. Optional values that are `None` or empty are
/// left out.
///
/// ```
/// use telephony_telnyx::CreateMessage;
/// let req = CreateMessage {
///     to: "+15550005678".into(),
///     messaging_profile_id: Some("40017f8e-49bd-4f16-9e3d-ef103f916228".into()),
///     media_urls: vec!["https://example.com/a.jpg".into()],
///     ..Default::default()
/// };
/// assert_eq!(
///     serde_json::to_string(&req)?,
///     r#"{"to":"+15550005678","media_urls":["https://example.com/a.jpg"],"messaging_profile_id":"40017f8e-49bd-4f16-9e3d-ef103f916228"}"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CreateMessage {
    /// `from`: a Telnyx number, short code or alphanumeric sender.
    #[serde(skip_serializing_if = "is_blank")]
    pub from: Option<String>,
    /// `to`: E.164 number or short code.
    pub to: String,
    /// `text`: at most [`MAX_BODY_CHARS`] characters.
    #[serde(skip_serializing_if = "is_blank")]
    pub text: Option<String>,
    /// `media_urls` (MMS): at most [`MAX_MEDIA_URLS`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
    /// `messaging_profile_id`: with no `from`, Telnyx picks a sender from the profile.
    #[serde(skip_serializing_if = "is_blank")]
    pub messaging_profile_id: Option<String>,
    /// `webhook_url`: where Telnyx posts this message's `message.sent`/`message.finalized`.
    #[serde(skip_serializing_if = "is_blank")]
    pub webhook_url: Option<String>,
}

fn is_blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

impl CreateMessage {
    /// Checks what Telnyx would reject, without a network call: an empty `to`, no sender
    /// (`from` or `messaging_profile_id`), neither text nor media, more than
    /// [`MAX_BODY_CHARS`] characters, more than [`MAX_MEDIA_URLS`] media URLs, an empty
    /// media URL. Failures are [`ProviderError::InvalidMessage`].
    pub fn validate(&self) -> Result<(), ProviderError> {
        let invalid = |m: String| Err(ProviderError::InvalidMessage(m));
        if self.to.trim().is_empty() {
            return invalid("the recipient (to) is empty".into());
        }
        if is_blank(&self.from) && is_blank(&self.messaging_profile_id) {
            return invalid("a sender is needed: set from or messaging_profile_id".into());
        }
        LIMITS.check(
            "Telnyx",
            self.text.as_deref().unwrap_or_default(),
            &self.media_urls,
        )
    }
}

impl TelnyxClient {
    /// Sends a message: `POST /v2/messages`, one attempt.
    ///
    /// The request is [validated](CreateMessage::validate) first; nothing goes on the
    /// network if it fails. Any 2xx with a `{"data":{…}}` body is success. A non-2xx
    /// answer is [`ProviderError::Api`] with Telnyx's first error (`"title: detail"`, its
    /// numeric code, `Retry-After`, opted-out for [`OPTED_OUT_CODE`](super::OPTED_OUT_CODE)); a network error or
    /// timeout is [`ProviderError::Transport`].
    pub async fn create_message(
        &self,
        req: &CreateMessage,
    ) -> Result<MessageResource, ProviderError> {
        req.validate()?;
        let url = format!("{}/v2/messages", self.config().api_base_url);
        let response = self
            .http()
            .post(&url)
            .bearer_auth(self.config().api_key.expose())
            .header(header::ACCEPT, "application/json")
            .json(req)
            .send()
            .await
            .map_err(|e| transport(&url, e))?;
        let status = response.status();
        let retry_after = retry::retry_after(response.headers(), OffsetDateTime::now_utc());
        let body = response.bytes().await.map_err(|e| transport(&url, e))?;
        if !status.is_success() {
            let err = api_error(status, &body, retry_after);
            tracing::debug!(
                status = status.as_u16(),
                code = err.code(),
                "Telnyx refused the message"
            );
            return Err(err);
        }
        let message = serde_json::from_slice::<MessageResponse>(&body)
            .map_err(|e| {
                ProviderError::protocol(
                    PROVIDER,
                    format!(
                        "cannot decode the message answer: {e}; body starts with {:?}",
                        excerpt(&body, EXCERPT_CHARS)
                    ),
                )
            })?
            .data;
        if message.id.trim().is_empty() {
            return Err(ProviderError::protocol(
                PROVIDER,
                "the message answer has no data.id",
            ));
        }
        tracing::debug!(id = %message.id, "Telnyx accepted the message");
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_before_network() {
        let ok = CreateMessage {
            from: Some("+15550001234".into()),
            to: "+15550005678".into(),
            text: Some("hi".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let cases = [
            CreateMessage {
                to: " ".into(),
                ..ok.clone()
            },
            CreateMessage {
                from: None,
                ..ok.clone()
            },
            CreateMessage {
                text: Some(String::new()),
                ..ok.clone()
            },
            CreateMessage {
                text: Some("a".repeat(MAX_BODY_CHARS + 1)),
                ..ok.clone()
            },
            CreateMessage {
                media_urls: vec!["https://e/x".into(); MAX_MEDIA_URLS + 1],
                ..ok.clone()
            },
            CreateMessage {
                media_urls: vec![" ".into()],
                ..ok.clone()
            },
        ];
        for c in cases {
            assert!(
                matches!(c.validate(), Err(ProviderError::InvalidMessage(_))),
                "{c:?}"
            );
        }
        let exact = CreateMessage {
            text: Some("a".repeat(MAX_BODY_CHARS)),
            media_urls: vec!["https://e/x".into(); MAX_MEDIA_URLS],
            ..ok
        };
        assert!(exact.validate().is_ok());
    }
}
