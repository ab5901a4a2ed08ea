//! The latency and size histograms of `/metrics` for a known workload: every inbound
//! group commit (with its batch size), every call answer, every provider request (by
//! operation and outcome) and every outbox wait is one observation, so counts (and
//! sizes, which do not depend on the machine's speed) are exact.

use std::sync::Arc;
use std::time::Duration;

use telephony_core::store::prelude::*;
use telephony_core::{AllowList, InboundPolicy, MemoryStore, StubProvider};
use telephony_serve::{Gateway, VoiceSettings};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};

use crate::support::{ACCOUNT, FORM, OURS, TOKEN, oneshot, post, sms};
use crate::voice::{FRIEND, PUBLIC, ring};

/// The rendered lines of `family` (its `_bucket`, `_sum` and `_count` series).
fn lines(gw: &Gateway, family: &str) -> Vec<String> {
    gw.metrics()
        .render(&[])
        .lines()
        .filter(|l| l.starts_with(family))
        .map(str::to_string)
        .collect()
}

/// The one line of `family`'s series `series` (`_count{…}` or `_bucket{…}`), or "".
fn line(gw: &Gateway, series: &str) -> String {
    lines(gw, series)
        .into_iter()
        .find(|l| l.starts_with(&format!("{series} ")) || l.starts_with(series))
        .unwrap_or_default()
}

/// Three messages and a repeat of one, posted one after another, are four group commits
/// of one message each; a ringing call is one answer.
#[tokio::test]
async fn inbound_commits_and_call_answers_are_timed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("telephony.db"))
        .await
        .unwrap();
    let cfg = TwilioConfig::new(ACCOUNT, TOKEN).from_number(OURS.parse().unwrap());
    let gw = Gateway::builder(
        Arc::new(TwilioProvider::new(cfg).unwrap()),
        Arc::new(store.clone()),
    )
    .public_url(PUBLIC)
    .inbound_policy(
        InboundPolicy::Pairing,
        AllowList::parse(&[FRIEND.to_string()]).unwrap(),
    )
    .voice(VoiceSettings::enabled())
    .build();
    let url = format!("{PUBLIC}/telephony/webhook");
    for sid in [
        "SM00000000000000000000000000000001",
        "SM00000000000000000000000000000002",
        "SM00000000000000000000000000000003",
        "SM00000000000000000000000000000001",
    ] {
        let (body, sig) = sms(sid, "hi").signed(TOKEN, &url);
        let r = oneshot(
            gw.router(),
            post("/telephony/webhook", FORM, Some(&sig), body),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(store.inbox(&Default::default()).await.unwrap().len(), 3);

    let mut sizes: Vec<String> = [
        "1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024", "+Inf",
    ]
    .iter()
    .map(|le| format!("telephony_store_commit_batch_size_bucket{{le=\"{le}\"}} 4"))
    .collect();
    sizes.push("telephony_store_commit_batch_size_sum 4".into());
    sizes.push("telephony_store_commit_batch_size_count 4".into());
    assert_eq!(lines(&gw, "telephony_store_commit_batch_size"), sizes);
    assert_eq!(
        line(
            &gw,
            "telephony_store_commit_duration_seconds_count{outcome=\"committed\"}"
        ),
        "telephony_store_commit_duration_seconds_count{outcome=\"committed\"} 4"
    );
    assert_eq!(
        line(
            &gw,
            "telephony_store_commit_duration_seconds_bucket{outcome=\"committed\",le=\"+Inf\"}"
        ),
        "telephony_store_commit_duration_seconds_bucket{outcome=\"committed\",le=\"+Inf\"} 4"
    );
    // Nothing rolled back: no such series.
    assert!(
        lines(&gw, "telephony_store_commit_duration_seconds")
            .iter()
            .all(|l| !l.contains("rolled_back")),
    );
    // 15 latency buckets, +Inf, sum and count.
    assert_eq!(
        lines(&gw, "telephony_store_commit_duration_seconds").len(),
        18
    );

    assert!(lines(&gw, "telephony_voice_answer_duration_seconds").is_empty());
    ring(&gw, "CA00000000000000000000000000000001", FRIEND).await;
    let answers = lines(&gw, "telephony_voice_answer_duration_seconds");
    assert_eq!(answers.len(), 18, "{answers:?}");
    assert_eq!(
        answers.last().unwrap(),
        "telephony_voice_answer_duration_seconds_count{provider=\"twilio\",event=\"incoming\"} 1"
    );
    store.close().await;
}

/// Waits (up to 30 s) until the outbox is empty.
async fn drained(store: &MemoryStore) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while store.outbox_len().await.unwrap() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the outbox drains within 30 s");
}

/// Two sends accepted, one refused and a hang-up the provider cannot do: one provider
/// request each, by operation and outcome; each message's first attempt is one outbox
/// wait.
#[tokio::test]
async fn provider_requests_and_outbox_waits_are_timed() {
    let ok_store = Arc::new(MemoryStore::new());
    let ok = Gateway::builder(Arc::new(StubProvider::new_ok()), ok_store.clone()).build();
    let refused_store = Arc::new(MemoryStore::new());
    let refused = Gateway::builder(
        Arc::new(StubProvider::new_error(
            400,
            21211,
            "The 'To' number +15550005678 is not a valid phone number.",
        )),
        refused_store.clone(),
    )
    .build();
    ok.send("+15550005678", "one").await.unwrap();
    ok.send("+15550005678", "two").await.unwrap();
    refused.send("+15550005678", "three").await.unwrap();
    assert!(lines(&ok, "telephony_outbox_wait_seconds").is_empty());
    let workers = (ok.spawn_workers(), refused.spawn_workers());
    drained(&ok_store).await;
    drained(&refused_store).await;
    workers.0.shutdown().await;
    workers.1.shutdown().await;
    assert!(
        ok.hang_up("CA00000000000000000000000000000001")
            .await
            .is_err()
    );

    let counts = |gw: &Gateway| -> Vec<String> {
        lines(gw, "telephony_provider_request_duration_seconds_count")
    };
    assert_eq!(
        counts(&ok),
        [
            "telephony_provider_request_duration_seconds_count{provider=\"stub\",operation=\"hang_up\",outcome=\"error\"} 1",
            "telephony_provider_request_duration_seconds_count{provider=\"stub\",operation=\"send\",outcome=\"ok\"} 2",
        ]
    );
    assert_eq!(
        counts(&refused),
        [
            "telephony_provider_request_duration_seconds_count{provider=\"stub\",operation=\"send\",outcome=\"error\"} 1"
        ]
    );
    assert_eq!(
        line(&ok, "telephony_outbox_wait_seconds_count"),
        "telephony_outbox_wait_seconds_count 2"
    );
    assert_eq!(
        line(&refused, "telephony_outbox_wait_seconds_count"),
        "telephony_outbox_wait_seconds_count 1"
    );
}
