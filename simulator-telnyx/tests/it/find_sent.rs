//! Looking up a sent message ([`Provider::find_sent`]) in the simulator's message detail
//! records over HTTP: found, not found (other text, other sender, before `since`), paging
//! through records, errors.

use telephony_core::{DeliveryStatus, OutboundMessage, Provider, SendOptions};
use telephony_telnyx::client::{FIND_SENT_PAGE_SIZE, SentMessageQuery};
use telephony_telnyx::{TelnyxConfig, TelnyxProvider};
use telephony_telnyx_simulator::{RunningSimulator, Simulator, SimulatorConfig};
use time::OffsetDateTime;

use crate::support;

const OURS: &str = "+15550001234";
const OTHER: &str = "+15550003333";
const TO: &str = "+15557654321";

async fn start() -> (Simulator, RunningSimulator) {
    support::start(SimulatorConfig::generate()).await
}

fn provider(sim: &Simulator, server: &RunningSimulator, from: &str, key: &str) -> TelnyxProvider {
    let _ = sim;
    TelnyxProvider::new(
        TelnyxConfig::new(key)
            .public_key(sim.public_key_base64())
            .from_number(from.parse().unwrap())
            .api_base_url(server.url()),
    )
    .unwrap()
}

fn ours(sim: &Simulator, server: &RunningSimulator, from: &str) -> TelnyxProvider {
    provider(sim, server, from, sim.config().api_key.expose())
}

fn msg(text: &str) -> OutboundMessage {
    OutboundMessage::new(TO.parse().unwrap(), text)
}

#[tokio::test]
async fn a_sent_message_is_found_with_its_id() {
    let (sim, server) = start().await;
    let p = ours(&sim, &server, OURS);
    let since = OffsetDateTime::now_utc();
    let sent = p
        .send(&msg("your code is 1234"), &SendOptions::default())
        .await
        .unwrap();
    p.send(&msg("something else"), &SendOptions::default())
        .await
        .unwrap();
    ours(&sim, &server, OTHER)
        .send(&msg("your code is 5678"), &SendOptions::default())
        .await
        .unwrap();
    let found = p
        .find_sent(&msg("your code is 1234"), since)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.sid, sent.sid);
    assert_eq!(found.from.as_deref(), Some(OURS));
    assert!(
        [
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered
        ]
        .contains(&found.status),
        "{:?}",
        found.status
    );
    assert_eq!(sim.send_requests(), 3, "a lookup sends nothing");
}

#[tokio::test]
async fn a_message_not_sent_is_not_found() {
    let (sim, server) = start().await;
    let p = ours(&sim, &server, OURS);
    let since = OffsetDateTime::now_utc();
    p.send(&msg("first"), &SendOptions::default())
        .await
        .unwrap();
    ours(&sim, &server, OTHER)
        .send(&msg("second"), &SendOptions::default())
        .await
        .unwrap();
    // The same text from another number, another text: not it.
    assert_eq!(p.find_sent(&msg("second"), since).await.unwrap(), None);
    assert_eq!(p.find_sent(&msg("third"), since).await.unwrap(), None);
    // Sent before the interrupted attempt started.
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert_eq!(p.find_sent(&msg("first"), later).await.unwrap(), None);
    assert_eq!(sim.send_requests(), 2);
}

/// Records come oldest first, a page at a time: the client reads the next pages of
/// candidates (same recipient, sender and time) until a message's text matches.
#[tokio::test]
async fn the_lookup_pages_through_the_records() {
    let (sim, server) = start().await;
    let p = ours(&sim, &server, OURS);
    let since = OffsetDateTime::now_utc();
    let before = 2 * FIND_SENT_PAGE_SIZE as usize + 5;
    for i in 0..before {
        p.send(&msg(&format!("older {i}")), &SendOptions::default())
            .await
            .unwrap();
    }
    let wanted = p
        .send(&msg("the one"), &SendOptions::default())
        .await
        .unwrap();
    let found = p.find_sent(&msg("the one"), since).await.unwrap();
    assert_eq!(found.map(|r| r.sid), Some(wanted.sid.clone()));
    // 106 records in pages of 50: the one is the last record of the third page.
    let client = p.client();
    let q = SentMessageQuery {
        to: TO.into(),
        from: Some(OURS.into()),
        messaging_profile_id: None,
        text: "the one".into(),
        media: 0,
        since,
    };
    let first = client.message_detail_records(&q, 1).await.unwrap();
    let meta = first.meta.clone().unwrap();
    assert_eq!(
        (
            meta.page_number,
            meta.page_size,
            meta.total_pages,
            meta.total_results
        ),
        (1, FIND_SENT_PAGE_SIZE, 3, before as u64 + 1)
    );
    let third = client.message_detail_records(&q, 3).await.unwrap();
    assert_eq!(third.data.len(), 6);
    assert_eq!(third.data.last().map(|r| r.uuid.clone()), Some(wanted.sid));
}

#[tokio::test]
async fn lookup_errors_are_provider_errors() {
    let (sim, server) = start().await;
    let wrong = provider(&sim, &server, OURS, "KEY-not-this-one");
    let err = wrong
        .find_sent(&msg("x"), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert!(!err.is_retryable());
    server.shutdown().await;
    let gone = TelnyxProvider::new(
        TelnyxConfig::new(sim.config().api_key.expose())
            .public_key(sim.public_key_base64())
            .from_number(OURS.parse().unwrap())
            .api_base_url("http://127.0.0.1:9"),
    )
    .unwrap();
    let err = gone
        .find_sent(&msg("x"), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
