//! Connection floods against the real server over loopback (issue 18): silent, half-sent
//! (slowloris) and idle keep-alive connections, ten times `serve.maxConnections`, while
//! valid signed webhooks are sent; refusals that reach a client which sent its request at
//! once (no reset); ambiguous request framing refused with 400 before anything is stored.
//!
//! A small cap (20) keeps every flood within a few hundred sockets.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::hostile::{
    busy_connection, connect, eventually, evicted, head, header_of, inbox, occupancy, refused,
    sids, signed, start_with_keys, status_line, valid_is_served,
};

const CAP: usize = 20;

/// Everything the server sends until its end of stream, or what came before a reset (and
/// the error). Panics if the connection stays open past `within`.
async fn read_to_eof(s: &mut TcpStream, within: Duration) -> Result<String, (String, String)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Err(_) => panic!(
                "connection still open after {within:?}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return Err((String::from_utf8_lossy(&out).into_owned(), e.to_string())),
        }
    }
}

/// A signed webhook (number `n`) as raw bytes, with `framing` in place of its
/// Content-Length (`{len}` is replaced by the body's length) and `body` as sent.
fn raw_webhook(
    gw: &telephony::server::RunningGateway,
    n: u32,
    framing: &str,
    chunked: bool,
) -> String {
    let (body, sig) = signed(gw, n);
    let framing = framing.replace("{len}", &body.len().to_string());
    let sent = if chunked {
        format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len())
    } else {
        body
    };
    head(
        gw,
        &format!("x-twilio-signature: {sig}\r\n{framing}\r\n{sent}"),
    )
}

#[tokio::test]
async fn a_silent_flood_of_ten_times_the_cap_evicts_itself_and_webhooks_are_served() {
    // Default header timeout (10 s): the flood is not cut by time during the test.
    let (gw, _dir) =
        start_with_keys(&format!("maxConnections: {CAP}, maxInFlight: {CAP}"), "").await;
    let mut flood = Vec::new();
    for _ in 0..10 * CAP {
        flood.push(connect(&gw).await);
    }
    let evicted_first = (9 * CAP) as u64;
    eventually("the oldest 180 evicted", || {
        evicted(&gw, "silent") == evicted_first
    })
    .await;
    assert_eq!(occupancy(&gw), (CAP as u64, CAP as u64));
    // The evicted ones were the oldest, closed without an answer and without a reset.
    for s in flood.iter_mut().take(9 * CAP) {
        assert_eq!(
            read_to_eof(s, Duration::from_secs(3)).await,
            Ok(String::new())
        );
    }
    // Valid webhooks during the flood: each evicts a flooder and is served.
    for n in 1..=5 {
        valid_is_served(&gw, n).await;
    }
    assert_eq!(inbox(&gw).await, sids(1..=5));
    assert_eq!(refused(&gw, "too_many_connections"), 0);
    assert_eq!(refused(&gw, "header_timeout"), 0);
    let total = evicted(&gw, "silent");
    assert!(
        (evicted_first + 1..=evicted_first + 5).contains(&total),
        "{total}"
    );
    assert_eq!(evicted(&gw, "partial_head") + evicted(&gw, "idle"), 0);
    drop(flood);
    eventually("the flood's sockets closed", || occupancy(&gw).0 == 0).await;
    gw.shutdown().await;
}

/// A flooder on 127.0.0.2 (one client, another address than the webhooks' 127.0.0.1) that
/// keeps `10 × CAP` silent connections, replacing the oldest with a new one as fast as it
/// can, until stopped; `opened` counts the connections it opened.
fn flooder(
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut open = VecDeque::new();
        while !stop.load(Ordering::Relaxed) {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            match socket.connect(addr).await {
                Ok(s) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    open.push_back(s);
                    if open.len() > 10 * CAP {
                        open.pop_front();
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_served_while_a_silent_flood_is_rebuilt_as_fast_as_it_is_evicted() {
    let (gw, _dir) =
        start_with_keys(&format!("maxConnections: {CAP}, maxInFlight: {CAP}"), "").await;
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    let flood = flooder(gw.public_addr, stop.clone(), opened.clone());
    eventually("the flood fills the cap", || occupancy(&gw).0 == CAP as u64).await;
    // At least 20 webhooks, and on until the flood has opened ten times the cap.
    let mut statuses = Vec::new();
    let mut n = 0;
    while n < 20 || opened.load(Ordering::Relaxed) < 10 * CAP {
        n += 1;
        assert!(n <= 1000, "the flood opened only {opened:?}");
        let (body, sig) = signed(&gw, n);
        let r = crate::hostile::post(&gw, body, Some(&sig), &[]).await;
        statuses.push(r.status().as_u16());
    }
    stop.store(true, Ordering::Relaxed);
    flood.await.unwrap();
    assert_eq!(statuses, vec![200; n as usize]);
    assert_eq!(inbox(&gw).await, sids(1..=n));
    let opened = opened.load(Ordering::Relaxed);
    // Every flood connection beyond the cap evicted one, but those that took the slot of a
    // webhook's connection after it closed.
    let least = (opened - CAP).saturating_sub(n as usize) as u64;
    assert!(evicted(&gw, "silent") >= least, "{opened}");
    assert_eq!(refused(&gw, "too_many_connections"), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_slowloris_flood_and_an_idle_keep_alive_flood_evict_themselves() {
    let (gw, _dir) =
        start_with_keys(&format!("maxConnections: {CAP}, maxInFlight: {CAP}"), "").await;
    // Half-sent heads.
    let mut slow = Vec::new();
    for _ in 0..10 * CAP {
        let mut s = connect(&gw).await;
        s.write_all(head(&gw, "x-slow: 1\r\n").as_bytes())
            .await
            .unwrap();
        slow.push(s);
    }
    eventually("180 half-sent heads evicted", || {
        evicted(&gw, "partial_head") + evicted(&gw, "silent") == (9 * CAP) as u64
    })
    .await;
    valid_is_served(&gw, 1).await;
    for s in slow.iter_mut().take(9 * CAP) {
        assert_eq!(
            read_to_eof(s, Duration::from_secs(3)).await,
            Ok(String::new())
        );
    }
    drop(slow);
    eventually("the slow sockets closed", || occupancy(&gw).0 == 0).await;

    // Keep-alive connections that made one request and stay open, idle.
    let before = evicted(&gw, "idle");
    let mut idle = Vec::new();
    for _ in 0..2 * CAP {
        let mut s = connect(&gw).await;
        s.write_all(format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", gw.public_addr).as_bytes())
            .await
            .unwrap();
        let (resp, _) = crate::hostile::until_closed_or_answered(&mut s).await;
        assert_eq!(status_line(&resp), "HTTP/1.1 200 OK", "{resp}");
        idle.push(s);
    }
    assert_eq!(evicted(&gw, "idle") - before, CAP as u64);
    valid_is_served(&gw, 2).await;
    // The first 20 were evicted: closed, nothing more sent.
    for s in idle.iter_mut().take(CAP) {
        assert_eq!(
            read_to_eof(s, Duration::from_secs(3)).await,
            Ok(String::new())
        );
    }
    assert_eq!(inbox(&gw).await, sids([1, 2]));
    assert_eq!(refused(&gw, "too_many_connections"), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn refusals_reach_a_client_that_sent_its_request_at_once_without_a_reset() {
    let (gw, _dir) = start_with_keys(
        &format!(
            "headerTimeoutMs: 300, requestTimeoutMs: 5000, maxConnections: {CAP}, maxInFlight: 1"
        ),
        "",
    )
    .await;
    // 408: a head cut off by the header timeout; the client goes on sending after the
    // answer (it had not read it yet), then reads: the 408 and an end of stream.
    let mut s = connect(&gw).await;
    s.write_all(head(&gw, "x-slow: 1\r\n").as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 408");
    s.write_all(&vec![b'x'; 64 * 1024]).await.unwrap();
    let rest = read_to_eof(&mut s, Duration::from_secs(3)).await;
    let rest = rest.unwrap_or_else(|(got, e)| panic!("reset after {got:?}: {e}"));
    assert!(rest.ends_with("(serve.headerTimeoutMs)\n"), "{rest}");

    // 503 for maxInFlight: a request in progress holds the one in-flight slot; a signed
    // webhook with a 200 KB body sent in one go reads its 503, then an end of stream.
    let busy = busy_connection(&gw).await;
    eventually("a request in progress", || occupancy(&gw) == (1, 0)).await;
    let big = |gw: &telephony::server::RunningGateway| {
        head(
            gw,
            &format!(
                "content-length: {}\r\nx-twilio-signature: x\r\n\r\n{}",
                200_000,
                "B".repeat(200_000)
            ),
        )
    };
    let mut s = connect(&gw).await;
    let (mut rd, mut wr) = s.split();
    let req = big(&gw);
    let (wrote, read) = tokio::join!(wr.write_all(req.as_bytes()), async {
        let mut out = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(3), rd.read_to_end(&mut out)).await;
        (String::from_utf8_lossy(&out).into_owned(), r)
    });
    wrote.expect("the request was written whole (drained, not reset)");
    let (resp, r) = read;
    r.expect("closed within 3 s")
        .unwrap_or_else(|e| panic!("reset after {resp:?}: {e}"));
    assert_eq!(status_line(&resp), "HTTP/1.1 503 Service Unavailable");
    assert_eq!(header_of(&resp, "retry-after"), Some("1"));
    assert_eq!(header_of(&resp, "connection"), Some("close"));
    assert_eq!(refused(&gw, "too_many_in_flight"), 1);

    drop(busy);
    gw.shutdown().await;

    // 503 for maxConnections: every slot held by a request in progress, nothing to evict;
    // ten clients that send a signed webhook at once each read a 503 and an end of stream.
    let (gw, _dir) = start_with_keys(
        &format!("requestTimeoutMs: 5000, maxConnections: {CAP}, maxInFlight: {CAP}"),
        "",
    )
    .await;
    let mut busy = Vec::new();
    for _ in 0..CAP {
        busy.push(busy_connection(&gw).await);
    }
    eventually("20 requests in progress", || {
        occupancy(&gw) == (CAP as u64, 0)
    })
    .await;
    for n in 1..=10 {
        let mut s = connect(&gw).await;
        s.write_all(raw_webhook(&gw, n, "content-length: {len}\r\n", false).as_bytes())
            .await
            .unwrap();
        let resp = read_to_eof(&mut s, Duration::from_secs(3))
            .await
            .unwrap_or_else(|(got, e)| panic!("reset after {got:?}: {e}"));
        assert_eq!(status_line(&resp), "HTTP/1.1 503 Service Unavailable");
        assert_eq!(header_of(&resp, "retry-after"), Some("1"));
    }
    assert_eq!(refused(&gw, "too_many_connections"), 10);
    assert_eq!(inbox(&gw).await, Vec::<String>::new());
    drop(busy);
    gw.shutdown().await;
}

#[tokio::test]
async fn ambiguous_framing_gets_400_and_close_before_the_signature_check_and_nothing_is_stored() {
    let (gw, _dir) = start_with_keys("", "").await;
    let cases: &[(&str, bool)] = &[
        // Both: a proxy framing by Content-Length sees another request than we would.
        (
            "content-length: {len}\r\ntransfer-encoding: chunked\r\n",
            true,
        ),
        (
            "transfer-encoding: chunked\r\ncontent-length: {len}\r\n",
            true,
        ),
        ("content-length: {len}\r\ncontent-length: {len}\r\n", false),
        ("content-length: {len}\r\ncontent-length: 3\r\n", false),
        ("content-length: {len}, {len}\r\n", false),
        ("transfer-encoding: gzip, chunked\r\n", true),
        ("transfer-encoding: identity\r\n", false),
        (
            "transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n",
            true,
        ),
        ("content-length: {len}\r\nx-folded: a\r\n b\r\n", false),
    ];
    for (i, (framing, chunked)) in cases.iter().enumerate() {
        let mut s = connect(&gw).await;
        s.write_all(raw_webhook(&gw, i as u32 + 1, framing, *chunked).as_bytes())
            .await
            .unwrap();
        let resp = read_to_eof(&mut s, Duration::from_secs(3))
            .await
            .unwrap_or_else(|(got, e)| panic!("{framing:?}: reset after {got:?}: {e}"));
        assert_eq!(
            status_line(&resp),
            "HTTP/1.1 400 Bad Request",
            "{framing:?}: {resp}"
        );
        assert_eq!(header_of(&resp, "connection"), Some("close"), "{framing:?}");
    }
    assert_eq!(refused(&gw, "malformed"), cases.len() as u64);
    // None reached the routes: no webhook counted, none stored.
    let m = gw.gateway.metrics().render(&[]);
    assert!(!m.contains("telephony_webhooks_total"), "{m}");
    assert_eq!(inbox(&gw).await, Vec::<String>::new());
    // The same webhooks framed one way are served.
    let mut s = connect(&gw).await;
    s.write_all(
        raw_webhook(
            &gw,
            100,
            "content-length: {len}\r\nconnection: close\r\n",
            false,
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let resp = read_to_eof(&mut s, Duration::from_secs(3)).await.unwrap();
    assert_eq!(status_line(&resp), "HTTP/1.1 200 OK", "{resp}");
    let mut s = connect(&gw).await;
    s.write_all(
        raw_webhook(
            &gw,
            101,
            "transfer-encoding: chunked\r\nconnection: close\r\n",
            true,
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let resp = read_to_eof(&mut s, Duration::from_secs(3)).await.unwrap();
    assert_eq!(status_line(&resp), "HTTP/1.1 200 OK", "{resp}");
    assert_eq!(inbox(&gw).await, sids([100, 101]));
    gw.shutdown().await;
}
