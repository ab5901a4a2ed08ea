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
