//! The Twilio REST client (API version 2010-04-01): Messages, Calls and the Account resource.
//!
//! Requests are form-encoded with `Accept: application/json` and HTTP basic auth
//! (`AccountSid:AuthToken`, or `ApiKeySid:Secret` with the Account SID still in the path).
//! Errors are typed [`ProviderError`]s. Creating a message or a call, and hanging up a
//! call, is **one attempt per call**:
//! the gateway's outbox owns retries of sends. Reads retry 429, 5xx and network errors with
//! [`telephony_core::retry`]'s backoff (see [`TwilioClient`] for the rules).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{header, Method, StatusCode};
use telephony_core::redact::{excerpt, redact_url};
use telephony_core::{retry, ProviderError};
use time::OffsetDateTime;

use crate::config::{Credentials, TwilioConfig};
use crate::resources::{
    CallResource, IncomingPhoneNumberPage, IncomingPhoneNumberResource, MessagePage,
    MessageResource, MessagingServiceResource,
};

/// Provider name used in errors.
const PROVIDER: &str = "twilio";

/// Twilio's limit on `Body` (error 21617).
pub const MAX_BODY_CHARS: usize = 1600;

/// Twilio's limit on `MediaUrl` values per message.
pub const MAX_MEDIA_URLS: usize = 10;

/// What one Twilio message may carry, as [`Provider::limits`](telephony_core::Provider::limits)
/// reports it.
pub const LIMITS: telephony_core::ProviderLimits =
    telephony_core::ProviderLimits::new(MAX_MEDIA_URLS, MAX_BODY_CHARS);

/// Twilio's "Attempt to send to unsubscribed recipient": the recipient replied STOP.
pub const OPTED_OUT_CODE: i64 = 21610;

/// `User-Agent` of every request.
const USER_AGENT: &str = concat!("telephony-gateway/", env!("CARGO_PKG_VERSION"));

/// Longest body excerpt quoted in an error for a non-JSON error response.
const EXCERPT_CHARS: usize = 200;

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

/// Twilio's limit on the `Twiml` parameter of a call, in characters.
pub const MAX_TWIML_CHARS: usize = 4000;

/// Twilio's limit on a call's ring `Timeout`, in seconds.
pub const MAX_RING_TIMEOUT_SECS: u32 = 600;

/// Twilio's "resource not found": hanging up a call that already ended answers it.
pub const NOT_FOUND_CODE: i64 = 20404;

/// The `StatusCallbackEvent` values sent with every call that has a `StatusCallback`, one
/// form field each, in this order.
pub const CALL_STATUS_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// What Twilio does when the call is answered: fetch TwiML from a URL, or run this TwiML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallInstructions {
    /// `Url`: Twilio requests TwiML from it.
    Url(String),
    /// `Twiml`: at most [`MAX_TWIML_CHARS`] characters.
    Twiml(String),
}

/// The form of `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`.
///
/// With a `StatusCallback`, all four [`CALL_STATUS_EVENTS`] are asked for (without any,
/// Twilio only sends `completed`). Optional values that are `None` or empty are not sent.
///
/// ```
/// use telephony_twilio::client::{CallInstructions, CreateCall};
/// let req = CreateCall {
///     to: "+15550005678".into(),
///     from: "+15550001234".into(),
///     instructions: CallInstructions::Url("https://gw.example.com/voice".into()),
///     status_callback: Some("https://gw.example.com/voice/status".into()),
///     timeout: Some(30),
///     time_limit: None,
///     machine_detection: true,
/// };
/// let form = req.to_form();
/// assert_eq!(form, vec![
///     ("To", "+15550005678".to_string()),
///     ("From", "+15550001234".to_string()),
///     ("Url", "https://gw.example.com/voice".to_string()),
///     ("StatusCallback", "https://gw.example.com/voice/status".to_string()),
///     ("StatusCallbackEvent", "initiated".to_string()),
///     ("StatusCallbackEvent", "ringing".to_string()),
///     ("StatusCallbackEvent", "answered".to_string()),
///     ("StatusCallbackEvent", "completed".to_string()),
///     ("Timeout", "30".to_string()),
///     ("MachineDetection", "Enable".to_string()),
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCall {
    /// `To`: E.164 number, `sip:…` or `client:…`.
    pub to: String,
    /// `From`: a Twilio number (or verified caller ID).
    pub from: String,
    /// `Url` or `Twiml`.
    pub instructions: CallInstructions,
    /// `StatusCallback`, with the four `StatusCallbackEvent`s.
    pub status_callback: Option<String>,
    /// `Timeout`: seconds to let it ring (Twilio: default 60, at most 600).
    pub timeout: Option<u32>,
    /// `TimeLimit`: the longest the call may last, in seconds.
    pub time_limit: Option<u32>,
    /// `MachineDetection=Enable`.
    pub machine_detection: bool,
}

impl CreateCall {
    /// The form pairs to send, in a stable order.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", self.to.clone()), ("From", self.from.clone())];
        match &self.instructions {
            CallInstructions::Url(url) => form.push(("Url", url.clone())),
            CallInstructions::Twiml(twiml) => form.push(("Twiml", twiml.clone())),
        }
        if let Some(url) = self.status_callback.as_deref().filter(|u| !u.is_empty()) {
            form.push(("StatusCallback", url.to_string()));
            for event in CALL_STATUS_EVENTS {
                form.push(("StatusCallbackEvent", event.to_string()));
            }
        }
        if let Some(t) = self.timeout {
            form.push(("Timeout", t.to_string()));
        }
        if let Some(t) = self.time_limit {
            form.push(("TimeLimit", t.to_string()));
        }
        if self.machine_detection {
            form.push(("MachineDetection", "Enable".to_string()));
        }
        form
    }

    /// Checks what Twilio would reject, without a network call: `To`, `From` and the
    /// `Url`/`Twiml` non-empty, `Twiml` at most [`MAX_TWIML_CHARS`] characters and a
    /// document [`check_twiml`](crate::twiml::check_twiml) accepts (well-formed XML with a
    /// `<Response>` root; else Twilio's error 12100 when the call is answered), `Timeout`
    /// 1..=[`MAX_RING_TIMEOUT_SECS`], `TimeLimit` at least 1. Failures are
    /// [`ProviderError::InvalidMessage`] (not retryable).
    ///
    /// ```
    /// use telephony_twilio::client::{CallInstructions, CreateCall};
    /// let req = CreateCall {
    ///     to: "+15550005678".into(),
    ///     from: "+15550001234".into(),
    ///     instructions: CallInstructions::Twiml("x".repeat(4001)),
    ///     status_callback: None, timeout: None, time_limit: None, machine_detection: false,
    /// };
    /// assert_eq!(
    ///     req.validate().unwrap_err().to_string(),
    ///     "invalid message: the call's TwiML is 4001 characters long; Twilio accepts at most 4000"
    /// );
    /// let req = CreateCall { instructions: CallInstructions::Twiml("<Response><Say>Hi</Response>".into()), ..req };
    /// assert_eq!(
    ///     req.validate().unwrap_err().to_string(),
    ///     "invalid message: the call's TwiML is not a document Twilio can parse (error 12100): \
    ///      line 1, column 18: ill-formed document: expected `</Say>`, but `</Response>` was found"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ProviderError> {
        let invalid = |m: String| Err(ProviderError::InvalidMessage(m));
        if self.to.trim().is_empty() {
            return invalid("the callee (To) is empty".into());
        }
        if self.from.trim().is_empty() {
            return invalid("the caller ID (From) is empty".into());
        }
        match &self.instructions {
            CallInstructions::Url(url) if url.trim().is_empty() => {
                return invalid("the call's instructions URL is empty".into())
            }
            CallInstructions::Twiml(twiml) => {
                let chars = twiml.chars().count();
                if chars > MAX_TWIML_CHARS {
                    return invalid(format!(
                        "the call's TwiML is {chars} characters long; Twilio accepts at most {MAX_TWIML_CHARS}"
                    ));
                }
                if let Err(e) = crate::twiml::check_twiml(twiml) {
                    return invalid(format!(
                        "the call's TwiML is not a document Twilio can parse (error 12100): {e}"
                    ));
                }
            }
            CallInstructions::Url(_) => {}
        }
        if let Some(t) = self.timeout {
            if !(1..=MAX_RING_TIMEOUT_SECS).contains(&t) {
                return invalid(format!(
                    "the ring timeout is {t} s; Twilio accepts 1 to {MAX_RING_TIMEOUT_SECS}"
                ));
            }
        }
        if self.time_limit == Some(0) {
            return invalid("the call's time limit is 0 s".into());
        }
        Ok(())
    }
}

/// How many HTTP attempts one call may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempts {
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
                ))
            }
            Credentials::ApiKey { sid, secret } if sid.trim().is_empty() || secret.is_empty() => {
                return Err(ProviderError::NotConfigured(
                    "the Twilio API key SID or secret is empty".into(),
                ))
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
            path_segment(&self.config.account_sid)
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
            path_segment(&self.config.account_sid),
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
            path_segment(&self.config.account_sid)
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

    /// Places a call: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`.
    ///
    /// The request is [validated](CreateCall::validate) first (nothing goes on the network
    /// if it fails). One HTTP attempt, never retried here: a create is not idempotent.
    pub async fn create_call(&self, req: &CreateCall) -> Result<CallResource, ProviderError> {
        req.validate()?;
        let path = format!(
            "/2010-04-01/Accounts/{}/Calls.json",
            path_segment(&self.config.account_sid)
        );
        let form = req.to_form();
        let (_, body) = self
            .execute(Method::POST, &path, &[], Some(&form), Attempts::One)
            .await?;
        let call: CallResource = decode(&body, "Call")?;
        tracing::debug!(sid = %call.sid, status = ?call.status, "Twilio accepted the call");
        Ok(call)
    }

    /// Hangs up a call: `POST …/Calls/{Sid}.json` with `Status=completed`.
    ///
    /// Returns the updated call, or `None` when Twilio answers 404 with error
    /// [`NOT_FOUND_CODE`] (20404): the call has already ended, which is what was wanted.
    /// Any other error is returned. One HTTP attempt, like a create.
    pub async fn hang_up_call(&self, sid: &str) -> Result<Option<CallResource>, ProviderError> {
        let path = self.call_path(sid)?;
        let form = [("Status", "completed".to_string())];
        match self
            .execute(Method::POST, &path, &[], Some(&form), Attempts::One)
            .await
        {
            Ok((_, body)) => decode(&body, "Call").map(Some),
            Err(e) if e.http_status() == Some(404) && e.code() == Some(NOT_FOUND_CODE) => {
                tracing::debug!(sid, "Twilio: the call had already ended (20404)");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Fetches one call: `GET …/Calls/{Sid}.json` (retried like every read).
    pub async fn fetch_call(&self, sid: &str) -> Result<CallResource, ProviderError> {
        let path = self.call_path(sid)?;
        let (_, body) = self
            .execute(Method::GET, &path, &[], None, Attempts::Configured)
            .await?;
        decode(&body, "Call")
    }

    fn call_path(&self, sid: &str) -> Result<String, ProviderError> {
        if sid.trim().is_empty() {
            return Err(ProviderError::InvalidMessage(
                "the call SID is empty".into(),
            ));
        }
        Ok(format!(
            "/2010-04-01/Accounts/{}/Calls/{}.json",
            path_segment(&self.config.account_sid),
            path_segment(sid)
        ))
    }

    /// Fetches the Account resource (`GET /2010-04-01/Accounts/{AccountSid}.json`): a cheap
    /// check that the credentials work.
    ///
    /// The resource carries the account's `auth_token`; it is replaced by `"[redacted]"`
    /// in the returned value so that printing it (`status --probe`) never leaks it.
    pub async fn fetch_account(&self) -> Result<serde_json::Value, ProviderError> {
        let path = format!(
            "/2010-04-01/Accounts/{}.json",
            path_segment(&self.config.account_sid)
        );
        let (_, body) = self
            .execute(Method::GET, &path, &[], None, Attempts::Configured)
            .await?;
        let mut value: serde_json::Value = decode(&body, "Account")?;
        if let Some(token) = value.get_mut("auth_token") {
            if !token.is_null() {
                *token = serde_json::Value::String("[redacted]".into());
            }
        }
        Ok(value)
    }

    /// Finds the account's number: `GET …/IncomingPhoneNumbers.json?PhoneNumber=` (exact
    /// E.164 match; `None` when the account has no such number).
    pub async fn find_incoming_number(
        &self,
        phone_number: &str,
    ) -> Result<Option<IncomingPhoneNumberResource>, ProviderError> {
        let path = format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json",
            path_segment(&self.config.account_sid)
        );
        let query = [("PhoneNumber", phone_number.to_string())];
        let (_, body) = self
            .execute(Method::GET, &path, &query, None, Attempts::Configured)
            .await?;
        let page: IncomingPhoneNumberPage = decode(&body, "IncomingPhoneNumber page")?;
        Ok(page
            .incoming_phone_numbers
            .into_iter()
            .find(|n| n.phone_number == phone_number))
    }

    /// Updates a number: `POST …/IncomingPhoneNumbers/{Sid}.json` with `form` (`SmsUrl`,
    /// `SmsMethod`, `VoiceUrl`, `VoiceMethod`, `StatusCallback`, …). One attempt.
    pub async fn update_incoming_number(
        &self,
        sid: &str,
        form: &[(&'static str, String)],
    ) -> Result<IncomingPhoneNumberResource, ProviderError> {
        if sid.trim().is_empty() {
            return Err(ProviderError::InvalidMessage(
                "the phone number SID is empty".into(),
            ));
        }
        let path = format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            path_segment(&self.config.account_sid),
            path_segment(sid)
        );
        let (_, body) = self
            .execute(Method::POST, &path, &[], Some(form), Attempts::One)
            .await?;
        decode(&body, "IncomingPhoneNumber")
    }

    /// Fetches a Messaging Service: `GET {messaging}/v1/Services/{Sid}`.
    pub async fn fetch_messaging_service(
        &self,
        sid: &str,
    ) -> Result<MessagingServiceResource, ProviderError> {
        let path = format!("/v1/Services/{}", path_segment(sid));
        let (_, body) = self
            .execute_at(
                &self.config.messaging_base_url,
                Method::GET,
                &path,
                &[],
                None,
                Attempts::Configured,
            )
            .await?;
        decode(&body, "Messaging Service")
    }

    /// Updates a Messaging Service: `POST {messaging}/v1/Services/{Sid}` with `form`
    /// (`InboundRequestUrl`, `InboundMethod`, …). One attempt.
    pub async fn update_messaging_service(
        &self,
        sid: &str,
        form: &[(&'static str, String)],
    ) -> Result<MessagingServiceResource, ProviderError> {
        let path = format!("/v1/Services/{}", path_segment(sid));
        let (_, body) = self
            .execute_at(
                &self.config.messaging_base_url,
                Method::POST,
                &path,
                &[],
                Some(form),
                Attempts::One,
            )
            .await?;
        decode(&body, "Messaging Service")
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
    async fn execute(
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
    async fn execute_at(
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
fn decode<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ProviderError> {
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
fn path_segment(s: &str) -> String {
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
        assert!(invalid_reason(&CreateMessage {
            to: " ".into(),
            ..valid()
        })
        .contains("To"));
        assert!(invalid_reason(&CreateMessage {
            from: None,
            ..valid()
        })
        .contains("sender"));
        assert!(CreateMessage {
            from: None,
            messaging_service_sid: Some("MG1".into()),
            ..valid()
        }
        .validate()
        .is_ok());
        assert!(invalid_reason(&CreateMessage {
            body: Some(String::new()),
            ..valid()
        })
        .contains("neither"));
        assert!(CreateMessage {
            body: None,
            media_urls: vec!["https://e/x.jpg".into()],
            ..valid()
        }
        .validate()
        .is_ok());
        // 1600 characters (not bytes) is fine; 1601 is not.
        assert!(CreateMessage {
            body: Some("é".repeat(1600)),
            ..valid()
        }
        .validate()
        .is_ok());
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
        assert!(CreateMessage {
            media_urls: vec!["https://e/x.jpg".into(); 10],
            ..valid()
        }
        .validate()
        .is_ok());
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
        assert!(!api_error(
            StatusCode::BAD_REQUEST,
            br#"{"code":21211,"message":"m","status":400}"#,
            None
        )
        .is_opted_out());
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
