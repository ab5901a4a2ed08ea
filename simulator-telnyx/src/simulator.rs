//! The simulator: its settings and state behind one cheap-to-clone handle.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use telephony_telnyx::resources::MessageResource;

use crate::config::{Injection, SimulatorConfig};
use crate::state::SimState;
use crate::webhooks::{SignedWebhook, WebhookRecord};

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
    reroutes: telephony_core::reroute::Reroutes,
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
                reroutes: Default::default(),
            }),
        }
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

    /// Every finished call recording, oldest first (`GET /v2/recordings/{id}` serves it).
    pub fn recordings(&self) -> Vec<crate::RecordingRecord> {
        self.lock().recordings.clone()
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

    /// The HTTP client for webhooks to the application.
    /// From now on, delivers the webhooks it signs for URLs under `public_base` to
    /// `local_origin` instead, still signing the URL as given (Telnyx posts to the URL it
    /// was given; a sandbox's public URL, `https://sms.example.com`, is served by a gateway
    /// on loopback). See [`Reroutes`](telephony_core::reroute::Reroutes).
    ///
    /// ```
    /// use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// sim.deliver_via("https://sms.example.com", "http://127.0.0.1:3335");
    /// ```
    pub fn deliver_via(&self, public_base: &str, local_origin: &str) {
        self.inner.reroutes.add(public_base, local_origin);
    }

    /// Where a webhook signed for `url` is sent (see [`deliver_via`](Self::deliver_via)).
    pub(crate) fn delivery_url(&self, url: &str) -> String {
        self.inner.reroutes.target(url)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The state, locked (recovering from a poisoned lock).
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        telephony_core::sync::lock(&self.inner.state)
    }
}
