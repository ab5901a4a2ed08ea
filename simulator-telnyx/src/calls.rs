//! Calls placed and followed by a test: inbound calls to a Call Control application, the
//! callee side of outbound calls, and what happened on each (see the
//! [crate docs](crate#call-control)).

use std::time::Duration;

use telephony_core::PhoneNumber;
use telephony_simulator_voice::{CallScript, CalleeOutcome};
use time::OffsetDateTime;

use crate::call_driver::{Action, Command, Start};
use crate::call_records::{CallOutcome, DriveError, InboundCall};
use crate::call_state::{CallLog, CallRecord, DEFAULT_TIME_LIMIT_SECS, new_call_control_id};
use crate::ids::new_uuid;
use crate::simulator::Simulator;

fn same_number(a: &str, b: &str) -> bool {
    match (PhoneNumber::parse(a), PhoneNumber::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

impl Simulator {
    /// Rings the Call Control application with `call` and drives the call to its end, as
    /// Telnyx would: a signed `call.initiated` (`direction: "incoming"`, `state:
    /// "parked"`) to the application's `webhook_event_url`, then whatever the
    /// application's commands and the caller's script make of it. Returns once the call
    /// ended and its last event was delivered.
    ///
    /// The call runs in its own task: dropping the future leaves it running (see
    /// [`start_inbound_call`](Self::start_inbound_call)).
    ///
    /// # Errors
    ///
    /// [`DriveError`] when the call cannot be placed (no such application, an empty
    /// number). What the application answers is part of the [`CallOutcome`].
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{Json, extract::State, routing::post};
    /// use telephony_telnyx_simulator::{CallScript, InboundCall, Simulator, SimulatorConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let app_url = format!("http://{}/voice", listener.local_addr()?);
    /// let sim = Simulator::new(SimulatorConfig::generate().with_connection("1494404757140276705", app_url));
    /// let api = sim.serve("127.0.0.1:0".parse()?).await?;
    ///
    /// // A stand-in application: answers, greets, listens, hangs up after the caller spoke.
    /// let key = sim.config().api_key.expose().to_string();
    /// let base = api.url();
    /// let app = axum::Router::new().route("/voice", post(move |Json(event): Json<serde_json::Value>| {
    ///     let (key, base) = (key.clone(), base.clone());
    ///     async move {
    ///         let id = event["data"]["payload"]["call_control_id"].as_str().unwrap().to_string();
    ///         let commands: &[(&str, serde_json::Value)] = match event["data"]["event_type"].as_str().unwrap() {
    ///             "call.initiated" => &[("answer", serde_json::json!({}))],
    ///             "call.answered" => &[
    ///                 ("speak", serde_json::json!({"payload": "Hello! How can I help?", "voice": "female"})),
    ///                 ("transcription_start", serde_json::json!({})),
    ///             ],
    ///             "call.transcription" => &[("hangup", serde_json::json!({}))],
    ///             _ => &[],
    ///         };
    ///         // Telnyx wants the webhook answered at once: send the commands afterwards.
    ///         let commands = commands.to_vec();
    ///         tokio::spawn(async move {
    ///             for (name, body) in commands {
    ///                 reqwest::Client::new()
    ///                     .post(format!("{base}/v2/calls/{id}/actions/{name}"))
    ///                     .bearer_auth(&key).json(&body).send().await.unwrap();
    ///             }
    ///         });
    ///         "ok"
    ///     }
    /// }));
    /// tokio::spawn(async move { axum::serve(listener, app).await });
    ///
    /// let outcome = sim
    ///     .place_inbound_call(
    ///         InboundCall::new("+15550005678", "+15550001234")
    ///             .script(CallScript::new().say("Book a table")),
    ///     )
    ///     .await?;
    /// assert_eq!(outcome.heard(), ["Hello! How can I help?"]);
    /// assert_eq!(outcome.transcriptions[0].transcript, "Book a table");
    /// assert_eq!(outcome.hangup_cause.as_deref(), Some("normal_clearing"));
    /// assert_eq!(
    ///     outcome.event_types(),
    ///     ["call.initiated", "call.answered", "call.speak.started", "call.speak.ended", "call.transcription", "call.hangup"]
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub async fn place_inbound_call(&self, call: InboundCall) -> Result<CallOutcome, DriveError> {
        let (id, task) = self.spawn_inbound_call(call)?;
        if task.await.is_err() {
            return Err(DriveError::Abandoned(id));
        }
        self.call_outcome(&id).ok_or(DriveError::Abandoned(id))
    }

    /// Like [`place_inbound_call`](Self::place_inbound_call), but returns the
    /// `call_control_id` at once; follow the call with [`call_outcome`](Self::call_outcome)
    /// or [`wait_for_call`](Self::wait_for_call).
    ///
    /// ```
    /// use std::time::Duration;
    /// use telephony_telnyx_simulator::{InboundCall, Simulator, SimulatorConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Nothing listens on port 9: call.initiated fails, nobody answers, and the
    /// // first-command timeout hangs the call up.
    /// let sim = Simulator::new(
    ///     SimulatorConfig::generate()
    ///         .with_connection("1494404757140276705", "http://127.0.0.1:9/voice")
    ///         .with_webhook_retries(1, Duration::ZERO)
    ///         .with_first_command_timeout(Duration::from_millis(50)),
    /// );
    /// let id = sim.start_inbound_call(InboundCall::new("+15550005678", "+15550001234")).unwrap();
    /// assert!(id.starts_with("v3:"));
    /// let outcome = sim.wait_for_call(&id, Duration::from_secs(20)).await.unwrap();
    /// assert_eq!(outcome.hangup_cause.as_deref(), Some("timeout"));
    /// assert!(!outcome.events[0].delivered());
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`place_inbound_call`](Self::place_inbound_call).
    pub fn start_inbound_call(&self, call: InboundCall) -> Result<String, DriveError> {
        self.spawn_inbound_call(call).map(|(id, _)| id)
    }

    fn spawn_inbound_call(
        &self,
        call: InboundCall,
    ) -> Result<(String, tokio::task::JoinHandle<()>), DriveError> {
        if call.from.trim().is_empty() || call.to.trim().is_empty() {
            return Err(DriveError::MissingNumber);
        }
        let app = self
            .app_for_call(call.connection_id.as_deref())
            .ok_or_else(|| DriveError::NoConnection(call.connection_id.clone()))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let id = new_call_control_id();
        let record = CallRecord {
            call_control_id: id.clone(),
            call_leg_id: new_uuid(),
            call_session_id: new_uuid(),
            connection_id: app.id.clone(),
            direction: "incoming",
            from: call.from,
            to: call.to,
            state: "parked",
            answered: false,
            client_state: None,
            webhook_url: app.webhook_event_url,
            failover_url: app.webhook_event_failover_url,
            start_time: OffsetDateTime::now_utc(),
            end_time: None,
            clock_ms: 0,
            answered_ms: None,
            hangup_cause: None,
            hangup_source: None,
            command_ids: Default::default(),
            commands: Some(tx.clone()),
            finished: false,
            transferred_from: None,
            log: CallLog::default(),
            created: std::time::Instant::now(),
        };
        self.lock().calls.insert(record);
        tracing::info!(call_control_id = %id, connection_id = %app.id, "telnyx simulator: inbound call");
        let task = self.spawn_call(
            id.clone(),
            rx,
            tx,
            call.script,
            Start::Incoming,
            DEFAULT_TIME_LIMIT_SECS,
        );
        Ok((id, task))
    }

    /// What happened on a call so far. `None` for an unknown `call_control_id`.
    ///
    /// ```
    /// use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// assert!(sim.call_outcome("v3:unknown").is_none());
    /// assert!(sim.call_ids().is_empty());
    /// ```
    pub fn call_outcome(&self, call_control_id: &str) -> Option<CallOutcome> {
        self.lock().calls.get(call_control_id).map(|c| c.outcome())
    }

    /// Every call's `call_control_id`, oldest first.
    pub fn call_ids(&self) -> Vec<String> {
        self.lock().calls.order.clone()
    }

    /// Waits until the simulator is done with a call (it ended and its events were
    /// delivered), up to `timeout`; then its outcome. `None` for an unknown id or when the
    /// time ran out.
    pub async fn wait_for_call(
        &self,
        call_control_id: &str,
        timeout: Duration,
    ) -> Option<CallOutcome> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let outcome = self.call_outcome(call_control_id)?;
            if outcome.finished || tokio::time::Instant::now() >= deadline {
                return outcome.finished.then_some(outcome);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// From now on, never sends events of `event_type` (`call.hangup`, …) for any call:
    /// they are recorded with `dropped: true`, as an event lost on the way. For tests of
    /// what an application does when Telnyx's event never arrives (a reaper asking
    /// `GET /v2/calls/{id}`).
    ///
    /// ```
    /// use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// sim.drop_call_events("call.hangup");
    /// ```
    pub fn drop_call_events(&self, event_type: &str) {
        let mut state = self.lock();
        if !state.calls.dropped_events.iter().any(|e| e == event_type) {
            state.calls.dropped_events.push(event_type.to_string());
        }
    }

    /// The callee `to` behaves as `script` on the next outbound call to it (one script per
    /// call, first queued first). Calls without one get a silent callee.
    ///
    /// ```
    /// use telephony_telnyx_simulator::{CallScript, Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// sim.script_next_call("+15550005678", CallScript::new().say("Hello?"));
    /// ```
    pub fn script_next_call(&self, to: &str, script: CallScript) {
        let mut state = self.lock();
        let scripts = &mut state.calls.scripts;
        match scripts.iter_mut().find(|(n, _)| same_number(n, to)) {
            Some((_, queue)) => queue.push_back(script),
            None => scripts.push((to.to_string(), [script].into())),
        }
    }

    /// The simulated party hangs up call `call_control_id` now (`hangup_cause:
    /// "normal_clearing"`, `hangup_source` the caller of an incoming call, the callee of a
    /// dialed one). False if the call is unknown or already ended.
    ///
    /// ```
    /// use std::time::Duration;
    /// use telephony_telnyx_simulator::{InboundCall, Simulator, SimulatorConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sim = Simulator::new(
    ///     SimulatorConfig::generate()
    ///         .with_connection("1494404757140276705", "http://127.0.0.1:9/voice")
    ///         .with_webhook_retries(1, Duration::ZERO),
    /// );
    /// let id = sim.start_inbound_call(InboundCall::new("+15550005678", "+15550001234")).unwrap();
    /// assert!(sim.hang_up_party(&id));
    /// let outcome = sim.wait_for_call(&id, Duration::from_secs(20)).await.unwrap();
    /// assert_eq!(outcome.hangup_source.as_deref(), Some("caller"));
    /// assert!(!sim.hang_up_party(&id)); // already ended
    /// # }
    /// ```
    pub fn hang_up_party(&self, call_control_id: &str) -> bool {
        let state = self.lock();
        let Some(call) = state.calls.get(call_control_id).filter(|c| c.alive()) else {
            return false;
        };
        call.commands.as_ref().is_some_and(|tx| {
            tx.send(Command {
                client_state: None,
                action: Action::PartyHangup,
            })
            .is_ok()
        })
    }

    /// Every `POST /v2/calls` body received, oldest first (refused ones too; `null` when
    /// it was not JSON).
    ///
    /// ```
    /// use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sim = Simulator::new(SimulatorConfig::generate());
    /// let server = sim.serve("127.0.0.1:0".parse()?).await?;
    /// let resp = reqwest::Client::new()
    ///     .post(format!("{}/v2/calls", server.url()))
    ///     .bearer_auth(sim.config().api_key.expose())
    ///     .json(&serde_json::json!({"to": "+15550001111", "from": "+15550002222"}))
    ///     .send()
    ///     .await?;
    /// assert_eq!(resp.status(), 422); // connection_id is required
    /// assert_eq!(sim.dial_requests()[0]["to"], "+15550001111");
    /// # Ok(())
    /// # }
    /// ```
    pub fn dial_requests(&self) -> Vec<serde_json::Value> {
        self.lock().calls.dial_requests.clone()
    }

    /// How the callee `number` answers (see [`SimulatorConfig::with_callee_outcome`](crate::SimulatorConfig::with_callee_outcome)).
    pub(crate) fn callee_outcome(&self, number: &str) -> CalleeOutcome {
        self.config()
            .voice
            .callee_outcomes
            .iter()
            .find(|(n, _)| same_number(n, number))
            .map(|(_, o)| *o)
            .unwrap_or_default()
    }

    /// Who picks up `number`'s calls (see [`SimulatorConfig::with_answerer`](crate::SimulatorConfig::with_answerer)).
    pub(crate) fn answerer(&self, number: &str) -> telephony_simulator_voice::Answerer {
        self.config()
            .voice
            .answerers
            .iter()
            .find(|(n, _)| same_number(n, number))
            .map(|(_, a)| *a)
            .unwrap_or_default()
    }
}
