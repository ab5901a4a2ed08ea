//! The [`Provider`] trait: how the gateway talks to a telephony provider.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::message::{ErrorInfo, InboundMessage, OutboundMessage, ProviderReceipt, StatusUpdate};
use crate::voice::{
    Call, CallEvent, OutboundCall, VoiceControl, VoiceError, VoiceResponse, VoiceRun,
};

/// Per-send options the gateway passes to the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// Where the provider should POST status callbacks (the gateway's public status URL).
    pub status_callback: Option<String>,
}

impl SendOptions {
    /// Options with a status callback URL.
    pub fn with_status_callback(url: impl Into<String>) -> Self {
        SendOptions {
            status_callback: Some(url.into()),
        }
    }
}

/// What one message may carry with a provider: the gateway checks a send against these
/// before it is queued, and chunks long texts to fit.
///
/// ```
/// use telephony_core::ProviderLimits;
/// let limits = ProviderLimits::new(10, 1600);
/// assert_eq!((limits.max_media(), limits.max_body_chars()), (10, 1600));
/// assert_eq!(ProviderLimits::default(), ProviderLimits::UNLIMITED);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderLimits {
    max_media: usize,
    max_body_chars: usize,
}

impl ProviderLimits {
    /// No limit of the provider's own (test doubles).
    pub const UNLIMITED: ProviderLimits = ProviderLimits {
        max_media: usize::MAX,
        max_body_chars: usize::MAX,
    };

    /// At most `max_media` media URLs and `max_body_chars` characters of text per message.
    pub const fn new(max_media: usize, max_body_chars: usize) -> Self {
        ProviderLimits {
            max_media,
            max_body_chars,
        }
    }

    /// Media URLs per message.
    pub const fn max_media(&self) -> usize {
        self.max_media
    }

    /// Characters of text per message (as [`sms::analyze`](crate::sms::analyze) counts them).
    pub const fn max_body_chars(&self) -> usize {
        self.max_body_chars
    }

    /// Checks one message against these limits before any network call: some text or
    /// media, the text within [`max_body_chars`](Self::max_body_chars) (counted in Unicode
    /// scalar values, as provider APIs count), at most [`max_media`](Self::max_media) media
    /// URLs, none of them empty. Errors are [`ProviderError::InvalidMessage`] naming
    /// `provider` and the limit.
    ///
    /// ```
    /// use telephony_core::ProviderLimits;
    /// let limits = ProviderLimits::new(1, 5);
    /// assert!(limits.check("Acme", "hello", &[]).is_ok());
    /// let e = limits.check("Acme", "hello!", &[]).unwrap_err();
    /// assert_eq!(e.to_string(), "invalid message: the text is 6 characters long; Acme accepts at most 5");
    /// let e = limits.check("Acme", "", &[]).unwrap_err();
    /// assert_eq!(e.to_string(), "invalid message: the message has neither text nor media");
    /// ```
    pub fn check(
        &self,
        provider: &str,
        text: &str,
        media_urls: &[String],
    ) -> Result<(), ProviderError> {
        let invalid = |m: String| Err(ProviderError::InvalidMessage(m));
        let chars = text.chars().count();
        if chars == 0 && media_urls.is_empty() {
            return invalid("the message has neither text nor media".into());
        }
        if chars > self.max_body_chars {
            return invalid(format!(
                "the text is {chars} characters long; {provider} accepts at most {}",
                self.max_body_chars
            ));
        }
        if media_urls.len() > self.max_media {
            return invalid(format!(
                "the message has {} media URLs; {provider} accepts at most {}",
                media_urls.len(),
                self.max_media
            ));
        }
        if let Some(i) = media_urls.iter().position(|u| u.trim().is_empty()) {
            return invalid(format!("media URL #{} is empty", i + 1));
        }
        Ok(())
    }
}

impl Default for ProviderLimits {
    fn default() -> Self {
        ProviderLimits::UNLIMITED
    }
}

/// An HTTP request a provider sent to one of the gateway's webhook routes.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// The full URL the provider requested and signed: public URL + path + raw query string.
    pub url: String,
    /// HTTP method.
    pub method: http::Method,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// Raw body.
    pub body: Bytes,
}

/// Whether to verify the webhook's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify (the default and the only safe choice on a public listener).
    Verify,
    /// Skip verification; only for loopback development setups.
    DangerouslySkip,
}

/// What a webhook told the gateway.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WebhookEvent {
    /// Someone sent us a message.
    Message(InboundMessage),
    /// A message we sent changed status.
    Status(StatusUpdate),
    /// A voice webhook: a call asks what to do, reports gathered input, or changed status.
    /// Answer the ones that ask with [`Provider::render_voice`].
    Call(CallEvent),
    /// A verified event the gateway has no use for (another product's event type): it is
    /// acknowledged and logged, never an error, so the provider does not retry it.
    Other {
        /// The provider's name for the event (e.g. Telnyx `event_type`).
        event_type: String,
        /// The provider's event id, when it has one.
        event_id: Option<String>,
    },
}

/// Why a webhook request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No signature header.
    #[error("missing {0} header")]
    MissingSignature(&'static str),
    /// A signature header is present but not in the provider's format (bad encoding,
    /// wrong length, unparseable timestamp).
    #[error("malformed {header} header: {reason}")]
    MalformedSignature {
        /// The header at fault.
        header: &'static str,
        /// What is wrong with it (never its value).
        reason: String,
    },
    /// The signed timestamp is too far from the gateway's clock: a replay, or a clock
    /// that is off.
    #[error("webhook timestamp {timestamp} is {} s from now ({now}); at most {tolerance_secs} s is accepted", timestamp.abs_diff(*now))]
    StaleTimestamp {
        /// The timestamp the provider signed (Unix seconds).
        timestamp: i64,
        /// The gateway's clock (Unix seconds).
        now: i64,
        /// The accepted distance.
        tolerance_secs: u64,
    },
    /// The signature does not match the configured URL and credentials.
    #[error("invalid webhook signature for {url}")]
    InvalidSignature {
        /// The URL the signature was checked against.
        url: String,
    },
    /// The body is not the content type the provider uses.
    #[error("unsupported content type {got:?}; expected {expected}")]
    UnsupportedMediaType {
        /// The `Content-Type` the request carried (empty when it had none).
        got: String,
        /// The content type the provider sends.
        expected: &'static str,
    },
    /// The body could not be decoded.
    #[error("malformed webhook body: {0}")]
    Malformed(String),
    /// A required parameter was missing or empty.
    #[error("webhook is missing required parameter {0}")]
    MissingField(&'static str),
    /// A parameter had a value we cannot use.
    #[error("webhook parameter {field} has invalid value {value:?}")]
    InvalidField {
        /// The parameter.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// The provider does not receive webhooks of this kind.
    #[error("this provider does not accept webhooks of this kind")]
    Unsupported,
}

impl WebhookError {
    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::MissingSignature(_)
            | WebhookError::MalformedSignature { .. }
            | WebhookError::StaleTimestamp { .. }
            | WebhookError::InvalidSignature { .. } => 403,
            WebhookError::UnsupportedMediaType { .. } => 415,
            WebhookError::Unsupported => 404,
            _ => 400,
        }
    }
}

/// The body and content type to answer a webhook with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// Body.
    pub body: Bytes,
}

/// Errors from sending through a provider.
///
/// Ask it questions rather than matching on text: [`is_retryable`](Self::is_retryable),
/// [`code`](Self::code), [`retry_after`](Self::retry_after).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The provider answered with an error. Build it with [`ProviderError::api`].
    #[error("{provider} rejected the request (HTTP {status}){}: {message}{}", code.map(|c| format!(", error {c}")).unwrap_or_default(), more_info.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    #[non_exhaustive]
    Api {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// Provider error code (Twilio `code`).
        code: Option<i64>,
        /// Provider message.
        message: String,
        /// Documentation link.
        more_info: Option<String>,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
        /// The provider says the recipient opted out of messages from this sender (for
        /// example by replying STOP); see [`ProviderError::is_opted_out`].
        opted_out: bool,
    },
    /// The provider could not be reached, or the request timed out.
    #[error("could not reach {provider} at {url}{}", if *timeout { " (timed out)" } else { "" })]
    Transport {
        /// Provider name.
        provider: &'static str,
        /// The URL requested (never contains credentials).
        url: String,
        /// Whether it was a timeout.
        timeout: bool,
        /// The underlying error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The provider answered with something we could not understand.
    #[error("unexpected response from {provider}: {reason}")]
    Protocol {
        /// Provider name.
        provider: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The message cannot be sent as given (checked before any network call).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The provider is not configured to send (missing credentials or sender).
    #[error("provider not configured: {0}")]
    NotConfigured(String),
    /// The provider does not offer this at all (for example voice on an SMS-only
    /// provider). Build it with [`ProviderError::unsupported`].
    #[error("provider {provider} does not support {feature}")]
    Unsupported {
        /// Provider name.
        provider: &'static str,
        /// What it lacks (`"voice"`).
        feature: &'static str,
    },
}

impl ProviderError {
    /// An error answer from the provider's API: HTTP `status` and the provider's message.
    ///
    /// Add what else the provider said with the `with_*` methods:
    ///
    /// ```
    /// use std::time::Duration;
    /// use telephony_core::ProviderError;
    ///
    /// let e = ProviderError::api("acme", 429, "Too Many Requests")
    ///     .with_code(1429)
    ///     .with_retry_after(Some(Duration::from_secs(2)));
    /// assert!(e.is_retryable());
    /// assert_eq!(e.code(), Some(1429));
    /// assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    /// assert_eq!(e.to_string(), "acme rejected the request (HTTP 429), error 1429: Too Many Requests");
    /// ```
    pub fn api(provider: &'static str, status: u16, message: impl Into<String>) -> Self {
        ProviderError::Api {
            provider,
            status,
            code: None,
            message: message.into(),
            more_info: None,
            retry_after: None,
            opted_out: false,
        }
    }

    /// Sets the provider's error code (API errors only; other kinds are returned unchanged).
    pub fn with_code(mut self, value: impl Into<Option<i64>>) -> Self {
        if let ProviderError::Api { code, .. } = &mut self {
            *code = value.into();
        }
        self
    }

    /// Sets the documentation link for the error (API errors only).
    pub fn with_more_info(mut self, value: Option<String>) -> Self {
        if let ProviderError::Api { more_info, .. } = &mut self {
            *more_info = value;
        }
        self
    }

    /// Sets how long the provider asked us to wait (API errors only).
    pub fn with_retry_after(mut self, value: Option<Duration>) -> Self {
        if let ProviderError::Api { retry_after, .. } = &mut self {
            *retry_after = value;
        }
        self
    }

    /// Marks the error as "the recipient opted out" (API errors only): the provider
    /// decides which of its error codes mean that, the gateway only asks
    /// [`is_opted_out`](Self::is_opted_out).
    pub fn with_opted_out(mut self, value: bool) -> Self {
        if let ProviderError::Api { opted_out, .. } = &mut self {
            *opted_out = value;
        }
        self
    }

    /// The provider could not be reached at `url` (which must not contain credentials).
    pub fn transport(
        provider: &'static str,
        url: impl Into<String>,
        timeout: bool,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        ProviderError::Transport {
            provider,
            url: url.into(),
            timeout,
            source: source.into(),
        }
    }

    /// The provider does not offer `feature` at all.
    ///
    /// ```
    /// use telephony_core::ProviderError;
    /// let e = ProviderError::unsupported("acme", "voice");
    /// assert!(e.is_unsupported() && !e.is_retryable());
    /// assert_eq!(e.to_string(), "provider acme does not support voice");
    /// ```
    pub fn unsupported(provider: &'static str, feature: &'static str) -> Self {
        ProviderError::Unsupported { provider, feature }
    }

    /// True when the provider does not offer what was asked ([`ProviderError::Unsupported`]).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, ProviderError::Unsupported { .. })
    }

    /// The provider answered with something we could not understand.
    pub fn protocol(provider: &'static str, reason: impl Into<String>) -> Self {
        ProviderError::Protocol {
            provider,
            reason: reason.into(),
        }
    }

    /// True when the provider refused because the recipient opted out of messages from
    /// us (Twilio's 21610, Telnyx's 40300, …): the gateway records the opt-out so later
    /// sends fail without a provider call.
    pub fn is_opted_out(&self) -> bool {
        matches!(
            self,
            ProviderError::Api {
                opted_out: true,
                ..
            }
        )
    }

    /// The HTTP status the provider answered with, for API errors.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ProviderError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when trying again later may succeed (HTTP 429, 5xx, network errors).
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Api { status, .. } => *status == 429 || *status >= 500,
            ProviderError::Transport { .. } => true,
            _ => false,
        }
    }

    /// True for a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ProviderError::Transport { timeout: true, .. })
    }

    /// The provider's error code, when it sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ProviderError::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// How long the provider asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error as recorded on a receipt.
    pub fn to_error_info(&self) -> ErrorInfo {
        match self {
            ProviderError::Api {
                code,
                message,
                more_info,
                ..
            } => ErrorInfo {
                code: *code,
                message: message.clone(),
                more_info: more_info.clone(),
            },
            other => ErrorInfo {
                code: None,
                message: error_chain(other),
                more_info: None,
            },
        }
    }
}

/// The error and its sources joined with `: `.
pub fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A telephony provider (Twilio, or a test double).
///
/// Only [`send`](Provider::send) is required; a provider that receives webhooks also
/// implements [`handle_webhook`](Provider::handle_webhook) and
/// [`webhook_ack`](Provider::webhook_ack), and one with voice
/// [`render_voice`](Provider::render_voice), [`place_call`](Provider::place_call),
/// [`hang_up`](Provider::hang_up) and [`fetch_call`](Provider::fetch_call) (their defaults
/// say the provider has no voice). Used by the gateway as `Arc<dyn Provider>`.
///
/// ```
/// use async_trait::async_trait;
/// use telephony_core::{OutboundMessage, Provider, ProviderError, ProviderReceipt, SendOptions, DeliveryStatus};
///
/// #[derive(Debug)]
/// struct Printer;
///
/// #[async_trait]
/// impl Provider for Printer {
///     async fn send(&self, msg: &OutboundMessage, _: &SendOptions) -> Result<ProviderReceipt, ProviderError> {
///         println!("to {}: {}", msg.to, msg.body);
///         Ok(ProviderReceipt { sid: "PR1".into(), status: DeliveryStatus::Sent, from: None,
///             num_segments: Some(1), price: None, price_unit: None })
///     }
/// }
/// ```
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug + 'static {
    /// Sends one message; the provider may split it into segments but returns one receipt.
    async fn send(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError>;

    /// A short name for logs and errors.
    fn name(&self) -> &'static str {
        "provider"
    }

    /// What one message may carry (media URLs, text length). The default is no limit.
    fn limits(&self) -> ProviderLimits {
        ProviderLimits::UNLIMITED
    }

    /// Who `msg` will be sent from, the key of the gateway's per-sender outbound rate limit:
    /// the sender number in E.164 form, or the Messaging Service / messaging profile id
    /// when the provider picks the number from a pool. The default is `None` (the provider
    /// does not say), and the gateway applies no per-sender limit to such sends.
    ///
    /// ```
    /// use telephony_core::{OutboundMessage, Provider, StubProvider};
    /// let msg = OutboundMessage::new("+15550005678".parse()?, "hi");
    /// assert_eq!(StubProvider::new_ok().sender(&msg), None);
    /// # Ok::<(), telephony_core::AddressError>(())
    /// ```
    fn sender(&self, msg: &OutboundMessage) -> Option<String> {
        let _ = msg;
        None
    }

    /// Whether the provider accepted `msg` (same recipient, sender, text and media) at or
    /// after `since`: its receipt as the provider reports it now, or `None` when there is
    /// no such message. The outbox asks this before sending again a message whose earlier
    /// attempt was interrupted (its process died mid-send), and records the found receipt
    /// instead of sending twice.
    ///
    /// A provider that cannot tell answers [`ProviderError::Unsupported`] (the default);
    /// the outbox then sends the message again (at-least-once, as without this method).
    /// Two identical messages to the same recipient in that window cannot be told apart.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use telephony_core::{OutboundMessage, Provider, SendOptions, StubProvider};
    /// let stub = StubProvider::new_ok();
    /// let msg = OutboundMessage::new("+15550005678".parse().unwrap(), "hi");
    /// let since = time::OffsetDateTime::now_utc();
    /// assert_eq!(stub.find_sent(&msg, since).await.unwrap(), None);
    /// let sent = stub.send(&msg, &SendOptions::default()).await.unwrap();
    /// assert_eq!(stub.find_sent(&msg, since).await.unwrap(), Some(sent));
    /// # });
    /// ```
    async fn find_sent(
        &self,
        msg: &OutboundMessage,
        since: time::OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        let _ = (msg, since);
        Err(ProviderError::unsupported(self.name(), "message lookup"))
    }

    /// Verifies (unless told not to) and parses a webhook request.
    fn handle_webhook(
        &self,
        req: &WebhookRequest,
        check: SignatureCheck,
    ) -> Result<WebhookEvent, WebhookError> {
        let _ = (req, check);
        Err(WebhookError::Unsupported)
    }

    /// The body to acknowledge a webhook with.
    fn webhook_ack(&self) -> WebhookResponse {
        WebhookResponse {
            content_type: "text/plain; charset=utf-8",
            body: Bytes::new(),
        }
    }

    /// The answer to a voice webhook, in the provider's own language (TwiML for Twilio),
    /// so the gateway never builds provider markup. The default says this provider has no
    /// voice ([`VoiceError::Unsupported`]).
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// use telephony_core::voice::{VoiceError, VoiceResponse};
    /// let stub = StubProvider::new_ok();
    /// let err = stub.render_voice(&VoiceResponse::new().hangup()).unwrap_err();
    /// assert!(matches!(err, VoiceError::Unsupported { .. }));
    /// ```
    fn render_voice(&self, response: &VoiceResponse) -> Result<WebhookResponse, VoiceError> {
        let _ = response;
        Err(VoiceError::Unsupported {
            provider: self.name(),
        })
    }

    /// How this provider takes a call's instructions: [`VoiceControl::Markup`] (the
    /// default: [`render_voice`](Provider::render_voice) is the webhook's answer) or
    /// [`VoiceControl::Commands`] (the webhook is acknowledged and the rendering is a plan
    /// for [`run_voice`](Provider::run_voice)).
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// use telephony_core::voice::VoiceControl;
    /// assert_eq!(StubProvider::new_ok().voice_control(), VoiceControl::Markup);
    /// ```
    fn voice_control(&self) -> VoiceControl {
        VoiceControl::Markup
    }

    /// A [`VoiceControl::Commands`] provider carries out `plan` (a
    /// [`render_voice`](Provider::render_voice) body, or the plan of a
    /// [`CallEvent::Resume`]) on the live `call`, answering it first when it is a new
    /// inbound call. It returns once the first step's commands were accepted; what is left
    /// comes back as a [`CallEvent::Resume`]. A call that already ended is
    /// [`VoiceRun::CallEnded`], not an error. The default (markup providers) is
    /// [`ProviderError::Unsupported`].
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// use telephony_core::voice::{Call, CallDirection, CallStatus};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let call = Call::new("CA1", "+15550005678", "+15550001234", CallDirection::Inbound, CallStatus::Ringing);
    /// let err = StubProvider::new_ok().run_voice(&call, b"[]").await.unwrap_err();
    /// assert!(err.is_unsupported());
    /// # }
    /// ```
    async fn run_voice(&self, call: &Call, plan: &[u8]) -> Result<VoiceRun, ProviderError> {
        let _ = (call, plan);
        Err(ProviderError::unsupported(self.name(), "voice commands"))
    }

    /// Places an outbound call; returns it as the provider created it (usually
    /// [`CallStatus::Queued`](crate::voice::CallStatus::Queued)). One attempt: a create is
    /// not idempotent, the caller owns retries. Later status changes arrive as
    /// [`CallEvent::Status`] webhooks at `call.status_callback`.
    ///
    /// The default is [`ProviderError::Unsupported`] (`"voice"`):
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// use telephony_core::voice::{CallAnswer, OutboundCall};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let stub = StubProvider::new_ok();
    /// let call = OutboundCall::new("+15550005678", CallAnswer::Url("https://gw.example.com/voice".into()));
    /// let err = stub.place_call(&call).await.unwrap_err();
    /// assert!(err.is_unsupported());
    /// assert_eq!(err.to_string(), "provider stub does not support voice");
    /// assert!(stub.hang_up("CA1").await.unwrap_err().is_unsupported());
    /// assert!(stub.fetch_call("CA1").await.unwrap_err().is_unsupported());
    /// # }
    /// ```
    async fn place_call(&self, call: &OutboundCall) -> Result<Call, ProviderError> {
        let _ = call;
        Err(ProviderError::unsupported(self.name(), "voice"))
    }

    /// The provider's real-time protocols (audio streams, text relays), if it has them.
    /// The default is `None`: the gateway refuses stream and relay sockets for it.
    fn realtime(&self) -> Option<&dyn crate::voice::Realtime> {
        None
    }

    /// The gateway closed a call's audio stream (its handler or application finished)
    /// while the call goes on: the provider is to continue with the call's next
    /// instruction. A markup provider does that when the socket closes (the default does
    /// nothing); a commands provider stops the stream (Telnyx `streaming_stop`), whose end
    /// event resumes the call.
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// assert!(StubProvider::new_ok().stream_closed("CA1", "MZ1").await.is_ok());
    /// # }
    /// ```
    async fn stream_closed(&self, call_id: &str, stream_id: &str) -> Result<(), ProviderError> {
        let _ = (call_id, stream_id);
        Ok(())
    }

    /// Ends a call. A call that has already ended is a success, not an error. The
    /// default is [`ProviderError::Unsupported`].
    async fn hang_up(&self, call_id: &str) -> Result<(), ProviderError> {
        let _ = call_id;
        Err(ProviderError::unsupported(self.name(), "voice"))
    }

    /// The call's current state, from the provider. The default is
    /// [`ProviderError::Unsupported`].
    async fn fetch_call(&self, call_id: &str) -> Result<Call, ProviderError> {
        let _ = call_id;
        Err(ProviderError::unsupported(self.name(), "voice"))
    }

    /// A number's settings at the provider (capabilities, where its messages and calls
    /// go, the messaging service in front of it); `None` when the account has no such
    /// number. The default is [`ProviderError::Unsupported`].
    async fn number_config(
        &self,
        number: &crate::PhoneNumber,
    ) -> Result<Option<crate::numbers::NumberConfig>, ProviderError> {
        let _ = number;
        Err(ProviderError::unsupported(self.name(), "number setup"))
    }

    /// Points `number` (or the messaging service the gateway sends through) at `targets`,
    /// changing only what differs, and returns what changed. A number the account does
    /// not have is an error; nothing else is touched. The default is
    /// [`ProviderError::Unsupported`].
    async fn configure_number(
        &self,
        number: &crate::PhoneNumber,
        targets: &crate::numbers::WebhookTargets,
    ) -> Result<Vec<crate::numbers::SettingChange>, ProviderError> {
        let _ = (number, targets);
        Err(ProviderError::unsupported(self.name(), "number setup"))
    }

    /// Recent inbound messages to `number` that the provider could not deliver to the
    /// webhook, newest first, from the provider's message log (at most the last
    /// `look_back` inbound messages are examined). The default is
    /// [`ProviderError::Unsupported`].
    async fn recent_webhook_failures(
        &self,
        number: &crate::PhoneNumber,
        look_back: u32,
    ) -> Result<Vec<crate::numbers::WebhookFailure>, ProviderError> {
        let _ = (number, look_back);
        Err(ProviderError::unsupported(self.name(), "message log"))
    }

    /// Changes a call in progress from outside its handler: `update` replaces what the
    /// call does (Twilio: `POST …/Calls/{Sid}.json` with `Twiml`; Telnyx: stop what runs,
    /// then run the plan). [`CallUpdate::Say`](crate::voice::CallUpdate::Say) reaches a
    /// provider already turned into a response by the gateway. A call that has ended is
    /// [`VoiceRun::CallEnded`]. The default is [`ProviderError::Unsupported`].
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// use telephony_core::voice::CallUpdate;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = StubProvider::new_ok().update_call("CA1", &CallUpdate::Hangup).await.unwrap_err();
    /// assert_eq!(err.to_string(), "provider stub does not support live call updates");
    /// # }
    /// ```
    async fn update_call(
        &self,
        call_id: &str,
        update: &crate::voice::CallUpdate,
    ) -> Result<VoiceRun, ProviderError> {
        let _ = (call_id, update);
        Err(ProviderError::unsupported(self.name(), "live call updates"))
    }
    /// Replaces what a live, answered call is doing with `response` (Twilio: the call is
    /// updated with the rendered TwiML; Telnyx: what plays or listens is stopped and the
    /// rendered plan runs). Used to leave a message after an answering machine's beep. A
    /// call that already ended is [`VoiceRun::CallEnded`] where the provider can tell. The
    /// default is [`ProviderError::Unsupported`].
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// use telephony_core::voice::VoiceResponse;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = StubProvider::new_ok()
    ///     .replace_call_response("CA1", &VoiceResponse::new().say("Hi").hangup())
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_unsupported());
    /// # }
    /// ```
    async fn replace_call_response(
        &self,
        call_id: &str,
        response: &VoiceResponse,
    ) -> Result<VoiceRun, ProviderError> {
        let _ = (call_id, response);
        Err(ProviderError::unsupported(self.name(), "live call updates"))
    }

    /// Presses keys into a live call out of band (Telnyx `send_dtmf`), for a call whose
    /// audio is streamed. The default is [`ProviderError::Unsupported`]: the gateway then
    /// plays the tones into the stream ([`dtmf_pcm`](crate::voice::dtmf_pcm)).
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// use telephony_core::voice::Digits;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = StubProvider::new_ok().send_digits("CA1", &Digits::parse("1#").unwrap()).await.unwrap_err();
    /// assert!(err.is_unsupported());
    /// # }
    /// ```
    async fn send_digits(
        &self,
        call_id: &str,
        digits: &crate::voice::Digits,
    ) -> Result<(), ProviderError> {
        let _ = (call_id, digits);
        Err(ProviderError::unsupported(self.name(), "out-of-band DTMF"))
    }

    /// A recording's audio, fetched with the provider's credentials (Twilio: basic auth
    /// on the recording's media URL; Telnyx: the recording resource with the API key).
    /// The default is [`ProviderError::Unsupported`].
    ///
    /// ```
    /// use telephony_core::{Provider, StubProvider};
    /// use telephony_core::voice::CallRecording;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rec = CallRecording::new("RE1", "CA1", time::OffsetDateTime::UNIX_EPOCH);
    /// let err = StubProvider::new_ok().fetch_recording(&rec).await.unwrap_err();
    /// assert!(err.is_unsupported());
    /// # }
    /// ```
    async fn fetch_recording(
        &self,
        recording: &crate::voice::CallRecording,
    ) -> Result<crate::voice::RecordingMedia, ProviderError> {
        let _ = recording;
        Err(ProviderError::unsupported(self.name(), "recordings"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_display_and_questions() {
        let e = ProviderError::api(
            "twilio",
            400,
            "The 'To' number 5551234567 is not a valid phone number.",
        )
        .with_code(21211)
        .with_more_info(Some("https://www.twilio.com/docs/errors/21211".into()));
        assert_eq!(
            e.to_string(),
            "twilio rejected the request (HTTP 400), error 21211: The 'To' number 5551234567 is not a valid phone number. (https://www.twilio.com/docs/errors/21211)"
        );
        assert!(!e.is_retryable());
        assert_eq!(e.code(), Some(21211));
        assert!(!e.is_opted_out());
        let r = ProviderError::api("twilio", 429, "Too Many Requests")
            .with_code(20429)
            .with_retry_after(Some(Duration::from_secs(2)));
        assert!(r.is_retryable());
        assert!(!r.is_opted_out());
        assert!(
            ProviderError::api("p", 400, "unsubscribed")
                .with_opted_out(true)
                .is_opted_out()
        );
        assert!(
            !ProviderError::protocol("p", "x")
                .with_opted_out(true)
                .is_opted_out()
        );
        assert_eq!(r.retry_after(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn webhook_error_statuses() {
        assert_eq!(
            WebhookError::MissingSignature("X-Signature").http_status(),
            403
        );
        assert_eq!(
            WebhookError::InvalidSignature { url: "u".into() }.http_status(),
            403
        );
        assert_eq!(
            WebhookError::UnsupportedMediaType {
                got: "application/json".into(),
                expected: "application/x-www-form-urlencoded"
            }
            .http_status(),
            415
        );
        assert_eq!(WebhookError::MissingField("MessageSid").http_status(), 400);
        let stale = WebhookError::StaleTimestamp {
            timestamp: 1_700_000_000,
            now: 1_700_000_301,
            tolerance_secs: 300,
        };
        assert_eq!(stale.http_status(), 403);
        assert_eq!(
            stale.to_string(),
            "webhook timestamp 1700000000 is 301 s from now (1700000301); at most 300 s is accepted"
        );
        assert_eq!(
            WebhookError::MalformedSignature {
                header: "x-sig",
                reason: "not base64".into()
            }
            .http_status(),
            403
        );
    }
}
