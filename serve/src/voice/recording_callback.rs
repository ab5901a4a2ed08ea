//! The provider's "recording ready" callback: stored with the call, forwarded as
//! `call.recording`, told to the handler.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telephony_core::error_chain;
use telephony_core::store::StoreError;
use telephony_core::voice::{CallEvent, CallRecording, SessionState};

use super::Turn;
use super::answer::voice_session;
use crate::gateway::Gateway;

fn text(status: StatusCode, msg: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

/// A verified "recording ready" callback: stores the metadata with the call, forwards
/// `call.recording` and tells the handler (once per recording id: a redelivery only
/// refreshes the metadata). An unknown call is 404 with nothing stored; a store failure
/// is 503 (the provider delivers it again). `then` (a commands provider's plan after a
/// turn recording) is carried out after the recording is stored.
pub(crate) async fn received(
    gw: &Gateway,
    recording: CallRecording,
    then: Option<Box<CallEvent>>,
    signed_url: &str,
) -> Response {
    let call_id = recording.call_id.clone();
    match gw.store().add_recording(&recording).await {
        Ok(true) => {
            tracing::info!(call_sid = %call_id, recording_sid = %recording.recording_id, duration_secs = ?recording.duration_secs, channels = %recording.channels, source = ?recording.source, "recording stored");
            gw.dispatch()
                .forwarder()
                .forward_recording(&recording)
                .await;
            notify_handler(gw, &recording).await;
        }
        Ok(false) => {
            tracing::info!(call_sid = %call_id, recording_sid = %recording.recording_id, "recording callback delivered again; metadata refreshed, not forwarded twice");
        }
        Err(StoreError::NotFound { .. }) => {
            tracing::warn!(call_sid = %call_id, recording_sid = %recording.recording_id, "recording for a call the gateway does not know; not stored");
            return text(
                StatusCode::NOT_FOUND,
                format!(
                    "no call {call_id}: recording {} not stored\n",
                    recording.recording_id
                ),
            );
        }
        Err(e) => {
            tracing::error!(call_sid = %call_id, error = %error_chain(&e), "could not store a recording");
            let mut r = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the recording\n".into(),
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from(crate::health::RETRY_AFTER_SECS),
            );
            return r;
        }
    }
    match then {
        Some(next) => super::commands::answer(gw, *next, signed_url).await,
        None => {
            let ack = gw.provider().webhook_ack();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, ack.content_type)],
                ack.body,
            )
                .into_response()
        }
    }
}

/// The handler hears of the recording (its answer is not used: the recording is not a
/// turn of the call).
async fn notify_handler(gw: &Gateway, recording: &CallRecording) {
    let Some(h) = gw.voice().handler() else {
        return;
    };
    let Ok(Some(rec)) = gw.store().call(&recording.call_id).await else {
        return;
    };
    let ctx = Turn {
        gateway: gw.clone(),
        session: voice_session(
            &rec.call_id,
            rec.direction,
            &rec.from,
            &rec.to,
            rec.started_at,
            if rec.status.is_terminal() {
                SessionState::Ended
            } else {
                SessionState::Active
            },
        ),
        action_url: gw.voice_url().unwrap_or_default(),
        turn: 0,
    };
    let event = CallEvent::Recording {
        recording: recording.clone(),
        then: None,
    };
    let id = rec.call_id.clone();
    tokio::spawn(async move {
        if let Err(e) = h.on_call_event(event, ctx).await {
            tracing::warn!(call_sid = %id, error = %error_chain(e.as_ref()), "voice handler failed on a recording event");
        }
    });
}
