//! Export cases: every kind is read a page at a time in `(time, id)` order, within a
//! `since`/`until` window, and a page after the last is empty.

use super::*;
use crate::store::{
    BeginOutcome, CallStore, CallTurn, ExportCursor, ExportRange, ExportStore, NewCall,
    StatusSource,
};
use crate::voice::{CallDirection, CallStatus};

fn secs(n: u64) -> OffsetDateTime {
    t0() + Duration::from_secs(n)
}

/// Inbound messages: pages of two over five messages (two at the same instant, ordered by
/// id), the cursor of each page, and the window.
pub async fn inbox_pages_follow_time_and_id<S: InboxStore + ExportStore + ?Sized>(s: &S) {
    // Inserted out of order; SM_b and SM_a arrive in the same millisecond.
    for (sid, at) in [
        ("SM_c", 2),
        ("SM_b", 1),
        ("SM_a", 1),
        ("SM_e", 4),
        ("SM_d", 3),
    ] {
        s.insert_inbound(&inbound(sid, "+15557654321", sid, at))
            .await
            .unwrap();
    }
    s.set_inbound_state(
        &MessageId::from_string("msg_in_SM_a"),
        InboxState::Accepted,
        Some("handled"),
    )
    .await
    .unwrap();
    let all = ExportRange::default();
    let mut after: Option<ExportCursor> = None;
    let mut pages: Vec<Vec<String>> = Vec::new();
    loop {
        let page = s.inbox_page(&all, after.as_ref(), 2).await.unwrap();
        pages.push(
            page.items
                .iter()
                .map(|e| e.message.provider_sid.clone())
                .collect(),
        );
        match page.next {
            Some(c) => {
                let last = page.items.last().unwrap();
                assert_eq!(c.at, last.message.received_at);
                assert_eq!(c.id, last.message.id.as_str());
                after = Some(c);
            }
            None => break,
        }
    }
    assert_eq!(
        pages,
        [vec!["SM_a", "SM_b"], vec!["SM_c", "SM_d"], vec!["SM_e"],]
    );
    // Entries are whole: the state, the note and every field of the message.
    let first = s.inbox_page(&all, None, 1).await.unwrap();
    assert_eq!(
        first.items[0].message,
        inbound("SM_a", "+15557654321", "SM_a", 1)
    );
    assert_eq!(first.items[0].state, InboxState::Accepted);
    assert_eq!(first.items[0].note.as_deref(), Some("handled"));

    // since is inclusive, until exclusive.
    let window = ExportRange {
        since: Some(secs(2)),
        until: Some(secs(4)),
    };
    let page = s.inbox_page(&window, None, 0).await.unwrap();
    let sids: Vec<&str> = page
        .items
        .iter()
        .map(|e| e.message.provider_sid.as_str())
        .collect();
    assert_eq!(sids, ["SM_c", "SM_d"]);
    assert_eq!(page.next, None);
    // A full last page points past its end; the page after it is empty.
    let page = s.inbox_page(&window, None, 2).await.unwrap();
    let next = page.next.expect("a full page has a next cursor");
    let after_end = s.inbox_page(&window, Some(&next), 2).await.unwrap();
    assert!(after_end.items.is_empty());
    assert_eq!(after_end.next, None);
}

/// Sends: pages by creation time, with their whole history.
pub async fn receipts_pages_follow_time_and_id<S: OutboxStore + ExportStore + ?Sized>(s: &S) {
    for (id, at) in [("msg_o3", 3), ("msg_o1", 1), ("msg_o2", 1), ("msg_o4", 5)] {
        s.enqueue_outbound(&MessageId::from_string(id), &outbound(id), secs(at))
            .await
            .unwrap();
    }
    let c = s
        .claim_outbound(secs(6), Duration::from_secs(60), 1)
        .await
        .unwrap();
    s.complete_outbound(&c[0].id, c[0].lease, &accepted("SM_x"), secs(7))
        .await
        .unwrap();
    let all = ExportRange::default();
    let p1 = s.receipts_page(&all, None, 3).await.unwrap();
    let ids: Vec<&str> = p1.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["msg_o1", "msg_o2", "msg_o3"]);
    let p2 = s.receipts_page(&all, p1.next.as_ref(), 3).await.unwrap();
    let ids: Vec<&str> = p2.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["msg_o4"]);
    assert_eq!(p2.next, None);
    // The claimed one (oldest due) was completed: its history came along.
    let done = p1.items.iter().find(|r| r.id == c[0].id).unwrap();
    assert_eq!(done, &s.receipt(&c[0].id).await.unwrap().unwrap());
    assert_eq!(done.history.len(), 2);

    let window = ExportRange {
        since: Some(secs(2)),
        until: None,
    };
    let page = s.receipts_page(&window, None, 10).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["msg_o3", "msg_o4"]);
}

/// Calls: pages by start time, with history and transcript.
pub async fn calls_pages_follow_time_and_id<S: CallStore + ExportStore + ?Sized>(s: &S) {
    for (id, at) in [("CA_2", 2), ("CA_1b", 1), ("CA_1a", 1)] {
        let call = NewCall {
            call_id: id.into(),
            direction: CallDirection::Inbound,
            from: "+15557654321".into(),
            to: "+15550001234".into(),
            status: CallStatus::Ringing,
            source: StatusSource::Webhook,
            session: false,
            at: secs(at),
            note: None,
        };
        assert!(matches!(
            s.begin_call(&call, None).await.unwrap(),
            BeginOutcome::Started(_)
        ));
    }
    s.add_call_turn(
        "CA_1b",
        &CallTurn {
            at: secs(3),
            speech: Some("hello".into()),
            confidence: Some(0.75),
            digits: None,
        },
    )
    .await
    .unwrap();
    let all = ExportRange::default();
    let p1 = s.calls_page(&all, None, 2).await.unwrap();
    let ids: Vec<&str> = p1.items.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["CA_1a", "CA_1b"]);
    assert_eq!(p1.items[1], s.call("CA_1b").await.unwrap().unwrap());
    assert_eq!(p1.items[1].transcript.len(), 1);
    let p2 = s.calls_page(&all, p1.next.as_ref(), 2).await.unwrap();
    let ids: Vec<&str> = p2.items.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["CA_2"]);
    assert_eq!(p2.next, None);
    let window = ExportRange {
        since: None,
        until: Some(secs(2)),
    };
    let page = s.calls_page(&window, None, 10).await.unwrap();
    assert_eq!(page.items.len(), 2);
}
