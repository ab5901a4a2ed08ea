//! PostgreSQL going away and coming back: while the server cannot be reached, operations
//! fail as `unavailable`, are counted, and the store reports that its writes fail; once
//! it is back, the same store (no restart) commits again: its write probe first, then
//! every operation.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use telephony_core::store::prelude::*;
use telephony_core::store_suite::inbound;
use telephony_core::{InboxQuery, InsertOutcome, StoreErrorKind};
use telephony_store::{PostgresStore, error_kind};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{DropSchema, options, server_url, unique_schema};

/// A TCP forwarder from a loopback port to the server, which can be taken down (every
/// connection cut, the port closed) and brought back on the same port.
struct Proxy {
    port: u16,
    target: SocketAddr,
    tasks: Option<JoinSet<()>>,
}

impl Proxy {
    async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let target = self.target;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    async fn down(&mut self) {
        if let Some(mut t) = self.tasks.take() {
            t.shutdown().await;
        }
    }
}

/// The host and port of `postgres://user[:password]@host[:port]/db?…`.
fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once('@').map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap()),
        None => (authority.to_string(), 5432),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_fails_while_the_server_is_gone_and_recovers_when_it_is_back() {
    let Some(url) = server_url() else { return };
    let schema = unique_schema();
    let _guard = DropSchema::new(&url, &schema);
    let (host, server_port) = host_port(&url);
    let target: SocketAddr = tokio::net::lookup_host((host.as_str(), server_port))
        .await
        .unwrap()
        .next()
        .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = Proxy {
        port,
        target,
        tasks: None,
    };
    proxy.up().await;
    let proxied = url.replacen(
        &format!("@{host}:{server_port}"),
        &format!("@127.0.0.1:{port}"),
        1,
    );
    assert_ne!(
        proxied, url,
        "the test URL names its host and port after '@'"
    );
    let store = PostgresStore::connect_with(
        &proxied,
        options(&schema).connect_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    let m1 = inbound(
        "SMpg00000000000000000000000000001",
        "+15557654321",
        "one",
        1,
    );
    assert_eq!(
        store.insert_inbound(&m1).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(store.health().write_failure, None);

    // The server goes away.
    proxy.down().await;
    let m2 = inbound(
        "SMpg00000000000000000000000000002",
        "+15557654321",
        "two",
        2,
    );
    let err = store.insert_inbound(&m2).await.unwrap_err();
    assert_eq!(
        error_kind(&err),
        Some(StoreErrorKind::Unavailable),
        "{err:?}"
    );
    let err = store.probe_write().await.unwrap_err();
    assert_eq!(
        error_kind(&err),
        Some(StoreErrorKind::Unavailable),
        "{err:?}"
    );
    let h = store.health();
    let failure = h.write_failure.clone().expect("writes are failing");
    assert_eq!(failure.kind, StoreErrorKind::Unavailable);
    assert!(failure.failures >= 2, "{failure:?}");
    assert!(
        h.errors_of(StoreErrorKind::Unavailable) >= 2,
        "{:?}",
        h.errors
    );

    // It comes back: the same store commits again.
    proxy.up().await;
    let t = Instant::now();
    while let Err(e) = store.probe_write().await {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "still failing: {}",
            telephony_core::error_chain(&e)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(store.health().write_failure, None);
    assert_eq!(
        store.insert_inbound(&m2).await.unwrap(),
        InsertOutcome::Inserted
    );
    let mut sids: Vec<String> = store
        .inbox(&InboxQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message.provider_sid)
        .collect();
    sids.sort();
    assert_eq!(sids, [m1.provider_sid, m2.provider_sid]);
    store.close().await;
    proxy.down().await;
}
