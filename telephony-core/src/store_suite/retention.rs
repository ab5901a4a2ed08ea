//! Retention cases: each kind's old records are pruned oldest first in batches of at most
//! `limit`, counted the same way by a dry run, and nothing still in use goes (queued or
//! retrying inbound messages, sends still in the outbox, live calls, pending pairing
//! requests, undelivered forward events, opt-outs and approvals).

use super::*;
use crate::pairing::{PairingLimits, PairingOutcome};
use crate::store::{
    CallStore, CallTurn, DispatchOutcome, DispatchResult, ForwardEvent, InboxEntry, NewCall,
    PruneKind, RetentionStore, StatusSource,
};
use crate::voice::{CallDirection, CallStatus};

/// `n` seconds after [`t0`].
fn at(n: u64) -> OffsetDateTime {
    t0() + Duration::from_secs(n)
}

/// Prunes `kind` before `before` in batches of `limit` until a batch comes back short;
/// returns each batch's count.
async fn batches<S: RetentionStore + ?Sized>(
    s: &S,
    kind: PruneKind,
    before: OffsetDateTime,
    limit: usize,
) -> Vec<usize> {
    let mut out = Vec::new();
    loop {
        let n = s.prune_batch(kind, before, limit).await.unwrap();
        out.push(n);
        if n < limit {
            return out;
        }
    }
}

/// Old inbound messages go, oldest first, whatever their final state; queued ones (waiting,
/// being dispatched, waiting for a retry) and newer ones stay, and their senders stay
/// known contacts.
pub async fn old_messages_are_pruned_but_queued_ones_stay<S>(s: &S)
where
    S: InboxStore + ContactStore + RetentionStore + ?Sized,
{
    let store_in = |sid: &str, from: &str, secs: i64, state: InboxState| {
        let msg = inbound(sid, from, sid, secs);
        async move {
            let o = s.insert_inbound_in_state(&msg, state, None).await.unwrap();
            assert_eq!(o, InsertOutcome::Inserted);
        }
    };
    store_in("SM1", "+15557654321", 0, InboxState::Accepted).await;
    store_in("SM2", "whatsapp:+15557650002", 1, InboxState::Failed).await;
    store_in("SM3", "+15557650003", 2, InboxState::Blocked).await;
    // Queued: one waits, one is being dispatched, one waits for a retry.
    store_in("SM4", "+15557650004", 3, InboxState::Queued).await;
    store_in("SM5", "+15557650005", 4, InboxState::Queued).await;
    store_in("SM6", "+15557650006", 5, InboxState::Queued).await;
    // Newer than the cutoff.
    store_in("SM7", "+15557650007", 100, InboxState::Accepted).await;

    let lease = Duration::from_secs(60);
    let claimed = s.claim_inbound(at(10), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let retry = DispatchOutcome {
        id: claimed[2].message.id.clone(),
        lease: claimed[2].lease,
        result: DispatchResult::Retry {
            error: "handler error: busy".into(),
            at: at(30),
        },
    };
    assert!(s.record_dispatch(&[retry]).await.unwrap().is_empty());

    let cutoff = at(50);
    assert_eq!(
        s.count_prunable(PruneKind::Messages, cutoff).await.unwrap(),
        3
    );
    assert_eq!(
        s.prune_batch(PruneKind::Messages, cutoff, 2).await.unwrap(),
        2
    );
    // Oldest first: SM1 and SM2 went, SM3 is left.
    let sids = |entries: Vec<InboxEntry>| -> Vec<String> {
        entries
            .into_iter()
            .map(|e| e.message.provider_sid)
            .collect()
    };
    assert_eq!(
        sids(s.inbox(&InboxQuery::default()).await.unwrap()),
        ["SM3", "SM4", "SM5", "SM6", "SM7"]
    );
    assert_eq!(batches(s, PruneKind::Messages, cutoff, 2).await, [1]);
    assert_eq!(
        s.count_prunable(PruneKind::Messages, cutoff).await.unwrap(),
        0
    );
    assert_eq!(
        sids(s.inbox(&InboxQuery::default()).await.unwrap()),
        ["SM4", "SM5", "SM6", "SM7"]
    );

    // The message being dispatched records its outcome as usual.
    let done = DispatchOutcome {
        id: claimed[0].message.id.clone(),
        lease: claimed[0].lease,
        result: DispatchResult::Done {
            state: InboxState::Accepted,
            note: None,
        },
    };
    assert!(s.record_dispatch(&[done]).await.unwrap().is_empty());
    // Its sender's retrying message is still due at its time.
    let again = s.claim_inbound(at(31), lease, 10).await.unwrap();
    assert_eq!(
        again
            .iter()
            .map(|c| c.message.provider_sid.as_str())
            .collect::<Vec<_>>(),
        ["SM6"]
    );

    // The pruned messages' senders are still known (first-contact approval).
    for n in ["+15557654321", "+15557650002", "+15557650003"] {
        assert!(s.is_known_contact(&num(n)).await.unwrap(), "{n}");
    }
    assert!(!s.is_known_contact(&num("+15557659999")).await.unwrap());
}

/// Old receipts go with their history and provider ids once their send left the outbox
/// (sent or failed for good); sends queued, retrying or held stay. Status updates for
/// unknown ids go by arrival time, in what is left of a batch.
pub async fn old_sends_are_pruned_but_the_outbox_stays<S>(s: &S)
where
    S: OutboxStore + ContactStore + RetentionStore + ?Sized,
{
    let id = |n: &str| MessageId::from_string(format!("msg_out_{n}"));
    for n in ["sent", "retrying", "failed"] {
        s.enqueue_outbound(&id(n), &outbound(n), t0())
            .await
            .unwrap();
    }
    s.enqueue_outbound_held(&id("held"), &outbound("held"), t0())
        .await
        .unwrap();
    s.enqueue_outbound(&id("queued"), &outbound("queued"), at(1))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let claimed = s.claim_outbound(at(2), lease, 3).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let lease_of = |n: &str| claimed.iter().find(|c| c.id == id(n)).unwrap().lease;
    s.complete_outbound(&id("sent"), lease_of("sent"), &accepted("SMsent"), at(3))
        .await
        .unwrap();
    let error = ErrorInfo {
        code: Some(30003),
        message: "unreachable".into(),
        more_info: None,
    };
    s.retry_outbound(&id("retrying"), lease_of("retrying"), &error, at(20))
        .await
        .unwrap();
    s.fail_outbound(&id("failed"), lease_of("failed"), &error, at(3))
        .await
        .unwrap();
    // A status for an id no send has, and a newer send that went out.
    assert_eq!(
        s.apply_status(&status("SMunknown", DeliveryStatus::Delivered), at(4))
            .await
            .unwrap(),
        StatusOutcome::Unknown
    );
    s.enqueue_outbound(&id("new"), &outbound("new"), at(100))
        .await
        .unwrap();

    let cutoff = at(50);
    assert_eq!(s.count_prunable(PruneKind::Sends, cutoff).await.unwrap(), 3);
    assert_eq!(batches(s, PruneKind::Sends, cutoff, 2).await, [2, 1]);
    assert_eq!(s.count_prunable(PruneKind::Sends, cutoff).await.unwrap(), 0);
    for (n, kept) in [
        ("sent", false),
        ("failed", false),
        ("retrying", true),
        ("held", true),
        ("queued", true),
        ("new", true),
    ] {
        assert_eq!(s.receipt(&id(n)).await.unwrap().is_some(), kept, "{n}");
    }
    // The pruned send's provider id is forgotten: its late status is an unknown one.
    assert_eq!(
        s.apply_status(&status("SMsent", DeliveryStatus::Delivered), at(60))
            .await
            .unwrap(),
        StatusOutcome::Unknown
    );
    // The held send is still held and the retrying one still due.
    assert_eq!(s.held_outbound().await.unwrap().len(), 1);
    assert_eq!(s.outbox_len().await.unwrap(), 4);
}

/// Old calls that reached a final status go with their history and transcript; live
/// calls stay, however old. Status updates for unknown calls go by arrival time, expired
/// stream tokens by expiry.
pub async fn old_calls_are_pruned_but_live_ones_stay<S>(s: &S)
where
    S: CallStore + RetentionStore + ?Sized,
{
    let call = |id: &str, status: CallStatus, secs: u64| NewCall {
        call_id: id.to_string(),
        direction: CallDirection::Inbound,
        from: "+15557654321".into(),
        to: "+15550001234".into(),
        status,
        source: StatusSource::Webhook,
        session: true,
        at: at(secs),
        note: None,
    };
    for (id, status, secs) in [
        ("CAdone", CallStatus::Ringing, 0),
        ("CAlive", CallStatus::InProgress, 1),
        ("CAqueued", CallStatus::Queued, 2),
        ("CAnew", CallStatus::Ringing, 100),
    ] {
        s.begin_call(&call(id, status, secs), None).await.unwrap();
    }
    let turn = CallTurn {
        at: at(3),
        speech: Some("my account number".into()),
        confidence: Some(0.9),
        digits: None,
    };
    s.add_call_turn("CAdone", &turn).await.unwrap();
    s.add_call_turn("CAlive", &turn).await.unwrap();
    for id in ["CAdone", "CAnew"] {
        s.update_call_status(
            id,
            CallStatus::Completed,
            Some(12),
            StatusSource::Callback,
            at(110),
        )
        .await
        .unwrap();
    }
    // A status for an unknown call, and two stream tokens: one expired, one still valid.
    s.update_call_status(
        "CAghost",
        CallStatus::Completed,
        None,
        StatusSource::Callback,
        at(4),
    )
    .await
    .unwrap();
    s.put_stream_token("CAlive", "expired-hash", at(10))
        .await
        .unwrap();
    s.put_stream_token("CAlive", "valid-hash", at(1000))
        .await
        .unwrap();

    let cutoff = at(50);
    // CAdone, the unknown call's status, the expired token.
    assert_eq!(s.count_prunable(PruneKind::Calls, cutoff).await.unwrap(), 3);
    assert_eq!(batches(s, PruneKind::Calls, cutoff, 10).await, [3]);
    assert_eq!(s.count_prunable(PruneKind::Calls, cutoff).await.unwrap(), 0);
    assert!(s.call("CAdone").await.unwrap().is_none());
    let live = s.call("CAlive").await.unwrap().expect("live call kept");
    assert_eq!(live.transcript, [turn]);
    assert!(s.call("CAqueued").await.unwrap().is_some());
    assert!(s.call("CAnew").await.unwrap().is_some());
    assert!(s.orphan_call_statuses(10).await.unwrap().is_empty());
    assert_eq!(s.live_sessions().await.unwrap().len(), 2);
    assert!(
        s.take_stream_token("CAlive", "valid-hash", at(60))
            .await
            .unwrap()
    );
}

/// Delivered forward events go; events not delivered yet (waiting, retrying) stay.
pub async fn delivered_forwards_are_pruned_undelivered_stay<S>(s: &S)
where
    S: ForwardStore + RetentionStore + ?Sized,
{
    let event = |id: &str, secs: u64| ForwardEvent {
        id: id.to_string(),
        kind: "message".into(),
        payload: serde_json::json!({"id": id}),
        created_at: at(secs),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    for (id, secs) in [("fw1", 0), ("fw2", 1), ("fw3", 2), ("fw4", 100)] {
        s.enqueue_forward(&event(id, secs)).await.unwrap();
    }
    let claimed = s
        .claim_forwards(at(101), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    for c in &claimed {
        match c.event.id.as_str() {
            "fw2" => s
                .retry_forward("fw2", c.lease, "502 from the app", at(200))
                .await
                .unwrap(),
            id => s.complete_forward(id, c.lease, at(102)).await.unwrap(),
        }
    }
    // fw3 waits unclaimed: enqueue a fifth, old and never claimed.
    s.enqueue_forward(&event("fw5", 3)).await.unwrap();

    let cutoff = at(50);
    assert_eq!(
        s.count_prunable(PruneKind::Forwards, cutoff).await.unwrap(),
        2
    );
    assert_eq!(batches(s, PruneKind::Forwards, cutoff, 1).await, [1, 1, 0]);
    let stats = s.forward_stats().await.unwrap();
    assert_eq!((stats.pending, stats.delivered), (2, 1));
}

/// Resolved pairing requests go, and pending ones that expired before the cutoff; a
/// pending request still valid stays, and so do approvals and opt-outs.
pub async fn resolved_pairings_are_pruned_pending_stay<S>(s: &S)
where
    S: PolicyStore + RetentionStore + ?Sized,
{
    let limits = |ttl: u64| PairingLimits {
        ttl: Duration::from_secs(ttl),
        max_pending: 10,
        max_per_hour: 10,
    };
    let request = |n: &str, code: &str, ttl: u64, secs: u64| {
        let sender = num(n);
        let code = code.to_string();
        async move {
            let o = s
                .pairing_request(&sender, &code, &limits(ttl), at(secs))
                .await
                .unwrap();
            assert!(matches!(o, PairingOutcome::Created(_)), "{o:?}");
        }
    };
    request("+15557650001", "AAAA1111", 3600, 0).await;
    request("+15557650002", "BBBB2222", 3600, 1).await;
    request("+15557650003", "CCCC3333", 30 * 86_400, 2).await;
    request("+15557650004", "DDDD4444", 60, 3).await;
    s.resolve_pairing("AAAA1111", true, at(10)).await.unwrap();
    s.resolve_pairing("BBBB2222", false, at(10)).await.unwrap();
    // Newer than the cutoff, and resolved.
    request("+15557650005", "EEEE5555", 3600, 3 * 3600).await;
    s.resolve_pairing("EEEE5555", false, at(3 * 3600 + 1))
        .await
        .unwrap();
    s.set_opted_out(&num("+15557650009"), true, t0())
        .await
        .unwrap();

    let cutoff = at(2 * 3600);
    // Approved, rejected, and the pending one that expired at t0 + 63 s.
    assert_eq!(
        s.count_prunable(PruneKind::Pairing, cutoff).await.unwrap(),
        3
    );
    assert_eq!(batches(s, PruneKind::Pairing, cutoff, 500).await, [3]);
    assert_eq!(
        s.count_prunable(PruneKind::Pairing, cutoff).await.unwrap(),
        0
    );
    let pending = s.pending_pairings(at(3 * 3600 + 2)).await.unwrap();
    assert_eq!(
        pending.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(),
        ["CCCC3333"]
    );
    assert!(s.is_approved_sender(&num("+15557650001")).await.unwrap());
    assert!(s.is_opted_out(&num("+15557650009")).await.unwrap());
    // The approved code is gone: resolving it again finds nothing.
    assert!(matches!(
        s.resolve_pairing("AAAA1111", true, at(3 * 3600 + 3))
            .await
            .unwrap(),
        crate::pairing::PairingResolution::NotFound
    ));
}

/// A cutoff before everything prunes nothing, and an empty store has nothing to prune or
/// to give back.
pub async fn nothing_newer_than_the_cutoff_is_pruned<S>(s: &S)
where
    S: InboxStore + OutboxStore + RetentionStore + ?Sized,
{
    s.insert_inbound_in_state(
        &inbound("SM1", "+15557654321", "hi", 10),
        InboxState::Accepted,
        None,
    )
    .await
    .unwrap();
    let id = MessageId::from_string("msg_out_1");
    s.enqueue_outbound(&id, &outbound("x"), at(10))
        .await
        .unwrap();
    for kind in PruneKind::ALL {
        // Strictly older: a record at the cutoff stays.
        assert_eq!(s.count_prunable(kind, at(10)).await.unwrap(), 0, "{kind}");
        assert_eq!(s.prune_batch(kind, at(10), 500).await.unwrap(), 0, "{kind}");
    }
    assert_eq!(s.inbox(&InboxQuery::default()).await.unwrap().len(), 1);
    s.reclaim_space(100).await.unwrap();
}
