//! The task that plays Telnyx's side of one call: it takes the application's commands in
//! order, runs the call's audio queue (speak, playback, gather prompts), gathers,
//! transcription and media streams on the call's simulated clock, plays the caller's
//! [`CallScript`], and emits the events.
//!
//! The clock moves from one scheduled moment to the next (the end of a speak, of the
//! caller's words, a gather's timeout, the end of ringing, the time limit), each step
//! taking [`simulated_second`](crate::VoiceConfig::simulated_second)-paced real time, and
//! not before the call's events are delivered and
//! [`command_settle`](crate::VoiceConfig::command_settle) has passed since the last delivery
//! or command.
//! While nothing is scheduled the call waits for a command; its clock then stands still
//! unless the pace is not zero.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Map, Value, json};
use telephony_simulator_voice::{CallScript, CalleeOutcome, CallerInput};
use time::OffsetDateTime;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

use crate::call_records::{GatherRecord, Heard, TranscriptionRecord};
use crate::call_webhooks::{Delivered, Delivery};
use crate::dates::rfc3339;
use crate::media_stream::{StreamHandle, StreamParams};
use crate::simulator::Simulator;

/// Simulated milliseconds a spoken word takes (the caller's and the application's).
pub(crate) const MS_PER_WORD: u64 = 400;
/// Simulated milliseconds one key press takes.
const MS_PER_KEY: u64 = 200;
/// Simulated milliseconds a `playback_start` plays.
const PLAYBACK_MS: u64 = 1000;

/// A command for the driver, with the `client_state` it sets (if any).
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) client_state: Option<String>,
    pub(crate) action: Action,
}

/// What a command does.
#[derive(Debug)]
pub(crate) enum Action {
    Answer {
        webhook_url: Option<String>,
        stream: Option<StreamParams>,
    },
    Hangup,
    Reject {
        cause: &'static str,
        sip: &'static str,
    },
    Audio(AudioItem),
    PlaybackStop,
    Gather(GatherSpec),
    GatherStop,
    TranscriptionStart,
    TranscriptionStop,
    StreamingStart(StreamParams),
    StreamingStop {
        stream_id: Option<String>,
    },
    SendDtmf {
        digits: String,
    },
    ClientStateUpdate,
    /// `transfer`: a new leg rings `to`.
    Transfer {
        to: String,
        from: Option<String>,
        timeout_secs: u64,
        target_state: Option<String>,
    },
    /// The simulated party hangs up (a test's doing).
    PartyHangup,
    /// `record_start`: the whole call, or a turn.
    RecordStart(crate::recordings::RecordSpec),
    /// `record_stop`: every recording in progress is saved.
    RecordStop,
    /// Dial's `record: "record-from-answer"`: recording starts at the answer.
    RecordFromAnswer(crate::recordings::RecordSpec),
    /// From a media stream's task: it connected (or failed, with a reason).
    StreamOpened {
        stream_id: String,
        url: String,
        failure: Option<String>,
    },
    /// From a media stream's task: the barge-in the party waits for was reached (that
    /// much of the application's audio played), or the stream closed first.
    StreamBargedIn,
}

/// Something the party hears: a speak, a playback, or a gather's prompt.
#[derive(Debug, Clone)]
pub(crate) struct AudioItem {
    pub(crate) heard: Heard,
    pub(crate) duration_ms: u64,
    /// A command's own `webhook_url` for this item's events.
    pub(crate) webhook_url: Option<String>,
    /// Set for a gather's prompt: the gather listens once the prompt has played.
    pub(crate) gather: Option<GatherSpec>,
    /// A speak's `stop`: `current` ends what plays, `all` also clears the queue.
    pub(crate) stop: Option<String>,
}

impl AudioItem {
    pub(crate) fn speak(payload: String, voice: String, language: Option<String>) -> Self {
        let words = payload.split_whitespace().count().max(1) as u64;
        AudioItem {
            heard: Heard::Speak {
                payload,
                voice,
                language,
            },
            duration_ms: words * MS_PER_WORD,
            webhook_url: None,
            gather: None,
            stop: None,
        }
    }

    pub(crate) fn playback(url: String) -> Self {
        AudioItem {
            heard: Heard::Playback { url },
            duration_ms: PLAYBACK_MS,
            webhook_url: None,
            gather: None,
            stop: None,
        }
    }
}

/// A gather's settings (Telnyx's defaults: 1 to 128 digits, `#` ends, 60 s to wait).
#[derive(Debug, Clone)]
pub(crate) struct GatherSpec {
    pub(crate) command: String,
    pub(crate) prompt: Option<Heard>,
    pub(crate) minimum_digits: usize,
    pub(crate) maximum_digits: usize,
    pub(crate) terminating_digit: String,
    pub(crate) valid_digits: String,
    pub(crate) timeout_ms: u64,
    pub(crate) webhook_url: Option<String>,
}

/// A gather that listens.
#[derive(Debug)]
struct Gather {
    spec: GatherSpec,
    /// When it started listening (after its prompt).
    since: u64,
}

/// The party's input in progress.
#[derive(Debug)]
struct PartyAction {
    input: CallerInput,
    ends: u64,
}

/// How a call starts.
#[derive(Debug)]
pub(crate) enum Start {
    /// Parked until answered; hung up after the first-command timeout.
    Incoming,
    /// Dialed: rings, then the callee does this.
    Outgoing {
        outcome: CalleeOutcome,
        timeout_secs: u64,
        stream: Option<StreamParams>,
        /// What happens on the answer (boxed: most calls have none of it).
        on_answer: Box<OnAnswer>,
    },
}

/// What a dialed call does when the callee answers, besides `call.answered`.
#[derive(Debug, Default)]
pub(crate) struct OnAnswer {
    /// `answering_machine_detection` and who picks up.
    pub(crate) amd: Option<(String, telephony_simulator_voice::Answerer)>,
    /// `send_digits_on_answer`.
    pub(crate) send_digits: Option<String>,
}

pub(crate) struct Driver {
    sim: Simulator,
    id: String,
    inbox: UnboundedReceiver<Command>,
    /// A sender to the driver's own inbox, for its streams.
    self_tx: UnboundedSender<Command>,
    deliveries: UnboundedSender<Delivery>,
    /// Events queued for delivery, and the delivery task's count of those done.
    queued: u64,
    delivered: tokio::sync::watch::Receiver<Delivered>,
    script: CallScript,
    now: u64,
    time_limit_ms: u64,
    /// Parked (incoming, not answered) until this real instant.
    parked_until: Option<Instant>,
    /// Ringing (outgoing): when the callee acts, and how.
    ringing: Option<(u64, CalleeOutcome)>,
    pending_stream: Option<StreamParams>,
    answered: bool,
    ended: bool,
    queue: VecDeque<AudioItem>,
    playing: Option<(AudioItem, u64, u64)>,
    gather: Option<Gather>,
    transcribing: bool,
    party: Option<PartyAction>,
    /// The party stays silent until the listening gather ends.
    silent_for_gather: bool,
    /// The party barges in after this much of the current audio.
    barge_after: Option<u64>,
    /// The party waits for a media stream to reach its barge-in
    /// ([`Action::StreamBargedIn`]).
    stream_barge: bool,
    streams: Vec<StreamHandle>,
    /// When the last command arrived (the clock waits for the application to settle).
    last_command: Option<Instant>,
    /// A transfer's answered leg: when the person hangs up.
    hangup_at: Option<u64>,
    /// A dialed call's answering-machine detection and `send_digits_on_answer`, used when
    /// the callee answers.
    on_answer: OnAnswer,
    /// Detection events still to send, in order.
    detections: VecDeque<crate::amd::Due>,
    /// Whole-call recordings in progress: settings, start (simulated ms, real time).
    recordings: Vec<(crate::recordings::RecordSpec, u64, OffsetDateTime)>,
    /// A turn recording waiting for the party to speak.
    turn_recording: Option<(crate::recordings::RecordSpec, u64, OffsetDateTime)>,
    /// Dial's recording, started at the answer.
    record_on_answer: Option<crate::recordings::RecordSpec>,
}

impl Simulator {
    /// Starts driving call `id` (already stored): its events go through a delivery task
    /// of their own. Returns the task that ends when the simulator is done with the call.
    pub(crate) fn spawn_call(
        &self,
        id: String,
        inbox: UnboundedReceiver<Command>,
        self_tx: UnboundedSender<Command>,
        script: CallScript,
        start: Start,
        time_limit_secs: u64,
    ) -> tokio::task::JoinHandle<()> {
        let (deliveries, queue) = tokio::sync::mpsc::unbounded_channel();
        let (done, delivered) = tokio::sync::watch::channel((0, None));
        let delivery_task = tokio::spawn(self.clone().deliver_call_events(id.clone(), queue, done));
        let voice = &self.config().voice;
        let mut on_answer = OnAnswer::default();
        let (parked_until, ringing, pending_stream) = match start {
            Start::Incoming => (
                Some(Instant::now() + voice.first_command_timeout),
                None,
                None,
            ),
            Start::Outgoing {
                outcome,
                timeout_secs,
                stream,
                on_answer: then,
            } => {
                let at = match outcome {
                    CalleeOutcome::NoAnswer => timeout_secs * 1000,
                    _ => voice.ring_ms,
                };
                on_answer = *then;
                (None, Some((at, outcome)), stream)
            }
        };
        let driver = Driver {
            sim: self.clone(),
            id,
            inbox,
            self_tx,
            deliveries,
            queued: 0,
            delivered,
            script,
            now: 0,
            time_limit_ms: time_limit_secs.saturating_mul(1000),
            parked_until,
            ringing,
            pending_stream,
            answered: false,
            ended: false,
            queue: VecDeque::new(),
            playing: None,
            gather: None,
            transcribing: false,
            party: None,
            silent_for_gather: false,
            barge_after: None,
            stream_barge: false,
            streams: Vec::new(),
            last_command: None,
            hangup_at: None,
            on_answer,
            detections: VecDeque::new(),
            recordings: Vec::new(),
            turn_recording: None,
            record_on_answer: None,
        };
        tokio::spawn(async move {
            driver.run().await;
            let _ = delivery_task.await;
        })
    }
}

impl Driver {
    async fn run(mut self) {
        let incoming = self.parked_until.is_some();
        let mut initiated = Map::new();
        initiated.insert(
            "direction".into(),
            json!(if incoming { "incoming" } else { "outgoing" }),
        );
        initiated.insert(
            "state".into(),
            json!(if incoming { "parked" } else { "bridging" }),
        );
        initiated.insert("start_time".into(), json!(self.start_time()));
        let caller_id_name = self.sim.lock().calls.get(&self.id).map(|c| c.from.clone());
        initiated.insert("caller_id_name".into(), json!(caller_id_name));
        self.emit("call.initiated", initiated, None);
        while !self.ended {
            while let Ok(cmd) = self.inbox.try_recv() {
                self.apply(cmd).await;
                if self.ended {
                    break;
                }
            }
            if self.ended {
                break;
            }
            if self.party_ready() && self.settled() {
                self.schedule_party().await;
            }
            if self.ended {
                break;
            }
            self.wait().await;
        }
        for stream in std::mem::take(&mut self.streams) {
            stream.finish().await;
        }
        if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
            call.commands = None;
        }
        tracing::info!(call_control_id = %self.id, "telnyx simulator: call ended");
    }

    /// Waits for a command or the next scheduled moment, and handles it.
    async fn wait(&mut self) {
        let pace = self.sim.config().voice.simulated_second;
        let next = self.next_moment(pace > Duration::ZERO);
        let started = Instant::now();
        // The clock waits for the application: its events delivered, then `settle` of
        // quiet after the last delivery or command.
        let (in_flight, unsettled) = self.unsettled();
        let sleep_for = next.filter(|_| !in_flight).map(|at| {
            pace.mul_f64(at.saturating_sub(self.now) as f64 / 1000.0)
                .max(unsettled)
        });
        let parked_until = self.parked_until;
        tokio::select! {
            cmd = self.inbox.recv() => {
                if let (Some(at), false) = (next, pace.is_zero()) {
                    let elapsed = started.elapsed().as_secs_f64() / pace.as_secs_f64();
                    self.advance_to((self.now + (elapsed * 1000.0) as u64).min(at));
                }
                match cmd {
                    Some(cmd) => self.apply(cmd).await,
                    None => self.ended = true,
                }
            }
            _ = sleep_opt(sleep_for) => {
                if let Some(at) = next {
                    self.advance_to(at);
                    self.fire(at).await;
                }
            }
            changed = self.delivered.changed(), if in_flight => {
                if changed.is_err() {
                    // The delivery task is gone: stop waiting for it.
                    self.queued = 0;
                }
            }
            _ = sleep_until_opt(parked_until) => {
                tracing::info!(call_control_id = %self.id, "telnyx simulator: no command before the first-command timeout; hanging up");
                self.note("no answer before the first-command timeout".into());
                self.end("timeout", "unknown", "unspecified").await;
            }
        }
    }

    /// Whether events are still on their way to the application, and how long until it
    /// has been quiet for `command_settle` (after the last delivery or command).
    fn unsettled(&self) -> (bool, Duration) {
        let settle = self.sim.config().voice.command_settle;
        let (delivered, last_delivered) = *self.delivered.borrow();
        let in_flight = !settle.is_zero() && delivered < self.queued;
        let quiet_in = [self.last_command, last_delivered]
            .into_iter()
            .flatten()
            .max()
            .map(|at| settle.saturating_sub(at.elapsed()))
            .unwrap_or_default();
        (in_flight, quiet_in)
    }

    /// The application has had its say: its events delivered, then quiet.
    fn settled(&self) -> bool {
        let (in_flight, quiet_in) = self.unsettled();
        !in_flight && quiet_in.is_zero()
    }

    /// Whether the party would take its next input now: the call is answered and
    /// listens, the party is idle, has something to do, and the application's audio is
    /// done (or a barge-in is due or next in the script).
    fn party_ready(&self) -> bool {
        if self.ended || !self.answered || self.party.is_some() || !self.listening() {
            return false;
        }
        if self.silent_for_gather && self.gather.is_some() {
            return false;
        }
        if self.script.inputs.is_empty() && !self.script.hang_up_when_done {
            return false;
        }
        match (&self.playing, self.barge_after) {
            (None, _) => true,
            (Some((_, started, _)), Some(after)) => self.now >= started + after,
            (Some(_), None) => matches!(
                self.script.inputs.front(),
                Some(CallerInput::Interrupt { .. })
            ),
        }
    }

    /// The earliest scheduled moment; the time limit and a pending detection result count
    /// only when something else is scheduled or `idle_clock` (a paced clock moves while
    /// the call waits).
    fn next_moment(&self, idle_clock: bool) -> Option<u64> {
        let mut moments = Vec::new();
        if self.party_ready() {
            // The party acts now, once the application has settled.
            moments.push(self.now);
        }
        if let Some((_, _, ends)) = &self.playing {
            moments.push(*ends);
            // The barge-in moment, while still ahead (past, it schedules nothing).
            if let (Some(after), Some((_, started, _))) = (self.barge_after, &self.playing) {
                if started + after > self.now {
                    moments.push(started + after);
                }
            }
        }
        if let Some(p) = &self.party {
            moments.push(p.ends);
        }
        if let Some(g) = &self.gather {
            moments.push(g.since + g.spec.timeout_ms);
        }
        if let Some((at, _)) = self.ringing {
            moments.push(at);
        }
        if let Some(at) = self.hangup_at {
            moments.push(at);
        }
        let next = moments.into_iter().min();
        // Like the time limit, a pending detection result counts only when something else
        // is scheduled or the clock moves by itself: an unpaced clock does not jump ahead
        // to it while the application decides what to do.
        let limit = match self.detections.front() {
            Some((at, _, _)) => (*at).min(self.time_limit_ms.max(self.now)),
            None => self.time_limit_ms.max(self.now),
        };
        match next {
            Some(at) => Some(at.min(limit)),
            None if idle_clock && !self.ended => Some(limit),
            None => None,
        }
    }

    fn advance_to(&mut self, at: u64) {
        if at > self.now {
            self.now = at;
            if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
                call.clock_ms = at;
            }
        }
    }

    /// Handles everything due at `at`.
    async fn fire(&mut self, at: u64) {
        if at >= self.time_limit_ms {
            self.note(format!(
                "time limit of {} s reached",
                self.time_limit_ms / 1000
            ));
            self.end("time_limit", "unknown", "unspecified").await;
            return;
        }
        if let Some((ring_at, outcome)) = self.ringing {
            if ring_at <= at {
                self.ringing = None;
                match outcome {
                    CalleeOutcome::Answer => {
                        let stream = self.pending_stream.take();
                        self.answer(None, stream);
                        if self.transferred_from().is_some() {
                            self.hangup_at =
                                Some(self.now + crate::call_commands::TRANSFER_TALK_MS);
                        }
                    }
                    CalleeOutcome::Busy => self.end("user_busy", "callee", "486").await,
                    CalleeOutcome::NoAnswer => self.end("timeout", "unknown", "487").await,
                    CalleeOutcome::Fail => self.end("not_found", "callee", "404").await,
                }
                if self.ended {
                    return;
                }
            }
        }
        if self.hangup_at.is_some_and(|h| h <= at) {
            self.hangup_at = None;
            self.end("normal_clearing", "callee", "unspecified").await;
            return;
        }
        while self
            .detections
            .front()
            .is_some_and(|(due, _, _)| *due <= at)
        {
            if let Some((_, event_type, result)) = self.detections.pop_front() {
                let mut extra = Map::new();
                extra.insert("result".into(), json!(result));
                self.emit(event_type, extra, None);
            }
        }
        if self
            .playing
            .as_ref()
            .is_some_and(|(_, _, ends)| *ends <= at)
        {
            self.finish_audio("completed");
            self.start_next_audio();
        }
        if self.party.as_ref().is_some_and(|p| p.ends <= at) {
            if let Some(p) = self.party.take() {
                self.party_done(p.input).await;
            }
        }
        if self
            .gather
            .as_ref()
            .is_some_and(|g| g.since + g.spec.timeout_ms <= at)
        {
            self.end_gather(String::new(), "timeout");
        }
    }

    async fn apply(&mut self, cmd: Command) {
        if let Some(state) = cmd.client_state {
            if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
                call.client_state = Some(state);
            }
        }
        if self.ended {
            return;
        }
        if !matches!(
            cmd.action,
            Action::PartyHangup | Action::StreamOpened { .. } | Action::StreamBargedIn
        ) {
            // Any command stops the first-command timeout.
            self.parked_until = None;
            self.last_command = Some(Instant::now());
        }
        match cmd.action {
            Action::Answer {
                webhook_url,
                stream,
            } => self.answer(webhook_url, stream),
            Action::Hangup => {
                let (cause, source, sip) = if self.ringing.is_some() {
                    ("originator_cancel", "caller", "487")
                } else {
                    ("normal_clearing", self.app_side(), "unspecified")
                };
                self.end(cause, source, sip).await;
            }
            Action::Reject { cause, sip } => self.end(cause, "callee", sip).await,
            Action::Audio(item) => {
                // The stopped speech ends `cancelled` (unconfirmed: what Telnyx reports for a
                // speak another speak's `stop` cut).
                let speaking = self
                    .playing
                    .as_ref()
                    .is_some_and(|(i, _, _)| i.gather.is_none());
                match item.stop.as_deref() {
                    Some("all") => {
                        self.queue.retain(|i| i.gather.is_some());
                        if speaking {
                            self.finish_audio("cancelled");
                        }
                    }
                    Some("current") if speaking => {
                        self.finish_audio("cancelled");
                        self.start_next_audio();
                    }
                    _ => {}
                }
                self.queue.push_back(item);
                if self.playing.is_none() {
                    self.start_next_audio();
                }
            }
            Action::PlaybackStop => {
                self.queue
                    .retain(|i| !matches!(i.heard, Heard::Playback { .. }) || i.gather.is_some());
                if self.playing.as_ref().is_some_and(|(i, _, _)| {
                    matches!(i.heard, Heard::Playback { .. }) && i.gather.is_none()
                }) {
                    self.finish_audio("cancelled");
                    self.start_next_audio();
                }
            }
            Action::Gather(spec) => {
                if self.gather.is_some() {
                    self.end_gather(String::new(), "cancelled");
                }
                match &spec.prompt {
                    Some(prompt) => {
                        let mut item = match prompt.clone() {
                            Heard::Speak {
                                payload,
                                voice,
                                language,
                            } => AudioItem::speak(payload, voice, language),
                            Heard::Playback { url } => AudioItem::playback(url),
                        };
                        item.gather = Some(spec);
                        self.queue.push_back(item);
                        if self.playing.is_none() {
                            self.start_next_audio();
                        }
                    }
                    None => {
                        self.gather = Some(Gather {
                            spec,
                            since: self.now,
                        })
                    }
                }
            }
            Action::GatherStop => {
                let prompt_playing = self
                    .playing
                    .as_ref()
                    .and_then(|(i, _, _)| i.gather.as_ref())
                    .cloned();
                if let Some(spec) = prompt_playing {
                    self.playing = None;
                    self.record_gather(&spec, String::new(), "cancelled");
                    self.start_next_audio();
                } else if let Some(pos) = self.queue.iter().position(|i| i.gather.is_some()) {
                    if let Some(item) = self.queue.remove(pos) {
                        if let Some(spec) = item.gather {
                            self.record_gather(&spec, String::new(), "cancelled");
                        }
                    }
                } else if self.gather.is_some() {
                    self.end_gather(String::new(), "cancelled");
                }
            }
            Action::TranscriptionStart => self.transcribing = true,
            Action::TranscriptionStop => self.transcribing = false,
            Action::StreamingStart(params) => self.open_stream(params),
            Action::StreamingStop { stream_id } => {
                let (stop, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.streams)
                    .into_iter()
                    .partition(|s| stream_id.as_deref().is_none_or(|id| id == s.stream_id));
                self.streams = keep;
                for s in stop {
                    let url = s.url.clone();
                    s.finish().await;
                    let mut extra = Map::new();
                    extra.insert("stream_url".into(), json!(url));
                    self.emit("streaming.stopped", extra, None);
                }
            }
            Action::SendDtmf { digits } => {
                if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
                    call.log.dtmf_sent.push(digits);
                }
            }
            Action::ClientStateUpdate => {}
            Action::Transfer {
                to,
                from,
                timeout_secs,
                target_state,
            } => {
                self.note(format!("transfer to {to}"));
                crate::call_commands::start_transfer_leg(
                    &self.sim,
                    &self.id,
                    to,
                    from,
                    timeout_secs,
                    target_state,
                );
            }
            Action::RecordStart(spec) => {
                let started = (spec.clone(), self.now, OffsetDateTime::now_utc());
                if spec.is_turn() {
                    self.turn_recording = Some(started);
                } else {
                    self.recordings.push(started);
                }
            }
            Action::RecordStop => self.save_recordings(),
            Action::RecordFromAnswer(spec) => {
                if self.answered {
                    self.recordings
                        .push((spec, self.now, OffsetDateTime::now_utc()));
                } else {
                    self.record_on_answer = Some(spec);
                }
            }
            Action::PartyHangup => {
                let source = if self.is_incoming() {
                    "caller"
                } else {
                    "callee"
                };
                self.end("normal_clearing", source, "unspecified").await;
            }
            Action::StreamBargedIn => self.stream_barge = false,
            Action::StreamOpened {
                stream_id,
                url,
                failure,
            } => {
                // A stream stopped before it opened says nothing more.
                if !self.streams.iter().any(|s| s.stream_id == stream_id) {
                    return;
                }
                let mut extra = Map::new();
                match failure {
                    None => {
                        if let Some(s) = self.streams.iter_mut().find(|s| s.stream_id == stream_id)
                        {
                            s.opened = true;
                        }
                        extra.insert("stream_url".into(), json!(url));
                        self.emit("streaming.started", extra, None);
                    }
                    Some(reason) => {
                        self.streams.retain(|s| s.stream_id != stream_id);
                        extra.insert("failure_reason".into(), json!(reason));
                        extra.insert("stream_id".into(), json!(stream_id));
                        extra.insert("stream_params".into(), json!({ "stream_url": url }));
                        extra.insert("stream_type".into(), json!("websocket"));
                        self.emit("streaming.failed", extra, None);
                    }
                }
            }
        }
    }

    fn is_incoming(&self) -> bool {
        self.sim
            .lock()
            .calls
            .get(&self.id)
            .is_some_and(|c| c.direction == "incoming")
    }

    /// Who the application is on this call: the callee of an incoming call, the caller
    /// of one it dialed.
    fn app_side(&self) -> &'static str {
        if self.is_incoming() {
            "callee"
        } else {
            "caller"
        }
    }

    /// Saves every recording in progress (`call.recording.saved` each).
    fn save_recordings(&mut self) {
        let mut all: Vec<_> = std::mem::take(&mut self.recordings);
        all.extend(self.turn_recording.take());
        for (spec, since, started_at) in all {
            self.save_recording(&spec, since, started_at);
        }
    }

    fn save_recording(
        &mut self,
        spec: &crate::recordings::RecordSpec,
        since: u64,
        started_at: OffsetDateTime,
    ) {
        let extra = crate::recordings::saved(
            &self.sim,
            &self.id,
            spec,
            self.now.saturating_sub(since),
            started_at,
        );
        self.emit("call.recording.saved", extra, None);
    }

    fn answer(&mut self, webhook_url: Option<String>, stream: Option<StreamParams>) {
        self.answered = true;
        if let Some(spec) = self.record_on_answer.take() {
            self.recordings
                .push((spec, self.now, OffsetDateTime::now_utc()));
        }
        if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
            call.answered = true;
            call.state = "answered";
            call.answered_ms = Some(self.now);
            if let Some(url) = webhook_url {
                call.webhook_url = url;
            }
        }
        let mut extra = Map::new();
        extra.insert("state".into(), json!("answered"));
        extra.insert("start_time".into(), json!(self.start_time()));
        self.emit("call.answered", extra, None);
        let OnAnswer { amd, send_digits } = std::mem::take(&mut self.on_answer);
        if let Some(digits) = send_digits {
            if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
                call.log.dtmf_sent.push(digits);
            }
        }
        if let Some((mode, answerer)) = amd {
            self.detections = crate::amd::schedule(&mode, answerer, self.now).into();
        }
        if let Some(params) = stream {
            self.open_stream(params);
        }
    }

    fn open_stream(&mut self, params: StreamParams) {
        let handle = StreamHandle::open(
            self.sim.clone(),
            self.id.clone(),
            params,
            self.self_tx.clone(),
        );
        self.streams.push(handle);
    }

    fn start_time(&self) -> String {
        let start = self
            .sim
            .lock()
            .calls
            .get(&self.id)
            .map(|c| c.start_time)
            .unwrap_or_else(OffsetDateTime::now_utc);
        rfc3339(start)
    }

    fn start_next_audio(&mut self) {
        if self.playing.is_some() || self.ended {
            return;
        }
        let Some(item) = self.queue.pop_front() else {
            return;
        };
        if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
            call.log.heard.push(item.heard.clone());
        }
        if item.gather.is_none() {
            let (event, extra) = started_event(&item.heard);
            self.emit(event, extra, item.webhook_url.as_deref());
        }
        let ends = self.now + item.duration_ms;
        self.playing = Some((item, self.now, ends));
    }

    /// Ends the playing item with `status` (its gather, if a prompt that completed, listens).
    fn finish_audio(&mut self, status: &str) {
        let Some((item, _, _)) = self.playing.take() else {
            return;
        };
        match item.gather {
            Some(spec) if status == "completed" => {
                self.gather = Some(Gather {
                    spec,
                    since: self.now,
                })
            }
            Some(spec) => self.record_gather(&spec, String::new(), status),
            None => {
                let (event, mut extra) = ended_event(&item.heard);
                extra.insert("status".into(), json!(status));
                self.emit(event, extra, item.webhook_url.as_deref());
            }
        }
        self.barge_after = None;
    }

    fn end_gather(&mut self, digits: String, status: &str) {
        if let Some(g) = self.gather.take() {
            self.record_gather(&g.spec, digits, status);
        }
        self.silent_for_gather = false;
    }

    fn record_gather(&mut self, spec: &GatherSpec, digits: String, status: &str) {
        if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
            call.log.gathers.push(GatherRecord {
                command: spec.command.clone(),
                digits: digits.clone(),
                status: status.to_string(),
            });
        }
        let mut extra = Map::new();
        extra.insert("digits".into(), json!(digits));
        extra.insert("status".into(), json!(status));
        self.emit("call.gather.ended", extra, spec.webhook_url.as_deref());
    }

    /// Whether anything listens to the party: a gather, a transcription, a stream.
    fn listening(&self) -> bool {
        self.gather.is_some()
            || self.transcribing
            || self.turn_recording.is_some()
            || self.streams.iter().any(|s| s.opened)
    }

    /// Starts the party's next input when the call listens and the application's audio
    /// is done (or has played as long as a barge-in waits for).
    async fn schedule_party(&mut self) {
        loop {
            if self.ended || !self.answered || self.party.is_some() || !self.listening() {
                return;
            }
            if self.silent_for_gather && self.gather.is_some() {
                return;
            }
            // A barge-in lasts until the audio it cut into has ended.
            if self.stream_barge {
                return;
            }
            if let Some((_, started, _)) = &self.playing {
                if self.barge_after.is_none() {
                    if let Some(CallerInput::Interrupt { after_ms }) = self.script.inputs.front() {
                        self.barge_after = Some(*after_ms);
                        self.script.inputs.pop_front();
                    }
                }
                match self.barge_after {
                    Some(after) if self.now >= started + after => {}
                    _ => return,
                }
            }
            let Some(input) = self.script.inputs.pop_front() else {
                if self.script.hang_up_when_done {
                    self.note("the script ran out: the party hangs up".into());
                    let source = if self.is_incoming() {
                        "caller"
                    } else {
                        "callee"
                    };
                    self.end("normal_clearing", source, "unspecified").await;
                }
                return;
            };
            let duration = match &input {
                CallerInput::Speech { text, .. } | CallerInput::PartialSpeech(text) => {
                    text.split_whitespace().count().max(1) as u64 * MS_PER_WORD
                }
                CallerInput::Digits(d) => d.chars().count() as u64 * MS_PER_KEY,
                CallerInput::Audio(bytes) => {
                    for s in self.streams.iter().filter(|s| s.opened) {
                        s.send_audio(bytes.clone());
                    }
                    (bytes.len() as u64).div_ceil(8)
                }
                CallerInput::Wait { ms } => *ms,
                CallerInput::Silence => {
                    if self.gather.is_some() {
                        self.silent_for_gather = true;
                    }
                    continue;
                }
                CallerInput::Interrupt { after_ms } => {
                    // On a media stream the application's audio is the stream's: the
                    // party waits until the stream has played that much of it.
                    let bidirectional: Vec<_> = self
                        .streams
                        .iter()
                        .filter(|s| s.opened && s.bidirectional)
                        .collect();
                    if self.playing.is_none() && !bidirectional.is_empty() {
                        if let Some(s) = bidirectional.first() {
                            s.interrupt(*after_ms);
                        }
                        self.stream_barge = true;
                        return;
                    } else {
                        self.barge_after = Some(*after_ms);
                    }
                    continue;
                }
            };
            self.party = Some(PartyAction {
                input,
                ends: self.now + duration,
            });
            return;
        }
    }

    /// The party finished an input: whoever listens gets it.
    async fn party_done(&mut self, input: CallerInput) {
        if matches!(input, CallerInput::Speech { .. } | CallerInput::Digits(_)) {
            // A turn recording ends once the party has had its say (its silence timeout).
            if let Some((spec, since, started_at)) = self.turn_recording.take() {
                self.save_recording(&spec, since, started_at);
                return;
            }
        }
        match input {
            CallerInput::Speech { text, confidence } => {
                if self.transcribing {
                    self.transcription(text, confidence, true);
                } else {
                    self.note(format!("speech {text:?} with no transcription running"));
                }
            }
            CallerInput::PartialSpeech(text) => {
                if self.transcribing {
                    self.transcription(text, None, false);
                } else {
                    self.note(format!(
                        "partial speech {text:?} with no transcription running"
                    ));
                }
            }
            CallerInput::Digits(digits) => {
                for s in self.streams.iter().filter(|s| s.opened) {
                    for d in digits.chars() {
                        s.send_dtmf(d);
                    }
                }
                if let Some(g) = &self.gather {
                    let (digits, status) = gathered(&g.spec, &digits);
                    self.end_gather(digits, status);
                } else {
                    for d in digits.chars() {
                        let mut extra = Map::new();
                        extra.insert("digit".into(), json!(d.to_string()));
                        self.emit("call.dtmf.received", extra, None);
                    }
                }
            }
            CallerInput::Audio(_) | CallerInput::Wait { .. } => {}
            CallerInput::Silence | CallerInput::Interrupt { .. } => {}
        }
    }

    fn transcription(&mut self, text: String, confidence: Option<f64>, is_final: bool) {
        let mut data = Map::new();
        if let Some(c) = confidence {
            data.insert("confidence".into(), json!(c));
        }
        data.insert("is_final".into(), json!(is_final));
        data.insert("transcript".into(), json!(text));
        data.insert("transcription_track".into(), json!("inbound"));
        if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
            call.log.transcriptions.push(TranscriptionRecord {
                transcript: text,
                confidence,
                is_final,
            });
        }
        let mut extra = Map::new();
        extra.insert("transcription_data".into(), Value::Object(data));
        self.emit("call.transcription", extra, None);
    }

    /// Ends the call: what plays ends with `call_hangup`, streams stop, `call.hangup`.
    async fn end(&mut self, cause: &str, source: &str, sip: &str) {
        if self.ended {
            return;
        }
        self.finish_audio("call_hangup");
        self.queue.clear();
        if self.gather.is_some() {
            self.end_gather(String::new(), "call_hangup");
        }
        for s in std::mem::take(&mut self.streams) {
            let url = s.url.clone();
            s.finish().await;
            let mut extra = Map::new();
            extra.insert("stream_url".into(), json!(url));
            self.emit("streaming.stopped", extra, None);
        }
        let end = OffsetDateTime::now_utc();
        if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
            call.state = "hangup";
            call.end_time = Some(end);
            call.hangup_cause = Some(cause.to_string());
            call.hangup_source = Some(source.to_string());
        }
        let mut extra = Map::new();
        extra.insert("call_quality_stats".into(), Value::Null);
        extra.insert("end_time".into(), json!(rfc3339(end)));
        extra.insert("hangup_cause".into(), json!(cause));
        extra.insert("hangup_source".into(), json!(source));
        extra.insert("sip_hangup_cause".into(), json!(sip));
        extra.insert("start_time".into(), json!(self.start_time()));
        extra.insert("state".into(), json!("hangup"));
        self.emit("call.hangup", extra, None);
        // Recordings end with the call and are saved after it (as Telnyx announces them).
        self.save_recordings();
        self.ended = true;
        self.party = None;
        // A transfer's answered leg was bridged to the call it came from: that call ends
        // with it.
        if self.answered {
            if let Some(peer) = self.transferred_from() {
                let tx = self
                    .sim
                    .lock()
                    .calls
                    .get(&peer)
                    .and_then(|c| c.commands.clone());
                if let Some(tx) = tx {
                    let _ = tx.send(Command {
                        client_state: None,
                        action: Action::PartyHangup,
                    });
                }
            }
        }
    }

    fn transferred_from(&self) -> Option<String> {
        self.sim
            .lock()
            .calls
            .get(&self.id)
            .and_then(|c| c.transferred_from.clone())
    }

    fn emit(&mut self, event_type: &str, extra: Map<String, Value>, url: Option<&str>) {
        if self
            .sim
            .emit_call_event(&self.id, event_type, extra, url, &self.deliveries)
        {
            self.queued += 1;
        }
    }

    fn note(&self, note: String) {
        if let Some(call) = self.sim.lock().calls.get_mut(&self.id) {
            call.log.notes.push(note);
        }
    }
}

/// What a gather makes of the keys pressed: cut at the terminating digit or the maximum;
/// `valid` unless too few digits or one not allowed.
fn gathered(spec: &GatherSpec, pressed: &str) -> (String, &'static str) {
    let mut digits = String::new();
    for c in pressed.chars() {
        if spec.terminating_digit.contains(c) && !spec.terminating_digit.is_empty() {
            break;
        }
        digits.push(c);
        if digits.chars().count() >= spec.maximum_digits {
            break;
        }
    }
    let valid = digits.chars().count() >= spec.minimum_digits
        && digits.chars().all(|c| spec.valid_digits.contains(c));
    (digits, if valid { "valid" } else { "invalid" })
}

fn started_event(heard: &Heard) -> (&'static str, Map<String, Value>) {
    let mut extra = Map::new();
    match heard {
        Heard::Speak { .. } => ("call.speak.started", extra),
        Heard::Playback { url } => {
            extra.insert("media_url".into(), json!(url));
            extra.insert("overlay".into(), json!(false));
            ("call.playback.started", extra)
        }
    }
}

fn ended_event(heard: &Heard) -> (&'static str, Map<String, Value>) {
    let (started, extra) = started_event(heard);
    let ended = if started == "call.speak.started" {
        "call.speak.ended"
    } else {
        "call.playback.ended"
    };
    (ended, extra)
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GatherSpec {
        GatherSpec {
            command: "gather".into(),
            prompt: None,
            minimum_digits: 1,
            maximum_digits: 128,
            terminating_digit: "#".into(),
            valid_digits: "0123456789#*".into(),
            timeout_ms: 60_000,
            webhook_url: None,
        }
    }

    #[test]
    fn gathers_cut_at_the_terminating_digit_and_the_maximum() {
        assert_eq!(gathered(&spec(), "1234#56"), ("1234".to_string(), "valid"));
        let short = GatherSpec {
            maximum_digits: 2,
            ..spec()
        };
        assert_eq!(gathered(&short, "1234"), ("12".to_string(), "valid"));
        let four = GatherSpec {
            minimum_digits: 4,
            ..spec()
        };
        assert_eq!(gathered(&four, "12#"), ("12".to_string(), "invalid"));
        let digits_only = GatherSpec {
            valid_digits: "123".into(),
            ..spec()
        };
        assert_eq!(gathered(&digits_only, "19"), ("19".to_string(), "invalid"));
    }
}
