//! The real-time routes on the public listener: `GET {streamPath}` (audio streams) and
//! `GET {streamPath}/relay` (text relays), both WebSocket upgrades the provider opens for a
//! call the gateway connected.
//!
//! Authentication is twofold: the provider's signature of the upgrade (over the socket URL
//! the gateway handed out: `wss://` on an `https://` public URL, `ws://` on a plain
//! `http://` one as in the sandbox; no query), and a one-time per-call token the gateway put in the call's
//! parameters, which must come back in the stream's start (or the relay's setup) and is
//! checked against the store (its hash), for that call only and only once.
//!
//! Limits: the start must arrive within [`START_TIMEOUT`]; at most
//! [`MAX_PENDING_PER_IP`] unauthenticated sockets per client address; frames over
//! [`MAX_FRAME`] close the socket with 1009; a handler that does not read its events
//! ([`EVENT_BUFFER`]) or a sender that runs ahead of the socket
//! ([`MAX_QUEUED_AUDIO`](crate::voice::live::MAX_QUEUED_AUDIO)) close it with 1011.
//! Every refusal is a close frame with a reason (1008 policy, 1009 too big, 1011 internal)
//! and a log line without secrets. A socket that dies without the provider's `stop` ends
//! the call (hung up through the provider), so no session outlives its stream.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use telephony_core::voice::{RelayCommand, RelayEvent, StreamEvent};
use telephony_core::{SignatureCheck, WebhookRequest, error_chain};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::gateway::Gateway;
use crate::handler_error::HandlerError;
use crate::voice::live::{CallStream, Outbound, RelaySender, RelaySession, Shared, StreamSender};
use crate::voice::marks::MarkOutcome;
use crate::voice::pending::PendingGuard;
use crate::voice::socket::{MAX_FRAME, close, read_error};
use crate::voice::token::{TOKEN_PARAM, token_hash};

/// A socket that sends no valid start within this is closed.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read from a socket at a time. The WebSocket library's default (128 KiB) is
/// zero-filled up front, so it stayed resident for every open call; a Twilio `media`
/// message is ~330 bytes, and a larger frame (up to [`MAX_FRAME`]) still gets room for
/// its whole length.
pub(crate) const READ_BUFFER: usize = 4 * 1024;
/// Sockets not yet authenticated, per client address.
pub(crate) const MAX_PENDING_PER_IP: usize = 32;
/// Events waiting for the handler, at most.
pub(crate) const EVENT_BUFFER: usize = 1024;

/// Which protocol a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Stream,
    Relay,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Stream => "stream",
            Kind::Relay => "relay",
        }
    }
}

pub(crate) async fn stream_route(
    State(gw): State<Gateway>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    upgrade(gw, Kind::Stream, uri, headers, connect, ws)
}

pub(crate) async fn relay_route(
    State(gw): State<Gateway>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    upgrade(gw, Kind::Relay, uri, headers, connect, ws)
}

fn upgrade(
    gw: Gateway,
    kind: Kind,
    uri: axum::http::Uri,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("this route takes a WebSocket upgrade: {e}\n"),
            )
                .into_response();
        }
    };
    let ip = connect.map(|Extension(ConnectInfo(addr))| addr.ip());
    let Some(pending) = gw.voice().pending().admit(ip, MAX_PENDING_PER_IP) else {
        tracing::warn!(kind = kind.name(), client = ?ip, max = MAX_PENDING_PER_IP, "too many pending real-time sockets from one address");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "too many pending sockets from this address\n",
        )
            .into_response();
    };
    // The signature is checked here, before the upgrade; a failure is told to the client
    // as a close frame (1008) with the reason once the socket is open.
    let verdict = verify(&gw, &headers, ip, uri.path());
    ws.max_frame_size(MAX_FRAME)
        .max_message_size(MAX_FRAME)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| async move {
            run(gw, kind, socket, verdict, pending).await;
        })
}

/// The socket URL the gateway handed out: the route on the public origin with its WebSocket
/// scheme, no query. The provider decides which forms of it verify (Twilio: the `wss://`
/// form it signs, and a `ws://` URL as given).
fn verify(
    gw: &Gateway,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    path: &str,
) -> Result<(), String> {
    let provider = gw.shared().provider();
    let Some(rt) = provider.realtime() else {
        return Err(format!("{} has no real-time protocol", provider.name()));
    };
    let check = if gw.security().skips_signatures() {
        SignatureCheck::DangerouslySkip
    } else {
        SignatureCheck::Verify
    };
    let url = match gw.security().signed_url(headers, peer, path) {
        Ok(u) => ws_scheme(&u),
        Err(reason) if check == SignatureCheck::Verify => return Err(reason),
        Err(_) => String::new(),
    };
    let req = WebhookRequest {
        url,
        method: Method::GET,
        headers: headers.clone(),
        body: Default::default(),
    };
    rt.verify_upgrade(&req, check).map_err(|e| e.to_string())
}

/// `https://…` → `wss://…`, `http://…` → `ws://…`: the scheme the call's TwiML names (see
/// the voice answer's socket origin).
pub(crate) fn ws_scheme(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_string()
    }
}

enum Started {
    /// The start, and its raw text (forwarded as is by the stream proxy).
    Stream(telephony_core::voice::StreamStart, String),
    Relay(telephony_core::voice::RelaySetup),
}

/// Reads until the start (stream) or setup (relay); `Err((code, reason))` to close with.
async fn first_start(
    gw: &Gateway,
    kind: Kind,
    socket: &mut WebSocket,
) -> Result<Started, (u16, String)> {
    let rt = gw
        .shared()
        .provider()
        .realtime()
        .ok_or((1011, "no real-time protocol".to_string()))?;
    loop {
        let msg = match socket.recv().await {
            None => return Err((1000, "closed before the start".into())),
            Some(Err(e)) => return Err(read_error(&e)),
            Some(Ok(m)) => m,
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                return Err((1008, "binary frames are not part of the protocol".into()));
            }
            Message::Close(_) => return Err((1000, "closed before the start".into())),
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        match kind {
            Kind::Stream => match rt.decode_stream(text.as_str()) {
                Ok(StreamEvent::Connected) => continue,
                Ok(StreamEvent::Start(s)) => {
                    return Ok(Started::Stream(s, text.as_str().to_string()));
                }
                Ok(_) => return Err((1008, "expected the stream's start".into())),
                Err(e) => return Err((1008, e.to_string())),
            },
            Kind::Relay => match rt.decode_relay(text.as_str()) {
                Ok(RelayEvent::Setup(s)) => return Ok(Started::Relay(s)),
                Ok(_) => return Err((1008, "expected the relay's setup".into())),
                Err(e) => return Err((1008, e.to_string())),
            },
        }
    }
}

/// Checks the per-call token (once) and that the call is a live session.
async fn authorize(
    gw: &Gateway,
    call_id: &str,
    params: &mut std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    let Some(token) = params.remove(TOKEN_PARAM) else {
        return Err(format!("missing {TOKEN_PARAM} parameter"));
    };
    let store = gw.shared().store();
    let ok = store
        .take_stream_token(call_id, &token_hash(&token), OffsetDateTime::now_utc())
        .await
        .map_err(|e| format!("store error: {}", error_chain(&e)))?;
    if !ok {
        return Err("invalid, expired or already used token for this call".into());
    }
    match store.call(call_id).await {
        Ok(Some(rec)) if rec.is_live_session() => Ok(()),
        Ok(_) => Err("unknown or ended call".into()),
        Err(e) => Err(format!("store error: {}", error_chain(&e))),
    }
}

async fn run(
    gw: Gateway,
    kind: Kind,
    mut socket: WebSocket,
    verdict: Result<(), String>,
    pending: PendingGuard,
) {
    if let Err(reason) = verdict {
        tracing::warn!(kind = kind.name(), %reason, "real-time socket refused: signature");
        return close(socket, 1008, &format!("signature: {reason}")).await;
    }
    let started = match tokio::time::timeout(START_TIMEOUT, first_start(&gw, kind, &mut socket))
        .await
    {
        Err(_) => {
            tracing::warn!(
                kind = kind.name(),
                "real-time socket sent no start in time; closed"
            );
            return close(socket, 1008, "no start within 5 s").await;
        }
        Ok(Err((code, reason))) => {
            tracing::warn!(kind = kind.name(), code, %reason, "real-time socket refused before its start");
            return close(socket, code, &reason).await;
        }
        Ok(Ok(s)) => s,
    };
    let (call_id, auth) = match started {
        Started::Stream(mut s, raw) => {
            let auth = authorize(&gw, &s.call_id.clone(), &mut s.custom_parameters).await;
            (s.call_id.clone(), auth.map(|()| Started::Stream(s, raw)))
        }
        Started::Relay(mut s) => {
            let auth = authorize(&gw, &s.call_id.clone(), &mut s.custom_parameters).await;
            (s.call_id.clone(), auth.map(|()| Started::Relay(s)))
        }
    };
    drop(pending);
    let started = match auth {
        Ok(s) => s,
        Err(reason) => {
            tracing::warn!(kind = kind.name(), call_sid = %call_id, %reason, "real-time socket refused");
            return close(socket, 1008, &reason).await;
        }
    };
    tracing::info!(kind = kind.name(), call_sid = %call_id, "real-time socket authenticated");
    // Counted in this replica's heartbeat while the socket lives: it cannot move.
    let _held = gw.shared().holding().realtime_call();
    match started {
        Started::Stream(start, raw) => {
            let Some(handler) = gw.voice().stream_handler() else {
                if let Some(url) = gw.voice().settings().stream_url.clone() {
                    let provider = gw.shared().provider();
                    let early = gw.voice().preconnects().take(&call_id).await;
                    return crate::voice::proxy::run(
                        provider, socket, &call_id, &url, &start, raw, early,
                    )
                    .await;
                }
                return close(socket, 1011, "no stream handler").await;
            };
            let stream_id = start.stream_id.clone();
            let (shared, out_rx) = Shared::new(gw.shared().provider().clone(), call_id.clone());
            let (ev_tx, ev_rx) = mpsc::channel(EVENT_BUFFER);
            let stream = CallStream::new(start, ev_rx, StreamSender::new(shared.clone()));
            let done = shared.tx.clone();
            let id = call_id.clone();
            tokio::spawn(async move {
                let r = tokio::spawn(async move { handler.on_stream(stream).await }).await;
                log_handler_end(&id, "stream", r);
                // Closing after the handler: the provider continues with the next verbs.
                let _ = done.send(Outbound::Close);
            });
            pump(
                &gw,
                kind,
                socket,
                &shared,
                out_rx,
                Pump::Stream(ev_tx, stream_id),
            )
            .await;
        }
        Started::Relay(setup) => {
            let Some(handler) = gw.voice().relay_handler() else {
                return close(socket, 1011, "no relay handler").await;
            };
            let (shared, out_rx) = Shared::new(gw.shared().provider().clone(), call_id.clone());
            let (ev_tx, ev_rx) = mpsc::channel(EVENT_BUFFER);
            let relay = RelaySession::new(setup, ev_rx, RelaySender::new(shared.clone()));
            let done = shared.tx.clone();
            let id = call_id.clone();
            tokio::spawn(async move {
                let r = tokio::spawn(async move { handler.on_relay(relay).await }).await;
                log_handler_end(&id, "relay", r);
                let _ = done.send(Outbound::Close);
            });
            pump(&gw, kind, socket, &shared, out_rx, Pump::Relay(ev_tx)).await;
        }
    }
}

fn log_handler_end(
    call_id: &str,
    kind: &str,
    r: Result<Result<(), HandlerError>, tokio::task::JoinError>,
) {
    match r {
        Ok(Ok(())) => tracing::debug!(call_sid = %call_id, kind, "handler finished"),
        Ok(Err(e)) => {
            tracing::warn!(call_sid = %call_id, kind, error = %error_chain(e.as_ref()), "handler returned an error")
        }
        Err(e) => tracing::error!(call_sid = %call_id, kind, error = %e, "handler panicked"),
    }
}

enum Pump {
    Stream(mpsc::Sender<StreamEvent>, String),
    Relay(mpsc::Sender<RelayEvent>),
}

/// Moves messages both ways until the provider stops, the handler closes, or something
/// breaks; then cleans up (a socket that died without `stop` hangs the call up).
async fn pump(
    gw: &Gateway,
    kind: Kind,
    mut socket: WebSocket,
    shared: &std::sync::Arc<Shared>,
    mut out_rx: mpsc::UnboundedReceiver<Outbound>,
    mut events: Pump,
) {
    let Some(rt) = gw.shared().provider().realtime() else {
        return close(socket, 1011, "no real-time protocol").await;
    };
    let call_id = shared.call_id.clone();
    // Why the loop ended: the provider's stop (call over), our close, or a failure.
    let mut stopped = false;
    let mut closing: Option<(u16, String)> = None;
    // Handles taken once per socket: a frame costs a clock read and a few atomic adds.
    let metrics = gw.metrics();
    let frame_in = metrics.histogram(
        "telephony_realtime_frame_in_seconds",
        &[("kind", kind.name())],
    );
    let frame_out = metrics.histogram(
        "telephony_realtime_frame_out_seconds",
        &[("kind", kind.name())],
    );
    let first_token = (kind == Kind::Relay)
        .then(|| metrics.histogram("telephony_relay_first_token_seconds", &[]));
    // When the caller's last prompt came, until the application's first answer to it.
    let mut prompted: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let read = std::time::Instant::now();
                let text = match msg {
                    None | Some(Ok(Message::Close(_))) => {
                        // A relay has no stop message: the provider closing it is its end.
                        stopped = kind == Kind::Relay;
                        break;
                    }
                    Some(Err(e)) => { closing = Some(read_error(&e)); break; }
                    Some(Ok(Message::Binary(_))) => {
                        closing = Some((1008, "binary frames are not part of the protocol".into()));
                        break;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Text(t))) => t,
                };
                let delivered = match &mut events {
                    Pump::Stream(tx, _) => match rt.decode_stream(text.as_str()) {
                        Ok(mut ev) => {
                            if let StreamEvent::Mark { name } = &ev {
                                if shared.mark_echoed(name) == MarkOutcome::Cleared {
                                    ev = StreamEvent::MarkCleared { name: name.clone() };
                                }
                            }
                            stopped = matches!(ev, StreamEvent::Stop);
                            tx.try_send(ev).map_err(|e| matches!(e, mpsc::error::TrySendError::Full(_)))
                        }
                        Err(e) => { closing = Some((1008, e.to_string())); break; }
                    },
                    Pump::Relay(tx) => match rt.decode_relay(text.as_str()) {
                        Ok(ev) => {
                            if matches!(ev, RelayEvent::Prompt { last: true, .. }) && prompted.is_none() {
                                prompted = Some(read);
                            }
                            tx.try_send(ev).map_err(|e| matches!(e, mpsc::error::TrySendError::Full(_)))
                        }
                        Err(e) => { closing = Some((1008, e.to_string())); break; }
                    },
                };
                // A full buffer means the handler stopped reading; a closed one means it
                // finished (its close is on its way).
                if delivered.is_ok() {
                    frame_in.observe_duration(read.elapsed());
                }
                if delivered == Err(true) {
                    closing = Some((1011, format!("the application did not read the call's events ({EVENT_BUFFER} waiting)")));
                    break;
                }
                if stopped {
                    closing = Some((1000, "stream stopped".into()));
                    break;
                }
            }
            cmd = out_rx.recv() => {
                let taken = std::time::Instant::now();
                if let (Some(Outbound::Relay(RelayCommand::Text { .. } | RelayCommand::Play { .. })), Some(h), Some(at)) = (&cmd, &first_token, prompted) {
                    h.observe_duration(at.elapsed());
                    prompted = None;
                }
                let text = match cmd {
                    None | Some(Outbound::Close) => { closing = Some((1000, "done".into())); break; }
                    Some(Outbound::Fail(code, reason)) => { closing = Some((code, reason)); break; }
                    Some(Outbound::Stream(c)) => {
                        let Pump::Stream(_, stream_id) = &events else { continue };
                        let audio = match &c { telephony_core::voice::StreamCommand::Audio(a) => a.len(), _ => 0 };
                        let t = rt.encode_stream(stream_id, &c);
                        shared.written(audio);
                        t
                    }
                    Some(Outbound::Relay(c)) => rt.encode_relay(&c),
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
                frame_out.observe_duration(taken.elapsed());
            }
        }
    }
    shared.close();
    let stream_id = match &events {
        Pump::Stream(_, id) => Some(id.clone()),
        _ => None,
    };
    drop(events);
    let ended_by_us = matches!(&closing, Some((1000, _)));
    if let Some((code, reason)) = &closing {
        if *code != 1000 {
            tracing::warn!(kind = kind.name(), call_sid = %call_id, code, %reason, "real-time socket closed");
        }
        close(socket, *code, reason).await;
    } else {
        // The provider closed (or the socket broke): the socket has queued its answer to
        // the provider's close frame, and only a flush sends it (a send after a close is
        // refused). Without it the peer saw a reset instead of the closing handshake. A
        // broken socket just fails here.
        let _ = futures_util::SinkExt::flush(&mut socket).await;
    }
    if !stopped && !ended_by_us {
        // The stream died under the call: end the call, so no session outlives it.
        tracing::warn!(kind = kind.name(), call_sid = %call_id, "real-time socket ended without the provider's stop; hanging up the call");
        if let Err(e) = gw.hang_up(&call_id).await {
            tracing::warn!(call_sid = %call_id, error = %e, "could not hang up after the stream died");
        }
    } else {
        tracing::info!(kind = kind.name(), call_sid = %call_id, stopped, "real-time socket ended");
        if let (false, Some(stream_id)) = (stopped, &stream_id) {
            // We closed it and the call goes on: some providers must be told.
            if let Err(e) = gw
                .shared()
                .provider()
                .stream_closed(&call_id, stream_id)
                .await
            {
                tracing::warn!(call_sid = %call_id, error = %e, "could not tell the provider the stream ended");
            }
        }
    }
}
