//! The embeddable telephony gateway: provider webhooks in, messages out, nothing
//! acknowledged ever lost.
//!
//! - [`Gateway`]: build one around a [`Provider`](telephony_core::Provider) and a
//!   [`Store`](telephony_core::Store); [`Gateway::router`] is an axum `Router` with the
//!   public routes that you can `merge` into your own app; [`Gateway::admin_router`] is
//!   the admin API; [`Gateway::spawn_workers`] starts the outbox and dispatch workers.
//! - [`MessageHandler`]: your code, called for each accepted inbound message (a closure works).
//! - [`api`]: the camelCase JSON of the admin API and of forwarded events, shared with the CLI.
//!
//! Inside, [`Gateway`] is a facade over parts that each own their state: the outbox (the
//! send path, receipt waiters, the outbound rate limiter), dispatch (your handler, the
//! sender policy and pairing, forwarding), voice (settings, call, stream and relay
//! handlers, real-time sockets) and security (signature checks, proxies, the public
//! listener's limits), around a shared core (provider, store, metrics, URLs). The routes
//! and workers call the parts' methods; no part knows the gateway.
//!
//! This crate depends on `telephony-core` and axum only: bring any provider and any store.
//! The standalone server (configuration → provider + store → gateway → listeners) is the
//! `telephony` crate, whose `telephony::prelude` and `Server::from_env()` are the shortest
//! way to a running gateway; this crate is for embedding the gateway in your own app.
//!
//! ```no_run
//! use std::sync::Arc;
//! use telephony_core::InboundMessage;
//! use telephony_serve::{Gateway, HandlerError, Replier};
//! use telephony_store::SqliteStore;
//! use telephony_twilio::{TwilioConfig, TwilioProvider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let twilio = TwilioConfig::new("AC…", "auth token").from_number("+15550001234".parse()?);
//! let gateway = Gateway::builder(
//!     Arc::new(TwilioProvider::new(twilio)?),
//!     Arc::new(SqliteStore::open("telephony-data/telephony.db").await?),
//! )
//! .public_url("https://sms.example.com")
//! .handler(|msg: InboundMessage, reply: Replier| async move {
//!     reply.send(format!("You said: {}", msg.body)).await?;
//!     Ok::<(), HandlerError>(())
//! })
//! .build();
//! let _workers = gateway.spawn_workers();
//! let app = axum::Router::new().merge(gateway.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3335").await?;
//! // Client addresses reach the routes (the invalid-request limiter keys on them).
//! let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

pub mod api;
mod builder;
pub mod client_ip;
pub mod cluster;
mod dispatch;
mod gateway;
mod handler;
mod handler_error;
pub mod health;
pub mod limits;
pub mod metrics;
#[cfg(feature = "otel")]
pub mod otel;
mod outbox;
pub mod rate_limit;
mod routes;
mod security;
mod sender_policy;
mod shared;
mod timed_provider;
mod trace;
pub mod voice;
mod worker;

pub use builder::GatewayBuilder;
pub use cluster::default_replica_id;
pub use gateway::Gateway;
pub use handler::{MessageHandler, Replier};
pub use handler_error::HandlerError;
pub use outbox::{OutboundPolicy, SendError, Sent};
pub use routes::public::{PROBE_ANSWER, PROBE_HEADER};
pub use sender_policy::{PairingError, PairingSettings};
pub use voice::call_control::CallControlError;
pub use voice::context::{CallContext, VoiceHandler};
pub use voice::live::{
    CallStream, LiveError, MarkPlayed, RelayHandler, RelaySender, RelaySession, StreamHandler,
    StreamSender,
};
pub use voice::marks::MarkOutcome;
pub use voice::recordings::RecordingError;
pub use voice::{CallError, OnMachine, VoiceMode, VoiceSettings};
pub use worker::Workers;
pub use worker::forward::{ForwardSettings, signature as forward_signature};

impl Gateway {
    /// The public routes: `POST {webhook path}`, `POST {status path}`, `GET /health`
    /// (`/health/live`, `/health/ready`: ready when the store answers).
    pub fn router(&self) -> axum::Router {
        routes::public::router(self.clone())
    }

    /// Only this gateway's own public routes (webhook, status, stream and relay paths),
    /// without `GET /health` and the 404 fallback: several gateways (one per account) on one
    /// listener merge their routes and add those once with [`public_router`].
    ///
    /// ```no_run
    /// # fn f(support: telephony_serve::Gateway, alerts: telephony_serve::Gateway) {
    /// let router = telephony_serve::public_router([support.routes(), alerts.routes()]);
    /// # }
    /// ```
    pub fn routes(&self) -> axum::Router {
        routes::public::routes(self.clone())
    }

    /// The admin routes, guarded by `Authorization: Bearer {token}`; serve them on loopback only.
    pub fn admin_router(&self, token: telephony_core::Secret) -> axum::Router {
        routes::admin::router(self.clone(), token)
    }

    /// The SMS bridge's local API (seed 000): `POST /sms/send`, `GET /sms/inbox`,
    /// `GET /health`, answering without a token. Merge it into the admin router of a
    /// loopback listener only, served with `into_make_service_with_connect_info`
    /// (requests without a loopback peer address are refused).
    pub fn bridge_router(&self) -> axum::Router {
        routes::bridge::router(self.clone())
    }
}

/// One public router from several gateways' [`Gateway::routes`] (their paths must differ),
/// with the health routes and the 404 fallback added once. Its `GET /health/ready` checks
/// no store; use [`public_router_with_readiness`] to check theirs.
pub fn public_router(routes: impl IntoIterator<Item = axum::Router>) -> axum::Router {
    public_router_with_readiness(routes, health::Readiness::new())
}

/// [`public_router`] whose `GET /health` and `GET /health/ready` answer 200 only when
/// `readiness` holds (every store answers).
///
/// ```no_run
/// # fn f(support: telephony_serve::Gateway, alerts: telephony_serve::Gateway) {
/// use telephony_serve::health::Readiness;
/// let ready = Readiness::new()
///     .store(Some("support"), support.store().clone())
///     .store(Some("alerts"), alerts.store().clone());
/// let router = telephony_serve::public_router_with_readiness([support.routes(), alerts.routes()], ready);
/// # }
/// ```
pub fn public_router_with_readiness(
    routes: impl IntoIterator<Item = axum::Router>,
    readiness: health::Readiness,
) -> axum::Router {
    let merged = routes
        .into_iter()
        .fold(axum::Router::new(), |acc, r| acc.merge(r));
    routes::public::with_health(merged, readiness)
}
