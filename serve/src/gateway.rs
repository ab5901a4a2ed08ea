//! The [`Gateway`]: state shared by the routes and the workers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony_core::sms::{chunk, flatten_markdown, ChunkError, ChunkOptions};
use telephony_core::{
    Address, AddressError, AllowList, InboundPolicy, MessageId, OutboundMessage, PairingLimits,
    PhoneNumber, Policy, Provider, Receipt, Secret, StandardPolicy, Store, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::{oneshot, Notify};

use crate::handler::MessageHandler;
use crate::voice::live::{RelayHandler, StreamHandler};
use crate::voice::{VoiceHandler, VoiceSettings};

/// Why a send was refused before it reached the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The recipient is not a valid address.
    #[error(transparent)]
    InvalidAddress(#[from] AddressError),
    /// The message itself is not sendable.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The recipient opted out (texted STOP, or the provider refused an earlier send because
    /// they had); no provider call was made.
    #[error(
        "{number} has opted out of messages (replied STOP); they must text START to opt back in"
    )]
    OptedOut {
        /// The recipient.
        number: PhoneNumber,
    },
    /// `outboundPolicy.maxPerDay` is reached.
    #[error("daily send limit reached: {sent} of outboundPolicy.maxPerDay {max} messages sent since {day_start} UTC; sending resumes at {resets_at}")]
    DailyLimit {
        /// Messages already accepted today.
        sent: usize,
        /// The limit.
        max: u32,
        /// Start of the current UTC day.
        day_start: String,
        /// When the next UTC day starts.
        resets_at: String,
    },
    /// The text cannot be shaped into SMS messages (e.g. too long for `single` mode).
    #[error("cannot send this text: {0}")]
    Shaping(#[from] ChunkError),
    /// The store failed; nothing was queued.
    #[error("could not queue the message")]
    Store(#[from] StoreError),
}

impl SendError {
    /// True when the caller's input was at fault (HTTP 400), false for server-side failures.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, SendError::Store(_))
    }
}

/// The result of a send: one receipt per SMS message (long texts are chunked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    /// Receipts, in sending order.
    pub receipts: Vec<Receipt>,
    /// True when the send waits for `telephony contacts approve` (first contact).
    pub held: bool,
}

/// Pairing settings: limits and texts.
#[derive(Debug, Clone)]
pub struct PairingSettings {
    /// Code lifetime, pending cap, hourly cap.
    pub limits: PairingLimits,
    /// Text sent on approval; empty for none.
    pub approved_message: String,
}

impl Default for PairingSettings {
    fn default() -> Self {
        PairingSettings {
            limits: PairingLimits::default(),
            approved_message: "You're approved: you can now text this number.".into(),
        }
    }
}

/// Outbound limits (`outboundPolicy`).
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Hold the first send to a number that never texted us until it is approved.
    pub require_approval_for_new_contacts: bool,
    /// Messages per UTC day.
    pub max_per_day: Option<u32>,
}

/// Where to forward events (`forward`).
#[derive(Debug, Clone)]
pub struct ForwardSettings {
    /// Receiver URL.
    pub url: String,
    /// HMAC-SHA256 key; without it no signature header is sent.
    pub secret: Option<Secret>,
}

pub(crate) struct Inner {
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) handler: Option<Arc<dyn MessageHandler>>,
    pub(crate) voice_handler: Option<Arc<dyn VoiceHandler>>,
    /// Woken when a late voice answer is kept, for the hold redirects waiting on it.
    pub(crate) voice_late: Notify,
    pub(crate) stream_handler: Option<Arc<dyn StreamHandler>>,
    pub(crate) relay_handler: Option<Arc<dyn RelayHandler>>,
    /// Unauthenticated real-time sockets per client address.
    pub(crate) ws_pending: crate::routes::stream::PendingUpgrades,
    pub(crate) settings: Settings,
    pub(crate) outbox_wake: Notify,
    pub(crate) inbox_wake: Notify,
    pub(crate) waiters: Mutex<HashMap<MessageId, Vec<oneshot::Sender<Receipt>>>>,
    /// Set by the server runner once the public listener is bound (status callback fallback).
    pub(crate) local_base_url: Mutex<Option<String>>,
    /// Serializes the daily-cap check with the enqueue, so the cap is exact.
    pub(crate) send_lock: tokio::sync::Mutex<()>,
    pub(crate) forward_wake: Notify,
    /// Pairing drops since the last warning, and when that was (unix seconds): a flood of
    /// strangers gets one warning a minute, not one per message.
    pub(crate) pairing_drops: std::sync::atomic::AtomicU64,
    pub(crate) pairing_warned_at: std::sync::atomic::AtomicI64,
    /// This gateway's counters (`GET /metrics`).
    pub(crate) metrics: crate::metrics::Metrics,
    /// Invalid webhook requests per client IP (`rateLimits.invalidRequests`); `None` when off.
    pub(crate) invalid_requests: Option<crate::limits::InvalidRequestLimiter>,
    /// Outbound, inbound-per-sender and status-callback rate limiters.
    pub(crate) limiters: crate::rate_limit::Limiters,
}

/// The sender policy, shared (Debug prints its name).
#[derive(Clone)]
pub(crate) struct PolicyRef(pub(crate) Arc<dyn Policy>);

impl fmt::Debug for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// Settings the routes and workers need (resolved from config or set on the builder).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) public_url: Option<String>,
    pub(crate) webhook_path: String,
    pub(crate) status_path: String,
    pub(crate) stream_path: String,
    pub(crate) skip_signature_verification: bool,
    pub(crate) host_header_fallback: bool,
    pub(crate) trust_forwarding_headers: bool,
    pub(crate) allowed_hosts: Vec<String>,
    /// Peers whose forwarding headers are believed (`webhookSecurity.trustedProxies`).
    pub(crate) trusted_proxies: crate::client_ip::TrustedProxies,
    pub(crate) body_limit: usize,
    /// Invalid webhook requests per client IP before 429s (`None`: no limit).
    pub(crate) invalid_requests: Option<crate::limits::Quota>,
    pub(crate) max_send_attempts: u32,
    pub(crate) outbox_concurrency: usize,
    pub(crate) policy: PolicyRef,
    pub(crate) pairing: PairingSettings,
    pub(crate) outbound: OutboundPolicy,
    pub(crate) chunking: ChunkOptions,
    pub(crate) forward: Option<ForwardSettings>,
    pub(crate) voice: VoiceSettings,
    pub(crate) rate_limits: crate::rate_limit::RateLimits,
    /// Where sends without a recipient go (`defaultTo`).
    pub(crate) default_to: Option<Address>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: None,
            webhook_path: "/telephony/webhook".into(),
            status_path: "/telephony/status".into(),
            stream_path: "/telephony/stream".into(),
            skip_signature_verification: false,
            host_header_fallback: false,
            trust_forwarding_headers: false,
            allowed_hosts: Vec::new(),
            trusted_proxies: crate::client_ip::TrustedProxies::default(),
            body_limit: 64 * 1024,
            invalid_requests: Some(crate::limits::DEFAULT_INVALID_REQUESTS),
            max_send_attempts: 8,
            outbox_concurrency: 8,
            policy: PolicyRef(Arc::new(StandardPolicy::default())),
            pairing: PairingSettings::default(),
            outbound: OutboundPolicy::default(),
            chunking: ChunkOptions::default(),
            forward: None,
            voice: VoiceSettings::default(),
            rate_limits: crate::rate_limit::RateLimits::default(),
            default_to: None,
        }
    }
}

/// The telephony gateway: webhook routes, admin routes, durable inbox and outbox.
///
/// Cheap to clone. Build one with [`Gateway::builder`], mount [`router`](Gateway::router)
/// in an axum app (or run the standalone server, crate `telephony-server`), and start the workers with
/// [`spawn_workers`](Gateway::spawn_workers).
///
/// ```
/// use std::sync::Arc;
/// use telephony_core::{MemoryStore, StubProvider, InboundMessage};
/// use telephony_serve::{Gateway, HandlerError, Replier};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let gateway = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
///     .public_url("https://sms.example.com")
///     .handler(|msg: InboundMessage, reply: Replier| async move {
///         reply.send(format!("echo: {}", msg.body)).await?;
///         Ok::<(), HandlerError>(())
///     })
///     .build();
/// let app = axum::Router::new().merge(gateway.router());
/// let sent = gateway.send("+15550005678", "hello").await.unwrap();
/// assert_eq!(sent.receipts[0].status.as_str(), "pending");
/// # let _ = app;
/// # });
/// ```
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("provider", &self.inner.provider.name())
            .field("public_url", &self.inner.settings.public_url)
            .field("webhook_path", &self.inner.settings.webhook_path)
            .field("status_path", &self.inner.settings.status_path)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Gateway`]; setters consume and return the builder, `build()` cannot fail.
pub struct GatewayBuilder {
    provider: Arc<dyn Provider>,
    store: Arc<dyn Store>,
    handler: Option<Arc<dyn MessageHandler>>,
    voice_handler: Option<Arc<dyn VoiceHandler>>,
    stream_handler: Option<Arc<dyn StreamHandler>>,
    relay_handler: Option<Arc<dyn RelayHandler>>,
    settings: Settings,
}

impl Gateway {
    /// Starts building a gateway around a provider and a store.
    pub fn builder(provider: Arc<dyn Provider>, store: Arc<dyn Store>) -> GatewayBuilder {
        GatewayBuilder {
            provider,
            store,
            handler: None,
            voice_handler: None,
            stream_handler: None,
            relay_handler: None,
            settings: Settings::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.inner.provider
    }

    /// The configured public base URL, if any.
    pub fn public_url(&self) -> Option<&str> {
        self.inner.settings.public_url.as_deref()
    }

    /// The webhook path.
    pub fn webhook_path(&self) -> &str {
        &self.inner.settings.webhook_path
    }

    /// The status callback path.
    pub fn status_path(&self) -> &str {
        &self.inner.settings.status_path
    }

    /// Records the base URL the public listener is reachable at locally (used for status
    /// callbacks when no public URL is configured and the bind is loopback).
    pub fn set_local_base_url(&self, url: impl Into<String>) {
        *telephony_core::sync::lock(&self.inner.local_base_url) = Some(url.into());
    }

    /// The URL the provider should send status callbacks to, if one is known.
    pub fn status_callback_url(&self) -> Option<String> {
        Some(format!(
            "{}{}",
            self.base_url()?,
            self.inner.settings.status_path
        ))
    }

    /// Where the provider reaches the gateway: the public URL, or the local listener's
    /// when there is none.
    pub(crate) fn base_url(&self) -> Option<String> {
        self.inner
            .settings
            .public_url
            .clone()
            .or_else(|| telephony_core::sync::lock(&self.inner.local_base_url).clone())
    }

    /// Queues a text message to `to` (`+1555…`, `sms:+1…`, `whatsapp:+1…`, …).
    ///
    /// Markdown is flattened and long texts are chunked (`sms.*`); each chunk is one SMS
    /// with its own receipt.
    pub async fn send(&self, to: &str, text: impl Into<String>) -> Result<Sent, SendError> {
        let to = Address::parse(to)?;
        self.send_message(OutboundMessage::new(to, text)).await
    }

    /// The recipient of sends that name none ([`GatewayBuilder::default_to`]).
    pub fn default_to(&self) -> Option<&Address> {
        self.inner.settings.default_to.as_ref()
    }

    /// Queues a text message to the configured default recipient (`defaultTo`), through
    /// the same policy as [`send`](Self::send); an error when none is configured.
    pub async fn send_to_default(&self, text: impl Into<String>) -> Result<Sent, SendError> {
        let to = self.default_to().cloned().ok_or_else(|| {
            SendError::InvalidMessage("no recipient given and no defaultTo is configured".into())
        })?;
        self.send_message(OutboundMessage::new(to, text)).await
    }

    /// Queues a message in the durable outbox; the outbox worker sends it.
    ///
    /// In order: opted-out recipients are refused (no provider call); markdown is
    /// flattened and the text chunked; `outboundPolicy.maxPerDay` is enforced; a first
    /// contact is held when `outboundPolicy.requireApprovalForNewContacts` is on.
    /// Returns `pending` receipts; follow them with [`receipt`](Self::receipt).
    pub async fn send_message(&self, msg: OutboundMessage) -> Result<Sent, SendError> {
        let limits = self.inner.provider.limits();
        if msg.media_urls.len() > limits.max_media() {
            return Err(SendError::InvalidMessage(format!(
                "{} media URLs; {} accepts at most {} per message",
                msg.media_urls.len(),
                self.inner.provider.name(),
                limits.max_media()
            )));
        }
        for url in &msg.media_urls {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(SendError::InvalidMessage(format!(
                    "media URL {url:?} must start with https:// or http://"
                )));
            }
        }
        let store = &self.inner.store;
        let number = msg.to.number().clone();
        if store.is_opted_out(&number).await? {
            return Err(SendError::OptedOut { number });
        }
        let text = flatten_markdown(&msg.body);
        // The configured length, within what the provider accepts in one message.
        let mut shaping = self.inner.settings.chunking.clone();
        shaping.max_length = shaping.max_length.min(limits.max_body_chars());
        let mut bodies = chunk(&text, &shaping)?;
        if bodies.is_empty() {
            if msg.media_urls.is_empty() {
                return Err(SendError::InvalidMessage(
                    "body is empty and there is no media".into(),
                ));
            }
            bodies.push(String::new());
        }
        let held = self
            .inner
            .settings
            .outbound
            .require_approval_for_new_contacts
            && !store.is_known_contact(&number).await?;
        // Held under the lock so concurrent sends cannot overshoot the daily cap.
        let _guard = self.inner.send_lock.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(max) = self.inner.settings.outbound.max_per_day {
            let day_start = now.replace_time(time::Time::MIDNIGHT);
            let sent = store.count_outbound_since(day_start).await?;
            if sent + bodies.len() > max as usize {
                let fmt = telephony_core::rfc3339::format;
                return Err(SendError::DailyLimit {
                    sent,
                    max,
                    day_start: fmt(day_start),
                    resets_at: fmt(day_start + time::Duration::days(1)),
                });
            }
        }
        let mut receipts = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.into_iter().enumerate() {
            let part = OutboundMessage {
                to: msg.to.clone(),
                body,
                // Media travels with the first message only.
                media_urls: if i == 0 {
                    msg.media_urls.clone()
                } else {
                    Vec::new()
                },
            };
            let id = MessageId::generate();
            let receipt = if held {
                store.enqueue_outbound_held(&id, &part, now).await?
            } else {
                store.enqueue_outbound(&id, &part, now).await?
            };
            tracing::info!(message_id = %id, to = %number.redacted(), chars = part.body.chars().count(), held, "queued outbound message");
            receipts.push(receipt);
        }
        if !held {
            self.inner.outbox_wake.notify_one();
        }
        Ok(Sent { receipts, held })
    }

    /// A receipt by id.
    pub async fn receipt(&self, id: &MessageId) -> Result<Option<Receipt>, StoreError> {
        self.inner.store.receipt(id).await
    }

    /// Waits until the outbox worker has made its first attempt at `id` (or `timeout` passes),
    /// and returns the receipt as it stands.
    pub async fn wait_first_attempt(
        &self,
        id: &MessageId,
        timeout: Duration,
    ) -> Result<Option<Receipt>, StoreError> {
        let (tx, rx) = oneshot::channel();
        telephony_core::sync::lock(&self.inner.waiters)
            .entry(id.clone())
            .or_default()
            .push(tx);
        // The attempt may have finished before we registered.
        if let Some(r) = self.inner.store.receipt(id).await? {
            if r.attempts > 0 && r.status != telephony_core::DeliveryStatus::Pending
                || r.error.is_some()
            {
                telephony_core::sync::lock(&self.inner.waiters).remove(id);
                return Ok(Some(r));
            }
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => Ok(Some(r)),
            _ => {
                telephony_core::sync::lock(&self.inner.waiters).remove(id);
                self.inner.store.receipt(id).await
            }
        }
    }

    pub(crate) fn notify_waiters(&self, receipt: &Receipt) {
        let waiters = telephony_core::sync::lock(&self.inner.waiters).remove(&receipt.id);
        for w in waiters.into_iter().flatten() {
            // The waiter may have timed out and gone; that is fine.
            let _ = w.send(receipt.clone());
        }
    }
}

impl GatewayBuilder {
    /// The public base URL the provider requests (scheme, optional `user:pass@`, host,
    /// optional port, optional path prefix); webhook signatures are checked against it
    /// plus the route path and query, byte for byte (the host's case, the userinfo and the
    /// port are kept: Twilio signs them as configured).
    ///
    /// A `#fragment` is dropped (it is never sent in a request, so never signed), then a
    /// trailing `/`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use telephony_core::{MemoryStore, StubProvider};
    /// use telephony_serve::Gateway;
    ///
    /// let gw = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
    ///     .public_url("https://user:pw@Gw.example.com:8443/#console")
    ///     .build();
    /// assert_eq!(gw.public_url(), Some("https://user:pw@Gw.example.com:8443"));
    /// ```
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        let without_fragment = url.split_once('#').map_or(url.as_str(), |(u, _)| u);
        self.settings.public_url = Some(without_fragment.trim_end_matches('/').to_string());
        self
    }

    /// Where sends without a recipient go: [`Gateway::send_to_default`] and admin sends
    /// without `to` (`defaultTo` in config).
    pub fn default_to(mut self, to: Address) -> Self {
        self.settings.default_to = Some(to);
        self
    }

    /// The inbound webhook path (default `/telephony/webhook`).
    pub fn webhook_path(mut self, path: impl Into<String>) -> Self {
        self.settings.webhook_path = path.into();
        self
    }

    /// The status callback path (default `/telephony/status`).
    pub fn status_path(mut self, path: impl Into<String>) -> Self {
        self.settings.status_path = path.into();
        self
    }

    /// The application's handler for accepted inbound messages.
    pub fn handler(mut self, handler: impl MessageHandler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// The application's handler, already shared.
    pub fn handler_arc(mut self, handler: Arc<dyn MessageHandler>) -> Self {
        self.handler = Some(handler);
        self
    }

    /// Without a public URL, reconstruct the signed URL from the request's `Host` header.
    /// Only safe when the listener is reachable on loopback alone; the server runner sets it
    /// for loopback binds.
    pub fn host_header_fallback_dangerous(mut self) -> Self {
        self.settings.host_header_fallback = true;
        self
    }

    /// Peers whose `X-Forwarded-*` headers are believed (`webhookSecurity.trustedProxies`):
    /// the client IP limiters key on comes from `X-Forwarded-For` only through them, and
    /// when any are set, forwarded host/proto headers are read only from them.
    pub fn trusted_proxies(mut self, proxies: crate::client_ip::TrustedProxies) -> Self {
        self.settings.trusted_proxies = proxies;
        self
    }

    /// Trusts `X-Forwarded-Proto` / `X-Forwarded-Host` for hosts in `allowed_hosts` when no
    /// public URL is set.
    pub fn trust_forwarding_headers(mut self, allowed_hosts: Vec<String>) -> Self {
        self.settings.trust_forwarding_headers = true;
        self.settings.allowed_hosts = allowed_hosts;
        self
    }

    /// Accepts webhooks without checking the provider's signature. Never on a public listener:
    /// the server runner refuses it unless the bind address is loopback.
    pub fn skip_signature_verification_dangerous(mut self) -> Self {
        self.settings.skip_signature_verification = true;
        self
    }

    /// Largest accepted webhook body (default 64 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.settings.body_limit = bytes;
        self
    }

    /// Invalid webhook requests (answered 4xx: bad or missing signature, malformed,
    /// oversized) each client IP may make before the next ones are answered 429 (default
    /// [`DEFAULT_INVALID_REQUESTS`](crate::limits::DEFAULT_INVALID_REQUESTS): 60 a minute,
    /// bursts of 30); `None` turns the limit off. Valid requests are never counted nor
    /// refused; see [`limits`](crate::limits).
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::sync::Arc;
    /// use telephony_core::{MemoryStore, StubProvider};
    /// use telephony_serve::{limits::Quota, Gateway};
    ///
    /// let gateway = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
    ///     .invalid_request_limit(Some(Quota::per_second(NonZeroU32::new(2).unwrap())))
    ///     .build();
    /// # let _ = gateway;
    /// ```
    pub fn invalid_request_limit(mut self, quota: Option<crate::limits::Quota>) -> Self {
        self.settings.invalid_requests = quota;
        self
    }

    /// Attempts per outbound message on retryable failures (default 8).
    pub fn max_send_attempts(mut self, n: u32) -> Self {
        self.settings.max_send_attempts = n.max(1);
        self
    }

    /// Who may reach the handlers, for messages and calls (default: `pairing` with an
    /// empty allowlist). Check the combination first with [`InboundPolicy::check`] (or
    /// build a [`StandardPolicy`] with [`StandardPolicy::new`] and pass it to
    /// [`policy`](Self::policy)).
    pub fn inbound_policy(mut self, policy: InboundPolicy, allow: AllowList) -> Self {
        self.settings.policy = PolicyRef(Arc::new(StandardPolicy::unchecked(policy, allow)));
        self
    }

    /// A policy of the application's own, for messages and calls alike.
    pub fn policy(mut self, policy: impl Policy) -> Self {
        self.settings.policy = PolicyRef(Arc::new(policy));
        self
    }

    /// Pairing limits and texts.
    pub fn pairing(mut self, pairing: PairingSettings) -> Self {
        self.settings.pairing = pairing;
        self
    }

    /// Outbound limits.
    pub fn outbound_policy(mut self, policy: OutboundPolicy) -> Self {
        self.settings.outbound = policy;
        self
    }

    /// SMS text shaping (chunk mode, maximum length, numbering).
    pub fn chunking(mut self, options: ChunkOptions) -> Self {
        self.settings.chunking = options;
        self
    }

    /// Forward accepted messages and status changes to a URL.
    pub fn forward(mut self, forward: ForwardSettings) -> Self {
        self.settings.forward = Some(forward);
        self
    }

    /// Voice settings (`voice.*`, `maxConcurrentSessions`); voice is off by default.
    pub fn voice(mut self, voice: VoiceSettings) -> Self {
        self.settings.voice = voice;
        self
    }

    /// The application's handler for calls; turns voice on (`voice.enabled`). Without
    /// one, an enabled gateway runs the default flow (greeting, one speech turn kept in the
    /// inbox, closing).
    pub fn voice_handler(mut self, handler: impl VoiceHandler) -> Self {
        self.voice_handler = Some(Arc::new(handler));
        self.settings.voice.enabled = true;
        self
    }

    /// The application's handler for calls answered with a stream
    /// ([`StreamVerb`](telephony_core::voice::StreamVerb)): it gets the call's audio and
    /// sends its own.
    pub fn stream_handler(mut self, handler: impl StreamHandler) -> Self {
        self.stream_handler = Some(Arc::new(handler));
        self
    }

    /// The application's handler for calls answered with a relay
    /// ([`RelayVerb`](telephony_core::voice::RelayVerb)): it gets the caller's words and
    /// answers with text.
    pub fn relay_handler(mut self, handler: impl RelayHandler) -> Self {
        self.relay_handler = Some(Arc::new(handler));
        self
    }

    /// The real-time WebSocket path (default `/telephony/stream`; relays use
    /// `{path}/relay`).
    pub fn stream_path(mut self, path: impl Into<String>) -> Self {
        self.settings.stream_path = path.into();
        self
    }

    /// Rate limits (`rateLimits.*`): per-sender outbound rates (by default by number kind:
    /// long code 1/s, toll-free 3/s, short code 100/s), inbound messages per sender and
    /// status callbacks. The limiters live in this process's memory.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use telephony_core::{MemoryStore, StubProvider};
    /// use telephony_serve::rate_limit::{OutboundLimits, Rate, RateLimits};
    /// use telephony_serve::Gateway;
    ///
    /// let limits = RateLimits {
    ///     outbound: OutboundLimits::default().per_sender("+15550001234", Rate::per_second(2.0)?),
    ///     inbound_per_sender: Rate::per_minute(5.0)?.with_burst(5)?,
    ///     ..RateLimits::default()
    /// };
    /// let gateway = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
    ///     .rate_limits(limits)
    ///     .build();
    /// # let _ = gateway;
    /// # Ok::<(), telephony_serve::rate_limit::RateError>(())
    /// ```
    pub fn rate_limits(mut self, limits: crate::rate_limit::RateLimits) -> Self {
        self.settings.rate_limits = limits;
        self
    }

    /// Builds the gateway.
    pub fn build(self) -> Gateway {
        let invalid_requests = self
            .settings
            .invalid_requests
            .map(crate::limits::InvalidRequestLimiter::new);
        let limiters = crate::rate_limit::Limiters::new(self.settings.rate_limits.clone());
        Gateway {
            inner: Arc::new(Inner {
                provider: self.provider,
                store: self.store,
                handler: self.handler,
                voice_handler: self.voice_handler,
                voice_late: Notify::new(),
                stream_handler: self.stream_handler,
                relay_handler: self.relay_handler,
                ws_pending: Default::default(),
                settings: self.settings,
                outbox_wake: Notify::new(),
                inbox_wake: Notify::new(),
                waiters: Mutex::new(HashMap::new()),
                local_base_url: Mutex::new(None),
                send_lock: tokio::sync::Mutex::new(()),
                forward_wake: Notify::new(),
                pairing_drops: std::sync::atomic::AtomicU64::new(0),
                pairing_warned_at: std::sync::atomic::AtomicI64::new(i64::MIN),
                metrics: crate::metrics::Metrics::new(),
                invalid_requests,
                limiters,
            }),
        }
    }
}
