//! Per-number outbound rate limits end to end: gateway → SQLite outbox → Twilio simulator,
//! which records the time of every `Messages.json` request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use telephony_core::{
    DeliveryStatus, OutboundMessage, Provider, ProviderError, ProviderReceipt, SendOptions,
};
use telephony_serve::Gateway;
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{Simulator, SimulatorConfig};
use time::OffsetDateTime;

const LONG_CODE: &str = "+15005550006";
const TOLL_FREE: &str = "+18005550100";
const TO_LONG: &str = "+15557000001";
const TO_TOLL_FREE: &str = "+15557000002";

/// A provider that sends from one of two numbers, chosen by recipient (as an application
/// with a number per region might).
#[derive(Debug)]
struct TwoNumbers {
    long_code: TwilioProvider,
    toll_free: TwilioProvider,
}

impl TwoNumbers {
    fn pick(&self, msg: &OutboundMessage) -> &TwilioProvider {
        if msg.to.number().as_str() == TO_TOLL_FREE {
            &self.toll_free
        } else {
            &self.long_code
        }
    }
}

#[async_trait]
impl Provider for TwoNumbers {
    async fn send(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        self.pick(msg).send(msg, opts).await
    }

    fn sender(&self, msg: &OutboundMessage) -> Option<String> {
        self.pick(msg).sender(msg)
    }

    async fn find_sent(
        &self,
        msg: &OutboundMessage,
        since: OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        self.pick(msg).find_sent(msg, since).await
    }
}

#[tokio::test]
async fn each_number_sends_at_its_own_rate_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = sim.config();
    let twilio = |from: &str| {
        TwilioProvider::new(
            TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                .api_base_url(running.url())
                .from_number(from.parse().unwrap()),
        )
        .unwrap()
    };
    let provider = Arc::new(TwoNumbers {
        long_code: twilio(LONG_CODE),
        toll_free: twilio(TOLL_FREE),
    });
    let store = Arc::new(SqliteStore::open(dir.path().join("t.db")).await.unwrap());
    // Defaults: long code 1/s, toll-free 3/s, both burst 1.
    let gw = Gateway::builder(provider, store).build();
    // Queued before the worker starts: 3 to the long code's recipient, 6 to the toll-free's.
    let started = OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for i in 1..=3 {
        let sent = gw.send(TO_LONG, format!("long {i}")).await.unwrap();
        assert_eq!(
            sent.receipts[0].status,
            DeliveryStatus::Pending,
            "answered at once"
        );
        ids.push(sent.receipts[0].id.clone());
    }
    for i in 1..=6 {
        ids.push(
            gw.send(TO_TOLL_FREE, format!("toll-free {i}"))
                .await
                .unwrap()
                .receipts[0]
                .id
                .clone(),
        );
    }
    let workers = gw.spawn_workers();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while sim.messages().len() < 9 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sends did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let times = |to: &str| -> Vec<OffsetDateTime> {
        sim.create_requests()
            .into_iter()
            .filter(|r| r.to.as_deref() == Some(to))
            .map(|r| r.at)
            .collect()
    };
    let bodies = |to: &str| -> Vec<String> {
        sim.messages()
            .into_iter()
            .filter(|m| m.to.as_deref() == Some(to))
            .map(|m| m.body.unwrap_or_default())
            .collect()
    };
    // In order per recipient, each exactly once, from the number its provider uses.
    assert_eq!(bodies(TO_LONG), ["long 1", "long 2", "long 3"]);
    assert_eq!(
        bodies(TO_TOLL_FREE),
        (1..=6)
            .map(|i| format!("toll-free {i}"))
            .collect::<Vec<_>>()
    );
    let (long, toll_free) = (times(TO_LONG), times(TO_TOLL_FREE));
    assert_eq!(
        (long.len(), toll_free.len()),
        (3, 6),
        "no request was repeated"
    );
    // Never faster than the rate: one interval between sends from one number, less up to
    // 30 ms by which a request's arrival at the simulator may vary on a loaded machine (the
    // limiter's own spacing is checked exactly with a paused clock in outbound_pace.rs). How close to the rate it gets is
    // the benchmark's to measure (`ratelimit outbound`, benches/RESULTS.md) and the paused-
    // clock test's (serve/tests/outbound_pace.rs); here only bounds on the whole run, loose
    // enough for a loaded machine, tight enough to fail when slots are skipped.
    let ms = |d: time::Duration| d.whole_milliseconds();
    for w in long.windows(2) {
        let gap = ms(w[1] - w[0]);
        assert!(gap >= 970, "long code gap {gap} ms");
    }
    for w in toll_free.windows(2) {
        let gap = ms(w[1] - w[0]);
        assert!(gap >= 303, "toll-free gap {gap} ms");
    }
    // The numbers do not wait on each other: both start at once, and the toll-free
    // number's six sends (5 × 333 ms) are done by the long code's third (2 s); were they
    // serialized, they would end seconds later. Each run takes its slots: 2 s and 1.67 s,
    // plus at most 800 ms of lateness in all on a loaded machine (three skipped slots
    // would exceed it).
    assert!(ms(toll_free[0] - long[0]).abs() < 150);
    let (long_run, toll_free_run) = (ms(long[2] - long[0]), ms(toll_free[5] - toll_free[0]));
    assert!(long_run < 2800, "long code's 3 sends took {long_run} ms");
    assert!(
        toll_free_run < 2467,
        "toll-free's 6 sends took {toll_free_run} ms"
    );
    assert!(
        ms(toll_free[5] - long[2]) < 1000,
        "toll-free finished {} ms after the long code",
        ms(toll_free[5] - long[2])
    );
    assert!(ms(long[0] - started) < 1000);
    // Waiting for a slot is not an attempt and leaves no error.
    for id in &ids {
        let r = gw.receipt(id).await.unwrap().unwrap();
        assert_eq!((r.attempts, r.error.is_none()), (1, true), "{id}");
        assert_eq!(r.status, DeliveryStatus::Queued);
    }
    let m = gw.metrics();
    assert_eq!(
        m.get("telephony_rate_limited_total", &[("limiter", "outbound")]),
        2 + 5
    );
    let waited = m.get_f64(
        "telephony_rate_limit_wait_seconds_total",
        &[("limiter", "outbound")],
    );
    // From its claim to its slot: 1 + 2 s for the long code, 1/3 + … + 5/3 s for the
    // toll-free number (5 s): 8 s at least (a slot is never early), more by the lateness.
    assert!((7.99..12.0).contains(&waited), "waited {waited} s");
    workers.shutdown().await;
    running.shutdown().await;
}
