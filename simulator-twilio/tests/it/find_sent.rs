//! Looking up a sent message ([`Provider::find_sent`]) in the simulator's message log, over
//! HTTP: found, not found (other body, other sender, before `since`), paging, errors.

use telephony_core::{Address, DeliveryStatus, OutboundMessage, Provider, SendOptions};
use telephony_twilio::client::{FIND_SENT_PAGE_SIZE, SentMessageQuery};
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{RunningSimulator, Simulator, SimulatorConfig};
use time::OffsetDateTime;

use crate::support::{self, ACCOUNT, TOKEN};

const OURS: &str = "+15550002222";
const OTHER: &str = "+15550003333";
const TO: &str = "+15557654321";

async fn start() -> (Simulator, RunningSimulator) {
    support::start(SimulatorConfig::new(ACCOUNT, TOKEN)).await
}

fn provider(server: &RunningSimulator, from: &str, token: &str) -> TwilioProvider {
    TwilioProvider::new(
        TwilioConfig::new(ACCOUNT, token)
            .api_base_url(server.url())
            .from_number(from.parse().unwrap()),
    )
    .unwrap()
}

fn msg(body: &str) -> OutboundMessage {
    OutboundMessage::new(Address::parse(TO).unwrap(), body)
}

/// `since` a second ago: the log's dates have whole seconds.
fn a_second_ago() -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::seconds(1)
}

#[tokio::test]
async fn a_sent_message_is_found_with_its_sid_and_status() {
    let (sim, server) = start().await;
    let p = provider(&server, OURS, TOKEN);
    let since = a_second_ago();
    let sent = p
        .send(&msg("your code is 1234"), &SendOptions::default())
        .await
        .unwrap();
    // Other messages to the same recipient: another body, another sender.
    p.send(&msg("something else"), &SendOptions::default())
        .await
        .unwrap();
    provider(&server, OTHER, TOKEN)
        .send(&msg("your code is 5678"), &SendOptions::default())
        .await
        .unwrap();
    let found = p
        .find_sent(&msg("your code is 1234"), since)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found, sent);
    assert_eq!(found.status, DeliveryStatus::Queued);
    assert_eq!(found.from.as_deref(), Some(OURS));
    assert_eq!(sim.messages().len(), 3, "a lookup sends nothing");
}

#[tokio::test]
async fn a_message_not_sent_is_not_found() {
    let (sim, server) = start().await;
    let p = provider(&server, OURS, TOKEN);
    let since = a_second_ago();
    p.send(&msg("first"), &SendOptions::default())
        .await
        .unwrap();
    // Same recipient and body from another number, and an unknown body: not it.
    provider(&server, OTHER, TOKEN)
        .send(&msg("second"), &SendOptions::default())
        .await
        .unwrap();
    assert_eq!(p.find_sent(&msg("second"), since).await.unwrap(), None);
    assert_eq!(p.find_sent(&msg("third"), since).await.unwrap(), None);
    // Sent, but before the interrupted attempt started.
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    assert_eq!(p.find_sent(&msg("first"), later).await.unwrap(), None);
    // Nothing at all to that recipient.
    let nobody = OutboundMessage::new(Address::parse("+15557650000").unwrap(), "first");
    assert_eq!(p.find_sent(&nobody, since).await.unwrap(), None);
    assert_eq!(sim.messages().len(), 2);
}

/// The match is on the third page (newest first): the client follows `next_page_uri`.
#[tokio::test]
async fn the_lookup_follows_next_page_uri() {
    let (sim, server) = start().await;
    let p = provider(&server, OURS, TOKEN);
    let since = a_second_ago();
    let wanted = p
        .send(&msg("the one"), &SendOptions::default())
        .await
        .unwrap();
    let newer = 2 * FIND_SENT_PAGE_SIZE as usize + 10;
    for i in 0..newer {
        p.send(&msg(&format!("newer {i}")), &SendOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(sim.messages().len(), newer + 1);
    let found = p.find_sent(&msg("the one"), since).await.unwrap();
    assert_eq!(found.map(|r| r.sid), Some(wanted.sid));
    // The client asked with the filters and went three pages deep.
    let client = telephony_twilio::TwilioClient::new(
        TwilioConfig::new(ACCOUNT, TOKEN).api_base_url(server.url()),
    )
    .unwrap();
    let q = SentMessageQuery {
        to: TO.into(),
        from: Some(OURS.into()),
        messaging_service_sid: None,
        body: "newer 0".into(),
        media: 0,
        since,
    };
    let m = client.find_sent_message(&q).await.unwrap().expect("found");
    assert_eq!(m.body.as_deref(), Some("newer 0"));
}

#[tokio::test]
async fn lookup_errors_are_provider_errors() {
    let (_sim, server) = start().await;
    let wrong = provider(&server, OURS, "not-the-token");
    let err = wrong
        .find_sent(&msg("x"), a_second_ago())
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.code(), Some(20003));
    assert!(!err.is_retryable());
    // Nobody listening: a transport error, retryable.
    server.shutdown().await;
    let gone = provider_at("http://127.0.0.1:9");
    let err = gone.find_sent(&msg("x"), a_second_ago()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

fn provider_at(url: &str) -> TwilioProvider {
    let mut config = TwilioConfig::new(ACCOUNT, TOKEN)
        .api_base_url(url)
        .from_number(OURS.parse().unwrap());
    config.max_attempts = 1;
    TwilioProvider::new(config).unwrap()
}
