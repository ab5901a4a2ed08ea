//! Messages: `POST`, `GET` one and list `/2010-04-01/Accounts/{AccountSid}/Messages`, the
//! create form and its validation, and Twilio's limits on a message.

use reqwest::{Method, StatusCode};
use telephony_core::ProviderError;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

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

/// A message the gateway may have sent, to look up in the message log
/// ([`TwilioClient::find_sent_message`]): the create request's `To`, sender
/// (`From` or `MessagingServiceSid`), `Body` and number of media, and when the attempt
/// that may have sent it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessageQuery {
    /// The request's `To`.
    pub to: String,
    /// The request's `From`, when it named one.
    pub from: Option<String>,
    /// The request's `MessagingServiceSid`, when it sent through a service.
    pub messaging_service_sid: Option<String>,
    /// The request's `Body` (empty for media only).
    pub body: String,
    /// How many `MediaUrl`s the request had.
    pub media: usize,
    /// Messages created before this are not it.
    pub since: OffsetDateTime,
}

/// Messages per page of the log when looking a sent message up.
pub const FIND_SENT_PAGE_SIZE: u32 = 100;

/// Pages of the log looked at, at most, when looking a sent message up: the messages to
/// one recipient from one sender since an attempt started are few, so more pages mean
/// something else is going on.
pub const FIND_SENT_MAX_PAGES: usize = 5;

impl SentMessageQuery {
    /// Whether `m` is this message: outbound, same recipient and sender, same body and
    /// number of media, created at or after [`since`](Self::since) (Twilio's dates have
    /// whole seconds, so the second `since` falls in counts).
    pub fn matches(&self, m: &MessageResource) -> bool {
        let outbound = m
            .direction
            .as_deref()
            .is_some_and(|d| d.starts_with("outbound"));
        let sender = match (&self.from, &self.messaging_service_sid) {
            (Some(from), _) => m.from.as_deref() == Some(from.as_str()),
            (None, Some(service)) => m.messaging_service_sid.as_deref() == Some(service.as_str()),
            (None, None) => false,
        };
        let media = m
            .num_media
            .as_deref()
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        outbound
            && sender
            && m.to.as_deref() == Some(self.to.as_str())
            && m.body.as_deref().unwrap_or_default() == self.body
            && media == self.media
            && created(m).is_some_and(|at| at >= self.since_second())
    }

    /// `since` rounded down to its second.
    fn since_second(&self) -> OffsetDateTime {
        self.since.replace_nanosecond(0).unwrap_or(self.since)
    }
}

/// When a message was created (`date_created`, RFC 2822).
fn created(m: &MessageResource) -> Option<OffsetDateTime> {
    m.date_created
        .as_deref()
        .and_then(|d| OffsetDateTime::parse(d.trim(), &Rfc2822).ok())
}

impl TwilioClient {
    /// Looks a message the gateway may have sent up in the message log: `GET
    /// …/Messages.json` with `To`, `From` (when the request named one) and `DateSent>`
    /// (the UTC date of `since`: Twilio filters by whole days), [`FIND_SENT_PAGE_SIZE`]
    /// per page, newest first, following `next_page_uri` for [`FIND_SENT_MAX_PAGES`] pages
    /// at most and stopping at the first page that reaches back before `since`. The
    /// filters Twilio does not have (`date_created`, sender, body, media) are applied
    /// here ([`SentMessageQuery::matches`]). Returns the earliest match, or `None`; more
    /// pages than allowed is a [`ProviderError::Protocol`] (it cannot say "not sent").
    /// Reads retry like every read.
    pub async fn find_sent_message(
        &self,
        q: &SentMessageQuery,
    ) -> Result<Option<MessageResource>, ProviderError> {
        let path = format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            path_segment(&self.config().account_sid)
        );
        let mut query: Vec<(&'static str, String)> = vec![("To", q.to.clone())];
        if let Some(from) = &q.from {
            query.push(("From", from.clone()));
        }
        let day = q.since.to_offset(time::UtcOffset::UTC).date();
        query.push(("DateSent>", day.to_string()));
        query.push(("PageSize", FIND_SENT_PAGE_SIZE.to_string()));
        let mut next: Option<String> = None;
        let mut found = None;
        for _ in 0..FIND_SENT_MAX_PAGES {
            let (_, body) = match &next {
                None => {
                    self.execute(Method::GET, &path, &query, None, Attempts::Configured)
                        .await?
                }
                Some(uri) => {
                    self.execute(Method::GET, uri, &[], None, Attempts::Configured)
                        .await?
                }
            };
            let page: MessagePage = decode(&body, "Message page")?;
            // Newest first: the last match on the last page looked at is the earliest.
            if let Some(m) = page.messages.iter().rev().find(|m| q.matches(m)) {
                found = Some(m.clone());
            }
            let reached_before = page
                .messages
                .last()
                .and_then(created)
                .is_some_and(|at| at < q.since_second());
            match page.next_page_uri {
                Some(uri) if !reached_before => {
                    if !uri.starts_with(&path) {
                        return Err(ProviderError::protocol(
                            "twilio",
                            format!(
                                "the message list's next_page_uri {uri:?} is not a page of {path}"
                            ),
                        ));
                    }
                    next = Some(uri);
                }
                _ => return Ok(found),
            }
        }
        if found.is_some() {
            return Ok(found);
        }
        Err(ProviderError::protocol(
            "twilio",
            format!(
                "more than {FIND_SENT_MAX_PAGES} pages of {FIND_SENT_PAGE_SIZE} messages to this recipient since the interrupted attempt; not looking further"
            ),
        ))
    }

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
