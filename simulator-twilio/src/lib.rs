//! A Twilio-compatible local server for tests, examples and the gateway's `--sandbox` mode.
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
//! | `GET /Messages.json?To=&From=&PageSize=&Page=` | 200 [`MessagePage`](telephony_twilio::resources::MessagePage), newest first |
//! | `POST /Calls.json` | 201 [`CallResource`] (`CA…`, `queued`), then status callbacks `initiated` → `ringing` → `answered` (`in-progress`), the call's TwiML run (see below), `completed` |
//! | `POST /Calls/{Sid}.json` `Status=completed` | 200, the call ends (`completed`; `canceled` before answer), its TwiML stops and the `completed` callback is sent; 404 (20404) if it already ended |
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
//!
//! # Driven calls
//!
//! Calls run their TwiML as Twilio would, against the gateway's real webhooks:
//!
//! - **Inbound**: [`Simulator::place_inbound_call`] rings one of the account's numbers: it
//!   POSTs the signed voice webhook (`CallStatus=ringing`, `Direction=inbound`) to the
//!   number's voice URL and runs the answer.
//! - **Outbound**: after `POST /Calls.json` the simulated callee rings and answers (or is
//!   busy, does not answer, cannot be reached: [`SimulatorConfig::with_callee_outcome`]);
//!   once answered, the inline `Twiml` runs, or the `Url` is requested (signed POST,
//!   `Direction=outbound-api`, `CallStatus=in-progress`; `Method=GET` honored).
//!
//! Either way the verbs run in order ([`parse_twiml`] tells how a document is read):
//! `<Say>`/`<Play>` are recorded in the transcript, `<Pause>` advances the call's clock,
//! `<Gather>` takes the next input of the call's [`CallScript`] (speech, digits or
//! silence) and POSTs the result, signed, to its `action` (relative URLs resolved against
//! the current document's; the current document's URL by default), silence falls through
//! to the next verb, `<Record>` posts a fake recording, `<Dial>` posts `DialCallStatus` to
//! its `action`, `<Redirect>` requests its URL, `<Hangup/>` and the end of the document
//! end the call `completed`, and `<Reject>` before the answer ends it `busy`
//! (`reason="busy"`) or `no-answer` (Twilio's documented statuses for a rejected call).
//! An answer that is not 2xx or has no `Content-Type` is Twilio's error 11200, one that is
//! not `text/xml`/`application/xml` is 12300, and a document that does not parse (bad XML,
//! no `<Response>` root, an unknown verb) is 12100: the call ends, `failed` if it was never
//! answered, else `completed`. More than [`MAX_CALL_DOCUMENTS`] documents on one call end
//! it with 14106. Everything done is kept in a [`CallOutcome`]
//! ([`Simulator::call_outcome`]).
//!
//! Time on a call is simulated: each verb advances the call's clock (a `<Say>` 400 ms per
//! word, a `<Play>` 1 s, a `<Pause>` its length, a silent `<Gather>` its `timeout`);
//! `CallDuration` and `TimeLimit` (default 14400 s) use that clock, and
//! [`SimulatorConfig::simulated_second`] says how much real time a simulated second takes
//! (default none: calls run as fast as the webhooks answer).
//!
//! # Real-time sessions
//!
//! `<Connect><Stream>` (a bidirectional Media Stream, VOICE.md §6) and
//! `<Connect><ConversationRelay>` (§7) open a WebSocket to the application, and the
//! simulator plays Twilio's side of the protocol on it:
//!
//! - **The upgrade** is signed as Twilio signs it: header `x-twilio-signature` =
//!   base64(HMAC-SHA1(auth token, URL)) over the URL as written in the TwiML with a
//!   `wss://` scheme and no parameters (a `<Stream>` URL without its query string, which
//!   Twilio drops). Verify it with [`RequestValidator`](telephony_twilio::RequestValidator) and an
//!   empty parameter list. The simulator has no TLS: it connects to `ws://` URLs (a note
//!   in the record says Twilio would refuse one) and a `wss://` one fails to open.
//! - **A stream** sends `connected`, `start` (with the `<Parameter>`s as
//!   `customParameters`), the script's audio as `media` frames (160 bytes, 20 ms each),
//!   its key presses as `dtmf`, and `stop` when the call ends; it plays the application's
//!   `media` at 8000 bytes a second, echoes each `mark` once the audio before it has
//!   played, and on `clear` drops the audio not played and echoes the pending marks at
//!   once. Anything else the application sends is alert 31951. When the application closes
//!   the socket, Twilio requests `<Connect action>` if there is one, else goes on with the
//!   verbs after `<Connect>`; a socket that does not open is alert 31920, and the call
//!   goes on the same way.
//! - **A relay** sends `setup`, speaks the welcome greeting, sends the caller's words as
//!   `prompt`s once the application has stopped speaking, keys as `dtmf` (with
//!   `dtmfDetection`) and `interrupt`s. It speaks the application's `text` tokens at
//!   400 ms a word, and records `play`, `sendDigits` and `language`. On `end` it closes
//!   the socket and requests `<Connect action>` with `SessionId`, `SessionStatus=ended`
//!   and `HandoffData`, signed (without an action it goes on with the next verb). Each
//!   malformed message is alert 64107 (and an `error` message to the application); ten
//!   in a row close the socket with 1007 (alert 64105). A socket that ends any other way
//!   (or never opens) fails the call with 64105, as Twilio does not reconnect.
//!
//! Everything is recorded in [`CallOutcome::streams`] ([`StreamRecord`]) and
//! [`CallOutcome::relays`] ([`RelayRecord`]): every message both ways with its time,
//! audio, marks, clears, replies, interrupts, alerts.
//!
//! A session has its own clock (milliseconds since the socket opened), which also moves
//! the call's. It jumps from one event to the next (the caller's next frame or prompt, a
//! mark's audio played through, an interrupt's moment), each jump taking
//! [`simulated_second`](SimulatorConfig::simulated_second)-paced real time. Before the
//! clock moves, whenever the simulator has sent something, it sends a WebSocket **ping**
//! and reads until its **pong**: WebSocket libraries answer a ping when the application
//! reads it, after what it sent in answer to the messages before, so everything an
//! application sends in answer to a message arrives at that message's simulated time, on
//! any machine. The times in the records are exact, and tests can assert them. (An
//! application that never reads pings is waited for 5 s once; then the simulator stops
//! pinging and notes it.) The application must go on reading after a ping (axum and
//! tungstenite deliver pings as messages and answer them themselves): one that stops at
//! the first non-text frame needs [`SimulatorConfig::with_realtime_sync`]`(false)`.
//!
//! ```
//! use axum::extract::ws::{Message, WebSocketUpgrade};
//! use axum::routing::{any, post};
//! use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let host = listener.local_addr()?.to_string();
//! let twiml = format!(
//!     r#"<Response><Connect><ConversationRelay url="ws://{host}/relay"/></Connect></Response>"#
//! );
//! // An agent that answers the first prompt, then ends the session.
//! let app = axum::Router::new()
//!     .route("/voice", post(move || async move { ([("content-type", "text/xml")], twiml) }))
//!     .route("/relay", any(|ws: WebSocketUpgrade| async move {
//!         ws.on_upgrade(|mut socket| async move {
//!             // Not `while let Some(Ok(Message::Text(..)))`: pings come too.
//!             while let Some(Ok(msg)) = socket.recv().await {
//!                 let Message::Text(text) = msg else { continue };
//!                 if text.contains(r#""type":"prompt""#) {
//!                     for reply in [
//!                         r#"{"type":"text","token":"Table for ","last":false}"#,
//!                         r#"{"type":"text","token":"two, booked.","last":true}"#,
//!                         r#"{"type":"end","handoffData":"booked"}"#,
//!                     ] {
//!                         socket.send(Message::Text(reply.into())).await.unwrap();
//!                     }
//!                 }
//!             }
//!         })
//!     }));
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! let sim = Simulator::new(SimulatorConfig::generate());
//! let outcome = sim
//!     .place_inbound_call(
//!         InboundCall::new("+15550005678", "+15550001234", format!("http://{host}/voice"))
//!             .script(CallScript::new().prompt("A table for two")),
//!     )
//!     .await?;
//! let relay = &outcome.relays[0];
//! assert_eq!(relay.sent_types(), ["setup", "prompt"]);
//! assert_eq!(relay.sent[1].at_ms, 1600); // four words, 400 ms each
//! assert_eq!(relay.reply_texts(), ["Table for two, booked."]);
//! assert_eq!(relay.end.as_ref().unwrap().handoff_data.as_deref(), Some("booked"));
//! assert_eq!(outcome.status, "completed");
//! # Ok(())
//! # }
//! ```

pub mod audio;
mod callbacks;
mod calls;
mod driver;
mod errors;
mod inbound;
mod numbers;
mod records;
mod relay;
mod script;
mod segments;
mod server;
mod session;
mod state;
mod stream;
mod verbs;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use telephony_core::{DeliveryStatus, Secret};
use time::OffsetDateTime;

pub use inbound::{new_message_sid, InboundSms, SmsDelivery, SMS_WEBHOOK_TIMEOUT};
pub use numbers::SettingsUpdate;
pub use records::{
    Alert, ClearRecord, LanguageChange, MarkRecord, RelayEnd, RelayInterrupt, RelayPlay,
    RelayRecord, RelayReply, SessionEnd, StreamRecord, TimedMessage,
};
pub use script::{
    CallEnd, CallError, CallOutcome, CallScript, CalleeOutcome, CallerInput, DocumentRecord,
    DriveError, GatherRecord, Heard, InboundCall,
};
pub use verbs::{
    parse_twiml, ConnectRelay, ConnectStream, DialVerb, GatherVerb, PlayVerb, RecordVerb, SayVerb,
    TwimlVerb,
};

use state::SimState;
use telephony_twilio::resources::{CallResource, MessageResource};

/// The sender a Messaging Service "picks" for messages created without `From`: Twilio's
/// magic valid test number. It appears in the stored message and the status callbacks
/// once the message leaves `accepted`.
pub const MESSAGING_SERVICE_SENDER: &str = "+15005550006";

/// The most TwiML documents one simulated call requests (the first one, `<Gather>` and
/// `<Record>` actions, `<Redirect>`s, `<Dial>` actions) before it is ended with error
/// 14106 ("Document retrieval limit reached", Twilio's code for the same limit on message
/// replies): a safety cap on `<Redirect>` loops.
pub const MAX_CALL_DOCUMENTS: usize = 50;

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
    /// When set, every answered call reports this many seconds as its `CallDuration` (and
    /// `duration`) when it ends, instead of its simulated length. (Calls end when their
    /// TwiML does, or when hung up through the API.)
    pub call_duration_secs: Option<u64>,
    /// The real time one simulated second of a call takes (default zero: `<Pause>`,
    /// silent `<Gather>`s, ringing and so on take no real time). Scale it to let a test hang
    /// up mid-`<Pause>`, or set one second for calls at Twilio's pace. The simulated clock,
    /// which `CallDuration` and `TimeLimit` use, is the same whatever the pace.
    pub simulated_second: Duration,
    /// How callees answer outbound calls and `<Dial>`s, by number (compared after E.164
    /// normalization); numbers not listed answer. See
    /// [`with_callee_outcome`](Self::with_callee_outcome).
    pub callee_outcomes: Vec<(String, CalleeOutcome)>,
    /// Whether real-time sessions ping the application before moving their clock, so that
    /// its answers are dated exactly (default `true`; see the [module docs](self#real-time-sessions)).
    /// Turn it off for an application that cannot take WebSocket pings (one that stops
    /// reading at the first non-text frame): the simulator then never pings, and what
    /// the application answers is dated when it happens to arrive.
    pub realtime_sync: bool,
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
            simulated_second: Duration::ZERO,
            callee_outcomes: Vec::new(),
            realtime_sync: true,
        }
    }

    /// A random, well-formed account SID (`AC` + 32 hex) and Auth Token (32 hex), for
    /// sandbox mode.
    ///
    /// ```
    /// let c = telephony_twilio_simulator::SimulatorConfig::generate();
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

    /// Sets [`simulated_second`](Self::simulated_second).
    pub fn with_simulated_second(mut self, real: Duration) -> Self {
        self.simulated_second = real;
        self
    }

    /// Sets [`realtime_sync`](Self::realtime_sync).
    pub fn with_realtime_sync(mut self, on: bool) -> Self {
        self.realtime_sync = on;
        self
    }

    /// Makes the callee `number` answer outbound calls (and `<Dial>`s) this way: the
    /// simulator's stand-in for a phone that is busy or rings out (Twilio's test
    /// credentials have no magic numbers for these).
    ///
    /// ```
    /// use telephony_twilio_simulator::{CalleeOutcome, SimulatorConfig};
    /// let c = SimulatorConfig::generate()
    ///     .with_callee_outcome("+15550000486", CalleeOutcome::Busy)
    ///     .with_callee_outcome("+15550000487", CalleeOutcome::NoAnswer);
    /// assert_eq!(c.callee_outcomes.len(), 2);
    /// ```
    pub fn with_callee_outcome(
        mut self,
        number: impl Into<String>,
        outcome: CalleeOutcome,
    ) -> Self {
        self.callee_outcomes.push((number.into(), outcome));
        self
    }
}

/// A failure to answer the next matching `POST …/Messages.json` with, instead of creating
/// the message. Queue it with [`Simulator::inject`].
///
/// ```
/// use telephony_twilio_simulator::Injection;
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
/// Serve it on a local port and point a [`TwilioConfig`](telephony_twilio::TwilioConfig)'s
/// `api_base_url` (or any HTTP client) at [`RunningSimulator::url`]:
///
/// ```
/// use telephony_twilio_simulator::{Simulator, SimulatorConfig};
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
    /// use telephony_twilio_simulator::{Simulator, SimulatorConfig};
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
    /// use telephony_twilio_simulator::{Simulator, SimulatorConfig};
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

    /// Rings `call.to` from `call.from` and drives the call to its end, as Twilio would
    /// (see the [module docs](self#driven-calls)); returns what happened.
    ///
    /// The call is stored in the Calls resource first (`direction` `inbound`, `status`
    /// `ringing`), so `GET …/Calls/{Sid}.json` sees it, and hanging it up with
    /// `POST …/Calls/{Sid}.json` `Status=completed` stops it at its next step. When it
    /// ends, its `completed` status callback (with `CallDuration`) goes to
    /// [`InboundCall::status_callback`] if set, subject to
    /// [`drop_call_callbacks`](Self::drop_call_callbacks), before this returns.
    ///
    /// The call runs in its own task: dropping the returned future leaves it running
    /// (see [`start_inbound_call`](Self::start_inbound_call)).
    ///
    /// # Errors
    ///
    /// [`DriveError`] when the call cannot be placed (a voice URL that is not absolute
    /// `http(s)`, an empty number). Whatever the gateway answers is part of the
    /// [`CallOutcome`] (see [`CallOutcome::error`]), never an `Err`.
    ///
    /// # Example
    ///
    /// ```
    /// use axum::routing::post;
    /// use telephony_twilio_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A stand-in gateway: greets, asks, thanks.
    /// let app = axum::Router::new()
    ///     .route("/voice", post(|| async {
    ///         ([("content-type", "text/xml")],
    ///          r#"<Response><Say>Hello!</Say><Gather input="speech" action="/answer"><Say>How can I help?</Say></Gather></Response>"#)
    ///     }))
    ///     .route("/answer", post(|| async {
    ///         ([("content-type", "text/xml")], "<Response><Say>Thanks, bye.</Say><Hangup/></Response>")
    ///     }));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let gateway = format!("http://{}", listener.local_addr()?);
    /// tokio::spawn(async move { axum::serve(listener, app).await });
    ///
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// let outcome = sim
    ///     .place_inbound_call(
    ///         InboundCall::new("+15550005678", "+15550001234", format!("{gateway}/voice"))
    ///             .script(CallScript::new().say("Book a table")),
    ///     )
    ///     .await?;
    /// assert_eq!(outcome.status, "completed");
    /// assert_eq!(outcome.heard(), ["Hello!", "How can I help?", "Thanks, bye."]);
    /// assert_eq!(outcome.gathers[0].action.as_deref(), Some(format!("{gateway}/answer").as_str()));
    /// assert_eq!(outcome.documents.len(), 2);
    /// assert_eq!(sim.call(&outcome.call_sid).unwrap().direction.as_deref(), Some("inbound"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn place_inbound_call(&self, call: InboundCall) -> Result<CallOutcome, DriveError> {
        let (sid, task) = self.spawn_inbound_call(call)?;
        if task.await.is_err() {
            return Err(DriveError::Abandoned(sid));
        }
        match self.call_outcome(&sid) {
            Some(outcome) => Ok(outcome),
            None => Err(DriveError::Abandoned(sid)),
        }
    }

    /// Like [`place_inbound_call`](Self::place_inbound_call), but returns the call's SID
    /// as soon as the call exists (`ringing`), its webhook not requested yet; follow it with
    /// [`call_outcome`](Self::call_outcome) or [`wait_for_call`](Self::wait_for_call).
    ///
    /// ```
    /// use telephony_twilio_simulator::{InboundCall, Simulator, SimulatorConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// // Nothing listens on port 9: the webhook fails (11200) and the call never answers.
    /// let sid = sim
    ///     .start_inbound_call(InboundCall::new("+15550005678", "+15550001234", "http://127.0.0.1:9/voice"))
    ///     .unwrap();
    /// let outcome = sim.wait_for_call(&sid, std::time::Duration::from_secs(20)).await.unwrap();
    /// assert_eq!((outcome.status.as_str(), outcome.error_code()), ("failed", Some(11200)));
    /// # }
    /// ```
    pub fn start_inbound_call(&self, call: InboundCall) -> Result<String, DriveError> {
        self.spawn_inbound_call(call).map(|(sid, _)| sid)
    }

    fn spawn_inbound_call(
        &self,
        call: InboundCall,
    ) -> Result<(String, tokio::task::JoinHandle<()>), DriveError> {
        let url = reqwest::Url::parse(&call.voice_url).map_err(|e| DriveError::InvalidUrl {
            url: call.voice_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DriveError::InvalidUrl {
                url: call.voice_url.clone(),
                reason: format!("the scheme is {:?}", url.scheme()),
            });
        }
        if call.from.trim().is_empty() || call.to.trim().is_empty() {
            return Err(DriveError::MissingNumber);
        }
        let config = &self.inner.config;
        let sid = inbound::new_sid("CA");
        let now = server::rfc2822(OffsetDateTime::now_utc());
        let resource = CallResource {
            sid: sid.clone(),
            account_sid: Some(config.account_sid.clone()),
            api_version: Some("2010-04-01".into()),
            date_created: Some(now.clone()),
            date_updated: Some(now.clone()),
            direction: Some("inbound".into()),
            from: Some(call.from),
            start_time: Some(now),
            status: Some("ringing".into()),
            to: Some(call.to),
            price_unit: Some("USD".into()),
            uri: Some(format!(
                "/2010-04-01/Accounts/{}/Calls/{sid}.json",
                config.account_sid
            )),
            ..Default::default()
        };
        let meta = calls::CallMeta {
            status_callback: call.status_callback,
            ..Default::default()
        };
        self.lock().calls.insert(resource, meta);
        tracing::info!(call_sid = %sid, url = %log_url(&call.voice_url), "simulator: inbound call ringing");
        let method = if call.voice_method.eq_ignore_ascii_case("GET") {
            "GET"
        } else {
            "POST"
        };
        let task = tokio::spawn(driver::run(
            self.clone(),
            sid.clone(),
            driver::Instructions::Fetch {
                url: call.voice_url,
                method: method.to_string(),
            },
            call.script,
            false,
            calls::DEFAULT_TIME_LIMIT_SECS,
        ));
        Ok((sid, task))
    }

    /// What happened on a call so far (inbound or outbound): its status, documents,
    /// transcript, gathers and error. `None` for an unknown SID.
    pub fn call_outcome(&self, sid: &str) -> Option<CallOutcome> {
        self.lock().calls.outcome(sid)
    }

    /// Waits until the simulator is done with call `sid` (it ended and its last callback
    /// was sent), up to `timeout`; then its [`CallOutcome`]. `None` for an unknown SID or
    /// when the time ran out.
    pub async fn wait_for_call(&self, sid: &str, timeout: Duration) -> Option<CallOutcome> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let outcome = self.call_outcome(sid)?;
            if outcome.finished {
                return Some(outcome);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The callee `to` behaves as `script` on the next outbound call to it (one script per
    /// call, first queued first; compared after E.164 normalization). Calls without a
    /// queued script get [`CallScript::default`]: silent, never hanging up first.
    ///
    /// ```
    /// use telephony_twilio_simulator::{CallScript, Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// sim.script_next_call("+15550005678", CallScript::new().press("1"));
    /// ```
    pub fn script_next_call(&self, to: &str, script: CallScript) {
        let mut state = self.lock();
        let scripts = &mut state.calls.scripts;
        match scripts.iter_mut().find(|(number, _)| number == to) {
            Some((_, queue)) => queue.push_back(script),
            None => scripts.push((to.to_string(), std::collections::VecDeque::from([script]))),
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.inner.config
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
