//! The voice worker: enforces `voice.maxDurationSeconds` on inbound calls and reaps
//! sessions whose end the gateway never heard of.
//!
//! The reaper never ends a session on a timer: a session that went quiet for
//! `reap_after` is looked up at the provider ([`Provider::fetch_call`]); only a terminal
//! status there ends it, and a live call is left alone (its record is touched). On start
//! every live session is checked at once, so calls that ended while the gateway was down
//! give their slots back (restart reconciliation).
//!
//! Replicas sharing a store run the sweeps on one replica at a time: before each, the
//! worker takes or renews the store's singleton lease [`REAPER_TASK`]
//! ([`ClusterStore::try_lead`](telephony_core::ClusterStore::try_lead)) for three ticks;
//! the others skip the tick. If the leader dies, another takes over once its lease
//! expires. The restart reconciliation runs on a replica's first sweep as leader.
//!
//! [`Provider::fetch_call`]: telephony_core::Provider::fetch_call

use std::sync::Arc;
use std::time::Duration;

use telephony_core::error_chain;
use telephony_core::store::{CallRecord, StatusSource};
use telephony_core::voice::{CallDirection, CallStatus};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::Voice;

/// The note on a call the gateway hung up for its duration limit.
pub(crate) const LIMIT_NOTE: &str = "hung up: voice.maxDurationSeconds reached";
/// An outbound reservation whose create never finished (the gateway stopped mid-call).
const RESERVATION_GRACE: Duration = Duration::from_secs(120);
/// The singleton lease of the voice worker's sweeps.
pub(crate) const REAPER_TASK: &str = "voice-reaper";

pub(crate) async fn run<G: Send + 'static>(voice: Arc<Voice<G>>, mut stop: watch::Receiver<bool>) {
    let settings = voice.settings().clone();
    if !settings.enabled {
        return;
    }
    // Reconcile once, on the first sweep this replica leads, every live session recorded
    // before this start: those that ended while the gateway was down free their slots
    // then. A call answered since is live by definition, and may not be at the
    // provider's API yet.
    // Stores keep milliseconds: a call recorded in the start's millisecond counts as after.
    let now = OffsetDateTime::now_utc();
    let started = now - time::Duration::nanoseconds(i64::from(now.nanosecond() % 1_000_000));
    let mut reconciled = false;
    loop {
        if leads(&voice, settings.tick).await {
            if reconciled {
                sweep(&voice, Check::Quiet).await;
            } else {
                sweep(&voice, Check::RecordedBefore(started)).await;
                reconciled = true;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.tick) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// True when this replica holds (took or renewed) the reaper's lease, for three ticks.
async fn leads<G: Send + 'static>(voice: &Voice<G>, tick: Duration) -> bool {
    let shared = voice.shared();
    let ttl = tick.saturating_mul(3);
    match shared
        .store()
        .try_lead(
            REAPER_TASK,
            shared.replica(),
            OffsetDateTime::now_utc(),
            ttl,
        )
        .await
    {
        Ok(true) => true,
        Ok(false) => {
            tracing::debug!(
                replica = shared.replica(),
                "another replica runs the voice reaper"
            );
            false
        }
        Err(e) => {
            tracing::error!(replica = shared.replica(), error = %error_chain(&e), "voice worker could not take the reaper's lease; skipping this sweep");
            false
        }
    }
}

/// Which live sessions a sweep looks up at the provider.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// Those quiet for `reap_after`.
    Quiet,
    /// Every session last updated before this instant, quiet or not.
    RecordedBefore(OffsetDateTime),
}

/// One pass over live sessions.
pub(crate) async fn sweep<G: Send + 'static>(voice: &Voice<G>, check: Check) {
    let sessions = match voice.shared().store().live_sessions().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "voice worker could not list live sessions");
            return;
        }
    };
    let now = OffsetDateTime::now_utc();
    for s in sessions {
        if s.call_id.starts_with("pending_") {
            reservation(voice, &s, now).await;
            continue;
        }
        enforce_limit(voice, &s, now).await;
        let due = match check {
            Check::Quiet => now - s.updated_at >= voice.settings().reap_after,
            Check::RecordedBefore(at) => s.updated_at < at,
        };
        if due {
            reap(voice, &s).await;
        }
    }
}

async fn reservation<G: Send + 'static>(voice: &Voice<G>, s: &CallRecord, now: OffsetDateTime) {
    if now - s.started_at < RESERVATION_GRACE {
        return;
    }
    tracing::warn!(reservation = %s.call_id, "an outbound call was never confirmed by the provider; releasing its slot");
    let store = voice.shared().store();
    let res = async {
        store
            .update_call_status(
                &s.call_id,
                CallStatus::Failed,
                None,
                StatusSource::Reaper,
                now,
            )
            .await?;
        store
            .set_call_note(
                &s.call_id,
                "placing the call did not finish (the gateway stopped while asking the provider)",
            )
            .await
    }
    .await;
    if let Err(e) = res {
        tracing::error!(reservation = %s.call_id, error = %error_chain(&e), "could not release a reservation");
    }
}

/// Inbound calls past `voice.maxDurationSeconds` since the answer are hung up through the
/// provider (outbound calls carry the provider's own time limit).
async fn enforce_limit<G: Send + 'static>(voice: &Voice<G>, s: &CallRecord, now: OffsetDateTime) {
    let Some(max) = voice.settings().max_duration else {
        return;
    };
    if s.direction == CallDirection::Outbound || s.note.as_deref() == Some(LIMIT_NOTE) {
        return;
    }
    let Some(answered) = s.answered_at else {
        return;
    };
    if now - answered < max {
        return;
    }
    match voice.shared().provider().hang_up(&s.call_id).await {
        Ok(()) => {
            tracing::info!(call_sid = %s.call_id, max_secs = max.as_secs(), "call hung up: voice.maxDurationSeconds reached");
            if let Err(e) = voice
                .shared()
                .store()
                .set_call_note(&s.call_id, LIMIT_NOTE)
                .await
            {
                tracing::error!(call_sid = %s.call_id, error = %error_chain(&e), "could not record the hang-up");
            }
        }
        Err(e) => {
            tracing::warn!(call_sid = %s.call_id, error = %e, "could not hang up a call past its duration limit; will retry");
        }
    }
}

/// Asks the provider where a quiet session's call is.
async fn reap<G: Send + 'static>(voice: &Voice<G>, s: &CallRecord) {
    let now = OffsetDateTime::now_utc();
    match voice.shared().provider().fetch_call(&s.call_id).await {
        Ok(call) if call.status.is_terminal() => {
            let duration = call
                .extra
                .get("duration")
                .and_then(|d| d.parse().ok())
                .or_else(|| {
                    Some((call.ended_at? - call.answered_at?).whole_seconds().max(0) as u64)
                });
            tracing::info!(call_sid = %s.call_id, status = %call.status, "reaper: the provider says the call ended");
            if let Err(e) = voice
                .apply_call_status(&s.call_id, call.status, duration, StatusSource::Reaper)
                .await
            {
                tracing::error!(call_sid = %s.call_id, error = %error_chain(&e), "reaper could not end a session");
            }
        }
        Ok(call) => {
            tracing::debug!(call_sid = %s.call_id, status = %call.status, "reaper: call still live");
            let store = voice.shared().store();
            let res = if s.status.can_advance_to(call.status) {
                voice
                    .apply_call_status(&s.call_id, call.status, None, StatusSource::Reaper)
                    .await
                    .map(|_| ())
            } else {
                store.touch_call(&s.call_id, now).await
            };
            if let Err(e) = res {
                tracing::error!(call_sid = %s.call_id, error = %error_chain(&e), "reaper could not record a live call");
            }
        }
        Err(e) if e.http_status() == Some(404) => {
            tracing::warn!(call_sid = %s.call_id, "reaper: the provider does not know this call; ending its session");
            let res = async {
                voice
                    .apply_call_status(&s.call_id, CallStatus::Failed, None, StatusSource::Reaper)
                    .await?;
                voice
                    .shared()
                    .store()
                    .set_call_note(&s.call_id, "the provider does not know this call (404)")
                    .await
            }
            .await;
            if let Err(e) = res {
                tracing::error!(call_sid = %s.call_id, error = %error_chain(&e), "reaper could not end a session");
            }
        }
        Err(e) => {
            // Unknown state: keep the session; it is checked again after `reap_after`.
            tracing::warn!(call_sid = %s.call_id, error = %e, "reaper could not fetch a call; keeping its session");
            if let Err(e) = voice.shared().store().touch_call(&s.call_id, now).await {
                tracing::error!(call_sid = %s.call_id, error = %error_chain(&e), "reaper could not record its check");
            }
        }
    }
}
