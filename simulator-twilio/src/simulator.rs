//! The simulator: its settings and state behind one cheap-to-clone handle.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use telephony_twilio::resources::{CallResource, MessageResource};
use time::OffsetDateTime;

use crate::config::{Injection, SimulatorConfig};
use crate::recipients::same_recipient;
use crate::records::{CallCallbackRecord, CallCreateRecord, CallbackRecord, CreateRequestRecord};
use crate::script::{CallOutcome, CallScript, CalleeOutcome};
use crate::state::SimState;

/// A Twilio-compatible server. Cheap to clone (shared state).
///
/// Serve it on a local port and point a [`TwilioConfig`](telephony_twilio::TwilioConfig)'s
/// `api_base_url` (or any HTTP client) at [`RunningSimulator::url`](crate::RunningSimulator::url):
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
    reroutes: telephony_core::reroute::Reroutes,
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
                reroutes: Default::default(),
            }),
        }
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

    /// How many messages were created (without copying them, as [`messages`](Self::messages)
    /// does).
    ///
    /// ```
    /// use telephony_twilio_simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// assert_eq!(sim.message_count(), 0);
    /// ```
    pub fn message_count(&self) -> usize {
        self.lock().messages.len()
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

    /// Every `POST …/Calls/{Sid}.json` form that reached a known call (hang-ups, TwiML
    /// updates), with the call's SID, in arrival order.
    pub fn call_update_requests(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.lock().calls.update_requests.clone()
    }

    /// Every finished call recording, oldest first (its media is served at
    /// `GET …/Recordings/{Sid}.wav`).
    pub fn recordings(&self) -> Vec<crate::RecordingRecord> {
        self.lock().recordings.done.clone()
    }

    /// Every call status callback sent or dropped (and each asynchronous answering-machine
    /// detection result, event `amd`), in the order they completed.
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

    /// From now on, delivers what it signs for URLs under `public_base` (callbacks,
    /// TwiML requests, inbound webhooks, WebSocket upgrades) to `local_origin` instead,
    /// still signing the URL as given: Twilio signs the URL it was given, and a sandbox's
    /// public URL (`https://sms.example.com`) is served by a gateway on loopback. See
    /// [`Reroutes`](telephony_core::reroute::Reroutes).
    ///
    /// ```
    /// use telephony_twilio_simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// sim.deliver_via("https://sms.example.com", "http://127.0.0.1:3335");
    /// ```
    pub fn deliver_via(&self, public_base: &str, local_origin: &str) {
        self.inner.reroutes.add(public_base, local_origin);
    }

    /// Where a request signed for `url` is sent (see [`deliver_via`](Self::deliver_via)).
    pub(crate) fn delivery_url(&self, url: &str) -> String {
        self.inner.reroutes.target(url)
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.inner.config
    }

    /// The state, locked (recovering from a poisoned lock).
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        telephony_core::sync::lock(&self.inner.state)
    }

    /// The HTTP client for requests to the application (callbacks, TwiML, webhooks).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// When the simulator (its account) was created.
    pub(crate) fn created_at(&self) -> OffsetDateTime {
        self.inner.created_at
    }

    /// How the callee `number` answers (see [`SimulatorConfig::with_callee_outcome`](crate::SimulatorConfig::with_callee_outcome)).
    pub(crate) fn callee_outcome(&self, number: &str) -> CalleeOutcome {
        self.inner
            .config
            .callee_outcomes
            .iter()
            .find(|(n, _)| same_recipient(n, number))
            .map(|(_, o)| *o)
            .unwrap_or_default()
    }

    /// Who picks up `number`'s calls (see [`SimulatorConfig::with_answerer`](crate::SimulatorConfig::with_answerer)).
    pub(crate) fn answerer(&self, number: &str) -> crate::script::Answerer {
        self.inner
            .config
            .answerers
            .iter()
            .find(|(n, _)| same_recipient(n, number))
            .map(|(_, a)| *a)
            .unwrap_or_default()
    }

    /// The real time `sim_ms` simulated milliseconds take.
    pub(crate) fn paced(&self, sim_ms: u64) -> Duration {
        self.inner
            .config
            .simulated_second
            .mul_f64(sim_ms as f64 / 1000.0)
    }
}
