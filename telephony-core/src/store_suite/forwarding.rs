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
    assert_eq!(c, [ev("evt_1"), ev("evt_2")]);
    assert!(
        s.claim_forwards(t0(), Duration::from_secs(30), 10)
            .await
            .unwrap()
            .is_empty()
    );
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
    assert_eq!(c[0].attempts, 1);
    assert_eq!(c[0].last_error.as_deref(), Some("HTTP 500 from receiver"));
    s.complete_forward("evt_1", t0()).await.unwrap();
    let st = s.forward_stats().await.unwrap();
    assert_eq!(
        (st.pending, st.failing, st.delivered, st.last_error),
        (0, 0, 2, None)
    );
    assert!(
        s.complete_forward("evt_nope", t0())
            .await
            .unwrap_err()
            .is_not_found()
    );
}
