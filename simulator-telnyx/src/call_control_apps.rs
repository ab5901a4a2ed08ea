//! `GET` and `PATCH /v2/call_control_applications/{id}`: the Call Control applications
//! ("connections") of the account, whose `webhook_event_url` a gateway may point at
//! itself on start. They start as [`VoiceConfig::connections`](crate::VoiceConfig::connections)
//! and live in the simulator's state from the first use.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::authorize;
use crate::errors::ApiError;
use crate::simulator::Simulator;
use crate::state::SimState;
use crate::voice_config::CallControlApp;

/// The account's applications, loaded from the settings on first use.
pub(crate) fn apps<'a>(state: &'a mut SimState, sim: &Simulator) -> &'a mut Vec<CallControlApp> {
    let calls = &mut state.calls;
    if !calls.apps_loaded {
        calls.apps = sim.config().voice.connections.clone();
        calls.apps_loaded = true;
    }
    &mut calls.apps
}

fn resource(app: &CallControlApp, sim: &Simulator) -> Value {
    json!({
        "active": true,
        "anchorsite_override": "Latency",
        "application_name": app.application_name,
        "dtmf_type": "RFC 2833",
        "first_command_timeout": true,
        "first_command_timeout_secs": sim.config().voice.first_command_timeout.as_secs(),
        "id": app.id,
        "record_type": "call_control_application",
        "webhook_api_version": "2",
        "webhook_event_failover_url": app.webhook_event_failover_url,
        "webhook_event_url": app.webhook_event_url,
        "webhook_timeout_secs": Value::Null,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        10005,
        "Resource not found",
        format!("Call Control application {id:?} could not be found."),
    )
}

/// `GET /v2/call_control_applications/{id}`.
pub(crate) async fn get_app(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers)?;
    let mut state = sim.lock();
    let app = apps(&mut state, &sim)
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({ "data": resource(app, &sim) })).into_response())
}

fn absolute_url(value: &str, field: &str, pointer: &'static str) -> Result<(), ApiError> {
    match reqwest::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(ApiError::invalid(
            10015,
            "Invalid parameter",
            format!(
                "The '{field}' parameter must be an absolute URL with a scheme, such as https; got {value:?}."
            ),
            pointer,
        )),
    }
}

/// `PATCH /v2/call_control_applications/{id}`: `application_name` and
/// `webhook_event_url` required (as Telnyx's API has them), `webhook_event_failover_url`
/// optional (`null` clears it).
pub(crate) async fn patch_app(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&sim, &headers)?;
    let body: serde_json::Map<String, Value> = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(
            400,
            10023,
            "Invalid JSON",
            "The request body is not a valid JSON object.",
        )
    })?;
    let text = |field: &str, pointer: &'static str| -> Result<String, ApiError> {
        match body.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            None | Some(Value::Null) | Some(Value::String(_)) => Err(ApiError::invalid(
                10004,
                "Missing required parameter",
                format!("The '{field}' parameter is required."),
                pointer,
            )),
            Some(_) => Err(ApiError::invalid(
                10015,
                "Invalid parameter",
                format!("The '{field}' parameter must be a string."),
                pointer,
            )),
        }
    };
    let name = text("application_name", "/application_name")?;
    let url = text("webhook_event_url", "/webhook_event_url")?;
    absolute_url(&url, "webhook_event_url", "/webhook_event_url")?;
    let failover = match body.get("webhook_event_failover_url") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s.is_empty() => Some(None),
        Some(Value::String(s)) => {
            absolute_url(
                s,
                "webhook_event_failover_url",
                "/webhook_event_failover_url",
            )?;
            Some(Some(s.clone()))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                10015,
                "Invalid parameter",
                "The 'webhook_event_failover_url' parameter must be a string or null.",
                "/webhook_event_failover_url",
            ));
        }
    };
    let mut state = sim.lock();
    let app = apps(&mut state, &sim)
        .iter_mut()
        .find(|a| a.id == id)
        .ok_or_else(|| not_found(&id))?;
    app.application_name = name;
    app.webhook_event_url = url;
    if let Some(f) = failover {
        app.webhook_event_failover_url = f;
    }
    let answer = resource(app, &sim);
    state.calls.app_updates.push(Value::Object(body));
    tracing::info!(connection_id = %id, "telnyx simulator: Call Control application updated");
    Ok(Json(json!({ "data": answer })).into_response())
}

impl Simulator {
    /// A Call Control application as it stands now (after any `PATCH`).
    ///
    /// ```
    /// use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate().with_connection("123", "https://gw.example.com/telnyx/voice"));
    /// assert_eq!(sim.call_control_app("123").unwrap().webhook_event_url, "https://gw.example.com/telnyx/voice");
    /// assert!(sim.call_control_app("456").is_none());
    /// ```
    pub fn call_control_app(&self, id: &str) -> Option<CallControlApp> {
        let mut state = self.lock();
        apps(&mut state, self).iter().find(|a| a.id == id).cloned()
    }

    /// Points application `id`'s events at `webhook_event_url` directly (as in the Telnyx
    /// portal; not recorded as an update). False when there is no such application.
    ///
    /// ```
    /// use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
    /// let sim = Simulator::new(SimulatorConfig::generate().with_connection("123", "http://127.0.0.1:9/old"));
    /// assert!(sim.set_call_control_webhook("123", "http://127.0.0.1:3335/telephony/webhook"));
    /// assert_eq!(sim.call_control_app("123").unwrap().webhook_event_url, "http://127.0.0.1:3335/telephony/webhook");
    /// assert!(!sim.set_call_control_webhook("456", "x"));
    /// ```
    pub fn set_call_control_webhook(&self, id: &str, webhook_event_url: &str) -> bool {
        let mut state = self.lock();
        match apps(&mut state, self).iter_mut().find(|a| a.id == id) {
            Some(app) => {
                app.webhook_event_url = webhook_event_url.to_string();
                true
            }
            None => false,
        }
    }

    /// Every `PATCH /v2/call_control_applications/{id}` body applied, oldest first.
    ///
    /// ```
    /// use telephony_telnyx_simulator::{Simulator, SimulatorConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sim = Simulator::new(SimulatorConfig::generate().with_connection("123", "https://old.example.com/voice"));
    /// let server = sim.serve("127.0.0.1:0".parse()?).await?;
    /// let body = serde_json::json!({"application_name": "gateway", "webhook_event_url": "https://gw.example.com/telnyx/voice"});
    /// let resp = reqwest::Client::new()
    ///     .patch(format!("{}/v2/call_control_applications/123", server.url()))
    ///     .bearer_auth(sim.config().api_key.expose())
    ///     .json(&body)
    ///     .send()
    ///     .await?;
    /// assert_eq!(resp.status(), 200);
    /// assert_eq!(sim.call_control_app_updates(), [body]);
    /// assert_eq!(sim.call_control_app("123").unwrap().webhook_event_url, "https://gw.example.com/telnyx/voice");
    /// # Ok(())
    /// # }
    /// ```
    pub fn call_control_app_updates(&self) -> Vec<Value> {
        self.lock().calls.app_updates.clone()
    }

    /// The application `id` (`None`: the first one) for a new call.
    pub(crate) fn app_for_call(&self, id: Option<&str>) -> Option<CallControlApp> {
        let mut state = self.lock();
        let apps = apps(&mut state, self);
        match id {
            None => apps.first().cloned(),
            Some(id) => apps.iter().find(|a| a.id == id).cloned(),
        }
    }
}
