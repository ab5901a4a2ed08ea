//! Outbox and receipt cases: leases, retries, forward-only status, early callbacks.

use super::*;

/// Putting an entry back pushes the later entries to its recipient (not being handled
/// now) back with it, so a recipient's messages never overtake each other; other
/// recipients' entries are not touched.
pub async fn deferral_keeps_a_recipients_order<S: OutboxStore + ?Sized>(s: &S) {
    let other = OutboundMessage::new(
        Address::parse("+15550009999").expect("valid"),
        "c".to_string(),
    );
    let (a, b, c) = (
        MessageId::from_string("msg_ord_a"),
        MessageId::from_string("msg_ord_b"),
        MessageId::from_string("msg_ord_c"),
    );
    s.enqueue_outbound(&a, &outbound("a"), t0()).await.unwrap();
    s.enqueue_outbound(&b, &outbound("b"), t0()).await.unwrap();
    s.enqueue_outbound(&c, &other, t0()).await.unwrap();
    let lease = Duration::from_secs(30);
    let claimed = s.claim_outbound(t0(), lease, 1).await.unwrap();
    assert_eq!(claimed[0].id, a);
    let slot = t0() + Duration::from_secs(10);
    s.defer_outbound(&a, claimed[0].lease, slot).await.unwrap();
    // b (same recipient, later) now waits for the slot too; c does not.
    let now = t0() + Duration::from_secs(1);
    let ids: Vec<_> = s
        .claim_outbound(now, lease, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [c]);
    let ids: Vec<_> = s
        .claim_outbound(slot, lease, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [a, b]);
}

/// The oldest entry still queued is the one metrics age by; sent ones leave the count.
pub async fn oldest_entry_age<S: OutboxStore + ?Sized>(s: &S) {
    assert_eq!(s.outbox_oldest().await.unwrap(), None);
    let (a, b) = (
        MessageId::from_string("msg_a"),
        MessageId::from_string("msg_b"),
    );
    let t1 = t0() + Duration::from_secs(5);
    s.enqueue_outbound(&a, &outbound("a"), t0()).await.unwrap();
    s.enqueue_outbound(&b, &outbound("b"), t1).await.unwrap();
    assert_eq!(s.outbox_oldest().await.unwrap(), Some(t0()));
    let claimed = s
        .claim_outbound(t1, Duration::from_secs(30), 1)
        .await
        .unwrap();
    assert_eq!(claimed[0].id, a);
    let bad = ErrorInfo {
        code: Some(21211),
        message: "invalid To".into(),
        more_info: None,
    };
    s.fail_outbound(&a, claimed[0].lease, &bad, t1)
        .await
        .unwrap();
    assert_eq!(s.outbox_oldest().await.unwrap(), Some(t1));
    assert_eq!(s.outbox_len().await.unwrap(), 1);
}

/// A deferred entry (no rate-limit slot) waits until its time, keeps its place among
/// entries due at the same time, and its claim is not counted as an attempt.
pub async fn deferral_does_not_count_an_attempt<S: OutboxStore + ?Sized>(s: &S) {
    let (a, b) = (
        MessageId::from_string("msg_def_a"),
        MessageId::from_string("msg_def_b"),
    );
    s.enqueue_outbound(&a, &outbound("first"), t0())
        .await
        .unwrap();
    let lease = Duration::from_secs(30);
    let claimed = s.claim_outbound(t0(), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(s.receipt(&a).await.unwrap().unwrap().attempts, 1);
    let slot = t0() + Duration::from_secs(3);
    s.defer_outbound(&a, claimed[0].lease, slot).await.unwrap();
    let r = s.receipt(&a).await.unwrap().unwrap();
    assert_eq!(r.attempts, 0, "a deferral is not an attempt");
    assert_eq!(r.error, None);
    assert_eq!(r.status, DeliveryStatus::Pending);
    // Not due before its slot (and the lease was released, so nothing else holds it).
    assert!(
        s.claim_outbound(slot - Duration::from_millis(1), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A later entry deferred to the same slot comes after it.
    s.enqueue_outbound(&b, &outbound("second"), t0() + Duration::from_secs(1))
        .await
        .unwrap();
    let claimed = s
        .claim_outbound(t0() + Duration::from_secs(1), lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, b);
    s.defer_outbound(&b, claimed[0].lease, slot).await.unwrap();
    let claimed = s.claim_outbound(slot, lease, 10).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids, [a.clone(), b.clone()]);
    assert_eq!(claimed[0].attempts, 0);
    assert_eq!(claimed[0].message, outbound("first"));
    assert_eq!(s.receipt(&a).await.unwrap().unwrap().attempts, 1);
    // After a real failed attempt, a deferral keeps the attempt and the error.
    let busy = ErrorInfo {
        code: Some(20429),
        message: "Too Many Requests".into(),
        more_info: None,
    };
    s.retry_outbound(&a, claimed[0].lease, &busy, slot)
        .await
        .unwrap();
    let claimed = s.claim_outbound(slot, lease, 1).await.unwrap();
    assert_eq!((claimed[0].id.clone(), claimed[0].attempts), (a.clone(), 1));
    s.defer_outbound(&a, claimed[0].lease, slot + Duration::from_secs(1))
        .await
        .unwrap();
    let r = s.receipt(&a).await.unwrap().unwrap();
    assert_eq!(r.attempts, 1);
    assert_eq!(r.error.and_then(|e| e.code), Some(20429));
    assert!(
        s.defer_outbound(&MessageId::from_string("nope"), claimed[0].lease, slot)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// The next due time is the earliest next attempt among entries neither held nor leased:
/// a deferred entry counts from its new time, a claimed one not at all. A later entry has
/// a larger `seq`.
pub async fn next_due_is_the_earliest_claimable_time<S: OutboxStore + ?Sized>(s: &S) {
    assert_eq!(s.next_outbound_due().await.unwrap(), None);
    let (a, b) = (
        MessageId::from_string("msg_due_a"),
        MessageId::from_string("msg_due_b"),
    );
    let t1 = t0() + Duration::from_secs(2);
    s.enqueue_outbound(&a, &outbound("a"), t0()).await.unwrap();
    s.enqueue_outbound(&b, &other_recipient("b"), t1)
        .await
        .unwrap();
    assert_eq!(s.next_outbound_due().await.unwrap(), Some(t0()));
    let lease = Duration::from_secs(30);
    let claimed = s.claim_outbound(t0(), lease, 1).await.unwrap();
    assert_eq!(claimed[0].id, a);
    assert_eq!(
        s.next_outbound_due().await.unwrap(),
        Some(t1),
        "a is leased"
    );
    let slot = t0() + Duration::from_millis(5_250);
    s.defer_outbound(&a, claimed[0].lease, slot).await.unwrap();
    assert_eq!(s.next_outbound_due().await.unwrap(), Some(t1));
    let seq_a = claimed[0].seq;
    let claimed = s.claim_outbound(t1, lease, 10).await.unwrap();
    assert_eq!(claimed[0].id, b);
    assert!(claimed[0].seq > seq_a, "b was enqueued after a");
    assert_eq!(s.next_outbound_due().await.unwrap(), Some(slot));
    s.claim_outbound(slot, lease, 10).await.unwrap();
    assert_eq!(s.next_outbound_due().await.unwrap(), None);
}

fn other_recipient(body: &str) -> OutboundMessage {
    OutboundMessage::new(
        Address::parse("+15550008888").expect("valid"),
        body.to_string(),
    )
}

/// Enqueue, claim, complete, then status callbacks that only move forward.
pub async fn outbound_lifecycle_and_forward_only_status<S: OutboxStore + ?Sized>(s: &S) {
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
    assert!(
        s.claim_outbound(t0(), Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let t1 = t0() + Duration::from_secs(1);
    let r = s
        .complete_outbound(&id, claimed[0].lease, &accepted("SMout1"), t1)
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
pub async fn expired_lease_is_reclaimed<S: OutboxStore + ?Sized>(s: &S) {
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
pub async fn retry_and_permanent_failure<S: OutboxStore + ?Sized>(s: &S) {
    let id = MessageId::from_string("msg_out_retry");
    s.enqueue_outbound(&id, &outbound("x"), t0()).await.unwrap();
    let first = s
        .claim_outbound(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let busy = ErrorInfo {
        code: Some(20429),
        message: "Too Many Requests".into(),
        more_info: None,
    };
    s.retry_outbound(&id, first[0].lease, &busy, t0() + Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        s.claim_outbound(t0() + Duration::from_secs(5), Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
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
        .fail_outbound(&id, again[0].lease, &bad, t0() + Duration::from_secs(11))
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Failed);
    assert_eq!(r.error, Some(bad));
    assert_eq!(r.attempts, 2);
    assert_eq!(s.outbox_len().await.unwrap(), 0);
    assert!(
        s.fail_outbound(&MessageId::from_string("nope"), again[0].lease, &busy, t0())
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// A status callback that beats the send's response is kept and applied later.
pub async fn early_status_is_applied_when_sid_appears<S: OutboxStore + ?Sized>(s: &S) {
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
    let claimed = s
        .claim_outbound(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let r = s
        .complete_outbound(&id, claimed[0].lease, &accepted("SMearly"), t0())
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Undelivered);
    assert_eq!(r.error.as_ref().and_then(|e| e.code), Some(30006));
}

/// A worker whose lease ran out and whose entry another worker claimed cannot record
/// anything on it: completing, failing, retrying or putting it back with the old claim's
/// token is refused with `LeaseLost` and changes nothing; the new claim records normally.
pub async fn stale_lease_is_refused<S: OutboxStore + ?Sized>(s: &S) {
    let id = MessageId::from_string("msg_out_fenced");
    s.enqueue_outbound(&id, &outbound("x"), t0()).await.unwrap();
    let lease = Duration::from_secs(10);
    let old = s.claim_outbound(t0(), lease, 10).await.unwrap().remove(0);
    let later = t0() + Duration::from_secs(11);
    let new = s.claim_outbound(later, lease, 10).await.unwrap().remove(0);
    assert_eq!(new.id, id);
    assert_ne!(new.lease, old.lease, "every claim gets a new token");
    let before = s.receipt(&id).await.unwrap().unwrap();
    let busy = ErrorInfo {
        code: Some(20429),
        message: "Too Many Requests".into(),
        more_info: None,
    };
    let lost = |e: StoreError| {
        assert!(e.is_lease_lost(), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the lease on outbound message msg_out_fenced was lost: another claim now owns it"
        );
    };
    lost(
        s.complete_outbound(&id, old.lease, &accepted("SMstale"), later)
            .await
            .unwrap_err(),
    );
    lost(
        s.fail_outbound(&id, old.lease, &busy, later)
            .await
            .unwrap_err(),
    );
    lost(
        s.retry_outbound(&id, old.lease, &busy, later)
            .await
            .unwrap_err(),
    );
    lost(s.defer_outbound(&id, old.lease, later).await.unwrap_err());
    // Nothing changed: the receipt, the entry and its lease are as the new claim left them.
    assert_eq!(s.receipt(&id).await.unwrap().unwrap(), before);
    assert_eq!(s.outbox_len().await.unwrap(), 1);
    assert!(s.claim_outbound(later, lease, 10).await.unwrap().is_empty());
    assert_eq!(
        s.apply_status(&status("SMstale", DeliveryStatus::Sent), later)
            .await
            .unwrap(),
        StatusOutcome::Unknown
    );
    // The latest claim records; after that, even its own token finds nothing to change.
    let r = s
        .complete_outbound(&id, new.lease, &accepted("SMfresh"), later)
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.provider_sids.clone()),
        (DeliveryStatus::Queued, vec!["SMfresh".to_string()])
    );
    assert_eq!(r.attempts, 2);
    lost(
        s.complete_outbound(&id, new.lease, &accepted("SMfresh"), later)
            .await
            .unwrap_err(),
    );
    assert!(
        s.complete_outbound(
            &MessageId::from_string("nope"),
            new.lease,
            &accepted("SMx"),
            later
        )
        .await
        .unwrap_err()
        .is_not_found()
    );
}

/// A claim whose lease ran out without an outcome is reported on the next claim as
/// interrupted, from when it started; putting the entry back or retrying it keeps that
/// time (the earliest unsettled claim), completing it ends it. Entries whose claims all
/// ended with an outcome are never reported.
pub async fn interrupted_claims_are_reported<S: OutboxStore + ?Sized>(s: &S) {
    let (a, b) = (
        MessageId::from_string("msg_int_a"),
        MessageId::from_string("msg_int_b"),
    );
    s.enqueue_outbound(&a, &outbound("a"), t0()).await.unwrap();
    s.enqueue_outbound(&b, &other_recipient("b"), t0())
        .await
        .unwrap();
    let lease = Duration::from_secs(10);
    let first = s.claim_outbound(t0(), lease, 10).await.unwrap();
    assert_eq!(
        first.iter().map(|i| i.interrupted).collect::<Vec<_>>(),
        [None, None]
    );
    // b's claim ends with a retry: not interrupted.
    let busy = ErrorInfo {
        code: Some(20429),
        message: "Too Many Requests".into(),
        more_info: None,
    };
    let t1 = t0() + Duration::from_secs(1);
    s.retry_outbound(&b, first[1].lease, &busy, t1)
        .await
        .unwrap();
    // a's lease runs out (its worker died mid-send).
    let t11 = t0() + Duration::from_secs(11);
    let second = s.claim_outbound(t11, lease, 10).await.unwrap();
    let by_id = |items: &[crate::store::OutboxItem], id: &MessageId| {
        items
            .iter()
            .find(|i| &i.id == id)
            .cloned()
            .expect("claimed")
    };
    assert_eq!(by_id(&second, &a).interrupted, Some(t0()));
    assert_eq!(by_id(&second, &a).attempts, 1);
    assert_eq!(by_id(&second, &b).interrupted, None);
    // Put back (no slot yet), then that claim is interrupted too: still from t0.
    let t12 = t0() + Duration::from_secs(12);
    s.defer_outbound(&a, by_id(&second, &a).lease, t12)
        .await
        .unwrap();
    let third = s.claim_outbound(t12, lease, 10).await.unwrap();
    assert_eq!(by_id(&third, &a).interrupted, Some(t0()));
    let t30 = t0() + Duration::from_secs(30);
    let fourth = s.claim_outbound(t30, lease, 10).await.unwrap();
    let a4 = by_id(&fourth, &a);
    assert_eq!(a4.interrupted, Some(t0()));
    s.retry_outbound(&a, a4.lease, &busy, t30).await.unwrap();
    let fifth = s.claim_outbound(t30, lease, 10).await.unwrap();
    assert_eq!(
        by_id(&fifth, &a).interrupted,
        Some(t0()),
        "a retry keeps it"
    );
    s.complete_outbound(&a, by_id(&fifth, &a).lease, &accepted("SMint"), t30)
        .await
        .unwrap();
    assert!(s.receipt(&a).await.unwrap().is_some());
}

/// Send slots follow GCRA exactly: a burst at once, then one per interval; a later
/// booking continues after the last slot, or starts at `now` once the sender is idle;
/// senders do not share slots.
pub async fn send_slots_follow_the_rate<S: OutboxStore + ?Sized>(s: &S) {
    use std::num::NonZeroU32;
    let ms = |from: OffsetDateTime, slots: &[OffsetDateTime]| -> Vec<i128> {
        slots
            .iter()
            .map(|t| (*t - from).whole_nanoseconds())
            .collect()
    };
    let short = crate::store::SendRate::new(Duration::from_millis(10), NonZeroU32::new(5).unwrap());
    let now = t0();
    let slots = s.reserve_send_slots("22395", short, 7, now).await.unwrap();
    assert_eq!(ms(now, &slots), [0, 0, 0, 0, 0, 10_000_000, 20_000_000]);
    // 5 ms later: the next free time is 70 ms; with the burst's 40 ms of tolerance, 30 ms.
    let later = now + Duration::from_millis(5);
    let slots = s
        .reserve_send_slots("22395", short, 2, later)
        .await
        .unwrap();
    assert_eq!(ms(now, &slots), [30_000_000, 40_000_000]);
    // A toll-free number (3/s, burst 1) is booked on its own, to the nanosecond.
    let toll_free = crate::store::SendRate::new(Duration::from_nanos(333_333_333), NonZeroU32::MIN);
    let slots = s
        .reserve_send_slots("+18005550100", toll_free, 4, now)
        .await
        .unwrap();
    assert_eq!(ms(now, &slots), [0, 333_333_333, 666_666_666, 999_999_999]);
    let slots = s
        .reserve_send_slots("+18005550100", toll_free, 1, now)
        .await
        .unwrap();
    assert_eq!(ms(now, &slots), [1_333_333_332]);
    // Idle for a while: slots start at `now` again (no credit beyond the burst).
    let idle = now + Duration::from_secs(60);
    let slots = s.reserve_send_slots("22395", short, 6, idle).await.unwrap();
    assert_eq!(ms(idle, &slots), [0, 0, 0, 0, 0, 10_000_000]);
    assert!(
        s.reserve_send_slots("22395", short, 0, idle)
            .await
            .unwrap()
            .is_empty()
    );
}
