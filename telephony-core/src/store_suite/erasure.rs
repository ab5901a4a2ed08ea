//! Erasure cases: `forget` removes every kind of record that names a number, leaves every
//! other number's alone, and keeps an opt-out as a hash that still blocks.

use super::*;
use crate::pairing::{PairingLimits, PairingOutcome};
use crate::store::{
    BeginOutcome, CallQuery, CallStore, CallTurn, ErasureStore, ForgetReport, ForwardEvent,
    NewCall, PendingAnswer, StatusSource,
};
use crate::voice::{CallDirection, CallStatus};

/// The number every case erases.
const GONE: &str = "+15557654321";
/// A number that must keep its data.
const KEPT: &str = "+15553333333";

fn secs(n: u64) -> OffsetDateTime {
    t0() + Duration::from_secs(n)
}

fn report(f: impl FnOnce(&mut ForgetReport)) -> ForgetReport {
    let mut r = ForgetReport::default();
    f(&mut r);
    r
}

/// Inbound messages from the number (SMS and WhatsApp) and to it go, with their dispatch
/// state: a claim taken before is void, and the number is no longer a known contact.
pub async fn forget_removes_inbound_messages<
    S: InboxStore + ContactStore + ErasureStore + ?Sized,
>(
    s: &S,
) {
    let mut to_it = inbound("SM3", KEPT, "to the erased number", 3);
    to_it.to = GONE.into();
    for m in [
        inbound("SM1", GONE, "from it", 1),
        inbound("SM2", &format!("whatsapp:{GONE}"), "from it on WhatsApp", 2),
        to_it,
        inbound("SM4", KEPT, "someone else", 4),
    ] {
        assert_eq!(s.insert_inbound(&m).await.unwrap(), InsertOutcome::Inserted);
    }
    // One of its messages is being dispatched when it is erased.
    let claimed = s
        .claim_inbound(secs(10), Duration::from_secs(60), 1)
        .await
        .unwrap();
    assert_eq!(claimed[0].message.provider_sid, "SM1");
    assert!(s.is_known_contact(&num(GONE)).await.unwrap());

    let r = s.forget(&num(GONE)).await.unwrap();
    assert_eq!(r, report(|r| r.inbound_messages = 3));

    let left = s.inbox(&InboxQuery::default()).await.unwrap();
    let sids: Vec<&str> = left
        .iter()
        .map(|e| e.message.provider_sid.as_str())
        .collect();
    assert_eq!(sids, ["SM4"]);
    assert!(!s.is_known_contact(&num(GONE)).await.unwrap());
    assert!(s.is_known_contact(&num(KEPT)).await.unwrap());
    // The void claim's outcome changes nothing; only the kept message is claimable.
    let lost = s
        .record_dispatch(&[crate::store::DispatchOutcome {
            id: claimed[0].message.id.clone(),
            lease: claimed[0].lease,
            result: crate::store::DispatchResult::Done {
                state: InboxState::Accepted,
                note: None,
            },
        }])
        .await
        .unwrap();
    assert_eq!(lost, [claimed[0].message.id.clone()]);
    let next = s
        .claim_inbound(secs(20), Duration::from_secs(60), 10)
        .await
        .unwrap();
    let sids: Vec<&str> = next
        .iter()
        .map(|c| c.message.provider_sid.as_str())
        .collect();
    assert_eq!(sids, ["SM4"]);
    // A duplicate delivery of an erased message is stored again as new: nothing of it is kept.
    assert_eq!(
        s.insert_inbound(&inbound("SM1", GONE, "from it", 1))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
}

/// Sends to the number go with their history, provider ids and outbox entries (queued and
/// held ones are cancelled); a later status callback for them finds nothing.
pub async fn forget_removes_sends_and_their_history<
    S: OutboxStore + ContactStore + ErasureStore + ?Sized,
>(
    s: &S,
) {
    let to = |n: &str, body: &str| OutboundMessage::new(Address::parse(n).unwrap(), body);
    let sent = MessageId::from_string("msg_out_sent");
    let queued = MessageId::from_string("msg_out_queued");
    let held = MessageId::from_string("msg_out_held");
    let other = MessageId::from_string("msg_out_other");
    s.enqueue_outbound(&sent, &to(GONE, "delivered"), secs(1))
        .await
        .unwrap();
    s.enqueue_outbound(&other, &to(KEPT, "kept"), secs(2))
        .await
        .unwrap();
    let c = s
        .claim_outbound(secs(3), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(c.len(), 2);
    for item in &c {
        let sid = format!("SM_{}", item.id);
        s.complete_outbound(&item.id, item.lease, &accepted(&sid), secs(4))
            .await
            .unwrap();
    }
    s.apply_status(
        &status(&format!("SM_{sent}"), DeliveryStatus::Delivered),
        secs(5),
    )
    .await
    .unwrap();
    s.enqueue_outbound(&queued, &to(&format!("whatsapp:{GONE}"), "queued"), secs(6))
        .await
        .unwrap();
    s.enqueue_outbound_held(&held, &to(GONE, "held"), secs(7))
        .await
        .unwrap();
    assert_eq!(s.outbox_len().await.unwrap(), 2);

    let r = s.forget(&num(GONE)).await.unwrap();
    assert_eq!(
        r,
        report(|r| {
            r.sends = 3;
            r.queued_sends = 2;
        })
    );
    for id in [&sent, &queued, &held] {
        assert_eq!(s.receipt(id).await.unwrap(), None, "{id}");
    }
    assert!(s.receipt(&other).await.unwrap().is_some());
    assert_eq!(s.outbox_len().await.unwrap(), 0);
    assert!(s.held_outbound().await.unwrap().is_empty());
    let log: Vec<MessageId> = s
        .receipts(None, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(log, std::slice::from_ref(&other));
    // The provider id no longer leads to a receipt.
    assert_eq!(
        s.apply_status(
            &status(&format!("SM_{sent}"), DeliveryStatus::Read),
            secs(8)
        )
        .await
        .unwrap(),
        StatusOutcome::Unknown
    );
    assert!(
        s.claim_outbound(secs(9), Duration::from_secs(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Calls from or to the number go with their history, transcript, kept answer and stream
/// tokens; other calls stay whole.
pub async fn forget_removes_calls_and_transcripts<S: CallStore + ErasureStore + ?Sized>(s: &S) {
    let call = |id: &str, from: &str, to: &str, at: u64| NewCall {
        call_id: id.into(),
        direction: CallDirection::Inbound,
        from: from.into(),
        to: to.into(),
        status: CallStatus::Ringing,
        source: StatusSource::Webhook,
        session: true,
        at: secs(at),
        note: None,
    };
    for c in [
        call("CA_from", GONE, "+15550001234", 1),
        call("CA_to", "+15550001234", GONE, 2),
        call("CA_other", KEPT, "+15550001234", 3),
    ] {
        assert!(matches!(
            s.begin_call(&c, None).await.unwrap(),
            BeginOutcome::Started(_)
        ));
    }
    for id in ["CA_from", "CA_other"] {
        s.update_call_status(
            id,
            CallStatus::InProgress,
            None,
            StatusSource::Answer,
            secs(4),
        )
        .await
        .unwrap();
        for n in 0..2 {
            let turn = CallTurn {
                at: secs(5 + n),
                speech: Some(format!("my number is {GONE}")),
                confidence: Some(0.5),
                digits: None,
            };
            s.add_call_turn(id, &turn).await.unwrap();
        }
    }
    let answer = PendingAnswer {
        content_type: "text/xml".into(),
        body: "<Response/>".into(),
    };
    s.set_pending_answer("CA_from", &answer).await.unwrap();
    s.put_stream_token("CA_from", "ab12", secs(100))
        .await
        .unwrap();
    for (rec, call) in [
        ("RE_from", "CA_from"),
        ("RE_to", "CA_to"),
        ("RE_other", "CA_other"),
    ] {
        let r = crate::voice::CallRecording::new(rec, call, secs(6));
        assert!(s.add_recording(&r).await.unwrap());
    }

    let r = s.forget(&num(GONE)).await.unwrap();
    assert_eq!(
        r,
        report(|r| {
            r.calls = 2;
            r.call_status_changes = 3;
            r.call_turns = 2;
            r.call_recordings = 2;
        })
    );
    assert_eq!(s.recording("RE_from").await.unwrap(), None);
    assert_eq!(s.recording("RE_to").await.unwrap(), None);
    let kept: Vec<String> = s
        .recordings(None, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.recording_id)
        .collect();
    assert_eq!(kept, ["RE_other"]);
    assert_eq!(s.call("CA_from").await.unwrap(), None);
    assert_eq!(s.call("CA_to").await.unwrap(), None);
    let other = s.call("CA_other").await.unwrap().expect("kept");
    assert_eq!((other.history.len(), other.transcript.len()), (2, 2));
    let listed: Vec<String> = s
        .calls(&CallQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(listed, ["CA_other"]);
    assert_eq!(s.take_pending_answer("CA_from").await.unwrap(), None);
    assert!(
        !s.take_stream_token("CA_from", "ab12", secs(10))
            .await
            .unwrap()
    );
    // Its slot is free: only the kept call is live.
    let live: Vec<String> = s
        .live_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(live, ["CA_other"]);
}

/// Pairing requests, the pairing approval and the contact approval of the number go.
pub async fn forget_removes_pairing_and_approvals<
    S: PolicyStore + ContactStore + ErasureStore + ?Sized,
>(
    s: &S,
) {
    let limits = PairingLimits::default();
    for (n, code) in [(GONE, "AAAAAAAA"), (KEPT, "BBBBBBBB")] {
        assert!(matches!(
            s.pairing_request(&num(n), code, &limits, t0())
                .await
                .unwrap(),
            PairingOutcome::Created(_)
        ));
    }
    s.resolve_pairing("AAAAAAAA", true, secs(1)).await.unwrap();
    // A second request after the first was approved (e.g. approved on another device).
    s.pairing_request(&num(GONE), "CCCCCCCC", &limits, secs(2))
        .await
        .unwrap();
    s.approve_contact(&num(GONE), secs(3)).await.unwrap();
    s.approve_contact(&num(KEPT), secs(3)).await.unwrap();
    assert!(s.is_approved_sender(&num(GONE)).await.unwrap());

    let r = s.forget(&num(GONE)).await.unwrap();
    assert_eq!(
        r,
        report(|r| {
            r.pairing_requests = 2;
            r.approved_senders = 1;
            r.approved_contacts = 1;
        })
    );
    assert!(!s.is_approved_sender(&num(GONE)).await.unwrap());
    assert!(!s.is_known_contact(&num(GONE)).await.unwrap());
    assert!(s.is_known_contact(&num(KEPT)).await.unwrap());
    let pending: Vec<String> = s
        .pending_pairings(secs(4))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.code)
        .collect();
    assert_eq!(pending, ["BBBBBBBB"]);
    // Its old code resolves nothing now.
    assert_eq!(
        s.resolve_pairing("CCCCCCCC", true, secs(5)).await.unwrap(),
        crate::pairing::PairingResolution::NotFound
    );
}

/// Events for the forward URL about the number's messages go, delivered or not.
pub async fn forget_removes_forward_events<S: ForwardStore + ErasureStore + ?Sized>(s: &S) {
    let ev = |id: &str, data: serde_json::Value| ForwardEvent {
        id: id.into(),
        kind: "message.received".into(),
        payload: serde_json::json!({"id": id, "type": "message.received", "data": data}),
        created_at: t0(),
        attempts: 0,
        last_error: None,
        encoded: None,
    };
    for e in [
        ev(
            "evt_1",
            serde_json::json!({"from": GONE, "to": "+15550001234"}),
        ),
        ev(
            "evt_2",
            serde_json::json!({"messageId": "msg_2", "to": format!("whatsapp:{GONE}")}),
        ),
        ev(
            "evt_3",
            serde_json::json!({"from": KEPT, "to": "+15550001234"}),
        ),
        ev(
            "evt_4",
            serde_json::json!({"from": GONE, "to": "+15550001234"}),
        ),
    ] {
        s.enqueue_forward(&e).await.unwrap();
    }
    // One of them was delivered already.
    let claimed = s
        .claim_forwards(t0(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let four = claimed.iter().find(|c| c.event.id == "evt_4").unwrap();
    s.complete_forward("evt_4", four.lease, t0()).await.unwrap();

    let r = s.forget(&num(GONE)).await.unwrap();
    assert_eq!(r, report(|r| r.forward_events = 3));
    let stats = s.forward_stats().await.unwrap();
    assert_eq!((stats.pending, stats.delivered), (1, 0));
    let left = s
        .claim_forwards(secs(60), Duration::from_secs(30), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = left.iter().map(|c| c.event.id.as_str()).collect();
    assert_eq!(ids, ["evt_3"]);
}

/// An opt-out survives erasure as a keyed hash: the number stays opted out (sends to it are
/// refused), other numbers are not, erasing again keeps it, and START still opts it in.
pub async fn opt_out_survives_forget<S: PolicyStore + ErasureStore + ?Sized>(s: &S) {
    let gone = num(GONE);
    s.set_opted_out(&gone, true, t0()).await.unwrap();
    s.set_opted_out(&num(KEPT), true, t0()).await.unwrap();

    let r = s.forget(&gone).await.unwrap();
    assert_eq!(r, report(|r| r.opt_outs_hashed = 1));
    assert!(s.is_opted_out(&gone).await.unwrap());
    assert!(s.is_opted_out(&num(KEPT)).await.unwrap());
    assert!(!s.is_opted_out(&num("+15550000042")).await.unwrap());

    // Erasing again: the hash is already all that is kept.
    assert_eq!(s.forget(&gone).await.unwrap(), ForgetReport::default());
    assert!(s.is_opted_out(&gone).await.unwrap());

    // STOP again after erasure, then erasure again: one hash, still blocked.
    s.set_opted_out(&gone, true, secs(1)).await.unwrap();
    assert_eq!(
        s.forget(&gone).await.unwrap(),
        report(|r| r.opt_outs_hashed = 1)
    );
    assert!(s.is_opted_out(&gone).await.unwrap());

    // START opts an erased number back in.
    s.set_opted_out(&gone, false, secs(2)).await.unwrap();
    assert!(!s.is_opted_out(&gone).await.unwrap());
    assert!(s.is_opted_out(&num(KEPT)).await.unwrap());
}

/// A number the store never saw: nothing to remove, not an error.
pub async fn forget_unknown_number_is_empty<S: InboxStore + ErasureStore + ?Sized>(s: &S) {
    s.insert_inbound(&inbound("SM1", KEPT, "hi", 1))
        .await
        .unwrap();
    assert_eq!(
        s.forget(&num("+15550000042")).await.unwrap(),
        ForgetReport::default()
    );
    assert_eq!(s.inbox(&InboxQuery::default()).await.unwrap().len(), 1);
}
