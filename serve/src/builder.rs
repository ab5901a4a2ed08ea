//! [`GatewayBuilder`]: the gateway's settings and the application's handlers, then the
//! parts built from them.

use std::sync::Arc;

use telephony_core::sms::ChunkOptions;
use telephony_core::{Address, AllowList, InboundPolicy, Policy, Provider, StandardPolicy, Store};

use crate::dispatch::{Deliver, Dispatch, DispatchSettings};
use crate::gateway::{Gateway, Parts};
use crate::handler::{AppHandler, MessageHandler};
use crate::outbox::{OutboundPolicy, Outbox, OutboxSettings};
use crate::rate_limit::RateLimits;
use crate::security::{Security, SecuritySettings};
use crate::sender_policy::{PairingSettings, PolicyRef, SenderPolicy};
use crate::shared::{Endpoints, Identity, Shared};
use crate::voice::context::{AppVoiceHandler, VoiceHandler};
use crate::voice::live::{RelayHandler, StreamHandler};
use crate::voice::{AnswerCalls, Voice, VoiceHandlers, VoiceSettings};
use crate::worker::forward::{ForwardSettings, Forwarder};
use crate::worker::prune::{PruneSettings, Pruner};

/// Builds a [`Gateway`]; setters consume and return the builder, `build()` cannot fail.
pub struct GatewayBuilder {
    provider: Arc<dyn Provider>,
    store: Arc<dyn Store>,
    handler: Option<Arc<dyn MessageHandler>>,
    voice_handler: Option<Arc<dyn VoiceHandler>>,
    stream_handler: Option<Arc<dyn StreamHandler>>,
    relay_handler: Option<Arc<dyn RelayHandler>>,
    endpoints: Endpoints,
    outbox: OutboxSettings,
    security: SecuritySettings,
    policy: PolicyRef,
    pairing: PairingSettings,
    forward: Option<ForwardSettings>,
    voice: VoiceSettings,
    rate_limits: RateLimits,
    dispatch: DispatchSettings,
    identity: Identity,
    prune: PruneSettings,
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
            endpoints: Endpoints::default(),
            outbox: OutboxSettings::default(),
            security: SecuritySettings::default(),
            policy: PolicyRef::default(),
            pairing: PairingSettings::default(),
            forward: None,
            voice: VoiceSettings::default(),
            rate_limits: RateLimits::default(),
            dispatch: DispatchSettings::default(),
            identity: Identity::default(),
            prune: PruneSettings::default(),
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
        self.endpoints.public_url = Some(without_fragment.trim_end_matches('/').to_string());
        self
    }

    /// Where sends without a recipient go: [`Gateway::send_to_default`] and admin sends
    /// without `to` (`defaultTo` in config).
    pub fn default_to(mut self, to: Address) -> Self {
        self.outbox.default_to = Some(to);
        self
    }

    /// The inbound webhook path (default `/telephony/webhook`).
    pub fn webhook_path(mut self, path: impl Into<String>) -> Self {
        self.endpoints.webhook_path = path.into();
        self
    }

    /// The status callback path (default `/telephony/status`).
    pub fn status_path(mut self, path: impl Into<String>) -> Self {
        self.endpoints.status_path = path.into();
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
        self.security.host_header_fallback = true;
        self
    }

    /// Peers whose `X-Forwarded-*` headers are believed (`webhookSecurity.trustedProxies`):
    /// the client IP limiters key on comes from `X-Forwarded-For` only through them, and
    /// when any are set, forwarded host/proto headers are read only from them.
    pub fn trusted_proxies(mut self, proxies: crate::client_ip::TrustedProxies) -> Self {
        self.security.trusted_proxies = proxies;
        self
    }

    /// Trusts `X-Forwarded-Proto` / `X-Forwarded-Host` for hosts in `allowed_hosts` when no
    /// public URL is set.
    pub fn trust_forwarding_headers(mut self, allowed_hosts: Vec<String>) -> Self {
        self.security.trust_forwarding_headers = true;
        self.security.allowed_hosts = allowed_hosts;
        self
    }

    /// Accepts webhooks without checking the provider's signature. Never on a public listener:
    /// the server runner refuses it unless the bind address is loopback.
    pub fn skip_signature_verification_dangerous(mut self) -> Self {
        self.security.skip_signature_verification = true;
        self
    }

    /// Largest accepted webhook body (default 64 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.security.body_limit = bytes;
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
        self.security.invalid_requests = quota;
        self
    }

    /// Attempts per outbound message on retryable failures (default 8).
    pub fn max_send_attempts(mut self, n: u32) -> Self {
        self.outbox.max_send_attempts = n.max(1);
        self
    }

    /// Handler attempts per inbound message (default 5, at least 1). A handler error or
    /// panic is retried with the gateway's backoff ([`telephony_core::retry::backoff`]:
    /// 1 s, 2 s, 4 s, …) while the sender's later messages wait; after the last attempt
    /// the message is dead-lettered: state `failed`, with the last error and the attempt
    /// count in its note, listed by `telephony inbox --failed` and put back in the queue by
    /// `telephony retry <id>`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use telephony_core::{MemoryStore, StubProvider};
    /// use telephony_serve::Gateway;
    ///
    /// let gateway = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
    ///     .max_dispatch_attempts(3)
    ///     .build();
    /// # let _ = gateway;
    /// ```
    pub fn max_dispatch_attempts(mut self, n: u32) -> Self {
        self.dispatch.max_attempts = n.max(1);
        self
    }

    /// How long a batch of inbound messages claimed by this gateway is reserved for it
    /// (default 60 s, at least 1 s). If the process dies while it holds a batch, another
    /// replica (or this one, restarted) dispatches those messages once the lease has run
    /// out; a handler that is still running when it runs out may see its message
    /// dispatched again elsewhere (dispatch is at least once; the message id is the
    /// stable event id to drop repeats by).
    pub fn dispatch_lease(mut self, lease: std::time::Duration) -> Self {
        self.dispatch.lease = lease.max(std::time::Duration::from_secs(1));
        self
    }

    /// Who may reach the handlers, for messages and calls (default: `pairing` with an
    /// empty allowlist). Check the combination first with [`InboundPolicy::check`] (or
    /// build a [`StandardPolicy`] with [`StandardPolicy::new`] and pass it to
    /// [`policy`](Self::policy)).
    pub fn inbound_policy(mut self, policy: InboundPolicy, allow: AllowList) -> Self {
        self.policy = PolicyRef(Arc::new(StandardPolicy::unchecked(policy, allow)));
        self
    }

    /// A policy of the application's own, for messages and calls alike.
    pub fn policy(mut self, policy: impl Policy) -> Self {
        self.policy = PolicyRef(Arc::new(policy));
        self
    }

    /// Pairing limits and texts.
    pub fn pairing(mut self, pairing: PairingSettings) -> Self {
        self.pairing = pairing;
        self
    }

    /// Outbound limits.
    pub fn outbound_policy(mut self, policy: OutboundPolicy) -> Self {
        self.outbox.policy = policy;
        self
    }

    /// SMS text shaping (chunk mode, maximum length, numbering).
    pub fn chunking(mut self, options: ChunkOptions) -> Self {
        self.outbox.chunking = options;
        self
    }

    /// Forward accepted messages and status changes to a URL, one event per POST or, with
    /// [`ForwardSettings::with_max_batch`], up to that many per POST as a JSON array.
    pub fn forward(mut self, forward: ForwardSettings) -> Self {
        self.forward = Some(forward);
        self
    }

    /// Voice settings (`voice.*`, `maxConcurrentSessions`); voice is off by default, and
    /// on with a [`voice_handler`](Self::voice_handler) whatever `enabled` says here.
    pub fn voice(mut self, voice: VoiceSettings) -> Self {
        self.voice = voice;
        self
    }

    /// The application's handler for calls; turns voice on (`voice.enabled`), whether
    /// [`voice`](Self::voice) is called before or after. Without one, an enabled gateway
    /// runs the default flow (greeting, one speech turn kept in the inbox, closing).
    pub fn voice_handler(mut self, handler: impl VoiceHandler) -> Self {
        self.voice_handler = Some(Arc::new(handler));
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
        self.endpoints.stream_path = path.into();
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
        self.rate_limits = limits;
        self
    }

    /// This replica's id among the processes sharing the store: its heartbeat row in
    /// `telephony status`, the holder of once-per-cluster jobs, the `replica` label of
    /// every metric. Default: [`default_replica_id`](crate::default_replica_id)
    /// (`<host>-<pid>-<4 hex digits>`, one per process). Give every gateway of one process
    /// the same id, and every process its own.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use telephony_core::{MemoryStore, StubProvider};
    /// use telephony_serve::Gateway;
    ///
    /// let gw = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
    ///     .replica_id("gw-a")
    ///     .build();
    /// assert_eq!(gw.replica_id(), "gw-a");
    /// ```
    pub fn replica_id(mut self, id: impl Into<String>) -> Self {
        self.identity.replica = id.into();
        self
    }

    /// The name of the account this gateway serves: the `account` label of its metrics
    /// and what its heartbeat says it serves (default `default`).
    pub fn account_name(mut self, name: impl Into<String>) -> Self {
        self.identity.account = name.into();
        self
    }

    /// How long a claimed outbound message is reserved for the worker that claimed it
    /// (default 2 minutes). A replica that dies mid-send holds its messages this long
    /// before another replica takes them over (and asks the provider whether they went out
    /// before sending them again). One attempt is cut off at three quarters of it and must
    /// start within the last quarter, so every attempt ends inside its lease; leases under
    /// 8 seconds are raised to 8 seconds (the worker holds an entry up to 1.5 s before its
    /// rate-limit slot).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use telephony_core::{MemoryStore, StubProvider};
    /// use telephony_serve::Gateway;
    /// let gw = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
    ///     .send_lease(Duration::from_secs(20))
    ///     .build();
    /// # drop(gw);
    /// ```
    pub fn send_lease(mut self, lease: std::time::Duration) -> Self {
        self.outbox.timing = crate::outbox::Timing::new(lease);
        self
    }

    /// How long the store keeps each kind of record (`store.retention`; default: forever).
    /// With a limit, [`Gateway::spawn_workers`] starts a pruner that deletes older
    /// records once a minute, in small batches, on one replica at a time, and counts them
    /// in `telephony_pruned_total{kind}`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use telephony_core::store::RetentionPolicy;
    /// use telephony_core::{MemoryStore, StubProvider};
    /// use telephony_serve::Gateway;
    ///
    /// let gw = Gateway::builder(Arc::new(StubProvider::new_ok()), Arc::new(MemoryStore::new()))
    ///     .retention(RetentionPolicy::uniform(Duration::from_secs(90 * 86_400)))
    ///     .build();
    /// assert_eq!(gw.retention().describe(), "messages 90d, sends 90d, calls 90d, forwards 90d, pairing 90d");
    /// ```
    pub fn retention(mut self, policy: telephony_core::store::RetentionPolicy) -> Self {
        self.prune.policy = policy;
        self
    }

    /// How often the retention pruner runs (default and at most useful: once a minute;
    /// shorter for tests). No effect without [`retention`](Self::retention).
    pub fn retention_interval(mut self, every: std::time::Duration) -> Self {
        self.prune.every = every.max(std::time::Duration::from_millis(10));
        self
    }

    /// Builds the gateway.
    pub fn build(self) -> Gateway {
        let shared = Arc::new(Shared::new(
            self.provider,
            self.store,
            self.endpoints,
            self.identity,
        ));
        let outbox = Arc::new(Outbox::new(
            shared.clone(),
            self.outbox,
            self.rate_limits.outbound.clone(),
        ));
        let handler = self
            .handler
            .map(|h| Arc::new(AppHandler(h)) as Arc<dyn Deliver<Gateway>>);
        let policy = SenderPolicy::new(self.policy, self.pairing, outbox.clone());
        let forward = Arc::new(Forwarder::new(shared.clone(), self.forward));
        let dispatch = Arc::new(Dispatch::new(
            shared.clone(),
            self.dispatch,
            handler,
            policy,
            forward,
        ));
        let handlers = VoiceHandlers {
            calls: self
                .voice_handler
                .map(|h| Arc::new(AppVoiceHandler(h)) as Arc<dyn AnswerCalls<Gateway>>),
            streams: self.stream_handler,
            relays: self.relay_handler,
        };
        let mut voice = self.voice;
        // A call handler turns voice on, in whatever order the setters were called.
        voice.enabled |= handlers.calls.is_some();
        let voice = Arc::new(Voice::new(shared.clone(), voice, handlers));
        let security = Arc::new(Security::new(
            shared.clone(),
            self.security,
            &self.rate_limits,
        ));
        let pruner = Arc::new(Pruner::new(shared.clone(), self.prune));
        Gateway::from_parts(Parts {
            shared,
            outbox,
            dispatch,
            voice,
            security,
            pruner,
        })
    }
}
