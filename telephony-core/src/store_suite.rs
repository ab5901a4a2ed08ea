//! The conformance suite every [`Store`] implementation must pass.
//!
//! Backends call [`store_suite_tests!`](crate::store_suite_tests) with an async function
//! that returns a fresh store and a guard (e.g. a temporary directory) to keep alive:
//!
//! ```ignore
//! async fn fresh() -> (MyStore, tempfile::TempDir) { open_my_store().await }
//! telephony_core::store_suite_tests!(fresh);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::address::{Address, Channel};
use crate::message::{
    ErrorInfo, InboundMessage, Media, MessageId, OutboundMessage, ProviderReceipt, StatusUpdate,
};
use crate::status::DeliveryStatus;
use crate::store::{InboxQuery, InboxState, InsertOutcome, StatusOutcome, Store};

/// A fixed instant so expected values are exact (2026-01-02T03:04:05Z).
pub fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_323_045).expect("valid timestamp")
}

/// A sample inbound message with the given provider SID, `secs` seconds after [`t0`].
pub fn inbound(sid: &str, from: &str, body: &str, secs: i64) -> InboundMessage {
    let mut extra = BTreeMap::new();
    extra.insert("FromCity".to_string(), "CHICOPEE".to_string());
    InboundMessage {
        id: MessageId::from_string(format!("msg_in_{sid}")),
        provider_sid: sid.to_string(),
        account_sid: Some("AC00000000000000000000000000000001".into()),
        channel: Channel::Sms,
        from: from.to_string(),
        to: "+15550001234".into(),
        body: body.to_string(),
        media: vec![Media {
            url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(),
            content_type: Some("image/jpeg".into()),
            size: Some(48213),
        }],
        num_segments: Some(1),
        received_at: t0() + Duration::from_secs(secs as u64),
        extra,
    }
}

fn outbound(body: &str) -> OutboundMessage {
    OutboundMessage::new(
        Address::parse("+15550005678").expect("valid"),
        body.to_string(),
    )
    .with_media("https://example.com/a.png")
}

fn accepted(sid: &str) -> ProviderReceipt {
    ProviderReceipt {
        sid: sid.to_string(),
        status: DeliveryStatus::Queued,
        from: Some("+15550001234".into()),
        num_segments: Some(2),
        price: None,
        price_unit: Some("USD".into()),
    }
}

fn status(sid: &str, s: DeliveryStatus) -> StatusUpdate {
    StatusUpdate::new(sid, s)
}

/// Stores, de-duplicates by provider SID, and round-trips every field.
pub async fn inbound_duplicates_are_recognized(s: &dyn Store) {
    let m = inbound("SM001", "+15557654321", "héllo 👋", 0);
    assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
    let mut dup = m.clone();
    dup.id = MessageId::from_string("msg_other");
    dup.body = "changed".into();
    assert_eq!(
        s.insert_inbound(&dup).await.unwrap(),
        InsertOutcome::Duplicate
    );
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].message, m);
    assert_eq!(all[0].state, InboxState::Queued);
    assert_eq!(all[0].note, None);
}

/// Queued messages are handed out oldest first until their state changes.
pub async fn queued_inbound_in_order(s: &dyn Store) {
    for (i, sid) in ["SM1", "SM2", "SM3"].iter().enumerate() {
        s.insert_inbound(&inbound(sid, "+15557654321", sid, i as i64))
            .await
            .unwrap();
    }
    let q = s.queued_inbound(10).await.unwrap();
    let sids: Vec<_> = q.iter().map(|m| m.provider_sid.as_str()).collect();
    assert_eq!(sids, ["SM1", "SM2", "SM3"]);
    s.set_inbound_state(&q[0].id, InboxState::Accepted, None)
        .await
        .unwrap();
    s.set_inbound_state(&q[1].id, InboxState::Blocked, Some("not on allowlist"))
        .await
        .unwrap();
    let q = s.queued_inbound(10).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].provider_sid, "SM3");
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(all[0].state, InboxState::Accepted);
    assert_eq!(all[1].state, InboxState::Blocked);
    assert_eq!(all[1].note.as_deref(), Some("not on allowlist"));
    let err = s
        .set_inbound_state(&MessageId::from_string("nope"), InboxState::Accepted, None)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    // Batched: all or nothing.
    use crate::store::InboxUpdate;
    let sm3 = q[0].id.clone();
    let err = s
        .set_inbound_states(&[
            InboxUpdate {
                id: sm3.clone(),
                state: InboxState::Dropped,
                note: Some("x".into()),
            },
            InboxUpdate {
                id: MessageId::from_string("nope"),
                state: InboxState::Accepted,
                note: None,
            },
        ])
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        s.queued_inbound(10).await.unwrap().len(),
        1,
        "nothing changed"
    );
    s.set_inbound_states(&[InboxUpdate {
        id: sm3,
        state: InboxState::Failed,
        note: Some("handler error: boom".into()),
    }])
    .await
    .unwrap();
    assert!(s.queued_inbound(10).await.unwrap().is_empty());
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(all[2].state, InboxState::Failed);
    assert_eq!(all[2].note.as_deref(), Some("handler error: boom"));
}

/// `since` and `limit` filter the inbox; the newest entries are kept under a limit.
pub async fn inbox_since_and_limit(s: &dyn Store) {
    for i in 0..5 {
        s.insert_inbound(&inbound(&format!("SM{i}"), "+15557654321", "x", i * 60))
            .await
            .unwrap();
    }
    let since = s
        .inbox(&InboxQuery {
            since: Some(t0() + Duration::from_secs(120)),
            limit: 0,
        })
        .await
        .unwrap();
    let sids: Vec<_> = since
        .iter()
        .map(|e| e.message.provider_sid.clone())
        .collect();
    assert_eq!(sids, ["SM2", "SM3", "SM4"]);
    let limited = s
        .inbox(&InboxQuery {
            since: None,
            limit: 2,
        })
        .await
        .unwrap();
    let sids: Vec<_> = limited
        .iter()
        .map(|e| e.message.provider_sid.clone())
        .collect();
    assert_eq!(sids, ["SM3", "SM4"]);
}

/// Enqueue, claim, complete, then status callbacks that only move forward.
pub async fn outbound_lifecycle_and_forward_only_status(s: &dyn Store) {
    let id = MessageId::from_string("msg_out_1");
    let r = s
        .enqueue_outbound(&id, &outbound("hi"), t0())
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Pending);
    assert_eq!(s.outbox_len().await.unwrap(), 1);

    let claimed = s
        .claim_outbound(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert_eq!(claimed[0].attempts, 0);
    assert_eq!(claimed[0].message, outbound("hi"));
    // Leased: a second worker gets nothing.
    assert!(s
        .claim_outbound(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap()
        .is_empty());

    let t1 = t0() + Duration::from_secs(1);
    let r = s
        .complete_outbound(&id, &accepted("SMout1"), t1)
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Queued);
    assert_eq!(r.provider_sids, ["SMout1"]);
    assert_eq!(r.segments, Some(2));
    assert_eq!(r.attempts, 1);
    assert_eq!(r.from.as_deref(), Some("+15550001234"));
    assert_eq!(s.outbox_len().await.unwrap(), 0);

    let t2 = t0() + Duration::from_secs(2);
    assert!(matches!(
        s.apply_status(&status("SMout1", DeliveryStatus::Sent), t2).await.unwrap(),
        StatusOutcome::Applied(ref r) if r.status == DeliveryStatus::Sent
    ));
    assert!(matches!(
        s.apply_status(&status("SMout1", DeliveryStatus::Delivered), t2).await.unwrap(),
        StatusOutcome::Applied(ref r) if r.status == DeliveryStatus::Delivered
    ));
    // A late `sent` never overwrites `delivered`.
    match s
        .apply_status(&status("SMout1", DeliveryStatus::Sent), t2)
        .await
        .unwrap()
    {
        StatusOutcome::Stale(r) => assert_eq!(r.status, DeliveryStatus::Delivered),
        other => panic!("expected Stale, got {other:?}"),
    }
    let r = s.receipt(&id).await.unwrap().unwrap();
    let hist: Vec<_> = r.history.iter().map(|h| h.status).collect();
    assert_eq!(
        hist,
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered
        ]
    );
    assert_eq!(r.history[3].provider_sid.as_deref(), Some("SMout1"));
    assert_eq!(r.history[3].at, t2);
    assert_eq!(r.created_at, t0());
    assert_eq!(r.media_urls, ["https://example.com/a.png"]);
    assert_eq!(
        s.receipt(&MessageId::from_string("nope")).await.unwrap(),
        None
    );
}

/// A worker that dies loses its lease and the entry is claimed again.
pub async fn expired_lease_is_reclaimed(s: &dyn Store) {
    let id = MessageId::from_string("msg_out_lease");
    s.enqueue_outbound(&id, &outbound("x"), t0()).await.unwrap();
    let a = s
        .claim_outbound(t0(), Duration::from_secs(1), 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    let later = t0() + Duration::from_secs(2);
    let b = s
        .claim_outbound(later, Duration::from_secs(1), 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].attempts, 1);
}

/// Retryable failures wait until `next_attempt`; permanent ones fail the receipt.
pub async fn retry_and_permanent_failure(s: &dyn Store) {
    let id = MessageId::from_string("msg_out_retry");
    s.enqueue_outbound(&id, &outbound("x"), t0()).await.unwrap();
    s.claim_outbound(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let busy = ErrorInfo {
        code: Some(20429),
        message: "Too Many Requests".into(),
        more_info: None,
    };
    s.retry_outbound(&id, &busy, t0() + Duration::from_secs(10))
        .await
        .unwrap();
    assert!(s
        .claim_outbound(t0() + Duration::from_secs(5), Duration::from_secs(30), 10)
        .await
        .unwrap()
        .is_empty());
    let again = s
        .claim_outbound(t0() + Duration::from_secs(10), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    let r = s.receipt(&id).await.unwrap().unwrap();
    assert_eq!(r.status, DeliveryStatus::Pending);
    assert_eq!(r.error.as_ref().and_then(|e| e.code), Some(20429));

    let bad = ErrorInfo {
        code: Some(21211),
        message: "The 'To' number 5551234567 is not a valid phone number.".into(),
        more_info: Some("https://www.twilio.com/docs/errors/21211".into()),
    };
    let r = s
        .fail_outbound(&id, &bad, t0() + Duration::from_secs(11))
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Failed);
    assert_eq!(r.error, Some(bad));
    assert_eq!(r.attempts, 2);
    assert_eq!(s.outbox_len().await.unwrap(), 0);
    assert!(s
        .fail_outbound(&MessageId::from_string("nope"), &busy, t0())
        .await
        .unwrap_err()
        .is_not_found());
}

/// A status callback that beats the send's response is kept and applied later.
pub async fn early_status_is_applied_when_sid_appears(s: &dyn Store) {
    assert_eq!(
        s.apply_status(&status("SMearly", DeliveryStatus::Sent), t0())
            .await
            .unwrap(),
        StatusOutcome::Unknown
    );
    let mut failed = status("SMearly", DeliveryStatus::Undelivered);
    failed.error_code = Some(30006);
    s.apply_status(&failed, t0()).await.unwrap();
    let id = MessageId::from_string("msg_out_early");
    s.enqueue_outbound(&id, &outbound("x"), t0()).await.unwrap();
    s.claim_outbound(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let r = s
        .complete_outbound(&id, &accepted("SMearly"), t0())
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Undelivered);
    assert_eq!(r.error.as_ref().and_then(|e| e.code), Some(30006));
}

fn num(s: &str) -> crate::PhoneNumber {
    crate::PhoneNumber::parse(s).expect("valid")
}

/// Pairing: one request per sender, the pending cap, the hourly cap, expiry, approve/reject.
pub async fn pairing_lifecycle(s: &dyn Store) {
    use crate::pairing::{PairingLimits, PairingOutcome, PairingResolution, PairingStatus};
    let limits = PairingLimits::default();
    let a = num("+15550000001");
    let created = match s
        .pairing_request(&a, "AAAAAAAA", &limits, t0())
        .await
        .unwrap()
    {
        PairingOutcome::Created(r) => r,
        other => panic!("expected Created, got {other:?}"),
    };
    assert_eq!(created.code, "AAAAAAAA");
    assert_eq!(created.sender, a);
    assert_eq!(created.status, PairingStatus::Pending);
    assert_eq!(created.created_at, t0());
    assert_eq!(created.expires_at, t0() + Duration::from_secs(3600));
    // The same sender keeps its code.
    let again = s
        .pairing_request(&a, "ZZZZZZZZ", &limits, t0() + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again, PairingOutcome::Existing(created.clone()));
    for (i, code) in ["BBBBBBBB", "CCCCCCCC"].iter().enumerate() {
        let n = num(&format!("+1555000001{i}"));
        assert!(matches!(
            s.pairing_request(&n, code, &limits, t0()).await.unwrap(),
            PairingOutcome::Created(_)
        ));
    }
    // A fourth unknown sender: capped.
    assert_eq!(
        s.pairing_request(&num("+15550000099"), "DDDDDDDD", &limits, t0())
            .await
            .unwrap(),
        PairingOutcome::Limited
    );
    let pending = s.pending_pairings(t0()).await.unwrap();
    let codes: Vec<&str> = pending.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC"]);

    // Approve, reject, unknown, already resolved.
    let approved = s.resolve_pairing("AAAAAAAA", true, t0()).await.unwrap();
    match approved {
        PairingResolution::Resolved(r) => {
            assert_eq!(r.status, PairingStatus::Approved);
            assert_eq!(r.sender, a);
        }
        other => panic!("expected Resolved, got {other:?}"),
    }
    assert!(s.is_approved_sender(&a).await.unwrap());
    assert!(matches!(
        s.resolve_pairing("AAAAAAAA", true, t0()).await.unwrap(),
        PairingResolution::AlreadyResolved(_)
    ));
    assert!(matches!(
        s.resolve_pairing("BBBBBBBB", false, t0()).await.unwrap(),
        PairingResolution::Resolved(ref r) if r.status == PairingStatus::Rejected
    ));
    assert!(!s.is_approved_sender(&num("+15550000010")).await.unwrap());
    assert_eq!(
        s.resolve_pairing("NOPE2345", true, t0()).await.unwrap(),
        PairingResolution::NotFound
    );
    // Two pending slots are free now, but three were created this hour: still capped.
    assert_eq!(
        s.pairing_request(
            &num("+15550000099"),
            "DDDDDDDD",
            &limits,
            t0() + Duration::from_secs(600)
        )
        .await
        .unwrap(),
        PairingOutcome::Limited
    );
    // After the hour, the old pending one has expired and cannot be approved.
    let later = t0() + Duration::from_secs(3601);
    assert!(s.pending_pairings(later).await.unwrap().is_empty());
    assert!(matches!(
        s.resolve_pairing("CCCCCCCC", true, later).await.unwrap(),
        PairingResolution::Expired(ref r) if r.status == PairingStatus::Expired
    ));
    assert!(matches!(
        s.pairing_request(&num("+15550000099"), "EEEEEEEE", &limits, later)
            .await
            .unwrap(),
        PairingOutcome::Created(_)
    ));
}

/// Opt-outs are recorded and cleared.
pub async fn opt_out_and_in(s: &dyn Store) {
    let n = num("+15550000001");
    assert!(!s.is_opted_out(&n).await.unwrap());
    s.set_opted_out(&n, true, t0()).await.unwrap();
    s.set_opted_out(&n, true, t0()).await.unwrap();
    assert!(s.is_opted_out(&n).await.unwrap());
    assert!(!s.is_opted_out(&num("+15550000002")).await.unwrap());
    s.set_opted_out(&n, false, t0()).await.unwrap();
    assert!(!s.is_opted_out(&n).await.unwrap());
}

/// Known contacts, held sends, and their release on approval.
pub async fn contacts_and_held_sends(s: &dyn Store) {
    let n = num("+15557654321");
    assert!(!s.is_known_contact(&n).await.unwrap());
    s.insert_inbound(&inbound("SMk", "+15557654321", "hi", 0))
        .await
        .unwrap();
    assert!(s.is_known_contact(&n).await.unwrap());
    s.insert_inbound(&inbound("SMw", "whatsapp:+15550000002", "hi", 0))
        .await
        .unwrap();
    assert!(s.is_known_contact(&num("+15550000002")).await.unwrap());

    let stranger = num("+15550000003");
    let id = MessageId::from_string("msg_held");
    let msg = OutboundMessage::new(Address::sms(stranger.clone()), "first contact");
    let r = s.enqueue_outbound_held(&id, &msg, t0()).await.unwrap();
    assert_eq!(r.status, DeliveryStatus::Pending);
    assert_eq!(s.outbox_len().await.unwrap(), 1);
    assert!(s
        .claim_outbound(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap()
        .is_empty());
    let held: Vec<MessageId> = s
        .held_outbound()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(held, std::slice::from_ref(&id));
    let later = t0() + Duration::from_secs(5);
    assert_eq!(
        s.approve_contact(&stranger, later).await.unwrap(),
        std::slice::from_ref(&id)
    );
    assert!(s.is_known_contact(&stranger).await.unwrap());
    assert!(s.held_outbound().await.unwrap().is_empty());
    let claimed = s
        .claim_outbound(later, Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert!(s
        .approve_contact(&stranger, later)
        .await
        .unwrap()
        .is_empty());
}

/// Daily counts and the send log.
pub async fn send_log_and_counts(s: &dyn Store) {
    for (i, secs) in [0u64, 10, 20].iter().enumerate() {
        s.enqueue_outbound(
            &MessageId::from_string(format!("msg_log_{i}")),
            &outbound(&format!("m{i}")),
            t0() + Duration::from_secs(*secs),
        )
        .await
        .unwrap();
    }
    assert_eq!(s.count_outbound_since(t0()).await.unwrap(), 3);
    assert_eq!(
        s.count_outbound_since(t0() + Duration::from_secs(10))
            .await
            .unwrap(),
        2
    );
    let all: Vec<String> = s
        .receipts(None, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(all, ["m0", "m1", "m2"]);
    let last: Vec<String> = s
        .receipts(Some(t0() + Duration::from_secs(10)), 1)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(last, ["m2"]);
}

/// Forward events: claim, retry with error, complete, stats.
pub async fn forward_queue(s: &dyn Store) {
    use crate::store::{ForwardEvent, ForwardStats};
    let ev = |id: &str| ForwardEvent {
        id: id.to_string(),
        kind: "message.received".into(),
        payload: serde_json::json!({"id": id, "body": "héllo"}),
        created_at: t0(),
        attempts: 0,
        last_error: None,
    };
    s.enqueue_forward(&ev("evt_1")).await.unwrap();
    s.enqueue_forward(&ev("evt_2")).await.unwrap();
    s.enqueue_forward(&ev("evt_1")).await.unwrap();
    let c = s
        .claim_forwards(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(c, [ev("evt_1"), ev("evt_2")]);
    assert!(s
        .claim_forwards(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap()
        .is_empty());
    s.retry_forward(
        "evt_1",
        "HTTP 500 from receiver",
        t0() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    s.complete_forward("evt_2", t0()).await.unwrap();
    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 1,
            failing: 1,
            delivered: 1,
            last_error: Some("HTTP 500 from receiver".into())
        }
    );
    assert!(s
        .claim_forwards(t0() + Duration::from_secs(4), Duration::from_secs(30), 10)
        .await
        .unwrap()
        .is_empty());
    let c = s
        .claim_forwards(t0() + Duration::from_secs(5), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].attempts, 1);
    assert_eq!(c[0].last_error.as_deref(), Some("HTTP 500 from receiver"));
    s.complete_forward("evt_1", t0()).await.unwrap();
    let st = s.forward_stats().await.unwrap();
    assert_eq!(
        (st.pending, st.failing, st.delivered, st.last_error),
        (0, 0, 2, None)
    );
    assert!(s
        .complete_forward("evt_nope", t0())
        .await
        .unwrap_err()
        .is_not_found());
}

/// Generates one `#[tokio::test]` per suite case for a backend.
///
/// `$fresh` is an async fn returning `(store, guard)`; the guard is kept alive for the test.
#[macro_export]
macro_rules! store_suite_tests {
    ($fresh:path) => {
        $crate::store_suite_tests!(@case $fresh, inbound_duplicates_are_recognized);
        $crate::store_suite_tests!(@case $fresh, queued_inbound_in_order);
        $crate::store_suite_tests!(@case $fresh, inbox_since_and_limit);
        $crate::store_suite_tests!(@case $fresh, outbound_lifecycle_and_forward_only_status);
        $crate::store_suite_tests!(@case $fresh, expired_lease_is_reclaimed);
        $crate::store_suite_tests!(@case $fresh, retry_and_permanent_failure);
        $crate::store_suite_tests!(@case $fresh, early_status_is_applied_when_sid_appears);
        $crate::store_suite_tests!(@case $fresh, pairing_lifecycle);
        $crate::store_suite_tests!(@case $fresh, opt_out_and_in);
        $crate::store_suite_tests!(@case $fresh, contacts_and_held_sends);
        $crate::store_suite_tests!(@case $fresh, send_log_and_counts);
        $crate::store_suite_tests!(@case $fresh, forward_queue);
    };
    (@case $fresh:path, $name:ident) => {
        #[tokio::test]
        async fn $name() {
            let (store, _guard) = $fresh().await;
            $crate::store_suite::$name(&store).await;
        }
    };
}

#[cfg(test)]
mod memory_store {
    async fn fresh() -> (crate::MemoryStore, ()) {
        (crate::MemoryStore::new(), ())
    }
    crate::store_suite_tests!(fresh);
}
