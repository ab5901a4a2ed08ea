//! Forwarding queue cases.

use super::*;

/// Forward events: claim, retry with error, complete, stats.
pub async fn forward_queue<S: ForwardStore + ?Sized>(s: &S) {
    use crate::store::{ForwardEvent, ForwardStats};
    let ev = |id: &str| ForwardEvent {
        id: id.to_string(),
        kind: "message.received".into(),
        payload: serde_json::json!({"id": id, "body": "héllo"}),
        created_at: t0(),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    s.enqueue_forward(&ev("evt_1")).await.unwrap();
    s.enqueue_forward(&ev("evt_2")).await.unwrap();
    s.enqueue_forward(&ev("evt_1")).await.unwrap();
    let c = s
        .claim_forwards(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let events: Vec<_> = c.iter().map(|c| c.event.clone()).collect();
    assert_eq!(events, [ev("evt_1"), ev("evt_2")]);
    let lease = c[0].lease;
    assert!(
        s.claim_forwards(t0(), Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.retry_forward(
        "evt_1",
        lease,
        "HTTP 500 from receiver",
        t0() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    s.complete_forward("evt_2", c[1].lease, t0()).await.unwrap();
    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 1,
            failing: 1,
            delivered: 1,
            last_error: Some("HTTP 500 from receiver".into())
        }
    );
    assert!(
        s.claim_forwards(t0() + Duration::from_secs(4), Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let c = s
        .claim_forwards(t0() + Duration::from_secs(5), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].event.attempts, 1);
    assert_eq!(
        c[0].event.last_error.as_deref(),
        Some("HTTP 500 from receiver")
    );
    s.complete_forward("evt_1", c[0].lease, t0()).await.unwrap();
    let st = s.forward_stats().await.unwrap();
    assert_eq!(
        (st.pending, st.failing, st.delivered, st.last_error),
        (0, 0, 2, None)
    );
    assert!(
        s.complete_forward("evt_nope", lease, t0())
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// A claim whose lease ran out and was claimed again can neither complete nor retry the
/// event; the new claim can. The event keeps its id through every claim.
pub async fn superseded_forward_claim_is_fenced<S: ForwardStore + ?Sized>(s: &S) {
    use crate::store::ForwardEvent;
    let event = ForwardEvent {
        id: "evt_msg_1".into(),
        kind: "message.received".into(),
        payload: serde_json::json!({"id": "evt_msg_1"}),
        created_at: t0(),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    s.enqueue_forward(&event).await.unwrap();
    let lease = Duration::from_secs(30);
    let old = s.claim_forwards(t0(), lease, 10).await.unwrap();
    assert_eq!(old.len(), 1);
    assert!(
        s.claim_forwards(t0() + Duration::from_secs(29), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let new = s.claim_forwards(t0() + lease, lease, 10).await.unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].event.id, "evt_msg_1");
    assert_eq!(new[0].event.attempts, 1);
    assert_ne!(new[0].lease, old[0].lease);
    for result in [
        s.complete_forward("evt_msg_1", old[0].lease, t0()).await,
        s.retry_forward("evt_msg_1", old[0].lease, "late", t0())
            .await,
    ] {
        let e = result.unwrap_err();
        assert!(
            matches!(&e, StoreError::LeaseLost { id } if id == "evt_msg_1"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "the lease on evt_msg_1 was lost: another worker claimed it"
        );
    }
    let st = s.forward_stats().await.unwrap();
    assert_eq!((st.pending, st.delivered, st.last_error), (1, 0, None));
    s.complete_forward("evt_msg_1", new[0].lease, t0())
        .await
        .unwrap();
    let st = s.forward_stats().await.unwrap();
    assert_eq!((st.pending, st.delivered), (0, 1));
    // Completed: even the last holder's token no longer applies.
    assert!(matches!(
        s.complete_forward("evt_msg_1", new[0].lease, t0()).await,
        Err(StoreError::LeaseLost { .. })
    ));
}

/// A forward event for the batch cases: `message.received`, created `secs` after [`t0`].
fn batch_event(id: &str, secs: u64) -> crate::store::ForwardEvent {
    crate::store::ForwardEvent {
        id: id.to_string(),
        kind: "message.received".into(),
        payload: serde_json::json!({"id": id}),
        created_at: t0() + Duration::from_secs(secs),
        attempts: 0,
        last_error: None,
        encoded: None,
    }
}

/// One [`ForwardStore::record_forwards`] call records a delivery, a retry and releases:
/// a retry counts its attempt and keeps its error; a release takes the claim's attempt
/// back, keeps the last error and makes the event due at the time given (its old place,
/// or later).
pub async fn batch_outcomes_apply_in_one_call<S: ForwardStore + ?Sized>(s: &S) {
    use crate::store::{ForwardOutcome, ForwardResult, ForwardStats};
    let secs = |n: u64| t0() + Duration::from_secs(n);
    for (i, id) in ["evt_a", "evt_b", "evt_c", "evt_d"].into_iter().enumerate() {
        s.enqueue_forward(&batch_event(id, i as u64)).await.unwrap();
    }
    let lease = Duration::from_secs(60);
    let c = s.claim_forwards(secs(10), lease, 10).await.unwrap();
    let got: Vec<_> = c
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts, c.due))
        .collect();
    assert_eq!(
        got,
        [
            ("evt_a", 0, secs(0)),
            ("evt_b", 0, secs(1)),
            ("evt_c", 0, secs(2)),
            ("evt_d", 0, secs(3))
        ]
    );
    let outcome = |c: &crate::store::ClaimedForward, result| ForwardOutcome {
        id: c.event.id.clone(),
        lease: c.lease,
        result,
    };
    let lost = s
        .record_forwards(
            &[
                outcome(&c[0], ForwardResult::Delivered),
                outcome(
                    &c[1],
                    ForwardResult::Retry {
                        error: "receiver answered HTTP 503".into(),
                        at: secs(20),
                    },
                ),
                outcome(&c[2], ForwardResult::Release { at: secs(20) }),
                outcome(&c[3], ForwardResult::Release { at: c[3].due }),
            ],
            secs(11),
        )
        .await
        .unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 3,
            failing: 1,
            delivered: 1,
            last_error: Some("receiver answered HTTP 503".into())
        }
    );
    // Released at its old place: due again at once, its attempt not counted.
    let c = s.claim_forwards(secs(11), lease, 10).await.unwrap();
    let got: Vec<_> = c
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts, c.due))
        .collect();
    assert_eq!(got, [("evt_d", 0, secs(3))]);
    assert!(
        s.record_forwards(&[outcome(&c[0], ForwardResult::Delivered)], secs(12))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.claim_forwards(secs(19), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The retried and the released event are due together, in their queue order.
    let c = s.claim_forwards(secs(20), lease, 10).await.unwrap();
    let got: Vec<_> = c
        .iter()
        .map(|c| {
            (
                c.event.id.as_str(),
                c.event.attempts,
                c.event.last_error.as_deref(),
                c.due,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("evt_b", 1, Some("receiver answered HTTP 503"), secs(20)),
            ("evt_c", 0, None, secs(20))
        ]
    );
    // A release keeps the error of the attempt before it.
    let lost = s
        .record_forwards(
            &[
                outcome(&c[0], ForwardResult::Release { at: secs(30) }),
                outcome(&c[1], ForwardResult::Delivered),
            ],
            secs(21),
        )
        .await
        .unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 1,
            failing: 1,
            delivered: 3,
            last_error: Some("receiver answered HTTP 503".into())
        }
    );
    let c = s.claim_forwards(secs(30), lease, 10).await.unwrap();
    let got: Vec<_> = c
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts, c.due))
        .collect();
    assert_eq!(got, [("evt_b", 1, secs(30))]);
    s.record_forwards(&[outcome(&c[0], ForwardResult::Delivered)], secs(31))
        .await
        .unwrap();
    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 0,
            failing: 0,
            delivered: 4,
            last_error: None
        }
    );
    assert!(s.record_forwards(&[], secs(32)).await.unwrap().is_empty());
}

/// Outcomes whose lease was lost (the event was claimed again), whose event is already
/// delivered, or whose id is unknown are reported by id, in the order given, and change
/// nothing; the other outcomes of the same call apply.
pub async fn lost_forward_leases_are_reported_while_the_rest_apply<S: ForwardStore + ?Sized>(
    s: &S,
) {
    use crate::store::{ForwardOutcome, ForwardResult, ForwardStats};
    let secs = |n: u64| t0() + Duration::from_secs(n);
    for id in ["evt_f1", "evt_f2", "evt_f3"] {
        s.enqueue_forward(&batch_event(id, 0)).await.unwrap();
    }
    let lease = Duration::from_secs(30);
    let old = s.claim_forwards(secs(0), lease, 1).await.unwrap();
    assert_eq!(old.len(), 1);
    let new = s.claim_forwards(secs(30), lease, 10).await.unwrap();
    let got: Vec<_> = new
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts))
        .collect();
    assert_eq!(got, [("evt_f1", 1), ("evt_f2", 0), ("evt_f3", 0)]);
    let outcome = |id: &str, lease, result| ForwardOutcome {
        id: id.to_string(),
        lease,
        result,
    };
    let lost = s
        .record_forwards(
            &[
                outcome(
                    "evt_f1",
                    old[0].lease,
                    ForwardResult::Retry {
                        error: "late".into(),
                        at: secs(40),
                    },
                ),
                outcome("evt_f2", new[1].lease, ForwardResult::Delivered),
                outcome(
                    "evt_nope",
                    new[1].lease,
                    ForwardResult::Release { at: secs(40) },
                ),
                outcome(
                    "evt_f3",
                    new[2].lease,
                    ForwardResult::Release { at: secs(50) },
                ),
            ],
            secs(31),
        )
        .await
        .unwrap();
    assert_eq!(lost, ["evt_f1", "evt_nope"]);
    // evt_f1 kept the new claim's lease and no error.
    assert_eq!(
        s.forward_stats().await.unwrap(),
        ForwardStats {
            pending: 2,
            failing: 0,
            delivered: 1,
            last_error: None
        }
    );
    assert!(
        s.claim_forwards(secs(49), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Already delivered: even its own claim's token no longer applies.
    let lost = s
        .record_forwards(
            &[
                outcome("evt_f2", new[1].lease, ForwardResult::Delivered),
                outcome("evt_f1", new[0].lease, ForwardResult::Delivered),
            ],
            secs(49),
        )
        .await
        .unwrap();
    assert_eq!(lost, ["evt_f2"]);
    let c = s.claim_forwards(secs(50), lease, 10).await.unwrap();
    let got: Vec<_> = c
        .iter()
        .map(|c| (c.event.id.as_str(), c.event.attempts))
        .collect();
    assert_eq!(got, [("evt_f3", 0)]);
    let st = s.forward_stats().await.unwrap();
    assert_eq!((st.pending, st.delivered), (1, 2));
}
