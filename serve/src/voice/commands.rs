//! Calls on a provider driven by commands ([`VoiceControl::Commands`], Telnyx Call
//! Control): the gateway decides what to answer exactly as for a markup provider
//! ([`answer::decide`]), renders it into the provider's plan, and the provider carries it
//! out ([`Provider::run_voice`](telephony_core::Provider::run_voice)); the event itself is
//! acknowledged with the provider's empty answer.
//!
//! [`VoiceControl::Commands`]: telephony_core::voice::VoiceControl::Commands

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telephony_core::store::StatusSource;
use telephony_core::voice::{ACTION_EXTRA, Call, CallDirection, CallEvent, CallStatus, VoiceRun};

use super::answer::{self, APOLOGY, Answer};
use crate::gateway::Gateway;

/// Redirects one event may follow (a handler's hold loop is 3); more is a loop.
const MAX_REDIRECTS: u32 = 8;

fn text(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

fn ack(gw: &Gateway) -> Response {
    let a = gw.provider().webhook_ack();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, a.content_type)],
        a.body,
    )
        .into_response()
}

/// The query of the action URL a commands provider echoed back (the gateway's own
/// parameters: `call`, `turn`, `retry`, `hold`).
fn action_query(call: &Call) -> Option<&str> {
    call.extra
        .get(ACTION_EXTRA)
        .and_then(|url| url.split_once('?'))
        .map(|(_, q)| q)
}

/// A resume that carries an action is the fall-through of that gather (it ended with no
/// answer). When the call already has the gather's turn, the answer won the race (a
/// provider's events are not ordered across commands) and the fall-through is late.
async fn gather_already_answered(gw: &Gateway, call: &Call) -> bool {
    let Some(query) = action_query(call) else {
        return false;
    };
    let turn = super::answer::CallParams::parse(Some(query)).turn;
    if turn == 0 {
        return false;
    }
    match gw.store().call(&call.call_id).await {
        Ok(Some(rec)) => rec.transcript.len() >= turn as usize,
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(call_sid = %call.call_id, error = %telephony_core::error_chain(&e), "could not read the call; going on with its answer");
            false
        }
    }
}

/// A commands provider's events do not all say who is on the call (Telnyx's
/// `call.answered` has no direction, a transcription no numbers): what is missing comes
/// from the call's record, so sessions and transcripts name the right party.
async fn with_record(gw: &Gateway, event: CallEvent) -> CallEvent {
    fn missing(c: &Call) -> bool {
        c.direction == CallDirection::Unknown || c.from.is_empty() || c.to.is_empty()
    }
    let mut event = event;
    let call = match &mut event {
        CallEvent::Incoming(c)
        | CallEvent::Progress(c)
        | CallEvent::Gather { call: c, .. }
        | CallEvent::Transfer { call: c, .. } => c,
        _ => return event,
    };
    if !missing(call) {
        return event;
    }
    match gw.store().call(&call.call_id).await {
        Ok(Some(rec)) => {
            if call.direction == CallDirection::Unknown {
                call.direction = rec.direction;
            }
            if call.from.is_empty() {
                call.from = rec.from;
            }
            if call.to.is_empty() {
                call.to = rec.to;
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(call_sid = %call.call_id, error = %telephony_core::error_chain(&e), "could not read the call's record");
        }
    }
    event
}

/// The provider's plan for an answer; a response the provider cannot carry out ends the
/// call with an apology (the error names the verb and is logged). `None`: nothing to
/// carry out (a live update superseded the answer).
async fn plan_of(gw: &Gateway, call_id: &str, base: &str, answer: Answer) -> Option<Vec<u8>> {
    Some(match answer {
        Answer::Superseded => return None,
        Answer::Rendered(kept) => kept.body.into_bytes(),
        Answer::Respond(response) => {
            let response = answer::connect_realtime(gw, call_id, base, response).await;
            match gw.provider().render_voice(&response) {
                Ok(r) => r.body.to_vec(),
                Err(e) => {
                    tracing::error!(call_sid = %call_id, provider = gw.provider().name(), error = %e, "cannot carry out this voice response; ending the call");
                    match gw.provider().render_voice(&answer::goodbye(gw, APOLOGY)) {
                        Ok(r) => r.body.to_vec(),
                        Err(_) => b"[]".to_vec(),
                    }
                }
            }
        }
    })
}

/// Answers one call event of a commands provider (statuses go to
/// [`answer::call_status`] before this).
pub(crate) async fn answer(gw: &Gateway, event: CallEvent, signed_url: &str) -> Response {
    let base = answer::base_url(gw, signed_url);
    let call = match &event {
        CallEvent::Incoming(c)
        | CallEvent::Progress(c)
        | CallEvent::Gather { call: c, .. }
        | CallEvent::Resume { call: c, .. }
        | CallEvent::Transfer { call: c, .. } => c.clone(),
        other => {
            tracing::info!(call_sid = %other.call_id(), "a call event with nothing to carry out; acknowledged");
            return ack(gw);
        }
    };
    if call.answered_at.is_some() {
        // The event reports the answer itself (there is no separate status callback).
        if let Err(e) = gw
            .voice()
            .apply_call_status(
                &call.call_id,
                CallStatus::InProgress,
                None,
                StatusSource::Callback,
            )
            .await
        {
            tracing::error!(call_sid = %call.call_id, error = %telephony_core::error_chain(&e), "could not store a call status");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not store call status",
            );
        }
    }
    // After an answered transfer the legs are bridged: the call belongs to the person it
    // was handed to, and the handler's answer is not run.
    let bridged = matches!(&event, CallEvent::Transfer { outcome, .. } if outcome.is_answered());
    let plan = match event {
        CallEvent::Resume { plan, .. } => {
            if gather_already_answered(gw, &call).await {
                tracing::info!(call_sid = %call.call_id, "a gather that was already answered ended late; ignored");
                return ack(gw);
            }
            plan.into_bytes()
        }
        other => {
            let query = action_query(&call).map(str::to_string);
            let other = with_record(gw, other).await;
            match answer::decide(gw, other, &base, query.as_deref()).await {
                Ok(a) => match plan_of(gw, &call.call_id, &base, a).await {
                    Some(plan) => plan,
                    None => return ack(gw),
                },
                Err(response) => return response,
            }
        }
    };
    if bridged {
        tracing::info!(call_sid = %call.call_id, "the transfer was answered and the legs bridged; the handler's answer is not run");
        return ack(gw);
    }
    carry_out(gw, &call, &base, plan).await
}

/// A live update's plan ended with a redirect: answer it as the provider would have
/// requested it, and carry the answer out.
pub(crate) async fn follow_redirect(gw: &Gateway, call_id: &str, url: &str) {
    let call = match gw.store().call(call_id).await {
        Ok(Some(rec)) => Call::new(
            call_id,
            rec.from,
            rec.to,
            rec.direction,
            CallStatus::InProgress,
        ),
        _ => Call::new(
            call_id,
            "",
            "",
            CallDirection::Unknown,
            CallStatus::InProgress,
        ),
    };
    let base = answer::base_url(gw, url);
    let query = url.split_once('?').map(|(_, q)| q.to_string());
    let plan = match answer::decide(
        gw,
        CallEvent::Progress(call.clone()),
        &base,
        query.as_deref(),
    )
    .await
    {
        Ok(a) => match plan_of(gw, call_id, &base, a).await {
            Some(plan) => plan,
            None => return,
        },
        Err(_) => return,
    };
    let response = carry_out(gw, &call, &base, plan).await;
    if !response.status().is_success() {
        tracing::warn!(call_sid = %call_id, status = %response.status(), "could not follow a live update's redirect");
    }
}

/// Runs `plan` on the call, following redirects; the provider's webhook is answered with
/// the result.
async fn carry_out(gw: &Gateway, call: &Call, base: &str, mut plan: Vec<u8>) -> Response {
    let base = base.to_string();
    let mut redirects = 0;
    loop {
        match gw.provider().run_voice(call, &plan).await {
            Ok(VoiceRun::Redirect(url)) => {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    tracing::error!(call_sid = %call.call_id, redirects, "too many redirects for one event; ending the call");
                    match plan_of(
                        gw,
                        &call.call_id,
                        &base,
                        answer::goodbye(gw, APOLOGY).into(),
                    )
                    .await
                    {
                        Some(p) => plan = p,
                        None => return ack(gw),
                    }
                    continue;
                }
                let query = url.split_once('?').map(|(_, q)| q.to_string());
                let mut next = call.clone();
                next.status = CallStatus::InProgress;
                match answer::decide(gw, CallEvent::Progress(next), &base, query.as_deref()).await {
                    Ok(a) => match plan_of(gw, &call.call_id, &base, a).await {
                        Some(p) => plan = p,
                        None => return ack(gw),
                    },
                    Err(response) => return response,
                }
            }
            Ok(VoiceRun::CallEnded) => {
                tracing::info!(call_sid = %call.call_id, "the call ended before its answer ran");
                return ack(gw);
            }
            Ok(_) => return ack(gw),
            Err(e) => {
                // Not acknowledged: the provider delivers the event again, and commands
                // keyed by the event are not run twice.
                tracing::error!(call_sid = %call.call_id, provider = gw.provider().name(), error = %telephony_core::error_chain(&e), "could not carry out the call's answer");
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not carry out the call's answer",
                );
            }
        }
    }
}
