//! `loadgen --voice --provider telnyx`: the Telnyx side of Call Control, on loopback.
//!
//! Two halves, as Telnyx has them:
//!
//! - **the events** ([`event_request`]): each `call.*` event of the default flow as
//!   Telnyx (and `telephony-telnyx-simulator`'s call driver) POSTs it — the envelope
//!   `{"data":{"event_type","id","occurred_at","payload","record_type":"event"},"meta":{…}}`,
//!   the payload fields every event carries (`call_control_id`, `call_leg_id`,
//!   `call_session_id`, `client_state`, `connection_id`, `from`, `to`) plus the event's
//!   own, signed with Ed25519 over `"{timestamp}|{body}"` (`telnyx-signature-ed25519`,
//!   `telnyx-timestamp`) at the moment it is sent;
//! - **the API** ([`MockApi`]): `POST /v2/calls/{call_control_id}/actions/{name}` answered
//!   200 `{"data":{"result":"ok"}}` as Telnyx answers a command, recording for each the
//!   instant its whole request had been read, its name, its `client_state` and its
//!   `payload`. Anything else is answered 404 with Telnyx's error shape and counted as
//!   stray, so a gateway calling something unexpected shows up as an error.
//!
//! The mock runs on its own thread (`lg-client-api`, a current-thread runtime) so an
//! arrival is stamped without waiting behind the callers' tasks; its CPU counts as the
//! client's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use telephony_telnyx::WebhookSigner;

/// One command the gateway sent.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    /// When the mock had read the whole request.
    pub at: Instant,
    /// `{name}` of `/actions/{name}`.
    pub name: String,
    /// The body's `client_state`, if it set one.
    pub client_state: Option<String>,
    /// The body's `payload` (the text of `speak` / `gather_using_speak`), if any.
    pub payload: Option<String>,
    /// The whole body.
    pub body: Value,
}

/// What the mock API saw.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// `v3:{run_id}`: the prefix of every call of this run.
    prefix: String,
    /// Per call (by index): the commands not yet taken.
    slots: Vec<Mutex<Vec<Command>>>,
    /// Requests that were not a command for a call of this run.
    pub stray: AtomicU64,
    /// The first few stray requests (method and path).
    pub stray_samples: Mutex<Vec<String>>,
}

impl Recorder {
    pub(crate) fn new(run_id: &str, calls: usize) -> Self {
        Recorder {
            prefix: format!("v3:{run_id}"),
            slots: (0..calls).map(|_| Mutex::new(Vec::new())).collect(),
            stray: AtomicU64::new(0),
            stray_samples: Mutex::new(Vec::new()),
        }
    }

    /// The call index of a `call_control_id` of this run.
    fn index(&self, id: &str) -> Option<usize> {
        let hex = id.strip_prefix(&self.prefix)?;
        if hex.len() != 16 {
            return None;
        }
        usize::from_str_radix(hex, 16)
            .ok()
            .filter(|&i| i < self.slots.len())
    }

    /// Takes the commands recorded for call `index` so far, in arrival order.
    pub(crate) fn take(&self, index: usize) -> Vec<Command> {
        std::mem::take(&mut *self.slots[index].lock().expect("slot lock"))
    }

    fn stray(&self, what: String) {
        self.stray.fetch_add(1, Ordering::Relaxed);
        let mut s = self.stray_samples.lock().expect("stray lock");
        if s.len() < 5 {
            s.push(what);
        }
    }
}

fn telnyx_error(status: StatusCode, code: &str, title: &str, detail: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"errors": [{"code": code, "title": title, "detail": detail}]}).to_string(),
    )
        .into_response()
}

async fn command(
    State(rec): State<Arc<Recorder>>,
    Path((id, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let Some(index) = rec.index(&id) else {
        rec.stray(format!(
            "POST /v2/calls/{id}/actions/{name}: not a call of this run"
        ));
        return telnyx_error(
            StatusCode::NOT_FOUND,
            "10005",
            "Resource not found",
            format!("call {id:?} is not known"),
        );
    };
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            rec.stray(format!(
                "POST …/actions/{name}: the body is not a JSON object"
            ));
            return telnyx_error(
                StatusCode::BAD_REQUEST,
                "10023",
                "Invalid request body",
                "the body is not a JSON object".into(),
            );
        }
    };
    let text = |k: &str| parsed.get(k).and_then(Value::as_str).map(str::to_string);
    rec.slots[index].lock().expect("slot lock").push(Command {
        at,
        name,
        client_state: text("client_state"),
        payload: text("payload"),
        body: parsed,
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"data":{"result":"ok"}}"#,
    )
        .into_response()
}

async fn other(State(rec): State<Arc<Recorder>>, req: axum::extract::Request) -> Response {
    rec.stray(format!("{} {}", req.method(), req.uri().path()));
    telnyx_error(
        StatusCode::NOT_FOUND,
        "10005",
        "Resource not found",
        "loadgen's mock Telnyx API only takes call commands".into(),
    )
}

/// The mock Telnyx API, serving until dropped.
pub(crate) struct MockApi {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockApi {
    /// Serves on 127.0.0.1:0 on its own thread.
    pub(crate) fn start(recorder: Arc<Recorder>) -> Result<MockApi, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("mock Telnyx API: bind: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("mock Telnyx API: {e}"))?;
        let addr: SocketAddr = listener
            .local_addr()
            .map_err(|e| format!("mock Telnyx API: {e}"))?;
        let app = Router::new()
            .route("/v2/calls/{id}/actions/{name}", post(command))
            .fallback(other)
            .with_state(recorder);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lg-client-api".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("loadgen: mock Telnyx API runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("loadgen: mock Telnyx API: {e}");
                            return;
                        }
                    };
                    let served = axum::serve(
                        axum::serve::ListenerExt::tap_io(listener, |tcp| {
                            let _ = tcp.set_nodelay(true);
                        }),
                        app,
                    )
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    });
                    if let Err(e) = served.await {
                        eprintln!("loadgen: mock Telnyx API: {e}");
                    }
                });
            })
            .map_err(|e| format!("mock Telnyx API thread: {e}"))?;
        Ok(MockApi {
            url: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The events of one call of the default flow, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// `call.initiated` (`incoming`, parked) → `answer`.
    Initiated = 0,
    /// `call.answered` → `gather_using_speak` + `transcription_start`.
    Answered = 1,
    /// A final `call.transcription` → `gather_stop`, `transcription_stop`, `speak`.
    Transcription = 2,
    /// `call.speak.ended` (`completed`) → `hangup`.
    SpeakEnded = 3,
    /// `call.hangup` (`normal_clearing`, the gateway's side hung up) → nothing.
    Hangup = 4,
}

/// Every event, in the order a call sends them.
pub(crate) const EVENTS: [Event; 5] = [
    Event::Initiated,
    Event::Answered,
    Event::Transcription,
    Event::SpeakEnded,
    Event::Hangup,
];

impl Event {
    /// The Telnyx `event_type`.
    pub(crate) fn event_type(self) -> &'static str {
        match self {
            Event::Initiated => "call.initiated",
            Event::Answered => "call.answered",
            Event::Transcription => "call.transcription",
            Event::SpeakEnded => "call.speak.ended",
            Event::Hangup => "call.hangup",
        }
    }

    /// The commands the default flow answers this event with, in order.
    pub(crate) fn commands(self) -> &'static [&'static str] {
        match self {
            Event::Initiated => &["answer"],
            Event::Answered => &["gather_using_speak", "transcription_start"],
            Event::Transcription => &["speak", "gather_stop", "transcription_stop"],
            Event::SpeakEnded => &["hangup"],
            Event::Hangup => &[],
        }
    }
}

/// One call as Telnyx knows it.
#[derive(Debug, Clone)]
pub(crate) struct CallIds {
    pub call_control_id: String,
    pub call_leg_id: String,
    pub call_session_id: String,
    pub from: String,
    pub to: String,
}

/// `call_control_id` of call `index` of run `run_id`: `v3:` + 32 hex digits.
pub(crate) fn call_control_id(run_id: &str, index: usize) -> String {
    format!("v3:{run_id}{index:016x}")
}

impl CallIds {
    pub(crate) fn new(run_id: &str, index: usize, from: String, to: &str) -> Self {
        let uuid = |kind: u16| {
            format!(
                "{}-{:04x}-4{}-8{}-{:012x}",
                &run_id[..8],
                kind,
                &run_id[8..11],
                &run_id[11..14],
                index
            )
        };
        CallIds {
            call_control_id: call_control_id(run_id, index),
            call_leg_id: uuid(1),
            call_session_id: uuid(2),
            from,
            to: to.to_string(),
        }
    }
}

/// RFC 3339 with microseconds, as Telnyx writes `occurred_at`.
fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// The JSON body of `event` of `call`, echoing `client_state` (`None` before any command
/// set one), with what the caller said for a transcription.
pub(crate) fn event_body(
    event: Event,
    call: &CallIds,
    event_id: &str,
    client_state: Option<&str>,
    start_time: &str,
    speech: (&str, f64),
    delivered_to: &str,
) -> Vec<u8> {
    let now = rfc3339(time::OffsetDateTime::now_utc());
    let mut payload = json!({
        "call_control_id": call.call_control_id,
        "call_leg_id": call.call_leg_id,
        "call_session_id": call.call_session_id,
        "client_state": client_state,
        "connection_id": "loadgen-call-control-app",
        "from": call.from,
        "to": call.to,
    });
    let extra = match event {
        Event::Initiated => json!({
            "direction": "incoming", "state": "parked", "start_time": start_time,
            "caller_id_name": call.from,
        }),
        Event::Answered => json!({ "state": "answered", "start_time": start_time }),
        Event::Transcription => json!({
            "transcription_data": {
                "confidence": speech.1, "is_final": true, "transcript": speech.0,
                "transcription_track": "inbound",
            }
        }),
        Event::SpeakEnded => json!({ "status": "completed" }),
        Event::Hangup => json!({
            "call_quality_stats": null, "end_time": now, "hangup_cause": "normal_clearing",
            "hangup_source": "callee", "sip_hangup_cause": "unspecified",
            "start_time": start_time, "state": "hangup",
        }),
    };
    if let (Value::Object(p), Value::Object(e)) = (&mut payload, extra) {
        p.extend(e);
    }
    let body = json!({
        "data": {
            "event_type": event.event_type(),
            "id": event_id,
            "occurred_at": now,
            "payload": payload,
            "record_type": "event",
        },
        "meta": { "attempt": 1, "delivered_to": delivered_to },
    });
    serde_json::to_vec(&body).expect("JSON")
}

/// The whole HTTP request for `body`, signed now.
pub(crate) fn event_request(
    signer: &WebhookSigner,
    path: &str,
    host: &str,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = signer.sign(ts, body);
    out.clear();
    out.extend_from_slice(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: telnyx-webhooks\r\nContent-Type: application/json\r\nAccept: */*\r\ntelnyx-signature-ed25519: {sig}\r\ntelnyx-timestamp: {ts}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
}

/// `time` of now as Telnyx writes a call's `start_time`.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use telephony_core::WebhookEvent;
    use telephony_core::voice::{CallDirection, CallEvent, CallStatus};

    fn ids() -> CallIds {
        CallIds::new("0123456789abcdef", 5, "+15550000005".into(), "+15550100001")
    }

    #[test]
    fn events_are_signed_and_read_by_the_provider_as_telnyx_events() {
        let signer = WebhookSigner::from_seed([7; 32]);
        let verifier =
            telephony_telnyx::WebhookVerifier::from_base64(&signer.public_key_base64()).unwrap();
        let call = ids();
        assert_eq!(call.call_control_id, "v3:0123456789abcdef0000000000000005");
        let body = event_body(
            Event::Initiated,
            &call,
            "e1",
            None,
            "2026-12-07T10:00:00.000000Z",
            ("hi", 0.9),
            "http://x/telephony/webhook",
        );
        let mut req = Vec::new();
        event_request(
            &signer,
            "/telephony/webhook",
            "127.0.0.1:1",
            &body,
            &mut req,
        );
        let text = String::from_utf8(req).unwrap();
        let (head, sent) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(sent.as_bytes(), body.as_slice());
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap()
                .to_string()
        };
        let mut headers = http::HeaderMap::new();
        for name in ["telnyx-signature-ed25519", "telnyx-timestamp"] {
            headers.insert(name, header(name).parse().unwrap());
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        verifier
            .verify("http://x/telephony/webhook", &headers, sent.as_bytes(), now)
            .unwrap();
        let mut tampered = sent.as_bytes().to_vec();
        tampered[10] ^= 1;
        assert!(
            verifier
                .verify("http://x/telephony/webhook", &headers, &tampered, now)
                .is_err()
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        let ev = telephony_telnyx::voice::parse_call_event(
            v["data"]["event_type"].as_str().unwrap(),
            v["data"]["id"].as_str(),
            v["data"]["occurred_at"].as_str(),
            &v["data"]["payload"],
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        let WebhookEvent::Call(CallEvent::Incoming(c)) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (c.call_id.as_str(), c.from.as_str(), c.direction, c.status),
            (
                "v3:0123456789abcdef0000000000000005",
                "+15550000005",
                CallDirection::Inbound,
                CallStatus::Ringing
            )
        );
        let hangup = event_body(
            Event::Hangup,
            &call,
            "e5",
            Some("c3RhdGU="),
            "2026-12-07T10:00:00.000000Z",
            ("hi", 0.9),
            "u",
        );
        let v: Value = serde_json::from_slice(&hangup).unwrap();
        let ev = telephony_telnyx::voice::parse_call_event(
            "call.hangup",
            Some("e5"),
            None,
            &v["data"]["payload"],
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        let WebhookEvent::Call(CallEvent::Status(u)) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(u.status, CallStatus::Completed);
    }

    #[test]
    fn the_recorder_knows_the_calls_of_its_run_only() {
        let rec = Recorder::new("0123456789abcdef", 10);
        assert_eq!(rec.index("v3:0123456789abcdef0000000000000009"), Some(9));
        assert_eq!(rec.index("v3:0123456789abcdef000000000000000a"), None);
        assert_eq!(rec.index("v3:fedcba98765432100000000000000001"), None);
        assert_eq!(rec.index("v3:0123456789abcdef01"), None);
    }
}
