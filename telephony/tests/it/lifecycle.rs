//! The gateway's lifecycle over real sockets on loopback: graceful shutdown with a webhook
//! in flight, the shutdown grace bound, one gateway per data directory, and ports in use.

use std::time::{Duration, Instant};

use telephony::config::Config;
use telephony::server::{RunningGateway, ServeError};
use telephony_twilio_simulator::InboundSms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::start;

fn config(data_dir: &std::path::Path, extra: &str) -> Config {
    Config::from_json5_str(&format!(
        "{{ serve: {{ port: 0 {extra} }}, admin: {{ port: 0 }}, allowFrom: ['+15557654321'], dataDir: {:?} }}",
        data_dir.display().to_string()
    ))
    .unwrap()
}

/// A signed inbound SMS as a raw HTTP/1.1 request, split into its head (with the first
/// half of the body) and the rest of the body.
fn split_request(gw: &RunningGateway, sid: &str) -> (Vec<u8>, Vec<u8>) {
    let sms = InboundSms {
        account_sid: gw.runtime.sandbox_account_sid.clone().unwrap(),
        from: "+15557654321".into(),
        to: "+15005550006".into(),
        body: "sent while stopping".into(),
        message_sid: Some(sid.into()),
        media: vec![],
    };
    let token = gw.runtime.sandbox_auth_token.clone().unwrap();
    let (body, sig) = sms.signed(&token, &gw.runtime.webhook_url);
    let head = format!(
        "POST /telephony/webhook HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\nx-twilio-signature: {sig}\r\ncontent-length: {}\r\n\r\n",
        gw.public_addr,
        body.len()
    );
    let half = body.len() / 2;
    let mut first = head.into_bytes();
    first.extend_from_slice(&body.as_bytes()[..half]);
    (first, body.as_bytes()[half..].to_vec())
}

#[tokio::test]
async fn a_webhook_in_flight_when_shutdown_begins_gets_its_200_and_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&config(dir.path(), "")).await.unwrap();
    let addr = gw.public_addr;
    let store = gw.gateway.store().clone();
    let sid = "SM00000000000000000000000000000001";
    let (first, rest) = split_request(&gw, sid);
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(&first).await.unwrap();
    // The request is in progress (its body half read) when shutdown begins.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(gw.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!stopping.is_finished(), "shutdown waits for the request");
    // Stops accepting: new connections are refused (soon; the stop is asynchronous).
    let t = Instant::now();
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            Err(e) => panic!("{e}"),
            Ok(_) => {
                assert!(t.elapsed() < Duration::from_secs(5), "still accepting");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert!(
        !stopping.is_finished(),
        "shutdown still waits for the request"
    );
    conn.write_all(&rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
    let inbox = store.inbox(&Default::default()).await.unwrap();
    let stored: Vec<(&str, &str)> = inbox
        .iter()
        .map(|e| (e.message.provider_sid.as_str(), e.message.body.as_str()))
        .collect();
    assert_eq!(stored, [(sid, "sent while stopping")]);
    assert!(!dir.path().join("gateway.json").exists());
}

#[tokio::test]
async fn shutdown_cuts_off_a_request_that_outlasts_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&config(dir.path(), ", shutdownGraceMs: 300"))
        .await
        .unwrap();
    let (first, _never_sent) = split_request(&gw, "SM00000000000000000000000000000002");
    let mut conn = TcpStream::connect(gw.public_addr).await.unwrap();
    conn.write_all(&first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    gw.shutdown().await;
    let took = t.elapsed();
    // Not serve.requestTimeoutMs (30 s): the grace.
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
    let mut answer = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer))
        .await
        .unwrap();
    // Cut off: closed (or reset) without an answer.
    assert!(answer.is_empty(), "{n:?} {answer:?}");
}

#[tokio::test]
async fn a_second_gateway_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let first = start(&cfg).await.unwrap();
    let err = start(&cfg).await.unwrap_err();
    assert!(matches!(err, ServeError::Lock(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "another telephony gateway (pid {}, data directory {}, public listener {}, admin listener {}) is running on the data directory {}; stop it first, or give this one another dataDir",
            std::process::id(),
            std::path::absolute(dir.path()).unwrap().display(),
            first.public_addr,
            first.admin_addr,
            dir.path().display()
        )
    );
    // The first one is untouched, and once it stops the directory is free.
    assert!(dir.path().join("gateway.json").exists());
    first.shutdown().await;
    start(&cfg).await.unwrap().shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_names_the_gateway_or_says_it_is_another_program() {
    let a_dir = tempfile::tempdir().unwrap();
    let a = start(&config(a_dir.path(), "")).await.unwrap();
    let port = a.public_addr.port();
    let b_dir = tempfile::tempdir().unwrap();
    let err = start(&config(b_dir.path(), "").with_port(port))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "serve.port {port}: the port is already in use on 127.0.0.1: another telephony gateway holds it (pid {}, data directory {}, public listener {}, admin listener {}); stop it, or give this one another serve.port",
            std::process::id(),
            std::path::absolute(a_dir.path()).unwrap().display(),
            a.public_addr,
            a.admin_addr
        )
    );
    // B left nothing behind: its directory is free again.
    assert!(!b_dir.path().join("gateway.json").exists());
    a.shutdown().await;

    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let err = start(&config(b_dir.path(), "").with_port(port))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "serve.port {port}: the port is already in use on 127.0.0.1: another program listens there; stop it, or give this one another serve.port"
        )
    );
}

trait WithPort {
    fn with_port(self, port: u16) -> Self;
}

impl WithPort for Config {
    fn with_port(mut self, port: u16) -> Self {
        self.serve.port = port;
        self
    }
}
