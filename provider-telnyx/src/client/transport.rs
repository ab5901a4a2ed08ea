//! The HTTP side of the client: the [`TelnyxClient`] itself (connection pool, config),
//! bearer auth, one JSON request, and Telnyx's error bodies decoded to
//! [`ProviderError`]s.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, header};
use telephony_core::redact::{excerpt, redact_url};
use telephony_core::{ProviderError, retry};
use time::OffsetDateTime;

use crate::config::TelnyxConfig;
use crate::resources::{ErrorBody, error_docs_url};

/// Provider name used in errors.
pub(crate) const PROVIDER: &str = "telnyx";

/// Telnyx's "Blocked due to STOP message" (HTTP 409): the recipient replied STOP
/// (developers.telnyx.com/api/errors/40300).
pub const OPTED_OUT_CODE: i64 = 40300;

/// `User-Agent` of every request.
const USER_AGENT: &str = concat!("telephony-gateway/", env!("CARGO_PKG_VERSION"));

/// Longest body excerpt quoted in an error for a non-JSON error response.
pub(super) const EXCERPT_CHARS: usize = 200;

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

    /// The connection pool every request goes through.
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &TelnyxConfig {
        &self.config
    }

    /// One authenticated JSON request (one attempt): the decoded `{"data": …}` answer, or
    /// the same typed errors as [`create_message`](Self::create_message). `what` names
    /// the answer in decoding errors.
    pub(super) async fn json<T: serde::de::DeserializeOwned>(
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
}

/// An id as one URL path segment: ids Telnyx hands out are letters, digits, `-` and `_`;
/// anything else (a `/`, `?`, `..`) would address another resource and is refused.
pub(super) fn path_segment(id: &str) -> Result<&str, ProviderError> {
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

pub(super) fn transport(url: &str, e: reqwest::Error) -> ProviderError {
    ProviderError::transport(PROVIDER, redact_url(url), e.is_timeout(), e.without_url())
}

/// The error for a non-2xx answer: Telnyx's first error when the body has one, else the
/// HTTP status and a short excerpt of the body.
pub(super) fn api_error(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> ProviderError {
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
        assert!(
            e.to_string()
                .ends_with("HTTP 500 Internal Server Error with an empty body")
        );
        let long = "x".repeat(500);
        assert_eq!(
            excerpt(long.as_bytes(), EXCERPT_CHARS).chars().count(),
            EXCERPT_CHARS
        );
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
