//! The public listener's accept loop: HTTP/1 on hyper, with the limits a listener on the
//! internet needs (`serve.headerTimeoutMs`, `serve.requestTimeoutMs`, `serve.idleTimeoutMs`,
//! `serve.maxHeaderBytes`, `serve.maxConnections`, `serve.maxInFlight`).
//!
//! What a client gets when it overstays:
//!
//! | limit | answer | `telephony_listener_refused_total{reason}` |
//! |---|---|---|
//! | request head (line + headers) not complete within `headerTimeout` of its first byte (or of the connection's accept) | `408 Request Timeout`, `Connection: close`, then close | `header_timeout` |
//! | response not ready within `requestTimeout` of the head (a slow body included) | `408 Request Timeout`, `Connection: close` | `request_timeout` |
//! | request head over `maxHeaderBytes` | `431 Request Header Fields Too Large` (hyper's own answer), then close | `headers_too_large` |
//! | unparsable request line or headers | `400 Bad Request` (hyper's), then close | `malformed` |
//! | ambiguous framing: `Content-Length` with `Transfer-Encoding`, more than one `Content-Length`, a `Transfer-Encoding` other than `chunked`, obsolete line folding ([below](self#ambiguous-framing)) | `400 Bad Request`, `Connection: close`, then close; never reaches the routes | `malformed` |
//! | `maxConnections` connections open: the one that has gone longest without a complete request head is evicted (closed without an answer) and the new one served | — | — (`telephony_listener_evicted_total{reason}`) |
//! | `maxConnections` connections open, every one with a request in progress (or a WebSocket) | `503 Service Unavailable`, `Connection: close`, `Retry-After: 1` once the request head is in (or after 0.5 s), then close; never queued | `too_many_connections` |
//! | `maxInFlight` requests already being processed | `503 Service Unavailable`, `Connection: close`, `Retry-After: 1` | `too_many_in_flight` |
//! | keep-alive connection idle for `idleTimeout` between requests | closed, no answer (normal HTTP/1.1) | not counted |
//!
//! Every refusal closes lingering: the answer, then the write side shut down, then what the
//! client still sends drained for at most 1 s and 256 KiB, so a client that sent its
//! request at once reads its 408, 400 or 503 instead of a reset.
//!
//! # Floods
//!
//! When the slots run out, a new connection takes the slot of the connection that has gone
//! longest without a complete request head (silent, sending a head, or idle between
//! keep-alive requests), of the client address holding the most such connections. A
//! connection with a request in progress or upgraded is never evicted. A provider sends its
//! request as soon as it connects, so a flood of silent or slow sockets evicts itself; only
//! when nothing is evictable is a connection refused.
//!
//! # Ambiguous framing
//!
//! Request heads are checked as their bytes arrive, before hyper parses them: one whose
//! body length could be read two ways is refused with 400 and the connection closed, before
//! any signature check or storage.
//!
//! The body limit (413) is the router's (`DefaultBodyLimit`, `serve.maxBodyBytes`), so it
//! holds for chunked bodies too and for the library's users.
//!
//! The header and idle timeouts are this module's, not hyper's `header_read_timeout`: hyper
//! starts that timer as soon as a keep-alive connection goes idle, so an idle limit longer
//! than the header limit cannot be expressed with it, and it closes without a 408. Here the
//! connection's I/O is wrapped: the first byte of a request starts the header clock, the
//! service marks the request busy (the request timeout applies) and then idle (the idle
//! clock) or upgraded (no clock: WebSocket streams at `serve.streamPath` live as long as the
//! call). A connection's slot in `maxConnections` is held by its socket, so upgraded
//! WebSockets count too and give it back when they close.
//!
//! Every connection gets `TCP_NODELAY` and its peer address as a
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) request extension, as axum's
//! `into_make_service_with_connect_info` gives it. Graceful shutdown stops accepting,
//! closes idle connections, lets requests in progress finish for up to `requestTimeout`,
//! then drops what is left.
//!
//! ```no_run
//! use telephony::listener::{self, ListenerLimits};
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
//! let tcp = tokio::net::TcpListener::bind("127.0.0.1:3335").await?;
//! let (stop, mut stopped) = tokio::sync::watch::channel(false);
//! let server = tokio::spawn(listener::serve(
//!     tcp,
//!     app,
//!     ListenerLimits::default(),
//!     listener::no_metrics(),
//!     async move {
//!         let _ = stopped.wait_for(|s| *s).await;
//!     },
//! ));
//! // … later:
//! stop.send(true).ok();
//! server.await.ok();
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

mod framing;
mod linger;
mod slots;

use linger::Lingering;
use slots::{Admit, Conn, Slots};
pub use slots::{Eviction, Occupancy};

/// The public listener's limits (config `serve.*`; see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Time to send a complete request head, from its first byte (from the accept for a
    /// connection's first request). Default 10 s.
    pub header_timeout: Duration,
    /// Time from the request head to the response (the body read included). Default 30 s.
    pub request_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request. Default 60 s.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), bytes. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Open connections at most (upgraded WebSockets included). Default 1024.
    pub max_connections: usize,
    /// Requests being processed at once at most. Default 256.
    pub max_in_flight: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            max_in_flight: 256,
        }
    }
}

/// Why the listener refused or cut off a connection or request (the `reason` label of
/// `telephony_listener_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The request head did not arrive within the header timeout (408, closed).
    HeaderTimeout,
    /// The response was not ready within the request timeout (408, closed).
    RequestTimeout,
    /// The request head was over `maxHeaderBytes` (431, closed).
    HeadersTooLarge,
    /// The request line or headers did not parse, or the body's framing is ambiguous (400,
    /// closed).
    Malformed,
    /// `maxConnections` reached with no connection to evict (503, closed).
    TooManyConnections,
    /// `maxInFlight` reached (503, closed).
    TooManyInFlight,
}

impl Refusal {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::RequestTimeout => "request_timeout",
            Refusal::HeadersTooLarge => "headers_too_large",
            Refusal::Malformed => "malformed",
            Refusal::TooManyConnections => "too_many_connections",
            Refusal::TooManyInFlight => "too_many_in_flight",
        }
    }
}

/// Called once per refusal (the server counts them in the gateway's metrics).
pub type RefusalHook = Arc<dyn Fn(Refusal) + Send + Sync>;

/// Called once per evicted connection.
pub type EvictionHook = Arc<dyn Fn(Eviction) + Send + Sync>;

/// What the listener reports: refusals and evictions as they happen, and its open and
/// unspoken connections in [`Occupancy`] (read at scrape time).
#[derive(Clone)]
pub struct ListenerMetrics {
    /// Called once per refusal.
    pub on_refused: RefusalHook,
    /// Called once per evicted connection.
    pub on_evicted: EvictionHook,
    /// Kept current by the listener.
    pub occupancy: Arc<Occupancy>,
}

impl std::fmt::Debug for ListenerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerMetrics")
            .field("occupancy", &self.occupancy)
            .finish_non_exhaustive()
    }
}

/// Metrics that count nothing (the occupancy is still kept).
pub fn no_metrics() -> ListenerMetrics {
    ListenerMetrics {
        on_refused: Arc::new(|_| {}),
        on_evicted: Arc::new(|_| {}),
        occupancy: Arc::default(),
    }
}

const BUSY_BODY: &str = "the gateway is busy; retry shortly\n";
const HEADER_TIMEOUT_BODY: &str = "request headers not received in time (serve.headerTimeoutMs)\n";
const FRAMING_BODY: &str =
    "ambiguous request framing (Content-Length / Transfer-Encoding / folded header)\n";

/// A raw response for when hyper has no request to answer: `status` (a reason phrase
/// included), `Connection: close`, a text body.
fn raw_response(status: &str, body: &str) -> String {
    let retry = if status.starts_with("503") {
        "retry-after: 1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\n{retry}content-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

struct Ctx {
    router: Router,
    limits: ListenerLimits,
    http: http1::Builder,
    in_flight: Arc<Semaphore>,
    on_refused: RefusalHook,
    slots: Slots,
    lingering: Lingering,
}

/// Serves `router` on `listener` with `limits` until `shutdown` completes, then shuts down
/// gracefully (see the [module docs](self)). Refusals and evictions are reported to
/// `metrics`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    metrics: ListenerMetrics,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // Ours (see the module docs), not hyper's.
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        // Room for a full head plus a read's worth, and never below hyper's minimum.
        .max_buf_size((limits.max_header_bytes + 8192).max(8192))
        .keep_alive(true);
    let ctx = Arc::new(Ctx {
        router,
        http,
        in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
        limits: limits.clone(),
        on_refused: metrics.on_refused.clone(),
        slots: Slots::new(limits.max_connections, metrics.occupancy.clone()),
        lingering: Lingering::default(),
    });
    let (closing, closing_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        tracing::error!(error = %e, "a public connection task panicked");
                    }
                }
            }
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        accept_error(e).await;
                        continue;
                    }
                };
                // Real-time voice frames are small and latency-bound: no Nagle delay.
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::warn!(%peer, error = %e, "could not set TCP_NODELAY on a connection");
                }
                let conn = match ctx.slots.admit(peer) {
                    Admit::Open(conn) => conn,
                    Admit::Evicted { conn, victim, why } => {
                        (metrics.on_evicted)(why);
                        tracing::debug!(%peer, evicted = %victim, reason = why.as_str(), max = limits.max_connections, "serve.maxConnections reached: evicted the connection longest without a request");
                        // Under a flood, let the connections just accepted read their heads
                        // before the next eviction: a burst of accepts must not evict a
                        // client whose request is already in its socket.
                        tasks.spawn(connection(tcp, conn, ctx.clone(), closing_rx.clone()));
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Admit::Full => {
                        (ctx.on_refused)(Refusal::TooManyConnections);
                        tracing::debug!(%peer, max = limits.max_connections, "connection refused: serve.maxConnections reached, every connection busy");
                        ctx.lingering.close_after_head(
                            tcp,
                            raw_response("503 Service Unavailable", BUSY_BODY),
                        );
                        continue;
                    }
                };
                tasks.spawn(connection(tcp, conn, ctx.clone(), closing_rx.clone()));
            }
        }
    }
    drop(listener);
    // Idle connections close now; requests in progress get up to the request timeout.
    let _ = closing.send(true);
    let open = tasks.len();
    let drained = tokio::time::timeout(limits.request_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            of = open,
            "public connections still busy after serve.requestTimeoutMs; dropping them"
        );
        tasks.shutdown().await;
    }
}

/// Accept errors: out of descriptors (wait for some to close) or a connection that died
/// before it was accepted (go on).
async fn accept_error(e: io::Error) {
    let fds = matches!(e.raw_os_error(), Some(23) | Some(24)); // ENFILE, EMFILE
    if fds {
        tracing::error!(error = %e, "out of file descriptors; lower serve.maxConnections or raise the limit (ulimit -n)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        tracing::debug!(error = %e, "accept failed");
    }
}

fn refusal_response(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn connection(
    tcp: TcpStream,
    conn: Arc<Conn>,
    ctx: Arc<Ctx>,
    mut closing: watch::Receiver<bool>,
) {
    let peer = conn.peer;
    let state = Arc::new(ConnState::default());
    let io = GuardedIo::new(tcp, conn.clone(), state.clone(), ctx.clone());
    let service = {
        let ctx = ctx.clone();
        let conn = conn.clone();
        let state = state.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(req, conn.clone(), ctx.clone(), state.clone())
        })
    };
    let http = ctx
        .http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut http = std::pin::pin!(http);
    let mut evicted = false;
    let res = loop {
        tokio::select! {
            res = http.as_mut() => break Some(res),
            _ = closing.wait_for(|c| *c) => break None,
            // The I/O reads an end of stream from now on; the next poll sees it.
            _ = conn.notify.notified(), if !evicted => evicted = true,
        }
    };
    let res = match res {
        Some(res) => res,
        None => {
            http.as_mut().graceful_shutdown();
            http.await
        }
    };
    if let Err(e) = res {
        if e.is_parse_too_large() {
            (ctx.on_refused)(Refusal::HeadersTooLarge);
            state.linger.store(true, Ordering::Relaxed);
            tracing::debug!(%peer, max = ctx.limits.max_header_bytes, "request head over serve.maxHeaderBytes: 431");
        } else if e.is_parse() {
            (ctx.on_refused)(Refusal::Malformed);
            state.linger.store(true, Ordering::Relaxed);
            tracing::debug!(%peer, error = %e, "malformed request: 400");
        } else {
            tracing::debug!(%peer, error = %e, "public connection ended with an error");
        }
    }
}

async fn handle(
    mut req: Request<Incoming>,
    conn: Arc<Conn>,
    ctx: Arc<Ctx>,
    state: Arc<ConnState>,
) -> Result<Response<Body>, Infallible> {
    let peer = conn.peer;
    state.set(BUSY);
    state.linger.store(false, Ordering::Relaxed);
    let refuse = |status: StatusCode, body: &'static str, why: Refusal| {
        (ctx.on_refused)(why);
        state.linger.store(true, Ordering::Relaxed);
        // Closed after this answer: not listed as unspoken again.
        state.set(IDLE);
        Ok::<_, Infallible>(refusal_response(status, body))
    };
    if !ctx.slots.spoke(&conn) {
        tracing::debug!(%peer, "request refused: its connection was evicted as it arrived");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            BUSY_BODY,
            Refusal::TooManyConnections,
        );
    }
    if state.unchecked.load(Ordering::Relaxed) {
        tracing::debug!(%peer, "request refused: an earlier body on its connection could not be followed");
        return refuse(StatusCode::BAD_REQUEST, FRAMING_BODY, Refusal::Malformed);
    }
    let Ok(_permit) = ctx.in_flight.clone().try_acquire_owned() else {
        tracing::debug!(%peer, max = ctx.limits.max_in_flight, "request refused: serve.maxInFlight reached");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            BUSY_BODY,
            Refusal::TooManyInFlight,
        );
    };
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = match tokio::time::timeout(
        ctx.limits.request_timeout,
        ctx.router.clone().oneshot(req),
    )
    .await
    {
        Ok(Ok(resp)) => resp,
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::debug!(%peer, timeout_ms = ctx.limits.request_timeout.as_millis() as u64, "request not answered within serve.requestTimeoutMs: 408");
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                "request not completed in time (serve.requestTimeoutMs)\n",
                Refusal::RequestTimeout,
            );
        }
    };
    // After an error answer the body may be unread: if hyper closes, it closes lingering.
    if resp.status().is_client_error() || resp.status().is_server_error() {
        state.linger.store(true, Ordering::Relaxed);
    }
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        state.set(UPGRADED);
    } else {
        state.set(IDLE);
        ctx.slots.quiet(&conn);
    }
    Ok(resp)
}

/// The phase the service last set on a connection, with a generation so the I/O side sees
/// every change (two low bits: phase; the rest: generation), and what the service tells the
/// I/O about the close.
#[derive(Default)]
struct ConnState {
    phase: AtomicU64,
    /// Close lingering: an error answer was given.
    linger: AtomicBool,
    /// The framing checks stopped on this connection (a body they could not follow): its
    /// next request is refused.
    unchecked: AtomicBool,
}

const IDLE: u64 = 0;
const BUSY: u64 = 1;
const UPGRADED: u64 = 2;

impl ConnState {
    fn set(&self, phase: u64) {
        // One writer (the connection's service, one request at a time).
        let cur = self.phase.load(Ordering::Relaxed);
        self.phase
            .store((((cur >> 2) + 1) << 2) | phase, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head: header clock.
    Head,
    /// Between requests: idle clock.
    Idle,
    /// A request is being processed (the service's request timeout applies) or the
    /// connection was upgraded: no clock.
    Busy,
}

/// The connection's socket, with its slot in `maxConnections`, the header and idle clocks
/// (see the module docs), the framing checks and the lingering close.
struct GuardedIo {
    /// Taken only when dropped.
    tcp: Option<TcpStream>,
    conn: Arc<Conn>,
    state: Arc<ConnState>,
    ctx: Arc<Ctx>,
    seen: u64,
    phase: Phase,
    upgraded: bool,
    deadline: Option<Instant>,
    sleep: Pin<Box<Sleep>>,
    framing: framing::Framing,
    /// An answer to write before closing lingering (a 408 or a 400 hyper never saw the
    /// request for); set when the connection is being ended for it.
    answer: Option<&'static str>,
    /// The bytes before a refused head went to hyper: the next read fails.
    refused: bool,
    /// The client closed its side.
    eof: bool,
    /// The last write did not complete (a response may be half written).
    write_blocked: bool,
}

impl GuardedIo {
    fn new(tcp: TcpStream, conn: Arc<Conn>, state: Arc<ConnState>, ctx: Arc<Ctx>) -> Self {
        let deadline = Instant::now() + ctx.limits.header_timeout;
        GuardedIo {
            tcp: Some(tcp),
            conn,
            seen: state.phase.load(Ordering::Relaxed),
            state,
            ctx,
            phase: Phase::Head,
            upgraded: false,
            deadline: Some(deadline),
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            framing: framing::Framing::default(),
            answer: None,
            refused: false,
            eof: false,
            write_blocked: false,
        }
    }

    fn tcp(&mut self) -> &mut TcpStream {
        self.tcp
            .as_mut()
            .expect("the socket is taken only when the I/O is dropped")
    }

    /// Takes the service's latest phase change, if any, and sets the clock for it.
    fn sync(&mut self) {
        let s = self.state.phase.load(Ordering::Relaxed);
        if s == self.seen {
            return;
        }
        self.seen = s;
        match s & 3 {
            IDLE => self.enter(Phase::Idle, Some(self.ctx.limits.idle_timeout)),
            UPGRADED => {
                // WebSocket frames from now on, not HTTP.
                self.upgraded = true;
                self.framing.stop();
                self.enter(Phase::Busy, None);
            }
            _ => self.enter(Phase::Busy, None),
        }
    }

    fn enter(&mut self, phase: Phase, timeout: Option<Duration>) {
        self.phase = phase;
        self.deadline = timeout.map(|t| Instant::now() + t);
    }

    /// The clock ran out: answer 408 if a request head was under way (and nothing is
    /// half written), then end the connection.
    fn expire(&mut self) -> io::Result<()> {
        match self.phase {
            Phase::Head => {
                (self.ctx.on_refused)(Refusal::HeaderTimeout);
                tracing::debug!(
                    peer = %self.conn.peer,
                    timeout_ms = self.ctx.limits.header_timeout.as_millis() as u64,
                    "request head not received within serve.headerTimeoutMs: 408"
                );
                self.answer = Some(HEADER_TIMEOUT_BODY);
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not received within serve.headerTimeoutMs",
                ))
            }
            // An idle keep-alive connection just ends (end of stream for hyper).
            Phase::Idle | Phase::Busy => {
                self.state.linger.store(false, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Checks the framing of bytes just read (`buf[before..]`); a refused head is cut off.
    fn check(&mut self, buf: &mut ReadBuf<'_>, before: usize) -> io::Result<()> {
        let Err(bad) = self.framing.feed(&buf.filled()[before..]) else {
            if self.framing.lost() && !self.upgraded {
                self.state.unchecked.store(true, Ordering::Relaxed);
            }
            return Ok(());
        };
        (self.ctx.on_refused)(Refusal::Malformed);
        tracing::debug!(peer = %self.conn.peer, reason = bad.why, "ambiguous request framing: 400");
        self.answer = Some(FRAMING_BODY);
        self.refused = true;
        buf.set_filled(before + bad.at);
        if bad.at == 0 {
            return Err(refused_framing());
        }
        Ok(())
    }
}

fn refused_framing() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "ambiguous request framing")
}

impl Drop for GuardedIo {
    fn drop(&mut self) {
        self.ctx.slots.closed(&self.conn);
        let Some(tcp) = self.tcp.take() else { return };
        let linger = self.answer.is_some() || self.state.linger.load(Ordering::Relaxed);
        if !linger || self.eof || self.conn.evicted() {
            return;
        }
        let answer = match self.answer {
            Some(body) if !self.write_blocked => Some(raw_response(
                if body == HEADER_TIMEOUT_BODY {
                    "408 Request Timeout"
                } else {
                    "400 Bad Request"
                },
                body,
            )),
            _ => None,
        };
        self.ctx.lingering.close(tcp, answer);
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync();
        if this.refused {
            return Poll::Ready(Err(refused_framing()));
        }
        // Evicted: an end of stream, once nothing is half written.
        if this.conn.evicted() && !this.write_blocked {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(this.tcp()).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() == before {
                    this.eof = true;
                    return Poll::Ready(Ok(()));
                }
                if this.phase == Phase::Idle {
                    let t = this.ctx.limits.header_timeout;
                    this.enter(Phase::Head, Some(t));
                }
                if this.phase == Phase::Head {
                    this.conn.mark_partial();
                }
                Poll::Ready(this.check(buf, before))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.deadline else {
                    return Poll::Pending;
                };
                if this.sleep.deadline() != deadline {
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.deadline = None;
                        Poll::Ready(this.expire())
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(this.tcp()).poll_write(cx, buf);
        this.write_blocked = r.is_pending();
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(this.tcp()).poll_write_vectored(cx, bufs);
        this.write_blocked = r.is_pending();
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.as_ref().is_some_and(|t| t.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().tcp()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.answer.is_some() {
            // The answer goes first; the lingering close shuts the write side after it.
            return Poll::Ready(Ok(()));
        }
        Pin::new(this.tcp()).poll_shutdown(cx)
    }
}
