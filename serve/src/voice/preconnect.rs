//! Faster first words: the application's side of a call's real-time session is opened
//! while the gateway answers the call's webhook, not once the provider has connected the
//! stream, so the application is ready when the caller hears the line open
//! (`voice.preconnect`, on by default).
//!
//! For the stream bridge (`voice.mode: "stream"`, or any answer with a
//! [`StreamVerb`](telephony_core::voice::StreamVerb) to the gateway's own route and no Rust
//! stream handler) the gateway starts the WebSocket to `voice.streamUrl` at once and parks
//! it here, keyed by call; the stream route takes it when the provider's socket
//! authenticates. While parked the socket is read: an application that closes it (or
//! breaks) before the stream starts gets a fresh connection once the stream comes, and what it sends
//! before `start` (it cannot know the stream yet) is dropped with a warning. The relay
//! bridge does the same with its first HTTP request
//! ([`RelayHandler::prepare`](crate::RelayHandler::prepare)).
//!
//! A parked socket nobody takes (the caller hung up first, or the provider's socket
//! reached another replica, which connects afresh as without pre-connection) is closed
//! after [`PARKED_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

use super::proxy::{AppSocket, connect};

/// How long a pre-opened application socket waits for its call's stream.
pub(crate) const PARKED_FOR: Duration = Duration::from_secs(60);

/// A parked connection: when it was started, and how to ask for its socket.
struct Parked {
    at: Instant,
    handover: oneshot::Sender<oneshot::Sender<Result<AppSocket, String>>>,
}

/// Application sockets opened (or opening) ahead of their call's stream.
#[derive(Default)]
pub(crate) struct Preconnects {
    parked: Arc<Mutex<HashMap<String, Parked>>>,
}

impl std::fmt::Debug for Preconnects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preconnects")
            .field("parked", &telephony_core::sync::lock(&self.parked).len())
            .finish()
    }
}

impl Preconnects {
    /// Starts connecting to `url` for `call_id` (a second start for the same call
    /// replaces the first, whose socket is closed).
    pub(crate) fn start(&self, call_id: &str, url: &str) {
        let (handover, asked) = oneshot::channel();
        let at = Instant::now();
        if let Some(old) = telephony_core::sync::lock(&self.parked)
            .insert(call_id.to_string(), Parked { at, handover })
        {
            // Dropping its handover closes the older socket.
            drop(old);
        }
        tracing::debug!(call_sid = %call_id, app = %url, "pre-connecting to the stream application");
        let parked = self.parked.clone();
        let id = call_id.to_string();
        let url = url.to_string();
        tokio::spawn(async move {
            park(&id, &url, asked).await;
            // Gone from the map however it ended (taken, expired, replaced).
            let mut map = telephony_core::sync::lock(&parked);
            if map.get(&id).is_some_and(|p| p.at == at) {
                map.remove(&id);
            }
        });
    }

    /// The socket opened for `call_id`, if one was started and is still parked (`None`
    /// when the application closed it meanwhile); `Some(Err)` when connecting failed.
    pub(crate) async fn take(&self, call_id: &str) -> Option<Result<AppSocket, String>> {
        let parked = telephony_core::sync::lock(&self.parked).remove(call_id)?;
        let (tx, rx) = oneshot::channel();
        parked.handover.send(tx).ok()?;
        rx.await.ok()
    }

    /// Sockets parked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        telephony_core::sync::lock(&self.parked).len()
    }
}

/// Connects, then holds the socket (reading it) until it is asked for, the application
/// closes it, or [`PARKED_FOR`] passes.
async fn park(
    call_id: &str,
    url: &str,
    mut asked: oneshot::Receiver<oneshot::Sender<Result<AppSocket, String>>>,
) {
    let deadline = tokio::time::sleep(PARKED_FOR);
    tokio::pin!(deadline);
    let connecting = connect(url);
    tokio::pin!(connecting);
    let connected = tokio::select! {
        r = &mut connecting => r,
        _ = &mut deadline => return,
        // Asked while still connecting: this connection is finished for the asker.
        reply = &mut asked => {
            if let Ok(reply) = reply {
                let _ = reply.send(connecting.await);
            }
            return;
        }
    };
    let mut ws = match connected {
        Ok(ws) => ws,
        Err(e) => {
            tracing::warn!(call_sid = %call_id, app = %url, error = %e, "pre-connecting to the stream application failed");
            if let Ok(reply) = asked.await {
                let _ = reply.send(Err(e));
            }
            return;
        }
    };
    let why = loop {
        tokio::select! {
            reply = &mut asked => {
                if let Ok(reply) = reply {
                    let _ = reply.send(Ok(ws));
                }
                return;
            }
            _ = &mut deadline => {
                tracing::info!(call_sid = %call_id, "a pre-opened stream application socket was never taken; closed");
                let _ = ws.close(None).await;
                return;
            }
            m = ws.next() => match m {
                None | Some(Ok(Message::Close(_))) => break "the application closed its socket before the stream started".to_string(),
                Some(Err(e)) => break format!("the application's socket failed before the stream started: {e}"),
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    tracing::warn!(call_sid = %call_id, "the stream application sent a message before the stream's start; dropped");
                }
                Some(Ok(_)) => {}
            },
        }
    };
    // Unparked (by the caller of `park`): the stream route connects afresh.
    tracing::info!(call_sid = %call_id, reason = %why, "the pre-opened stream application socket is gone");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_parked_socket_is_taken_once_a_closed_one_unparked_and_a_failed_one_says_why() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/app", listener.local_addr().unwrap());
        tokio::spawn(async move {
            // The first connection is held open; the second is closed at once.
            let (tcp, _) = listener.accept().await.unwrap();
            let mut held = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let (tcp, _) = listener.accept().await.unwrap();
            let mut closed = tokio_tungstenite::accept_async(tcp).await.unwrap();
            closed.close(None).await.unwrap();
            let _ = held.next().await;
        });
        let p = Preconnects::default();
        p.start("CA1", &url);
        assert_eq!(p.len(), 1);
        assert!(matches!(p.take("CA1").await, Some(Ok(_))));
        assert!(p.take("CA1").await.is_none());
        assert!(p.take("CA2").await.is_none());
        p.start("CA4", &url);
        // The application closes it while parked: it is unparked (the route connects
        // afresh).
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.len() > 0 {
            assert!(Instant::now() < deadline, "the closed socket stayed parked");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(p.take("CA4").await.is_none());
        p.start("CA3", "http://not-a-websocket");
        assert_eq!(
            p.take("CA3").await.unwrap().err().as_deref(),
            Some("\"http://not-a-websocket\" is not a ws:// URL")
        );
    }
}
