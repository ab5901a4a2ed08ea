//! A minimal keep-alive HTTP/1.1 client: one request in flight per connection, like `wrk`.
//!
//! Requests are prepared bytes ([`Plan::fill`]); responses are read just far enough to
//! know the status and where they end (`Content-Length`). Nothing is allocated per request,
//! so the client's share of the CPU stays small and is measured (see `procfs`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use super::plan::Plan;

/// What one connection saw.
#[derive(Debug, Default)]
pub(crate) struct ConnStats {
    /// Latency of every answered request, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Responses with status 200.
    pub ok: u64,
    /// Responses by non-200 status.
    pub bad_status: Vec<(u16, u64)>,
    /// Requests that got no complete response (I/O error, timeout, unparseable).
    pub failed: u64,
    /// The first few failure reasons.
    pub failure_samples: Vec<String>,
    /// Times the connection was re-established.
    pub reconnects: u64,
}

impl ConnStats {
    fn bad(&mut self, status: u16) {
        match self.bad_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.bad_status.push((status, 1)),
        }
    }

    fn fail(&mut self, why: String) {
        self.failed += 1;
        if self.failure_samples.len() < 3 {
            self.failure_samples.push(why);
        }
    }
}

/// Work shared by the connections.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The requests.
    pub plan: Plan,
    /// Index of the next request to send.
    pub next: AtomicUsize,
    /// Send no request after this instant (set when the run starts).
    pub deadline: std::sync::OnceLock<Instant>,
    /// How long to wait for one response.
    pub timeout: Duration,
}

/// A parsed response head.
pub(crate) struct Response {
    /// The status code.
    pub status: u16,
    /// Total bytes of the response (head and body).
    pub len: usize,
    /// Where the body starts in the buffer.
    pub body_start: usize,
    /// Where the `Content-Type` value is in the buffer (`start..end`), if there is one.
    pub content_type: Option<(usize, usize)>,
    /// The server will close the connection.
    pub close: bool,
}

/// Parses a response head if `buf` holds all of it.
fn parse_head(buf: &[u8]) -> Result<Option<Response>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 16 * 1024 {
            return Err("response head over 16 KiB".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    let mut content_type = None;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            let start = value.as_ptr() as usize - head.as_ptr() as usize;
            content_type = Some((start, start + value.len()));
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad content-length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("unsupported transfer-encoding {value:?}"));
        }
    }
    let body = content_length.ok_or("response without content-length")?;
    Ok(Some(Response {
        status,
        len: end + 4 + body,
        body_start: end + 4,
        content_type,
        close,
    }))
}

/// Sends `req` and reads one response into `rbuf`.
pub(crate) async fn exchange(
    stream: &mut TcpStream,
    req: &[u8],
    rbuf: &mut Vec<u8>,
) -> Result<Response, String> {
    stream
        .write_all(req)
        .await
        .map_err(|e| format!("write: {e}"))?;
    rbuf.clear();
    let mut head = None;
    loop {
        if head.is_none() {
            head = parse_head(rbuf)?;
        }
        if let Some(h) = &head {
            if rbuf.len() >= h.len {
                let h = head.take().expect("checked");
                if rbuf.len() > h.len {
                    return Err("unexpected bytes after the response".into());
                }
                return Ok(h);
            }
        }
        if rbuf.capacity() - rbuf.len() < 1024 {
            rbuf.reserve(4096);
        }
        let n = stream
            .read_buf(rbuf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
    }
}

/// Opens a connection with `TCP_NODELAY`.
pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Opens a connection before the run starts, so no connection setup is timed.
pub(crate) async fn connect_ready(addr: SocketAddr) -> Result<TcpStream, String> {
    connect(addr).await.map_err(|e| format!("connect: {e}"))
}

/// One connection: waits at `start`, then sends requests until the plan or the time is
/// used up, reconnecting after an error.
pub(crate) async fn run_connection(
    addr: SocketAddr,
    conn: Result<TcpStream, String>,
    shared: Arc<Shared>,
    start: Arc<Barrier>,
) -> ConnStats {
    let mut stats = ConnStats {
        latencies_ns: Vec::with_capacity(shared.plan.len() / 32),
        ..ConnStats::default()
    };
    let mut stream = match conn {
        Ok(s) => Some(s),
        Err(e) => {
            stats.fail(e);
            None
        }
    };
    start.wait().await;
    let deadline = *shared
        .deadline
        .get()
        .expect("deadline set before the start");
    let mut wbuf = Vec::with_capacity(shared.plan.request_bytes());
    let mut rbuf = Vec::with_capacity(4096);
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.plan.len() || Instant::now() >= deadline {
            break;
        }
        shared.plan.fill(i, &mut wbuf);
        let s = match stream.as_mut() {
            Some(s) => s,
            None => {
                stats.reconnects += 1;
                match connect(addr).await {
                    Ok(s) => stream.insert(s),
                    Err(e) => {
                        stats.fail(format!("connect: {e}"));
                        continue;
                    }
                }
            }
        };
        let t0 = Instant::now();
        match tokio::time::timeout(shared.timeout, exchange(s, &wbuf, &mut rbuf)).await {
            Ok(Ok(res)) => {
                stats.latencies_ns.push(t0.elapsed().as_nanos() as u64);
                if res.status == 200 {
                    stats.ok += 1;
                } else {
                    stats.bad(res.status);
                }
                if res.close {
                    stream = None;
                }
            }
            Ok(Err(why)) => {
                stats.fail(why);
                stream = None;
            }
            Err(_) => {
                stats.fail(format!("no response within {:?}", shared.timeout));
                stream = None;
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let r = b"HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: 5\r\n\r\nhello";
        let h = parse_head(r).unwrap().unwrap();
        assert_eq!((h.status, h.len, h.close), (200, r.len(), false));
        let (a, b) = h.content_type.unwrap();
        assert_eq!(&r[a..b], b"text/xml");
        assert_eq!(&r[h.body_start..], b"hello");
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-le")
                .unwrap()
                .is_none()
        );
        let c =
            parse_head(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!((c.status, c.close), (403, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
