//! The WebSocket side shared by Media Streams and ConversationRelay: the signed upgrade,
//! and the loop that runs a session's protocol on the call's simulated clock.
//!
//! See the simulator's module docs ("Real-time sessions") for the clock and the
//! ping/pong barrier that keeps it in step with the application.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::call_state::is_terminal;
use crate::records::{RelayRecord, SessionEnd, StreamRecord};
use crate::simulator::Simulator;

/// How long the simulator waits for the pong of a synchronizing ping.
pub(crate) const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// How long opening a socket (TCP and the upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// The URL Twilio signs for a socket: the TwiML's URL with a `wss://` scheme (a `ws://`
/// URL, which only the simulator accepts, is signed as its `wss://` twin).
pub(crate) fn signed_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws") => format!("wss://{rest}"),
        _ => url.to_string(),
    }
}

/// Opens `url` (`ws://` only: the simulator has no TLS) with Twilio's signed upgrade:
/// header `x-twilio-signature` = `signature`.
pub(crate) async fn connect(url: &str, signature: &str) -> Result<Ws, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    match parsed.scheme() {
        "ws" => {}
        "wss" => {
            return Err(
                "the simulator has no TLS and cannot open wss:// sockets: use a ws:// URL to a loopback application"
                    .into(),
            )
        }
        other => return Err(format!("the scheme {other:?} is not ws://")),
    }
    let host = parsed.host_str().ok_or("the URL has no host")?.to_string();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("invalid upgrade request: {e}"))?;
    request.headers_mut().insert(
        "x-twilio-signature",
        signature
            .parse()
            .map_err(|_| "the signature is not a header value".to_string())?,
    );
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

/// Writes into one session's record in the call's log.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub(crate) sim: Simulator,
    pub(crate) sid: String,
    pub(crate) index: usize,
}

impl Recorder {
    pub(crate) fn stream(&self, f: impl FnOnce(&mut StreamRecord)) {
        let mut state = self.sim.lock();
        if let Some(r) = state
            .calls
            .meta
            .get_mut(&self.sid)
            .and_then(|m| m.log.streams.get_mut(self.index))
        {
            f(r);
        }
    }

    /// Real time since the call was created, if known.
    pub(crate) fn since_created(&self) -> Option<std::time::Duration> {
        self.sim
            .lock()
            .calls
            .meta
            .get(&self.sid)
            .and_then(|m| m.created)
            .map(|c| c.elapsed())
    }

    pub(crate) fn relay(&self, f: impl FnOnce(&mut RelayRecord)) {
        let mut state = self.sim.lock();
        if let Some(r) = state
            .calls
            .meta
            .get_mut(&self.sid)
            .and_then(|m| m.log.relays.get_mut(self.index))
        {
            f(r);
        }
    }
}

/// What the application sent.
pub(crate) enum Incoming {
    Text(String),
    Binary(usize),
    /// A close frame (its code, if any).
    /// The close frame's code and reason, when it had one.
    Closed(Option<(u16, String)>),
    /// The connection broke.
    Broken(String),
}

/// What a protocol wants sent.
pub(crate) enum Out {
    Text(String),
    /// Close the socket with this code and reason.
    Close(u16, String),
}

/// What a protocol waits for next.
pub(crate) enum Next {
    /// Something is due at this time on the session clock (`fire` when the clock is
    /// there).
    At(u64),
    /// Nothing until the application sends something.
    Idle,
    /// The caller hangs up now.
    HangUp,
}

/// One real-time protocol, Twilio's side, as a state machine on the session clock.
pub(crate) trait Protocol {
    /// What is due next, at `now`.
    fn next(&self, now: u64) -> Next;
    /// Does what is due at `now` (must make progress when `next` said `At(now)`).
    fn fire(&mut self, now: u64) -> Vec<Out>;
    /// Time passes from `from` to `to` (audio plays, speech goes on).
    fn advance(&mut self, from: u64, to: u64) -> Vec<Out>;
    /// The application sent something at `now`.
    fn receive(&mut self, now: u64, msg: Incoming) -> Vec<Out>;
    /// The call ended at `now`: the last messages before Twilio closes the socket.
    fn hang_up(&mut self, now: u64) -> Vec<Out>;
    /// Whether the session is over (the application closed or ended it, or was closed).
    fn done(&self) -> bool;
    /// Records a note.
    fn note(&mut self, text: String);
    /// Records how and when the session ended (once).
    fn finish(&mut self, end: SessionEnd, now: u64);
}

/// How the loop ended.
pub(crate) enum Exit {
    /// The protocol is done (see its record's `ended_by`); the call goes on.
    Done,
    /// The call ended (the caller, the API, the time limit): Twilio closed the socket.
    CallEnded,
}

pub(crate) struct Engine {
    sim: Simulator,
    sid: String,
    ws: Ws,
    now: u64,
    /// Something was sent since the last synchronizing ping.
    dirty: bool,
    sync: bool,
    ping: u64,
    closed: bool,
    time_limit_ms: u64,
    limit_reached: bool,
    wake: Arc<tokio::sync::Notify>,
}

impl Engine {
    pub(crate) fn new(sim: Simulator, sid: String, ws: Ws, time_limit_ms: u64) -> Self {
        let wake = sim
            .lock()
            .calls
            .meta
            .get(&sid)
            .map(|m| m.wake.clone())
            .unwrap_or_default();
        let sync = sim.config().realtime_sync;
        Engine {
            sim,
            sid,
            ws,
            now: 0,
            dirty: false,
            sync,
            ping: 0,
            closed: false,
            time_limit_ms,
            limit_reached: false,
            wake,
        }
    }

    /// Sends `opening`, then runs `proto` until it is done or the call ends. The caller
    /// ends the call when this returns [`Exit::CallEnded`] with
    /// `hung_up_by` set (the script's hang-up or the time limit).
    pub(crate) async fn run<P: Protocol>(
        mut self,
        proto: &mut P,
        opening: Vec<Out>,
    ) -> (Exit, Option<crate::script::CallEnd>) {
        self.send(proto, opening).await;
        loop {
            if self.call_ended() {
                let outs = proto.hang_up(self.now);
                self.send(proto, outs).await;
                self.close(proto).await;
                proto.finish(SessionEnd::CallEnded, self.now);
                return (Exit::CallEnded, None);
            }
            if self.limit_reached {
                let outs = proto.hang_up(self.now);
                self.send(proto, outs).await;
                self.close(proto).await;
                proto.finish(SessionEnd::CallEnded, self.now);
                return (Exit::CallEnded, Some(crate::script::CallEnd::TimeLimit));
            }
            if self.closed || proto.done() {
                if !self.closed {
                    self.close(proto).await;
                }
                proto.finish(SessionEnd::AppClosed, self.now);
                return (Exit::Done, None);
            }
            if self.dirty {
                self.barrier(proto).await;
                continue;
            }
            match proto.next(self.now) {
                Next::At(t) if t <= self.now => {
                    let outs = proto.fire(self.now);
                    self.send(proto, outs).await;
                }
                Next::At(t) => self.advance_to(proto, t).await,
                Next::Idle => self.idle(proto).await,
                Next::HangUp => {
                    let outs = proto.hang_up(self.now);
                    self.send(proto, outs).await;
                    self.close(proto).await;
                    proto.finish(SessionEnd::CallEnded, self.now);
                    return (Exit::CallEnded, Some(crate::script::CallEnd::CallerHangUp));
                }
            }
        }
    }

    fn call_ended(&self) -> bool {
        self.sim
            .lock()
            .calls
            .call(&self.sid)
            .is_none_or(is_terminal)
    }

    /// Simulated milliseconds left before the call's time limit.
    fn room(&self) -> u64 {
        let clock = self
            .sim
            .lock()
            .calls
            .meta
            .get(&self.sid)
            .map_or(0, |m| m.clock_ms);
        self.time_limit_ms.saturating_sub(clock)
    }

    /// Simulated milliseconds in `real` time.
    fn simulated_ms(&self, real: Duration) -> u64 {
        let second = self.sim.config().simulated_second;
        if second.is_zero() {
            return 0;
        }
        (real.as_secs_f64() / second.as_secs_f64() * 1000.0) as u64
    }

    /// Moves the clock to `to`, letting the protocol play what plays meanwhile.
    async fn set_clock<P: Protocol>(&mut self, proto: &mut P, to: u64) {
        if to <= self.now {
            return;
        }
        let outs = proto.advance(self.now, to);
        let delta = to - self.now;
        if let Some(meta) = self.sim.lock().calls.meta.get_mut(&self.sid) {
            meta.clock_ms += delta;
        }
        self.now = to;
        self.send(proto, outs).await;
    }

    /// Lets time pass until `target` (paced), or less when the application sends
    /// something meanwhile (handled at its simulated time) or the call ends; stops at
    /// the time limit.
    async fn advance_to<P: Protocol>(&mut self, proto: &mut P, target: u64) {
        let room = self.room();
        let (target, at_limit) = if target - self.now > room {
            (self.now + room, true)
        } else {
            (target, false)
        };
        let span = target - self.now;
        let real = self.sim.paced(span);
        if real.is_zero() {
            self.set_clock(proto, target).await;
        } else {
            let started = Instant::now();
            self.set_waiting(Some((started, span)));
            let wake = self.wake.clone();
            let from = self.now;
            tokio::select! {
                _ = tokio::time::sleep(real) => {
                    self.set_waiting(None);
                    self.set_clock(proto, target).await;
                }
                msg = self.ws.next() => {
                    self.set_waiting(None);
                    let at = (from + self.simulated_ms(started.elapsed())).min(target);
                    self.set_clock(proto, at).await;
                    self.handle(proto, msg).await;
                    return;
                }
                _ = wake.notified() => {
                    self.set_waiting(None);
                    return;
                }
            }
        }
        if at_limit && self.now == target {
            self.limit_reached = true;
        }
    }

    /// Nothing scheduled: waits for the application or the end of the call. Paced, the
    /// clock follows real time meanwhile, up to the time limit.
    async fn idle<P: Protocol>(&mut self, proto: &mut P) {
        let room = self.room();
        let paced = !self.sim.config().simulated_second.is_zero();
        let limit = if paced {
            self.sim.paced(room)
        } else {
            Duration::MAX
        };
        let started = Instant::now();
        let wake = self.wake.clone();
        tokio::select! {
            msg = self.ws.next() => {
                if paced {
                    let at = self.now + self.simulated_ms(started.elapsed()).min(room);
                    self.set_clock(proto, at).await;
                }
                self.handle(proto, msg).await;
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(limit), if paced => {
                let at = self.now + room;
                self.set_clock(proto, at).await;
                self.limit_reached = true;
            }
        }
    }

    /// Pings and reads everything up to the matching pong.
    async fn barrier<P: Protocol>(&mut self, proto: &mut P) {
        self.dirty = false;
        if !self.sync || self.closed {
            return;
        }
        self.ping += 1;
        let payload = self.ping.to_be_bytes().to_vec();
        if self
            .ws
            .send(Message::Ping(payload.clone().into()))
            .await
            .is_err()
        {
            return;
        }
        let deadline = tokio::time::Instant::now() + SYNC_TIMEOUT;
        let wake = self.wake.clone();
        loop {
            tokio::select! {
                msg = self.ws.next() => {
                    if let Some(Ok(Message::Pong(p))) = &msg {
                        if p.as_ref() == payload.as_slice() {
                            return;
                        }
                        continue;
                    }
                    self.handle(proto, msg).await;
                    if self.closed {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.sync = false;
                    proto.note(format!(
                        "the application did not answer a ping within {SYNC_TIMEOUT:?}: the simulator stopped waiting for its answers before moving the clock"
                    ));
                    return;
                }
                _ = wake.notified() => {
                    // The call ended; the loop sends what is due.
                    wake.notify_one();
                    return;
                }
            }
        }
    }

    async fn handle<P: Protocol>(
        &mut self,
        proto: &mut P,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) {
        let incoming = match msg {
            Some(Ok(Message::Text(t))) => Incoming::Text(t.to_string()),
            Some(Ok(Message::Binary(b))) => Incoming::Binary(b.len()),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => return,
            Some(Ok(Message::Close(frame))) => {
                self.closed = true;
                Incoming::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
            }
            Some(Err(e)) => {
                self.closed = true;
                Incoming::Broken(e.to_string())
            }
            None => {
                self.closed = true;
                Incoming::Broken("the connection closed without a close frame".into())
            }
        };
        let outs = proto.receive(self.now, incoming);
        self.send(proto, outs).await;
    }

    async fn send<P: Protocol>(&mut self, proto: &mut P, outs: Vec<Out>) {
        for out in outs {
            if self.closed {
                return;
            }
            self.dirty = true;
            let result = match out {
                Out::Text(text) => self.ws.send(Message::Text(text.into())).await,
                Out::Close(code, reason) => {
                    let r = self
                        .ws
                        .close(Some(CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        }))
                        .await;
                    self.drain().await;
                    self.closed = true;
                    r
                }
            };
            if let Err(e) = result {
                self.closed = true;
                proto.note(format!("sending failed: {e}"));
            }
        }
    }

    /// Closes the socket normally (1000) and waits briefly for the application's close.
    async fn close<P: Protocol>(&mut self, proto: &mut P) {
        if self.closed {
            return;
        }
        self.send(proto, vec![Out::Close(1000, String::new())])
            .await;
    }

    /// Reads (and drops) what comes until the socket is closed, for at most a second.
    async fn drain(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    fn set_waiting(&self, waiting: Option<(Instant, u64)>) {
        if let Some(meta) = self.sim.lock().calls.meta.get_mut(&self.sid) {
            meta.waiting = waiting;
        }
    }
}

/// A message as JSON text: the fields in the order of the serialized struct (Twilio's).
pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Serializes pairs as a JSON object, keeping their order.
pub(crate) fn ordered_map<S: serde::Serializer>(
    pairs: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// `text` cut at 200 characters, for alerts.
pub(crate) fn quote(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    format!("{out:?}")
}
