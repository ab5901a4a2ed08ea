//! The call driver: runs a call's TwiML like Twilio does, fetching documents from the
//! gateway with signed requests, answering `<Gather>`s from a [`CallScript`], following
//! `<Redirect>`s, until the call ends.
//!
//! Time on a call is simulated (see [`SimulatorConfig::simulated_second`]): each verb
//! advances the call's clock by a fixed amount, which `CallDuration` and `TimeLimit` use:
//!
//! | verb | simulated time |
//! |---|---|
//! | `<Say>` | 400 ms per word, per `loop` (150 words a minute) |
//! | `<Play>` | 1 s per `loop` (the audio is not fetched) |
//! | `<Pause length>` | `length` seconds |
//! | `<Gather>`/`<Record>` with input | its prompts, then 1 s for the answer (a recording: 400 ms per word, at least 1 s) |
//! | `<Gather>`/`<Record>` in silence | its prompts, then `timeout` seconds |
//! | `<Dial>` | 0, or its `timeout` when the callee does not answer |
//! | `<Connect><Stream>`, `<Connect><ConversationRelay>` | the session's clock (see the module docs of [`simulator`](super)) |
//! | fetching a document | 0 |
//!
//! [`SimulatorConfig::simulated_second`]: crate::SimulatorConfig::simulated_second

use std::collections::VecDeque;
use std::time::Instant;

use telephony_core::redact::redact_url;
use telephony_twilio::resources::CallResource;
use telephony_twilio::signature::RequestValidator;

use crate::call_events::{emit, end_call, finished};
use crate::call_state::is_terminal;
use crate::config::MAX_CALL_DOCUMENTS;
use crate::recipients::country_of;
use crate::records::{Alert, RelayRecord, SessionEnd, StreamRecord};
use crate::relay::{CallInfo, RelaySession};
use crate::script::{
    CallEnd, CallError, CallScript, CalleeOutcome, CallerInput, DocumentRecord, GatherRecord, Heard,
};
use crate::session::{self, Engine, Exit, Recorder};
use crate::sids::new_sid;
use crate::simulator::Simulator;
use crate::stream::StreamSession;
use crate::verbs::{ConnectRelay, ConnectStream, GatherVerb, RecordVerb, TwimlVerb, parse_twiml};

/// Simulated milliseconds per spoken word.
const MS_PER_WORD: u64 = 400;
/// Simulated milliseconds for the party's answer to a `<Gather>`.
const ANSWER_MS: u64 = 1000;
/// Simulated milliseconds per `<Play>` loop.
const PLAY_MS: u64 = 1000;

/// Where a call's first document comes from.
#[derive(Debug, Clone)]
pub(crate) enum Instructions {
    /// Request it from `url` with `method`.
    Fetch { url: String, method: String },
    /// This TwiML (`Twiml` on `Calls.json`).
    Inline(String),
}

/// A document request: where, how, and the parameters added to the call's.
#[derive(Debug)]
struct Request {
    url: String,
    method: String,
    extra: Vec<(String, String)>,
}

/// What running a document led to.
enum Flow {
    /// Request the next document.
    Next(Request),
    /// The call has ended.
    Ended,
}

struct Driver {
    sim: Simulator,
    sid: String,
    inputs: VecDeque<CallerInput>,
    hang_up_when_done: bool,
    answered: bool,
    time_limit_ms: u64,
    documents: usize,
}

/// Runs the call `sid` from `instructions` until it ends, then marks it finished.
/// `answered`: whether the call is already `in-progress` (outbound calls); an inbound call
/// is answered by its first document unless that starts with `<Reject>`.
pub(crate) async fn run(
    sim: Simulator,
    sid: String,
    instructions: Instructions,
    script: CallScript,
    answered: bool,
    time_limit_secs: u64,
) {
    let mut driver = Driver {
        sim,
        sid,
        inputs: script.inputs,
        hang_up_when_done: script.hang_up_when_done,
        answered,
        time_limit_ms: time_limit_secs.saturating_mul(1000),
        documents: 0,
    };
    driver.drive(instructions).await;
    // Whatever stopped the driver, the call does not outlive it.
    let status = if driver.answered {
        "completed"
    } else {
        "failed"
    };
    driver.end(status, CallEnd::Error).await;
    finished(&driver.sim, &driver.sid);
}

impl Driver {
    /// Runs `instructions`, then whatever live updates put in their place, until the
    /// call ends.
    async fn drive(&mut self, instructions: Instructions) {
        let mut next = Some(instructions);
        while let Some(instructions) = next.take() {
            self.drive_one(instructions).await;
            if self.ended() {
                return;
            }
            next = self.take_replacement();
        }
    }

    /// A live update's instructions, if one came.
    fn take_replacement(&self) -> Option<Instructions> {
        self.with_meta(|m| m.replacement.take()).flatten()
    }

    fn replaced(&self) -> bool {
        self.with_meta(|m| m.replacement.is_some()).unwrap_or(false)
    }

    async fn drive_one(&mut self, instructions: Instructions) {
        let (doc, url) = match instructions {
            Instructions::Inline(twiml) => {
                self.log(|log| {
                    log.documents.push(DocumentRecord {
                        url: None,
                        method: String::new(),
                        params: Vec::new(),
                        signature: String::new(),
                        http_status: None,
                        content_type: None,
                        body: twiml.clone(),
                    })
                });
                (twiml, None)
            }
            Instructions::Fetch { url, method } => {
                let request = Request {
                    url,
                    method,
                    extra: Vec::new(),
                };
                match self.fetch(request).await {
                    Some(_) if self.replaced() => return,
                    Some((doc, url)) => (doc, Some(url)),
                    None => return,
                }
            }
        };
        let mut flow = self.run_document(doc, url).await;
        while let Some(Flow::Next(request)) = flow {
            if self.replaced() {
                return;
            }
            flow = match self.fetch(request).await {
                // A live update came while the document was fetched: Twilio runs the
                // update, not the answer.
                Some(_) if self.replaced() => return,
                Some((doc, url)) => self.run_document(doc, Some(url)).await,
                None => return,
            };
        }
    }

    /// Parses and runs a document (answering a ringing call first unless it starts with
    /// `<Reject>`); `None` when the call ended before it could run.
    async fn run_document(&mut self, doc: String, url: Option<String>) -> Option<Flow> {
        if self.ended() {
            return None;
        }
        let verbs = match parse_twiml(&doc) {
            Ok(verbs) => verbs,
            Err(e) => {
                self.fail(12100, format!("Document parse failure: {e}"), url)
                    .await;
                return None;
            }
        };
        if !self.answered && !matches!(verbs.first(), Some(TwimlVerb::Reject { .. })) {
            self.answer().await;
        }
        Some(self.execute(&verbs, url.as_deref()).await)
    }

    /// Runs a document's verbs in order.
    async fn execute(&mut self, verbs: &[TwimlVerb], doc_url: Option<&str>) -> Flow {
        for verb in verbs {
            if self.ended() || self.replaced() {
                return Flow::Ended;
            }
            match verb {
                TwimlVerb::Say(_) | TwimlVerb::Play(_) | TwimlVerb::Pause { .. } => {
                    if !self.prompt(verb).await {
                        return Flow::Ended;
                    }
                }
                TwimlVerb::Gather(g) => {
                    if let Some(flow) = self.gather(g, doc_url).await {
                        return flow;
                    }
                }
                TwimlVerb::Record(r) => {
                    if let Some(flow) = self.record(r, doc_url).await {
                        return flow;
                    }
                }
                TwimlVerb::Dial(d) => {
                    let status = match self.sim.callee_outcome(&d.target) {
                        CalleeOutcome::Answer => "completed",
                        CalleeOutcome::Busy => "busy",
                        CalleeOutcome::NoAnswer => "no-answer",
                        CalleeOutcome::Fail => "failed",
                    };
                    self.log(|log| {
                        log.transcript.push(Heard::Dial {
                            target: d.target.clone(),
                            status: status.to_string(),
                        })
                    });
                    if status == "no-answer" && !self.pass(u64::from(d.timeout) * 1000).await {
                        return Flow::Ended;
                    }
                    if let Some(action) = &d.action {
                        let Some(url) = self.resolve(action, doc_url).await else {
                            return Flow::Ended;
                        };
                        return Flow::Next(Request {
                            url,
                            method: d.method.clone(),
                            extra: pairs(&[
                                ("DialCallStatus", status),
                                ("DialCallSid", &new_sid("CA")),
                                ("DialCallDuration", "0"),
                            ]),
                        });
                    }
                }
                TwimlVerb::Redirect { url, method } => {
                    let Some(url) = self.resolve(url, doc_url).await else {
                        return Flow::Ended;
                    };
                    return Flow::Next(Request {
                        url,
                        method: method.clone(),
                        extra: Vec::new(),
                    });
                }
                TwimlVerb::Hangup => {
                    self.end("completed", CallEnd::Hangup).await;
                    return Flow::Ended;
                }
                TwimlVerb::ConnectStream(stream) => {
                    if !self.connect_stream(stream).await {
                        return Flow::Ended;
                    }
                    // The application closed the socket (or it never opened): Twilio
                    // requests the action, else goes on with the next verb.
                    if let Some(action) = &stream.action {
                        let Some(url) = self.resolve(action, doc_url).await else {
                            return Flow::Ended;
                        };
                        return Flow::Next(Request {
                            url,
                            method: stream.method.clone(),
                            extra: Vec::new(),
                        });
                    }
                }
                TwimlVerb::ConnectRelay(relay) => match self.connect_relay(relay).await {
                    RelayAfter::CallEnded => return Flow::Ended,
                    RelayAfter::Failed(message) => {
                        self.fail(64105, message, Some(relay.url.clone())).await;
                        return Flow::Ended;
                    }
                    RelayAfter::Ended {
                        session_id,
                        handoff_data,
                    } => {
                        if let Some(action) = &relay.action {
                            let Some(url) = self.resolve(action, doc_url).await else {
                                return Flow::Ended;
                            };
                            let mut extra =
                                pairs(&[("SessionId", &session_id), ("SessionStatus", "ended")]);
                            if let Some(data) = handoff_data {
                                extra.push(("HandoffData".into(), data));
                            }
                            return Flow::Next(Request {
                                url,
                                method: relay.method.clone(),
                                extra,
                            });
                        }
                    }
                },
                TwimlVerb::StartRecording(r) => {
                    crate::recordings::start(
                        &self.sim,
                        &self.sid,
                        r.channels,
                        r.recording_status_callback.clone(),
                        "StartCallRecordingTwiML",
                    );
                }
                TwimlVerb::Reject { reason } => {
                    // Before the answer the call is never picked up: `busy` for
                    // reason="busy", else `no-answer` (Twilio's <Reject> docs). After it,
                    // <Reject> can only hang up.
                    let status = match (self.answered, reason.as_str()) {
                        (true, _) => "completed",
                        (false, "busy") => "busy",
                        (false, _) => "no-answer",
                    };
                    self.end(status, CallEnd::Rejected).await;
                    return Flow::Ended;
                }
            }
        }
        if self.replaced() {
            return Flow::Ended;
        }
        self.end("completed", CallEnd::DocumentEnd).await;
        Flow::Ended
    }

    /// `<Say>`, `<Play>`, `<Pause>`: heard and timed; `false` when the call ended.
    async fn prompt(&mut self, verb: &TwimlVerb) -> bool {
        match verb {
            TwimlVerb::Say(say) => {
                let ms = MS_PER_WORD * say.text.split_whitespace().count() as u64;
                for _ in 0..say.loops {
                    self.log(|log| {
                        log.transcript.push(Heard::Say {
                            text: say.text.clone(),
                            voice: say.voice.clone(),
                            language: say.language.clone(),
                        })
                    });
                    if !self.pass(ms).await {
                        return false;
                    }
                }
                true
            }
            TwimlVerb::Play(play) if !play.url.is_empty() => {
                for _ in 0..play.loops {
                    self.log(|log| {
                        log.transcript.push(Heard::Play {
                            url: play.url.clone(),
                        })
                    });
                    if !self.pass(PLAY_MS).await {
                        return false;
                    }
                }
                true
            }
            TwimlVerb::Play(play) if play.digits.is_some() => {
                let digits = play.digits.clone().unwrap_or_default();
                // A tone takes about a tenth of a second; `w` waits half a second.
                let ms: u64 = digits
                    .chars()
                    .map(|c| if c == 'w' { 500 } else { 100 })
                    .sum();
                self.log(|log| log.transcript.push(Heard::Digits { digits }));
                self.pass(ms).await
            }
            TwimlVerb::Pause { length } => self.pass(u64::from(*length) * 1000).await,
            _ => true,
        }
    }

    /// The next scripted input; `None` when the party hangs up instead (the call ended).
    async fn next_input(&mut self) -> Option<CallerInput> {
        match self.inputs.pop_front() {
            Some(input) => Some(input),
            None if self.hang_up_when_done => {
                self.end("completed", CallEnd::CallerHangUp).await;
                None
            }
            None => Some(CallerInput::Silence),
        }
    }

    /// `<Gather>`: `Some(flow)` to leave the document, `None` to go on with the next verb.
    async fn gather(&mut self, g: &GatherVerb, doc_url: Option<&str>) -> Option<Flow> {
        for prompt in &g.prompts {
            if !self.prompt(prompt).await {
                return Some(Flow::Ended);
            }
        }
        let Some(input) = self.next_input().await else {
            return Some(Flow::Ended);
        };
        let result = match &input {
            CallerInput::Speech { text, confidence }
                if g.accepts_speech() && !text.trim().is_empty() =>
            {
                let mut p = pairs(&[("SpeechResult", text)]);
                if let Some(c) = confidence {
                    p.push(("Confidence".into(), c.to_string()));
                }
                Some(p)
            }
            CallerInput::Digits(d) if g.accepts_digits() => gathered_digits(d, g),
            _ => None,
        };
        let waited = match result {
            Some(_) => ANSWER_MS,
            None => u64::from(g.timeout) * 1000,
        };
        if !self.pass(waited).await {
            return Some(Flow::Ended);
        }
        if result.is_none() && !g.action_on_empty_result {
            self.log(|log| {
                log.gathers.push(GatherRecord {
                    verb: "Gather".into(),
                    input,
                    action: None,
                    params: Vec::new(),
                })
            });
            return None;
        }
        let params = result.unwrap_or_default();
        let target = g.action.as_deref().or(doc_url).unwrap_or_default();
        let Some(url) = self.resolve(target, doc_url).await else {
            return Some(Flow::Ended);
        };
        self.log(|log| {
            log.gathers.push(GatherRecord {
                verb: "Gather".into(),
                input,
                action: Some(url.clone()),
                params: params.clone(),
            })
        });
        Some(Flow::Next(Request {
            url,
            method: g.method.clone(),
            extra: params,
        }))
    }

    /// `<Record>`: speech or keys make a recording posted to `action`; silence makes none
    /// and Twilio goes on with the next verb.
    async fn record(&mut self, r: &RecordVerb, doc_url: Option<&str>) -> Option<Flow> {
        let Some(input) = self.next_input().await else {
            return Some(Flow::Ended);
        };
        let (secs, key) = match &input {
            CallerInput::Speech { text, .. } if !text.trim().is_empty() => {
                let words = text.split_whitespace().count() as u64;
                ((MS_PER_WORD * words).div_ceil(1000).max(1), None)
            }
            CallerInput::Digits(d) if !d.is_empty() => (1, d.chars().next()),
            _ => (0, None),
        };
        let secs = secs.min(u64::from(r.max_length));
        let waited = if secs == 0 {
            u64::from(r.timeout) * 1000
        } else {
            secs * 1000
        };
        if !self.pass(waited).await {
            return Some(Flow::Ended);
        }
        if secs == 0 {
            self.log(|log| {
                log.gathers.push(GatherRecord {
                    verb: "Record".into(),
                    input,
                    action: None,
                    params: Vec::new(),
                })
            });
            return None;
        }
        let recording_sid = match &r.recording_status_callback {
            // A turn announced like any recording (and its media served).
            Some(cb) => crate::recordings::turn(&self.sim, &self.sid, secs, Some(cb.clone())).await,
            None => new_sid("RE"),
        };
        let account = self.sim.config().account_sid.clone();
        let mut params = pairs(&[
            (
                "RecordingUrl",
                &format!(
                    "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings/{recording_sid}"
                ),
            ),
            ("RecordingSid", &recording_sid),
            ("RecordingDuration", &secs.to_string()),
        ]);
        if let Some(key) = key {
            params.push(("Digits".into(), key.to_string()));
        }
        let target = r.action.as_deref().or(doc_url).unwrap_or_default();
        let Some(url) = self.resolve(target, doc_url).await else {
            return Some(Flow::Ended);
        };
        self.log(|log| {
            log.gathers.push(GatherRecord {
                verb: "Record".into(),
                input,
                action: Some(url.clone()),
                params: params.clone(),
            })
        });
        Some(Flow::Next(Request {
            url,
            method: r.method.clone(),
            extra: params,
        }))
    }

    /// `<Connect><Stream>`: opens the signed socket and plays Twilio's side until the
    /// application closes it (`true`: the call goes on) or the call ends (`false`). A
    /// socket that does not open is alert 31920 and the call goes on.
    async fn connect_stream(&mut self, verb: &ConnectStream) -> bool {
        let Some(call) = self.snapshot() else {
            return false;
        };
        let signed_url = session::signed_url(&verb.url);
        let signature =
            RequestValidator::new(self.sim.config().auth_token.expose()).compute(&signed_url, &[]);
        let mut notes = socket_notes(&verb.url);
        if let Some(query) = &verb.dropped_query {
            notes.push(format!(
                "the query string {query:?} was dropped from the stream URL, as Twilio drops it: pass values as <Parameter>s"
            ));
        }
        let stream_sid = new_sid("MZ");
        let index = self
            .with_meta(|m| {
                m.log.streams.push(StreamRecord {
                    url: verb.url.clone(),
                    signed_url,
                    signature: signature.clone(),
                    stream_sid: stream_sid.clone(),
                    name: verb.name.clone(),
                    custom_parameters: verb.parameters.clone(),
                    notes,
                    ..StreamRecord::default()
                });
                m.log.streams.len() - 1
            })
            .unwrap_or_default();
        let rec = Recorder {
            sim: self.sim.clone(),
            sid: self.sid.clone(),
            index,
        };
        let delay = self.sim.config().realtime_connect_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let ws = match session::connect(&self.sim.delivery_url(&verb.url), &signature).await {
            Ok(ws) => {
                let since = rec.since_created();
                rec.stream(|r| r.opened_after = since);
                ws
            }
            Err(e) => {
                tracing::info!(call_sid = %self.sid, url = %redact_url(&verb.url), error = %e, "simulator: stream did not open (31920)");
                rec.stream(|r| {
                    r.alerts.push(Alert {
                        code: 31920,
                        message: format!("Stream - WebSocket - Handshake Error: {e}"),
                        at_ms: 0,
                    });
                    r.ended_by = Some(SessionEnd::ConnectFailed);
                });
                return !self.ended();
            }
        };
        tracing::debug!(call_sid = %self.sid, url = %redact_url(&verb.url), "simulator: stream open");
        let mut proto = StreamSession::new(
            rec,
            call.account_sid.clone().unwrap_or_default(),
            call.sid.clone(),
            stream_sid,
            std::mem::take(&mut self.inputs),
            self.hang_up_when_done,
        );
        let opening = proto.opening(&verb.parameters);
        let engine = Engine::new(self.sim.clone(), self.sid.clone(), ws, self.time_limit_ms);
        let (exit, why) = engine.run(&mut proto, opening).await;
        self.inputs = std::mem::take(&mut proto.inputs);
        self.after_session(exit, why).await
    }

    /// `<Connect><ConversationRelay>`: opens the signed socket and plays Twilio's side.
    async fn connect_relay(&mut self, verb: &ConnectRelay) -> RelayAfter {
        let Some(call) = self.snapshot() else {
            return RelayAfter::CallEnded;
        };
        let signed_url = session::signed_url(&verb.url);
        let signature =
            RequestValidator::new(self.sim.config().auth_token.expose()).compute(&signed_url, &[]);
        let session_id = new_sid("VX");
        let index = self
            .with_meta(|m| {
                m.log.relays.push(RelayRecord {
                    url: verb.url.clone(),
                    signed_url,
                    signature: signature.clone(),
                    session_id: session_id.clone(),
                    custom_parameters: verb.parameters.clone(),
                    notes: socket_notes(&verb.url),
                    ..RelayRecord::default()
                });
                m.log.relays.len() - 1
            })
            .unwrap_or_default();
        let rec = Recorder {
            sim: self.sim.clone(),
            sid: self.sid.clone(),
            index,
        };
        let delay = self.sim.config().realtime_connect_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let ws = match session::connect(&self.sim.delivery_url(&verb.url), &signature).await {
            Ok(ws) => {
                let since = rec.since_created();
                rec.relay(|r| r.opened_after = since);
                ws
            }
            Err(e) => {
                let message =
                    format!("ConversationRelay - WebSocket ended: the socket did not open: {e}");
                tracing::info!(call_sid = %self.sid, url = %redact_url(&verb.url), error = %e, "simulator: relay did not open (64105)");
                rec.relay(|r| {
                    r.alerts.push(Alert {
                        code: 64105,
                        message: message.clone(),
                        at_ms: 0,
                    });
                    r.ended_by = Some(SessionEnd::ConnectFailed);
                });
                return RelayAfter::Failed(message);
            }
        };
        tracing::debug!(call_sid = %self.sid, url = %redact_url(&verb.url), "simulator: relay open");
        let direction = match call.direction.as_deref() {
            Some("inbound") => "inbound",
            _ => "outbound",
        };
        let info = CallInfo {
            account_sid: call.account_sid.clone().unwrap_or_default(),
            call_sid: call.sid.clone(),
            from: call.from.clone().unwrap_or_default(),
            to: call.to.clone().unwrap_or_default(),
            direction: direction.to_string(),
        };
        let mut proto = RelaySession::new(
            rec,
            verb.clone(),
            info,
            session_id.clone(),
            std::mem::take(&mut self.inputs),
            self.hang_up_when_done,
        );
        let opening = proto.opening();
        let engine = Engine::new(self.sim.clone(), self.sid.clone(), ws, self.time_limit_ms);
        let (exit, why) = engine.run(&mut proto, opening).await;
        self.inputs = std::mem::take(&mut proto.inputs);
        if !self.after_session(exit, why).await {
            return RelayAfter::CallEnded;
        }
        let record = self
            .with_meta(|m| m.log.relays.get(index).cloned())
            .flatten()
            .unwrap_or_default();
        match (record.ended_by, record.end) {
            (Some(SessionEnd::Ended), Some(end)) => RelayAfter::Ended {
                session_id,
                handoff_data: end.handoff_data,
            },
            _ => RelayAfter::Failed(
                record
                    .alerts
                    .iter()
                    .rev()
                    .find(|a| a.code == 64105)
                    .map_or_else(
                        || "ConversationRelay - WebSocket ended".to_string(),
                        |a| a.message.clone(),
                    ),
            ),
        }
    }

    /// After a session: ends the call when the script hung up or the time limit passed;
    /// whether the call goes on.
    async fn after_session(&mut self, exit: Exit, why: Option<CallEnd>) -> bool {
        match exit {
            Exit::Done => !self.ended(),
            Exit::CallEnded => {
                if let Some(why) = why {
                    self.end("completed", why).await;
                }
                false
            }
        }
    }

    /// Requests a document, signed; records it. `None` when the call ended instead (an
    /// error ends it here).
    async fn fetch(&mut self, request: Request) -> Option<(String, String)> {
        self.documents += 1;
        if self.documents > MAX_CALL_DOCUMENTS {
            self.fail(
                14106,
                format!(
                    "Document retrieval limit reached: more than {MAX_CALL_DOCUMENTS} documents on one call"
                ),
                Some(request.url),
            )
            .await;
            return None;
        }
        let call = self.snapshot()?;
        let status = if self.answered {
            "in-progress"
        } else {
            "ringing"
        };
        let mut params = webhook_params(&call, status);
        params.extend(request.extra);
        let get = request.method == "GET";
        let (url, body_params): (String, &[(String, String)]) = if get {
            let query = serde_urlencoded::to_string(&params).unwrap_or_default();
            let sep = if request.url.contains('?') { '&' } else { '?' };
            (format!("{}{sep}{query}", request.url), &[])
        } else {
            (request.url.clone(), &params)
        };
        let signature =
            RequestValidator::new(self.sim.config().auth_token.expose()).compute(&url, body_params);
        let http = &self.sim.http();
        let target = self.sim.delivery_url(&url);
        let builder = if get {
            http.get(&target)
        } else {
            http.post(&target)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(serde_urlencoded::to_string(&params).unwrap_or_default())
        };
        let result = builder
            .header(reqwest::header::USER_AGENT, "TwilioProxy/1.1")
            .header("X-Twilio-Signature", &signature)
            .timeout(std::time::Duration::from_secs(15))
            .send()
            .await;
        let mut record = DocumentRecord {
            url: Some(url.clone()),
            method: request.method.clone(),
            params,
            signature,
            http_status: None,
            content_type: None,
            body: String::new(),
        };
        let failure = match result {
            Err(e) => Some((
                11200,
                format!(
                    "HTTP retrieval failure: {}",
                    crate::signed_post::describe(e)
                ),
            )),
            Ok(resp) => {
                let code = resp.status();
                record.http_status = Some(code.as_u16());
                record.content_type = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                record.body = resp.text().await.unwrap_or_default();
                let mime = record
                    .content_type
                    .as_deref()
                    .and_then(|c| c.split(';').next())
                    .map(|m| m.trim().to_ascii_lowercase());
                if !code.is_success() {
                    Some((
                        11200,
                        format!(
                            "HTTP retrieval failure: the answer was HTTP {}",
                            code.as_u16()
                        ),
                    ))
                } else {
                    match mime.as_deref() {
                        Some("text/xml" | "application/xml") => None,
                        None | Some("") => Some((
                            11200,
                            "HTTP retrieval failure: the answer has no Content-Type".to_string(),
                        )),
                        Some(other) => Some((
                            12300,
                            format!(
                                "Invalid Content-Type {other:?}: a voice webhook must answer text/xml or application/xml"
                            ),
                        )),
                    }
                }
            }
        };
        let body = record.body.clone();
        self.log(|log| log.documents.push(record));
        tracing::debug!(call_sid = %self.sid, url = %redact_url(&url), error = ?failure.as_ref().map(|f| f.0), "simulator: fetched a TwiML document");
        if let Some((code, message)) = failure {
            // A hang-up while the request was out wins over the failure.
            if !self.ended() {
                self.fail(code, message, Some(url)).await;
            }
            return None;
        }
        Some((body, url))
    }

    /// `target` made absolute against the current document's URL; a URL Twilio could not
    /// request ends the call with error 11100.
    async fn resolve(&mut self, target: &str, doc_url: Option<&str>) -> Option<String> {
        // Joining keeps an absolute `target` as it is.
        let resolved = match doc_url {
            Some(base) => reqwest::Url::parse(base).and_then(|b| b.join(target)),
            None => reqwest::Url::parse(target),
        }
        .map_err(|e| match doc_url {
            None => format!("{e} (inline TwiML has no URL to resolve against)"),
            Some(_) => e.to_string(),
        });
        match resolved {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url.to_string()),
            Ok(url) => {
                self.fail(
                    11100,
                    format!("Invalid URL format: scheme {:?}", url.scheme()),
                    Some(target.to_string()),
                )
                .await;
                None
            }
            Err(reason) => {
                self.fail(
                    11100,
                    format!("Invalid URL format: {target:?}: {reason}"),
                    Some(target.to_string()),
                )
                .await;
                None
            }
        }
    }

    /// Answers a ringing inbound call.
    async fn answer(&mut self) {
        self.answered = true;
        let snapshot = {
            let mut state = self.sim.lock();
            let now = time::OffsetDateTime::now_utc();
            let Some(call) = state.calls.call_mut(&self.sid) else {
                return;
            };
            if is_terminal(call) {
                return;
            }
            call.status = Some("in-progress".into());
            call.date_updated = Some(crate::dates::rfc2822(now));
            let snapshot = call.clone();
            if let Some(meta) = state.calls.meta.get_mut(&self.sid) {
                meta.answered_at = Some(now);
            }
            snapshot
        };
        emit(&self.sim, &snapshot, "answered").await;
    }

    /// Lets `ms` of call time pass (paced by `simulated_second`), up to the time limit;
    /// `false` when the call ended meanwhile or at the limit.
    async fn pass(&mut self, ms: u64) -> bool {
        let Some(clock) = self.with_meta(|m| m.clock_ms) else {
            return false;
        };
        let room = self.time_limit_ms.saturating_sub(clock);
        let run = ms.min(room);
        let real = self.sim.paced(run);
        let started = Instant::now();
        if !real.is_zero() {
            self.with_meta(|m| m.waiting = Some((started, run)));
            crate::call_events::wait_or_end(&self.sim, &self.sid, real).await;
            self.with_meta(|m| m.waiting = None);
        }
        if self.ended() {
            return false;
        }
        if self.replaced() {
            // A live update cut the wait short: only the time that passed counts.
            let done = if real.is_zero() {
                0.0
            } else {
                (started.elapsed().as_secs_f64() / real.as_secs_f64()).min(1.0)
            };
            self.with_meta(|m| m.clock_ms += (run as f64 * done) as u64);
            return false;
        }
        self.with_meta(|m| m.clock_ms += run);
        if ms > room {
            self.end("completed", CallEnd::TimeLimit).await;
            return false;
        }
        true
    }

    /// Ends the call with a Twilio error: `failed` if it was never answered, else
    /// `completed`.
    async fn fail(&mut self, code: u32, message: String, url: Option<String>) {
        tracing::info!(call_sid = %self.sid, code, %message, "simulator: call error");
        self.log(|log| {
            log.error.get_or_insert(CallError { code, message, url });
        });
        let status = if self.answered { "completed" } else { "failed" };
        self.end(status, CallEnd::Error).await;
    }

    /// Ends the call (if it has not ended) and sends its `completed` callback.
    async fn end(&mut self, status: &str, why: CallEnd) {
        if let Some(ended) = end_call(&self.sim, &self.sid, status, why) {
            tracing::info!(call_sid = %self.sid, status, ?why, "simulator: call ended");
            emit(&self.sim, &ended, "completed").await;
        }
    }

    fn ended(&self) -> bool {
        self.sim
            .lock()
            .calls
            .call(&self.sid)
            .is_none_or(is_terminal)
    }

    /// The call, if it has not ended.
    fn snapshot(&self) -> Option<CallResource> {
        self.sim
            .lock()
            .calls
            .call(&self.sid)
            .filter(|c| !is_terminal(c))
            .cloned()
    }

    fn with_meta<T>(&self, f: impl FnOnce(&mut crate::call_state::CallMeta) -> T) -> Option<T> {
        self.sim.lock().calls.meta.get_mut(&self.sid).map(f)
    }

    fn log(&self, f: impl FnOnce(&mut crate::call_state::DriveLog)) {
        self.with_meta(|m| f(&mut m.log));
    }
}

/// How a relay session left the call.
enum RelayAfter {
    /// The application sent `end`.
    Ended {
        session_id: String,
        handoff_data: Option<String>,
    },
    /// The socket ended otherwise (or never opened): the call fails (VOICE.md §7).
    Failed(String),
    /// The call ended during the session.
    CallEnded,
}

/// Notes about a socket URL only the simulator accepts.
fn socket_notes(url: &str) -> Vec<String> {
    if url.len() >= 5 && url[..5].eq_ignore_ascii_case("ws://") {
        vec![
            "ws:// accepted for a loopback test: Twilio accepts only wss:// (the upgrade is signed over the wss:// URL)"
                .to_string(),
        ]
    } else {
        Vec::new()
    }
}

/// A `<Gather>`'s DTMF result: digits up to `finishOnKey` (sent as `FinishedOnKey`) or
/// `numDigits`; `None` when no digit was pressed.
fn gathered_digits(pressed: &str, g: &GatherVerb) -> Option<Vec<(String, String)>> {
    let finish = g.finish_on_key.chars().next();
    let mut digits = String::new();
    let mut finished_on = None;
    for c in pressed.chars() {
        if Some(c) == finish {
            finished_on = Some(c);
            break;
        }
        digits.push(c);
        if g.num_digits
            .is_some_and(|n| digits.chars().count() as u64 >= u64::from(n))
        {
            break;
        }
    }
    if digits.is_empty() {
        return None;
    }
    let mut out = pairs(&[("Digits", &digits)]);
    if let Some(key) = finished_on {
        out.push(("FinishedOnKey".into(), key.to_string()));
    }
    Some(out)
}

/// The parameters of every voice webhook request about `call` (PROTOCOL §2.3), in
/// alphabetical order as Twilio sends them, with `CallStatus` = `status`. Geo fields are
/// best effort: the country for a few country codes, the rest empty.
pub(crate) fn webhook_params(call: &CallResource, status: &str) -> Vec<(String, String)> {
    let from = call.from.as_deref().unwrap_or_default();
    let to = call.to.as_deref().unwrap_or_default();
    pairs(&[
        (
            "AccountSid",
            call.account_sid.as_deref().unwrap_or_default(),
        ),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", &call.sid),
        ("CallStatus", status),
        ("Called", to),
        ("CalledCity", ""),
        ("CalledCountry", country_of(to)),
        ("CalledState", ""),
        ("CalledZip", ""),
        ("Caller", from),
        ("CallerCity", ""),
        ("CallerCountry", country_of(from)),
        ("CallerState", ""),
        ("CallerZip", ""),
        ("Direction", call.direction.as_deref().unwrap_or_default()),
        ("From", from),
        ("FromCity", ""),
        ("FromCountry", country_of(from)),
        ("FromState", ""),
        ("FromZip", ""),
        ("To", to),
        ("ToCity", ""),
        ("ToCountry", country_of(to)),
        ("ToState", ""),
        ("ToZip", ""),
    ])
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
