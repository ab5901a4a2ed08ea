//! The HTTP side of the client: the [`TwilioClient`] itself (connection pool, config),
//! basic auth, one request with retries of reads and backoff, and Twilio's error bodies
//! decoded to [`ProviderError`]s.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, StatusCode, header};
use telephony_core::redact::{excerpt, redact_url};
use telephony_core::{ProviderError, retry};
use time::OffsetDateTime;

use crate::config::{Credentials, TwilioConfig};

/// Provider name used in errors.
pub(super) const PROVIDER: &str = "twilio";

/// Twilio's "Attempt to send to unsubscribed recipient": the recipient replied STOP.
pub const OPTED_OUT_CODE: i64 = 21610;

/// `User-Agent` of every request.
const USER_AGENT: &str = concat!("telephony-gateway/", env!("CARGO_PKG_VERSION"));

/// Longest body excerpt quoted in an error for a non-JSON error response.
const EXCERPT_CHARS: usize = 200;

/// How many HTTP attempts one call may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempts {
    /// Creates: exactly one (the caller owns retries, and a create is not idempotent).
    One,
    /// Reads: up to [`TwilioConfig::max_attempts`].
    Configured,
}

/// A Twilio REST API client.
///
/// Cheap to clone (the connection pool and config are shared). Its `Debug` output shows
/// the config with every secret redacted.
///
/// # Retries
///
/// **Sends are retried in one place: the caller.** [`create_message`](Self::create_message)
/// (and so [`TwilioProvider::send`](crate::TwilioProvider)) makes exactly one HTTP
/// attempt, whatever [`TwilioConfig::max_attempts`] says, and never sleeps: a 429 or 5xx
/// comes back as a retryable [`ProviderError::Api`] carrying Twilio's `Retry-After`, a
/// network error as [`ProviderError::Transport`] (with `timeout` set for a timeout). The
/// gateway's outbox decides when to try again, with the one backoff of
/// [`telephony_core::retry`]; it never replays a create after a timeout, because Twilio
/// may have accepted the message and sending again could deliver it twice.
///
/// Reads (`fetch_*`, `list_*`, the account) are idempotent, so the client retries them
/// itself: a 429, a 5xx or any network error is tried up to [`TwilioConfig::max_attempts`]
/// times in total, waiting [`retry::wait`] (the longer of `Retry-After` and 1 s, 2 s,
/// 4 s …) but never longer than [`TwilioConfig::max_backoff`]. Other 4xx answers are never
/// retried. Each retry is logged at `warn` with the fields `attempt`, `status`, `code` and
/// `wait_ms`.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    config: Arc<TwilioConfig>,
}

impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.config;
        // `Credentials`' Debug shows the key secret as `[redacted]` (it is a `Secret`); the
        // auth token is left out, and so is any `user:password@` in the base URL.
        f.debug_struct("TwilioClient")
            .field("account_sid", &c.account_sid)
            .field("credentials", &c.credentials)
            .field("from_number", &c.from_number)
            .field("messaging_service_sid", &c.messaging_service_sid)
            .field("api_base_url", &redact_url(&c.api_base_url))
            .field("request_timeout", &c.request_timeout)
            .field("max_attempts", &c.max_attempts)
            .field("max_backoff", &c.max_backoff)
            .finish_non_exhaustive()
    }
}

impl TwilioClient {
    /// A client for this account.
    ///
    /// Fails with [`ProviderError::NotConfigured`] if the Account SID or the REST
    /// credentials are empty, or the API base URL is not `http(s)://…`. Redirects are
    /// not followed (the API never redirects, and credentials must not travel elsewhere).
    pub fn new(config: TwilioConfig) -> Result<Self, ProviderError> {
        if config.account_sid.trim().is_empty() {
            return Err(ProviderError::NotConfigured(
                "twilio.accountSid is not set".into(),
            ));
        }
        match &config.credentials {
            Credentials::AuthToken if config.auth_token.is_empty() => {
                return Err(ProviderError::NotConfigured(
                    "twilio.authToken is not set".into(),
                ));
            }
            Credentials::ApiKey { sid, secret } if sid.trim().is_empty() || secret.is_empty() => {
                return Err(ProviderError::NotConfigured(
                    "the Twilio API key SID or secret is empty".into(),
                ));
            }
            _ => {}
        }
        let base = config.api_base_url.to_ascii_lowercase();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::NotConfigured(format!(
                "the Twilio API base URL {:?} must start with http:// or https://",
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
        Ok(TwilioClient {
            http,
            config: Arc::new(config),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &TwilioConfig {
        &self.config
    }

    /// Basic-auth user and password for REST calls.
    fn basic_auth(&self) -> (&str, &str) {
        match &self.config.credentials {
            Credentials::ApiKey { sid, secret } => (sid.as_str(), secret.expose()),
            Credentials::AuthToken => (
                self.config.account_sid.as_str(),
                self.config.auth_token.expose(),
            ),
        }
    }

    /// Sends a request to the REST API, retrying reads; returns the 2xx status and body.
    pub(super) async fn execute(
        &self,
        method: Method,
        path: &str,
        query: &[(&'static str, String)],
        form: Option<&[(&'static str, String)]>,
        attempts: Attempts,
    ) -> Result<(StatusCode, Bytes), ProviderError> {
        let base = self.config.api_base_url.clone();
        self.execute_at(&base, method, path, query, form, attempts)
            .await
    }

    /// [`execute`](Self::execute) against another of Twilio's APIs (`base`).
    pub(super) async fn execute_at(
        &self,
        base: &str,
        method: Method,
        path: &str,
        query: &[(&'static str, String)],
        form: Option<&[(&'static str, String)]>,
        attempts: Attempts,
    ) -> Result<(StatusCode, Bytes), ProviderError> {
        let url = format!("{base}{path}");
        let shown_url = redact_url(&url);
        let max_attempts = match attempts {
            Attempts::One => 1,
            Attempts::Configured => self.config.max_attempts.max(1),
        };
        let (user, password) = self.basic_auth();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(header::ACCEPT, "application/json")
                .basic_auth(user, Some(password));
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(form) = form {
                // Sets `Content-Type: application/x-www-form-urlencoded`; repeated keys stay repeated.
                request = request.form(form);
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after =
                        retry::retry_after(response.headers(), OffsetDateTime::now_utc());
                    response
                        .bytes()
                        .await
                        .map(|body| (status, retry_after, body))
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok((status, _, body)) if status.is_success() => return Ok((status, body)),
                Ok((status, retry_after, body)) => {
                    let err = api_error(status, &body, retry_after);
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !retryable || attempt >= max_attempts {
                        return Err(err);
                    }
                    let wait = retry::wait(attempt - 1, retry_after).min(self.config.max_backoff);
                    tracing::warn!(
                        attempt,
                        max_attempts,
                        status = status.as_u16(),
                        code = err.code(),
                        wait_ms = wait.as_millis() as u64,
                        method = %method,
                        url = %shown_url,
                        "Twilio request failed; retrying"
                    );
                    sleep(wait).await;
                }
                Err(e) => {
                    if attempt >= max_attempts {
                        return Err(ProviderError::transport(
                            PROVIDER,
                            shown_url,
                            e.is_timeout(),
                            e.without_url(),
                        ));
                    }
                    let wait = retry::backoff(attempt - 1).min(self.config.max_backoff);
                    tracing::warn!(
                        attempt,
                        max_attempts,
                        timeout = e.is_timeout(),
                        connect = e.is_connect(),
                        wait_ms = wait.as_millis() as u64,
                        method = %method,
                        url = %shown_url,
                        "could not reach Twilio; retrying"
                    );
                    sleep(wait).await;
                }
            }
        }
    }
}

/// Decodes a 2xx JSON body, or a [`ProviderError::Protocol`] naming what was expected.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::protocol(
            PROVIDER,
            format!(
                "cannot decode the {what} resource: {e}; body starts with {:?}",
                excerpt(body, EXCERPT_CHARS)
            ),
        )
    })
}

/// The error for a non-2xx answer: Twilio's JSON error body when there is one, else the
/// HTTP status and a short excerpt of the body.
fn api_error(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> ProviderError {
    #[derive(serde::Deserialize)]
    struct TwilioErrorBody {
        code: Option<serde_json::Value>,
        message: Option<String>,
        more_info: Option<String>,
    }
    let status_line = match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    };
    let parsed = serde_json::from_slice::<TwilioErrorBody>(body)
        .ok()
        .filter(|b| b.code.is_some() || b.message.is_some());
    let (code, message, more_info) = match parsed {
        Some(b) => {
            let code = b.code.and_then(|c| match c {
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            });
            let message = b
                .message
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| status_line.clone());
            (code, message, b.more_info.filter(|m| !m.is_empty()))
        }
        None => {
            let text = excerpt(body, EXCERPT_CHARS);
            let message = if text.is_empty() {
                format!("{status_line} with an empty body")
            } else {
                format!("{status_line}: {text}")
            };
            (None, message, None)
        }
    };
    ProviderError::api(PROVIDER, status.as_u16(), message)
        .with_code(code)
        .with_more_info(more_info)
        .with_retry_after(retry_after)
        .with_opted_out(code == Some(OPTED_OUT_CODE))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for one path segment.
pub(super) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Backoff sleep on the tokio timer (reqwest already runs on tokio).
async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_from_json_and_text() {
        let e = api_error(
            StatusCode::UNAUTHORIZED,
            br#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
            None,
        );
        match e {
            ProviderError::Api {
                status,
                code,
                message,
                more_info,
                ..
            } => {
                assert_eq!(status, 401);
                assert_eq!(code, Some(20003));
                assert_eq!(message, "Authenticate");
                assert_eq!(
                    more_info.as_deref(),
                    Some("https://www.twilio.com/docs/errors/20003")
                );
            }
            other => panic!("{other:?}"),
        }
        let html = format!("<html>\n<body>{}</body></html>", "x".repeat(500));
        match api_error(StatusCode::BAD_GATEWAY, html.as_bytes(), None) {
            ProviderError::Api {
                status,
                code,
                message,
                more_info,
                ..
            } => {
                assert_eq!((status, code, more_info), (502, None, None));
                assert!(
                    message.starts_with("HTTP 502 Bad Gateway: <html> <body>xxx"),
                    "{message}"
                );
                let quoted = message.trim_start_matches("HTTP 502 Bad Gateway: ");
                assert_eq!(quoted.chars().count(), 200);
                assert!(quoted.ends_with('…'));
            }
            other => panic!("{other:?}"),
        }
        match api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            b"",
            Some(Duration::from_secs(3)),
        ) {
            ProviderError::Api {
                message,
                retry_after,
                ..
            } => {
                assert_eq!(message, "HTTP 503 Service Unavailable with an empty body");
                assert_eq!(retry_after, Some(Duration::from_secs(3)));
            }
            other => panic!("{other:?}"),
        }
        // JSON that is not Twilio's error shape is quoted like text.
        match api_error(StatusCode::NOT_FOUND, br#"{"error":"nope"}"#, None) {
            ProviderError::Api { code, message, .. } => {
                assert_eq!(code, None);
                assert_eq!(message, r#"HTTP 404 Not Found: {"error":"nope"}"#);
            }
            other => panic!("{other:?}"),
        }
        // 21610 (unsubscribed recipient) is Twilio's opt-out answer; 21211 is not.
        let opted_out = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}"#,
            None,
        );
        assert!(opted_out.is_opted_out());
        assert!(
            !api_error(
                StatusCode::BAD_REQUEST,
                br#"{"code":21211,"message":"m","status":400}"#,
                None
            )
            .is_opted_out()
        );
        // A string code is still a code.
        assert_eq!(
            api_error(
                StatusCode::BAD_REQUEST,
                br#"{"code":"21211","message":"m"}"#,
                None
            )
            .code(),
            Some(21211)
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("AC12/../x y"), "AC12%2F..%2Fx%20y");
    }

    #[test]
    fn new_checks_configuration() {
        let err = TwilioClient::new(TwilioConfig::new("", "t")).unwrap_err();
        assert!(matches!(err, ProviderError::NotConfigured(_)), "{err:?}");
        let err = TwilioClient::new(TwilioConfig::new("AC1", "")).unwrap_err();
        assert!(matches!(err, ProviderError::NotConfigured(_)), "{err:?}");
        // With an API key the auth token is not needed for REST.
        assert!(TwilioClient::new(TwilioConfig::new("AC1", "").api_key("SK1", "s")).is_ok());
        let err =
            TwilioClient::new(TwilioConfig::new("AC1", "t").api_base_url("ftp://x")).unwrap_err();
        assert!(matches!(err, ProviderError::NotConfigured(_)), "{err:?}");
    }

    #[test]
    fn debug_hides_secrets() {
        let client = TwilioClient::new(
            TwilioConfig::new("AC1", "tok-SECRET-1")
                .api_key("SK1", "key-SECRET-2")
                .api_base_url("https://user:pw-SECRET-3@api.example.com"),
        )
        .unwrap();
        let shown = format!("{client:?} {client:#?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("AC1"), "{shown}");
    }
}
