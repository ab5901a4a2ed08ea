//! The application's side of calls: a [`VoiceHandler`] answers each call event, given a
//! [`CallContext`] (the session, the gateway, the URL for the next turn).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use telephony_core::voice::{CallEvent, Gather, Say, Session, VoiceResponse};

use super::{AnswerCalls, Turn};
use crate::gateway::Gateway;
use crate::handler_error::HandlerError;

/// What a [`VoiceHandler`] gets with each event: the session, the gateway, and the URL
/// its gathers should post to.
#[derive(Debug, Clone)]
pub struct CallContext {
    gateway: Gateway,
    session: Session,
    action_url: String,
    turn: u32,
}

impl CallContext {
    /// The call's session (id, caller, start time, state).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The gateway (to send an SMS, look up the inbox, …).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The URL a `<Gather>` (or `<Redirect>`) should use to come back to this handler
    /// with the next turn; a `Gather` without an `action` gets it filled in.
    pub fn action_url(&self) -> &str {
        &self.action_url
    }

    /// The turn number: 0 for the call's first request, then one more per gather.
    pub fn turn(&self) -> u32 {
        self.turn
    }

    /// A `<Say>` in the configured `voice.voice` and `voice.language`.
    pub fn say(&self, text: impl AsRef<str>) -> Say {
        self.gateway.voice_settings().say(text.as_ref())
    }

    /// A speech `<Gather>` (speech timeout `auto`, `voice.language`) posting back to this
    /// handler. Add `.dtmf()` for keys too.
    pub fn gather(&self) -> Gather {
        self.gateway
            .voice_settings()
            .speech_gather(&self.action_url)
    }
}

/// The application's side of calls: gets each call event and returns what the caller
/// hears next.
///
/// Events: [`CallEvent::Incoming`] (a new call, with the caller's details),
/// [`CallEvent::Gather`] (what the caller said — `SpeechResult` and `Confidence` — or
/// typed), [`CallEvent::Progress`] (a redirect of the application's own), and
/// [`CallEvent::Status`] (a status change; a terminal one is the hang-up — the returned
/// response is not used). Only callers the policy admits reach the handler.
///
/// Implemented for async closures `Fn(CallEvent, CallContext) -> impl Future<Output =
/// Result<VoiceResponse, HandlerError>>`:
///
/// ```
/// use telephony_core::voice::{CallEvent, VoiceResponse};
/// use telephony_serve::{CallContext, HandlerError, VoiceHandler};
///
/// fn menu() -> impl VoiceHandler {
///     |event: CallEvent, call: CallContext| async move {
///         Ok::<_, HandlerError>(match event {
///             CallEvent::Incoming(_) => VoiceResponse::new()
///                 .gather(call.gather().dtmf().num_digits(1).say(call.say("Say sales or press 1.")))
///                 .say(call.say("Goodbye.")),
///             CallEvent::Gather { speech, digits, .. } => {
///                 let sales = digits.as_deref() == Some("1")
///                     || speech.is_some_and(|s| s.text.to_lowercase().contains("sales"));
///                 let text = if sales { "Connecting you to sales." } else { "Sorry, goodbye." };
///                 VoiceResponse::new().say(call.say(text)).hangup()
///             }
///             _ => VoiceResponse::new().hangup(),
///         })
///     }
/// }
/// ```
///
/// An error or a panic ends the call politely (an apology, then hang-up); an empty
/// response hangs up.
#[async_trait]
pub trait VoiceHandler: Send + Sync + 'static {
    /// Answers one call event.
    async fn on_call_event(
        &self,
        event: CallEvent,
        call: CallContext,
    ) -> Result<VoiceResponse, HandlerError>;
}

#[async_trait]
impl<F, Fut> VoiceHandler for F
where
    F: Fn(CallEvent, CallContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<VoiceResponse, HandlerError>> + Send + 'static,
{
    async fn on_call_event(
        &self,
        event: CallEvent,
        call: CallContext,
    ) -> Result<VoiceResponse, HandlerError> {
        (self)(event, call).await
    }
}

/// The application's voice handler as the voice part holds it.
pub(crate) struct AppVoiceHandler(pub(crate) Arc<dyn VoiceHandler>);

#[async_trait]
impl AnswerCalls<Gateway> for AppVoiceHandler {
    async fn on_call_event(
        &self,
        event: CallEvent,
        turn: Turn<Gateway>,
    ) -> Result<VoiceResponse, HandlerError> {
        let call = CallContext {
            gateway: turn.gateway,
            session: turn.session,
            action_url: turn.action_url,
            turn: turn.turn,
        };
        self.0.on_call_event(event, call).await
    }
}
