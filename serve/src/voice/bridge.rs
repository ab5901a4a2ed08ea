//! The relay bridge for applications in any language (`voice.mode: "relay"`): every event
//! of a call's relay is POSTed as signed JSON to one HTTP endpoint, and the `text` of its
//! answer is spoken to the caller.
//!
//! Request (`Content-Type: application/json`, headers `X-Telephony-Event`,
//! `X-Telephony-Event-Id` and, with a secret, `X-Telephony-Signature: sha256=<hex HMAC of
//! the body>` — the scheme of message forwarding):
//!
//! ```json
//! {"id":"evt_CA…_3","createdAt":"2026-01-02T03:04:05Z","type":"call.prompt",
//!  "data":{"callId":"CA…","from":"+1555…","to":"+1555…","text":"what time is it","language":"en-US"}}
//! ```
//!
//! Types: `call.started` (data: `callId`, `from`, `to`, `direction`), `call.prompt`
//! (`text`, `language`), `call.dtmf` (`digit`), `call.interrupt`
//! (`utteranceUntilInterrupt`, `durationUntilInterruptMs`), `call.ended`. Answer 200 with
//! `{"text":"…"}` to speak, `{"text":"…","end":true}` to speak and end the conversation
//! (the call continues with the verbs after the relay: in the standalone server,
//! `voice.closing` and hang-up), with `"handoffData":"…"` to pass data on to them; an empty
//! body or `{}` says nothing. An answer that
//! takes longer than the bridge's timeout, fails, or is not that JSON gets a spoken
//! apology, never a silent line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use telephony_core::Secret;
use telephony_core::store::CallRecord;
use telephony_core::voice::{CallDirection, RelayEvent};
use time::OffsetDateTime;

use super::live::{RelayHandler, RelaySession};
use crate::handler_error::HandlerError;
use crate::worker::forward::signature;

/// What the application answers to a relay event.
///
/// ```
/// use telephony_serve::voice::bridge::RelayReply;
/// let r: RelayReply = serde_json::from_str(r#"{"text":"Goodbye!","end":true}"#).unwrap();
/// assert_eq!((r.text.as_deref(), r.end), (Some("Goodbye!"), true));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayReply {
    /// Text to speak.
    #[serde(default)]
    pub text: Option<String>,
    /// End the conversation after speaking (the call continues with the verbs after the
    /// relay).
    #[serde(default)]
    pub end: bool,
    /// Data handed on with `end` (to `<Connect action>`).
    #[serde(default)]
    pub handoff_data: Option<String>,
}

/// One event POSTed to the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayRequest {
    /// Unique per call and event.
    pub id: String,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `call.started`, `call.prompt`, `call.dtmf`, `call.interrupt`, `call.ended`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's fields (always `callId`, `from`, `to`).
    pub data: serde_json::Value,
}

/// The answer to a call's `call.started`, asked for while the webhook was answered.
type Early = tokio::task::JoinHandle<Result<Option<RelayReply>, String>>;

/// How long an early `call.started` answer waits for its relay.
const EARLY_FOR: Duration = Duration::from_secs(60);

/// The HTTP relay bridge: a [`RelayHandler`] that talks to an application over HTTP.
///
/// With `voice.preconnect` (the default) its `call.started` is POSTed while the gateway
/// answers the call's webhook ([`RelayHandler::prepare`]), so the application's first
/// words are ready when the provider connects the relay; `call.started` then carries the
/// call's `direction` as Twilio names it (`inbound`, `outbound-api`, `outbound-dial`).
#[derive(Debug, Clone)]
pub struct HttpRelayBridge {
    url: String,
    secret: Option<Secret>,
    timeout: Duration,
    apology: String,
    http: reqwest::Client,
    /// `call.started` answers on their way, per call.
    early: Arc<Mutex<HashMap<String, (Instant, Early)>>>,
}

impl HttpRelayBridge {
    /// A bridge to `url`, signing with `secret` when given, waiting `timeout` for each
    /// answer.
    pub fn new(url: impl Into<String>, secret: Option<Secret>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        HttpRelayBridge {
            url: url.into(),
            secret,
            timeout,
            apology: "Sorry, I could not answer that in time. Please say it again.".into(),
            http,
            early: Arc::default(),
        }
    }

    /// What the caller hears when the application is slow or fails.
    pub fn apology(mut self, text: impl Into<String>) -> Self {
        self.apology = text.into();
        self
    }

    /// POSTs one event; `Ok(None)` for a 2xx with no instructions.
    async fn post(
        &self,
        call_id: &str,
        n: u64,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<Option<RelayReply>, String> {
        let req = RelayRequest {
            id: format!("evt_{call_id}_{n}"),
            created_at: OffsetDateTime::now_utc(),
            kind: kind.to_string(),
            data,
        };
        let body = serde_json::to_vec(&req).map_err(|e| e.to_string())?;
        let mut r = self
            .http
            .post(&self.url)
            .timeout(self.timeout)
            .header("content-type", "application/json")
            .header("x-telephony-event", kind)
            .header("x-telephony-event-id", &req.id);
        if let Some(s) = &self.secret {
            r = r.header(
                "x-telephony-signature",
                signature(s.expose().as_bytes(), &body),
            );
        }
        let resp = r.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} ms", self.timeout.as_millis())
            } else {
                format!("request failed: {e}")
            }
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        if !status.is_success() {
            return Err(format!("the application answered HTTP {status}"));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("the answer is not {{\"text\":…}} JSON: {e}"))
    }
}

#[async_trait]
impl RelayHandler for HttpRelayBridge {
    /// POSTs `call.started` now (event number 1, as `on_relay` would), keeping the answer
    /// for the relay.
    async fn prepare(&self, call: &CallRecord) {
        let direction = match call.direction {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound-api",
            CallDirection::Dialed => "outbound-dial",
            _ => "",
        };
        let data = serde_json::json!({
            "direction": direction,
            "callId": call.call_id,
            "from": call.from,
            "to": call.to,
        });
        let this = self.clone();
        let id = call.call_id.clone();
        let task = tokio::spawn(async move { this.post(&id, 1, "call.started", data).await });
        let now = Instant::now();
        let mut early = telephony_core::sync::lock(&self.early);
        early.retain(|_, (at, task)| {
            let keep = now.duration_since(*at) < EARLY_FOR;
            if !keep {
                task.abort();
            }
            keep
        });
        if let Some((_, old)) = early.insert(call.call_id.clone(), (now, task)) {
            old.abort();
        }
    }

    async fn on_relay(&self, mut relay: RelaySession) -> Result<(), HandlerError> {
        let setup = relay.setup().clone();
        let out = relay.sender();
        let call_id = setup.call_id.clone();
        let base = |mut extra: serde_json::Value| {
            if let Some(map) = extra.as_object_mut() {
                map.insert("callId".into(), call_id.clone().into());
                map.insert("from".into(), setup.from.clone().into());
                map.insert("to".into(), setup.to.clone().into());
            }
            extra
        };
        let mut n = 0u64;
        let mut next = |kind: &'static str, data: serde_json::Value| {
            n += 1;
            (n, kind, base(data))
        };
        let (i, kind, data) = next(
            "call.started",
            serde_json::json!({ "direction": setup.direction }),
        );
        let early = telephony_core::sync::lock(&self.early).remove(&call_id);
        let first = match early {
            Some((at, task)) if at.elapsed() < EARLY_FOR => {
                tracing::debug!(call_sid = %call_id, "using the call.started answer asked for with the webhook's answer");
                task.await
                    .unwrap_or_else(|e| Err(format!("the early call.started failed: {e}")))
            }
            _ => self.post(&call_id, i, kind, data).await,
        };
        let mut pending = Some(first);
        loop {
            if let Some(result) = pending.take() {
                match result {
                    Ok(Some(reply)) => {
                        if let Some(text) = reply.text.filter(|t| !t.trim().is_empty()) {
                            out.say(text)?;
                        }
                        if reply.end {
                            // The relay ends; the call goes on with the verbs after it
                            // (the standalone server's: `voice.closing`, then hang-up).
                            out.end(reply.handoff_data)?;
                            break;
                        }
                    }
                    Ok(None) => {}
                    Err(why) => {
                        tracing::warn!(call_sid = %call_id, error = %why, "relay application failed; apologizing to the caller");
                        out.say(self.apology.clone())?;
                    }
                }
            }
            let Some(event) = relay.next_event().await else {
                break;
            };
            let (i, kind, data) = match event {
                RelayEvent::Prompt {
                    text,
                    language,
                    last: true,
                } => next(
                    "call.prompt",
                    serde_json::json!({ "text": text, "language": language }),
                ),
                RelayEvent::Dtmf { digit } => next(
                    "call.dtmf",
                    serde_json::json!({ "digit": digit.to_string() }),
                ),
                RelayEvent::Interrupt {
                    utterance_until_interrupt,
                    duration_until_interrupt_ms,
                } => next(
                    "call.interrupt",
                    serde_json::json!({
                        "utteranceUntilInterrupt": utterance_until_interrupt,
                        "durationUntilInterruptMs": duration_until_interrupt_ms,
                    }),
                ),
                RelayEvent::Error { description } => {
                    tracing::warn!(call_sid = %call_id, %description, "the provider reported a relay error");
                    continue;
                }
                // Partial prompts and setup repeats are not forwarded.
                _ => continue,
            };
            pending = Some(self.post(&call_id, i, kind, data).await);
        }
        let (i, kind, data) = next("call.ended", serde_json::json!({}));
        if let Err(why) = self.post(&call_id, i, kind, data).await {
            tracing::info!(call_sid = %call_id, error = %why, "the relay application did not take call.ended");
        }
        Ok(())
    }
}
