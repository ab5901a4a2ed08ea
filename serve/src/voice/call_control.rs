//! Changing a live call from outside its handler: live updates
//! ([`Gateway::update_call`](crate::Gateway::update_call)) and transfers
//! ([`Gateway::transfer_call`](crate::Gateway::transfer_call)), and how they are ordered
//! with what the call's own handler is doing.
//!
//! Ordering: each update bumps the call's *update epoch* before the provider is asked.
//! A handler answer worked out while an update was made (the epoch moved between the
//! turn's start and the answer) is dropped and logged, on time or late: the update wins
//! over the handler's answer for that turn. Events the provider produces for the
//! replaced instructions after the update are its own business: Twilio stops the
//! replaced TwiML; on Telnyx the update's commands carry a new `client_state`, so a
//! stopped gather or speech does not resume the old plan. The epoch is a column of the
//! call in the store ([`CallRecord::update_epoch`]), bumped in one statement, so the
//! guarantee holds across replicas: an update made through one replica drops the answer
//! a handler on another replica works out for the same call. What it costs: the bump
//! (one `UPDATE … RETURNING`) per update, and one primary-key read per handler answer
//! (the turn's starting epoch comes from the call record the turn reads anyway); see
//! [`update_epochs`](super::update_epochs) for what a store failure does.

use telephony_core::store::CallRecord;
use telephony_core::voice::{
    CallUpdate, Dial, TransferTargetError, VoiceControl, VoiceResponse, VoiceRun, transfer_target,
};
use telephony_core::{ProviderError, StoreError, error_chain};

use super::answer::{self, call_url};
use super::{fill_actions, update_epochs};
use crate::gateway::Gateway;

/// Why a live call could not be changed (nothing was changed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallControlError {
    /// `voice.enabled` is false.
    #[error("voice is disabled: set voice.enabled to true to control calls")]
    Disabled,
    /// The store has no call with this id.
    #[error("no call with id {0:?}")]
    UnknownCall(String),
    /// The call is over.
    #[error("call {call_id} has ended ({status})")]
    Ended {
        /// The call.
        call_id: String,
        /// Its final status (`completed`, `busy`, …).
        status: String,
    },
    /// The transfer target is not an E.164 number or a `sip:` URI.
    #[error(transparent)]
    InvalidTarget(#[from] TransferTargetError),
    /// The update cannot be carried out as given (empty text, TwiML for a provider
    /// without markup, TwiML that is not well-formed).
    #[error("{0}")]
    Invalid(String),
    /// The provider refused or could not be reached.
    #[error("the provider did not change the call: {0}")]
    Provider(#[from] ProviderError),
    /// The store failed.
    #[error("could not read or record the call")]
    Store(#[from] StoreError),
}

impl CallControlError {
    /// True when the caller's request was at fault (unknown or ended call, bad target,
    /// bad update): the same request fails the same way again.
    ///
    /// ```
    /// use telephony_serve::CallControlError;
    /// assert!(CallControlError::UnknownCall("CA1".into()).is_bad_input());
    /// let e = CallControlError::Ended { call_id: "CA1".into(), status: "completed".into() };
    /// assert_eq!(e.to_string(), "call CA1 has ended (completed)");
    /// assert!(e.is_bad_input());
    /// ```
    pub fn is_bad_input(&self) -> bool {
        match self {
            CallControlError::Disabled | CallControlError::Store(_) => false,
            CallControlError::Provider(ProviderError::InvalidMessage(_)) => true,
            CallControlError::Provider(e) => {
                !e.is_retryable() && e.http_status().is_some_and(|s| s < 500)
            }
            _ => true,
        }
    }
}

/// The call, if it is live.
async fn live_call(gw: &Gateway, call_id: &str) -> Result<CallRecord, CallControlError> {
    if !gw.voice_settings().enabled {
        return Err(CallControlError::Disabled);
    }
    let rec = gw
        .store()
        .call(call_id)
        .await?
        .ok_or_else(|| CallControlError::UnknownCall(call_id.to_string()))?;
    if rec.status.is_terminal() {
        return Err(CallControlError::Ended {
            call_id: call_id.to_string(),
            status: rec.status.as_str().to_string(),
        });
    }
    Ok(rec)
}

fn ended(call_id: &str) -> CallControlError {
    CallControlError::Ended {
        call_id: call_id.to_string(),
        status: "ended at the provider".to_string(),
    }
}

/// What the provider is asked to do for `update`: a `Say` becomes a response that
/// speaks, then listens for the caller's next turn; gathers and dials without an action
/// report back to the gateway.
async fn resolve(
    gw: &Gateway,
    rec: &CallRecord,
    update: CallUpdate,
) -> Result<CallUpdate, CallControlError> {
    let base = gw
        .voice_url()
        .unwrap_or_else(|| gw.webhook_path().to_string());
    let turn = rec.transcript.len() + 1;
    let action = call_url(&base, &rec.call_id, &format!("turn={turn}"));
    let response = match update {
        CallUpdate::Say(say) => {
            if say.text.trim().is_empty() {
                return Err(CallControlError::Invalid("the text to say is empty".into()));
            }
            let v = gw.voice_settings();
            VoiceResponse::new()
                .say(say)
                .gather(v.speech_gather(&action))
                .say(v.say(&v.closing))
                .hangup()
        }
        CallUpdate::Response(r) => {
            if r.is_empty() {
                return Err(CallControlError::Invalid(
                    "the response is empty (to end the call, hang up)".into(),
                ));
            }
            r
        }
        CallUpdate::Twiml(doc) => {
            if gw.provider().voice_control() == VoiceControl::Commands {
                return Err(CallControlError::Invalid(format!(
                    "TwiML updates need a markup provider (Twilio); {} runs calls with commands: update with a say or a response instead",
                    gw.provider().name()
                )));
            }
            return Ok(CallUpdate::Twiml(doc));
        }
        CallUpdate::Hangup => return Ok(CallUpdate::Hangup),
        other => {
            return Err(CallControlError::Invalid(format!(
                "a {} update is not supported",
                other.kind()
            )));
        }
    };
    let mut response = response;
    fill_actions(&mut response, &action);
    let response = answer::connect_realtime(gw, &rec.call_id, &base, response).await;
    Ok(CallUpdate::Response(response))
}

/// See [`Gateway::update_call`](crate::Gateway::update_call).
pub(crate) async fn update_call(
    gw: &Gateway,
    call_id: &str,
    update: CallUpdate,
    note: Option<String>,
) -> Result<CallRecord, CallControlError> {
    let rec = live_call(gw, call_id).await?;
    let kind = update.kind();
    let update = resolve(gw, &rec, update).await?;
    let store = gw.store().as_ref();
    let epoch = update_epochs::bump(store, call_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => CallControlError::UnknownCall(call_id.to_string()),
            e => CallControlError::Store(e),
        })?;
    let outcome = gw.provider().update_call(call_id, &update).await;
    let run = match outcome {
        Ok(run) => run,
        Err(e) => {
            update_epochs::undo(store, call_id, epoch).await;
            tracing::warn!(call_sid = %call_id, kind, error = %error_chain(&e), "the provider refused a live call update");
            return Err(e.into());
        }
    };
    match run {
        VoiceRun::CallEnded => {
            update_epochs::undo(store, call_id, epoch).await;
            return Err(ended(call_id));
        }
        VoiceRun::Redirect(url) => {
            // A commands provider's plan ended with a redirect: the gateway answers it as
            // the provider would have requested it.
            super::commands::follow_redirect(gw, call_id, &url).await;
        }
        _ => {}
    }
    tracing::info!(call_sid = %call_id, kind, epoch, "live call update carried out");
    let note = note.unwrap_or_else(|| format!("live update: {kind}"));
    if let Err(e) = gw.store().set_call_note(call_id, &note).await {
        tracing::warn!(call_sid = %call_id, error = %error_chain(&e), "could not note a live update on the call");
    }
    Ok(gw.store().call(call_id).await?.unwrap_or(rec))
}

/// See [`Gateway::transfer_call`](crate::Gateway::transfer_call).
pub(crate) async fn transfer_call(
    gw: &Gateway,
    call_id: &str,
    mut dial: Dial,
) -> Result<CallRecord, CallControlError> {
    dial.number = transfer_target(&dial.number)?;
    if let Some(id) = &dial.caller_id {
        let n = telephony_core::PhoneNumber::parse(id)
            .map_err(|e| CallControlError::Invalid(format!("invalid caller id {id:?}: {e}")))?;
        dial.caller_id = Some(n.as_str().to_string());
    }
    if dial.timeout == Some(0) {
        return Err(CallControlError::Invalid(
            "the transfer timeout must be at least 1 second".into(),
        ));
    }
    let note = format!("transfer to {} requested", dial.number);
    update_call(
        gw,
        call_id,
        CallUpdate::Response(VoiceResponse::new().dial(dial)),
        Some(note),
    )
    .await
}

// The gateway's call-control entry points live here, beside what they run, so the
// gateway's own file does not depend on the voice answering code.
impl Gateway {
    /// Changes a live call from outside its handler: say something now (then listen for
    /// the caller's next turn), replace what it does with a response or (Twilio) TwiML,
    /// or hang it up. The update wins over the handler's answer for the turn in progress
    /// (that answer is dropped and logged), on whichever replica sharing the store the
    /// handler runs: the call's update epoch is bumped in the store before the provider
    /// is asked. An unknown call, a call that has ended, an empty text or TwiML on a
    /// provider without markup is an error, and nothing is sent.
    ///
    /// ```no_run
    /// # async fn demo(gw: telephony_serve::Gateway) -> Result<(), telephony_serve::CallControlError> {
    /// use telephony_core::voice::CallUpdate;
    /// let call = gw.update_call("CA123", CallUpdate::say("Your order is ready.")).await?;
    /// assert_eq!(call.note.as_deref(), Some("live update: say"));
    /// # Ok(()) }
    /// ```
    pub async fn update_call(
        &self,
        call_id: &str,
        update: telephony_core::voice::CallUpdate,
    ) -> Result<CallRecord, crate::CallControlError> {
        update_call(self, call_id, update, None).await
    }

    /// Transfers a live call (cold) to an E.164 number or a `sip:` URI, with the
    /// [`Dial`](telephony_core::voice::Dial)'s ring timeout and caller id. The outcome
    /// comes back to the voice handler as
    /// [`CallEvent::Transfer`](telephony_core::voice::CallEvent::Transfer) and is noted
    /// on the call. A target that is not a number or SIP URI is refused before anything
    /// is sent.
    ///
    /// ```no_run
    /// # async fn demo(gw: telephony_serve::Gateway) -> Result<(), telephony_serve::CallControlError> {
    /// use telephony_core::voice::Dial;
    /// let call = gw.transfer_call("CA123", Dial::new("+15550001234").timeout(20)).await?;
    /// assert_eq!(call.note.as_deref(), Some("transfer to +15550001234 requested"));
    /// # Ok(()) }
    /// ```
    pub async fn transfer_call(
        &self,
        call_id: &str,
        dial: telephony_core::voice::Dial,
    ) -> Result<CallRecord, crate::CallControlError> {
        transfer_call(self, call_id, dial).await
    }
}
