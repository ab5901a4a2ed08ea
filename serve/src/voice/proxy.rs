//! `voice.mode: "stream"`: a call's authenticated Media Streams socket proxied, frame for
//! frame, to the application's WebSocket (`voice.streamUrl`), so existing Media Streams
//! code works unchanged behind the gateway's authentication and session limits.
//!
//! The application speaks Media Streams: it gets `connected`, then the `start` that
//! authenticated the socket, `media`, `dtmf`, `mark`, `stop`, and sends `media`, `mark`,
//! `clear`; text frames only, each at most 64 KiB. A provider whose stream messages are
//! Media Streams (Twilio) is passed through frame for frame; any other (Telnyx) is
//! translated message by message through the neutral stream types
//! ([`super::bridge_protocol`]), so one application runs on every provider. Either side closing
//! closes the other. The application closing its socket cleanly ends the stream and the
//! call goes on to `voice.closing` and hangs up; an unreachable or failing application,
//! or a socket that breaks, hangs the call up through the API at once, so no session
//! outlives its stream.
//!
//! Barge-in: every `mark` echo the application gets carries `mark.cleared` (added by the
//! gateway): `false` when the audio before it played, `true` when the application's
//! `clear` dropped it first (the provider echoes pending marks on a clear, like played
//! ones; a mark sent and not echoed when the `clear` went out counts as cleared).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use telephony_core::Provider;
use telephony_core::voice::{StreamCommand, StreamEvent, StreamStart};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as AppMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::bridge_protocol::{
    BridgeWriter, CONNECTED, command, passthrough_command, passthrough_mark, with_cleared,
};
use super::marks::{MarkLedger, MarkOutcome};
use super::socket::{MAX_FRAME, close, read_error};
use super::token::TOKEN_PARAM;

/// How long one frame may wait for a side that does not read (its TCP window full) before
/// the stream is closed instead of buffering without bound.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Proxies one authenticated stream to `url` (`ws://host[:port]/path`).
pub(crate) async fn run(
    provider: &Arc<dyn Provider>,
    socket: WebSocket,
    call_id: &str,
    url: &str,
    decoded: &StreamStart,
    start: String,
    early: Option<Result<AppSocket, String>>,
) {
    let app = match early {
        Some(Ok(app)) => {
            tracing::debug!(call_sid = %call_id, app = %url, "using the application socket opened with the webhook's answer");
            Ok(app)
        }
        Some(Err(e)) => {
            tracing::info!(call_sid = %call_id, app = %url, error = %e, "the early connection failed; connecting again");
            connect(url).await
        }
        None => connect(url).await,
    };
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(call_sid = %call_id, app = %url, error = %e, "cannot reach the stream application; hanging up");
            // The call is hung up first, so the caller is not left on the TwiML after it.
            hang_up(provider, call_id).await;
            close(
                socket,
                1011,
                "the application's stream endpoint is unreachable",
            )
            .await;
            return;
        }
    };
    tracing::info!(call_sid = %call_id, app = %url, "stream proxied to the application");
    let (mut app_tx, mut app_rx) = app.split();
    let (mut tw_tx, mut tw_rx) = socket.split();
    let Some(rt) = provider.realtime() else {
        hang_up(provider, call_id).await;
        return;
    };
    // Media Streams from the provider pass through; anything else is translated.
    let mut writer = (!rt.stream_is_bridge_protocol()).then(|| BridgeWriter::new(decoded));
    let start = match &mut writer {
        Some(w) => w.start(decoded),
        None => without_token(&start),
    };
    for first in [CONNECTED.to_string(), start] {
        if app_tx.send(AppMessage::text(first)).await.is_err() {
            tracing::warn!(call_sid = %call_id, "the stream application closed at once");
            hang_up(provider, call_id).await;
            return;
        }
    }
    let mut stopped = false;
    // The application's marks, to tell played echoes from cleared ones.
    let mut marks = MarkLedger::default();
    // The application closed with a close frame: the call's TwiML goes on (closing, hang-up).
    let mut app_closed = false;
    let reason: (u16, String) = loop {
        tokio::select! {
            m = tw_rx.next() => match m {
                None | Some(Ok(Message::Close(_))) => break (1000, "the call's stream ended".into()),
                Some(Err(e)) => break read_error(&e),
                Some(Ok(Message::Text(t))) => {
                    let text = match &mut writer {
                        None => {
                            // A stop is a small frame; media payloads are base64 (no quotes).
                            if t.len() < 1024 && t.as_str().contains(r#""event":"stop""#) {
                                stopped = true;
                            }
                            match passthrough_mark(t.as_str()) {
                                Some((name, v)) => {
                                    let cleared = marks.echoed(&name) == MarkOutcome::Cleared;
                                    with_cleared(v, cleared)
                                }
                                None => t.as_str().to_string(),
                            }
                        }
                        Some(w) => match rt.decode_stream(t.as_str()) {
                            Ok(mut ev) => {
                                stopped = ev == StreamEvent::Stop;
                                if let StreamEvent::Mark { name } = &ev {
                                    if marks.echoed(name) == MarkOutcome::Cleared {
                                        ev = StreamEvent::MarkCleared { name: name.clone() };
                                    }
                                }
                                match w.event(&ev) {
                                    Some(text) => text,
                                    None => continue,
                                }
                            }
                            Err(e) => {
                                tracing::warn!(call_sid = %call_id, error = %e, "a stream message the bridge cannot translate; skipped");
                                continue;
                            }
                        },
                    };
                    match timeout(SEND_TIMEOUT, app_tx.send(AppMessage::text(text))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break (1011, "the application closed the stream".into()),
                        Err(_) => break (1011, "the application is not reading its stream".into()),
                    }
                    if stopped {
                        break (1000, "stream stopped".into());
                    }
                }
                Some(Ok(Message::Binary(_))) => break (1008, "binary frames are not part of the protocol".into()),
                Some(Ok(_)) => {}
            },
            m = app_rx.next() => match m {
                Some(Ok(AppMessage::Close(_))) => {
                    app_closed = true;
                    break (1000, "the application closed the stream".into());
                }
                None => break (1011, "the application's socket closed without a close frame".into()),
                Some(Err(e)) => break (1011, format!("the application's socket failed: {e}")),
                Some(Ok(AppMessage::Text(t))) => {
                    let text = match &writer {
                        None => {
                            match passthrough_command(t.as_str()) {
                                Some(StreamCommand::Mark(name)) => marks.sent(name, None),
                                Some(StreamCommand::Clear) => {
                                    let cleared = marks.clear();
                                    tracing::debug!(call_sid = %call_id, cleared = ?cleared, "the stream application cleared");
                                }
                                _ => {}
                            }
                            t.as_str().to_string()
                        }
                        Some(_) => match command(t.as_str()) {
                            Ok(c) => {
                                match &c {
                                    StreamCommand::Mark(name) => marks.sent(name.clone(), None),
                                    StreamCommand::Clear => {
                                        let cleared = marks.clear();
                                        tracing::debug!(call_sid = %call_id, cleared = ?cleared, "the stream application cleared");
                                    }
                                    _ => {}
                                }
                                rt.encode_stream(&decoded.stream_id, &c)
                            }
                            Err(e) => {
                                tracing::warn!(call_sid = %call_id, error = %e, "the application sent a message that is not Media Streams; skipped");
                                continue;
                            }
                        },
                    };
                    match timeout(SEND_TIMEOUT, tw_tx.send(Message::Text(text.into()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break (1011, "the provider's socket is gone".into()),
                        Err(_) => break (1011, "the provider is not reading the stream".into()),
                    }
                }
                Some(Ok(AppMessage::Binary(_))) => break (1011, "the application sent a binary frame".into()),
                Some(Ok(_)) => {}
            },
        }
    };
    if !stopped && !app_closed {
        tracing::warn!(call_sid = %call_id, code = reason.0, reason = %reason.1, "proxied stream failed; hanging up");
        hang_up(provider, call_id).await;
    }
    // Both sides are told; either may already be gone.
    let _ = app_tx.send(AppMessage::Close(None)).await;
    if let Ok(socket) = tw_tx.reunite(tw_rx) {
        close(socket, reason.0, &reason.1).await;
    }
    if stopped {
        tracing::info!(call_sid = %call_id, "proxied stream ended with the call");
    } else if app_closed {
        tracing::info!(call_sid = %call_id, "the stream application closed the stream; the call goes on to its closing");
        if let Err(e) = provider.stream_closed(call_id, &decoded.stream_id).await {
            tracing::warn!(call_sid = %call_id, error = %e, "could not tell the provider the stream ended");
        }
    }
}

/// The `start` as the provider sent it, less the gateway's one-time token (spent, and not
/// the application's business).
fn without_token(start: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(start) else {
        return start.to_string();
    };
    if let Some(params) = v
        .pointer_mut("/start/customParameters")
        .and_then(|p| p.as_object_mut())
    {
        params.remove(TOKEN_PARAM);
    }
    v.to_string()
}

async fn hang_up(provider: &Arc<dyn Provider>, call_id: &str) {
    if let Err(e) = provider.hang_up(call_id).await {
        tracing::warn!(call_sid = %call_id, error = %e, "could not hang up after the stream ended");
    }
}

pub(crate) type AppSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens the application's WebSocket (`ws://` only), within 5 s for the TCP connection
/// and 5 s for the handshake.
pub(crate) async fn connect(url: &str) -> Result<AppSocket, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("{url:?} is not a ws:// URL"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = if host
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.ends_with(']'))
    {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let tcp = timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .map_err(|_| format!("connecting to {addr} timed out"))?
    .map_err(|e| format!("connecting to {addr}: {e}"))?;
    // Media frames are 20 ms of audio each: Nagle plus delayed ACKs would hold them ~40 ms.
    tcp.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY on {addr}: {e}"))?;
    let req = url
        .into_client_request()
        .map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME))
        .max_message_size(Some(MAX_FRAME));
    let (ws, _) = timeout(
        Duration::from_secs(5),
        tokio_tungstenite::client_async_with_config(req, tcp, Some(config)),
    )
    .await
    .map_err(|_| format!("the WebSocket handshake with {url} timed out"))?
    .map_err(|e| format!("WebSocket handshake with {url}: {e}"))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_forwarded_start_keeps_the_apps_parameters_and_loses_the_token() {
        let start = r#"{"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"telephonyToken":"s3cret","lang":"fr"}},"streamSid":"MZ1"}"#;
        let out: serde_json::Value = serde_json::from_str(&super::without_token(start)).unwrap();
        assert_eq!(
            out["start"]["customParameters"],
            serde_json::json!({"lang": "fr"})
        );
        assert_eq!(out["start"]["callSid"], "CA1");
        assert_eq!(out["sequenceNumber"], "1");
        assert!(!super::without_token(start).contains("s3cret"));
    }
}
