//! Call cases: recording calls, the session slot count (atomic under concurrency), the
//! forward-only status and its history, renames, transcripts, notes, listing, the orphan
//! status log and pending answers.

use std::sync::Arc;

use super::*;
use crate::store::{
    BeginOutcome, CallQuery, CallRecord, CallStatusChange, CallStatusOutcome, CallStore, CallTurn,
    NewCall, OrphanCallStatus, PendingAnswer, StatusSource,
};
use crate::voice::{CallDirection, CallStatus};

/// `n` seconds after [`t0`].
fn at(n: u64) -> OffsetDateTime {
    t0() + Duration::from_secs(n)
}

/// An inbound call from the webhook, `secs` seconds after [`t0`].
fn new_call(id: &str, status: CallStatus, session: bool, secs: u64) -> NewCall {
    NewCall {
        call_id: id.to_string(),
        direction: CallDirection::Inbound,
        from: "+15557654321".into(),
        to: "+15550001234".into(),
        status,
        source: StatusSource::Webhook,
        session,
        at: at(secs),
        note: None,
    }
}

/// The record [`CallStore::begin_call`] must make of `call` (with a slot if `session`).
fn recorded(call: &NewCall, session: bool) -> CallRecord {
    CallRecord {
        call_id: call.call_id.clone(),
        direction: call.direction,
        from: call.from.clone(),
        to: call.to.clone(),
        status: call.status,
        session,
        started_at: call.at,
        answered_at: (call.status == CallStatus::InProgress).then_some(call.at),
        ended_at: call.status.is_terminal().then_some(call.at),
        updated_at: call.at,
        duration_secs: None,
        note: call.note.clone(),
        history: vec![change(call.status, call.at, call.source)],
        transcript: Vec::new(),
        answered_by: None,
        update_epoch: 0,
    }
}

fn change(status: CallStatus, at: OffsetDateTime, source: StatusSource) -> CallStatusChange {
    CallStatusChange { status, at, source }
}

fn ids(records: &[CallRecord]) -> Vec<&str> {
    records.iter().map(|c| c.call_id.as_str()).collect()
}

async fn started<S: CallStore + ?Sized>(s: &S, call: &NewCall, max: Option<usize>) -> CallRecord {
    match s.begin_call(call, max).await.unwrap() {
        BeginOutcome::Started(r) => r,
        other => panic!("expected Started for {}, got {other:?}", call.call_id),
    }
}

async fn applied<S: CallStore + ?Sized>(
    s: &S,
    id: &str,
    status: CallStatus,
    duration: Option<u64>,
    source: StatusSource,
    secs: u64,
) -> CallRecord {
    match s
        .update_call_status(id, status, duration, source, at(secs))
        .await
        .unwrap()
    {
        CallStatusOutcome::Applied(r) => r,
        other => panic!("expected Applied for {id} → {status}, got {other:?}"),
    }
}

async fn stale<S: CallStore + ?Sized>(
    s: &S,
    id: &str,
    status: CallStatus,
    duration: Option<u64>,
    secs: u64,
) -> CallRecord {
    match s
        .update_call_status(id, status, duration, StatusSource::Callback, at(secs))
        .await
        .unwrap()
    {
        CallStatusOutcome::Stale(r) => r,
        other => panic!("expected Stale for {id} → {status}, got {other:?}"),
    }
}

fn answer(body: &str) -> PendingAnswer {
    PendingAnswer {
        content_type: "text/xml".into(),
        body: format!("<Response><Say>{body}</Say></Response>"),
    }
}

/// A new call is recorded exactly (history starts with its status and source;
/// `in-progress` sets `answered_at`, a terminal status `ended_at`); a repeated id is
/// `Existing` and changes nothing.
pub async fn begin_call_records_and_recognizes_repeats<S: CallStore + ?Sized>(s: &S) {
    assert_eq!(s.call("CA1").await.unwrap(), None);
    let ringing = new_call("CA1", CallStatus::Ringing, true, 0);
    let rec = started(s, &ringing, Some(2)).await;
    assert_eq!(rec, recorded(&ringing, true));
    assert_eq!(rec.answered_at, None);
    assert_eq!(rec.ended_at, None);
    assert_eq!(
        rec.history,
        [change(CallStatus::Ringing, t0(), StatusSource::Webhook)]
    );
    assert!(rec.is_live_session());
    assert_eq!(s.call("CA1").await.unwrap(), Some(rec.clone()));

    // The webhook again (a retry), with everything different: nothing changes.
    let mut again = new_call("CA1", CallStatus::InProgress, false, 5);
    again.from = "+15550009999".into();
    again.direction = CallDirection::Outbound;
    again.note = Some("second".into());
    assert_eq!(
        s.begin_call(&again, Some(0)).await.unwrap(),
        BeginOutcome::Existing(rec.clone())
    );
    assert_eq!(s.call("CA1").await.unwrap(), Some(rec));

    // Answered already: answered_at is the start.
    let mut answered = new_call("CA2", CallStatus::InProgress, true, 10);
    answered.direction = CallDirection::Dialed;
    answered.source = StatusSource::Answer;
    answered.note = Some("dialed leg".into());
    let rec = started(s, &answered, None).await;
    assert_eq!(rec, recorded(&answered, true));
    assert_eq!(rec.answered_at, Some(at(10)));
    assert_eq!(rec.ended_at, None);
    assert_eq!(rec.note.as_deref(), Some("dialed leg"));

    // Refused by the provider's API: recorded ended, never a live session.
    let mut failed = new_call("pending_3", CallStatus::Failed, false, 20);
    failed.direction = CallDirection::Outbound;
    failed.source = StatusSource::Api;
    failed.from = "+15550001234".into();
    failed.to = "+15550005678".into();
    let rec = started(s, &failed, Some(2)).await;
    assert_eq!(rec, recorded(&failed, false));
    assert_eq!(rec.answered_at, None);
    assert_eq!(rec.ended_at, Some(at(20)));
    assert_eq!(
        rec.history,
        [change(CallStatus::Failed, at(20), StatusSource::Api)]
    );
    assert!(!rec.is_live_session());

    assert_eq!(ids(&s.live_sessions().await.unwrap()), ["CA1", "CA2"]);
    assert_eq!(
        ids(&s.calls(&CallQuery::default()).await.unwrap()),
        ["CA1", "CA2", "pending_3"]
    );
    assert_eq!(s.call("CA9").await.unwrap(), None);
}

/// With `max_live` sessions live, a session call is recorded without a slot (`Full`, with
/// the exact live count); calls without a session never count and are never refused.
pub async fn begin_call_full_at_max_live<S: CallStore + ?Sized>(s: &S) {
    let max = Some(2);
    started(s, &new_call("CA1", CallStatus::Ringing, true, 0), max).await;
    // A call without a session does not take a slot.
    started(s, &new_call("CA2", CallStatus::Ringing, false, 1), max).await;
    started(s, &new_call("CA3", CallStatus::InProgress, true, 2), max).await;

    let mut over = new_call("CA4", CallStatus::Ringing, true, 3);
    over.note = Some("over the session limit".into());
    let record = recorded(&over, false);
    assert_eq!(
        s.begin_call(&over, max).await.unwrap(),
        BeginOutcome::Full {
            live: 2,
            record: record.clone()
        }
    );
    assert_eq!(record.note.as_deref(), Some("over the session limit"));
    assert!(!record.is_live_session());
    assert_eq!(s.call("CA4").await.unwrap(), Some(record.clone()));
    // Asking again for a refused call: it is recorded, so Existing (still without a slot).
    assert_eq!(
        s.begin_call(&over, None).await.unwrap(),
        BeginOutcome::Existing(record)
    );

    // Non-session calls are never refused, even with no slot at all.
    let rec = started(s, &new_call("CA5", CallStatus::Ringing, false, 4), Some(0)).await;
    assert!(!rec.session);
    match s
        .begin_call(&new_call("CA6", CallStatus::Ringing, true, 5), Some(0))
        .await
        .unwrap()
    {
        BeginOutcome::Full { live, record } => {
            assert_eq!(live, 2);
            assert!(!record.session);
        }
        other => panic!("expected Full, got {other:?}"),
    }
    // A refused call answered later still holds no slot.
    let rec = applied(
        s,
        "CA4",
        CallStatus::InProgress,
        None,
        StatusSource::Callback,
        6,
    )
    .await;
    assert!(!rec.session && !rec.is_live_session());

    // Without a limit, a session always gets a slot.
    let rec = started(s, &new_call("CA7", CallStatus::Ringing, true, 7), None).await;
    assert!(rec.session);
    assert_eq!(
        ids(&s.live_sessions().await.unwrap()),
        ["CA1", "CA3", "CA7"]
    );
    match s
        .begin_call(&new_call("CA8", CallStatus::Ringing, true, 8), Some(3))
        .await
        .unwrap()
    {
        BeginOutcome::Full { live, .. } => assert_eq!(live, 3),
        other => panic!("expected Full, got {other:?}"),
    }
    started(s, &new_call("CA9", CallStatus::Ringing, true, 9), Some(4)).await;
    assert_eq!(s.live_sessions().await.unwrap().len(), 4);
}

/// A terminal status frees the call's slot: the next call gets it at the limit.
pub async fn terminal_status_frees_the_slot<S: CallStore + ?Sized>(s: &S) {
    let max = Some(1);
    started(s, &new_call("CA1", CallStatus::InProgress, true, 0), max).await;
    assert!(matches!(
        s.begin_call(&new_call("CA2", CallStatus::Ringing, true, 1), max)
            .await
            .unwrap(),
        BeginOutcome::Full { live: 1, .. }
    ));
    // A non-terminal update keeps the slot taken.
    stale(s, "CA1", CallStatus::Ringing, None, 2).await;
    assert!(matches!(
        s.begin_call(&new_call("CA3", CallStatus::Ringing, true, 3), max)
            .await
            .unwrap(),
        BeginOutcome::Full { live: 1, .. }
    ));
    let ended = applied(
        s,
        "CA1",
        CallStatus::Completed,
        Some(4),
        StatusSource::Callback,
        4,
    )
    .await;
    assert!(ended.session);
    assert!(!ended.is_live_session());
    assert!(s.live_sessions().await.unwrap().is_empty());
    let rec = started(s, &new_call("CA4", CallStatus::Ringing, true, 5), max).await;
    assert!(rec.is_live_session());
    assert_eq!(ids(&s.live_sessions().await.unwrap()), ["CA4"]);
}

/// Statuses only move forward: a late `ringing` after `in-progress` is `Stale`, a terminal
/// status is never replaced, `Stale` still bumps `updated_at`; `Applied` returns the
/// updated record; the terminal status keeps the duration.
pub async fn call_status_moves_forward_only<S: CallStore + ?Sized>(s: &S) {
    let mut queued = new_call("CA1", CallStatus::Queued, true, 0);
    queued.direction = CallDirection::Outbound;
    queued.source = StatusSource::Api;
    let mut expected = started(s, &queued, None).await;

    let rec = applied(
        s,
        "CA1",
        CallStatus::Ringing,
        None,
        StatusSource::Callback,
        1,
    )
    .await;
    expected.status = CallStatus::Ringing;
    expected.updated_at = at(1);
    expected
        .history
        .push(change(CallStatus::Ringing, at(1), StatusSource::Callback));
    assert_eq!(rec, expected);
    assert_eq!(s.call("CA1").await.unwrap(), Some(expected.clone()));

    let rec = applied(
        s,
        "CA1",
        CallStatus::InProgress,
        None,
        StatusSource::Answer,
        2,
    )
    .await;
    expected.status = CallStatus::InProgress;
    expected.answered_at = Some(at(2));
    expected.updated_at = at(2);
    expected
        .history
        .push(change(CallStatus::InProgress, at(2), StatusSource::Answer));
    assert_eq!(rec, expected);

    // Late ringing: stale, only updated_at moves.
    let rec = stale(s, "CA1", CallStatus::Ringing, None, 3).await;
    expected.updated_at = at(3);
    assert_eq!(rec, expected);
    assert_eq!(s.call("CA1").await.unwrap(), Some(expected.clone()));
    // The same status again: stale; answered_at stays.
    let rec = stale(s, "CA1", CallStatus::InProgress, None, 4).await;
    expected.updated_at = at(4);
    assert_eq!(rec, expected);

    let rec = applied(
        s,
        "CA1",
        CallStatus::Completed,
        Some(58),
        StatusSource::Callback,
        60,
    )
    .await;
    expected.status = CallStatus::Completed;
    expected.ended_at = Some(at(60));
    expected.duration_secs = Some(58);
    expected.updated_at = at(60);
    expected.history.push(change(
        CallStatus::Completed,
        at(60),
        StatusSource::Callback,
    ));
    assert_eq!(rec, expected);

    // Terminal is final: another terminal status, or the same one again, is stale and
    // keeps the status, ended_at and duration.
    let rec = stale(s, "CA1", CallStatus::Failed, Some(1), 61).await;
    expected.updated_at = at(61);
    assert_eq!(rec, expected);
    let rec = stale(s, "CA1", CallStatus::Completed, None, 62).await;
    expected.updated_at = at(62);
    assert_eq!(rec, expected);
    let rec = stale(s, "CA1", CallStatus::InProgress, None, 63).await;
    expected.updated_at = at(63);
    assert_eq!(rec, expected);
    assert_eq!(s.call("CA1").await.unwrap(), Some(expected.clone()));
    assert_eq!(
        expected.history,
        [
            change(CallStatus::Queued, t0(), StatusSource::Api),
            change(CallStatus::Ringing, at(1), StatusSource::Callback),
            change(CallStatus::InProgress, at(2), StatusSource::Answer),
            change(CallStatus::Completed, at(60), StatusSource::Callback),
        ]
    );

    // Never answered: no answered_at; a terminal status without a duration leaves none.
    started(s, &new_call("CA2", CallStatus::Ringing, true, 100), None).await;
    let rec = applied(
        s,
        "CA2",
        CallStatus::NoAnswer,
        None,
        StatusSource::Reaper,
        130,
    )
    .await;
    assert_eq!(rec.status, CallStatus::NoAnswer);
    assert_eq!(rec.answered_at, None);
    assert_eq!(rec.ended_at, Some(at(130)));
    assert_eq!(rec.duration_secs, None);
    assert_eq!(rec.updated_at, at(130));
    assert_eq!(
        rec.history,
        [
            change(CallStatus::Ringing, at(100), StatusSource::Webhook),
            change(CallStatus::NoAnswer, at(130), StatusSource::Reaper),
        ]
    );
    // Queued straight to in-progress (skipping ringing) is forward.
    started(s, &new_call("CA3", CallStatus::Queued, false, 200), None).await;
    let rec = applied(
        s,
        "CA3",
        CallStatus::InProgress,
        None,
        StatusSource::Webhook,
        201,
    )
    .await;
    assert_eq!(rec.answered_at, Some(at(201)));
    assert!(s.orphan_call_statuses(0).await.unwrap().is_empty());
}

/// A status for an unknown call id is `Unknown`, changes no call, and is kept in the
/// orphan log (the newest `limit`, oldest first).
pub async fn unknown_call_status_is_an_orphan<S: CallStore + ?Sized>(s: &S) {
    assert!(s.orphan_call_statuses(0).await.unwrap().is_empty());
    started(s, &new_call("CA1", CallStatus::Ringing, true, 0), None).await;
    for (i, (id, status)) in [
        ("CAx", CallStatus::Ringing),
        ("CAy", CallStatus::Completed),
        ("CAx", CallStatus::Completed),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            s.update_call_status(
                id,
                status,
                Some(3),
                StatusSource::Callback,
                at(i as u64 + 1)
            )
            .await
            .unwrap(),
            CallStatusOutcome::Unknown
        );
    }
    // A known call's updates are not orphans.
    applied(
        s,
        "CA1",
        CallStatus::InProgress,
        None,
        StatusSource::Callback,
        4,
    )
    .await;
    let orphan = |id: &str, status, secs| OrphanCallStatus {
        call_id: id.to_string(),
        status,
        at: at(secs),
    };
    assert_eq!(
        s.orphan_call_statuses(0).await.unwrap(),
        [
            orphan("CAx", CallStatus::Ringing, 1),
            orphan("CAy", CallStatus::Completed, 2),
            orphan("CAx", CallStatus::Completed, 3),
        ]
    );
    assert_eq!(
        s.orphan_call_statuses(2).await.unwrap(),
        [
            orphan("CAy", CallStatus::Completed, 2),
            orphan("CAx", CallStatus::Completed, 3),
        ]
    );
    assert_eq!(s.call("CAx").await.unwrap(), None);
    assert_eq!(s.call("CAy").await.unwrap(), None);
    assert_eq!(ids(&s.calls(&CallQuery::default()).await.unwrap()), ["CA1"]);
    assert_eq!(ids(&s.live_sessions().await.unwrap()), ["CA1"]);
}

/// `live_sessions` lists only sessions whose status is not terminal, oldest first.
pub async fn live_sessions_oldest_first<S: CallStore + ?Sized>(s: &S) {
    assert!(s.live_sessions().await.unwrap().is_empty());
    let ca1 = started(s, &new_call("CA1", CallStatus::Ringing, true, 0), None).await;
    started(s, &new_call("CA2", CallStatus::InProgress, false, 1), None).await;
    started(s, &new_call("CA3", CallStatus::InProgress, true, 2), None).await;
    started(s, &new_call("CA4", CallStatus::Canceled, true, 3), None).await;
    started(s, &new_call("CA5", CallStatus::Queued, true, 4), None).await;
    let live = s.live_sessions().await.unwrap();
    assert_eq!(ids(&live), ["CA1", "CA3", "CA5"]);
    assert_eq!(live[0], ca1);
    assert!(live.iter().all(CallRecord::is_live_session));

    applied(s, "CA3", CallStatus::Busy, None, StatusSource::Callback, 5).await;
    let ca1 = applied(
        s,
        "CA1",
        CallStatus::InProgress,
        None,
        StatusSource::Answer,
        6,
    )
    .await;
    let live = s.live_sessions().await.unwrap();
    assert_eq!(ids(&live), ["CA1", "CA5"]);
    assert_eq!(live[0], ca1);
    assert_eq!(live[0].history.len(), 2);
    applied(s, "CA5", CallStatus::Failed, None, StatusSource::Reaper, 7).await;
    applied(
        s,
        "CA1",
        CallStatus::Completed,
        Some(10),
        StatusSource::Callback,
        8,
    )
    .await;
    assert!(s.live_sessions().await.unwrap().is_empty());
    assert_eq!(s.calls(&CallQuery::default()).await.unwrap().len(), 5);
}

/// Renaming moves the record (history, transcript, slot) and its pending answer to the new
/// id; an unknown id is `NotFound`.
pub async fn rename_call_moves_record_and_answer<S: CallStore + ?Sized>(s: &S) {
    let mut placing = new_call("pending_1", CallStatus::Queued, true, 0);
    placing.direction = CallDirection::Outbound;
    placing.source = StatusSource::Api;
    placing.note = Some("placed by the API".into());
    started(s, &placing, Some(1)).await;
    let turn = CallTurn {
        at: at(1),
        speech: Some("hello".into()),
        confidence: Some(0.5),
        digits: None,
    };
    s.add_call_turn("pending_1", &turn).await.unwrap();
    s.set_pending_answer("pending_1", &answer("held"))
        .await
        .unwrap();
    let before = s.call("pending_1").await.unwrap().unwrap();

    s.rename_call("pending_1", "CA9").await.unwrap();
    assert_eq!(s.call("pending_1").await.unwrap(), None);
    let renamed = s.call("CA9").await.unwrap().unwrap();
    assert_eq!(
        renamed,
        CallRecord {
            call_id: "CA9".into(),
            ..before
        }
    );
    assert_eq!(renamed.transcript, [turn]);
    assert_eq!(renamed.history.len(), 1);
    // Still the one live session (the slot moved with it).
    assert_eq!(ids(&s.live_sessions().await.unwrap()), ["CA9"]);
    assert!(matches!(
        s.begin_call(&new_call("CA10", CallStatus::Ringing, true, 2), Some(1))
            .await
            .unwrap(),
        BeginOutcome::Full { live: 1, .. }
    ));
    assert_eq!(s.take_pending_answer("pending_1").await.unwrap(), None);
    assert_eq!(
        s.take_pending_answer("CA9").await.unwrap(),
        Some(answer("held"))
    );
    // Updates reach it under its new id.
    let rec = applied(
        s,
        "CA9",
        CallStatus::Ringing,
        None,
        StatusSource::Callback,
        3,
    )
    .await;
    assert_eq!(rec.history.len(), 2);
    assert_eq!(
        ids(&s.calls(&CallQuery::default()).await.unwrap()),
        ["CA9", "CA10"]
    );

    let err = s.rename_call("pending_404", "CA11").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(s.call("CA11").await.unwrap(), None);
}

/// Turns keep their order, confidence and digits and bump `updated_at`; an unknown call is
/// `NotFound`.
pub async fn call_turns_keep_order<S: CallStore + ?Sized>(s: &S) {
    let begun = started(s, &new_call("CA1", CallStatus::InProgress, true, 0), None).await;
    let turns = [
        CallTurn {
            at: at(3),
            speech: Some("I'd like to book a table — for two 🍷".into()),
            confidence: Some(0.87),
            digits: None,
        },
        CallTurn {
            at: at(7),
            speech: None,
            confidence: None,
            digits: Some("1234#".into()),
        },
        CallTurn {
            at: at(9),
            speech: Some("yes".into()),
            confidence: None,
            digits: Some("1".into()),
        },
    ];
    for t in &turns {
        s.add_call_turn("CA1", t).await.unwrap();
    }
    let rec = s.call("CA1").await.unwrap().unwrap();
    assert_eq!(rec.transcript, turns);
    assert_eq!(rec.transcript[0].confidence, Some(0.87));
    assert_eq!(
        rec,
        CallRecord {
            updated_at: at(9),
            transcript: turns.to_vec(),
            ..begun
        }
    );
    // Listings carry the transcript too.
    assert_eq!(s.live_sessions().await.unwrap()[0].transcript, turns);
    assert_eq!(
        s.calls(&CallQuery::default()).await.unwrap()[0].transcript,
        turns
    );

    let err = s.add_call_turn("CA404", &turns[0]).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(s.call("CA404").await.unwrap(), None);
}

/// Recordings are stored with their call, listed oldest first (per call or all, the
/// newest `limit`), replaced by a redelivery of the same id, follow a renamed call, and
/// an unknown call's recording is `NotFound` with nothing stored.
pub async fn recordings_stay_with_their_call<S: CallStore + ?Sized>(s: &S) {
    use crate::voice::{CallRecording, RecordingChannels};
    started(s, &new_call("CA1", CallStatus::InProgress, true, 0), None).await;
    started(s, &new_call("pending_2", CallStatus::Queued, true, 1), None).await;
    let mut first = CallRecording::new("RE1", "CA1", at(20))
        .duration_secs(14)
        .channels(RecordingChannels::Dual)
        .format("wav")
        .url("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1")
        .source("call");
    first
        .extra
        .insert("RecordingSource".into(), "OutboundAPI".into());
    let turn = CallRecording::new("RE0", "CA1", at(10)).format("mp3");
    assert!(s.add_recording(&first).await.unwrap());
    assert!(s.add_recording(&turn).await.unwrap());
    let other = CallRecording::new("RE2", "pending_2", at(30));
    assert!(s.add_recording(&other).await.unwrap());

    assert_eq!(
        s.recordings(Some("CA1"), 0).await.unwrap(),
        [turn.clone(), first.clone()]
    );
    assert_eq!(s.recording("RE1").await.unwrap(), Some(first.clone()));
    assert_eq!(s.recording("RE404").await.unwrap(), None);
    // The newest two of all, oldest first.
    let ids: Vec<String> = s
        .recordings(None, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.recording_id)
        .collect();
    assert_eq!(ids, ["RE1", "RE2"]);

    // A redelivered callback replaces the metadata.
    let again = first.clone().duration_secs(15);
    assert!(!s.add_recording(&again).await.unwrap());
    assert_eq!(
        s.recording("RE1").await.unwrap().unwrap().duration_secs,
        Some(15)
    );
    assert_eq!(s.recordings(Some("CA1"), 0).await.unwrap().len(), 2);

    // A reservation renamed to the provider's id keeps its recordings.
    s.rename_call("pending_2", "CA2").await.unwrap();
    let moved = s.recordings(Some("CA2"), 0).await.unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].call_id, "CA2");
    assert!(s.recordings(Some("pending_2"), 0).await.unwrap().is_empty());

    let err = s
        .add_recording(&CallRecording::new("RE9", "CA404", at(40)))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(s.recording("RE9").await.unwrap(), None);
}

/// Notes are set and replaced; `touch_call` bumps only `updated_at`; unknown calls are
/// `NotFound`.
pub async fn call_notes_and_touch<S: CallStore + ?Sized>(s: &S) {
    let begun = started(s, &new_call("CA1", CallStatus::Ringing, true, 0), None).await;
    s.set_call_note("CA1", "caller not on the allowlist")
        .await
        .unwrap();
    assert_eq!(
        s.call("CA1").await.unwrap().unwrap(),
        CallRecord {
            note: Some("caller not on the allowlist".into()),
            ..begun.clone()
        }
    );
    s.set_call_note("CA1", "hung up: ☎ refused").await.unwrap();
    s.touch_call("CA1", at(30)).await.unwrap();
    assert_eq!(
        s.call("CA1").await.unwrap().unwrap(),
        CallRecord {
            note: Some("hung up: ☎ refused".into()),
            updated_at: at(30),
            ..begun
        }
    );
    assert!(
        s.set_call_note("CA404", "x")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        s.touch_call("CA404", at(31))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(s.call("CA404").await.unwrap(), None);
}

/// The detection result is kept on the call, a later one replaces it, it bumps
/// `updated_at`, survives a rename and shows in the list; unknown calls are `NotFound`.
pub async fn call_answered_by_kept<S: CallStore + ?Sized>(s: &S) {
    use crate::voice::AnsweredBy;
    let begun = started(s, &new_call("pending_1", CallStatus::Queued, true, 0), None).await;
    s.rename_call("pending_1", "CA1").await.unwrap();
    let rec = s
        .set_call_answered_by("CA1", AnsweredBy::Machine, at(12))
        .await
        .unwrap();
    let expected = CallRecord {
        call_id: "CA1".into(),
        answered_by: Some(AnsweredBy::Machine),
        updated_at: at(12),
        ..begun
    };
    assert_eq!(rec, expected);
    assert_eq!(s.call("CA1").await.unwrap().unwrap(), expected);
    s.set_call_answered_by("CA1", AnsweredBy::MachineBeep, at(19))
        .await
        .unwrap();
    let listed = s.calls(&CallQuery::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].answered_by, Some(AnsweredBy::MachineBeep));
    assert_eq!(listed[0].updated_at, at(19));
    for a in [
        AnsweredBy::Human,
        AnsweredBy::MachineNoBeep,
        AnsweredBy::Fax,
        AnsweredBy::Unknown,
    ] {
        s.set_call_answered_by("CA1", a, at(20)).await.unwrap();
        assert_eq!(s.call("CA1").await.unwrap().unwrap().answered_by, Some(a));
    }
    assert!(
        s.set_call_answered_by("CA404", AnsweredBy::Human, at(21))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(s.call("CA404").await.unwrap(), None);
}

/// A call's update epoch starts at 0; each bump moves it on by one and returns it (1, then
/// 2), the record shows it, and it survives a rename; an undo puts back only the latest
/// bump (a stale one is a no-op) and never goes below 0; unknown calls are `NotFound`.
pub async fn call_update_epoch_bumps_and_undoes<S: CallStore + ?Sized>(s: &S) {
    let begun = started(
        s,
        &new_call("pending_1", CallStatus::InProgress, true, 0),
        None,
    )
    .await;
    assert_eq!(begun.update_epoch, 0);
    assert_eq!(s.call_update_epoch("pending_1").await.unwrap(), 0);
    assert_eq!(s.bump_call_update_epoch("pending_1").await.unwrap(), 1);
    s.rename_call("pending_1", "CA1").await.unwrap();
    assert_eq!(s.call_update_epoch("CA1").await.unwrap(), 1);
    assert_eq!(s.bump_call_update_epoch("CA1").await.unwrap(), 2);
    assert_eq!(s.call_update_epoch("CA1").await.unwrap(), 2);
    assert_eq!(
        s.call("CA1").await.unwrap().unwrap(),
        CallRecord {
            call_id: "CA1".into(),
            update_epoch: 2,
            ..begun.clone()
        },
        "only the epoch changed (not updated_at, not the history)"
    );
    // The first update failed after the second was made: its undo changes nothing.
    assert!(!s.undo_call_update_epoch("CA1", 1).await.unwrap());
    assert_eq!(s.call_update_epoch("CA1").await.unwrap(), 2);
    // An epoch never handed out is not put back either.
    assert!(!s.undo_call_update_epoch("CA1", 3).await.unwrap());
    assert!(!s.undo_call_update_epoch("CA1", u64::MAX).await.unwrap());
    assert_eq!(s.call_update_epoch("CA1").await.unwrap(), 2);
    // The latest update failed: put back once.
    assert!(s.undo_call_update_epoch("CA1", 2).await.unwrap());
    assert_eq!(s.call_update_epoch("CA1").await.unwrap(), 1);
    assert!(!s.undo_call_update_epoch("CA1", 2).await.unwrap());
    assert!(s.undo_call_update_epoch("CA1", 1).await.unwrap());
    assert!(!s.undo_call_update_epoch("CA1", 0).await.unwrap());
    assert_eq!(s.call_update_epoch("CA1").await.unwrap(), 0);
    assert_eq!(s.call("CA1").await.unwrap().unwrap().update_epoch, 0);
    // The next bump after the undos hands out 1 again.
    assert_eq!(s.bump_call_update_epoch("CA1").await.unwrap(), 1);
    for e in [
        s.call_update_epoch("CA404").await.unwrap_err(),
        s.bump_call_update_epoch("CA404").await.unwrap_err(),
        s.undo_call_update_epoch("CA404", 1).await.unwrap_err(),
        s.undo_call_update_epoch("pending_1", u64::MAX)
            .await
            .unwrap_err(),
    ] {
        assert!(e.is_not_found(), "{e:?}");
    }
    assert_eq!(s.call("CA404").await.unwrap(), None);
}

/// `since` and `limit` filter the call list; the newest calls are kept under a limit,
/// oldest first.
pub async fn calls_since_and_limit<S: CallStore + ?Sized>(s: &S) {
    assert!(s.calls(&CallQuery::default()).await.unwrap().is_empty());
    for i in 0..5 {
        let call = new_call(&format!("CA{i}"), CallStatus::Ringing, i % 2 == 0, i * 60);
        started(s, &call, None).await;
    }
    applied(
        s,
        "CA1",
        CallStatus::Completed,
        Some(30),
        StatusSource::Callback,
        90,
    )
    .await;
    let all = s.calls(&CallQuery::default()).await.unwrap();
    assert_eq!(ids(&all), ["CA0", "CA1", "CA2", "CA3", "CA4"]);
    assert_eq!(all[1], s.call("CA1").await.unwrap().unwrap());
    assert_eq!(all[1].duration_secs, Some(30));
    let query = |since: Option<u64>, limit| CallQuery {
        since: since.map(at),
        limit,
    };
    assert_eq!(
        ids(&s.calls(&query(Some(120), 0)).await.unwrap()),
        ["CA2", "CA3", "CA4"]
    );
    assert_eq!(
        ids(&s.calls(&query(None, 2)).await.unwrap()),
        ["CA3", "CA4"]
    );
    assert_eq!(
        ids(&s.calls(&query(Some(60), 3)).await.unwrap()),
        ["CA2", "CA3", "CA4"]
    );
    assert_eq!(ids(&s.calls(&query(Some(0), 1)).await.unwrap()), ["CA4"]);
    assert!(s.calls(&query(Some(241), 0)).await.unwrap().is_empty());
}

/// A pending answer is replaced by the next, taken once, and cleared by a terminal status;
/// setting one for an unknown call is `NotFound`.
pub async fn pending_answer_is_taken_once<S: CallStore + ?Sized>(s: &S) {
    let err = s
        .set_pending_answer("CA404", &answer("x"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(s.take_pending_answer("CA404").await.unwrap(), None);

    started(s, &new_call("CA1", CallStatus::InProgress, true, 0), None).await;
    assert_eq!(s.take_pending_answer("CA1").await.unwrap(), None);
    s.set_pending_answer("CA1", &answer("first")).await.unwrap();
    s.set_pending_answer("CA1", &answer("second"))
        .await
        .unwrap();
    assert_eq!(
        s.take_pending_answer("CA1").await.unwrap(),
        Some(answer("second"))
    );
    assert_eq!(s.take_pending_answer("CA1").await.unwrap(), None);

    // Each call keeps its own; a non-terminal status keeps it, a terminal one clears it.
    started(s, &new_call("CA2", CallStatus::Ringing, true, 1), None).await;
    s.set_pending_answer("CA1", &answer("one")).await.unwrap();
    s.set_pending_answer("CA2", &answer("two")).await.unwrap();
    applied(
        s,
        "CA2",
        CallStatus::InProgress,
        None,
        StatusSource::Answer,
        2,
    )
    .await;
    applied(
        s,
        "CA1",
        CallStatus::Completed,
        Some(3),
        StatusSource::Callback,
        3,
    )
    .await;
    assert_eq!(s.take_pending_answer("CA1").await.unwrap(), None);
    assert_eq!(
        s.take_pending_answer("CA2").await.unwrap(),
        Some(answer("two"))
    );
    assert_eq!(s.take_pending_answer("CA2").await.unwrap(), None);
}

/// A socket token is good once, for its call only, until it expires.
pub async fn stream_token_is_good_once<S: CallStore + ?Sized>(s: &S) {
    let t0 = OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
    let later = t0 + time::Duration::seconds(300);
    s.put_stream_token("CA1", "aa11", later).await.unwrap();
    s.put_stream_token("CA2", "bb22", later).await.unwrap();
    // Another call's token, or a wrong one, is refused and consumes nothing.
    assert!(!s.take_stream_token("CA1", "bb22", t0).await.unwrap());
    assert!(!s.take_stream_token("CA1", "zz99", t0).await.unwrap());
    assert!(s.take_stream_token("CA1", "aa11", t0).await.unwrap());
    // Once only.
    assert!(!s.take_stream_token("CA1", "aa11", t0).await.unwrap());
    // Expired: refused, and gone.
    assert!(!s.take_stream_token("CA2", "bb22", later).await.unwrap());
    s.put_stream_token("CA3", "cc33", later).await.unwrap();
    assert!(
        s.take_stream_token("CA3", "cc33", later - time::Duration::seconds(1))
            .await
            .unwrap()
    );
}

/// Twenty concurrent `begin_call`s (tokio tasks on a shared store) with `max_live` 5:
/// exactly five get a slot.
pub async fn concurrent_begin_call_respects_max_live<S: CallStore>(s: S) {
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let call = new_call(&format!("CA{i:02}"), CallStatus::Ringing, true, i);
                s.begin_call(&call, Some(5)).await.unwrap()
            })
        })
        .collect();
    let (mut started, mut full) = (Vec::new(), 0);
    for task in tasks {
        match task.await.unwrap() {
            BeginOutcome::Started(r) => {
                assert!(r.session);
                started.push(r.call_id);
            }
            BeginOutcome::Full { live, record } => {
                assert_eq!(live, 5);
                assert!(!record.session);
                full += 1;
            }
            BeginOutcome::Existing(r) => panic!("no id was begun twice, got {r:?}"),
        }
    }
    assert_eq!((started.len(), full), (5, 15));
    let mut live: Vec<String> = s
        .live_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    live.sort();
    started.sort();
    assert_eq!(live, started);
    let all = s
        .calls(&CallQuery {
            since: None,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 20);
    assert_eq!(all.iter().filter(|c| c.session).count(), 5);
}

/// Sixteen concurrent bumps of one call's update epoch (tokio tasks on a shared store, as
/// replicas would): each gets its own epoch, 1 to 16, and the call ends at 16.
pub async fn concurrent_update_epoch_bumps_are_distinct<S: CallStore>(s: S) {
    let s = Arc::new(s);
    started(&*s, &new_call("CA1", CallStatus::InProgress, true, 0), None).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.bump_call_update_epoch("CA1").await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (1..=16).collect::<Vec<u64>>());
    assert_eq!(s.call_update_epoch("CA1").await.unwrap(), 16);
}
