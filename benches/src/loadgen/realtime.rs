//! `loadgen --realtime`: real-time voice over loopback, 100 concurrent streams and relays
//! played exactly as Twilio plays them, with the gateway's added latency per frame and
//! per prompt, and its memory and CPU per stream.
//!
//! **Streams** (`--streams`, default 100, for `--duration` seconds, default 20): a gateway
//! built in this process on its own runtime (`gw-worker` threads, SQLite store, the
//! `VOICE_CONFIG` policies) with a voice handler that answers every call with
//! `<Connect><Stream>` and a Rust [`StreamHandler`](telephony_serve::StreamHandler) that
//! echoes every frame it sees. Each stream is a call: the signed incoming-call webhook,
//! the `<Connect><Stream url=…><Parameter name="telephonyToken" …/>` TwiML, the WebSocket
//! upgrade signed over the `wss://` URL (TCP_NODELAY), `connected`, `start` with the token,
//! one warm-up frame (echoed before the clock starts), then a 160-byte μ-law `media` frame
//! every 20 ms (50 frames/s, the streams' phases spread over the 20 ms), then `stop`. Every
//! frame carries its stream and number in its first bytes, so both ends can tell which it
//! is. Per frame:
//!
//! - **inbound** = the handler got it from `next_event` − the client was about to write it;
//! - **outbound** = the client read the echo − the handler was about to hand it to
//!   `send_mulaw`.
//!
//! Both include the loopback TCP stack and the client's own WebSocket framing (and, on a
//! shared machine, any wait for a core), so they are upper bounds of the gateway's part.
//! **Memory per stream**: this process's RSS with the gateway up and no stream, then with
//! every stream open (idle), then at the end of the streaming, less the first, divided by
//! the streams; it includes the client's side of each socket (an upper bound too). The
//! timestamp buffers are allocated and written before the first RSS reading. **CPU per
//! stream**: CPU time of every thread but the client's (`lg-client`, `lg-app`, the main
//! thread) from 1 s after the frames start to the end of the streaming, per stream and
//! second, as a share of one core.
//!
//! **Relays** (`--relays`, default 100, for `--relay-duration` seconds, default 15): the
//! standalone server ([`telephony::server::start`], sandbox) in `voice.mode: "relay"`
//! with `voice.relayUrl` to an HTTP app on loopback (its own thread, `lg-app`) that answers
//! every `call.prompt` at once with `{"text": …}` and records when it had read the whole
//! POST and when it had written its whole answer. Each relay is a call: the signed webhook,
//! the `<Connect><ConversationRelay>` TwiML, the signed upgrade to `{streamPath}/relay`,
//! `setup` with the token, a warm-up prompt, then a `prompt` (`last: true`) every
//! `--prompt-interval-ms` (default 1000, phases spread) each waiting for its `text`. Per
//! prompt, the **overhead** = (first `text` read − prompt written) − (answer written − POST
//! read at the app).
//!
//! Targets (the real-time issue): inbound and outbound p99 < 1 ms, relay overhead p99 < 2 ms.
//!
//! **On Telnyx** (`--provider telnyx`, streams only: the gateway has no ConversationRelay
//! for Telnyx) the same streams are played as Telnyx plays them: the gateway's provider is
//! a Telnyx account whose API is loadgen's mock ([`telnyx_api`]); each call is a signed
//! `call.initiated` (answered with `answer`) and `call.answered` (answered with
//! `streaming_start`, whose `stream_url` and `custom_parameters` give the socket and the
//! one-time token), then an unsigned upgrade (Telnyx does not sign it), `connected`,
//! `start` (`stream_id`, `start.call_control_id`, `start.custom_parameters.telephonyToken`,
//! `start.media_format` PCMU 8000 Hz), `media` frames (`sequence_number`,
//! `media.{track,chunk,timestamp,payload}`) and `stop`, as `telephony-telnyx-simulator`
//! writes them. The echo comes back as Telnyx's `{"event":"media","media":{"payload":…}}`.
//!
//! ```text
//! loadgen --realtime                                 # both, defaults: ~45 s
//! loadgen --realtime --streams 100 --duration 20 --only streams
//! loadgen --realtime --relays 100 --relay-duration 15 --only relays --json
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use telephony::config::Config;
use telephony::server::{self, ServeOptions};
use telephony_core::voice::{CallEvent, StreamEvent, StreamVerb, VoiceResponse};
use telephony_serve::{CallContext, CallStream, Gateway, HandlerError};
use telephony_twilio::{RequestValidator, TwilioConfig, TwilioProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::latency::Latency;
use crate::rt_samples::{
    FrameTimes, Joined, MISSING, PromptTimes, connect_target, frame, frame_id, request_extent,
};
use crate::{Args, VOICE_CONFIG, client, mib, ms, procfs, telnyx_api, voice_form, voice_plan};

/// Seconds of streaming without `--duration`.
pub(crate) const DEFAULT_STREAM_SECS: f64 = 20.0;
/// The issue's target for inbound and outbound added latency, p99.
const TARGET_FRAME_P99: Duration = Duration::from_millis(1);
/// The issue's target for the relay's overhead, p99.
const TARGET_RELAY_P99: Duration = Duration::from_millis(2);
/// One frame of audio.
const FRAME: Duration = Duration::from_millis(20);
/// The frame number of the warm-up frame (not counted).
const WARMUP: u32 = u32::MAX;
/// Sockets being opened at once (the gateway admits 32 unauthenticated ones per address).
const OPENING: usize = 8;
/// Longest wait for any one answer, echo or close.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// After the last frame, how long to wait for the last echoes.
const DRAIN: Duration = Duration::from_secs(2);
/// The streams phase's provider account and auth token (signing only: it calls no API).
const ACCOUNT: &str = "AC00000000000000000000000000000000";
const AUTH_TOKEN: &str = "loadgen-realtime-auth-token-0001";
/// The number called (the sandbox's number).
const TO: &str = "+15005550006";
/// Thread names that are the client's side (the rest of the process is the gateway):
/// with `--provider telnyx`, the mock Telnyx API's thread too.
const CLIENT_THREADS: [&str; 4] = ["lg-client", "lg-app", "loadgen", "lg-client-api"];

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// The one clock of a run: nanoseconds since its start.
#[derive(Debug, Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn ns(self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Telnyx's side of a stream's call (`--provider telnyx`): the signer of its events and
/// what loadgen's mock Telnyx API recorded.
struct TelnyxSide {
    signer: telephony_telnyx::WebhookSigner,
    recorder: Arc<telnyx_api::Recorder>,
}

impl std::fmt::Debug for TelnyxSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelnyxSide").finish_non_exhaustive()
    }
}

/// How to ring the gateway as Twilio does (or, with `telnyx`, as Telnyx does).
#[derive(Debug, Clone)]
struct Ringer {
    addr: SocketAddr,
    host: String,
    path: String,
    url: String,
    account: String,
    auth_token: String,
    run_id: String,
    telnyx: Option<Arc<TelnyxSide>>,
}

/// `"{sequence}"`, `start`, `media` and `stop` messages as each provider writes them.
impl Ringer {
    fn connected_message(&self) -> String {
        match self.telnyx {
            None => json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            Some(_) => json!({"event": "connected", "version": "1.0.0"}),
        }
        .to_string()
    }

    fn start_message(&self, i: usize, stream_sid: &str, token: &str) -> String {
        match self.telnyx {
            None => json!({"event": "start", "sequenceNumber": "1", "start": {
                "accountSid": self.account, "streamSid": stream_sid, "callSid": self.call_sid(i),
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"telephonyToken": token}
            }, "streamSid": stream_sid}),
            // Telnyx's (VOICE.md §4; the simulator's `media_stream`).
            Some(_) => json!({"event": "start", "sequence_number": "1", "start": {
                "user_id": "loadgen", "call_control_id": self.call_sid(i),
                "call_session_id": format!("{}-{i:012x}", self.run_id),
                "from": Self::caller(i), "to": TO, "client_state": null,
                "custom_parameters": {"telephonyToken": token},
                "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}
            }, "stream_id": stream_sid}),
        }
        .to_string()
    }

    fn media_message(
        &self,
        stream_sid: &str,
        sequence: u64,
        chunk: u64,
        timestamp_ms: u64,
        frame: &[u8],
    ) -> String {
        match self.telnyx {
            None => media_message(stream_sid, sequence, chunk, timestamp_ms, frame),
            Some(_) => telnyx_media_message(stream_sid, sequence, chunk, timestamp_ms, frame),
        }
    }

    fn stop_message(&self, i: usize, stream_sid: &str, sequence: u64) -> String {
        match self.telnyx {
            None => json!({"event": "stop", "sequenceNumber": sequence.to_string(), "streamSid": stream_sid,
                "stop": {"accountSid": self.account, "callSid": self.call_sid(i)}}),
            Some(_) => json!({"event": "stop", "sequence_number": sequence.to_string(), "stream_id": stream_sid,
                "stop": {"user_id": "loadgen", "call_control_id": self.call_sid(i)}}),
        }
        .to_string()
    }

    fn stream_sid(&self, i: usize) -> String {
        match self.telnyx {
            None => format!("MZ{}{i:016x}", self.run_id),
            Some(_) => format!(
                "{}-{}-4{}-8{}-{i:012x}",
                &self.run_id[..8],
                &self.run_id[8..12],
                &self.run_id[12..15],
                &self.run_id[..3]
            ),
        }
    }

    /// Rings call `i` and returns the stream's socket URL and `telephonyToken`: from the
    /// `<Connect><Stream>` TwiML on Twilio; on Telnyx from the `streaming_start` command
    /// the gateway sends once `call.answered` comes (after `answer` to `call.initiated`).
    async fn stream_target(&self, i: usize) -> Result<(String, String), String> {
        let Some(t) = &self.telnyx else {
            let twiml = self.ring(i).await?;
            return connect_target(&twiml, "Stream");
        };
        let call = telnyx_api::CallIds::new(&self.run_id, i, Self::caller(i), TO);
        let mut tcp = client::connect(self.addr)
            .await
            .map_err(|e| format!("event: connect: {e}"))?;
        let start_time = telnyx_api::now_rfc3339();
        let (mut req, mut buf) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
        let mut state: Option<String> = None;
        for (n, event) in [telnyx_api::Event::Initiated, telnyx_api::Event::Answered]
            .into_iter()
            .enumerate()
        {
            let body = telnyx_api::event_body(
                event,
                &call,
                &format!("{}-{n:04x}-{i:016x}", self.run_id),
                state.as_deref(),
                &start_time,
                (voice_form::SPEECH, 0.91),
                &self.url,
            );
            telnyx_api::event_request(&t.signer, &self.path, &self.host, &body, &mut req);
            let res = tokio::time::timeout(IO_TIMEOUT, client::exchange(&mut tcp, &req, &mut buf))
                .await
                .map_err(|_| format!("{}: no answer within {IO_TIMEOUT:?}", event.event_type()))?
                .map_err(|e| format!("{}: {e}", event.event_type()))?;
            if res.status != 200 {
                return Err(format!(
                    "{}: HTTP {}: {}",
                    event.event_type(),
                    res.status,
                    String::from_utf8_lossy(&buf[res.body_start..res.len])
                ));
            }
            let got = t.recorder.take(i);
            let names: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
            let want = match event {
                telnyx_api::Event::Initiated => "answer",
                _ => "streaming_start",
            };
            if names != [want] {
                return Err(format!(
                    "{}: commands {names:?}, expected [{want:?}]",
                    event.event_type()
                ));
            }
            let cmd = &got[0];
            if want == "streaming_start" {
                let url = cmd.body["stream_url"]
                    .as_str()
                    .ok_or("streaming_start without stream_url")?;
                let token = cmd.body["custom_parameters"]
                    .as_array()
                    .and_then(|ps| {
                        ps.iter()
                            .find(|p| p["name"] == "telephonyToken")
                            .and_then(|p| p["value"].as_str())
                    })
                    .ok_or("streaming_start without a telephonyToken custom parameter")?;
                return Ok((url.to_string(), token.to_string()));
            }
            state = cmd.client_state.clone();
        }
        Err("no streaming_start".into())
    }

    fn call_sid(&self, i: usize) -> String {
        match self.telnyx {
            None => format!("CA{}{i:016x}", self.run_id),
            Some(_) => telnyx_api::call_control_id(&self.run_id, i),
        }
    }

    fn caller(i: usize) -> String {
        format!("+1555{:07}", i % 10_000_000)
    }

    /// The signed incoming-call webhook of call `i`; its TwiML.
    async fn ring(&self, i: usize) -> Result<String, String> {
        let params = voice_form::call_form(
            &self.account,
            &self.call_sid(i),
            &Self::caller(i),
            TO,
            "ringing",
        );
        let validator = RequestValidator::new(self.auth_token.as_str());
        let (req, _) =
            voice_plan::signed_form_post(&self.path, &self.host, &self.url, &params, &validator)?;
        let mut tcp = client::connect(self.addr)
            .await
            .map_err(|e| format!("webhook: connect: {e}"))?;
        let mut buf = Vec::with_capacity(4096);
        let res = tokio::time::timeout(IO_TIMEOUT, client::exchange(&mut tcp, &req, &mut buf))
            .await
            .map_err(|_| format!("webhook: no answer within {IO_TIMEOUT:?}"))?
            .map_err(|e| format!("webhook: {e}"))?;
        let body = String::from_utf8_lossy(&buf[res.body_start..res.len]).into_owned();
        if res.status != 200 {
            return Err(format!("webhook: HTTP {}: {body}", res.status));
        }
        Ok(body)
    }

    /// Opens the socket at `url` as Twilio does: the upgrade signed over its `wss://` twin
    /// (Telnyx does not sign the upgrade).
    async fn open_socket(&self, url: &str) -> Result<Ws, String> {
        let mut req = url
            .into_client_request()
            .map_err(|e| format!("socket URL {url:?}: {e}"))?;
        if self.telnyx.is_none() {
            let signed = match url.split_once("://") {
                Some((_, rest)) => format!("wss://{rest}"),
                None => url.to_string(),
            };
            let sig = RequestValidator::new(self.auth_token.as_str()).compute(&signed, &[]);
            req.headers_mut().insert(
                "x-twilio-signature",
                sig.parse().map_err(|_| "signature header".to_string())?,
            );
        }
        let tcp = client::connect(self.addr)
            .await
            .map_err(|e| format!("socket: connect: {e}"))?;
        // The client's read buffer kept small: its memory counts in the per-stream figure.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (ws, _) = tokio::time::timeout(
            IO_TIMEOUT,
            tokio_tungstenite::client_async_with_config(req, tcp, Some(config)),
        )
        .await
        .map_err(|_| format!("socket: no upgrade within {IO_TIMEOUT:?}"))?
        .map_err(|e| format!("socket: upgrade: {e}"))?;
        Ok(ws)
    }
}

/// The next text message (pings and pongs skipped), within [`IO_TIMEOUT`].
async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match tokio::time::timeout(IO_TIMEOUT, ws.next()).await {
            Err(_) => return Err(format!("nothing received within {IO_TIMEOUT:?}")),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.as_str().to_string()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
            Ok(Some(Ok(Message::Close(f)))) => {
                return Err(format!(
                    "closed by the gateway: {}",
                    f.map_or("no reason".into(), |f| format!("{} {}", f.code, f.reason))
                ));
            }
            Ok(Some(Ok(Message::Binary(_)))) => return Err("a binary message".into()),
            Ok(Some(Err(e))) => return Err(format!("read: {e}")),
            Ok(None) => return Err("the socket ended".into()),
        }
    }
}

/// Waits for the gateway's close frame: its code (1005 for none).
async fn close_code(ws: &mut Ws) -> Result<u16, String> {
    loop {
        match tokio::time::timeout(IO_TIMEOUT, ws.next()).await {
            Err(_) => return Err(format!("no close within {IO_TIMEOUT:?}")),
            Ok(Some(Ok(Message::Close(f)))) => return Ok(f.map_or(1005, |f| u16::from(f.code))),
            Ok(None) => return Ok(1005),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(format!("read before the close: {e}")),
        }
    }
}

async fn send_text(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("write: {e}"))
}

/// CPU seconds and run-queue waits per thread, at an instant.
struct CpuSnapshot {
    at: Instant,
    threads: BTreeMap<String, (String, f64)>,
    waits: BTreeMap<String, (String, f64, u64)>,
}

impl CpuSnapshot {
    fn now() -> CpuSnapshot {
        CpuSnapshot {
            at: Instant::now(),
            threads: procfs::thread_cpu("self"),
            waits: procfs::thread_waits("self"),
        }
    }
}

/// CPU used between two snapshots: the gateway's and the client's seconds, the window, the
/// gateway's threads by name, and how long the gateway's threads waited, runnable, for a
/// CPU (the machine's other jobs and the client compete for the two cores).
#[derive(Debug, Clone, Default)]
struct CpuUse {
    window_s: f64,
    gateway_s: f64,
    client_s: f64,
    gateway_threads: Vec<(String, usize, f64)>,
    /// Seconds the gateway's threads were runnable but not running.
    gateway_wait_s: f64,
    /// Times the gateway's threads were scheduled.
    gateway_slices: u64,
    /// Seconds the client's threads were runnable but not running.
    client_wait_s: f64,
}

fn cpu_use(before: &CpuSnapshot, after: &CpuSnapshot) -> CpuUse {
    let mut use_ = CpuUse {
        window_s: after.at.duration_since(before.at).as_secs_f64(),
        ..CpuUse::default()
    };
    for (tid, (name, wait, slices)) in &after.waits {
        let (w0, s0) = before.waits.get(tid).map_or((0.0, 0), |(_, w, s)| (*w, *s));
        if CLIENT_THREADS.contains(&name.as_str()) {
            use_.client_wait_s += wait - w0;
        } else {
            use_.gateway_wait_s += wait - w0;
            use_.gateway_slices += slices - s0;
        }
    }
    for (name, count, s) in procfs::cpu_by_name(&before.threads, &after.threads) {
        if CLIENT_THREADS.contains(&name.as_str()) {
            use_.client_s += s;
        } else {
            use_.gateway_s += s;
            use_.gateway_threads.push((name, count, s));
        }
    }
    use_
}

/// The 1-minute load average (the machine is shared: say how busy it was).
fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Pins the calling thread to the CPUs in `cpus` (`--pin`); a failure is reported, not
/// fatal (the figures then say what the scheduler did).
fn pin_current(cpus: std::ops::Range<usize>) {
    let mut set = rustix::thread::CpuSet::new();
    for c in cpus.clone() {
        set.set(c);
    }
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("warning: could not pin a thread to CPUs {cpus:?}: {e}");
    }
}

/// The CPUs the client side runs on with `--pin` (the gateway gets the others).
const CLIENT_CPUS: std::ops::Range<usize> = 0..1;

fn gateway_runtime(args: &Args, cpus: usize) -> Result<tokio::runtime::Runtime, String> {
    let pin = args.pin && cpus > 1;
    let default_threads = if pin { cpus - 1 } else { cpus };
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(args.server_threads.unwrap_or(default_threads).max(1))
        .thread_name("gw-worker")
        .enable_all();
    if pin {
        // Worker and blocking threads alike.
        b.on_thread_start(move || pin_current(CLIENT_CPUS.end..cpus));
    }
    b.build().map_err(|e| format!("gateway runtime: {e}"))
}

fn run_id() -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 48);
    format!("{nonce:016x}")
}

// ---------------------------------------------------------------------------------------
// Streams.

/// One stream's `seen` and `sent` instants.
type HandlerTimes = (Vec<u64>, Vec<u64>);

/// The handler's half of each stream's instants (`seen`, `sent`), taken by the handler
/// when the first frame tells it which stream it serves, and put back when it ends.
struct HandlerSlots(Vec<Mutex<Option<HandlerTimes>>>);

impl HandlerSlots {
    fn new(streams: usize, frames: usize) -> HandlerSlots {
        HandlerSlots(
            (0..streams)
                .map(|_| Mutex::new(Some((vec![MISSING; frames], vec![MISSING; frames]))))
                .collect(),
        )
    }

    fn take(&self, i: usize) -> Option<(Vec<u64>, Vec<u64>)> {
        telephony_core::sync::lock(self.0.get(i)?).take()
    }

    fn put(&self, i: usize, v: (Vec<u64>, Vec<u64>)) {
        if let Some(slot) = self.0.get(i) {
            *telephony_core::sync::lock(slot) = Some(v);
        }
    }

    /// Whether every slot is back.
    fn all_back(&self) -> bool {
        self.0
            .iter()
            .all(|s| telephony_core::sync::lock(s).is_some())
    }
}

/// The stream handler: echoes every frame at once, noting when it saw the frame and when
/// it handed the echo to the sender.
async fn echo(
    mut stream: CallStream,
    slots: Arc<HandlerSlots>,
    clock: Clock,
) -> Result<(), HandlerError> {
    let out = stream.sender();
    let mut mine: Option<(usize, HandlerTimes)> = None;
    let mut result = Ok(());
    while let Some(ev) = stream.next_event().await {
        match ev {
            StreamEvent::Audio(f) => {
                let seen = clock.ns();
                let id = frame_id(&f.mulaw);
                let sent = clock.ns();
                if let Err(e) = out.send_mulaw(&f.mulaw) {
                    result = Err(e.into());
                    break;
                }
                // Bookkeeping after the echo is on its way.
                let Some((s, seq)) = id else { continue };
                if mine.is_none() {
                    mine = slots.take(usize::from(s)).map(|v| (usize::from(s), v));
                }
                if let Some((m, (seen_at, sent_at))) = &mut mine {
                    let k = seq as usize;
                    if *m == usize::from(s) && k < seen_at.len() {
                        seen_at[k] = seen;
                        sent_at[k] = sent;
                    }
                }
            }
            StreamEvent::Stop => break,
            _ => {}
        }
    }
    if let Some((m, v)) = mine {
        slots.put(m, v);
    }
    result
}

/// A gateway with the echo handler, on the current runtime: its address. On Telnyx
/// (`telnyx`: the mock API's URL and the events' signer) its provider is a Telnyx account
/// whose API is loadgen's mock.
async fn start_stream_gateway(
    dir: &Path,
    slots: Arc<HandlerSlots>,
    clock: Clock,
    telnyx: Option<(&str, &telephony_telnyx::WebhookSigner)>,
) -> Result<(SocketAddr, Gateway, Config), String> {
    let config = Config::from_json5_str(VOICE_CONFIG)
        .map_err(|e| format!("VOICE_CONFIG: {}", telephony_core::error_chain(&e)))?;
    let store = telephony_store::SqliteStore::open(dir.join("telephony.db"))
        .await
        .map_err(|e| format!("opening the store: {}", telephony_core::error_chain(&e)))?;
    let provider: Arc<dyn telephony_core::Provider> = match telnyx {
        // It calls no API (every call ends with its stream's stop); a dead port if it tried.
        None => Arc::new(
            TwilioProvider::new(
                TwilioConfig::new(ACCOUNT, AUTH_TOKEN).api_base_url("http://127.0.0.1:9"),
            )
            .map_err(|e| format!("provider: {e}"))?,
        ),
        Some((api_url, signer)) => Arc::new(
            telephony_telnyx::TelnyxProvider::new(
                telephony_telnyx::TelnyxConfig::new("KEYloadgen-mock-api-key")
                    .public_key(signer.public_key_base64())
                    .api_base_url(api_url)
                    .from_number(
                        telephony_core::PhoneNumber::parse(TO).map_err(|e| format!("{TO}: {e}"))?,
                    ),
            )
            .map_err(|e| format!("provider: {e}"))?,
        ),
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("bind: {e}"))?;
    let b = Gateway::builder(provider, Arc::new(store))
        .public_url(format!("http://{addr}"))
        .webhook_path(config.serve.path.clone())
        .stream_path(config.serve.stream_path.clone());
    let gateway = server::apply_policies(b, &config)
        .voice_handler(|_e: CallEvent, _c: CallContext| async move {
            Ok::<_, HandlerError>(VoiceResponse::new().stream(StreamVerb::new()))
        })
        .stream_handler(move |stream: CallStream| echo(stream, slots.clone(), clock))
        .build();
    let app = gateway
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    // As `telephony serve` does: no Nagle delay on the public listener.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // Runs until the runtime is shut down.
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, gateway, config))
}

/// What every stream task shares.
struct StreamCtx {
    ringer: Ringer,
    clock: Clock,
    /// When the frames start (set before the `go` barrier).
    start: OnceLock<Instant>,
    duration: Duration,
    frames: usize,
    streams: usize,
    opening: Semaphore,
}

/// What one stream saw.
#[derive(Debug)]
struct StreamOutcome {
    written: Vec<u64>,
    read: Vec<u64>,
    opened: bool,
    frames_sent: u64,
    /// Messages that were not the echo of a frame of this stream sent and not yet read.
    bad_echoes: u64,
    close_code: Option<u16>,
    error: Option<String>,
}

fn media_message(
    stream_sid: &str,
    sequence: u64,
    chunk: u64,
    timestamp_ms: u64,
    frame: &[u8],
) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(frame);
    // Twilio's field order (the simulator's).
    format!(
        r#"{{"event":"media","sequenceNumber":"{sequence}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{timestamp_ms}","payload":"{payload}"}},"streamSid":"{stream_sid}"}}"#
    )
}

/// A `media` message as Telnyx writes it (the simulator's field order).
fn telnyx_media_message(
    stream_id: &str,
    sequence: u64,
    chunk: u64,
    timestamp_ms: u64,
    frame: &[u8],
) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(frame);
    format!(
        r#"{{"event":"media","sequence_number":"{sequence}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{timestamp_ms}","payload":"{payload}"}},"stream_id":"{stream_id}"}}"#
    )
}

/// `(stream, frame)` of an echoed `media` message.
fn echo_id(text: &str) -> Option<(u16, u32)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v["event"] != "media" {
        return None;
    }
    let payload = base64::engine::general_purpose::STANDARD
        .decode(v["media"]["payload"].as_str()?)
        .ok()?;
    frame_id(&payload)
}

/// Rings, opens the socket, starts the stream, and waits for the warm-up frame's echo.
async fn open_stream(i: usize, ctx: &StreamCtx) -> Result<(Ws, String), String> {
    let (url, token) = ctx.ringer.stream_target(i).await?;
    let mut ws = ctx.ringer.open_socket(&url).await?;
    let stream_sid = ctx.ringer.stream_sid(i);
    send_text(&mut ws, ctx.ringer.connected_message()).await?;
    send_text(&mut ws, ctx.ringer.start_message(i, &stream_sid, &token)).await?;
    send_text(
        &mut ws,
        ctx.ringer
            .media_message(&stream_sid, 2, 1, 0, &frame(i as u16, WARMUP)),
    )
    .await?;
    loop {
        let text = next_text(&mut ws)
            .await
            .map_err(|e| format!("warm-up echo: {e}"))?;
        if echo_id(&text) == Some((i as u16, WARMUP)) {
            return Ok((ws, stream_sid));
        }
    }
}

/// Sends the frames in real time, reads the echoes, then stops the stream.
async fn stream_frames(
    i: usize,
    ctx: &StreamCtx,
    ws: &mut Ws,
    stream_sid: &str,
    out: &mut StreamOutcome,
) -> Result<(), String> {
    let start = *ctx.start.get().ok_or("start not set")?;
    let first = start + FRAME * i as u32 / ctx.streams.max(1) as u32;
    let end = start + ctx.duration;
    let mut tick = tokio::time::interval_at(first.into(), FRAME);
    // Connected has no number, start is 1, the warm-up 2.
    let mut sequence = 3u64;
    let mut seq = 0u32;
    let mut echoed = 0u64;
    let mut drain_until: Option<Instant> = None;
    loop {
        if drain_until.is_some() && echoed == u64::from(seq) {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if drain_until.is_none() => {
                if Instant::now() >= end || seq as usize >= ctx.frames {
                    drain_until = Some(Instant::now() + DRAIN);
                    continue;
                }
                let text = ctx.ringer.media_message(
                    stream_sid,
                    sequence,
                    u64::from(seq) + 1,
                    u64::from(seq) * 20,
                    &frame(i as u16, seq),
                );
                sequence += 1;
                out.written[seq as usize] = ctx.clock.ns();
                ws.send(Message::text(text))
                    .await
                    .map_err(|e| format!("frame {seq}: write: {e}"))?;
                seq += 1;
                out.frames_sent += 1;
            }
            msg = ws.next() => {
                let at = ctx.clock.ns();
                match msg {
                    Some(Ok(Message::Text(t))) => match echo_id(t.as_str()) {
                        Some((s, k)) if usize::from(s) == i && k < seq && out.read[k as usize] == MISSING => {
                            out.read[k as usize] = at;
                            echoed += 1;
                        }
                        _ => out.bad_echoes += 1,
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Binary(_))) => out.bad_echoes += 1,
                    Some(Ok(Message::Close(f))) => {
                        return Err(format!("closed by the gateway before the stop: {f:?}"))
                    }
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    None => return Err("the socket ended before the stop".into()),
                }
            }
            _ = tokio::time::sleep_until(drain_until.unwrap_or(end).into()), if drain_until.is_some() => break,
        }
    }
    send_text(ws, ctx.ringer.stop_message(i, stream_sid, sequence)).await?;
    out.close_code = Some(close_code(ws).await?);
    Ok(())
}

async fn run_stream(
    i: usize,
    ctx: Arc<StreamCtx>,
    mut out: StreamOutcome,
    opened: Arc<Barrier>,
    go: Arc<Barrier>,
) -> StreamOutcome {
    let socket = {
        let _permit = ctx.opening.acquire().await;
        open_stream(i, &ctx).await
    };
    opened.wait().await;
    go.wait().await;
    let (mut ws, stream_sid) = match socket {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(format!("stream {i}: {e}"));
            return out;
        }
    };
    out.opened = true;
    if let Err(e) = stream_frames(i, &ctx, &mut ws, &stream_sid, &mut out).await {
        out.error = Some(format!("stream {i}: {e}"));
    }
    out
}

/// What the streams phase measured.
struct StreamReport {
    streams: usize,
    secs: f64,
    opened: usize,
    frames_sent: u64,
    joined: Joined,
    inbound: Latency,
    outbound: Latency,
    bad_echoes: u64,
    not_closed_normally: usize,
    errors: Vec<String>,
    rss_idle: Option<u64>,
    rss_open: Option<u64>,
    rss_streaming: Option<u64>,
    cpu: CpuUse,
    load: (Option<f64>, Option<f64>),
}

impl StreamReport {
    fn met(&self) -> bool {
        self.errors.is_empty()
            && self.joined.not_seen == 0
            && self.joined.not_echoed == 0
            && self.bad_echoes == 0
            && self.inbound.count > 0
            && self.inbound.p99 < TARGET_FRAME_P99
            && self.outbound.p99 < TARGET_FRAME_P99
    }

    /// Bytes per stream of RSS over the idle gateway.
    fn per_stream(&self, rss: Option<u64>) -> Option<f64> {
        let (idle, rss) = (self.rss_idle?, rss?);
        Some((rss as f64 - idle as f64) / self.opened.max(1) as f64)
    }
}

fn streams_phase(
    args: &Args,
    client_rt: &tokio::runtime::Runtime,
    cpus: usize,
) -> Result<StreamReport, String> {
    let streams = args.streams;
    if streams == 0 || streams > usize::from(u16::MAX) {
        return Err(format!(
            "--streams must be between 1 and {}, not {streams}",
            u16::MAX
        ));
    }
    let secs = args.duration.unwrap_or(DEFAULT_STREAM_SECS);
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!(
            "--duration must be a positive number of seconds, not {secs}"
        ));
    }
    let duration = Duration::from_secs_f64(secs);
    // Every frame the run can send, and a margin for a late tick's burst.
    let frames = (secs * 1000.0 / FRAME.as_millis() as f64).ceil() as usize + 50;
    let clock = Clock(Instant::now());
    // Every timestamp buffer, allocated and written before the idle RSS is read.
    let slots = Arc::new(HandlerSlots::new(streams, frames));
    let client_times: Vec<(Vec<u64>, Vec<u64>)> = (0..streams)
        .map(|_| (vec![MISSING; frames], vec![MISSING; frames]))
        .collect();

    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let gw_rt = gateway_runtime(args, cpus)?;
    let run_id = run_id();
    // On Telnyx: the mock API (kept up until the phase ends) and the events' signer.
    let telnyx = if args.provider == "telnyx" {
        let recorder = Arc::new(telnyx_api::Recorder::new(&run_id, streams));
        let api = telnyx_api::MockApi::start(recorder.clone())?;
        let side = TelnyxSide {
            signer: telephony_telnyx::WebhookSigner::generate(),
            recorder,
        };
        Some((api, Arc::new(side)))
    } else {
        None
    };
    let (addr, _gateway, config) = gw_rt.block_on(start_stream_gateway(
        dir.path(),
        slots.clone(),
        clock,
        telnyx
            .as_ref()
            .map(|(api, side)| (api.url.as_str(), &side.signer)),
    ))?;
    let ringer = Ringer {
        addr,
        host: addr.to_string(),
        path: config.serve.path.clone(),
        url: format!("http://{addr}{}", config.serve.path),
        account: ACCOUNT.into(),
        auth_token: AUTH_TOKEN.into(),
        run_id,
        telnyx: telnyx.as_ref().map(|(_, side)| side.clone()),
    };
    if !args.json {
        eprintln!(
            "streams ({}): gateway at http://{addr} ({} worker threads), {streams} streams for {secs} s",
            args.provider,
            args.server_threads.unwrap_or(cpus)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let rss_idle = procfs::status_kb("self", "VmRSS");
    let ctx = Arc::new(StreamCtx {
        ringer,
        clock,
        start: OnceLock::new(),
        duration,
        frames,
        streams,
        opening: Semaphore::new(OPENING),
    });

    let steady_from = Duration::from_secs(1).min(duration / 4);
    let (outcomes, rss_open, rss_streaming, cpu, load) = client_rt.block_on(async {
        let opened = Arc::new(Barrier::new(streams + 1));
        let go = Arc::new(Barrier::new(streams + 1));
        let tasks: Vec<_> = client_times
            .into_iter()
            .enumerate()
            .map(|(i, (written, read))| {
                let out = StreamOutcome {
                    written,
                    read,
                    opened: false,
                    frames_sent: 0,
                    bad_echoes: 0,
                    close_code: None,
                    error: None,
                };
                tokio::spawn(run_stream(i, ctx.clone(), out, opened.clone(), go.clone()))
            })
            .collect();
        opened.wait().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_open = procfs::status_kb("self", "VmRSS");
        let load_before = loadavg();
        let start = Instant::now();
        ctx.start.set(start).expect("start set once");
        go.wait().await;
        tokio::time::sleep_until((start + steady_from).into()).await;
        let before = CpuSnapshot::now();
        tokio::time::sleep_until((start + duration).into()).await;
        let after = CpuSnapshot::now();
        let rss_streaming = procfs::status_kb("self", "VmRSS");
        let load_after = loadavg();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await {
                Ok(o) => outcomes.push(Ok(o)),
                Err(e) => outcomes.push(Err(format!("stream {i}: task failed: {e}"))),
            }
        }
        (
            outcomes,
            rss_open,
            rss_streaming,
            cpu_use(&before, &after),
            (load_before, load_after),
        )
    });
    // The handlers finish after their stop; wait for their half of the instants.
    let waited = Instant::now();
    while !slots.all_back() && waited.elapsed() < IO_TIMEOUT {
        std::thread::sleep(Duration::from_millis(10));
    }
    gw_rt.shutdown_timeout(Duration::from_secs(2));

    let mut joined = Joined::default();
    let mut errors = Vec::new();
    let (mut opened, mut frames_sent, mut bad_echoes, mut not_closed_normally) = (0, 0, 0, 0);
    for (i, o) in outcomes.into_iter().enumerate() {
        let o = match o {
            Ok(o) => o,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if o.opened {
            opened += 1;
        }
        frames_sent += o.frames_sent;
        bad_echoes += o.bad_echoes;
        if o.opened && o.close_code != Some(1000) {
            not_closed_normally += 1;
        }
        if let Some(e) = o.error {
            errors.push(e);
        }
        let Some((seen, sent)) = slots.take(i) else {
            errors.push(format!(
                "stream {i}: the handler never gave its instants back"
            ));
            continue;
        };
        joined.add(&FrameTimes {
            written: o.written,
            seen,
            sent,
            read: o.read,
        });
    }
    let inbound = Latency::from_samples(&mut joined.inbound);
    let outbound = Latency::from_samples(&mut joined.outbound);
    Ok(StreamReport {
        streams,
        secs,
        opened,
        frames_sent,
        joined,
        inbound,
        outbound,
        bad_echoes,
        not_closed_normally,
        errors,
        rss_idle,
        rss_open,
        rss_streaming,
        cpu,
        load,
    })
}

// ---------------------------------------------------------------------------------------
// Relays.

/// When the app read each prompt's POST and wrote its answer: (relay, prompt) → instants.
type AppLog = Arc<Mutex<HashMap<(u32, u32), (u64, u64)>>>;

/// The relay application: an HTTP server on loopback on its own thread (`lg-app`).
struct App {
    url: String,
    log: AppLog,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl App {
    fn start(clock: Clock) -> Result<App, String> {
        let log: AppLog = Arc::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app_log = log.clone();
        let thread = std::thread::Builder::new()
            .name("lg-app".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(format!("app runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match TcpListener::bind("127.0.0.1:0").await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = addr_tx.send(Err(format!("app bind: {e}")));
                            return;
                        }
                    };
                    let _ = addr_tx.send(listener.local_addr().map_err(|e| e.to_string()));
                    let accept = async {
                        while let Ok((tcp, _)) = listener.accept().await {
                            tokio::spawn(app_connection(tcp, clock, app_log.clone()));
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stop_rx => {}
                    }
                });
            })
            .map_err(|e| format!("app thread: {e}"))?;
        let addr = addr_rx
            .recv()
            .map_err(|_| "the app thread ended".to_string())??;
        Ok(App {
            url: format!("http://{addr}/assistant"),
            log,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The app's answer to one bridge request, and the prompt it was (relay, number).
fn app_answer(body: &[u8]) -> (String, Option<(u32, u32)>) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if v["type"] != "call.prompt" {
        return ("{}".into(), None);
    }
    let text = v["data"]["text"].as_str().unwrap_or_default();
    let mut words = text.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("prompt"), Some(r), Some(k)) => match (r.parse(), k.parse()) {
            (Ok(r), Ok(k)) => (
                json!({ "text": format!("answer {r} {k}") }).to_string(),
                Some((r, k)),
            ),
            _ => ("{}".into(), None),
        },
        (Some("warmup"), Some(r), None) => {
            (json!({ "text": format!("ready {r}") }).to_string(), None)
        }
        _ => ("{}".into(), None),
    }
}

/// One keep-alive connection from the bridge: answers each request as soon as it is read.
async fn app_connection(mut tcp: TcpStream, clock: Clock, log: AppLog) {
    let _ = tcp.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let (start, len) = loop {
            match request_extent(&buf) {
                Ok(Some(e)) => break e,
                Ok(None) => {}
                // The bridge's prompts then show up as "not seen by the app".
                Err(_) => return,
            }
            if buf.capacity() - buf.len() < 2048 {
                buf.reserve(8192);
            }
            match tcp.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let received = clock.ns();
        let (answer, prompt) = app_answer(&buf[start..start + len]);
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if tcp.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        let answered = clock.ns();
        buf.drain(..start + len);
        if let Some(p) = prompt {
            telephony_core::sync::lock(&log).insert(p, (received, answered));
        }
    }
}

/// What every relay task shares.
struct RelayCtx {
    ringer: Ringer,
    clock: Clock,
    start: OnceLock<Instant>,
    duration: Duration,
    interval: Duration,
    relays: usize,
    opening: Semaphore,
}

/// What one relay saw: per prompt (number, written, read).
#[derive(Debug, Default)]
struct RelayOutcome {
    opened: bool,
    prompts: Vec<(u32, u64, u64)>,
    /// Prompts with no answer, or the wrong one.
    unanswered: u64,
    error: Option<String>,
}

fn prompt_message(text: &str) -> String {
    json!({"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": true}).to_string()
}

/// The token of a `text` message.
fn text_token(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    (v["type"] == "text").then(|| v["token"].as_str().map(str::to_string))?
}

async fn open_relay(i: usize, ctx: &RelayCtx) -> Result<Ws, String> {
    let twiml = ctx.ringer.ring(i).await?;
    let (url, token) = connect_target(&twiml, "ConversationRelay")?;
    let mut ws = ctx.ringer.open_socket(&url).await?;
    send_text(
        &mut ws,
        json!({"type": "setup", "sessionId": format!("VX{}{i:016x}", ctx.ringer.run_id),
            "accountSid": ctx.ringer.account, "callSid": ctx.ringer.call_sid(i),
            "from": Ringer::caller(i), "to": TO, "direction": "inbound", "callStatus": "RINGING",
            "customParameters": {"telephonyToken": token}})
        .to_string(),
    )
    .await?;
    send_text(&mut ws, prompt_message(&format!("warmup {i}"))).await?;
    let reply = next_text(&mut ws)
        .await
        .map_err(|e| format!("warm-up answer: {e}"))?;
    match text_token(&reply) {
        Some(t) if t == format!("ready {i}") => Ok(ws),
        _ => Err(format!("warm-up answer: unexpected {reply}")),
    }
}

async fn relay_prompts(
    i: usize,
    ctx: &RelayCtx,
    ws: &mut Ws,
    out: &mut RelayOutcome,
) -> Result<(), String> {
    let start = *ctx.start.get().ok_or("start not set")?;
    let first = start + ctx.interval * i as u32 / ctx.relays.max(1) as u32;
    let end = start + ctx.duration;
    let mut tick = tokio::time::interval_at(first.into(), ctx.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut k = 0u32;
    loop {
        tick.tick().await;
        if Instant::now() >= end {
            break;
        }
        let text = prompt_message(&format!("prompt {i} {k}"));
        let written = ctx.clock.ns();
        send_text(ws, text).await?;
        let reply = next_text(ws).await?;
        let read = ctx.clock.ns();
        match text_token(&reply) {
            Some(t) if t == format!("answer {i} {k}") => out.prompts.push((k, written, read)),
            _ => {
                out.unanswered += 1;
                return Err(format!("prompt {k}: unexpected answer {reply}"));
            }
        }
        k += 1;
    }
    // Twilio ends a relay by closing its socket.
    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
    close_code(ws).await?;
    Ok(())
}

async fn run_relay(
    i: usize,
    ctx: Arc<RelayCtx>,
    opened: Arc<Barrier>,
    go: Arc<Barrier>,
) -> RelayOutcome {
    let mut out = RelayOutcome::default();
    let socket = {
        let _permit = ctx.opening.acquire().await;
        open_relay(i, &ctx).await
    };
    opened.wait().await;
    go.wait().await;
    let mut ws = match socket {
        Ok(ws) => ws,
        Err(e) => {
            out.error = Some(format!("relay {i}: {e}"));
            return out;
        }
    };
    out.opened = true;
    if let Err(e) = relay_prompts(i, &ctx, &mut ws, &mut out).await {
        out.error = Some(format!("relay {i}: {e}"));
    }
    out
}

/// What the relays phase measured.
struct RelayReport {
    relays: usize,
    secs: f64,
    interval_ms: u64,
    opened: usize,
    prompts: usize,
    unanswered: u64,
    not_seen_by_app: usize,
    overhead: Latency,
    round_trip: Latency,
    app: Latency,
    errors: Vec<String>,
    cpu: CpuUse,
    load: (Option<f64>, Option<f64>),
}

impl RelayReport {
    fn met(&self) -> bool {
        self.errors.is_empty()
            && self.unanswered == 0
            && self.not_seen_by_app == 0
            && self.overhead.count > 0
            && self.overhead.p99 < TARGET_RELAY_P99
    }
}

fn relays_phase(
    args: &Args,
    client_rt: &tokio::runtime::Runtime,
    cpus: usize,
) -> Result<RelayReport, String> {
    let relays = args.relays;
    if relays == 0 {
        return Err("--relays must be at least 1".into());
    }
    let secs = args.relay_duration;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!(
            "--relay-duration must be a positive number of seconds, not {secs}"
        ));
    }
    if args.prompt_interval_ms == 0 {
        return Err("--prompt-interval-ms must be at least 1".into());
    }
    let duration = Duration::from_secs_f64(secs);
    let clock = Clock(Instant::now());
    let app = App::start(clock)?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let config = Config::from_json5_str(&format!(
        r#"{{ serve: {{ bind: "127.0.0.1", port: 0 }}, admin: {{ bind: "127.0.0.1", port: 0 }},
            dataDir: {:?}, inboundPolicy: "open", allowFrom: ["*"], maxConcurrentSessions: 100000,
            voice: {{ enabled: true, mode: "relay", relayUrl: {:?} }} }}"#,
        dir.path().join("telephony-data").display().to_string(),
        app.url
    ))
    .map_err(|e| format!("relay config: {}", telephony_core::error_chain(&e)))?;
    let gw_rt = gateway_runtime(args, cpus)?;
    let running = gw_rt
        .block_on(server::start(
            &config,
            ServeOptions {
                sandbox: true,
                handler: None,
            },
        ))
        .map_err(|e| format!("starting the gateway: {}", telephony_core::error_chain(&e)))?;
    let rt = running.runtime.clone();
    let ringer = Ringer {
        addr: running.public_addr,
        host: running.public_addr.to_string(),
        path: config.serve.path.clone(),
        url: rt.webhook_url.clone(),
        account: rt
            .sandbox_account_sid
            .clone()
            .ok_or("the sandbox has no account")?,
        auth_token: rt
            .sandbox_auth_token
            .clone()
            .ok_or("the sandbox has no auth token")?,
        run_id: run_id(),
        telnyx: None,
    };
    if !args.json {
        eprintln!(
            "relays: gateway at http://{} (voice.mode relay → {}), {relays} relays for {secs} s, a prompt every {} ms each",
            running.public_addr, app.url, args.prompt_interval_ms
        );
    }
    let ctx = Arc::new(RelayCtx {
        ringer,
        clock,
        start: OnceLock::new(),
        duration,
        interval: Duration::from_millis(args.prompt_interval_ms),
        relays,
        opening: Semaphore::new(OPENING),
    });
    let steady_from = Duration::from_secs(1).min(duration / 4);
    let (outcomes, cpu, load) = client_rt.block_on(async {
        let opened = Arc::new(Barrier::new(relays + 1));
        let go = Arc::new(Barrier::new(relays + 1));
        let tasks: Vec<_> = (0..relays)
            .map(|i| tokio::spawn(run_relay(i, ctx.clone(), opened.clone(), go.clone())))
            .collect();
        opened.wait().await;
        let load_before = loadavg();
        let start = Instant::now();
        ctx.start.set(start).expect("start set once");
        go.wait().await;
        tokio::time::sleep_until((start + steady_from).into()).await;
        let before = CpuSnapshot::now();
        tokio::time::sleep_until((start + duration).into()).await;
        let after = CpuSnapshot::now();
        let load_after = loadavg();
        let mut outcomes = Vec::with_capacity(tasks.len());
        for (i, t) in tasks.into_iter().enumerate() {
            outcomes.push(t.await.unwrap_or_else(|e| RelayOutcome {
                error: Some(format!("relay {i}: task failed: {e}")),
                ..RelayOutcome::default()
            }));
        }
        (
            outcomes,
            cpu_use(&before, &after),
            (load_before, load_after),
        )
    });
    gw_rt.block_on(running.shutdown());
    gw_rt.shutdown_timeout(Duration::from_secs(2));
    let log = std::mem::take(&mut *telephony_core::sync::lock(&app.log));
    drop(app);

    let (mut overhead, mut round_trip, mut app_time) = (Vec::new(), Vec::new(), Vec::new());
    let (mut opened, mut prompts, mut unanswered, mut not_seen_by_app) = (0, 0, 0, 0);
    let mut errors = Vec::new();
    for (i, o) in outcomes.into_iter().enumerate() {
        opened += usize::from(o.opened);
        unanswered += o.unanswered;
        if let Some(e) = o.error {
            errors.push(e);
        }
        for (k, written, read) in o.prompts {
            prompts += 1;
            let Some(&(app_received, app_answered)) = log.get(&(i as u32, k)) else {
                not_seen_by_app += 1;
                continue;
            };
            let p = PromptTimes {
                written,
                app_received,
                app_answered,
                read,
            };
            if let (Some((trip, app)), Some(over)) = (p.round_trip_and_app(), p.overhead()) {
                round_trip.push(trip);
                app_time.push(app);
                overhead.push(over);
            }
        }
    }
    Ok(RelayReport {
        relays,
        secs,
        interval_ms: args.prompt_interval_ms,
        opened,
        prompts,
        unanswered,
        not_seen_by_app,
        overhead: Latency::from_samples(&mut overhead),
        round_trip: Latency::from_samples(&mut round_trip),
        app: Latency::from_samples(&mut app_time),
        errors,
        cpu,
        load,
    })
}

// ---------------------------------------------------------------------------------------
// The run and its report.

fn lat_json(l: &Latency) -> serde_json::Value {
    json!({"count": l.count, "p50": ms(l.p50), "p90": ms(l.p90), "p99": ms(l.p99),
        "p999": ms(l.p999), "max": ms(l.max), "mean": ms(l.mean)})
}

fn lat_line(l: &Latency) -> String {
    format!(
        "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3} ms ({} samples)",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p999),
        ms(l.max),
        l.count
    )
}

fn cpu_json(c: &CpuUse, per: usize) -> serde_json::Value {
    json!({
        "window_s": c.window_s,
        "gateway_s": c.gateway_s,
        "client_s": c.client_s,
        "gateway_percent_of_one_core": 100.0 * c.gateway_s / c.window_s,
        "gateway_percent_of_one_core_per_unit": 100.0 * c.gateway_s / c.window_s / per.max(1) as f64,
        "gateway_runqueue_wait_s": c.gateway_wait_s,
        "gateway_times_scheduled": c.gateway_slices,
        "client_runqueue_wait_s": c.client_wait_s,
        "gateway_threads": c.gateway_threads.iter()
            .map(|(n, k, s)| json!({"name": n, "threads": k, "cpu_s": s})).collect::<Vec<_>>(),
    })
}

fn cpu_lines(out: &mut String, c: &CpuUse, per: usize, unit: &str) {
    let _ = writeln!(
        out,
        "CPU:           gateway {:.2} s over {:.1} s of steady state = {:.1}% of one core, {:.3}% per {unit}; client {:.2} s",
        c.gateway_s,
        c.window_s,
        100.0 * c.gateway_s / c.window_s,
        100.0 * c.gateway_s / c.window_s / per.max(1) as f64,
        c.client_s
    );
    for (name, count, s) in c.gateway_threads.iter().filter(|t| t.2 > 0.0) {
        let _ = writeln!(out, "               {name:<20} ×{count:<3} {s:6.2} s");
    }
    let _ = writeln!(
        out,
        "run queue:     the gateway's threads waited {:.2} s for a CPU over {} times scheduled ({:.1} µs each on average); the client's {:.2} s",
        c.gateway_wait_s,
        c.gateway_slices,
        1e6 * c.gateway_wait_s / c.gateway_slices.max(1) as f64,
        c.client_wait_s
    );
}

/// Errors grouped by their text after the `stream N: `/`relay N: ` prefix, most frequent
/// first: (count, text, first example's prefix).
fn error_kinds(errors: &[String]) -> Vec<(usize, String, String)> {
    let mut kinds: Vec<(usize, String, String)> = Vec::new();
    for e in errors {
        let (who, what) = e.split_once(": ").unwrap_or(("", e.as_str()));
        match kinds.iter_mut().find(|k| k.1 == what) {
            Some(k) => k.0 += 1,
            None => kinds.push((1, what.to_string(), who.to_string())),
        }
    }
    kinds.sort_by_key(|k| std::cmp::Reverse(k.0));
    kinds
}

fn error_lines(out: &mut String, errors: &[String]) {
    for (n, what, who) in error_kinds(errors).into_iter().take(5) {
        let _ = writeln!(out, "               {n} × {what} (first: {who})");
    }
}

fn load_text(l: (Option<f64>, Option<f64>)) -> String {
    let f = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.2}"));
    format!("{} → {}", f(l.0), f(l.1))
}

/// Runs `loadgen --realtime`; returns whether every target was met.
pub(crate) fn run(args: Args) -> Result<bool, String> {
    crate::init_logging(&args)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = args.pin && cpus > 1;
    if args.pin && !pin {
        eprintln!("warning: --pin needs at least 2 CPUs; not pinning");
    }
    if pin {
        // The main thread runs the client's `block_on` futures.
        pin_current(CLIENT_CPUS);
    }
    let mut client = tokio::runtime::Builder::new_multi_thread();
    client
        .worker_threads(args.client_threads.max(1))
        .thread_name("lg-client")
        .enable_all();
    if pin {
        client.on_thread_start(|| pin_current(CLIENT_CPUS));
    }
    let client_rt = client.build().map_err(|e| format!("client runtime: {e}"))?;
    let (do_streams, mut do_relays) = match args.only.as_deref() {
        Some("streams") => (true, false),
        Some("relays") => (false, true),
        _ => (true, true),
    };
    if args.provider == "telnyx" && do_relays {
        if !do_streams {
            return Err("--provider telnyx has no relays phase: the gateway has no ConversationRelay for Telnyx (voice.mode \"relay\" is refused there)".into());
        }
        if !args.json {
            eprintln!("relays: skipped on Telnyx (no ConversationRelay-compatible socket)");
        }
        do_relays = false;
    }
    let streams = do_streams
        .then(|| streams_phase(&args, &client_rt, cpus))
        .transpose()?;
    let relays = do_relays
        .then(|| relays_phase(&args, &client_rt, cpus))
        .transpose()?;
    let met = streams.as_ref().is_none_or(StreamReport::met)
        && relays.as_ref().is_none_or(RelayReport::met);
    let threads = args.server_threads.unwrap_or(cpus);

    if args.json {
        let report = json!({
            "mode": "realtime, in-process",
            "provider": args.provider,
            "cpus": cpus,
            "gateway_threads": threads,
            "client_threads": args.client_threads,
            "streams": streams.as_ref().map(|s| json!({
                "streams": s.streams,
                "opened": s.opened,
                "seconds": s.secs,
                "frames_written": s.joined.written,
                "frames_sent": s.frames_sent,
                "frames_not_seen": s.joined.not_seen,
                "echoes_not_read": s.joined.not_echoed,
                "bad_echoes": s.bad_echoes,
                "not_closed_normally": s.not_closed_normally,
                "errors": error_kinds(&s.errors).iter().map(|(n, w, who)| json!({"count": n, "error": w, "first": who})).collect::<Vec<_>>(),
                "inbound_ms": lat_json(&s.inbound),
                "outbound_ms": lat_json(&s.outbound),
                "rss_mib": {"idle": mib(s.rss_idle), "open": mib(s.rss_open), "streaming": mib(s.rss_streaming)},
                "rss_kib_per_stream": {
                    "open": s.per_stream(s.rss_open).map(|b| b / 1024.0),
                    "streaming": s.per_stream(s.rss_streaming).map(|b| b / 1024.0),
                },
                "cpu": cpu_json(&s.cpu, s.opened),
                "load_average": [s.load.0, s.load.1],
                "target_met": s.met(),
            })),
            "relays": relays.as_ref().map(|r| json!({
                "relays": r.relays,
                "opened": r.opened,
                "seconds": r.secs,
                "prompt_interval_ms": r.interval_ms,
                "prompts": r.prompts,
                "unanswered": r.unanswered,
                "not_seen_by_app": r.not_seen_by_app,
                "errors": error_kinds(&r.errors).iter().map(|(n, w, who)| json!({"count": n, "error": w, "first": who})).collect::<Vec<_>>(),
                "overhead_ms": lat_json(&r.overhead),
                "round_trip_ms": lat_json(&r.round_trip),
                "app_ms": lat_json(&r.app),
                "cpu": cpu_json(&r.cpu, r.opened),
                "load_average": [r.load.0, r.load.1],
                "target_met": r.met(),
            })),
            "target_met": met,
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
        return Ok(met);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "mode:          real-time voice on {}, in-process gateway over loopback ({cpus} CPUs, {threads} gateway worker threads, {} client thread(s))",
        args.provider, args.client_threads
    );
    if let Some(s) = &streams {
        let _ = writeln!(
            out,
            "streams:       {} of {} opened; {} frames written over {:.1} s, {} not seen by the handler, {} echoes not read back, {} unexpected messages, {} streams not closed with 1000; load average {}",
            s.opened,
            s.streams,
            s.joined.written,
            s.secs,
            s.joined.not_seen,
            s.joined.not_echoed,
            s.bad_echoes,
            s.not_closed_normally,
            load_text(s.load)
        );
        error_lines(&mut out, &s.errors);
        let _ = writeln!(
            out,
            "inbound:       frame written → handler saw it: {}",
            lat_line(&s.inbound)
        );
        let _ = writeln!(
            out,
            "outbound:      handler sent → echo read:      {}",
            lat_line(&s.outbound)
        );
        let kib = |b: Option<f64>| b.map_or("n/a".into(), |b| format!("{:.1} KiB", b / 1024.0));
        let m = |b: Option<u64>| mib(b).map_or("n/a".into(), |m| format!("{m:.1} MiB"));
        let _ = writeln!(
            out,
            "memory:        RSS {} with no stream, {} with {} open ({} per stream), {} at the end of the streaming ({} per stream)",
            m(s.rss_idle),
            m(s.rss_open),
            s.opened,
            kib(s.per_stream(s.rss_open)),
            m(s.rss_streaming),
            kib(s.per_stream(s.rss_streaming)),
        );
        cpu_lines(&mut out, &s.cpu, s.opened, "stream");
    }
    if let Some(r) = &relays {
        let _ = writeln!(
            out,
            "relays:        {} of {} opened; {} prompts over {:.1} s (one every {} ms each), {} unanswered, {} not seen by the app; load average {}",
            r.opened,
            r.relays,
            r.prompts,
            r.secs,
            r.interval_ms,
            r.unanswered,
            r.not_seen_by_app,
            load_text(r.load)
        );
        error_lines(&mut out, &r.errors);
        let _ = writeln!(
            out,
            "overhead:      prompt → first token − app:   {}",
            lat_line(&r.overhead)
        );
        let _ = writeln!(
            out,
            "               prompt → first token:         {}",
            lat_line(&r.round_trip)
        );
        let _ = writeln!(
            out,
            "               app (POST read → answer sent): {}",
            lat_line(&r.app)
        );
        cpu_lines(&mut out, &r.cpu, r.opened, "relay");
    }
    let verdict = |m: bool| if m { "MET" } else { "NOT MET" };
    if let Some(s) = &streams {
        let _ = writeln!(
            out,
            "target:        inbound and outbound p99 < {} ms, every frame echoed: {}",
            TARGET_FRAME_P99.as_millis(),
            verdict(s.met())
        );
    }
    if let Some(r) = &relays {
        let _ = writeln!(
            out,
            "target:        relay overhead p99 < {} ms, every prompt answered: {}",
            TARGET_RELAY_P99.as_millis(),
            verdict(r.met())
        );
    }
    print!("{out}");
    Ok(met)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_messages_are_twilios_and_echoes_are_recognised() {
        let f = frame(7, 42);
        let text = media_message("MZ1", 5, 43, 840, &f);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], "media");
        assert_eq!(v["sequenceNumber"], "5");
        assert_eq!(v["streamSid"], "MZ1");
        assert_eq!(v["media"]["chunk"], "43");
        assert_eq!(v["media"]["timestamp"], "840");
        assert_eq!(v["media"]["track"], "inbound");
        assert_eq!(echo_id(&text), Some((7, 42)));
        assert_eq!(
            echo_id(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"x"}}"#),
            None
        );
    }

    #[test]
    fn telnyx_frames_are_read_by_the_telnyx_provider() {
        use telephony_core::Provider;
        let signer = telephony_telnyx::WebhookSigner::from_seed([3; 32]);
        let provider = telephony_telnyx::TelnyxProvider::new(
            telephony_telnyx::TelnyxConfig::new("k")
                .public_key(signer.public_key_base64())
                .from_number(telephony_core::PhoneNumber::parse(TO).unwrap()),
        )
        .unwrap();
        let rt = provider.realtime().unwrap();
        let ringer = Ringer {
            addr: "127.0.0.1:1".parse().unwrap(),
            host: "127.0.0.1:1".into(),
            path: "/telephony/webhook".into(),
            url: "http://127.0.0.1:1/telephony/webhook".into(),
            account: ACCOUNT.into(),
            auth_token: AUTH_TOKEN.into(),
            run_id: "0123456789abcdef".into(),
            telnyx: Some(Arc::new(TelnyxSide {
                signer,
                recorder: Arc::new(telnyx_api::Recorder::new("0123456789abcdef", 4)),
            })),
        };
        let sid = ringer.stream_sid(3);
        assert_eq!(sid, "01234567-89ab-4cde-8012-000000000003");
        let StreamEvent::Start(start) = rt
            .decode_stream(&ringer.start_message(3, &sid, "tok-1"))
            .unwrap()
        else {
            panic!("not a start")
        };
        assert_eq!(start.stream_id, sid);
        assert_eq!(start.call_id, "v3:0123456789abcdef0000000000000003");
        assert_eq!(start.custom_parameters["telephonyToken"], "tok-1");
        assert_eq!(
            (start.encoding.as_str(), start.sample_rate, start.channels),
            ("audio/x-mulaw", 8000, 1)
        );
        let f = frame(3, 42);
        let media = ringer.media_message(&sid, 5, 43, 840, &f);
        let StreamEvent::Audio(a) = rt.decode_stream(&media).unwrap() else {
            panic!("not audio")
        };
        assert_eq!((a.chunk, a.timestamp_ms, a.mulaw), (43, 840, f.to_vec()));
        // The gateway's echo, as the provider writes it, is recognised.
        let echo = rt.encode_stream(
            &sid,
            &telephony_core::voice::StreamCommand::Audio(f.to_vec()),
        );
        assert_eq!(echo_id(&echo), Some((3, 42)));
        assert_eq!(
            rt.decode_stream(&ringer.stop_message(3, &sid, 6)).unwrap(),
            StreamEvent::Stop
        );
        assert_eq!(
            rt.decode_stream(&ringer.connected_message()).unwrap(),
            StreamEvent::Connected
        );
    }

    #[test]
    fn errors_are_grouped_by_kind() {
        let errors = [
            "relay 0: close: reset".to_string(),
            "relay 7: webhook: HTTP 429: busy".to_string(),
            "relay 1: close: reset".to_string(),
        ];
        assert_eq!(
            error_kinds(&errors),
            [
                (2, "close: reset".to_string(), "relay 0".to_string()),
                (
                    1,
                    "webhook: HTTP 429: busy".to_string(),
                    "relay 7".to_string()
                ),
            ]
        );
    }

    #[test]
    fn the_app_answers_prompts_and_names_them() {
        let prompt = |text: &str| {
            json!({"id": "evt_1", "type": "call.prompt", "data": {"callId": "CA1", "text": text}})
                .to_string()
        };
        assert_eq!(
            app_answer(prompt("prompt 12 7").as_bytes()),
            (r#"{"text":"answer 12 7"}"#.to_string(), Some((12, 7)))
        );
        assert_eq!(
            app_answer(prompt("warmup 3").as_bytes()),
            (r#"{"text":"ready 3"}"#.to_string(), None)
        );
        assert_eq!(
            app_answer(prompt("hello there").as_bytes()),
            ("{}".to_string(), None)
        );
        assert_eq!(
            app_answer(br#"{"type":"call.started","data":{}}"#),
            ("{}".to_string(), None)
        );
        assert_eq!(app_answer(b"not json"), ("{}".to_string(), None));
    }
}
