//! A Twilio-compatible local server (feature `simulator`) for tests, examples and the
//! gateway's `--sandbox` mode.
//!
//! It speaks the part of Twilio's 2010-04-01 REST API the gateway uses, with Twilio's
//! authentication, validation errors (real codes and messages), magic test numbers and
//! response shapes, and it POSTs status callbacks signed with `X-Twilio-Signature` just as
//! Twilio does. Routes, all under `/2010-04-01/Accounts/{AccountSid}`:
//!
//! | route | answer |
//! |---|---|
//! | `POST /Messages.json` | 201 [`MessageResource`], then status callbacks `queued` → `sent` → final |
//! | `GET /Messages/{Sid}.json` | 200 [`MessageResource`] or 404 (20404) |
//! | `GET /Messages.json?To=&From=&PageSize=&Page=` | 200 [`MessagePage`](crate::resources::MessagePage), newest first |
//! | `POST /Calls.json` | 201 [`CallResource`] (`CA…`, `queued`), then status callbacks `initiated` → `ringing` → `answered` (`in-progress`) |
//! | `POST /Calls/{Sid}.json` `Status=completed` | 200, the call ends (`completed`; `canceled` before answer) and the `completed` callback is sent; 404 (20404) if it already ended |
//! | `GET /Calls/{Sid}.json` | 200 [`CallResource`] (an ended call too) or 404 (20404) |
//! | `GET /2010-04-01/Accounts/{AccountSid}.json` | 200 the account (never its auth token) |
//! | anything else | 404 (20404) |
//!
//! Every route needs HTTP basic auth (`AccountSid:AuthToken` or an `SK…:secret` API key),
//! else 401 (20003). Errors use Twilio's body:
//! `{"code":21211,"message":"…","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`.
//!
//! Recipient test numbers (as with Twilio test credentials): `+15005550001` → 21211,
//! `+15005550002` → 21612, `+15005550004` → 21610, `+15005550009` → 21614. Other failures
//! can be queued with [`Simulator::inject`].
//!
//! [`InboundSms`] builds and signs the inbound-SMS webhook Twilio would send to a gateway.

mod callbacks;
mod calls;
mod errors;
mod inbound;
mod segments;
mod server;
mod state;
mod verbs;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use telephony_core::{DeliveryStatus, Secret};
use time::OffsetDateTime;

pub use inbound::{new_message_sid, InboundSms};
pub use verbs::{parse_twiml, DialVerb, GatherVerb, PlayVerb, RecordVerb, SayVerb, TwimlVerb};

use crate::resources::{CallResource, MessageResource};
use state::SimState;

/// The sender a Messaging Service "picks" for messages created without `From`: Twilio's
/// magic valid test number. It appears in the stored message and the status callbacks
/// once the message leaves `accepted`.
pub const MESSAGING_SERVICE_SENDER: &str = "+15005550006";

/// Settings of a [`Simulator`].
///
/// `Debug` shows the account SID and key SIDs, never the token or key secrets.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The account (`AC…`) the simulator serves; requests for another one get 401/404.
    pub account_sid: String,
    /// The Auth Token: accepted for basic auth and used to sign status callbacks.
    pub auth_token: Secret,
    /// API keys accepted for basic auth, as (`SK…`, secret).
    pub api_keys: Vec<(String, Secret)>,
    /// Pause before each status callback (default 50 ms).
    pub callback_delay: Duration,
    /// Where created messages end up (default [`DeliveryStatus::Delivered`]).
    ///
    /// `Delivered`: `queued`, `sent`, `delivered`. `Undelivered`: `queued`, `sent`,
    /// `undelivered` with `ErrorCode` 30006. `Failed`: `queued`, `failed` with 30008.
    /// `Read`: `queued`, `sent`, `delivered`, `read`. `PartiallyDelivered`, `Sent`,
    /// `Sending`: `queued`, `sent`/`sending`, then that status. `Canceled`: `canceled`.
    /// Anything else: `queued` only.
    pub final_status: DeliveryStatus,
    /// When set, a simulated call hangs up by itself `callback_delay` after it is
    /// answered and reports this many seconds as its `CallDuration`; when `None` (the
    /// default) it stays `in-progress` until hung up through the API.
    pub call_duration_secs: Option<u64>,
}

impl SimulatorConfig {
    /// Settings for an account with defaults for everything else.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<Secret>) -> Self {
        SimulatorConfig {
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            api_keys: Vec::new(),
            callback_delay: Duration::from_millis(50),
            final_status: DeliveryStatus::Delivered,
            call_duration_secs: None,
        }
    }

    /// A random, well-formed account SID (`AC` + 32 hex) and Auth Token (32 hex), for
    /// sandbox mode.
    ///
    /// ```
    /// let c = telephony_twilio::simulator::SimulatorConfig::generate();
    /// assert!(c.account_sid.starts_with("AC") && c.account_sid.len() == 34);
    /// assert_eq!(c.auth_token.expose().len(), 32);
    /// ```
    pub fn generate() -> Self {
        Self::new(inbound::new_sid("AC"), Secret::new(inbound::new_sid("")))
    }

    /// Also accepts the API key `sid` (`SK…`) with `secret`.
    pub fn with_api_key(mut self, sid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.api_keys.push((sid.into(), secret.into()));
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

    /// Sets [`call_duration_secs`](Self::call_duration_secs).
    pub fn with_call_duration_secs(mut self, secs: u64) -> Self {
        self.call_duration_secs = Some(secs);
        self
    }
}

/// A failure to answer the next matching `POST …/Messages.json` with, instead of creating
/// the message. Queue it with [`Simulator::inject`].
///
/// ```
/// use telephony_twilio::simulator::Injection;
/// let i = Injection::rate_limited(2).times(3).to("+15550001111");
/// assert_eq!((i.status, i.code, i.retry_after, i.times), (429, 20429, Some(2), 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// HTTP status.
    pub status: u16,
    /// Twilio error code in the body.
    pub code: i64,
    /// Error message in the body.
    pub message: String,
    /// `Retry-After` header value in seconds, if any.
    pub retry_after: Option<u64>,
    /// How many creates it answers (default 1; 0 means none).
    pub times: u32,
    /// Only creates to this recipient (compared after E.164 normalization).
    pub to: Option<String>,
}

impl Injection {
    /// An error with this HTTP status, Twilio code and message, once, for any recipient.
    pub fn error(status: u16, code: i64, message: impl Into<String>) -> Self {
        Injection {
            status,
            code,
            message: message.into(),
            retry_after: None,
            times: 1,
            to: None,
        }
    }

    /// 429, code 20429, "Too Many Requests", with `Retry-After: retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Injection {
            retry_after: Some(retry_after_secs),
            ..Self::error(429, 20429, "Too Many Requests")
        }
    }

    /// Answers `n` creates instead of one.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Applies only to creates for this recipient.
    pub fn to(mut self, number: impl Into<String>) -> Self {
        self.to = Some(number.into());
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// One `POST …/Messages.json` the simulator received, whatever it answered (created,
/// injected failure, validation error, 401): what a test counts to see how many HTTP
/// attempts a client made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequestRecord {
    /// When it arrived.
    pub at: OffsetDateTime,
    /// Its `To` parameter, as sent, if the body was a form with one.
    pub to: Option<String>,
    /// The HTTP status the simulator answered.
    pub http_status: u16,
}

/// One status callback the simulator attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRecord {
    /// The message it is about.
    pub message_sid: String,
    /// The `MessageStatus` it carried.
    pub status: DeliveryStatus,
    /// The exact URL it was POSTed (and signed) to.
    pub url: String,
    /// The form parameters, in the order sent.
    pub params: Vec<(String, String)>,
    /// The `X-Twilio-Signature` sent.
    pub signature: String,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed (connection error, timeout, non-2xx), if it did. Not retried.
    pub error: Option<String>,
}

impl CallbackRecord {
    /// True if the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// One `POST …/Calls.json` the simulator received, whatever it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCreateRecord {
    /// When it arrived.
    pub at: OffsetDateTime,
    /// The form pairs, in the order sent (empty if the body was not a form).
    pub params: Vec<(String, String)>,
    /// The HTTP status the simulator answered.
    pub http_status: u16,
}

/// One call status callback the simulator sent, or dropped on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCallbackRecord {
    /// The call.
    pub call_sid: String,
    /// The `StatusCallbackEvent` it is for: `initiated`, `ringing`, `answered`, `completed`.
    pub event: String,
    /// The `CallStatus` it carried (`initiated`, `ringing`, `in-progress`, `completed`, …).
    pub call_status: String,
    /// The URL it was (or would have been) POSTed and signed to.
    pub url: String,
    /// The form parameters, in the order sent.
    pub params: Vec<(String, String)>,
    /// The `X-Twilio-Signature` sent (empty when dropped).
    pub signature: String,
    /// The receiver's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// Why it failed, if it did. Not retried.
    pub error: Option<String>,
    /// Dropped by [`Simulator::drop_call_callbacks`]: never sent.
    pub dropped: bool,
}

/// A Twilio-compatible server. Cheap to clone (shared state).
///
/// Serve it on a local port and point a [`TwilioConfig`](crate::TwilioConfig)'s
/// `api_base_url` (or any HTTP client) at [`RunningSimulator::url`]:
///
/// ```
/// use telephony_twilio::simulator::{Simulator, SimulatorConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sim = Simulator::new(SimulatorConfig::new(
///     "AC00000000000000000000000000000001",
///     "secret-auth-token",
/// ));
/// let server = sim.serve("127.0.0.1:0".parse()?).await?;
///
/// let resp = reqwest::Client::new()
///     .post(format!(
///         "{}/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json",
///         server.url()
///     ))
///     .basic_auth("AC00000000000000000000000000000001", Some("secret-auth-token"))
///     .form(&[("To", "+15550001111"), ("From", "+15550002222"), ("Body", "Hello!")])
///     .send()
///     .await?;
/// assert_eq!(resp.status(), 201);
///
/// let sent = sim.messages();
/// assert_eq!(sent.len(), 1);
/// assert_eq!(sent[0].to.as_deref(), Some("+15550001111"));
/// assert_eq!(sent[0].body.as_deref(), Some("Hello!"));
/// assert_eq!(sent[0].status.as_deref(), Some("queued"));
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
    created_at: OffsetDateTime,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Simulator")
            .field("account_sid", &self.inner.config.account_sid)
            .field("messages", &state.messages.len())
            .field("callbacks", &state.callbacks.len())
            .field("pending_injections", &state.injections.len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator with no messages.
    pub fn new(config: SimulatorConfig) -> Self {
        let http = reqwest::Client::builder()
            .user_agent("TwilioProxy/1.1")
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Simulator {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(SimState::default()),
                http,
                created_at: OffsetDateTime::now_utc(),
            }),
        }
    }

    /// The routes as an axum [`Router`](axum::Router), to mount in another app or drive
    /// with `tower::ServiceExt::oneshot`. Status callbacks need a tokio runtime.
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
        tracing::info!(%local_addr, account_sid = %self.inner.config.account_sid, "simulator: listening");
        Ok(RunningSimulator {
            local_addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Queues a failure for the next create that matches it (see [`Injection`]).
    /// Injections are tried oldest first, before validation.
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

    /// One message by SID, in its current state.
    pub fn message(&self, sid: &str) -> Option<MessageResource> {
        self.lock().message(sid).cloned()
    }

    /// Every `POST …/Messages.json` received, oldest first, including the ones answered
    /// with an error.
    ///
    /// ```
    /// use telephony_twilio::simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// assert!(sim.create_requests().is_empty());
    /// ```
    pub fn create_requests(&self) -> Vec<CreateRequestRecord> {
        self.lock().create_requests.clone()
    }

    /// Every status callback attempted, in the order they completed.
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.lock().callbacks.clone()
    }

    /// Every call created, oldest first, in its current state.
    pub fn calls(&self) -> Vec<CallResource> {
        self.lock().calls.calls.clone()
    }

    /// One call by SID, in its current state.
    pub fn call(&self, sid: &str) -> Option<CallResource> {
        self.lock().calls.call(sid).cloned()
    }

    /// Every `POST …/Calls.json` received, oldest first, with its form.
    pub fn call_create_requests(&self) -> Vec<CallCreateRecord> {
        self.lock().calls.create_requests.clone()
    }

    /// Every call status callback sent or dropped, in the order they completed.
    pub fn call_callbacks(&self) -> Vec<CallCallbackRecord> {
        self.lock().calls.callbacks.clone()
    }

    /// From now on, never sends call status callbacks for `event` (`initiated`,
    /// `ringing`, `answered` or `completed`), for every call: they are recorded with
    /// `dropped: true` and still use up a `SequenceNumber`, as a callback lost on the way
    /// would. For tests of what happens when Twilio's callback never arrives.
    ///
    /// ```
    /// use telephony_twilio::simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// sim.drop_call_callbacks("completed");
    /// assert!(sim.call_callbacks().is_empty());
    /// ```
    pub fn drop_call_callbacks(&self, event: &str) {
        let mut state = self.lock();
        if !state.calls.dropped_events.iter().any(|e| e == event) {
            state.calls.dropped_events.push(event.to_string());
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.inner.config
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // The state stays consistent even if a holder panicked: every update is one step.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
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
        tracing::debug!(local_addr = %self.local_addr, "simulator: stopped");
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
    let url = &url[..cut];
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}
