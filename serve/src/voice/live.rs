//! Live calls for Rust handlers: a [`CallStream`] (the caller's audio in, ours out) and a
//! [`RelaySession`] (the caller's words in, our text out), and the handler traits that
//! receive them.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use telephony_core::store::CallRecord;
use telephony_core::voice::{
    Digits, RelayCommand, RelayEvent, RelaySetup, StreamCommand, StreamEvent, StreamStart, dtmf_pcm,
};
use telephony_core::{Provider, audio};
use tokio::sync::{mpsc, oneshot};

use super::marks::{MarkLedger, MarkOutcome};
use crate::handler_error::HandlerError;

/// Audio queued for the provider but not yet written to the socket, at most (512 KiB of
/// μ-law is about 65 s): a sender that runs ahead of a stalled socket gets
/// [`LiveError::BufferFull`] and the stream is closed, rather than memory growing.
pub(crate) const MAX_QUEUED_AUDIO: usize = 512 * 1024;
/// The longest audio message the gateway writes (the provider accepts any length; smaller
/// messages keep every frame far under the 64 KiB frame limit).
pub(crate) const AUDIO_MESSAGE_BYTES: usize = 8000;
/// How long [`StreamSender::hang_up`] waits for the audio before it to play.
pub(crate) const HANGUP_MARK_WAIT: Duration = Duration::from_secs(30);

/// Why a live-call operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The socket is closed (the call or the stream ended).
    #[error("the call's stream is closed")]
    Closed,
    /// More audio is queued than the bound (512 KiB, about 65 s of μ-law): the stream
    /// was closed.
    #[error(
        "outbound audio buffer full ({queued} bytes queued, at most {max}): the stream was closed"
    )]
    BufferFull {
        /// Bytes queued.
        queued: usize,
        /// The bound.
        max: usize,
    },
    /// The mark was dropped (the stream ended before it played).
    #[error("mark {0:?} never played: the stream ended")]
    MarkLost(String),
    /// The provider did not hang up.
    #[error("the provider did not hang up: {0}")]
    HangUp(String),
    /// The provider did not send the digits.
    #[error("the provider did not send the digits: {0}")]
    Digits(String),
}

/// What the socket task is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    Stream(StreamCommand),
    Relay(RelayCommand),
    /// Close the socket normally (the provider continues with the call's next verbs).
    Close,
    /// Close the socket for a failure: code and reason.
    Fail(u16, String),
}

/// State shared by a live call's sender(s) and its socket task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) tx: mpsc::UnboundedSender<Outbound>,
    pub(crate) queued: AtomicUsize,
    pub(crate) closed: AtomicBool,
    /// Marks sent and not echoed, and marks cleared (barge-in) whose echo is to come.
    pub(crate) marks: Mutex<MarkLedger>,
    /// Hangs the call up.
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) call_id: String,
}

impl Shared {
    pub(crate) fn new(
        provider: Arc<dyn Provider>,
        call_id: String,
    ) -> (Arc<Shared>, mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Shared {
                tx,
                queued: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                marks: Mutex::new(MarkLedger::default()),
                provider,
                call_id,
            }),
            rx,
        )
    }

    fn send(&self, cmd: Outbound) -> Result<(), LiveError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(LiveError::Closed);
        }
        self.tx.send(cmd).map_err(|_| LiveError::Closed)
    }

    /// The socket wrote `bytes` of audio.
    pub(crate) fn written(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// A mark came back: played, or cleared by an earlier clear.
    pub(crate) fn mark_echoed(&self, name: &str) -> MarkOutcome {
        telephony_core::sync::lock(&self.marks).echoed(name)
    }

    /// The socket is gone: every waiter learns it.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        telephony_core::sync::lock(&self.marks).close();
    }
}

/// A mark that resolves when the audio sent before it has played, or was cleared.
#[derive(Debug)]
pub struct MarkPlayed {
    name: String,
    rx: oneshot::Receiver<MarkOutcome>,
}

impl MarkPlayed {
    /// The mark's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until the provider echoed the mark: [`MarkOutcome::Played`] when the audio
    /// before it played through, [`MarkOutcome::Cleared`] (at once, at the
    /// [`StreamSender::clear`]) when it was cleared first, so the caller did not hear all
    /// of it.
    ///
    /// ```no_run
    /// # async fn f(out: telephony_serve::StreamSender, reply: &[u8]) -> Result<(), telephony_serve::LiveError> {
    /// use telephony_serve::MarkOutcome;
    /// out.send_mulaw(reply)?;
    /// let mark = out.mark("reply-1")?;
    /// if mark.played().await? == MarkOutcome::Cleared {
    ///     // The caller interrupted: they did not hear the whole reply.
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn played(self) -> Result<MarkOutcome, LiveError> {
        self.rx.await.map_err(|_| LiveError::MarkLost(self.name))
    }
}

/// Sends audio, marks and clears on a call's stream; cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamSender {
    shared: Arc<Shared>,
}

impl StreamSender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        StreamSender { shared }
    }

    /// Queues μ-law audio (8 kHz mono), any length; the gateway frames it.
    pub fn send_mulaw(&self, audio: &[u8]) -> Result<(), LiveError> {
        let queued = self.shared.queued.fetch_add(audio.len(), Ordering::AcqRel) + audio.len();
        if queued > MAX_QUEUED_AUDIO {
            self.shared.queued.fetch_sub(audio.len(), Ordering::AcqRel);
            tracing::warn!(call_sid = %self.shared.call_id, queued, max = MAX_QUEUED_AUDIO, "outbound audio buffer full; closing the stream");
            // Closing is best effort: the socket may already be gone.
            let _ = self.shared.send(Outbound::Fail(
                1011,
                format!(
                    "outbound audio buffer full ({queued} bytes queued, at most {MAX_QUEUED_AUDIO})"
                ),
            ));
            self.shared.close();
            return Err(LiveError::BufferFull {
                queued,
                max: MAX_QUEUED_AUDIO,
            });
        }
        for chunk in audio.chunks(AUDIO_MESSAGE_BYTES) {
            self.shared
                .send(Outbound::Stream(StreamCommand::Audio(chunk.to_vec())))?;
        }
        Ok(())
    }

    /// Queues 16-bit linear PCM (8 kHz mono), encoded to μ-law.
    pub fn send_pcm(&self, pcm: &[i16]) -> Result<(), LiveError> {
        let mut mulaw = Vec::with_capacity(pcm.len());
        audio::encode_mulaw_into(pcm, &mut mulaw);
        self.send_mulaw(&mulaw)
    }

    /// Sets a named mark after the audio queued so far; await
    /// [`MarkPlayed::played`] to know the caller heard it.
    pub fn mark(&self, name: impl Into<String>) -> Result<MarkPlayed, LiveError> {
        let name = name.into();
        let (tx, rx) = oneshot::channel();
        // Held while sending, so the ledger's order is the socket's.
        let mut marks = telephony_core::sync::lock(&self.shared.marks);
        self.shared
            .send(Outbound::Stream(StreamCommand::Mark(name.clone())))?;
        marks.sent(name.clone(), Some(tx));
        Ok(MarkPlayed { name, rx })
    }

    /// Drops the audio not played yet (barge-in) and returns the marks it cleared: those
    /// sent and not echoed yet, in order. Their [`MarkPlayed`]s resolve at once with
    /// [`MarkOutcome::Cleared`], and their echoes arrive as
    /// [`StreamEvent::MarkCleared`]; marks echoed before the clear were played. So the
    /// agent knows what the caller heard: everything up to the last played mark, and not
    /// what came after it.
    ///
    /// ```no_run
    /// # fn f(out: telephony_serve::StreamSender) -> Result<(), telephony_serve::LiveError> {
    /// // The caller started talking over the reply:
    /// let unheard = out.clear()?;
    /// for name in &unheard {
    ///     println!("the caller did not hear {name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn clear(&self) -> Result<Vec<String>, LiveError> {
        let mut marks = telephony_core::sync::lock(&self.shared.marks);
        self.shared.send(Outbound::Stream(StreamCommand::Clear))?;
        let cleared = marks.clear();
        tracing::debug!(call_sid = %self.shared.call_id, cleared = ?cleared, "stream cleared");
        Ok(cleared)
    }

    /// Presses keys into the call (to drive an IVR). Where the provider sends DTMF on a
    /// streamed call (Telnyx `send_dtmf`) it does; otherwise (Twilio Media Streams has no
    /// DTMF message, and a TwiML update would end the stream) the tones are played into
    /// the stream as audio after what is queued (in-band DTMF, 100 ms per key).
    ///
    /// ```no_run
    /// use telephony_core::voice::Digits;
    /// use telephony_serve::{CallStream, HandlerError};
    ///
    /// async fn press_one(stream: CallStream) -> Result<(), HandlerError> {
    ///     stream.sender().send_digits(&Digits::parse("1")?).await?;
    ///     Ok(())
    /// }
    /// ```
    pub async fn send_digits(&self, digits: &Digits) -> Result<(), LiveError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(LiveError::Closed);
        }
        match self
            .shared
            .provider
            .send_digits(&self.shared.call_id, digits)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_unsupported() => self.send_pcm(&dtmf_pcm(digits)),
            Err(e) => Err(LiveError::Digits(e.to_string())),
        }
    }

    /// Ends the call once the audio already sent has played (waiting at most 30 s), so
    /// the caller hears the whole goodbye.
    pub async fn hang_up(&self) -> Result<(), LiveError> {
        if let Ok(mark) = self.mark("telephony-hangup") {
            if tokio::time::timeout(HANGUP_MARK_WAIT, mark.played())
                .await
                .is_err()
            {
                tracing::warn!(call_sid = %self.shared.call_id, "the goodbye did not finish playing in time; hanging up anyway");
            }
        }
        hang_up(&self.shared).await
    }

    /// Closes the stream; the provider continues with the call's next verbs.
    pub fn close(&self) {
        // Already closed is fine.
        let _ = self.shared.send(Outbound::Close);
    }
}

async fn hang_up(shared: &Shared) -> Result<(), LiveError> {
    let res = shared
        .provider
        .hang_up(&shared.call_id)
        .await
        .map_err(|e| LiveError::HangUp(e.to_string()));
    // Best effort: the provider ends the socket itself too.
    let _ = shared.send(Outbound::Close);
    res
}

/// A live audio stream of a call, given to a [`StreamHandler`].
///
/// ```no_run
/// use telephony_core::voice::StreamEvent;
/// use telephony_serve::{CallStream, HandlerError};
///
/// async fn echo(mut stream: CallStream) -> Result<(), HandlerError> {
///     let out = stream.sender();
///     while let Some(event) = stream.next_event().await {
///         match event {
///             StreamEvent::Audio(frame) => out.send_mulaw(&frame.mulaw)?,
///             StreamEvent::Dtmf { .. } => {
///                 let unheard = out.clear()?;
///                 tracing::info!(?unheard, "the caller barged in");
///             }
///             StreamEvent::Stop => break,
///             _ => {}
///         }
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct CallStream {
    start: StreamStart,
    events: mpsc::Receiver<StreamEvent>,
    sender: StreamSender,
}

impl CallStream {
    pub(crate) fn new(
        start: StreamStart,
        events: mpsc::Receiver<StreamEvent>,
        sender: StreamSender,
    ) -> Self {
        CallStream {
            start,
            events,
            sender,
        }
    }

    /// The stream's start: call id, stream id, audio format, parameters (the gateway's
    /// own token removed).
    pub fn start(&self) -> &StreamStart {
        &self.start
    }

    /// The call id.
    pub fn call_id(&self) -> &str {
        &self.start.call_id
    }

    /// The next event: audio frames, DTMF, marks played ([`StreamEvent::Mark`]) or
    /// cleared ([`StreamEvent::MarkCleared`]), and `Stop` at the end; `None` once the
    /// socket is closed.
    pub async fn next_event(&mut self) -> Option<StreamEvent> {
        self.events.recv().await
    }

    /// The sender for audio, marks and clears.
    pub fn sender(&self) -> StreamSender {
        self.sender.clone()
    }
}

/// Sends text, plays, digits and the end on a call's relay; cheap to clone.
#[derive(Debug, Clone)]
pub struct RelaySender {
    shared: Arc<Shared>,
}

impl RelaySender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RelaySender { shared }
    }

    /// Sends one token of a reply (`last` on the final one); the provider speaks as the
    /// tokens arrive.
    pub fn token(&self, token: impl Into<String>, last: bool) -> Result<(), LiveError> {
        self.shared.send(Outbound::Relay(RelayCommand::Text {
            token: token.into(),
            last,
            interruptible: None,
            preemptible: None,
        }))
    }

    /// Sends a whole reply.
    pub fn say(&self, text: impl Into<String>) -> Result<(), LiveError> {
        self.token(text, true)
    }

    /// Presses keys into the call (the relay's `sendDigits`); `W` (one second) is sent
    /// as `ww`, the relay knowing only `w`.
    ///
    /// ```no_run
    /// use telephony_core::voice::Digits;
    /// use telephony_serve::{HandlerError, RelaySession};
    ///
    /// async fn press_one(relay: RelaySession) -> Result<(), HandlerError> {
    ///     relay.sender().send_digits(&Digits::parse("1W#")?)?;
    ///     Ok(())
    /// }
    /// ```
    pub fn send_digits(&self, digits: &Digits) -> Result<(), LiveError> {
        self.command(RelayCommand::SendDigits {
            digits: digits.as_str().replace('W', "ww"),
        })
    }

    /// Sends any relay command (play, digits, language, …).
    pub fn command(&self, command: RelayCommand) -> Result<(), LiveError> {
        self.shared.send(Outbound::Relay(command))
    }

    /// Ends the relay with handoff data; the provider continues with the call's
    /// `<Connect action>` or next verbs.
    pub fn end(&self, handoff_data: Option<String>) -> Result<(), LiveError> {
        self.shared
            .send(Outbound::Relay(RelayCommand::End { handoff_data }))?;
        // The relay is over: the socket closes once the end is written.
        self.shared.send(Outbound::Close)
    }

    /// Hangs the call up through the provider.
    pub async fn hang_up(&self) -> Result<(), LiveError> {
        hang_up(&self.shared).await
    }
}

/// A live text relay of a call, given to a [`RelayHandler`].
///
/// ```no_run
/// use telephony_core::voice::RelayEvent;
/// use telephony_serve::{HandlerError, RelaySession};
///
/// async fn parrot(mut relay: RelaySession) -> Result<(), HandlerError> {
///     let out = relay.sender();
///     while let Some(event) = relay.next_event().await {
///         if let RelayEvent::Prompt { text, last: true, .. } = event {
///             out.say(format!("You said: {text}"))?;
///         }
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct RelaySession {
    setup: RelaySetup,
    events: mpsc::Receiver<RelayEvent>,
    sender: RelaySender,
}

impl RelaySession {
    pub(crate) fn new(
        setup: RelaySetup,
        events: mpsc::Receiver<RelayEvent>,
        sender: RelaySender,
    ) -> Self {
        RelaySession {
            setup,
            events,
            sender,
        }
    }

    /// The session's setup: call id, caller, callee, parameters (the gateway's token
    /// removed).
    pub fn setup(&self) -> &RelaySetup {
        &self.setup
    }

    /// The call id.
    pub fn call_id(&self) -> &str {
        &self.setup.call_id
    }

    /// The next event: prompts, DTMF, interrupts, errors; `None` once the socket closed.
    pub async fn next_event(&mut self) -> Option<RelayEvent> {
        self.events.recv().await
    }

    /// The sender for replies.
    pub fn sender(&self) -> RelaySender {
        self.sender.clone()
    }
}

/// Receives calls answered with a stream ([`StreamVerb`](telephony_core::voice::StreamVerb)).
/// Implemented for async closures `Fn(CallStream) -> impl Future<Output = Result<(),
/// HandlerError>>`. When it returns, the socket closes and the provider continues with
/// the call's next verbs.
#[async_trait]
pub trait StreamHandler: Send + Sync + 'static {
    /// Runs one stream to its end.
    async fn on_stream(&self, stream: CallStream) -> Result<(), HandlerError>;

    /// Called while the gateway answers `call`'s webhook with a stream to its own route,
    /// before the provider connects it (`voice.preconnect`), so the handler can get ready
    /// (connect its speech synthesis, render its greeting) while the caller's line opens.
    /// It must return quickly (spawn the work): the webhook's answer waits for it. The
    /// default does nothing. The stream may never come (the caller hangs up first, or
    /// another replica takes the socket).
    ///
    /// ```
    /// use async_trait::async_trait;
    /// use telephony_core::store::CallRecord;
    /// use telephony_serve::{CallStream, HandlerError, StreamHandler};
    ///
    /// struct Agent;
    ///
    /// #[async_trait]
    /// impl StreamHandler for Agent {
    ///     async fn on_stream(&self, stream: CallStream) -> Result<(), HandlerError> {
    ///         stream.sender().send_mulaw(&[0xFF; 160])?;
    ///         Ok(())
    ///     }
    ///
    ///     async fn prepare(&self, call: &CallRecord) {
    ///         let id = call.call_id.clone();
    ///         tokio::spawn(async move { /* render the greeting for call `id` */ let _ = id; });
    ///     }
    /// }
    /// ```
    async fn prepare(&self, call: &CallRecord) {
        let _ = call;
    }
}

#[async_trait]
impl<F, Fut> StreamHandler for F
where
    F: Fn(CallStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn on_stream(&self, stream: CallStream) -> Result<(), HandlerError> {
        (self)(stream).await
    }
}

/// Receives calls answered with a relay ([`RelayVerb`](telephony_core::voice::RelayVerb)).
/// Implemented for async closures `Fn(RelaySession) -> impl Future<Output = Result<(),
/// HandlerError>>`.
#[async_trait]
pub trait RelayHandler: Send + Sync + 'static {
    /// Runs one relay session to its end.
    async fn on_relay(&self, relay: RelaySession) -> Result<(), HandlerError>;

    /// Called while the gateway answers `call`'s webhook with a relay, before the
    /// provider connects it (`voice.preconnect`), so the handler can get ready (open a
    /// connection, start its greeting) while the caller's line opens. It must return
    /// quickly (spawn the work): the webhook's answer waits for it. The default does
    /// nothing. The relay may never come (the caller hangs up first, or another replica
    /// takes the socket).
    ///
    /// ```
    /// use async_trait::async_trait;
    /// use telephony_core::store::CallRecord;
    /// use telephony_serve::{HandlerError, RelayHandler, RelaySession};
    ///
    /// struct Agent;
    ///
    /// #[async_trait]
    /// impl RelayHandler for Agent {
    ///     async fn on_relay(&self, relay: RelaySession) -> Result<(), HandlerError> {
    ///         relay.sender().say("Hello!")?;
    ///         Ok(())
    ///     }
    ///
    ///     async fn prepare(&self, call: &CallRecord) {
    ///         let id = call.call_id.clone();
    ///         tokio::spawn(async move { /* warm up the model for call `id` */ let _ = id; });
    ///     }
    /// }
    /// ```
    async fn prepare(&self, call: &CallRecord) {
        let _ = call;
    }
}

#[async_trait]
impl<F, Fut> RelayHandler for F
where
    F: Fn(RelaySession) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn on_relay(&self, relay: RelaySession) -> Result<(), HandlerError> {
        (self)(relay).await
    }
}
