//! A stand-in Call Control application for the voice tests: it verifies each event's
//! Ed25519 signature, records the event, answers 200 (or a queued failure status), and
//! sends the commands its `react` function returns, in order, through one worker (as an
//! application acknowledging webhooks and acting after would).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use telephony_telnyx::signature::WebhookVerifier;
use telephony_telnyx_simulator::SimulatorConfig;

/// What the application does on an event (`data`): commands `(name, body)` for the
/// event's call.
pub(crate) type React = Arc<dyn Fn(&Value) -> Vec<(&'static str, Value)> + Send + Sync>;

#[derive(Clone)]
struct AppState {
    verifier: WebhookVerifier,
    url: String,
    events: Arc<Mutex<Vec<Value>>>,
    bad_signatures: Arc<AtomicUsize>,
    fail_next: Arc<Mutex<Vec<u16>>>,
    react: React,
    commands: tokio::sync::mpsc::UnboundedSender<(String, &'static str, Value)>,
}

/// The application, listening on 127.0.0.1.
pub(crate) struct VoiceApp {
    /// Its webhook URL.
    pub(crate) url: String,
    events: Arc<Mutex<Vec<Value>>>,
    bad_signatures: Arc<AtomicUsize>,
    fail_next: Arc<Mutex<Vec<u16>>>,
    /// `(command, HTTP status, body)` of every command it sent.
    pub(crate) responses: Arc<Mutex<Vec<(String, u16, Value)>>>,
    api: Arc<tokio::sync::OnceCell<String>>,
}

impl VoiceApp {
    /// Starts an application for a simulator with `config` (its API key and signing
    /// key) that reacts to events with `react`; its commands wait for [`Self::set_api`].
    pub(crate) async fn start(config: &SimulatorConfig, react: React) -> VoiceApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/telnyx/voice", listener.local_addr().unwrap());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, &'static str, Value)>();
        let responses = Arc::new(Mutex::new(Vec::new()));
        let key = config.api_key.expose().to_string();
        let sent = responses.clone();
        let api: Arc<tokio::sync::OnceCell<String>> = Arc::new(tokio::sync::OnceCell::new());
        let api_set = api.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Some((id, name, body)) = rx.recv().await {
                let api_base = api.get().cloned().unwrap_or_default();
                let resp = http
                    .post(format!("{api_base}/v2/calls/{id}/actions/{name}"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                sent.lock().unwrap().push((name.to_string(), status, body));
            }
        });
        let state = AppState {
            verifier: WebhookVerifier::from_base64(&config.public_key_base64()).unwrap(),
            url: url.clone(),
            events: Arc::new(Mutex::new(Vec::new())),
            bad_signatures: Arc::new(AtomicUsize::new(0)),
            fail_next: Arc::new(Mutex::new(Vec::new())),
            react,
            commands: tx,
        };
        let app = VoiceApp {
            url,
            events: state.events.clone(),
            bad_signatures: state.bad_signatures.clone(),
            fail_next: state.fail_next.clone(),
            responses,
            api: api_set,
        };
        let router = axum::Router::new()
            .route("/telnyx/voice", post(webhook))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await });
        app
    }

    /// Where its commands go: the simulator's base URL (set once, before any call).
    pub(crate) fn set_api(&self, base: String) {
        self.api.set(base).unwrap();
    }

    /// The events received (verified ones), as full envelopes, in arrival order.
    pub(crate) fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// `data.event_type` of every event received.
    pub(crate) fn event_types(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["data"]["event_type"].as_str().unwrap().to_string())
            .collect()
    }

    /// Events whose signature did not verify.
    pub(crate) fn bad_signatures(&self) -> usize {
        self.bad_signatures.load(Ordering::SeqCst)
    }

    /// Answers the next deliveries with these statuses (then 200 again).
    pub(crate) fn fail_next(&self, statuses: &[u16]) {
        self.fail_next.lock().unwrap().extend_from_slice(statuses);
    }

    /// Waits (up to 20 s) until an event of `event_type` arrived; returns it.
    pub(crate) async fn wait_for(&self, event_type: &str) -> Value {
        for _ in 0..4000 {
            if let Some(e) = self
                .events()
                .into_iter()
                .find(|e| e["data"]["event_type"] == event_type)
            {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "no {event_type} event within 20 s; got {:?}",
            self.event_types()
        );
    }
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if state
        .verifier
        .verify(&state.url, &headers, &body, now)
        .is_err()
    {
        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::FORBIDDEN;
    }
    {
        let mut fail = state.fail_next.lock().unwrap();
        if !fail.is_empty() {
            return StatusCode::from_u16(fail.remove(0)).unwrap();
        }
    }
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    let data = envelope["data"].clone();
    state.events.lock().unwrap().push(envelope);
    let id = data["payload"]["call_control_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for (name, body) in (state.react)(&data) {
        let _ = state.commands.send((id.clone(), name, body));
    }
    StatusCode::OK
}

/// A reaction from a table: event type → commands.
pub(crate) fn on(table: Vec<(&'static str, Vec<(&'static str, Value)>)>) -> React {
    Arc::new(move |data: &Value| {
        let event = data["event_type"].as_str().unwrap_or_default();
        table
            .iter()
            .find(|(e, _)| *e == event)
            .map(|(_, cmds)| cmds.clone())
            .unwrap_or_default()
    })
}

/// `{}`.
pub(crate) fn empty() -> Value {
    json!({})
}
