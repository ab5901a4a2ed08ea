//! The outbox across process deaths and replicas, end to end through the Twilio
//! simulator: a send interrupted mid-flight is reconciled with the provider's message log
//! (completed with the SID found, or sent once), and two gateways on one PostgreSQL schema
//! share a sender's rate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use telephony_core::store::prelude::*;
use telephony_core::{
    Address, DeliveryStatus, MessageId, OutboundMessage, Provider, SendOptions, Store,
};
use telephony_serve::Gateway;
use telephony_serve::rate_limit::{OutboundLimits, Rate, RateLimits};
use telephony_store::{PostgresOptions, PostgresStore, SqliteStore};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{RunningSimulator, Simulator, SimulatorConfig};

use crate::support::postgres::{DropSchema, postgres_url};
use time::OffsetDateTime;

const FROM: &str = "+15005550006";

async fn simulator() -> (Simulator, RunningSimulator) {
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (sim, running)
}

fn twilio(sim: &Simulator, running: &RunningSimulator) -> TwilioProvider {
    let c = sim.config();
    TwilioProvider::new(
        TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
            .api_base_url(running.url())
            .from_number(FROM.parse().unwrap()),
    )
    .unwrap()
}

fn to(number: &str, body: &str) -> OutboundMessage {
    OutboundMessage::new(Address::parse(number).unwrap(), body)
}

async fn wait_until_sent(store: &dyn Store, ids: &[MessageId]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut done = true;
        for id in ids {
            let r = store.receipt(id).await.unwrap().unwrap();
            done &= r.status != DeliveryStatus::Pending;
        }
        if done {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sends did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two sends whose worker died mid-flight (claimed, lease run out, nothing recorded):
/// the one the provider had already accepted is completed with the SID from its message
/// log and not sent again; the one it never got is sent once.
#[tokio::test]
async fn interrupted_sends_are_reconciled_with_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, running) = simulator().await;
    let provider = Arc::new(twilio(&sim, &running));
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db")).await.unwrap());
    let (reached, lost) = (MessageId::generate(), MessageId::generate());
    let reached_msg = to("+15557000001", "made it before the crash");
    let lost_msg = to("+15557000002", "never left");
    let claimed_at = OffsetDateTime::now_utc() - Duration::from_secs(10);
    store
        .enqueue_outbound(&reached, &reached_msg, claimed_at)
        .await
        .unwrap();
    store
        .enqueue_outbound(&lost, &lost_msg, claimed_at)
        .await
        .unwrap();
    // The dead process: it claimed both with a one-second lease, and the provider
    // accepted one of them before the process died.
    let claimed = store
        .claim_outbound(claimed_at, Duration::from_secs(1), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let accepted = provider
        .send(&reached_msg, &SendOptions::default())
        .await
        .unwrap();
    assert_eq!(sim.create_requests().len(), 1);

    let gw = Gateway::builder(provider.clone(), store.clone()).build();
    let workers = gw.spawn_workers();
    wait_until_sent(store.as_ref(), &[reached.clone(), lost.clone()]).await;
    workers.shutdown().await;

    // One create per message in all: the reconciled one was not sent again.
    let creates: Vec<Option<String>> = sim.create_requests().into_iter().map(|r| r.to).collect();
    assert_eq!(
        creates,
        [
            Some("+15557000001".to_string()),
            Some("+15557000002".to_string())
        ]
    );
    let r = store.receipt(&reached).await.unwrap().unwrap();
    assert_eq!(r.provider_sids, [accepted.sid]);
    assert_eq!(r.status, DeliveryStatus::Queued);
    assert_eq!(
        r.attempts, 2,
        "the interrupted claim and the reconciling one"
    );
    let r = store.receipt(&lost).await.unwrap().unwrap();
    assert_eq!(r.status, DeliveryStatus::Queued);
    let sent: Vec<String> = sim
        .messages()
        .into_iter()
        .filter(|m| m.to.as_deref() == Some("+15557000002"))
        .map(|m| m.sid)
        .collect();
    assert_eq!(r.provider_sids, sent);
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    running.shutdown().await;
}

/// Two gateways (two pools on one schema, as two replicas) each with a backlog to one
/// sender: together they send at the sender's rate, not twice it. The simulator records
/// when each create arrived; in any one-second window there are at most rate + burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgres_schema_share_a_senders_rate() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!(
        "test_outbox_{}_{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    );
    let _guard = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let open = || async {
        Arc::new(
            PostgresStore::connect_with(
                &url,
                PostgresOptions::default()
                    .schema(&schema)
                    .max_connections(4),
            )
            .await
            .unwrap(),
        )
    };
    let (a, b) = (open().await, open().await);
    let (sim, running) = simulator().await;
    // 20 a second, burst 1: 30 sends from each replica take 3 s together, 1.5 s alone.
    let rate = Rate::per_second(20.0).unwrap();
    let limits = RateLimits {
        outbound: OutboundLimits::default().per_sender(FROM, rate),
        ..RateLimits::default()
    };
    let (pa, pb) = (
        Arc::new(twilio(&sim, &running)),
        Arc::new(twilio(&sim, &running)),
    );
    // The simulator records when a request arrives: a client's first request (its TLS
    // setup, its first connections) would arrive late and bunch the first slots' sends.
    for p in [&pa, &pb] {
        let warm = to("+15557999999", "warm-up");
        let since = OffsetDateTime::now_utc();
        assert_eq!(p.find_sent(&warm, since).await.unwrap(), None);
    }
    let gateway = |provider: Arc<TwilioProvider>, store: Arc<PostgresStore>| {
        Gateway::builder(provider, store)
            .rate_limits(limits.clone())
            .build()
    };
    let (ga, gb) = (gateway(pa, a.clone()), gateway(pb, b.clone()));
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.extend(
            ga.send(&format!("+1555710{:04}", i), format!("a {i}"))
                .await
                .unwrap()
                .receipts
                .into_iter()
                .map(|r| r.id),
        );
        ids.extend(
            gb.send(&format!("+1555720{:04}", i), format!("b {i}"))
                .await
                .unwrap()
                .receipts
                .into_iter()
                .map(|r| r.id),
        );
    }
    let (wa, wb) = (ga.spawn_workers(), gb.spawn_workers());
    wait_until_sent(a.as_ref(), &ids).await;
    wa.shutdown().await;
    wb.shutdown().await;

    let mut at: Vec<OffsetDateTime> = sim.create_requests().into_iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 60, "every send once");
    at.sort();
    let window = Duration::from_secs(1);
    let most = at
        .iter()
        .map(|start| {
            at.iter()
                .filter(|t| **t >= *start && **t < *start + window)
                .count()
        })
        .max()
        .unwrap();
    // rate × window + burst, measured where the sends arrive: on a loaded machine one
    // request's trip can lag its slot by up to two slots (100 ms), bunching arrivals.
    assert!(most <= 20 + 1 + 2, "{most} sends in one second");
    // And the pair used the rate: 60 slots 50 ms apart take at least 2.95 s.
    let span = at[59] - at[0];
    assert!(span >= time::Duration::milliseconds(2_900), "took {span}");
    assert!(span < time::Duration::milliseconds(6_000), "took {span}");
    running.shutdown().await;
}
