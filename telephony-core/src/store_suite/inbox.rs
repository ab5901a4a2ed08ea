//! Inbox cases: de-duplication by provider id, dispatch order, listing.

use super::*;

/// Stores, de-duplicates by provider SID, and round-trips every field.
pub async fn inbound_duplicates_are_recognized<S: InboxStore + ?Sized>(s: &S) {
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

/// A message stored `throttled` is listed with its note, never handed out for dispatch,
/// and a duplicate delivery of it changes nothing.
pub async fn throttled_messages_are_kept_not_queued<S: InboxStore + ?Sized>(s: &S) {
    let a = inbound("SMT1", "+15557654321", "one", 0);
    let b = inbound("SMT2", "+15557654321", "two", 1);
    assert_eq!(s.insert_inbound(&a).await.unwrap(), InsertOutcome::Inserted);
    let note = "over rateLimits.inboundPerSender";
    assert_eq!(
        s.insert_inbound_in_state(&b, InboxState::Throttled, Some(note))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    // A duplicate of a queued message stays queued; one of a throttled stays throttled.
    assert_eq!(
        s.insert_inbound_in_state(&a, InboxState::Throttled, Some(note))
            .await
            .unwrap(),
        InsertOutcome::Duplicate
    );
    assert_eq!(
        s.insert_inbound(&b).await.unwrap(),
        InsertOutcome::Duplicate
    );
    let q = s.queued_inbound(10).await.unwrap();
    let sids: Vec<_> = q.iter().map(|m| m.provider_sid.as_str()).collect();
    assert_eq!(sids, ["SMT1"]);
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (all[0].state, all[0].note.as_deref()),
        (InboxState::Queued, None)
    );
    assert_eq!(all[1].message, b);
    assert_eq!(
        (all[1].state, all[1].note.as_deref()),
        (InboxState::Throttled, Some(note))
    );
    assert_eq!(InboxState::parse("throttled"), Some(InboxState::Throttled));
}

/// Queued messages are handed out oldest first until their state changes.
pub async fn queued_inbound_in_order<S: InboxStore + ?Sized>(s: &S) {
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
pub async fn inbox_since_and_limit<S: InboxStore + ?Sized>(s: &S) {
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
