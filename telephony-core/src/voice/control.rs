//! How a provider takes a call's instructions: as markup in the answer to its webhook
//! (Twilio's TwiML) or as REST commands the application issues while the provider reports
//! events (Telnyx Call Control).
//!
//! The gateway decides what to say the same way for both: a [`VoiceResponse`]. It renders
//! it with [`Provider::render_voice`](crate::Provider::render_voice); a
//! [`VoiceControl::Markup`] provider's rendering is the webhook's answer, a
//! [`VoiceControl::Commands`] provider's rendering is a *plan* that
//! [`Provider::run_voice`](crate::Provider::run_voice) carries out with commands. What a
//! plan still has to do after a step (a speech that must end before the next verb) travels
//! with the call at the provider (Telnyx `client_state`) and comes back as
//! [`CallEvent::Resume`](crate::voice::CallEvent::Resume), so any replica can take the next
//! event.
//!
//! [`VoiceResponse`]: crate::voice::VoiceResponse

/// How a provider takes a call's instructions.
///
/// ```
/// use telephony_core::voice::VoiceControl;
/// assert_eq!(VoiceControl::default(), VoiceControl::Markup);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoiceControl {
    /// The provider asks for instructions on each webhook and reads them from the answer.
    #[default]
    Markup,
    /// The provider only reports events (answered with an empty acknowledgement); the
    /// gateway acts with [`Provider::run_voice`](crate::Provider::run_voice).
    Commands,
}

/// What carrying out a plan left for the gateway to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoiceRun {
    /// The provider reports what happens next as events.
    Done,
    /// The plan ended with a redirect: answer this URL as if the provider had requested
    /// it (the call's next [`CallEvent::Progress`](crate::voice::CallEvent::Progress)).
    Redirect(String),
    /// The call ended before the plan could run (the provider refused the command for an
    /// ended call); nothing more to do.
    CallEnded,
}

/// The key in [`Call::extra`](crate::voice::Call::extra) where a commands provider puts
/// the action URL of the verb that led to an event (a gather's `action`), which a markup
/// provider would have requested instead. The gateway reads its own parameters from it.
pub const ACTION_EXTRA: &str = "telephony.action";
