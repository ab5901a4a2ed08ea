//! A Telnyx-compatible local server for tests, examples and the gateway's sandbox mode.
//!
//! It speaks the part of the Messaging API v2 the gateway uses, with Telnyx's bearer
//! authentication, error shape and status codes, and it POSTs `message.sent` then
//! `message.finalized` webhooks signed with Ed25519 exactly as Telnyx does, with its own
//! key pair: configure the gateway's `telnyx.publicKey` with
//! [`Simulator::public_key_base64`].
//!
//! | route | answer |
//! |---|---|
//! | `POST /v2/messages` | 200 `{"data": message}` with `to[0].status` `queued`, then signed webhooks |
//! | `GET /v2/phone_numbers?filter[phone_number]=…` | 200 `{"data": [number…]}` (numbers containing the filter) |
//! | `GET /v2/phone_numbers/{id}/messaging` | 200 `{"data": messaging settings}` (profile, SMS/MMS features) |
//! | `GET /v2/messaging_profiles/{id}` | 200 `{"data": profile}` |
//! | `PATCH /v2/messaging_profiles/{id}` | 200 `{"data": profile}` after applying `webhook_url` / `webhook_api_version` |
//! | anything else | 404, code 10005 |
//!
//! Numbers and profiles exist once added with [`Simulator::add_number`] and
//! [`Simulator::add_messaging_profile`]; [`Simulator::profile_updates`] lists the changes.
//!
//! Errors use Telnyx's body, `{"errors":[{"code":"10004","title":"…","detail":"…","source":{"pointer":"/to"}}]}`:
//! wrong or missing bearer key → 401 (10009); not JSON → 415 (10014) or 400 (10023);
//! validation → 422 (10004 missing `to`/sender/`text`, 40310 invalid `to`, 10015 too many
//! media or too long a text). Sending to [`OPTED_OUT_RECIPIENT`] answers 409 with 40300
//! ("Blocked due to STOP message"). Other failures are queued with [`Simulator::inject`].
//!
//! [`InboundSms`] with [`Simulator::signed_inbound`] / [`Simulator::post_inbound`] builds,
//! signs and posts the `message.received` webhook Telnyx would send to a gateway.

mod errors;
mod events;
mod ids;
mod inbound;
mod numbers;
mod server;
mod state;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use telephony_core::{DeliveryStatus, Secret, WebhookRequest};

pub use ids::new_uuid;
pub use inbound::InboundSms;
pub use numbers::{ProfileUpdate, SimNumber};

use state::SimState;
use telephony_telnyx::resources::MessageResource;
use telephony_telnyx::signature::WebhookSigner;

/// A recipient the simulator refuses with Telnyx's 40300 "Blocked due to STOP message"
/// (HTTP 409), as if it had replied STOP. 555-0100 to 555-0199 are the numbers the North
/// American Numbering Plan reserves for fiction, so it never reaches a real phone.
pub const OPTED_OUT_RECIPIENT: &str = "+12025550100";

/// The sender the simulator reports for sends with only a `messaging_profile_id` (the
/// profile's "pool" number).
pub const POOL_SENDER: &str = "+12025550101";

/// Settings of a [`Simulator`]. `Debug` shows the public key, never the API key or the
/// signing key.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The API key accepted as `Authorization: Bearer …`.
    pub api_key: Secret,
    /// The key pair webhooks are signed with.
    pub signer: WebhookSigner,
    /// The messaging profile reported on messages sent without one.
    pub messaging_profile_id: String,
    /// Where webhooks go for sends without a `webhook_url` (none: no webhooks).
    pub default_webhook_url: Option<String>,
    /// Pause before each webhook (default 50 ms).
    pub callback_delay: Duration,
    /// Where sent messages end up (default [`DeliveryStatus::Delivered`]).
    ///
    /// `Delivered`: `message.sent` (`sent`), then `message.finalized` (`delivered`).
    /// `Failed`: `sent`, then `delivery_failed` with error 40008 "Undeliverable".
    /// `Expired`: `sent`, then `expired` with 40005. `Unknown`: `sent`, then
    /// `delivery_unconfirmed`. `Sent`: only `message.sent`. Anything else: no webhook.
    pub final_status: DeliveryStatus,
}

impl SimulatorConfig {
    /// Settings with this API key and signing key, defaults for everything else.
    pub fn new(api_key: impl Into<Secret>, signer: WebhookSigner) -> Self {
        SimulatorConfig {
            api_key: api_key.into(),
            signer,
            messaging_profile_id: new_uuid(),
            default_webhook_url: None,
            callback_delay: Duration::from_millis(50),
            final_status: DeliveryStatus::Delivered,
        }
    }

    /// A random API key (`KEY` + 32 hex digits) and a fresh signing key, for sandbox mode.
    ///
    /// ```
    /// let c = telephony_telnyx_simulator::SimulatorConfig::generate();
    /// assert!(c.api_key.expose().starts_with("KEY"));
    /// assert_eq!(c.public_key_base64().len(), 44);
    /// ```
    pub fn generate() -> Self {
        Self::new(
            format!("KEY{}", new_uuid().replace('-', "").to_uppercase()),
            WebhookSigner::generate(),
        )
    }

    /// The public key (base64) that verifies this simulator's webhooks.
    pub fn public_key_base64(&self) -> String {
        self.signer.public_key_base64()
    }

    /// Sets [`default_webhook_url`](Self::default_webhook_url).
    pub fn with_default_webhook_url(mut self, url: impl Into<String>) -> Self {
        self.default_webhook_url = Some(url.into());
        self
    }

    /// Sets [`callback_delay`](Self::callback_delay).
    pub fn with_callback_delay(mut self, delay: Duration) -> Self {
        self.callback_delay = delay;
        self
    }

    /// Sets [`final_status`](Self::final_status).
    pub fn with_final_status(mut self, status: DeliveryStatus) -> Self {
        self.final_status = status;
        self
    }
}

/// A failure to answer the next sends with instead of creating the message. Queue it with
/// [`Simulator::inject`]; injections are used oldest first, before validation.
///
/// ```
/// use telephony_telnyx_simulator::Injection;
/// let i = Injection::rate_limited(2).times(3);
/// assert_eq!((i.status, i.code, i.retry_after, i.times), (429, 10011, Some(2), 3));
/// assert_eq!(Injection::server_error().status, 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// HTTP status.
    pub status: u16,
    /// Telnyx error code in the body.
    pub code: i64,
    /// Error title.
    pub title: String,
    /// Error detail.
    pub detail: String,
    /// `Retry-After` header value in seconds, if any.
    pub retry_after: Option<u64>,
    /// How many sends it answers (default 1; 0 means none).
    pub times: u32,
}

impl Injection {
    /// An error with this HTTP status, Telnyx code, title and detail, once.
    pub fn error(
        status: u16,
        code: i64,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Injection {
            status,
            code,
            title: title.into(),
            detail: detail.into(),
            retry_after: None,
            times: 1,
        }
    }

    /// 429, code 10011 "Too many requests", with `Retry-After: retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Injection {
            retry_after: Some(retry_after_secs),
            ..Self::error(
                429,
                10011,
                "Too many requests",
                "You have exceeded the maximum number of allowed requests.",
            )
        }
    }

    /// 500, code 10007 "Unexpected error".
    pub fn server_error() -> Self {
        Self::error(
            500,
            10007,
            "Unexpected error",
            "An unexpected error occured.",
        )
    }

    /// Answers `n` sends instead of one.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// A webhook signed for a URL, not yet sent: what the simulator would POST.
#[derive(Debug, Clone)]
pub struct SignedWebhook {
    /// Where it is meant to go.
    pub url: String,
    /// `content-type`, `telnyx-signature-ed25519` and `telnyx-timestamp`.
    pub headers: http::HeaderMap,
    /// The JSON body, exactly as signed.
    pub body: Bytes,
    /// The signed timestamp (Unix seconds).
    pub timestamp: i64,
}

impl SignedWebhook {
    /// The webhook as the gateway would receive it, for
    /// [`Provider::handle_webhook`](telephony_core::Provider::handle_webhook).
    pub fn request(&self) -> WebhookRequest {
        WebhookRequest {
            url: self.url.clone(),
            method: http::Method::POST,
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }
}

/// One webhook the simulator attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// `message.sent`, `message.finalized` or `message.received`.
    pub event_type: String,
    /// The message it is about.
    pub message_id: String,
    /// The status it carried (`to[0].status`).
    pub status: String,
    /// The URL it was POSTed to.
    pub url: String,
    /// The JSON body sent.
    pub body: String,
    /// The `telnyx-signature-ed25519` sent.
    pub signature: String,
    /// The `telnyx-timestamp` sent.
    pub timestamp: i64,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed (connection error, timeout, non-2xx), if it did. Not retried.
    pub error: Option<String>,
}

impl WebhookRecord {
    /// True if the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A Telnyx-compatible server. Cheap to clone (shared state).
///
/// ```
/// use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sim = Simulator::new(SimulatorConfig::generate());
/// let server = sim.serve("127.0.0.1:0".parse()?).await?;
///
/// let resp = reqwest::Client::new()
///     .post(format!("{}/v2/messages", server.url()))
///     .bearer_auth(sim.config().api_key.expose())
///     .json(&serde_json::json!({"from": "+15550002222", "to": "+15550001111", "text": "Hello!"}))
///     .send()
///     .await?;
/// assert_eq!(resp.status(), 200);
///
/// let sent = sim.messages();
/// assert_eq!(sent.len(), 1);
/// assert_eq!(sent[0].to[0].phone_number, "+15550001111");
/// assert_eq!(sent[0].text.as_deref(), Some("Hello!"));
/// // Configure the gateway's telnyx.publicKey with this to verify the simulator's webhooks:
/// let _public_key = sim.public_key_base64();
///
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimulatorConfig,
    state: Mutex<SimState>,
    http: reqwest::Client,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Simulator")
            .field("public_key", &self.public_key_base64())
            .field("messages", &state.messages.len())
            .field("webhooks", &state.webhooks.len())
            .field("pending_injections", &state.injections.len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator with no messages.
    pub fn new(config: SimulatorConfig) -> Self {
        let http = reqwest::Client::builder()
            .user_agent("telnyx-webhooks")
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Simulator {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(SimState::default()),
                http,
            }),
        }
    }

    /// The routes as an axum [`Router`](axum::Router), to mount in another app or drive
    /// with `tower::ServiceExt::oneshot`. Webhooks need a tokio runtime.
    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }

    /// Binds `addr` (`127.0.0.1:0` picks a free port), serves [`router`](Self::router) on
    /// it in a background task, and returns a handle that stops it.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%local_addr, "telnyx simulator: listening");
        Ok(RunningSimulator {
            local_addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The public key (base64) its webhooks verify with: the gateway's `telnyx.publicKey`.
    pub fn public_key_base64(&self) -> String {
        self.inner.config.public_key_base64()
    }

    /// Queues a failure for the next sends (see [`Injection`]).
    pub fn inject(&self, injection: Injection) {
        if injection.times == 0 {
            return;
        }
        self.lock().injections.push_back(injection);
    }

    /// Every message created, oldest first, in its current state.
    pub fn messages(&self) -> Vec<MessageResource> {
        self.lock().messages.clone()
    }

    /// One message by id, in its current state.
    pub fn message(&self, id: &str) -> Option<MessageResource> {
        self.lock().message(id).cloned()
    }

    /// How many `POST /v2/messages` requests arrived, refused ones included.
    pub fn send_requests(&self) -> usize {
        self.lock().requests
    }

    /// Every webhook attempted, in the order they completed.
    pub fn webhooks(&self) -> Vec<WebhookRecord> {
        self.lock().webhooks.clone()
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.inner.config
    }

    /// Signs a webhook `body` for `url` at `timestamp` (Unix seconds) with the
    /// simulator's key, without sending it.
    pub fn sign(&self, url: &str, body: impl Into<Bytes>, timestamp: i64) -> SignedWebhook {
        let body = body.into();
        SignedWebhook {
            url: url.to_string(),
            headers: self.inner.config.signer.headers(timestamp, &body),
            body,
            timestamp,
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        telephony_core::sync::lock(&self.inner.state)
    }
}

/// A [`Simulator`] being served; stops when [`shutdown`](Self::shutdown) is awaited or
/// when dropped.
#[derive(Debug)]
pub struct RunningSimulator {
    local_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningSimulator {
    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash): the gateway's
    /// `telnyx.apiBaseUrl`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits (up to 5 s) for open requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A URL for logs: no userinfo, query or fragment (they may carry credentials).
pub(crate) fn log_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    telephony_core::redact::redact_url(&url[..cut])
}
