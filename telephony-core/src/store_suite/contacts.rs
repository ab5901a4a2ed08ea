//! Outbound safety cases: first-contact holds, the send log and daily counts.

use super::*;

/// Known contacts, held sends, and their release on approval.
pub async fn contacts_and_held_sends<S: InboxStore + OutboxStore + ContactStore + ?Sized>(s: &S) {
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
    assert!(
        s.claim_outbound(t0(), Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
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
    assert!(
        s.approve_contact(&stranger, later)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Daily counts and the send log.
pub async fn send_log_and_counts<S: OutboxStore + ContactStore + ?Sized>(s: &S) {
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

/// Capped sends: all parts or none, refused past the cap, held parts held.
pub async fn capped_enqueue<S: OutboxStore + ContactStore + ?Sized>(s: &S) {
    s.enqueue_outbound(
        &MessageId::from_string("msg_cap_old"),
        &outbound("yesterday"),
        t0(),
    )
    .await
    .unwrap();
    let day = t0() + Duration::from_secs(60);
    let cap = SendCap { since: day, max: 3 };
    let part = |i: usize| {
        (
            MessageId::from_string(format!("msg_cap_{i}")),
            outbound(&format!("part {i}")),
        )
    };
    let two = [part(0), part(1)];
    match s
        .enqueue_outbound_capped(&two, false, Some(cap), day)
        .await
        .unwrap()
    {
        CappedEnqueue::Queued(receipts) => {
            let ids: Vec<&str> = receipts.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, ["msg_cap_0", "msg_cap_1"]);
            assert!(receipts.iter().all(|r| r.status == DeliveryStatus::Pending));
        }
        other => panic!("expected the parts queued, got {other:?}"),
    }
    // Two more would make 4 of 3 (the send before `since` does not count): none is queued.
    let over = [part(2), part(3)];
    assert_eq!(
        s.enqueue_outbound_capped(&over, false, Some(cap), day)
            .await
            .unwrap(),
        CappedEnqueue::OverCap { sent: 2 }
    );
    assert!(
        s.receipt(&MessageId::from_string("msg_cap_2"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.outbox_len().await.unwrap(), 3);
    // One more fits exactly; held, so it is not claimable.
    let last = [part(4)];
    assert!(matches!(
        s.enqueue_outbound_capped(&last, true, Some(cap), day).await.unwrap(),
        CappedEnqueue::Queued(r) if r.len() == 1
    ));
    let held: Vec<String> = s
        .held_outbound()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.as_str().to_string())
        .collect();
    assert_eq!(held, ["msg_cap_4"]);
    // Without a cap nothing is counted.
    assert!(matches!(
        s.enqueue_outbound_capped(&[part(5)], false, None, day).await.unwrap(),
        CappedEnqueue::Queued(r) if r.len() == 1
    ));
    assert_eq!(s.count_outbound_since(day).await.unwrap(), 4);
}
