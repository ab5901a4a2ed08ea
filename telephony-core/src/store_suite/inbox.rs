//! Inbox cases: de-duplication by provider id, dispatch order, listing.

use std::sync::Arc;

use super::*;
use crate::store::{ClaimedInbound, DispatchOutcome, DispatchResult, FailedInbound};

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

/// A message stored decided with its forward event: both are stored, the message is never
/// handed out for dispatch, the event is due at once; a duplicate stores neither (its
/// event, under another id, is not queued).
pub async fn forwarded_messages_are_stored_with_their_event<
    S: InboxStore + ForwardStore + ?Sized,
>(
    s: &S,
) {
    use crate::store::ForwardEvent;
    let ev = |id: &str, body: &str| ForwardEvent {
        id: id.to_string(),
        kind: "message.received".into(),
        payload: serde_json::json!({"id": id, "type": "message.received", "data": {"body": body}}),
        created_at: t0(),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    let a = inbound("SMF1", "+15557654321", "first", 0);
    assert_eq!(
        s.insert_inbound_forwarded(&a, InboxState::Accepted, &ev("evt_a", "first"))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    let mut dup = a.clone();
    dup.id = MessageId::from_string("msg_dup");
    assert_eq!(
        s.insert_inbound_forwarded(&dup, InboxState::Accepted, &ev("evt_dup", "first"))
            .await
            .unwrap(),
        InsertOutcome::Duplicate
    );
    assert!(s.queued_inbound(10).await.unwrap().is_empty());
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (&all[0].message, all[0].state, all[0].note.as_deref()),
        (&a, InboxState::Accepted, None)
    );
    let claimed = s
        .claim_forwards(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let events: Vec<_> = claimed.iter().map(|c| c.event.clone()).collect();
    assert_eq!(events, [ev("evt_a", "first")]);
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

fn done(c: &ClaimedInbound, state: InboxState, note: Option<&str>) -> DispatchOutcome {
    DispatchOutcome {
        id: c.message.id.clone(),
        lease: c.lease,
        result: DispatchResult::Done {
            state,
            note: note.map(str::to_string),
        },
    }
}

fn sids(claimed: &[ClaimedInbound]) -> Vec<(&str, u32)> {
    claimed
        .iter()
        .map(|c| (c.message.provider_sid.as_str(), c.attempts))
        .collect()
}

const LEASE: Duration = Duration::from_secs(30);

/// Claims hand out queued messages oldest first under one token, lease them, and count an
/// attempt; outcomes move them to their state, or back to `queued` with a retry time.
pub async fn claims_lease_and_record_outcomes<S: InboxStore + ?Sized>(s: &S) {
    let (alice, bob) = ("+15557654321", "+15557650000");
    for (i, (sid, from)) in [("SMa1", alice), ("SMb1", bob), ("SMa2", alice)]
        .into_iter()
        .enumerate()
    {
        s.insert_inbound(&inbound(sid, from, sid, i as i64))
            .await
            .unwrap();
    }
    let now = t0() + Duration::from_secs(10);
    let c = s.claim_inbound(now, LEASE, 10).await.unwrap();
    assert_eq!(sids(&c), [("SMa1", 0), ("SMb1", 0), ("SMa2", 0)]);
    assert_eq!(c[0].message, inbound("SMa1", alice, "SMa1", 0));
    assert!(
        c.iter().all(|x| x.lease == c[0].lease),
        "one token per claim"
    );
    assert!(s.claim_inbound(now, LEASE, 10).await.unwrap().is_empty());
    // Still `queued` while leased.
    assert_eq!(s.queued_inbound(10).await.unwrap().len(), 3);

    let lost = s
        .record_dispatch(&[
            done(&c[0], InboxState::Accepted, None),
            done(&c[1], InboxState::Blocked, Some("not on allowlist")),
            DispatchOutcome {
                id: c[2].message.id.clone(),
                lease: c[2].lease,
                result: DispatchResult::Retry {
                    error: "handler error: database is down".into(),
                    at: now + Duration::from_secs(2),
                },
            },
        ])
        .await
        .unwrap();
    assert!(lost.is_empty());
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    let states: Vec<_> = all
        .iter()
        .map(|e| (e.message.provider_sid.as_str(), e.state, e.note.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            ("SMa1", InboxState::Accepted, None),
            ("SMb1", InboxState::Blocked, Some("not on allowlist")),
            (
                "SMa2",
                InboxState::Queued,
                Some("handler error: database is down")
            ),
        ]
    );
    // Not due before its retry time; then claimed with the attempt counted.
    let early = now + Duration::from_millis(1999);
    assert!(s.claim_inbound(early, LEASE, 10).await.unwrap().is_empty());
    let again = s
        .claim_inbound(now + Duration::from_secs(2), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(sids(&again), [("SMa2", 1)]);
    assert_ne!(again[0].lease, c[0].lease, "a new claim has a new token");
}

/// A sender's later messages are not claimed while an earlier one is leased or waiting
/// for its retry; other senders go on. Released messages keep their attempt count.
pub async fn sender_order_holds_across_a_retry<S: InboxStore + ?Sized>(s: &S) {
    let (alice, bob) = ("+15557654321", "+15557650000");
    for (i, (sid, from)) in [
        ("SMa1", alice),
        ("SMa2", alice),
        ("SMb1", bob),
        ("SMa3", alice),
    ]
    .into_iter()
    .enumerate()
    {
        s.insert_inbound(&inbound(sid, from, sid, i as i64))
            .await
            .unwrap();
    }
    let now = t0() + Duration::from_secs(10);
    let first = s.claim_inbound(now, LEASE, 1).await.unwrap();
    assert_eq!(sids(&first), [("SMa1", 0)]);
    // SMa1 is leased: alice's later messages wait, bob's goes.
    let second = s.claim_inbound(now, LEASE, 10).await.unwrap();
    assert_eq!(sids(&second), [("SMb1", 0)]);
    s.record_dispatch(&[DispatchOutcome {
        id: first[0].message.id.clone(),
        lease: first[0].lease,
        result: DispatchResult::Retry {
            error: "handler error: try later".into(),
            at: now + Duration::from_secs(5),
        },
    }])
    .await
    .unwrap();
    // Waiting for its retry, SMa1 still holds alice's lane, also for a newer message.
    s.insert_inbound(&inbound("SMa4", alice, "SMa4", 4))
        .await
        .unwrap();
    assert!(
        s.claim_inbound(now + Duration::from_secs(4), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let lane = s
        .claim_inbound(now + Duration::from_secs(5), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(
        sids(&lane),
        [("SMa1", 1), ("SMa2", 0), ("SMa3", 0), ("SMa4", 0)]
    );
    // SMa1 fails again: the worker releases the rest of the lane untried.
    let at = now + Duration::from_secs(7);
    let mut outcomes = vec![DispatchOutcome {
        id: lane[0].message.id.clone(),
        lease: lane[0].lease,
        result: DispatchResult::Retry {
            error: "handler error: still down".into(),
            at,
        },
    }];
    outcomes.extend(lane[1..].iter().map(|c| DispatchOutcome {
        id: c.message.id.clone(),
        lease: c.lease,
        result: DispatchResult::Release,
    }));
    assert!(s.record_dispatch(&outcomes).await.unwrap().is_empty());
    assert!(
        s.claim_inbound(now + Duration::from_secs(6), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let lane = s.claim_inbound(at, LEASE, 10).await.unwrap();
    assert_eq!(
        sids(&lane),
        [("SMa1", 2), ("SMa2", 0), ("SMa3", 0), ("SMa4", 0)],
        "released messages did not count an attempt"
    );
}

/// A claim whose lease ran out is claimed again (attempt counted), and the first claim's
/// late outcome changes nothing; unknown or finished messages are reported, not errors.
pub async fn expired_inbound_lease_is_reclaimed_and_fenced<S: InboxStore + ?Sized>(s: &S) {
    let alice = "+15557654321";
    s.insert_inbound(&inbound("SMx1", alice, "one", 0))
        .await
        .unwrap();
    s.insert_inbound(&inbound("SMx2", alice, "two", 1))
        .await
        .unwrap();
    let old = s.claim_inbound(t0(), LEASE, 1).await.unwrap();
    assert_eq!(sids(&old), [("SMx1", 0)]);
    assert!(
        s.claim_inbound(t0() + Duration::from_secs(29), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let new = s.claim_inbound(t0() + LEASE, LEASE, 10).await.unwrap();
    assert_eq!(sids(&new), [("SMx1", 1), ("SMx2", 0)]);
    // The old holder's outcome is fenced out.
    let id = old[0].message.id.clone();
    let lost = s
        .record_dispatch(&[done(&old[0], InboxState::Failed, Some("late"))])
        .await
        .unwrap();
    assert_eq!(lost, std::slice::from_ref(&id));
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    assert_eq!(
        (all[0].state, all[0].note.as_deref()),
        (InboxState::Queued, None)
    );
    // The new holder's counts; a second outcome for it, or one for an unknown id, does not.
    let unknown = DispatchOutcome {
        id: MessageId::from_string("msg_nope"),
        lease: new[0].lease,
        result: DispatchResult::Release,
    };
    let lost = s
        .record_dispatch(&[
            done(&new[0], InboxState::Accepted, None),
            done(&new[1], InboxState::Accepted, None),
            unknown.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(lost, std::slice::from_ref(&unknown.id));
    let lost = s
        .record_dispatch(&[done(&new[0], InboxState::Failed, None)])
        .await
        .unwrap();
    assert_eq!(lost, [id]);
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    assert!(all.iter().all(|e| e.state == InboxState::Accepted));
}

/// A dead-lettered message is listed with its attempts and last error, and `requeue`
/// puts it back in the queue with its attempts reset; other states are left alone.
pub async fn dead_letters_are_listed_and_requeued<S: InboxStore + ?Sized>(s: &S) {
    let alice = "+15557654321";
    s.insert_inbound(&inbound("SMd1", alice, "one", 0))
        .await
        .unwrap();
    s.insert_inbound(&inbound("SMd2", "+15557650000", "two", 1))
        .await
        .unwrap();
    let mut now = t0();
    for attempt in 0..3u32 {
        let c = s.claim_inbound(now, LEASE, 10).await.unwrap();
        let mine: Vec<_> = c
            .iter()
            .filter(|c| c.message.provider_sid == "SMd1")
            .collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].attempts, attempt);
        let mut outcomes = vec![DispatchOutcome {
            id: mine[0].message.id.clone(),
            lease: mine[0].lease,
            result: if attempt < 2 {
                DispatchResult::Retry {
                    error: format!("handler error: boom {attempt}"),
                    at: now + Duration::from_secs(1),
                }
            } else {
                DispatchResult::Done {
                    state: InboxState::Failed,
                    note: Some("gave up after 3 attempts: handler error: boom 2".into()),
                }
            },
        }];
        outcomes.extend(
            c.iter()
                .filter(|c| c.message.provider_sid == "SMd2")
                .map(|c| done(c, InboxState::Accepted, None)),
        );
        assert!(s.record_dispatch(&outcomes).await.unwrap().is_empty());
        now += Duration::from_secs(1);
    }
    let failed = s.failed_inbound(0).await.unwrap();
    assert_eq!(
        failed,
        [FailedInbound {
            message: inbound("SMd1", alice, "one", 0),
            attempts: 3,
            note: Some("gave up after 3 attempts: handler error: boom 2".into()),
        }]
    );
    assert!(s.claim_inbound(now, LEASE, 10).await.unwrap().is_empty());

    let unknown = s
        .requeue_inbound(&MessageId::from_string("msg_nope"))
        .await
        .unwrap_err();
    assert!(unknown.is_not_found(), "{unknown}");
    let accepted = MessageId::from_string("msg_in_SMd2");
    assert_eq!(
        s.requeue_inbound(&accepted).await.unwrap(),
        InboxState::Accepted
    );
    let id = failed[0].message.id.clone();
    assert_eq!(s.requeue_inbound(&id).await.unwrap(), InboxState::Failed);
    assert!(s.failed_inbound(10).await.unwrap().is_empty());
    let all = s.inbox(&InboxQuery::default()).await.unwrap();
    let states: Vec<_> = all.iter().map(|e| (e.state, e.note.as_deref())).collect();
    assert_eq!(
        states,
        [(InboxState::Queued, None), (InboxState::Accepted, None)]
    );
    let c = s.claim_inbound(now, LEASE, 10).await.unwrap();
    assert_eq!(sids(&c), [("SMd1", 0)]);
}

/// Several workers (tasks sharing the store; on a server database, several connections)
/// claim at once: none gets a message another got, no two hold messages of one sender at
/// the same time, and every sender's messages are handled in arrival order.
pub async fn concurrent_claims_keep_senders_apart<S: InboxStore>(s: S) {
    let s = Arc::new(s);
    claim_race(vec![s.clone(), s.clone(), s]).await;
}

/// The body of [`concurrent_claims_keep_senders_apart`] for any set of handles on one
/// database: separate stores (replicas) or clones of one. Inserts 60 messages of 6 senders
/// through the first, then every handle claims and records until none is left.
pub async fn claim_race<S: InboxStore + ?Sized>(stores: Vec<Arc<S>>) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    let senders: Vec<String> = (0..6).map(|i| format!("+1555765000{i}")).collect();
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    for i in 0..60usize {
        let from = &senders[(i * 7) % senders.len()];
        let sid = format!("SMrace{i:03}");
        stores[0]
            .insert_inbound(&inbound(&sid, from, &sid, i as i64))
            .await
            .unwrap();
        expected.entry(from.clone()).or_default().push(sid);
    }
    let now = t0() + Duration::from_secs(100);
    // Which worker holds each sender now, and every message as it was handled.
    let holders: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let handled: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let tasks: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(worker, s)| {
            let (holders, handled) = (holders.clone(), handled.clone());
            tokio::spawn(async move {
                let mut idle = 0;
                while idle < 20 {
                    let c = s
                        .claim_inbound(now, Duration::from_secs(60), 4)
                        .await
                        .unwrap();
                    if c.is_empty() {
                        idle += 1;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    }
                    idle = 0;
                    {
                        let mut h = crate::sync::lock(&holders);
                        for m in &c {
                            let held = h.insert(m.message.from.clone(), worker);
                            assert!(
                                held.is_none_or(|w| w == worker),
                                "{} is held by workers {worker} and {held:?} at once",
                                m.message.from
                            );
                        }
                    }
                    for m in &c {
                        crate::sync::lock(&handled)
                            .push((m.message.from.clone(), m.message.provider_sid.clone()));
                        tokio::task::yield_now().await;
                    }
                    // Let go of the senders before the store does, so no one else can
                    // have claimed them in between.
                    {
                        let mut h = crate::sync::lock(&holders);
                        for m in &c {
                            h.remove(&m.message.from);
                        }
                    }
                    let outcomes: Vec<_> = c
                        .iter()
                        .map(|m| done(m, InboxState::Accepted, None))
                        .collect();
                    assert!(s.record_dispatch(&outcomes).await.unwrap().is_empty());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let handled = crate::sync::lock(&handled).clone();
    assert_eq!(handled.len(), 60, "every message handled exactly once");
    let mut got: HashMap<String, Vec<String>> = HashMap::new();
    for (from, sid) in handled {
        got.entry(from).or_default().push(sid);
    }
    assert_eq!(got, expected, "each sender's messages in arrival order");
}

/// Recording a batch's outcomes together with the next claim: the outcomes apply first (so
/// the sender's next message becomes claimable in the same step), a superseded outcome is
/// reported, and with nothing to record it is a plain claim.
pub async fn record_and_claim_in_one_step<S: InboxStore + ?Sized>(s: &S) {
    let alice = "+15557654321";
    for (i, sid) in ["SMr1", "SMr2"].into_iter().enumerate() {
        s.insert_inbound(&inbound(sid, alice, sid, i as i64))
            .await
            .unwrap();
    }
    let now = t0() + Duration::from_secs(10);
    // Nothing to record: a plain claim, which takes Alice's messages in order.
    let (lost, first) = s
        .record_and_claim_inbound(&[], now, LEASE, 1)
        .await
        .unwrap();
    assert!(lost.is_empty());
    assert_eq!(sids(&first), [("SMr1", 0)]);
    // While SMr1 is leased, SMr2 (same sender) waits.
    let (_, none) = s
        .record_and_claim_inbound(&[], now, LEASE, 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    // SMr1's outcome and the next claim in one step: SMr2 is claimable at once.
    let (lost, next) = s
        .record_and_claim_inbound(
            &[done(&first[0], InboxState::Accepted, None)],
            now,
            LEASE,
            10,
        )
        .await
        .unwrap();
    assert!(lost.is_empty());
    assert_eq!(sids(&next), [("SMr2", 0)]);
    // A stale outcome (SMr1 is no longer queued) changes nothing and is reported.
    let (lost, _) = s
        .record_and_claim_inbound(
            &[done(&first[0], InboxState::Failed, Some("late"))],
            now,
            LEASE,
            10,
        )
        .await
        .unwrap();
    assert_eq!(lost, [first[0].message.id.clone()]);
    let states: Vec<_> = s
        .inbox(&InboxQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.message.provider_sid, e.state))
        .collect();
    assert_eq!(
        states,
        [
            ("SMr1".to_string(), InboxState::Accepted),
            ("SMr2".to_string(), InboxState::Queued)
        ]
    );
}

/// A message stored through an approval gate ([`crate::store::insert_inbound_gated`]):
/// an approved sender's is `queued`; under pairing, a waiting sender's is held with the
/// waiting note, anyone else's `queued` while a slot is free and `dropped` with the
/// limited note once every slot is taken; under an allowlist, `blocked`. A duplicate keeps
/// its first row.
pub async fn gated_messages_are_stored_in_the_state_the_policy_state_decides<
    S: InboxStore + crate::store::PolicyStore + ?Sized,
>(
    s: &S,
) {
    use crate::pairing::{PairingLimits, PairingOutcome};
    use crate::store::{ApprovalGate, Unapproved, insert_inbound_gated};
    let num = |n: &str| crate::PhoneNumber::parse(n).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let limits = PairingLimits {
        ttl: Duration::from_secs(3600),
        max_pending: 2,
        max_per_hour: 10,
    };
    // +15550000001 approved; +15550000002 waits.
    for (n, code) in [("+15550000001", "GATE0001"), ("+15550000002", "GATE0002")] {
        assert!(matches!(
            s.pairing_request(&num(n), code, &limits, now)
                .await
                .unwrap(),
            PairingOutcome::Created(_)
        ));
    }
    s.resolve_pairing("GATE0001", true, now).await.unwrap();
    let pair = Arc::new(Unapproved::Pair {
        max_pending: 2,
        max_per_hour: 10,
        waiting: "waiting".into(),
        limited: "limited".into(),
    });
    let gate = |n: &str, unapproved: &Arc<Unapproved>| ApprovalGate {
        sender: num(n),
        unapproved: unapproved.clone(),
    };
    let mut put = Vec::new();
    for (sid, from) in [
        ("SMG1", "+15550000001"),
        ("SMG2", "+15550000002"),
        // One pending of two: a stranger is queued (the worker creates its request).
        ("SMG3", "+15550000003"),
    ] {
        let got = insert_inbound_gated(s, &inbound(sid, from, "hi", 0), &gate(from, &pair))
            .await
            .unwrap();
        put.push((sid, got));
    }
    // Both slots taken: the next stranger is dropped, a repeat keeps its first row.
    assert!(matches!(
        s.pairing_request(&num("+15550000003"), "GATE0003", &limits, now)
            .await
            .unwrap(),
        PairingOutcome::Created(_)
    ));
    for (sid, from) in [("SMG4", "+15550000004"), ("SMG3", "+15550000003")] {
        let got = insert_inbound_gated(s, &inbound(sid, from, "hi", 0), &gate(from, &pair))
            .await
            .unwrap();
        put.push((sid, got));
    }
    // Both waiting requests rejected: the slots are free, but 3 were created this hour;
    // with at most 3 an hour the next stranger is dropped too.
    s.resolve_pairing("GATE0002", false, now).await.unwrap();
    s.resolve_pairing("GATE0003", false, now).await.unwrap();
    let hourly = Arc::new(Unapproved::Pair {
        max_pending: 2,
        max_per_hour: 3,
        waiting: "waiting".into(),
        limited: "hourly".into(),
    });
    let got = insert_inbound_gated(
        s,
        &inbound("SMG6", "+15550000006", "hi", 0),
        &gate("+15550000006", &hourly),
    )
    .await
    .unwrap();
    put.push(("SMG6", got));
    let block = Arc::new(Unapproved::Block("not listed".into()));
    let got = insert_inbound_gated(
        s,
        &inbound("SMG5", "+15550000005", "hi", 0),
        &gate("+15550000005", &block),
    )
    .await
    .unwrap();
    put.push(("SMG5", got));
    use InboxState::*;
    use InsertOutcome::*;
    assert_eq!(
        put,
        [
            ("SMG1", (Inserted, Queued)),
            ("SMG2", (Inserted, PendingPairing)),
            ("SMG3", (Inserted, Queued)),
            ("SMG4", (Inserted, Dropped)),
            ("SMG3", (Duplicate, PendingPairing)),
            ("SMG6", (Inserted, Dropped)),
            ("SMG5", (Inserted, Blocked)),
        ]
    );
    let mut rows: Vec<_> = s
        .inbox(&InboxQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.message.provider_sid, e.state, e.note))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let row =
        |sid: &str, state, note: Option<&str>| (sid.to_string(), state, note.map(String::from));
    assert_eq!(
        rows,
        [
            row("SMG1", Queued, None),
            row("SMG2", PendingPairing, Some("waiting")),
            row("SMG3", Queued, None),
            row("SMG4", Dropped, Some("limited")),
            row("SMG5", Blocked, Some("not listed")),
            row("SMG6", Dropped, Some("hourly")),
        ]
    );
}
