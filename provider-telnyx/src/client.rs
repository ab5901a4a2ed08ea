//! The Telnyx API v2 client: `POST /v2/messages`, and for number setup
//! `GET /v2/phone_numbers`, `GET /v2/phone_numbers/{id}/messaging` and
//! `GET`/`PATCH /v2/messaging_profiles/{id}`.
//!
//! JSON in and out, `Authorization: Bearer <API key>`. **One attempt per call**: the
//! gateway's outbox owns retries and backoff, so a 429, a 5xx or a network error is
//! returned at once as a typed [`ProviderError`] (with `Retry-After` when Telnyx sent one,
//! read by [`telephony_core::retry::retry_after`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{header, StatusCode};
use serde::Serialize;
use telephony_core::redact::{excerpt, redact_url};
use telephony_core::{retry, ProviderError, ProviderLimits};
use time::OffsetDateTime;

use crate::config::TelnyxConfig;
use crate::resources::{
    error_docs_url, Data, DataList, ErrorBody, MessageResource, MessageResponse,
    MessagingProfileResource, MessagingSettings, PhoneNumberResource, UpdateMessagingProfile,
};

/// Provider name used in errors.
const PROVIDER: &str = "telnyx";

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

/// Telnyx's "Blocked due to STOP message" (HTTP 409): the recipient replied STOP
/// (developers.telnyx.com/api/errors/40300).
pub const OPTED_OUT_CODE: i64 = 40300;

/// `User-Agent` of every request.
const USER_AGENT: &str = concat!("telephony-gateway/", env!("CARGO_PKG_VERSION"));

/// Longest body excerpt quoted in an error for a non-JSON error response.
const EXCERPT_CHARS: usize = 200;

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

/// A Telnyx Messaging API client. Cheap to clone; `Debug` never shows the API key.
///
/// ```no_run
/// use telephony_telnyx::{CreateMessage, TelnyxClient, TelnyxConfig};
///
/// # async fn run() -> Result<(), telephony_core::ProviderError> {
/// let client = TelnyxClient::new(TelnyxConfig::new("KEY…"))?;
/// let message = client
///     .create_message(&CreateMessage {
///         from: Some("+15550001234".into()),
///         to: "+15550005678".into(),
///         text: Some("Hello from the gateway".into()),
///         ..Default::default()
///     })
///     .await?;
/// println!("{} is {:?}", message.id, message.to[0].status);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TelnyxClient {
    http: reqwest::Client,
    config: Arc<TelnyxConfig>,
}

impl fmt::Debug for TelnyxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.config;
        f.debug_struct("TelnyxClient")
            .field("from_number", &c.from_number)
            .field("messaging_profile_id", &c.messaging_profile_id)
            .field("api_base_url", &redact_url(&c.api_base_url))
            .field("request_timeout", &c.request_timeout)
            .finish_non_exhaustive()
    }
}

impl TelnyxClient {
    /// A client for this account.
    ///
    /// Fails with [`ProviderError::NotConfigured`] when the API key is empty or the base
    /// URL is not `http(s)://…`. Redirects are not followed (the bearer token must not
    /// travel elsewhere).
    pub fn new(config: TelnyxConfig) -> Result<Self, ProviderError> {
        config.check_api_key()?;
        let base = config.api_base_url.to_ascii_lowercase();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::NotConfigured(format!(
                "the Telnyx API base URL {:?} must start with http:// or https://",
                redact_url(&config.api_base_url)
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ProviderError::NotConfigured(format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(TelnyxClient {
            http,
            config: Arc::new(config),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &TelnyxConfig {
        &self.config
    }

    /// Sends a message: `POST /v2/messages`, one attempt.
    ///
    /// The request is [validated](CreateMessage::validate) first; nothing goes on the
    /// network if it fails. Any 2xx with a `{"data":{…}}` body is success. A non-2xx
    /// answer is [`ProviderError::Api`] with Telnyx's first error (`"title: detail"`, its
    /// numeric code, `Retry-After`, opted-out for [`OPTED_OUT_CODE`]); a network error or
    /// timeout is [`ProviderError::Transport`].
    pub async fn create_message(
        &self,
        req: &CreateMessage,
    ) -> Result<MessageResource, ProviderError> {
        req.validate()?;
        let url = format!("{}/v2/messages", self.config.api_base_url);
        let response = self
            .http
            .post(&url)
            .bearer_auth(self.config.api_key.expose())
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

impl TelnyxClient {
    /// One authenticated JSON request (one attempt): the decoded `{"data": …}` answer, or
    /// the same typed errors as [`create_message`](Self::create_message). `what` names
    /// the answer in decoding errors.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<T, ProviderError> {
        let url = format!("{}{path}", self.config.api_base_url);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(self.config.api_key.expose())
            .header(header::ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| transport(&url, e))?;
        let status = response.status();
        let retry_after = retry::retry_after(response.headers(), OffsetDateTime::now_utc());
        let bytes = response.bytes().await.map_err(|e| transport(&url, e))?;
        if !status.is_success() {
            let err = api_error(status, &bytes, retry_after);
            tracing::debug!(
                status = status.as_u16(),
                code = err.code(),
                path,
                "Telnyx refused the request"
            );
            return Err(err);
        }
        serde_json::from_slice::<T>(&bytes).map_err(|e| {
            ProviderError::protocol(
                PROVIDER,
                format!(
                    "cannot decode the {what}: {e}; body starts with {:?}",
                    excerpt(&bytes, EXCERPT_CHARS)
                ),
            )
        })
    }

    /// The account's number `phone_number` (E.164): `GET
    /// /v2/phone_numbers?filter[phone_number]=…`, `None` when the account has no such
    /// number. Telnyx's filter also matches partial numbers, so only an exact match counts.
    pub async fn find_phone_number(
        &self,
        phone_number: &str,
    ) -> Result<Option<PhoneNumberResource>, ProviderError> {
        let list: DataList<PhoneNumberResource> = self
            .json(
                reqwest::Method::GET,
                "/v2/phone_numbers",
                &[("filter[phone_number]", phone_number)],
                None,
                "phone number list",
            )
            .await?;
        Ok(list
            .data
            .into_iter()
            .find(|n| n.phone_number == phone_number))
    }

    /// A number's messaging settings (profile, SMS/MMS features): `GET
    /// /v2/phone_numbers/{id}/messaging`.
    pub async fn phone_number_messaging(
        &self,
        id: &str,
    ) -> Result<MessagingSettings, ProviderError> {
        let path = format!("/v2/phone_numbers/{}/messaging", path_segment(id)?);
        let d: Data<MessagingSettings> = self
            .json(reqwest::Method::GET, &path, &[], None, "messaging settings")
            .await?;
        Ok(d.data)
    }

    /// A messaging profile: `GET /v2/messaging_profiles/{id}`.
    pub async fn messaging_profile(
        &self,
        id: &str,
    ) -> Result<MessagingProfileResource, ProviderError> {
        let path = format!("/v2/messaging_profiles/{}", path_segment(id)?);
        let d: Data<MessagingProfileResource> = self
            .json(reqwest::Method::GET, &path, &[], None, "messaging profile")
            .await?;
        Ok(d.data)
    }

    /// Changes a messaging profile's settings: `PATCH /v2/messaging_profiles/{id}` with
    /// only the fields set in `update`; returns the profile as Telnyx now has it.
    pub async fn update_messaging_profile(
        &self,
        id: &str,
        update: &UpdateMessagingProfile,
    ) -> Result<MessagingProfileResource, ProviderError> {
        let path = format!("/v2/messaging_profiles/{}", path_segment(id)?);
        let body = serde_json::to_value(update).map_err(|e| {
            ProviderError::protocol(PROVIDER, format!("cannot encode the profile update: {e}"))
        })?;
        let d: Data<MessagingProfileResource> = self
            .json(
                reqwest::Method::PATCH,
                &path,
                &[],
                Some(body),
                "messaging profile",
            )
            .await?;
        Ok(d.data)
    }
}

/// An id as one URL path segment: ids Telnyx hands out are letters, digits, `-` and `_`;
/// anything else (a `/`, `?`, `..`) would address another resource and is refused.
fn path_segment(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(id)
    } else {
        Err(ProviderError::protocol(
            PROVIDER,
            format!("{id:?} is not a Telnyx resource id"),
        ))
    }
}

fn transport(url: &str, e: reqwest::Error) -> ProviderError {
    ProviderError::transport(PROVIDER, redact_url(url), e.is_timeout(), e.without_url())
}

/// The error for a non-2xx answer: Telnyx's first error when the body has one, else the
/// HTTP status and a short excerpt of the body.
fn api_error(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> ProviderError {
    let status_line = match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    };
    let first = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.errors.into_iter().next());
    let (code, message) = match first {
        Some(e) => (
            e.code_number(),
            e.message().unwrap_or_else(|| status_line.clone()),
        ),
        None => {
            let text = excerpt(body, EXCERPT_CHARS);
            let message = if text.is_empty() {
                format!("{status_line} with an empty body")
            } else {
                format!("{status_line}: {text}")
            };
            (None, message)
        }
    };
    ProviderError::api(PROVIDER, status.as_u16(), message)
        .with_code(code)
        .with_more_info(code.map(error_docs_url))
        .with_retry_after(retry_after)
        .with_opted_out(code == Some(OPTED_OUT_CODE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let body = br#"{"errors":[{"code":"10004","title":"Missing required parameter","detail":"The 'to' parameter is required.","source":{"pointer":"/to"}}]}"#;
        let e = api_error(StatusCode::UNPROCESSABLE_ENTITY, body, None);
        assert_eq!(e.code(), Some(10004));
        assert_eq!(
            e.to_string(),
            "telnyx rejected the request (HTTP 422), error 10004: Missing required parameter: The 'to' parameter is required. (https://developers.telnyx.com/api/errors/10004)"
        );
        assert!(!e.is_retryable() && !e.is_opted_out());
        let e = api_error(
            StatusCode::BAD_GATEWAY,
            b"<html>\n  <b>bad gateway</b></html>",
            None,
        );
        assert_eq!(e.code(), None);
        assert!(e.is_retryable());
        assert!(
            e.to_string()
                .ends_with("HTTP 502 Bad Gateway: <html> <b>bad gateway</b></html>"),
            "{e}"
        );
        let e = api_error(StatusCode::INTERNAL_SERVER_ERROR, b"", None);
        assert!(e
            .to_string()
            .ends_with("HTTP 500 Internal Server Error with an empty body"));
        let long = "x".repeat(500);
        assert_eq!(
            excerpt(long.as_bytes(), EXCERPT_CHARS).chars().count(),
            EXCERPT_CHARS
        );
    }

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

    #[test]
    fn ids_stay_one_path_segment() {
        for ok in [
            "40017f8e-49bd-4f16-9e3d-ef103f916228",
            "1293384261075731499",
            "a_b",
        ] {
            assert_eq!(path_segment(ok).unwrap(), ok);
        }
        for bad in ["", "..", "a/b", "a?b=1", "a%2Fb", "a b"] {
            let e = path_segment(bad).unwrap_err();
            assert!(matches!(e, ProviderError::Protocol { .. }), "{bad}: {e:?}");
        }
    }
}
