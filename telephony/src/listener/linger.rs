//! Lingering close: how a refused connection is closed so its answer is read.
//!
//! Closing a socket with unread bytes in its receive buffer, or that receives bytes after
//! the close, makes the kernel send a reset; a client still sending its request then fails
//! on the write (curl: exit 56) and never reads the 408, 400 or 503 it was sent. So a
//! refusal is closed in two steps, as nginx and Apache do: the answer is written and the
//! write side shut down (the client reads the answer and an end of stream), then what the
//! client still sends is read and dropped until it closes too, for at most [`LINGER_TIME`]
//! and [`LINGER_BYTES`], and only then is the socket closed.
//!
//! At most [`MAX_LINGERING`] connections linger at once, outside `maxConnections` (they
//! hold a socket, not a slot); beyond them, the answer is written if the socket takes it
//! at once and the socket is closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Connections lingering at once at most.
pub(super) const MAX_LINGERING: usize = 128;
/// The longest a refused connection is drained.
pub(super) const LINGER_TIME: Duration = Duration::from_secs(1);
/// The longest a connection refused as it connects is waited on for its request head.
pub(super) const HEAD_WAIT: Duration = Duration::from_millis(500);
/// The most a refused connection's drain reads.
pub(super) const LINGER_BYTES: usize = 256 * 1024;

/// The lingering connections' budget.
#[derive(Debug, Clone)]
pub(super) struct Lingering(Arc<Semaphore>);

impl Default for Lingering {
    fn default() -> Self {
        Lingering(Arc::new(Semaphore::new(MAX_LINGERING)))
    }
}

impl Lingering {
    /// Writes `answer` (if any), then closes `tcp` lingering (see the [module docs](self)).
    pub(super) fn close(&self, tcp: TcpStream, answer: Option<String>) {
        self.spawn(tcp, answer, false);
    }

    /// [`close`](Self::close), after waiting (at most [`HEAD_WAIT`] and [`LINGER_BYTES`])
    /// for the client's request head: an HTTP client takes an answer to a request it has
    /// not sent yet for a protocol error.
    pub(super) fn close_after_head(&self, tcp: TcpStream, answer: String) {
        self.spawn(tcp, Some(answer), true);
    }

    fn spawn(&self, tcp: TcpStream, answer: Option<String>, wait_for_head: bool) {
        let Ok(permit) = self.0.clone().try_acquire_owned() else {
            if let Some(a) = &answer {
                // A refused connection has nothing else queued: its send buffer is empty.
                let _ = tcp.try_write(a.as_bytes());
            }
            tracing::debug!(
                max = MAX_LINGERING,
                "too many refused connections lingering: closed at once"
            );
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let mut tcp = tcp;
            let mut buf = [0u8; 4096];
            if wait_for_head {
                let _ = tokio::time::timeout(HEAD_WAIT, read_head(&mut tcp, &mut buf)).await;
            }
            let written = tokio::time::timeout(LINGER_TIME, async {
                if let Some(a) = answer {
                    tcp.write_all(a.as_bytes()).await?;
                }
                // hyper may have shut the write side already (after its own answer).
                let _ = tcp.shutdown().await;
                Ok::<_, std::io::Error>(())
            })
            .await;
            if !matches!(written, Ok(Ok(()))) {
                return;
            }
            let mut read = 0usize;
            let _ = tokio::time::timeout(LINGER_TIME, async {
                while read < LINGER_BYTES {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => read += n,
                    }
                }
            })
            .await;
        });
    }
}

/// Reads until the end of a request head (a blank line), the end of the stream, an error,
/// or [`LINGER_BYTES`].
async fn read_head(tcp: &mut TcpStream, buf: &mut [u8]) {
    // The end of the head may straddle two reads: keep the last three bytes.
    let mut tail: Vec<u8> = Vec::with_capacity(buf.len() + 3);
    let mut seen = 0usize;
    loop {
        match tcp.read(buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                seen += n;
                if tail.windows(4).any(|w| w == b"\r\n\r\n") || seen > LINGER_BYTES {
                    return;
                }
                let keep = tail.len().saturating_sub(3);
                tail.drain(..keep);
            }
        }
    }
}
