//! Hostile clients against the real server (`server::start`, sandbox) over loopback TCP:
//! oversized and chunked bodies, slow headers and bodies, huge headers, invalid UTF-8,
//! polluted parameters, missing, wrong and forged-host signatures, replays, admin paths on
//! the public port, idle-connection floods, connection and in-flight caps, bad-signature
//! floods. Each gets its answer (or its close) within its configured timeout, nothing is
//! stored, and valid signed webhooks sent in between are still served.
//!
//! The timeouts are configured small (a few hundred milliseconds) so the whole file runs in
//! a few seconds.

use std::time::{Duration, Instant};

use serde_json::Value;
use telephony::config::Config;
use telephony::server::RunningGateway;
use telephony_twilio::RequestValidator;
use telephony_twilio_simulator::InboundSms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const CALLER: &str = "+15557654321";

/// A sandbox gateway on ports 0 with `serve` keys added to `serve: {}` and `top` keys at
/// the top level.
pub(crate) async fn start_with_keys(serve: &str, top: &str) -> (RunningGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0, {serve} }}, admin: {{ port: 0 }}, allowFrom: ['{CALLER}'], dataDir: {:?}, {top} }}",
        dir.path().display().to_string()
    ))
    .unwrap();
    let gw = crate::support::start(&config).await.unwrap();
    (gw, dir)
}

pub(crate) fn sms(gw: &RunningGateway, n: u32, body: &str) -> InboundSms {
    InboundSms {
        account_sid: gw.runtime.sandbox_account_sid.clone().unwrap(),
        from: CALLER.into(),
        to: "+15005550006".into(),
        body: body.into(),
        message_sid: Some(format!("SM{n:032x}")),
        media: vec![],
    }
}

pub(crate) fn token(gw: &RunningGateway) -> String {
    gw.runtime.sandbox_auth_token.clone().unwrap()
}

/// Form body and signature of a valid inbound SMS number `n`.
pub(crate) fn signed(gw: &RunningGateway, n: u32) -> (String, String) {
    sms(gw, n, &format!("hello {n}")).signed(&token(gw), &gw.runtime.webhook_url)
}

/// Posts a form body with an optional signature; status and response.
pub(crate) async fn post(
    gw: &RunningGateway,
    body: impl Into<reqwest::Body>,
    signature: Option<&str>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(&gw.runtime.webhook_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(s) = signature {
        req = req.header("x-twilio-signature", s);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// A valid signed webhook (number `n`) is accepted.
pub(crate) async fn valid_is_served(gw: &RunningGateway, n: u32) {
    let (body, sig) = signed(gw, n);
    let r = post(gw, body, Some(&sig), &[]).await;
    assert_eq!(r.status().as_u16(), 200, "valid webhook {n} refused");
}

/// The message SIDs in the inbox, oldest first.
pub(crate) async fn inbox(gw: &RunningGateway) -> Vec<String> {
    let v: Value = reqwest::Client::new()
        .get(format!(
            "http://{}/telephony/inbox?limit=1000",
            gw.admin_addr
        ))
        .bearer_auth(gw.admin_token.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["providerSid"].as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn sids(ns: impl IntoIterator<Item = u32>) -> Vec<String> {
    ns.into_iter().map(|n| format!("SM{n:032x}")).collect()
}

pub(crate) fn refused(gw: &RunningGateway, reason: &'static str) -> u64 {
    gw.gateway
        .metrics()
        .get("telephony_listener_refused_total", &[("reason", reason)])
}

pub(crate) async fn connect(gw: &RunningGateway) -> TcpStream {
    TcpStream::connect(gw.public_addr).await.unwrap()
}

/// Everything the server sends until it closes, and how long that took; panics if it does
/// not close within `within`. A reset after the answer counts as the close.
pub(crate) async fn until_closed(s: &mut TcpStream, within: Duration) -> (String, Duration) {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout_at((t0 + within).into(), s.read(&mut buf)).await {
            Err(_) => panic!(
                "connection still open after {within:?}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), t0.elapsed())
}

/// The status line of a raw response (`""` for none).
pub(crate) fn status_line(resp: &str) -> &str {
    resp.split("\r\n").next().unwrap_or_default()
}

pub(crate) fn header_of<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split("\r\n\r\n").next()?;
    head.split("\r\n").skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A request head for the webhook path (no trailing blank line).
pub(crate) fn head(gw: &RunningGateway, extra: &str) -> String {
    format!(
        "POST /telephony/webhook HTTP/1.1\r\nHost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n{extra}",
        gw.public_addr
    )
}

#[tokio::test]
async fn oversized_and_chunked_bodies_get_413_and_nothing_is_stored() {
    let (gw, _dir) = start_with_keys("maxBodyBytes: 4096", "").await;
    // With a Content-Length over the limit, signed like a real webhook.
    let big = sms(&gw, 1, &"x".repeat(5000));
    let (body, sig) = big.signed(&token(&gw), &gw.runtime.webhook_url);
    let r = post(&gw, body, Some(&sig), &[]).await;
    assert_eq!(r.status().as_u16(), 413);

    // Chunked, no Content-Length: 8 chunks of 1000 bytes.
    let mut s = connect(&gw).await;
    let mut req = head(
        &gw,
        "transfer-encoding: chunked\r\nx-twilio-signature: x\r\n\r\n",
    );
    for _ in 0..8 {
        req.push_str(&format!("3e8\r\n{}\r\n", "a".repeat(1000)));
    }
    req.push_str("0\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let (resp, _) = until_closed(&mut s, Duration::from_secs(3)).await;
    assert_eq!(
        status_line(&resp),
        "HTTP/1.1 413 Payload Too Large",
        "{resp}"
    );

    // A chunked body under the limit goes on to the signature check.
    let (body, sig) = signed(&gw, 2);
    let mut s = connect(&gw).await;
    let mut req = head(
        &gw,
        &format!(
            "transfer-encoding: chunked\r\nx-twilio-signature: {sig}\r\nconnection: close\r\n\r\n"
        ),
    );
    for piece in body.as_bytes().chunks(100) {
        req.push_str(&format!(
            "{:x}\r\n{}\r\n",
            piece.len(),
            std::str::from_utf8(piece).unwrap()
        ));
    }
    req.push_str("0\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let (resp, _) = until_closed(&mut s, Duration::from_secs(3)).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 200 OK", "{resp}");

    assert_eq!(inbox(&gw).await, sids([2]));
    assert_eq!(
        gw.gateway.metrics().get(
            "telephony_webhooks_total",
            &[("route", "message"), ("outcome", "413")]
        ),
        2
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn slow_headers_get_408_at_the_header_timeout_and_valid_traffic_goes_on() {
    let (gw, _dir) = start_with_keys("headerTimeoutMs: 300", "").await;
    // One header line every 100 ms, forever: the clock runs from the accept, not the last line.
    let mut s = connect(&gw).await;
    let (mut rd, mut wr) = s.split();
    let started = Instant::now();
    let trickle = async {
        wr.write_all(b"POST /telephony/webhook HTTP/1.1\r\n")
            .await
            .unwrap();
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if wr
                .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let read = async {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), rd.read_to_end(&mut out)).await;
        (
            String::from_utf8_lossy(&out).into_owned(),
            started.elapsed(),
        )
    };
    let (resp, took) = tokio::select! {
        r = read => r,
        _ = trickle => panic!("the trickle ended first"),
    };
    assert_eq!(status_line(&resp), "HTTP/1.1 408 Request Timeout", "{resp}");
    assert_eq!(header_of(&resp, "connection"), Some("close"));
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    // A connection that sends nothing at all: the same.
    let mut idle = connect(&gw).await;
    let (resp, took) = until_closed(&mut idle, Duration::from_secs(3)).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 408 Request Timeout", "{resp}");
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert_eq!(refused(&gw, "header_timeout"), 2);
    valid_is_served(&gw, 1).await;
    assert_eq!(inbox(&gw).await, sids([1]));
    gw.shutdown().await;
}

#[tokio::test]
async fn slow_bodies_get_408_at_the_request_timeout_and_nothing_is_stored() {
    let (gw, _dir) = start_with_keys("requestTimeoutMs: 600", "").await;
    // A valid signed webhook, its body one byte every 50 ms (it would take 20 s).
    let (body, sig) = signed(&gw, 1);
    let mut s = connect(&gw).await;
    let (mut rd, mut wr) = s.split();
    let req = head(
        &gw,
        &format!(
            "content-length: {}\r\nx-twilio-signature: {sig}\r\n\r\n",
            body.len()
        ),
    );
    wr.write_all(req.as_bytes()).await.unwrap();
    let started = Instant::now();
    let trickle = async {
        for b in body.as_bytes() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    let read = async {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), rd.read_to_end(&mut out)).await;
        (
            String::from_utf8_lossy(&out).into_owned(),
            started.elapsed(),
        )
    };
    let (resp, took) = tokio::select! {
        r = read => r,
        _ = trickle => panic!("the trickle ended first"),
    };
    assert_eq!(status_line(&resp), "HTTP/1.1 408 Request Timeout", "{resp}");
    assert_eq!(header_of(&resp, "connection"), Some("close"));
    assert!(
        took >= Duration::from_millis(580) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    assert_eq!(refused(&gw, "request_timeout"), 1);
    assert_eq!(inbox(&gw).await, Vec::<String>::new());
    valid_is_served(&gw, 2).await;
    assert_eq!(inbox(&gw).await, sids([2]));
    gw.shutdown().await;
}

#[tokio::test]
async fn huge_headers_get_431_and_headers_under_the_cap_are_served() {
    let (gw, _dir) = start_with_keys("", "").await;
    // 200 KB of headers, the probe's size.
    let mut s = connect(&gw).await;
    let mut req = head(&gw, "");
    for i in 0..200 {
        req.push_str(&format!("x-pad-{i}: {}\r\n", "p".repeat(1000)));
    }
    req.push_str("\r\n");
    let (mut rd, mut wr) = s.split();
    // The server answers after the first 16 KiB and stops reading; the write may fail.
    let (_, (resp, took)) = tokio::join!(wr.write_all(req.as_bytes()), async {
        let mut out = Vec::new();
        let t0 = Instant::now();
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), rd.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (String::from_utf8_lossy(&out).into_owned(), t0.elapsed())
    });
    assert_eq!(
        status_line(&resp),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "{resp}"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Just over the 16 KiB cap: one 17,000-byte header.
    let mut s = connect(&gw).await;
    let req = head(&gw, &format!("x-big: {}\r\n\r\n", "b".repeat(17_000)));
    let _ = s.write_all(req.as_bytes()).await;
    let (resp, _) = until_closed(&mut s, Duration::from_secs(3)).await;
    assert_eq!(
        status_line(&resp),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "{resp}"
    );
    assert_eq!(refused(&gw, "headers_too_large"), 2);
    // 12 KB of headers on a valid signed webhook: served.
    let (body, sig) = signed(&gw, 1);
    let pad = "q".repeat(12_000);
    let r = post(&gw, body, Some(&sig), &[("x-pad", &pad)]).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(inbox(&gw).await, sids([1]));
    gw.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_polluted_parameters_and_bad_signatures_store_nothing() {
    let (gw, _dir) = start_with_keys("", "").await;
    let url = gw.runtime.webhook_url.clone();
    let (body, sig) = signed(&gw, 1);

    // Invalid UTF-8 in a form value, percent-encoded and raw, under the original body's
    // signature: the signature is checked first (over the raw bytes) and does not match,
    // 403 (a correctly signed body with invalid UTF-8 is verified, then refused with 400).
    let polluted = format!("{body}&Body=%FF%FE");
    assert_eq!(
        post(&gw, polluted, Some(&sig), &[]).await.status().as_u16(),
        403
    );
    let mut raw = body.clone().into_bytes();
    raw.extend_from_slice(b"&Note=\xff\xfe");
    assert_eq!(post(&gw, raw, Some(&sig), &[]).await.status().as_u16(), 403);
    // Invalid UTF-8 in the signature header: 403.
    let r = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            reqwest::header::HeaderValue::from_bytes(b"\xff\xfe\xfd").unwrap(),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Invalid UTF-8 in the request target: hyper's 400, then close.
    let mut s = connect(&gw).await;
    s.write_all(
        b"POST /telephony/webhook?x=\xff\xfe HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    let (resp, _) = until_closed(&mut s, Duration::from_secs(3)).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 400 Bad Request", "{resp}");

    // A duplicate parameter appended to a signed body (parameter pollution): 403.
    let polluted = format!("{body}&Body=injected");
    assert_eq!(
        post(&gw, polluted, Some(&sig), &[]).await.status().as_u16(),
        403
    );
    // Missing and wrong signatures: 403.
    assert_eq!(
        post(&gw, body.clone(), None, &[]).await.status().as_u16(),
        403
    );
    assert_eq!(
        post(&gw, body.clone(), Some("bm90IGEgc2lnbmF0dXJl"), &[])
            .await
            .status()
            .as_u16(),
        403
    );
    // Forged host: signed for another host and sent with that Host header…
    let forged_url = "http://evil.example/telephony/webhook";
    let params = sms(&gw, 1, "hello 1").form();
    let forged_sig = RequestValidator::new(token(&gw)).compute(forged_url, &params);
    let forged_body = serde_urlencoded::to_string(&params).unwrap();
    assert_eq!(
        post(
            &gw,
            forged_body.clone(),
            Some(&forged_sig),
            &[("x-forwarded-host", "evil.example")]
        )
        .await
        .status()
        .as_u16(),
        403
    );
    // …and a genuine signature replayed under another Host header.
    let mut s = connect(&gw).await;
    let req = format!(
        "POST /telephony/webhook HTTP/1.1\r\nHost: evil.example\r\ncontent-type: application/x-www-form-urlencoded\r\nx-twilio-signature: {sig}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let (resp, _) = until_closed(&mut s, Duration::from_secs(3)).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 403 Forbidden", "{resp}");
    // A form's signature on a JSON content type: a non-form body is verified Twilio's JSON
    // way (URL + bodySHA256), which this request cannot pass: 403 before anything else.
    let r = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-twilio-signature", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(inbox(&gw).await, Vec::<String>::new());

    // The genuine request, then its replays: stored once, every delivery acknowledged.
    for _ in 0..3 {
        assert_eq!(
            post(&gw, body.clone(), Some(&sig), &[])
                .await
                .status()
                .as_u16(),
            200
        );
    }
    assert_eq!(inbox(&gw).await, sids([1]));
    let m = gw.gateway.metrics();
    let outcome = |o| {
        m.get(
            "telephony_webhooks_total",
            &[("route", "message"), ("outcome", o)],
        )
    };
    assert_eq!(
        (
            outcome("400"),
            outcome("403"),
            outcome("415"),
            outcome("accepted"),
            outcome("duplicate")
        ),
        // Every malformed or mis-typed body above carried a signature that does not
        // match it: all refused at the signature check (403), before parsing.
        (0, 9, 0, 1, 2)
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn admin_paths_on_the_public_port_are_not_found() {
    let (gw, _dir) = start_with_keys("", "").await;
    let http = reqwest::Client::new();
    let public = format!("http://{}", gw.public_addr);
    let token = gw.admin_token.expose().to_string();
    for (method, path) in [
        ("GET", "/telephony/inbox"),
        ("POST", "/telephony/send"),
        ("GET", "/telephony/status"),
        ("GET", "/metrics"),
        ("GET", "/telephony/messages/x"),
        ("GET", "/admin"),
        ("GET", "/../telephony/inbox"),
    ] {
        for auth in [false, true] {
            let mut req = http.request(method.parse().unwrap(), format!("{public}{path}"));
            if auth {
                req = req.bearer_auth(&token);
            }
            let status = req.send().await.unwrap().status().as_u16();
            // The status path takes POSTs only.
            let expected = if path == "/telephony/status" {
                405
            } else {
                404
            };
            assert_eq!(status, expected, "{method} {path} (token: {auth})");
        }
    }
    // The same token on the admin port works.
    let r = http
        .get(format!("http://{}/telephony/inbox", gw.admin_addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_idle_connection_flood_is_cut_at_the_header_timeout_while_valid_traffic_is_served() {
    let (gw, _dir) = start_with_keys("headerTimeoutMs: 300", "").await;
    let t0 = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(connect(&gw).await);
    }
    // Served during the flood.
    valid_is_served(&gw, 1).await;
    valid_is_served(&gw, 2).await;
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    let results = futures_join_all(
        idle.into_iter()
            .map(|mut s| async move { until_closed(&mut s, Duration::from_secs(5)).await.0 }),
    )
    .await;
    for r in results {
        *answers.entry(status_line(&r).to_string()).or_default() += 1;
    }
    assert_eq!(
        answers,
        [("HTTP/1.1 408 Request Timeout".to_string(), 300)].into()
    );
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(refused(&gw, "header_timeout"), 300);
    valid_is_served(&gw, 3).await;
    assert_eq!(inbox(&gw).await, sids([1, 2, 3]));
    gw.shutdown().await;
}

/// Polls futures together (no futures crate in this test's dependencies).
pub(crate) async fn futures_join_all<
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
>(
    fs: impl IntoIterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Opens a connection and starts a request on it that stays in progress (head sent, body
/// half sent) until the socket is dropped.
pub(crate) async fn busy_connection(gw: &RunningGateway) -> TcpStream {
    let mut s = connect(gw).await;
    s.write_all(
        head(
            gw,
            "content-length: 20\r\nx-twilio-signature: x\r\n\r\nBody=0123",
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s
}

/// Waits (at most 3 s) until `f` holds.
pub(crate) async fn eventually(what: &str, f: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(3), "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) fn occupancy(gw: &RunningGateway) -> (u64, u64) {
    let text = gw.gateway.metrics().render(&[]);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
            .parse()
            .unwrap()
    };
    (
        value("telephony_listener_connections"),
        value("telephony_listener_unspoken_connections"),
    )
}

/// With every slot held by a request in progress (nothing to evict), a new connection is
/// refused: 503 once its head is in.
#[tokio::test]
async fn over_max_connections_a_client_gets_503_and_close_and_a_freed_slot_serves_again() {
    let (gw, _dir) = start_with_keys(
        "headerTimeoutMs: 5000, requestTimeoutMs: 5000, maxConnections: 20, maxInFlight: 20",
        "",
    )
    .await;
    let mut busy = Vec::new();
    for _ in 0..20 {
        busy.push(busy_connection(&gw).await);
    }
    // Let the accept loop take them all and their heads be read.
    eventually("20 requests in progress", || occupancy(&gw) == (20, 0)).await;
    let mut extra = connect(&gw).await;
    let (resp, took) = until_closed(&mut extra, Duration::from_secs(3)).await;
    assert_eq!(
        status_line(&resp),
        "HTTP/1.1 503 Service Unavailable",
        "{resp}"
    );
    assert_eq!(header_of(&resp, "connection"), Some("close"));
    assert_eq!(header_of(&resp, "retry-after"), Some("1"));
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // A valid webhook while every slot is taken: refused the same way, not queued.
    let (body, sig) = signed(&gw, 1);
    let r = post(&gw, body, Some(&sig), &[]).await;
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(refused(&gw, "too_many_connections"), 2);
    assert_eq!(evicted(&gw, "silent") + evicted(&gw, "idle"), 0);
    // The busy clients leave: slots free up and the next webhook is served.
    drop(busy);
    eventually("slots freed", || occupancy(&gw).0 == 0).await;
    valid_is_served(&gw, 2).await;
    assert_eq!(inbox(&gw).await, sids([2]));
    gw.shutdown().await;
}

pub(crate) fn evicted(gw: &RunningGateway, reason: &'static str) -> u64 {
    gw.gateway
        .metrics()
        .get("telephony_listener_evicted_total", &[("reason", reason)])
}

#[tokio::test]
async fn over_max_in_flight_a_request_gets_503_and_close() {
    let (gw, _dir) = start_with_keys("maxInFlight: 1, requestTimeoutMs: 5000", "").await;
    // Holds the one in-flight slot: head sent, body half sent.
    let mut slow = connect(&gw).await;
    slow.write_all(
        head(
            &gw,
            "content-length: 20\r\nx-twilio-signature: x\r\n\r\nBody=0123",
        ) // 9 of 20
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (body, sig) = signed(&gw, 1);
    let r = post(&gw, body.clone(), Some(&sig), &[]).await;
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["connection"], "close");
    assert_eq!(refused(&gw, "too_many_in_flight"), 1);
    // The slow request finishes (a bad signature: 403), and the slot is free again.
    slow.write_all(b"456789abcde").await.unwrap();
    let (resp, _) = until_closed_or_answered(&mut slow).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 403 Forbidden", "{resp}");
    valid_is_served(&gw, 1).await;
    assert_eq!(inbox(&gw).await, sids([1]));
    gw.shutdown().await;
}

/// Reads one response on a keep-alive connection (up to its blank line and body).
pub(crate) async fn until_closed_or_answered(s: &mut TcpStream) -> (String, Duration) {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("no answer within 3 s")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let len: usize = header_of(&format!("{head}\r\n\r\n"), "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if rest.len() >= len {
                break;
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), t0.elapsed())
}

#[tokio::test]
async fn keep_alive_connections_close_at_the_idle_timeout_not_the_header_timeout() {
    let (gw, _dir) = start_with_keys("headerTimeoutMs: 300, idleTimeoutMs: 1200", "").await;
    let mut s = connect(&gw).await;
    let request = |n: u32| {
        let (body, sig) = signed(&gw, n);
        head(
            &gw,
            &format!(
                "content-length: {}\r\nx-twilio-signature: {sig}\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    s.write_all(request(1).as_bytes()).await.unwrap();
    let (resp, _) = until_closed_or_answered(&mut s).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 200 OK", "{resp}");
    // Idle for twice the header timeout: still open, and serves the next request.
    tokio::time::sleep(Duration::from_millis(600)).await;
    s.write_all(request(2).as_bytes()).await.unwrap();
    let (resp, _) = until_closed_or_answered(&mut s).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 200 OK", "{resp}");
    // Then idle past the idle timeout: closed without a word.
    let (rest, took) = until_closed(&mut s, Duration::from_secs(3)).await;
    assert_eq!(rest, "");
    assert!(
        took >= Duration::from_millis(1100) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert_eq!(refused(&gw, "header_timeout"), 0);
    assert_eq!(inbox(&gw).await, sids([1, 2]));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_bad_signature_flood_gets_429_while_valid_webhooks_from_the_same_ip_are_served() {
    let (gw, _dir) = start_with_keys(
        "",
        "rateLimits: { invalidRequests: { perMinute: 1, burst: 5 } }",
    )
    .await;
    let (body, _) = signed(&gw, 999);
    let mut statuses = Vec::new();
    for n in 1..=20 {
        let r = post(&gw, body.clone(), Some("d3Jvbmc="), &[]).await;
        let status = r.status().as_u16();
        if status == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry), "{retry}");
        }
        statuses.push(status);
        // Valid signed traffic from the same address, in between: served.
        valid_is_served(&gw, n).await;
    }
    assert_eq!(statuses[..5], [403; 5]);
    assert_eq!(statuses[5..], [429; 15]);
    assert_eq!(inbox(&gw).await, sids(1..=20));
    let m = gw.gateway.metrics();
    assert_eq!(
        m.get(
            "telephony_rate_limited_total",
            &[("limiter", "invalid_requests")]
        ),
        15
    );
    let outcome = |o| {
        m.get(
            "telephony_webhooks_total",
            &[("route", "message"), ("outcome", o)],
        )
    };
    // All 20 valid ones are stored; they share one From, so the per-sender inbound limit
    // (10 a minute, burst 10) stores the last 10 `throttled`.
    assert_eq!(
        (
            outcome("403"),
            outcome("429"),
            outcome("accepted"),
            outcome("throttled")
        ),
        (5, 15, 10, 10)
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limiter_keys_on_the_forwarded_client() {
    let (gw, _dir) = start_with_keys(
        "",
        "rateLimits: { invalidRequests: { perMinute: 1, burst: 2 } }, webhookSecurity: { trustedProxies: ['127.0.0.1'] }",
    )
    .await;
    let (body, _) = signed(&gw, 999);
    let bad = |xff: &'static str| {
        let body = body.clone();
        let gw = &gw;
        async move {
            post(gw, body, Some("d3Jvbmc="), &[("x-forwarded-for", xff)])
                .await
                .status()
                .as_u16()
        }
    };
    let flooder: Vec<u16> = vec![
        bad("203.0.113.5").await,
        bad("203.0.113.5").await,
        bad("203.0.113.5").await,
    ];
    assert_eq!(flooder, [403, 403, 429]);
    // Another client behind the same proxy has its own budget…
    assert_eq!(bad("203.0.113.6").await, 403);
    // …and a hop written left of the proxy's own entry proves nothing: the client is the
    // rightmost untrusted hop (198.51.100.7), with its own budget.
    assert_eq!(bad("203.0.113.5, 198.51.100.7").await, 403);
    assert_eq!(bad("203.0.113.5, 198.51.100.7").await, 403);
    assert_eq!(bad("203.0.113.5, 198.51.100.7").await, 429);
    // Valid webhooks forwarded for the flooder are served.
    let (body, sig) = signed(&gw, 1);
    let r = post(&gw, body, Some(&sig), &[("x-forwarded-for", "203.0.113.5")]).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(inbox(&gw).await, sids([1]));
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_progress_finish() {
    let (gw, _dir) = start_with_keys("", "").await;
    let (body, sig) = signed(&gw, 1);
    let mut s = connect(&gw).await;
    let req = head(
        &gw,
        &format!(
            "content-length: {}\r\nx-twilio-signature: {sig}\r\n\r\n",
            body.len()
        ),
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(&body.as_bytes()[..10]).await.unwrap();
    // An idle keep-alive connection does not hold the shutdown up.
    let mut idle = connect(&gw).await;
    idle.write_all(head(&gw, "content-length: 0\r\nx-twilio-signature: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (resp, _) = until_closed_or_answered(&mut idle).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 403 Forbidden", "{resp}");
    let store = gw.gateway.store().clone();
    let stopping = tokio::spawn(gw.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown did not wait for the request"
    );
    // The idle connection was closed; new connections are refused.
    let (rest, _) = until_closed(&mut idle, Duration::from_secs(1)).await;
    assert_eq!(rest, "");
    s.write_all(&body.as_bytes()[10..]).await.unwrap();
    let (resp, _) = until_closed_or_answered(&mut s).await;
    assert_eq!(status_line(&resp), "HTTP/1.1 200 OK", "{resp}");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown finished")
        .unwrap();
    // Stored before it was acknowledged (the admin listener is gone: ask the store).
    let stored: Vec<String> = store
        .inbox(&telephony_core::InboxQuery {
            since: None,
            limit: 10,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message.provider_sid)
        .collect();
    assert_eq!(stored, sids([1]));
}
