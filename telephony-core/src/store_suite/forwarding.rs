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
