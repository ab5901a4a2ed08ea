//! Voice settings: the Call Control applications ("connections") calls go to, their
//! timeouts, webhook retries, the simulated clock's pace and how callees answer.

use std::time::Duration;

use telephony_simulator_voice::{Answerer, CalleeOutcome};

use crate::config::SimulatorConfig;

/// A Call Control application (Telnyx's "connection", `connection_id`): where the events
/// of its calls go.
///
/// ```
/// use telephony_telnyx_simulator::CallControlApp;
/// let app = CallControlApp::new("1494404757140276705", "http://127.0.0.1:8080/telnyx/voice");
/// assert_eq!(app.webhook_event_failover_url, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallControlApp {
    /// `connection_id`.
    pub id: String,
    /// `application_name` (default `call-control`).
    pub application_name: String,
    /// `webhook_event_url`: every event of its calls (unless a command's `webhook_url`
    /// says otherwise).
    pub webhook_event_url: String,
    /// `webhook_event_failover_url`: tried once the primary URL's attempts are used up.
    pub webhook_event_failover_url: Option<String>,
}

impl CallControlApp {
    /// An application `id` whose events go to `webhook_event_url`.
    pub fn new(id: impl Into<String>, webhook_event_url: impl Into<String>) -> Self {
        CallControlApp {
            id: id.into(),
            application_name: "call-control".into(),
            webhook_event_url: webhook_event_url.into(),
            webhook_event_failover_url: None,
        }
    }

    /// Sets [`webhook_event_failover_url`](Self::webhook_event_failover_url).
    pub fn failover(mut self, url: impl Into<String>) -> Self {
        self.webhook_event_failover_url = Some(url.into());
        self
    }
}

/// The voice part of [`SimulatorConfig`] ([`SimulatorConfig::voice`]).
///
/// ```
/// use std::time::Duration;
/// use telephony_telnyx_simulator::SimulatorConfig;
/// let c = SimulatorConfig::generate()
///     .with_connection("1494404757140276705", "http://127.0.0.1:8080/telnyx/voice")
///     .with_first_command_timeout(Duration::from_secs(5))
///     .with_simulated_second(Duration::from_millis(10))
///     .with_command_settle(Duration::from_millis(50))
///     .with_webhook_retries(2, Duration::from_millis(20));
/// assert_eq!(c.voice.first_command_timeout, Duration::from_secs(5));
/// assert_eq!((c.voice.webhook_attempts, c.voice.ring_ms), (2, 2000));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VoiceConfig {
    /// The account's Call Control applications; the first is the default for inbound
    /// calls. None by default: add one with [`SimulatorConfig::with_connection`].
    pub connections: Vec<CallControlApp>,
    /// How long (real time) a parked inbound call waits for its first command before
    /// Telnyx hangs it up (`hangup_cause: "timeout"`); Telnyx's
    /// `first_command_timeout_secs` defaults to 30.
    pub first_command_timeout: Duration,
    /// The real time one simulated second takes (default zero: speech, ringing, gathers
    /// and the caller's inputs take no real time; the clock that `call_duration` and
    /// `time_limit_secs` use is the same whatever the pace). While nothing is scheduled
    /// on a call (it waits for a command), its clock moves only when this is not zero.
    pub simulated_second: Duration,
    /// How long (real time) the clock waits, once the call's events are delivered, after
    /// the last delivery or command before it moves on (default 100 ms): what an
    /// application does in answer to an event, and commands it sends one after another
    /// (`speak`, then `transcription_start`), land at the same simulated moment, as on a
    /// real call where speaking takes seconds. Zero: the clock moves as soon as something
    /// is due, without waiting for deliveries either.
    pub command_settle: Duration,
    /// Delivery attempts of one event to its URL before the failover URL (default 3).
    pub webhook_attempts: u32,
    /// Pause between two attempts (default 100 ms; Telnyx waits longer).
    pub webhook_retry_delay: Duration,
    /// How long one webhook may take to answer (default 10 s).
    pub webhook_timeout: Duration,
    /// How long an outbound call rings before the callee answers or is found busy, on the
    /// simulated clock (default 2000 ms).
    pub ring_ms: u64,
    /// How callees of outbound calls answer, by number; numbers not listed answer.
    pub callee_outcomes: Vec<(String, CalleeOutcome)>,
    /// Who picks up answered outbound calls, for answering-machine detection, by number;
    /// numbers not listed are a person.
    pub answerers: Vec<(String, Answerer)>,
    /// The account's user id (a UUID), sent as `start.user_id` on media streams.
    pub user_id: String,
    /// Real time between `streaming_start` (or an `answer` with `stream_url`) and the
    /// simulator opening the stream's socket (default zero): Telnyx's media setup, for
    /// measuring what an application gains by being ready before the socket opens.
    pub stream_connect_delay: Duration,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        VoiceConfig {
            connections: Vec::new(),
            first_command_timeout: Duration::from_secs(30),
            simulated_second: Duration::ZERO,
            command_settle: Duration::from_millis(100),
            webhook_attempts: 3,
            webhook_retry_delay: Duration::from_millis(100),
            webhook_timeout: Duration::from_secs(10),
            ring_ms: 2000,
            callee_outcomes: Vec::new(),
            answerers: Vec::new(),
            user_id: crate::ids::new_uuid(),
            stream_connect_delay: Duration::ZERO,
        }
    }
}

impl SimulatorConfig {
    /// Adds a Call Control application `id` whose events go to `webhook_event_url`
    /// (the first one added takes inbound calls by default).
    ///
    /// ```
    /// use telephony_telnyx_simulator::SimulatorConfig;
    /// let c = SimulatorConfig::generate().with_connection("1494404757140276705", "http://127.0.0.1:8080/telnyx/voice");
    /// assert_eq!(c.voice.connections[0].id, "1494404757140276705");
    /// ```
    pub fn with_connection(
        self,
        id: impl Into<String>,
        webhook_event_url: impl Into<String>,
    ) -> Self {
        self.with_call_control_app(CallControlApp::new(id, webhook_event_url))
    }

    /// Adds a Call Control application (with a failover URL, say).
    pub fn with_call_control_app(mut self, app: CallControlApp) -> Self {
        self.voice.connections.push(app);
        self
    }

    /// Sets [`VoiceConfig::first_command_timeout`].
    pub fn with_first_command_timeout(mut self, timeout: Duration) -> Self {
        self.voice.first_command_timeout = timeout;
        self
    }

    /// Sets [`VoiceConfig::simulated_second`].
    pub fn with_simulated_second(mut self, real: Duration) -> Self {
        self.voice.simulated_second = real;
        self
    }

    /// Sets [`VoiceConfig::command_settle`].
    pub fn with_command_settle(mut self, settle: Duration) -> Self {
        self.voice.command_settle = settle;
        self
    }

    /// Sets [`VoiceConfig::stream_connect_delay`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use telephony_telnyx_simulator::SimulatorConfig;
    /// let c = SimulatorConfig::generate().with_stream_connect_delay(Duration::from_millis(300));
    /// assert_eq!(c.voice.stream_connect_delay, Duration::from_millis(300));
    /// ```
    pub fn with_stream_connect_delay(mut self, delay: Duration) -> Self {
        self.voice.stream_connect_delay = delay;
        self
    }

    /// Sets [`VoiceConfig::webhook_attempts`] and [`VoiceConfig::webhook_retry_delay`].
    pub fn with_webhook_retries(mut self, attempts: u32, delay: Duration) -> Self {
        self.voice.webhook_attempts = attempts.max(1);
        self.voice.webhook_retry_delay = delay;
        self
    }

    /// Makes the callee `number` answer outbound calls this way (see the
    /// [crate docs](crate#outbound-calls) for the events each sends).
    ///
    /// ```
    /// use telephony_telnyx_simulator::{CalleeOutcome, SimulatorConfig};
    /// let c = SimulatorConfig::generate().with_callee_outcome("+15550000486", CalleeOutcome::Busy);
    /// assert_eq!(c.voice.callee_outcomes.len(), 1);
    /// ```
    pub fn with_callee_outcome(
        mut self,
        number: impl Into<String>,
        outcome: CalleeOutcome,
    ) -> Self {
        self.voice.callee_outcomes.push((number.into(), outcome));
        self
    }

    /// Makes `number`'s outbound calls be picked up by `answerer`, which
    /// `answering_machine_detection` reports with `call.machine.*` events (see
    /// [`Answerer`]).
    ///
    /// ```
    /// use telephony_telnyx_simulator::{Answerer, SimulatorConfig};
    /// let c = SimulatorConfig::generate().with_answerer("+15550000100", Answerer::Fax);
    /// assert_eq!(c.voice.answerers, [("+15550000100".to_string(), Answerer::Fax)]);
    /// ```
    pub fn with_answerer(mut self, number: impl Into<String>, answerer: Answerer) -> Self {
        self.voice.answerers.push((number.into(), answerer));
        self
    }
}
