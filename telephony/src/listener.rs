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
//! | `maxConnections` connections already open | `503 Service Unavailable`, `Connection: close`, `Retry-After: 1` once the request head is in (or after 0.5 s), then close; never queued | `too_many_connections` |
//! | `maxInFlight` requests already being processed | `503 Service Unavailable`, `Connection: close`, `Retry-After: 1` | `too_many_in_flight` |
//! | keep-alive connection idle for `idleTimeout` between requests | closed, no answer (normal HTTP/1.1) | not counted |
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
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

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
    /// The request line or headers did not parse (400, closed).
    Malformed,
    /// `maxConnections` reached (503, closed).
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

/// A hook that counts nothing.
pub fn no_metrics() -> RefusalHook {
    Arc::new(|_| {})
}

/// Refusals of connections over `maxConnections` at once at most; beyond them a refused
/// connection is closed without an answer.
const MAX_LINGERING: usize = 64;
/// How long a refused connection's request head is waited for, and how long it is drained
/// after its 503.
const REFUSE_WAIT: Duration = Duration::from_millis(500);

const BUSY_BODY: &str = "the gateway is busy; retry shortly\n";
const HEADER_TIMEOUT_BODY: &str = "request headers not received in time (serve.headerTimeoutMs)\n";

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
}

/// Serves `router` on `listener` with `limits` until `shutdown` completes, then shuts down
/// gracefully (see the [module docs](self)). Refusals are reported to `on_refused`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    on_refused: RefusalHook,
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
        on_refused,
    });
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let lingering = Arc::new(Semaphore::new(MAX_LINGERING));
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
                    tracing::warn!(error = %e, "could not set TCP_NODELAY on a connection");
                }
                match connections.clone().try_acquire_owned() {
                    Ok(slot) => {
                        tasks.spawn(connection(tcp, peer, slot, ctx.clone(), closing_rx.clone()));
                    }
                    Err(_) => {
                        (ctx.on_refused)(Refusal::TooManyConnections);
                        tracing::debug!(%peer, max = limits.max_connections, "connection refused: serve.maxConnections reached");
                        refuse(tcp, &lingering);
                    }
                }
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

/// Answers 503 on a connection over `maxConnections` and closes it. The request head is
/// read first (for at most [`REFUSE_WAIT`]: an HTTP client reading an answer to a request
/// it has not sent yet would take it for a protocol error), then the 503 is written and
/// the rest drained for a moment, so the answer is not lost to a reset. At most
/// [`MAX_LINGERING`] refusals run at once; beyond them a connection is just closed.
fn refuse(tcp: TcpStream, lingering: &Arc<Semaphore>) {
    let Ok(slot) = lingering.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _slot = slot;
        let mut tcp = tcp;
        let mut buf = [0u8; 4096];
        // The end of the head may straddle two reads: keep the last three bytes.
        let mut tail = [0u8; 3];
        let mut seen = 0usize;
        let _ = tokio::time::timeout(REFUSE_WAIT, async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut window = tail.to_vec();
                        window.extend_from_slice(&buf[..n]);
                        seen += n;
                        if window.windows(4).any(|w| w == b"\r\n\r\n") || seen > 64 * 1024 {
                            break;
                        }
                        let w = window.len();
                        tail.copy_from_slice(&window[w - 3..]);
                    }
                }
            }
        })
        .await;
        let busy = raw_response("503 Service Unavailable", BUSY_BODY);
        if tcp.write_all(busy.as_bytes()).await.is_err() {
            return;
        }
        let _ = tcp.shutdown().await;
        let _ = tokio::time::timeout(REFUSE_WAIT, async {
            while let Ok(n) = tcp.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    });
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
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    ctx: Arc<Ctx>,
    mut closing: watch::Receiver<bool>,
) {
    let state = Arc::new(ConnState::default());
    let io = GuardedIo::new(tcp, slot, state.clone(), &ctx);
    let service = {
        let ctx = ctx.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(req, peer, ctx.clone(), state.clone())
        })
    };
    let conn = ctx
        .http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let res = tokio::select! {
        res = conn.as_mut() => Some(res),
        _ = closing.wait_for(|c| *c) => None,
    };
    let res = match res {
        Some(res) => res,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = res {
        if e.is_parse_too_large() {
            (ctx.on_refused)(Refusal::HeadersTooLarge);
            tracing::debug!(%peer, max = ctx.limits.max_header_bytes, "request head over serve.maxHeaderBytes: 431");
        } else if e.is_parse() {
            (ctx.on_refused)(Refusal::Malformed);
            tracing::debug!(%peer, error = %e, "malformed request: 400");
        } else {
            tracing::debug!(%peer, error = %e, "public connection ended with an error");
        }
    }
}

async fn handle(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    state: Arc<ConnState>,
) -> Result<Response<Body>, Infallible> {
    state.set(BUSY);
    let Ok(_permit) = ctx.in_flight.clone().try_acquire_owned() else {
        (ctx.on_refused)(Refusal::TooManyInFlight);
        tracing::debug!(%peer, max = ctx.limits.max_in_flight, "request refused: serve.maxInFlight reached");
        state.set(IDLE);
        return Ok(refusal_response(StatusCode::SERVICE_UNAVAILABLE, BUSY_BODY));
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
            (ctx.on_refused)(Refusal::RequestTimeout);
            tracing::debug!(%peer, timeout_ms = ctx.limits.request_timeout.as_millis() as u64, "request not answered within serve.requestTimeoutMs: 408");
            refusal_response(
                StatusCode::REQUEST_TIMEOUT,
                "request not completed in time (serve.requestTimeoutMs)\n",
            )
        }
    };
    state.set(if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        UPGRADED
    } else {
        IDLE
    });
    Ok(resp)
}

/// The phase the service last set on a connection, with a generation so the I/O side sees
/// every change (two low bits: phase; the rest: generation).
#[derive(Default)]
struct ConnState(AtomicU64);

const IDLE: u64 = 0;
const BUSY: u64 = 1;
const UPGRADED: u64 = 2;

impl ConnState {
    fn set(&self, phase: u64) {
        // One writer (the connection's service, one request at a time).
        let cur = self.0.load(Ordering::Relaxed);
        self.0
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

/// The connection's socket, with its slot in `maxConnections` and the header and idle
/// clocks (see the module docs).
struct GuardedIo {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
    state: Arc<ConnState>,
    seen: u64,
    phase: Phase,
    deadline: Option<Instant>,
    sleep: Pin<Box<Sleep>>,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// The last write did not complete (a response may be half written).
    write_blocked: bool,
    on_refused: RefusalHook,
}

impl GuardedIo {
    fn new(tcp: TcpStream, slot: OwnedSemaphorePermit, state: Arc<ConnState>, ctx: &Ctx) -> Self {
        let deadline = Instant::now() + ctx.limits.header_timeout;
        GuardedIo {
            tcp,
            _slot: slot,
            seen: state.0.load(Ordering::Relaxed),
            state,
            phase: Phase::Head,
            deadline: Some(deadline),
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            header_timeout: ctx.limits.header_timeout,
            idle_timeout: ctx.limits.idle_timeout,
            write_blocked: false,
            on_refused: ctx.on_refused.clone(),
        }
    }

    /// Takes the service's latest phase change, if any, and sets the clock for it.
    fn sync(&mut self) {
        let s = self.state.0.load(Ordering::Relaxed);
        if s == self.seen {
            return;
        }
        self.seen = s;
        match s & 3 {
            IDLE => self.enter(Phase::Idle, Some(self.idle_timeout)),
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
                (self.on_refused)(Refusal::HeaderTimeout);
                tracing::debug!(
                    timeout_ms = self.header_timeout.as_millis() as u64,
                    "request head not received within serve.headerTimeoutMs: 408"
                );
                if !self.write_blocked {
                    // A head under way has had no answer yet: the send buffer is empty.
                    let _ = self.tcp.try_write(
                        raw_response("408 Request Timeout", HEADER_TIMEOUT_BODY).as_bytes(),
                    );
                }
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request head not received within serve.headerTimeoutMs",
                ))
            }
            // An idle keep-alive connection just ends (end of stream for hyper).
            Phase::Idle | Phase::Busy => Ok(()),
        }
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
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    let t = this.header_timeout;
                    this.enter(Phase::Head, Some(t));
                }
                Poll::Ready(Ok(()))
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
        let r = Pin::new(&mut this.tcp).poll_write(cx, buf);
        this.write_blocked = r.is_pending();
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        this.write_blocked = r.is_pending();
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
