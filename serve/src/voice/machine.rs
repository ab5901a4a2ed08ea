//! Answering-machine detection results ([`CallEvent::MachineDetection`]): kept on the
//! call, forwarded (`call.machine_detection`), told to the voice handler, and acted on as
//! `voice.onMachine` says (hang up, or leave `voice.voicemailMessage` after the beep).
//!
//! The handler's answer to the event is not used (like a status event's): a catch-all
//! `hangup` in a handler must not hang up on the humans detection reports. A handler acts
//! on a result through the gateway it is given.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telephony_core::error_chain;
use telephony_core::voice::{
    AnsweredBy, CallEvent, MachineDetected, Session, SessionChannel, SessionState, VoiceResponse,
    VoiceRun,
};
use time::OffsetDateTime;

use super::{OnMachine, Turn};
use crate::gateway::Gateway;

/// What `voice.onMachine` does with this result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Nothing,
    HangUp,
    LeaveMessage,
}

fn act(on_machine: OnMachine, answered_by: AnsweredBy) -> Act {
    match (on_machine, answered_by) {
        (_, AnsweredBy::Human | AnsweredBy::Unknown) => Act::Nothing,
        (OnMachine::Hangup, _) => Act::HangUp,
        (OnMachine::Message, AnsweredBy::Fax) => Act::HangUp,
        // The message waits for the greeting's end (a detection that waits for the beep
        // sends `machine` first, then the greeting's result).
        (OnMachine::Message, a) if a.greeting_ended() => Act::LeaveMessage,
        _ => Act::Nothing,
    }
}

/// Handles one detection result. `Err` is the HTTP answer to give instead of the
/// provider's acknowledgement (the store failed: the provider retries).
pub(crate) async fn machine_detected(gw: &Gateway, d: MachineDetected) -> Result<(), Response> {
    let now = OffsetDateTime::now_utc();
    let rec = match gw
        .store()
        .set_call_answered_by(&d.call_id, d.answered_by, now)
        .await
    {
        Ok(rec) => rec,
        Err(e) if e.is_not_found() => {
            tracing::info!(call_sid = %d.call_id, answered_by = %d.answered_by, "machine detection for an unknown call ignored");
            return Ok(());
        }
        Err(e) => {
            tracing::error!(call_sid = %d.call_id, error = %error_chain(&e), "could not store a machine detection result");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "could not store the machine detection result\n",
            )
                .into_response());
        }
    };
    tracing::info!(call_sid = %d.call_id, answered_by = %d.answered_by, raw = ?d.raw, duration_ms = ?d.duration_ms, "answering-machine detection");
    gw.dispatch()
        .forwarder()
        .forward_machine_detection(&d, Some(rec.to.clone()))
        .await;

    if let Some(h) = gw.voice().handler() {
        let mut session = Session::new(
            &rec.call_id,
            rec.to.clone(),
            SessionChannel::Voice,
            rec.started_at,
        );
        session.state = if rec.status.is_terminal() {
            SessionState::Ended
        } else {
            SessionState::Active
        };
        let ctx = Turn {
            gateway: gw.clone(),
            session,
            action_url: gw.voice_url().unwrap_or_default(),
            turn: 0,
        };
        let id = rec.call_id.clone();
        let event = CallEvent::MachineDetection(d.clone());
        tokio::spawn(async move {
            if let Err(e) = h.on_call_event(event, ctx).await {
                tracing::warn!(call_sid = %id, error = %error_chain(e.as_ref()), "voice handler failed on a machine detection event");
            }
        });
    }

    if rec.status.is_terminal() {
        return Ok(());
    }
    let settings = gw.voice_settings();
    match act(settings.on_machine, d.answered_by) {
        Act::Nothing => {}
        Act::HangUp => {
            let note = format!("hung up: answered by {} (voice.onMachine)", d.answered_by);
            if let Err(e) = gw.store().set_call_note(&d.call_id, &note).await {
                tracing::warn!(call_sid = %d.call_id, error = %error_chain(&e), "could not note why the call was hung up");
            }
            match gw.provider().hang_up(&d.call_id).await {
                Ok(()) => {
                    tracing::info!(call_sid = %d.call_id, answered_by = %d.answered_by, "hung up on a machine")
                }
                Err(e) => {
                    tracing::warn!(call_sid = %d.call_id, error = %error_chain(&e), "could not hang up on a machine")
                }
            }
        }
        Act::LeaveMessage => {
            let Some(text) = settings.voicemail_message.clone() else {
                tracing::warn!(call_sid = %d.call_id, "voice.onMachine is \"message\" but voice.voicemailMessage is not set; the call goes on");
                return Ok(());
            };
            let response = VoiceResponse::new().say(settings.say(&text)).hangup();
            match gw
                .provider()
                .replace_call_response(&d.call_id, &response)
                .await
            {
                Ok(VoiceRun::CallEnded) => {
                    tracing::info!(call_sid = %d.call_id, "the call ended before the voicemail message")
                }
                Ok(_) => {
                    let note = format!("voicemail message left after {}", d.answered_by);
                    if let Err(e) = gw.store().set_call_note(&d.call_id, &note).await {
                        tracing::warn!(call_sid = %d.call_id, error = %error_chain(&e), "could not note the voicemail message");
                    }
                    tracing::info!(call_sid = %d.call_id, answered_by = %d.answered_by, "voicemail message left")
                }
                Err(e) => {
                    tracing::warn!(call_sid = %d.call_id, error = %error_chain(&e), "could not leave the voicemail message")
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_on_machine_does() {
        use AnsweredBy::*;
        for a in [Human, Unknown] {
            for m in [OnMachine::Continue, OnMachine::Hangup, OnMachine::Message] {
                assert_eq!(act(m, a), Act::Nothing, "{m:?} {a:?}");
            }
        }
        for a in [Machine, MachineBeep, MachineNoBeep, Fax] {
            assert_eq!(act(OnMachine::Continue, a), Act::Nothing);
            assert_eq!(act(OnMachine::Hangup, a), Act::HangUp);
        }
        assert_eq!(act(OnMachine::Message, Machine), Act::Nothing);
        assert_eq!(act(OnMachine::Message, MachineBeep), Act::LeaveMessage);
        assert_eq!(act(OnMachine::Message, MachineNoBeep), Act::LeaveMessage);
        assert_eq!(act(OnMachine::Message, Fax), Act::HangUp);
    }
}
