//! Messages: `POST`, `GET` one and list `/2010-04-01/Accounts/{AccountSid}/Messages`, the
//! create form and its validation, and Twilio's limits on a message.

use reqwest::{Method, StatusCode};
use telephony_core::ProviderError;

use super::transport::{Attempts, TwilioClient, decode, path_segment};
use crate::resources::{MessagePage, MessageResource};

/// Twilio's limit on `Body` (error 21617).
pub const MAX_BODY_CHARS: usize = 1600;

/// Twilio's limit on `MediaUrl` values per message.
pub const MAX_MEDIA_URLS: usize = 10;

/// What one Twilio message may carry, as [`Provider::limits`](telephony_core::Provider::limits)
/// reports it.
pub const LIMITS: telephony_core::ProviderLimits =
    telephony_core::ProviderLimits::new(MAX_MEDIA_URLS, MAX_BODY_CHARS);

/// The form of `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
///
/// Optional values that are `None` **or empty** are not sent.
///
/// ```
/// use telephony_twilio::client::CreateMessage;
/// let req = CreateMessage {
///     to: "+15550005678".into(),
///     messaging_service_sid: Some("MG00000000000000000000000000000000".into()),
///     media_urls: vec!["https://example.com/a.jpg".into(), "https://example.com/b.jpg".into()],
///     ..Default::default()
/// };
/// assert_eq!(req.to_form(), vec![
///     ("To", "+15550005678".to_string()),
///     ("MessagingServiceSid", "MG00000000000000000000000000000000".to_string()),
///     ("MediaUrl", "https://example.com/a.jpg".to_string()),
///     ("MediaUrl", "https://example.com/b.jpg".to_string()),
/// ]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateMessage {
    /// `To`: E.164 number or channel address (`whatsapp:+1…`).
    pub to: String,
    /// `From`: a Twilio number, short code, alphanumeric sender or `whatsapp:+1…`.
    pub from: Option<String>,
    /// `MessagingServiceSid` (`MG…`): Twilio picks the sender from the service's pool.
    pub messaging_service_sid: Option<String>,
    /// `Body`: at most [`MAX_BODY_CHARS`] characters.
    pub body: Option<String>,
    /// `MediaUrl`, repeated once per URL; at most [`MAX_MEDIA_URLS`].
    pub media_urls: Vec<String>,
    /// `StatusCallback`: where Twilio posts status changes of this message.
    pub status_callback: Option<String>,
}

impl CreateMessage {
    /// The form pairs to send, in a stable order; `MediaUrl` repeats once per URL.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        fn opt(form: &mut Vec<(&'static str, String)>, key: &'static str, value: &Option<String>) {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                form.push((key, v.to_string()));
            }
        }
        let mut form = vec![("To", self.to.clone())];
        opt(&mut form, "From", &self.from);
        opt(
            &mut form,
            "MessagingServiceSid",
            &self.messaging_service_sid,
        );
        opt(&mut form, "Body", &self.body);
        for url in &self.media_urls {
            form.push(("MediaUrl", url.clone()));
        }
        opt(&mut form, "StatusCallback", &self.status_callback);
        form
    }

    /// Checks what Twilio would reject, without a network call.
    ///
    /// `To` must be non-empty; one of `From` / `MessagingServiceSid` is needed; one of a
    /// body or a media URL is needed; the body is at most [`MAX_BODY_CHARS`] characters
    /// (Unicode scalar values; Twilio error 21617); at most [`MAX_MEDIA_URLS`] media URLs.
    /// Failures are [`ProviderError::InvalidMessage`].
    pub fn validate(&self) -> Result<(), ProviderError> {
        let invalid = |m: String| Err(ProviderError::InvalidMessage(m));
        let present = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        if self.to.trim().is_empty() {
            return invalid("the recipient (To) is empty".into());
        }
        if !present(&self.from) && !present(&self.messaging_service_sid) {
            return invalid("a sender is needed: set From or MessagingServiceSid".into());
        }
        let body = self.body.as_deref().unwrap_or_default();
        // Name Twilio's error code too, so the message can be looked up.
        LIMITS
            .check("Twilio", body, &self.media_urls)
            .map_err(|e| match e {
                ProviderError::InvalidMessage(m) if body.chars().count() > MAX_BODY_CHARS => {
                    ProviderError::InvalidMessage(format!("{m} (error 21617)"))
                }
                other => other,
            })
    }
}

impl TwilioClient {
    /// Sends a message: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
    ///
    /// The request is [validated](CreateMessage::validate) first; nothing goes on the
    /// network if it fails. Twilio answers 201 with the Message resource (any 2xx with a
    /// decodable body is accepted). One HTTP attempt, never retried here (see the
    /// [type docs](Self)): the caller owns retries.
    ///
    /// ```no_run
    /// use telephony_twilio::client::CreateMessage;
    /// use telephony_twilio::{TwilioClient, TwilioConfig};
    ///
    /// # async fn run() -> Result<(), telephony_core::ProviderError> {
    /// let client = TwilioClient::new(TwilioConfig::new(
    ///     "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ///     "your_auth_token",
    /// ))?;
    /// let message = client
    ///     .create_message(&CreateMessage {
    ///         to: "+15550005678".into(),
    ///         from: Some("+15550001234".into()),
    ///         body: Some("Hello from the gateway".into()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// println!("{} is {:?}", message.sid, message.status);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_message(
        &self,
        req: &CreateMessage,
    ) -> Result<MessageResource, ProviderError> {
        req.validate()?;
        let path = format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            path_segment(&self.config().account_sid)
        );
        let form = req.to_form();
        let (status, body) = self
            .execute(Method::POST, &path, &[], Some(&form), Attempts::One)
            .await?;
        if status != StatusCode::CREATED {
            tracing::debug!(
                status = status.as_u16(),
                "Twilio answered a message create with a 2xx other than 201"
            );
        }
        let message: MessageResource = decode(&body, "Message")?;
        tracing::debug!(sid = %message.sid, status = ?message.status, "Twilio accepted the message");
        Ok(message)
    }

    /// Fetches one message: `GET …/Messages/{Sid}.json`.
    pub async fn fetch_message(&self, sid: &str) -> Result<MessageResource, ProviderError> {
        if sid.trim().is_empty() {
            return Err(ProviderError::InvalidMessage(
                "the message SID is empty".into(),
            ));
        }
        let path = format!(
            "/2010-04-01/Accounts/{}/Messages/{}.json",
            path_segment(&self.config().account_sid),
            path_segment(sid)
        );
        let (_, body) = self
            .execute(Method::GET, &path, &[], None, Attempts::Configured)
            .await?;
        decode(&body, "Message")
    }

    /// Lists messages, newest first (first page only): `GET …/Messages.json` with the
    /// `To` / `From` filters and `PageSize` (clamped to Twilio's 1..=1000).
    pub async fn list_messages(
        &self,
        to: Option<&str>,
        from: Option<&str>,
        page_size: u32,
    ) -> Result<MessagePage, ProviderError> {
        let path = format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            path_segment(&self.config().account_sid)
        );
        let mut query: Vec<(&'static str, String)> = Vec::new();
        if let Some(to) = to {
            query.push(("To", to.to_string()));
        }
        if let Some(from) = from {
            query.push(("From", from.to_string()));
        }
        query.push(("PageSize", page_size.clamp(1, 1000).to_string()));
        let (_, body) = self
            .execute(Method::GET, &path, &query, None, Attempts::Configured)
            .await?;
        decode(&body, "Message page")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> CreateMessage {
        CreateMessage {
            to: "+15550005678".into(),
            from: Some("+15550001234".into()),
            body: Some("hi".into()),
            ..Default::default()
        }
    }

    fn invalid_reason(req: &CreateMessage) -> String {
        match req.validate() {
            Err(ProviderError::InvalidMessage(m)) => m,
            other => panic!("expected InvalidMessage, got {other:?}"),
        }
    }

    #[test]
    fn validation() {
        assert!(valid().validate().is_ok());
        assert!(
            invalid_reason(&CreateMessage {
                to: " ".into(),
                ..valid()
            })
            .contains("To")
        );
        assert!(
            invalid_reason(&CreateMessage {
                from: None,
                ..valid()
            })
            .contains("sender")
        );
        assert!(
            CreateMessage {
                from: None,
                messaging_service_sid: Some("MG1".into()),
                ..valid()
            }
            .validate()
            .is_ok()
        );
        assert!(
            invalid_reason(&CreateMessage {
                body: Some(String::new()),
                ..valid()
            })
            .contains("neither")
        );
        assert!(
            CreateMessage {
                body: None,
                media_urls: vec!["https://e/x.jpg".into()],
                ..valid()
            }
            .validate()
            .is_ok()
        );
        // 1600 characters (not bytes) is fine; 1601 is not.
        assert!(
            CreateMessage {
                body: Some("é".repeat(1600)),
                ..valid()
            }
            .validate()
            .is_ok()
        );
        let long = invalid_reason(&CreateMessage {
            body: Some("a".repeat(1601)),
            ..valid()
        });
        assert!(long.contains("1601") && long.contains("21617"), "{long}");
        let many = invalid_reason(&CreateMessage {
            media_urls: vec!["https://e/x.jpg".into(); 11],
            ..valid()
        });
        assert!(many.contains("11"), "{many}");
        assert!(
            CreateMessage {
                media_urls: vec!["https://e/x.jpg".into(); 10],
                ..valid()
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn form_order_and_omissions() {
        let req = CreateMessage {
            to: "whatsapp:+15550005678".into(),
            from: Some("whatsapp:+15550001234".into()),
            messaging_service_sid: Some(String::new()),
            body: Some("hi".into()),
            media_urls: vec!["https://e/1".into(), "https://e/2".into()],
            status_callback: Some("https://gw.example/telephony/status".into()),
        };
        assert_eq!(
            req.to_form(),
            vec![
                ("To", "whatsapp:+15550005678".to_string()),
                ("From", "whatsapp:+15550001234".to_string()),
                ("Body", "hi".to_string()),
                ("MediaUrl", "https://e/1".to_string()),
                ("MediaUrl", "https://e/2".to_string()),
                (
                    "StatusCallback",
                    "https://gw.example/telephony/status".to_string()
                ),
            ]
        );
    }
}
