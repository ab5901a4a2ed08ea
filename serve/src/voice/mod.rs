//! Voice: answering calls, placing calls, call sessions.
//!
//! Calls arrive on the same webhook path as messages; the provider tells them apart. For
//! every call the gateway:
//!
//! 1. applies the sender [`Policy`](telephony_core::Policy) to the caller: blocked callers
//!    get a reject, unknown callers under `pairing` hear their pairing code (also texted)
//!    and are hung up;
//! 2. opens a session in the store, unless `maxConcurrentSessions` are live (then the
//!    caller hears a short busy message and is hung up);
//! 3. asks the [`VoiceHandler`](crate::VoiceHandler) (or, without one, runs the default flow: greeting, one
//!    speech turn stored in the inbox as a transcript, closing) for the next
//!    [`VoiceResponse`], within `voice.handlerTimeoutMs`: a late handler's caller hears a
//!    short hold and the late answer is served on the hold's redirect.
//!
//! Sessions end on a terminal status callback, or when the voice worker's reaper asks the
//! provider for the call's state ([`Provider::fetch_call`](telephony_core::Provider::fetch_call)):
//! never on a blind timer. `voice.maxDurationSeconds` counts from the answer: the gateway
//! hangs an inbound call up through the provider's API, and gives outbound calls the
//! provider's own time limit.

pub(crate) mod answer;
pub mod bridge;
pub(crate) mod bridge_protocol;
pub(crate) mod call_control;
pub(crate) mod commands;
pub(crate) mod context;
pub(crate) mod live;
pub(crate) mod machine;
pub(crate) mod marks;
pub(crate) mod pending;
pub(crate) mod preconnect;
pub(crate) mod proxy;
pub(crate) mod recording_callback;
pub mod recordings;
pub(crate) mod socket;
pub(crate) mod token;
pub(crate) mod update_epochs;
pub(crate) mod worker;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use telephony_core::store::{BeginOutcome, CallRecord, CallStatusOutcome, NewCall, StatusSource};
use telephony_core::voice::{
    CallAnswer, CallDirection, CallEvent, CallStatus, Gather, MachineDetection, OutboundCall, Say,
    Session, SpeechTimeout, Verb, VoiceResponse,
};
use telephony_core::{PhoneNumber, PhoneNumberError, ProviderError, StoreError};
use time::OffsetDateTime;
use tokio::sync::Notify;

use self::live::{RelayHandler, StreamHandler};
use self::pending::PendingUpgrades;
use self::preconnect::Preconnects;
use crate::handler_error::HandlerError;
use crate::shared::Shared;

/// How the gateway talks with an admitted caller when no Rust [`VoiceHandler`](crate::VoiceHandler) is set
/// (`voice.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VoiceMode {
    /// Greeting, one speech turn kept in the inbox, closing (`"gather"`, the default).
    #[default]
    Gather,
    /// A text relay: the provider transcribes and speaks; the gateway's relay handler
    /// (for the standalone server, the HTTP bridge to `voice.relayUrl`) answers
    /// (`"relay"`).
    Relay,
    /// A live audio stream, proxied frame for frame to the application's WebSocket
    /// ([`VoiceSettings::stream_url`]) in Twilio's own Media Streams messages (`"stream"`).
    Stream,
}

/// Voice settings (`voice.*` and `maxConcurrentSessions`).
///
/// ```
/// use std::time::Duration;
/// use telephony_serve::VoiceSettings;
/// let v = VoiceSettings::enabled().greeting("Hi, this is Ada's assistant.").max_concurrent_sessions(Some(5));
/// assert!(v.enabled);
/// assert_eq!(v.handler_timeout, Duration::from_millis(8000));
/// assert_eq!(v.max_duration, Some(Duration::from_secs(600)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VoiceSettings {
    /// Answer calls (`voice.enabled`); when false every call gets a reject and outbound
    /// calls are refused.
    pub enabled: bool,
    /// Spoken when a call is answered by the default flow (`voice.greeting`).
    pub greeting: String,
    /// Spoken before hanging up (`voice.closing`).
    pub closing: String,
    /// Spoken once when the caller said nothing (or nothing usable).
    pub reprompt: String,
    /// Spoken to a caller over `maxConcurrentSessions` before hanging up.
    pub busy_message: String,
    /// The provider's text-to-speech voice (`voice.voice`, e.g. `alice`, `Polly.Joanna`).
    pub voice: Option<String>,
    /// The language of speech and recognition (`voice.language`, e.g. `en-US`).
    pub language: Option<String>,
    /// The longest a call may last once answered (`voice.maxDurationSeconds`).
    pub max_duration: Option<Duration>,
    /// How long a handler may take before the caller is put on hold
    /// (`voice.handlerTimeoutMs`); Twilio waits 15 s at most.
    pub handler_timeout: Duration,
    /// Live calls at most (`maxConcurrentSessions`); `None` is unlimited.
    pub max_concurrent_sessions: Option<usize>,
    /// How long a live session may go without news before the reaper asks the provider
    /// about it.
    pub reap_after: Duration,
    /// How often the voice worker checks sessions (duration limits, the reaper).
    pub tick: Duration,
    /// What the default flow does with an admitted caller.
    pub mode: VoiceMode,
    /// `voice.mode: "stream"`: the application's WebSocket (`ws://`) that gets each call's
    /// Media Streams messages, frame for frame both ways.
    pub stream_url: Option<String>,
    /// Spoken by the default flow when a transfer was not answered (busy, no answer,
    /// failed), before hanging up (`voice.transferFailedMessage`).
    pub transfer_failed_message: String,
    /// Open the application's side of a real-time call (the stream bridge's WebSocket,
    /// the relay bridge's first request) while answering the call's webhook, rather than
    /// once the provider connects (`voice.preconnect`, default on).
    pub preconnect: bool,
    /// What the gateway does when answering-machine detection finds a machine
    /// (`voice.onMachine`).
    pub on_machine: OnMachine,
    /// Said after a machine's beep under [`OnMachine::Message`] (`voice.voicemailMessage`).
    pub voicemail_message: Option<String>,
    /// `voice.record`: `Some(true)` records every call the gateway answers or places,
    /// whole; `Some(false)` turns recordings off for the account (a handler's `Record`
    /// verb is dropped, an outbound call asking for a recording is refused); `None` (the
    /// default) records only what a handler or a call asks for.
    pub record: Option<bool>,
    /// `voice.recordChannels`: one channel or two (default `dual`: the caller and the
    /// gateway's side apart).
    pub record_channels: telephony_core::voice::RecordingChannels,
}

/// What the gateway does with a call answered by a machine (`voice.onMachine`), whatever
/// handler runs the call.
///
/// ```
/// use telephony_serve::{OnMachine, VoiceSettings};
/// let v = VoiceSettings::enabled().on_machine(OnMachine::Message).voicemail_message("Your order is ready.");
/// assert_eq!(v.on_machine, OnMachine::Message);
/// assert_eq!(OnMachine::parse("hangup"), Some(OnMachine::Hangup));
/// assert_eq!(OnMachine::default(), OnMachine::Continue);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnMachine {
    /// Nothing: the call goes on as its handler says (`"continue"`, the default).
    #[default]
    Continue,
    /// Hang up on machines and faxes (`"hangup"`).
    Hangup,
    /// Leave [`VoiceSettings::voicemail_message`] once the machine's greeting ended (at the
    /// beep), then hang up; faxes are hung up on. Detection then always waits for the beep
    /// (`"message"`).
    Message,
}

impl OnMachine {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            OnMachine::Continue => "continue",
            OnMachine::Hangup => "hangup",
            OnMachine::Message => "message",
        }
    }

    /// Parses a config name.
    pub fn parse(s: &str) -> Option<Self> {
        [OnMachine::Continue, OnMachine::Hangup, OnMachine::Message]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

impl Default for VoiceSettings {
    /// Voice off, with the defaults every `voice.*` key documents.
    fn default() -> Self {
        VoiceSettings {
            enabled: false,
            greeting: "Hello! How can I help you? Please speak after the tone.".into(),
            closing: "Thank you. Goodbye.".into(),
            reprompt: "Sorry, I didn't catch that. Please say it again.".into(),
            busy_message: "All our lines are busy right now. Please call again later.".into(),
            voice: None,
            language: None,
            max_duration: Some(Duration::from_secs(600)),
            handler_timeout: Duration::from_millis(8000),
            max_concurrent_sessions: Some(50),
            reap_after: Duration::from_secs(60),
            tick: Duration::from_secs(1),
            mode: VoiceMode::Gather,
            stream_url: None,
            transfer_failed_message:
                "Sorry, nobody could take your call right now. Please call again later. Goodbye."
                    .into(),
            preconnect: true,
            on_machine: OnMachine::Continue,
            voicemail_message: None,
            record: None,
            record_channels: telephony_core::voice::RecordingChannels::Dual,
        }
    }
}

impl VoiceSettings {
    /// The defaults, with voice on.
    pub fn enabled() -> Self {
        VoiceSettings {
            enabled: true,
            ..Default::default()
        }
    }

    /// Whether to open the application's side of a real-time call (the stream bridge's
    /// WebSocket, the relay bridge's first request) while answering the call's webhook
    /// (`voice.preconnect`, default `true`).
    ///
    /// ```
    /// use telephony_serve::VoiceSettings;
    /// assert!(VoiceSettings::enabled().preconnect);
    /// assert!(!VoiceSettings::enabled().preconnect(false).preconnect);
    /// ```
    pub fn preconnect(mut self, yes: bool) -> Self {
        self.preconnect = yes;
        self
    }

    /// Sets the greeting.
    pub fn greeting(mut self, text: impl Into<String>) -> Self {
        self.greeting = text.into();
        self
    }

    /// Sets the closing.
    pub fn closing(mut self, text: impl Into<String>) -> Self {
        self.closing = text.into();
        self
    }

    /// Sets the text-to-speech voice.
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// What the default flow says when a transfer was not answered.
    ///
    /// ```
    /// use telephony_serve::VoiceSettings;
    /// let v = VoiceSettings::enabled().transfer_failed_message("Nobody is free. Goodbye.");
    /// assert_eq!(v.transfer_failed_message, "Nobody is free. Goodbye.");
    /// ```
    pub fn transfer_failed_message(mut self, text: impl Into<String>) -> Self {
        self.transfer_failed_message = text.into();
        self
    }

    /// Sets the language.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Sets the call duration limit (`None`: no limit of the gateway's).
    pub fn max_duration(mut self, limit: Option<Duration>) -> Self {
        self.max_duration = limit;
        self
    }

    /// Sets the handler deadline.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// Sets the session limit (`None`: unlimited).
    pub fn max_concurrent_sessions(mut self, max: Option<usize>) -> Self {
        self.max_concurrent_sessions = max;
        self
    }

    /// Sets how long a session may go without news before the reaper checks it, and how
    /// often the voice worker runs.
    pub fn reaper(mut self, reap_after: Duration, tick: Duration) -> Self {
        self.reap_after = reap_after;
        self.tick = tick;
        self
    }

    /// `voice.mode: "stream"`: proxy each call's stream to this `ws://` URL.
    pub fn stream_to(mut self, url: impl Into<String>) -> Self {
        self.mode = VoiceMode::Stream;
        self.stream_url = Some(url.into());
        self
    }

    /// Sets the default flow's mode.
    pub fn mode(mut self, mode: VoiceMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets what happens to calls answered by a machine.
    pub fn on_machine(mut self, on_machine: OnMachine) -> Self {
        self.on_machine = on_machine;
        self
    }

    /// Sets the message left after a machine's beep.
    pub fn voicemail_message(mut self, text: impl Into<String>) -> Self {
        self.voicemail_message = Some(text.into());
        self
    }

    /// Sets `voice.record` and `voice.recordChannels` (see [`VoiceSettings::record`]).
    ///
    /// ```
    /// use telephony_core::voice::RecordingChannels;
    /// use telephony_serve::VoiceSettings;
    /// let v = VoiceSettings::enabled().recordings(Some(true), RecordingChannels::Single);
    /// assert_eq!((v.record, v.record_channels), (Some(true), RecordingChannels::Single));
    /// assert_eq!(VoiceSettings::enabled().record, None);
    /// ```
    pub fn recordings(
        mut self,
        record: Option<bool>,
        channels: telephony_core::voice::RecordingChannels,
    ) -> Self {
        self.record = record;
        self.record_channels = channels;
        self
    }

    /// A `<Say>` in the configured voice and language.
    pub fn say(&self, text: &str) -> Say {
        let mut say = Say::new(text);
        if let Some(v) = &self.voice {
            say = say.voice(v.clone());
        }
        if let Some(l) = &self.language {
            say = say.language(l.clone());
        }
        say
    }

    /// A speech `<Gather>` (speech timeout `auto`) in the configured language.
    pub(crate) fn speech_gather(&self, action: &str) -> Gather {
        let mut g = Gather::new()
            .speech()
            .speech_timeout(SpeechTimeout::Auto)
            .action(action);
        if let Some(l) = &self.language {
            g = g.language(l.clone());
        }
        g
    }
}

/// Why an outbound call was not placed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// `voice.enabled` is false.
    #[error("voice is disabled: set voice.enabled to true to place calls")]
    Disabled,
    /// The number is not E.164.
    #[error("invalid number {input:?}: {source}")]
    InvalidNumber {
        /// What was given.
        input: String,
        /// Why it is not a number.
        #[source]
        source: PhoneNumberError,
    },
    /// `maxConcurrentSessions` calls are live; no provider call was made.
    #[error(
        "{live} calls are live, the maxConcurrentSessions limit of {max}: the call was not placed"
    )]
    TooManySessions {
        /// Live sessions.
        live: usize,
        /// The limit.
        max: usize,
    },
    /// The provider refused or could not be reached (the call is recorded as failed).
    #[error("the provider did not place the call: {0}")]
    Provider(#[from] ProviderError),
    /// The store failed.
    #[error("could not record the call")]
    Store(#[from] StoreError),
    /// The call asked for a recording but `voice.record` is false for the account; no
    /// provider call was made.
    #[error(
        "recordings are turned off for this account (voice.record is false): the call was not placed; place it without --record"
    )]
    RecordingDisabled,
}

impl CallError {
    /// True when the caller's request was at fault (HTTP 400/409), false for failures
    /// on the gateway's or the provider's side.
    pub fn is_bad_input(&self) -> bool {
        match self {
            CallError::Disabled | CallError::InvalidNumber { .. } => true,
            CallError::RecordingDisabled => true,
            CallError::TooManySessions { .. } => true,
            CallError::Provider(ProviderError::InvalidMessage(_)) => true,
            CallError::Provider(e) => !e.is_retryable() && e.http_status().is_some_and(|s| s < 500),
            CallError::Store(_) => false,
        }
    }
}

fn reservation_id() -> String {
    use rand::Rng;
    let r: u64 = rand::thread_rng().r#gen();
    format!("pending_{r:016x}")
}

/// What the voice handler is told with each event, besides the event: the gateway (`G`)
/// the call came through, the session, the URL for the next turn and the turn number.
pub(crate) struct Turn<G> {
    pub(crate) gateway: G,
    pub(crate) session: Session,
    pub(crate) action_url: String,
    pub(crate) turn: u32,
}

/// The application's voice handler as the voice part calls it.
#[async_trait]
pub(crate) trait AnswerCalls<G>: Send + Sync + 'static {
    /// Answers one call event.
    async fn on_call_event(
        &self,
        event: CallEvent,
        turn: Turn<G>,
    ) -> Result<VoiceResponse, HandlerError>;
}

/// The application's handlers for calls, streams and relays.
pub(crate) struct VoiceHandlers<G> {
    pub(crate) calls: Option<Arc<dyn AnswerCalls<G>>>,
    pub(crate) streams: Option<Arc<dyn StreamHandler>>,
    pub(crate) relays: Option<Arc<dyn RelayHandler>>,
}

/// The voice part: settings, the application's handlers, the late-answer wake-up and the
/// pending (unauthenticated) real-time sockets. Generic over `G`, what the call handler is
/// given (the gateway), so the gateway can own it without the two importing each other.
pub(crate) struct Voice<G> {
    shared: Arc<Shared>,
    settings: VoiceSettings,
    handlers: VoiceHandlers<G>,
    /// Woken when a late voice answer is kept, for the hold redirects waiting on it.
    late: Notify,
    /// Unauthenticated real-time sockets per client address.
    pending: PendingUpgrades,
    /// Application sockets opened while the call's webhook was answered.
    preconnects: Preconnects,
}

impl<G: Send + 'static> Voice<G> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        settings: VoiceSettings,
        handlers: VoiceHandlers<G>,
    ) -> Self {
        Voice {
            shared,
            settings,
            handlers,
            late: Notify::new(),
            pending: PendingUpgrades::default(),
            preconnects: Preconnects::default(),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The voice settings.
    pub(crate) fn settings(&self) -> &VoiceSettings {
        &self.settings
    }

    /// The application's call handler, if one is set.
    pub(crate) fn handler(&self) -> Option<Arc<dyn AnswerCalls<G>>> {
        self.handlers.calls.clone()
    }

    /// The application's stream handler, if one is set.
    pub(crate) fn stream_handler(&self) -> Option<Arc<dyn StreamHandler>> {
        self.handlers.streams.clone()
    }

    /// The application's relay handler, if one is set.
    pub(crate) fn relay_handler(&self) -> Option<Arc<dyn RelayHandler>> {
        self.handlers.relays.clone()
    }

    /// Tells the hold redirects waiting for a late answer that one was kept.
    pub(crate) fn late_answer_kept(&self) {
        self.late.notify_waiters();
    }

    /// Resolves when a late answer is kept.
    pub(crate) fn late_answer(&self) -> tokio::sync::futures::Notified<'_> {
        self.late.notified()
    }

    /// Unauthenticated real-time sockets per client address.
    pub(crate) fn pending(&self) -> &PendingUpgrades {
        &self.pending
    }

    /// Application sockets opened while the call's webhook was answered.
    pub(crate) fn preconnects(&self) -> &Preconnects {
        &self.preconnects
    }

    /// Places an outbound call with every option of [`OutboundCall`]; the gateway fills in
    /// the status callback and time limit when they are unset.
    pub(crate) async fn place_call(&self, mut call: OutboundCall) -> Result<CallRecord, CallError> {
        let voice = &self.settings;
        if !voice.enabled {
            return Err(CallError::Disabled);
        }
        let number = PhoneNumber::parse(&call.to).map_err(|source| CallError::InvalidNumber {
            input: call.to.clone(),
            source,
        })?;
        call.to = number.to_string();
        if call.from.is_none() {
            // The caller id the provider would use (its configured number), so the call's
            // record says who called; a messaging service or profile id is not one.
            let probe = telephony_core::OutboundMessage::new(
                telephony_core::Address::sms(number.clone()),
                "",
            );
            call.from = self
                .shared
                .provider()
                .sender(&probe)
                .filter(|s| PhoneNumber::parse(s).is_ok());
        }
        match voice.record {
            Some(false) if call.record.is_some() => {
                tracing::warn!(to = %number.redacted(), "outbound call refused: it asks for a recording and voice.record is false");
                return Err(CallError::RecordingDisabled);
            }
            Some(true) if call.record.is_none() => call.record = Some(voice.record_channels),
            _ => {}
        }
        if call.status_callback.is_none() {
            call.status_callback = self.shared.status_callback_url();
        }
        if voice.on_machine == OnMachine::Message && call.machine_detection.is_some() {
            // The message is left at the beep: detection must wait for it.
            call.machine_detection = Some(MachineDetection::WaitForBeep);
        }
        if call.record.is_some() && call.recording_callback.is_none() {
            call.recording_callback = self.shared.status_callback_url();
        }
        if call.time_limit_secs.is_none() {
            call.time_limit_secs = voice
                .max_duration
                .map(|d| d.as_secs().clamp(1, u32::MAX as u64) as u32);
        }
        if let CallAnswer::Response(response) = &mut call.answer {
            if let Some(url) = self.shared.voice_url() {
                fill_actions(response, &format!("{url}?turn=1"));
            }
            if voice.record == Some(false) && recordings::asks_to_record(response) {
                tracing::warn!(to = %number.redacted(), "outbound call refused: its answer records and voice.record is false");
                return Err(CallError::RecordingDisabled);
            }
            recordings::fill_callbacks(response, self.shared.status_callback_url().as_deref());
        }
        let reservation = reservation_id();
        let now = OffsetDateTime::now_utc();
        let new = NewCall {
            call_id: reservation.clone(),
            direction: CallDirection::Outbound,
            from: call.from.clone().unwrap_or_default(),
            to: call.to.clone(),
            status: CallStatus::Queued,
            source: StatusSource::Api,
            session: true,
            at: now,
            note: None,
        };
        let store = self.shared.store();
        match store
            .begin_call(&new, voice.max_concurrent_sessions)
            .await?
        {
            BeginOutcome::Started(_) | BeginOutcome::Existing(_) => {}
            BeginOutcome::Full { live, .. } => {
                let max = voice.max_concurrent_sessions.unwrap_or(live);
                let err = CallError::TooManySessions { live, max };
                store
                    .update_call_status(
                        &reservation,
                        CallStatus::Failed,
                        None,
                        StatusSource::Api,
                        now,
                    )
                    .await?;
                store.set_call_note(&reservation, &err.to_string()).await?;
                tracing::warn!(to = %number.redacted(), live, max, "outbound call refused: maxConcurrentSessions reached");
                return Err(err);
            }
        }
        match self.shared.provider().place_call(&call).await {
            Ok(placed) => {
                store.rename_call(&reservation, &placed.call_id).await?;
                let at = OffsetDateTime::now_utc();
                if placed.status != CallStatus::Queued {
                    store
                        .update_call_status(
                            &placed.call_id,
                            placed.status,
                            None,
                            StatusSource::Api,
                            at,
                        )
                        .await?;
                }
                tracing::info!(call_sid = %placed.call_id, to = %number.redacted(), status = %placed.status, "outbound call placed");
                Ok(store
                    .call(&placed.call_id)
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        kind: "call",
                        id: placed.call_id.clone(),
                    })?)
            }
            Err(e) => {
                let at = OffsetDateTime::now_utc();
                store
                    .update_call_status(
                        &reservation,
                        CallStatus::Failed,
                        None,
                        StatusSource::Api,
                        at,
                    )
                    .await?;
                store
                    .set_call_note(&reservation, &format!("the provider refused the call: {e}"))
                    .await?;
                tracing::warn!(to = %number.redacted(), error = %e, "outbound call failed");
                Err(CallError::Provider(e))
            }
        }
    }

    /// Records a call status from the provider; a terminal one ends the session.
    pub(crate) async fn apply_call_status(
        &self,
        call_id: &str,
        status: CallStatus,
        duration_secs: Option<u64>,
        source: StatusSource,
    ) -> Result<CallStatusOutcome, StoreError> {
        let now = OffsetDateTime::now_utc();
        let outcome = self
            .shared
            .store()
            .update_call_status(call_id, status, duration_secs, source, now)
            .await?;
        match &outcome {
            CallStatusOutcome::Applied(rec) if status.is_terminal() => {
                tracing::info!(call_sid = %call_id, status = %status, source = source.as_str(), duration_secs = ?rec.duration_secs, session = rec.session, "call ended");
            }
            CallStatusOutcome::Applied(_) => {
                tracing::debug!(call_sid = %call_id, status = %status, source = source.as_str(), "call status");
            }
            CallStatusOutcome::Stale(rec) => {
                tracing::debug!(call_sid = %call_id, status = %status, current = %rec.status, "stale call status ignored");
            }
            CallStatusOutcome::Unknown => {
                tracing::info!(call_sid = %call_id, status = %status, source = source.as_str(), "status for an unknown call recorded and ignored");
            }
        }
        Ok(outcome)
    }
}

/// Gives every `<Gather>` without an `action` this one, and every `<Dial>` without one
/// this one plus its target (`xfer`), so the transfer's outcome comes back to the
/// gateway and names who was dialed.
pub(crate) fn fill_actions(response: &mut VoiceResponse, action: &str) {
    for verb in response.verbs_mut() {
        match verb {
            Verb::Gather(g) if g.action.is_none() => g.action = Some(action.to_string()),
            Verb::Dial(d) if d.action.is_none() => {
                let target = url_encode(d.number.trim());
                d.action = Some(format!("{action}&xfer={target}"));
            }
            _ => {}
        }
    }
}

/// A value as one URL query component (the gateway's own parameters on call URLs).
pub(crate) fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_string())
        .unwrap_or_default()
}
