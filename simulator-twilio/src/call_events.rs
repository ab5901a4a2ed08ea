//! A call's status changes: ending it, its signed status callbacks, and waits on the
//! simulated clock that end early when the call does.

use std::time::Duration;

use telephony_core::redact::redact_url;
use telephony_twilio::resources::CallResource;
use time::OffsetDateTime;

use crate::call_state::is_terminal;
use crate::dates::rfc2822;
use crate::records::CallCallbackRecord;
use crate::script::CallEnd;
use crate::signed_post::send_signed;
use crate::simulator::Simulator;

/// Sleeps `real`, or less if the call ends meanwhile.
pub(crate) async fn wait_or_end(sim: &Simulator, sid: &str, real: Duration) {
    if real.is_zero() {
        return;
    }
    let Some(wake) = sim.lock().calls.meta.get(sid).map(|m| m.wake.clone()) else {
        return;
    };
    let notified = wake.notified();
    tokio::pin!(notified);
    // Register before the check, so that an end between the check and the wait wakes us.
    notified.as_mut().enable();
    if sim.lock().calls.call(sid).is_none_or(is_terminal) {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(real) => {}
        _ = notified => {}
    }
}

/// Marks the simulator done with a call.
pub(crate) fn finished(sim: &Simulator, sid: &str) {
    if let Some(meta) = sim.lock().calls.meta.get_mut(sid) {
        meta.log.finished = true;
    }
}

/// Ends a call that has not ended yet, recording why; `None` if it already had (or is
/// unknown). An answered call's duration is
/// [`SimulatorConfig::call_duration_secs`](crate::SimulatorConfig::call_duration_secs)
/// when set, else its simulated clock in whole seconds, rounded up (a paced wait cut
/// short counts as far as it got); a call never answered lasted 0 s.
pub(crate) fn end_call(
    sim: &Simulator,
    sid: &str,
    status: &str,
    why: CallEnd,
) -> Option<CallResource> {
    let now = OffsetDateTime::now_utc();
    let config = &sim.config();
    let mut state = sim.lock();
    if state.calls.call(sid).is_none_or(is_terminal) {
        return None;
    }
    let meta = state.calls.meta.get_mut(sid)?;
    let duration = match meta.answered_at {
        None => 0,
        Some(_) => config.call_duration_secs.unwrap_or_else(|| {
            let waited = meta.waiting.map_or(0, |(since, covers)| {
                let per_ms = config.simulated_second.as_secs_f64() / 1000.0;
                let done = if per_ms > 0.0 {
                    (since.elapsed().as_secs_f64() / per_ms) as u64
                } else {
                    covers
                };
                done.min(covers)
            });
            (meta.clock_ms + waited).div_ceil(1000)
        }),
    };
    meta.log.ended_by.get_or_insert(why);
    meta.wake.notify_one();
    let call = state.calls.call_mut(sid)?;
    call.status = Some(status.to_string());
    call.end_time = Some(rfc2822(now));
    call.date_updated = Some(rfc2822(now));
    call.duration = Some(duration.to_string());
    Some(call.clone())
}

/// Sends (or drops, see [`Simulator::drop_call_callbacks`]) the status callback for
/// `event` when the call asked for it, and records it.
pub(crate) async fn emit(sim: &Simulator, call: &CallResource, event: &str) {
    emit_status(sim, call, event).await;
    if event == "completed" {
        // After the call's last status callback, as Twilio announces recordings.
        crate::recordings::call_ended(sim, call).await;
    }
}

async fn emit_status(sim: &Simulator, call: &CallResource, event: &str) {
    let (url, sequence, dropped, sip) = {
        let mut state = sim.lock();
        let dropped = state.calls.dropped_events.iter().any(|e| e == event);
        let Some(meta) = state.calls.meta.get_mut(&call.sid) else {
            return;
        };
        let wanted = if meta.events.is_empty() {
            event == "completed"
        } else {
            meta.events.iter().any(|e| e == event)
        };
        let Some(url) = meta.status_callback.clone().filter(|_| wanted) else {
            return;
        };
        let sequence = meta.sequence;
        meta.sequence += 1;
        (url, sequence, dropped, meta.sip_response_code)
    };
    let params = callback_params(call, event, sequence, sip);
    let call_status = call.status.clone().unwrap_or_default();
    let call_status = if event == "initiated" {
        "initiated".to_string()
    } else {
        call_status
    };
    let (signature, http_status, error) = if dropped {
        tracing::info!(call_sid = %call.sid, event, "simulator: dropping a call status callback as asked");
        (String::new(), None, None)
    } else {
        let (signature, http_status, error) = send_signed(sim, &url, &params).await;
        match &error {
            None => {
                tracing::debug!(call_sid = %call.sid, event, url = %redact_url(&url), "simulator: call status callback delivered")
            }
            Some(e) => {
                tracing::warn!(call_sid = %call.sid, event, url = %redact_url(&url), error = %e, "simulator: call status callback failed (not retried)")
            }
        }
        (signature, http_status, error)
    };
    sim.lock().calls.callbacks.push(CallCallbackRecord {
        call_sid: call.sid.clone(),
        event: event.to_string(),
        call_status,
        url,
        params,
        signature,
        http_status,
        error,
        dropped,
    });
}

/// The form of a call status callback (PROTOCOL §2.4); `sip` is the `SipResponseCode` of
/// a call that ended unanswered.
fn callback_params(
    call: &CallResource,
    event: &str,
    sequence: u32,
    sip: Option<u16>,
) -> Vec<(String, String)> {
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    let status = if event == "initiated" {
        "initiated"
    } else {
        call.status.as_deref().unwrap_or_default()
    };
    let mut out = vec![
        p("CallSid", &call.sid),
        p(
            "AccountSid",
            call.account_sid.as_deref().unwrap_or_default(),
        ),
        p("From", call.from.as_deref().unwrap_or_default()),
        p("To", call.to.as_deref().unwrap_or_default()),
        p("CallStatus", status),
        p("Direction", call.direction.as_deref().unwrap_or_default()),
        p("ApiVersion", "2010-04-01"),
        p("CallbackSource", "call-progress-events"),
        p("SequenceNumber", &sequence.to_string()),
        p("Timestamp", &rfc2822(OffsetDateTime::now_utc())),
    ];
    if event == "completed" {
        let secs: u64 = call
            .duration
            .as_deref()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        out.push(p("CallDuration", &secs.to_string()));
        // Billed minutes, rounded up.
        out.push(p("Duration", &secs.div_ceil(60).to_string()));
        if let Some(code) = sip {
            out.push(p("SipResponseCode", &code.to_string()));
        }
    }
    out
}
