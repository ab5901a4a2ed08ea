//! The outbox worker's pace per sender, on tokio's paused clock: the outbound limiter runs
//! on tokio's clock, so each send's time is exact and the expected times are computed from
//! the rates alone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use telephony_core::{
    MemoryStore, OutboundMessage, Provider, ProviderError, ProviderReceipt, SendOptions,
    StubProvider,
};
use telephony_serve::Gateway;
use tokio::time::Instant;

const LONG_CODE: (&str, &str) = ("+15005550006", "+15557000001");
const TOLL_FREE: (&str, &str) = ("+18005550100", "+15557000002");
const SHORT_CODE: (&str, &str) = ("22395", "+15557000003");

/// Sends from the number chosen by recipient, recording when each send reached it.
#[derive(Debug)]
struct Recorder {
    stub: StubProvider,
    sent: Mutex<Vec<(String, String, Instant)>>,
}

impl Recorder {
    fn offsets(&self, to: &str) -> Vec<(String, Duration)> {
        let sent = self.sent.lock().unwrap();
        let first = sent.iter().map(|(_, _, at)| *at).min().expect("sends");
        sent.iter()
            .filter(|(t, _, _)| t == to)
            .map(|(_, body, at)| (body.clone(), *at - first))
            .collect()
    }
}

#[async_trait]
impl Provider for Recorder {
    async fn send(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        self.sent.lock().unwrap().push((
            msg.to.number().as_str().to_string(),
            msg.body.clone(),
            Instant::now(),
        ));
        self.stub.send(msg, opts).await
    }

    fn sender(&self, msg: &OutboundMessage) -> Option<String> {
        [LONG_CODE, TOLL_FREE, SHORT_CODE]
            .iter()
            .find(|(_, to)| msg.to.number().as_str() == *to)
            .map(|(from, _)| from.to_string())
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Three senders with a backlog each, queued before the worker starts: every send takes
/// its sender's next slot, the senders start together, and each recipient's messages go
/// in order. Tokio's timer fires on whole milliseconds, so a slot at 333.33 ms is taken
/// at 334 ms; slots are booked ahead in the store, so that millisecond is not carried
/// into the next slot (666.67 ms, taken at 667 ms).
#[tokio::test(start_paused = true)]
async fn each_sender_takes_every_slot_of_its_rate() {
    let provider = Arc::new(Recorder {
        stub: StubProvider::new_ok(),
        sent: Mutex::default(),
    });
    let gw = Gateway::builder(provider.clone(), Arc::new(MemoryStore::new())).build();
    // Within a second of slots, so every entry waits in its sender's lane.
    for i in 0..2 {
        gw.send(LONG_CODE.1, format!("long {i}")).await.unwrap();
    }
    for i in 0..4 {
        gw.send(TOLL_FREE.1, format!("toll-free {i}"))
            .await
            .unwrap();
    }
    for i in 0..20 {
        gw.send(SHORT_CODE.1, format!("short {i}")).await.unwrap();
    }
    let workers = gw.spawn_workers();
    tokio::time::sleep(Duration::from_secs(3)).await;
    workers.shutdown().await;

    let expect = |prefix: &str, at: &[Duration]| -> Vec<(String, Duration)> {
        at.iter()
            .enumerate()
            .map(|(i, d)| (format!("{prefix} {i}"), *d))
            .collect()
    };
    // Long code, 1/s burst 1.
    assert_eq!(
        provider.offsets(LONG_CODE.1),
        expect("long", &[ms(0), ms(1000)])
    );
    // Toll-free, 3/s burst 1: every 333.33 ms, on the first whole millisecond at or after
    // the slot.
    assert_eq!(
        provider.offsets(TOLL_FREE.1),
        expect("toll-free", &[ms(0), ms(334), ms(667), ms(1000)])
    );
    // Short code, 100/s burst 5: five at once, then one every 10 ms.
    let short: Vec<Duration> = (0..20u64).map(|i| ms(i.saturating_sub(4) * 10)).collect();
    assert_eq!(provider.offsets(SHORT_CODE.1), expect("short", &short));
    let m = gw.metrics();
    // Every entry but the first of each sender (and the short code's burst) waited.
    assert_eq!(
        m.get("telephony_rate_limited_total", &[("limiter", "outbound")]),
        1 + 3 + 15
    );
}
