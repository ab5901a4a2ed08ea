//! The simulator's settings, and the failures a test queues for it.

use std::time::Duration;

use telephony_core::{DeliveryStatus, Secret};

use crate::script::{Answerer, CalleeOutcome};
use crate::sids::new_sid;

/// The sender a Messaging Service "picks" for messages created without `From`: Twilio's
/// magic valid test number. It appears in the stored message and the status callbacks
/// once the message leaves `accepted`.
pub const MESSAGING_SERVICE_SENDER: &str = "+15005550006";

/// The most TwiML documents one simulated call requests (the first one, `<Gather>` and
/// `<Record>` actions, `<Redirect>`s, `<Dial>` actions) before it is ended with error
/// 14106 ("Document retrieval limit reached", Twilio's code for the same limit on message
/// replies): a safety cap on `<Redirect>` loops.
pub const MAX_CALL_DOCUMENTS: usize = 50;

/// Settings of a [`Simulator`](crate::Simulator).
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
    /// Who picks up answered outbound calls, for answering-machine detection, by number;
    /// numbers not listed are a person. See [`with_answerer`](Self::with_answerer).
    pub answerers: Vec<(String, Answerer)>,
    /// Whether real-time sessions ping the application before moving their clock, so that
    /// its answers are dated exactly (default `true`; see the [crate docs](crate#real-time-sessions)).
    /// Turn it off for an application that cannot take WebSocket pings (one that stops
    /// reading at the first non-text frame): the simulator then never pings, and what
    /// the application answers is dated when it happens to arrive.
    pub realtime_sync: bool,
    /// Real time between a `<Connect>`'s TwiML and the simulator opening its socket
    /// (default zero): Twilio's media setup, for measuring what an application gains by
    /// being ready before the socket opens.
    pub realtime_connect_delay: Duration,
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
            answerers: Vec::new(),
            realtime_sync: true,
            realtime_connect_delay: Duration::ZERO,
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
        Self::new(new_sid("AC"), Secret::new(new_sid("")))
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

    /// Sets [`realtime_connect_delay`](Self::realtime_connect_delay).
    ///
    /// ```
    /// use std::time::Duration;
    /// use telephony_twilio_simulator::SimulatorConfig;
    /// let c = SimulatorConfig::generate().with_realtime_connect_delay(Duration::from_millis(300));
    /// assert_eq!(c.realtime_connect_delay, Duration::from_millis(300));
    /// ```
    pub fn with_realtime_connect_delay(mut self, delay: Duration) -> Self {
        self.realtime_connect_delay = delay;
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

    /// Makes `number`'s outbound calls be picked up by `answerer`, which asynchronous
    /// answering-machine detection reports (see [`Answerer`]).
    ///
    /// ```
    /// use telephony_twilio_simulator::{Answerer, SimulatorConfig};
    /// let c = SimulatorConfig::generate().with_answerer("+15550000100", Answerer::machine_beeping_after(4000));
    /// assert_eq!(c.answerers, [("+15550000100".to_string(), Answerer::Machine { greeting_ms: 4000, beep: true })]);
    /// ```
    pub fn with_answerer(mut self, number: impl Into<String>, answerer: Answerer) -> Self {
        self.answerers.push((number.into(), answerer));
        self
    }
}

/// A failure to answer the next matching `POST …/Messages.json` with, instead of creating
/// the message. Queue it with [`Simulator::inject`](crate::Simulator::inject).
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
