//! Telnyx's side of a media stream (`streaming_start`, or `stream_url` on `answer` or
//! dial; VOICE.md §4): the simulator opens a WebSocket to the application's `stream_url`
//! and speaks Telnyx's protocol on it.
//!
//! To the application: `connected`, `start` (top-level `stream_id`; `start.call_control_id`,
//! `media_format.encoding` a codec name such as `PCMU`), the party's audio as `media`
//! frames of 160 bytes (20 ms; `chunk`, `timestamp` and `sequence_number` as strings),
//! key presses as `dtmf`, echoed `mark`s, and `stop` when the stream or the call ends.
//! From the application (bidirectional streams only, `stream_bidirectional_mode`): `media`
//! (`media.payload`, base64 RTP payload) is played in order at the codec's rate on the
//! simulated clock; a `mark` comes back once the audio before it has played (at once if
//! nothing is queued); `clear` drops the audio not played and sends the pending marks
//! back at once. A party that barges in (`interrupt_after_ms`) holds its next audio and
//! keys until that much of the application's audio has played.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::call_driver::{Action, Command};
use crate::ids::new_uuid;
use crate::simulator::Simulator;

/// The header carrying `stream_auth_token` on the upgrade.
pub const STREAM_AUTH_HEADER: &str = "x-telnyx-streaming-auth-token";
/// μ-law bytes in one `media` frame the simulator sends (20 ms at 8 kHz).
const FRAME_BYTES: usize = 160;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A stream's settings, from `streaming_start` (or the `stream_*` fields of `answer`/dial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamParams {
    pub(crate) url: String,
    pub(crate) track: String,
    pub(crate) codec: String,
    pub(crate) bidirectional_mode: Option<String>,
    pub(crate) bidirectional_codec: Option<String>,
    pub(crate) bidirectional_sampling_rate: u32,
    pub(crate) auth_token: Option<String>,
    pub(crate) custom_parameters: Vec<(String, String)>,
}

/// One media stream of a call: what was sent both ways.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamRecord {
    /// `stream_id`.
    pub stream_id: String,
    /// `stream_url`.
    pub url: String,
    /// `stream_track` (`inbound_track` by default).
    pub track: String,
    /// `start.media_format.encoding` sent (`PCMU` unless `stream_codec` says otherwise).
    pub encoding: String,
    /// `stream_bidirectional_mode` (`rtp`, `mp3`), `None` for a one-way stream.
    pub bidirectional_mode: Option<String>,
    /// `stream_bidirectional_codec` (`PCMU` by default when bidirectional).
    pub bidirectional_codec: Option<String>,
    /// Whether the upgrade carried `x-telnyx-streaming-auth-token`.
    pub auth_token_sent: bool,
    /// Whether the socket opened.
    pub opened: bool,
    /// Why it did not open (`streaming.failed`'s `failure_reason` is `connection_failed`).
    pub failure: Option<String>,
    /// Every text message sent to the application, in order (the auth token in
    /// `connected` shows as `[redacted]`).
    pub sent: Vec<String>,
    /// Every text message received from the application, in order.
    pub received: Vec<String>,
    /// `media` frames sent.
    pub media_frames_sent: usize,
    /// `media` messages received.
    pub media_frames_received: usize,
    /// The application's audio, decoded, in order.
    pub audio_received: Vec<u8>,
    /// Bytes of the application's audio played through (cleared audio is not).
    pub bytes_played: usize,
    /// `mark` names received, in order.
    pub marks_received: Vec<String>,
    /// `mark` names sent back, in order.
    pub marks_echoed: Vec<String>,
    /// `clear` messages received.
    pub clears: usize,
    /// `mark` names sent back because a `clear` dropped the audio before them (also in
    /// [`marks_echoed`](Self::marks_echoed)), in order.
    pub marks_cleared: Vec<String>,
    /// What the simulator noticed (messages it did not understand, audio not sent).
    pub notes: Vec<String>,
    /// Real time from the (inbound) call's creation, when its `call.initiated` went out,
    /// to the socket opening.
    pub opened_after: Option<Duration>,
    /// Real time from the (inbound) call's creation to the application's first `media`:
    /// how long the caller waited for the first words.
    pub first_media_after: Option<Duration>,
}

impl StreamRecord {
    /// The `event` of every message sent, in order.
    ///
    /// ```
    /// use telephony_telnyx_simulator::StreamRecord;
    /// let mut r = StreamRecord::default();
    /// r.sent = vec![r#"{"event":"connected","version":"1.0.0"}"#.into(), r#"{"event":"stop"}"#.into()];
    /// assert_eq!(r.sent_events(), ["connected", "stop"]);
    /// ```
    pub fn sent_events(&self) -> Vec<String> {
        self.sent
            .iter()
            .filter_map(|m| serde_json::from_str::<Value>(m).ok())
            .filter_map(|v| v.get("event").and_then(Value::as_str).map(str::to_string))
            .collect()
    }
}

/// What the driver tells a stream.
#[derive(Debug)]
enum StreamCmd {
    Audio(Vec<u8>),
    Dtmf(char),
    /// Hold the party's next audio and keys until this many milliseconds of the
    /// application's audio have played (the caller barges in mid-sentence).
    Interrupt(u64),
    Stop,
}

/// The driver's handle on a running stream.
#[derive(Debug)]
pub(crate) struct StreamHandle {
    pub(crate) stream_id: String,
    pub(crate) url: String,
    /// The socket is open (the driver heard so): the party's audio and keys go to it.
    pub(crate) opened: bool,
    /// The application may play audio on it (`stream_bidirectional_mode`).
    pub(crate) bidirectional: bool,
    tx: UnboundedSender<StreamCmd>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamHandle {
    /// Records the stream in call `id`'s log and starts connecting; the result comes back
    /// to the driver as [`Action::StreamOpened`].
    pub(crate) fn open(
        sim: Simulator,
        call_id: String,
        params: StreamParams,
        driver: UnboundedSender<Command>,
    ) -> Self {
        let stream_id = new_uuid();
        let encoding = if params.codec == "default" {
            "PCMU".to_string()
        } else {
            params.codec.clone()
        };
        let index = {
            let mut state = sim.lock();
            match state.calls.get_mut(&call_id) {
                Some(call) => {
                    call.log.streams.push(StreamRecord {
                        stream_id: stream_id.clone(),
                        url: params.url.clone(),
                        track: params.track.clone(),
                        encoding: encoding.clone(),
                        bidirectional_mode: params.bidirectional_mode.clone(),
                        bidirectional_codec: params.bidirectional_mode.as_ref().map(|_| {
                            params
                                .bidirectional_codec
                                .clone()
                                .unwrap_or_else(|| "PCMU".into())
                        }),
                        auth_token_sent: params.auth_token.is_some(),
                        ..Default::default()
                    });
                    call.log.streams.len() - 1
                }
                None => usize::MAX,
            }
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let session = Session {
            sim,
            call_id,
            index,
            stream_id: stream_id.clone(),
            params: params.clone(),
            encoding,
            sequence: 0,
            chunk: 0,
            playing: VecDeque::new(),
            play_deadline: None,
            head_started: None,
            interrupt_left: None,
            interrupt_at: None,
            held: VecDeque::new(),
        };
        let bidirectional = params.bidirectional_mode.is_some();
        let task = tokio::spawn(session.run(rx, driver));
        StreamHandle {
            stream_id,
            url: params.url,
            opened: false,
            bidirectional,
            tx,
            task,
        }
    }

    pub(crate) fn send_audio(&self, bytes: Vec<u8>) {
        let _ = self.tx.send(StreamCmd::Audio(bytes));
    }

    pub(crate) fn send_dtmf(&self, digit: char) {
        let _ = self.tx.send(StreamCmd::Dtmf(digit));
    }

    /// The party's next audio and keys wait until `after_ms` of the application's audio
    /// have played on this stream.
    pub(crate) fn interrupt(&self, after_ms: u64) {
        let _ = self.tx.send(StreamCmd::Interrupt(after_ms));
    }

    /// Sends `stop`, closes the socket, and waits (up to 5 s) for the task.
    pub(crate) async fn finish(self) {
        let _ = self.tx.send(StreamCmd::Stop);
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

#[derive(Debug)]
enum Queued {
    /// Bytes not played yet.
    Audio(usize),
    Mark(String),
}

struct Session {
    sim: Simulator,
    call_id: String,
    index: usize,
    stream_id: String,
    params: StreamParams,
    encoding: String,
    sequence: u64,
    chunk: u64,
    /// The application's audio and marks, in order.
    playing: VecDeque<Queued>,
    /// When the head audio has played.
    play_deadline: Option<Instant>,
    /// When the head audio started playing.
    head_started: Option<Instant>,
    /// A barge-in waiting: bytes of the application's audio still to play before it.
    interrupt_left: Option<f64>,
    /// When the waiting barge-in is reached, if within the head audio.
    interrupt_at: Option<Instant>,
    /// The party's audio and keys held for the barge-in, in order.
    held: VecDeque<StreamCmd>,
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

impl Session {
    fn record(&self, f: impl FnOnce(&mut StreamRecord)) {
        let mut state = self.sim.lock();
        if let Some(r) = state
            .calls
            .get_mut(&self.call_id)
            .and_then(|c| c.log.streams.get_mut(self.index))
        {
            f(r);
        }
    }

    /// Real time since the call was created.
    fn since_created(&self) -> Option<Duration> {
        self.sim
            .lock()
            .calls
            .get(&self.call_id)
            .map(|c| c.created.elapsed())
    }

    async fn run(mut self, mut rx: UnboundedReceiver<StreamCmd>, driver: UnboundedSender<Command>) {
        // A sandbox's public `wss://` URL is served by the gateway on loopback.
        let url = self.sim.delivery_url(&self.params.url);
        let delay = self.sim.config().voice.stream_connect_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let opened = connect(&self.params, &url).await;
        let mut ws = match opened {
            Ok(ws) => ws,
            Err(reason) => {
                tracing::warn!(call_control_id = %self.call_id, stream_id = %self.stream_id, %reason, "telnyx simulator: media stream did not open");
                self.record(|r| r.failure = Some(reason.clone()));
                let _ = driver.send(Command {
                    client_state: None,
                    action: Action::StreamOpened {
                        stream_id: self.stream_id.clone(),
                        url: self.params.url.clone(),
                        failure: Some("connection_failed".into()),
                    },
                });
                // Wait for the driver's stop so `finish` returns at once.
                while let Some(cmd) = rx.recv().await {
                    if matches!(cmd, StreamCmd::Stop) {
                        break;
                    }
                }
                return;
            }
        };
        let since = self.since_created();
        self.record(|r| {
            r.opened = true;
            r.opened_after = since;
        });
        let _ = driver.send(Command {
            client_state: None,
            action: Action::StreamOpened {
                stream_id: self.stream_id.clone(),
                url: self.params.url.clone(),
                failure: None,
            },
        });
        tracing::info!(call_control_id = %self.call_id, stream_id = %self.stream_id, "telnyx simulator: media stream open");
        let mut connected = json!({"event": "connected", "version": "1.0.0"});
        if let Some(token) = &self.params.auth_token {
            // Telnyx repeats the token in the connected frame (`connected.<header name>`);
            // the record keeps it redacted.
            connected["connected"] = json!({ STREAM_AUTH_HEADER: token });
            let mut shown = connected.clone();
            shown["connected"] = json!({ STREAM_AUTH_HEADER: "[redacted]" });
            self.record(|r| r.sent.push(shown.to_string()));
            if ws
                .send(Message::Text(connected.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        } else if self.send(&mut ws, connected).await.is_err() {
            return;
        }
        let start = self.start_message();
        if self.send(&mut ws, start).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd @ (StreamCmd::Audio(_) | StreamCmd::Dtmf(_))) if self.interrupt_left.is_some() => {
                        self.held.push_back(cmd);
                    }
                    Some(StreamCmd::Interrupt(after_ms)) => {
                        self.interrupt_left = Some(after_ms as f64 * self.bytes_per_ms());
                        self.arm_interrupt();
                    }
                    Some(StreamCmd::Audio(bytes)) => {
                        if self.send_audio(&mut ws, &bytes).await.is_err() { break; }
                    }
                    Some(StreamCmd::Dtmf(d)) => {
                        if self.send_dtmf(&mut ws, d).await.is_err() { break; }
                    }
                    Some(StreamCmd::Stop) | None => {
                        self.sequence += 1;
                        let msg = json!({
                            "event": "stop",
                            "sequence_number": self.sequence.to_string(),
                            "stop": {"call_control_id": self.call_id},
                            "stream_id": self.stream_id,
                        });
                        let _ = self.send(&mut ws, msg).await;
                        let _ = ws.close(None).await;
                        break;
                    }
                },
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        if self.on_app_message(&mut ws, text.as_str()).await.is_err() { break; }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        self.record(|r| r.notes.push("the application closed the socket".into()));
                        if self.interrupt_left.take().is_some() {
                            // Nothing more will play: the party stops waiting.
                            let _ = driver.send(Command { client_state: None, action: Action::StreamBargedIn });
                        }
                        // Telnyx keeps the call; the stream is over.
                        while let Some(cmd) = rx.recv().await {
                            if matches!(cmd, StreamCmd::Stop) { break; }
                        }
                        return;
                    }
                    Some(Ok(_)) => {}
                },
                _ = sleep_until_opt(self.play_deadline) => {
                    self.play_deadline = None;
                    self.head_started = None;
                    if let Some(Queued::Audio(n)) = self.playing.pop_front() {
                        self.record(|r| r.bytes_played += n);
                        if let Some(left) = self.interrupt_left.as_mut() {
                            *left -= n as f64;
                        }
                    }
                    if self.echo_due_marks(&mut ws).await.is_err() { break; }
                    if self.interrupt_left.is_some_and(|left| left <= 0.0) {
                        if self.barge_in(&mut ws, &driver).await.is_err() { break; }
                    } else {
                        self.arm_interrupt();
                    }
                }
                _ = sleep_until_opt(self.interrupt_at) => {
                    if self.barge_in(&mut ws, &driver).await.is_err() { break; }
                }
            }
        }
    }

    fn start_message(&mut self) -> Value {
        self.sequence += 1;
        let (from, to, session, client_state) = {
            let state = self.sim.lock();
            match state.calls.get(&self.call_id) {
                Some(c) => (
                    c.from.clone(),
                    c.to.clone(),
                    c.call_session_id.clone(),
                    c.client_state.clone(),
                ),
                None => Default::default(),
            }
        };
        let custom: serde_json::Map<String, Value> = self
            .params
            .custom_parameters
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "event": "start",
            "sequence_number": self.sequence.to_string(),
            "start": {
                "call_control_id": self.call_id,
                "call_session_id": session,
                "client_state": client_state,
                "custom_parameters": custom,
                "from": from,
                "media_format": {"channels": 1, "encoding": self.encoding, "sample_rate": 8000},
                "tags": [],
                "to": to,
                "user_id": self.sim.config().voice.user_id,
            },
            "stream_id": self.stream_id,
        })
    }

    async fn send(&self, ws: &mut Ws, msg: Value) -> Result<(), ()> {
        let text = msg.to_string();
        self.record(|r| r.sent.push(text.clone()));
        ws.send(Message::Text(text.into())).await.map_err(|_| ())
    }

    /// The party's audio as 20 ms frames (the last padded with μ-law silence), paced by
    /// the simulated clock.
    async fn send_audio(&mut self, ws: &mut Ws, bytes: &[u8]) -> Result<(), ()> {
        let pace = self.sim.config().voice.simulated_second.mul_f64(0.020);
        for frame in bytes.chunks(FRAME_BYTES) {
            let mut frame = frame.to_vec();
            frame.resize(FRAME_BYTES, telephony_simulator_voice::audio::MULAW_SILENCE);
            self.chunk += 1;
            self.sequence += 1;
            let msg = json!({
                "event": "media",
                "sequence_number": self.sequence.to_string(),
                "media": {
                    "track": "inbound",
                    "chunk": self.chunk.to_string(),
                    "timestamp": ((self.chunk - 1) * 20).to_string(),
                    "payload": base64::engine::general_purpose::STANDARD.encode(&frame),
                },
                "stream_id": self.stream_id,
            });
            self.send(ws, msg).await?;
            self.record(|r| r.media_frames_sent += 1);
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
        }
        Ok(())
    }

    /// Bytes of the application's audio per simulated millisecond.
    fn bytes_per_ms(&self) -> f64 {
        match self.params.bidirectional_codec.as_deref().unwrap_or("PCMU") {
            "L16" => 2.0 * f64::from(self.params.bidirectional_sampling_rate) / 1000.0,
            _ => 8.0,
        }
    }

    async fn on_app_message(&mut self, ws: &mut Ws, text: &str) -> Result<(), ()> {
        self.record(|r| r.received.push(text.to_string()));
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let event = parsed
            .as_ref()
            .and_then(|v| v.get("event"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let bidirectional = self.params.bidirectional_mode.is_some();
        match event.as_str() {
            "media" if bidirectional => {
                let payload = parsed
                    .as_ref()
                    .and_then(|v| v.pointer("/media/payload"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match base64::engine::general_purpose::STANDARD.decode(payload) {
                    Ok(bytes) => {
                        let n = bytes.len();
                        let since = self.since_created();
                        self.record(|r| {
                            if r.first_media_after.is_none() {
                                r.first_media_after = since;
                            }
                            r.media_frames_received += 1;
                            r.audio_received.extend_from_slice(&bytes);
                        });
                        if n > 0 {
                            self.playing.push_back(Queued::Audio(n));
                            self.arm_playback();
                        }
                    }
                    Err(e) => {
                        self.record(|r| r.notes.push(format!("media payload is not base64: {e}")))
                    }
                }
            }
            "mark" => {
                let name = parsed
                    .as_ref()
                    .and_then(|v| v.pointer("/mark/name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                self.record(|r| r.marks_received.push(name.clone()));
                self.playing.push_back(Queued::Mark(name));
                self.echo_due_marks(ws).await?;
            }
            "clear" => {
                self.record(|r| r.clears += 1);
                self.play_deadline = None;
                self.head_started = None;
                self.interrupt_at = None;
                let marks: Vec<String> = std::mem::take(&mut self.playing)
                    .into_iter()
                    .filter_map(|q| match q {
                        Queued::Mark(name) => Some(name),
                        Queued::Audio(_) => None,
                    })
                    .collect();
                for name in marks {
                    self.record(|r| r.marks_cleared.push(name.clone()));
                    self.echo_mark(ws, name).await?;
                }
            }
            "media" => self.record(|r| {
                r.media_frames_received += 1;
                r.notes.push(
                    "media on a one-way stream (no stream_bidirectional_mode): ignored".into(),
                )
            }),
            other => self.record(|r| r.notes.push(format!("unknown message {other:?} ignored"))),
        }
        Ok(())
    }

    /// The barge-in is reached: the driver's party goes on, and audio and keys held
    /// meanwhile go out.
    async fn barge_in(&mut self, ws: &mut Ws, driver: &UnboundedSender<Command>) -> Result<(), ()> {
        self.interrupt_left = None;
        self.interrupt_at = None;
        self.record(|r| r.notes.push("the party barged in".into()));
        let _ = driver.send(Command {
            client_state: None,
            action: Action::StreamBargedIn,
        });
        while let Some(cmd) = self.held.pop_front() {
            match cmd {
                StreamCmd::Audio(bytes) => self.send_audio(ws, &bytes).await?,
                StreamCmd::Dtmf(d) => self.send_dtmf(ws, d).await?,
                StreamCmd::Interrupt(_) | StreamCmd::Stop => {}
            }
        }
        Ok(())
    }

    /// Sets when a waiting barge-in is reached, if that is within the audio playing now.
    fn arm_interrupt(&mut self) {
        self.interrupt_at = None;
        let (Some(left), Some(started), Some(Queued::Audio(n))) =
            (self.interrupt_left, self.head_started, self.playing.front())
        else {
            return;
        };
        if left <= *n as f64 {
            let ms = left.max(0.0) / self.bytes_per_ms();
            let real = self
                .sim
                .config()
                .voice
                .simulated_second
                .mul_f64(ms / 1000.0);
            self.interrupt_at = Some(started + real);
        }
    }

    async fn send_dtmf(&mut self, ws: &mut Ws, d: char) -> Result<(), ()> {
        self.sequence += 1;
        let msg = json!({
            "event": "dtmf",
            "sequence_number": self.sequence.to_string(),
            "dtmf": {"digit": d.to_string()},
            "stream_id": self.stream_id,
        });
        self.send(ws, msg).await
    }

    /// Starts playing the head audio if nothing plays.
    fn arm_playback(&mut self) {
        if self.play_deadline.is_some() {
            return;
        }
        if let Some(Queued::Audio(n)) = self.playing.front() {
            let ms = *n as f64 / self.bytes_per_ms();
            let real = self
                .sim
                .config()
                .voice
                .simulated_second
                .mul_f64(ms / 1000.0);
            let now = Instant::now();
            self.head_started = Some(now);
            self.play_deadline = Some(now + real);
            self.arm_interrupt();
        }
    }

    /// Sends back the marks at the head of the queue (their audio has played), then
    /// starts the next audio.
    async fn echo_due_marks(&mut self, ws: &mut Ws) -> Result<(), ()> {
        while let Some(Queued::Mark(_)) = self.playing.front() {
            if let Some(Queued::Mark(name)) = self.playing.pop_front() {
                self.echo_mark(ws, name).await?;
            }
        }
        self.arm_playback();
        Ok(())
    }

    async fn echo_mark(&mut self, ws: &mut Ws, name: String) -> Result<(), ()> {
        self.sequence += 1;
        self.record(|r| r.marks_echoed.push(name.clone()));
        let msg = json!({
            "event": "mark",
            "sequence_number": self.sequence.to_string(),
            "mark": {"name": name},
            "stream_id": self.stream_id,
        });
        self.send(ws, msg).await
    }
}

/// Opens the WebSocket (`ws://` only: the simulator has no TLS).
async fn connect(params: &StreamParams, url: &str) -> Result<Ws, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid stream_url: {e}"))?;
    if parsed.scheme() != "ws" {
        return Err(format!(
            "the simulator connects to ws:// URLs only (no TLS), not {}://",
            parsed.scheme()
        ));
    }
    let host = parsed
        .host_str()
        .ok_or("stream_url has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("invalid upgrade request: {e}"))?;
    if let Some(token) = &params.auth_token {
        request.headers_mut().insert(
            STREAM_AUTH_HEADER,
            token
                .parse()
                .map_err(|_| "stream_auth_token is not a header value".to_string())?,
        );
    }
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        tokio_tungstenite::client_async(request, tcp)
            .await
            .map(|(ws, _)| ws)
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(resp) => {
                    format!("the upgrade was answered HTTP {}", resp.status().as_u16())
                }
                other => format!("the upgrade failed: {other}"),
            })
    })
    .await;
    opened.unwrap_or_else(|_| Err(format!("no answer within {CONNECT_TIMEOUT:?}")))
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
