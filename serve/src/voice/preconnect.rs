//! Faster first words: the application's side of a call's real-time session is opened
//! while the gateway answers the call's webhook, not once the provider has connected the
//! stream, so the application is ready when the caller hears the line open
//! (`voice.preconnect`, on by default).
//!
//! For the stream bridge (`voice.mode: "stream"`, or any answer with a
//! [`StreamVerb`](telephony_core::voice::StreamVerb) to the gateway's own route and no Rust
//! stream handler) the gateway starts the WebSocket to `voice.streamUrl` at once and parks
//! it here, keyed by call; the stream route takes it when the provider's socket
//! authenticates. The relay bridge does the same with its first HTTP request
//! ([`RelayHandler::prepare`](crate::RelayHandler::prepare)).
//!
//! A parked socket nobody takes (the caller hung up first, or the provider's socket
//! reached another replica) is closed after [`PARKED_FOR`]; the other replica connects
//! afresh, as without pre-connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::proxy::{AppSocket, connect};

/// How long a pre-opened application socket waits for its call's stream.
pub(crate) const PARKED_FOR: Duration = Duration::from_secs(60);

type Connecting = JoinHandle<Result<AppSocket, String>>;

/// Application sockets opened (or opening) ahead of their call's stream.
#[derive(Debug, Default)]
pub(crate) struct Preconnects {
    parked: Mutex<HashMap<String, (Instant, Connecting)>>,
}

impl Preconnects {
    /// Starts connecting to `url` for `call_id` (a second start for the same call
    /// replaces the first, whose socket is closed).
    pub(crate) fn start(&self, call_id: &str, url: &str) {
        let url_owned = url.to_string();
        let id = call_id.to_string();
        let task = tokio::spawn(async move {
            let r = connect(&url_owned).await;
            if let Err(e) = &r {
                tracing::warn!(call_sid = %id, app = %url_owned, error = %e, "pre-connecting to the stream application failed");
            }
            r
        });
        let now = Instant::now();
        let mut parked = telephony_core::sync::lock(&self.parked);
        parked.retain(|id, (at, task)| {
            let keep = now.duration_since(*at) < PARKED_FOR;
            if !keep {
                tracing::info!(call_sid = %id, "a pre-opened stream application socket was never taken; closed");
                task.abort();
            }
            keep
        });
        if let Some((_, old)) = parked.insert(call_id.to_string(), (now, task)) {
            old.abort();
        }
        tracing::debug!(call_sid = %call_id, app = %url, "pre-connecting to the stream application");
    }

    /// The socket opened for `call_id`, if one was started (and not too long ago);
    /// `Some(Err)` when that connection failed.
    pub(crate) async fn take(&self, call_id: &str) -> Option<Result<AppSocket, String>> {
        let (at, task) = telephony_core::sync::lock(&self.parked).remove(call_id)?;
        if at.elapsed() >= PARKED_FOR {
            task.abort();
            return None;
        }
        match task.await {
            Ok(r) => Some(r),
            Err(e) => Some(Err(format!("the pre-connection task failed: {e}"))),
        }
    }

    /// Sockets parked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        telephony_core::sync::lock(&self.parked).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_parked_socket_is_taken_once_and_a_failed_one_says_why() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/app", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            // Hold the socket until the test is done with it.
            let _ = futures_util::StreamExt::next(&mut ws).await;
        });
        let p = Preconnects::default();
        p.start("CA1", &url);
        assert_eq!(p.len(), 1);
        assert!(matches!(p.take("CA1").await, Some(Ok(_))));
        assert!(p.take("CA1").await.is_none());
        assert!(p.take("CA2").await.is_none());
        p.start("CA3", "http://not-a-websocket");
        assert_eq!(
            p.take("CA3").await.unwrap().err().as_deref(),
            Some("\"http://not-a-websocket\" is not a ws:// URL")
        );
    }
}
