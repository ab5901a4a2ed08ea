//! `loadgen --voice --provider telnyx`: whole Telnyx Call Control calls, one after another
//! on each connection, with the time from each event to the commands it causes.
//!
//! loadgen plays Telnyx ([`crate::telnyx_api`]): it serves a mock Telnyx API
//! on loopback that stamps every command's arrival, and starts the gateway in this
//! process as `telephony serve` would for a Telnyx account (not the sandbox: its
//! `telnyx.apiBaseUrl` is the mock, its `telnyx.publicKey` loadgen's signer), voice on with
//! the default flow, on its own runtime (`gw-worker` threads). Each connection is a caller
//! placing calls; a call is the default flow's five events, each signed when sent and
//! carrying the `client_state` the last command set (as Telnyx echoes it), each sent when
//! the previous one is answered (`--step-gap-ms` later):
//!
//! | event | commands expected, in order |
//! |---|---|
//! | `call.initiated` (incoming, parked) | `answer` (`client_state`: the greeting's plan, waiting for the answer) |
//! | `call.answered` | `gather_using_speak` (the greeting) + `transcription_start`, both with the gather's state |
//! | `call.transcription` (final) | `speak` (the closing; state: then hang up), then `gather_stop`, `transcription_stop` (no state: the closing's stays) |
//! | `call.speak.ended` (`completed`) | `hangup` |
//! | `call.hangup` (`normal_clearing`) | none |
//!
//! An event is good when it is answered 200 and exactly the expected commands arrived for
//! it, each `client_state` equal to the one the gateway's own rendering
//! ([`telephony_telnyx::voice::render`] of [`voice_form::greeting`] /
//! [`voice_form::closing`]) gives, and the spoken texts the default ones. Per event it
//! measures, from the instant before the event's first byte is written: the **first
//! command** (its whole request read by the mock), the **last command**, and the HTTP
//! **answer** (the gateway sends the commands before answering). After the run the
//! gateway's SQLite file is checked as for Twilio: every call, session, turn and
//! transcript stored, every session ended.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;
use telephony::config::Config;
use telephony::server::{self, RunningGateway, ServeOptions};
use telephony_core::voice::VoiceResponse;
use telephony_telnyx::WebhookSigner;
use telephony_telnyx::voice::{CallState, Step, Wait};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::latency::Latency;
use crate::telnyx_api::{self, CallIds, Command, EVENTS, Event, MockApi, Recorder};
use crate::{Args, TARGET_P99, Target, client, drive, mib, ms, procfs, verify, voice_form};

/// Calls placed when `--calls` is not given.
const DEFAULT_CALLS: usize = 20_000;
/// The number called (a fictional 555-01xx number, the Telnyx sandbox's kind).
const TO: &str = "+15550100001";
/// Digits after `+1555` in a caller number.
const CALLER_DIGITS: usize = 7;

/// What one call must see, computed with the provider's own rendering.
struct Expected {
    /// `answer`'s state: wait for the answer, then the whole greeting plan.
    answer_state: String,
    /// The gather's state (`gather_using_speak` and `transcription_start`).
    gather_state: String,
    /// The greeting, as `gather_using_speak`'s payload.
    greeting: String,
    /// `speak`'s state: then hang up.
    speak_state: String,
    /// The closing, as `speak`'s payload.
    closing: String,
}

fn plan_of(r: &VoiceResponse) -> Result<Vec<Step>, String> {
    telephony_telnyx::voice::render(r).map_err(|e| format!("rendering the default flow: {e}"))
}

/// The query form of a `call_control_id` in a gather's action URL (`:` escaped).
fn url_id(id: &str) -> String {
    id.replace(':', "%3A")
}

impl Expected {
    fn new(base: &str, call_control_id: &str) -> Result<Expected, String> {
        let greeting = plan_of(&voice_form::greeting(base, &url_id(call_control_id)))?;
        let Some(Step::Gather(g)) = greeting.first() else {
            return Err(format!(
                "the default flow's greeting does not start with a gather: {greeting:?}"
            ));
        };
        let mut gather = CallState::new(Wait::Gather, &greeting[1..].iter().cloned().collect());
        gather.a = Some(g.action.clone());
        gather.t = g.speech;
        let closing = plan_of(&voice_form::closing())?;
        let (Some(Step::Speak { text, .. }), Some(Step::Hangup), 2) =
            (closing.first(), closing.get(1), closing.len())
        else {
            return Err(format!(
                "the default flow's closing is not speak + hangup: {closing:?}"
            ));
        };
        Ok(Expected {
            answer_state: CallState::new(Wait::Answer, &greeting.iter().cloned().collect())
                .encode(),
            gather_state: gather.encode(),
            greeting: g.say.clone().unwrap_or_default(),
            speak_state: CallState::new(Wait::Speak, &closing[1..].iter().cloned().collect())
                .encode(),
            closing: text.clone(),
        })
    }

    /// Why `got` is not what `event` must cause, if it is not.
    fn check(&self, event: Event, got: &[Command]) -> Option<String> {
        let names: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
        if names != event.commands() {
            return Some(format!(
                "commands {names:?}, expected {:?}",
                event.commands()
            ));
        }
        let want: &[(Option<&str>, Option<&str>)] = match event {
            Event::Initiated => &[(Some(&self.answer_state), None)],
            Event::Answered => &[
                (Some(&self.gather_state), Some(&self.greeting)),
                (Some(&self.gather_state), None),
            ],
            Event::Transcription => &[
                (Some(&self.speak_state), Some(&self.closing)),
                (None, None),
                (None, None),
            ],
            Event::SpeakEnded => &[(None, None)],
            Event::Hangup => &[],
        };
        for (c, (state, payload)) in got.iter().zip(want) {
            if c.client_state.as_deref() != *state {
                return Some(format!(
                    "{}: client_state {:?}, expected {:?}",
                    c.name,
                    c.client_state.as_deref().and_then(decode),
                    state.and_then(decode)
                ));
            }
            if c.payload.as_deref() != *payload {
                return Some(format!(
                    "{}: payload {:?}, expected {payload:?}",
                    c.name, c.payload
                ));
            }
        }
        None
    }
}

/// A `client_state` as readable text (for error messages).
fn decode(s: &str) -> Option<String> {
    CallState::decode(s).map(|c| format!("{c:?}"))
}

/// Work shared by the callers.
struct Shared {
    calls: usize,
    run_id: String,
    signer: WebhookSigner,
    recorder: Arc<Recorder>,
    /// The webhook path on the wire, `Host`, and the URL (for `meta.delivered_to`).
    path: String,
    host: String,
    webhook_url: String,
    /// The gateway's base URL for gather actions.
    base: String,
    callers: usize,
    /// Callers placing calls at once (`--connections`), to spread their first calls.
    connections: usize,
    next: AtomicUsize,
    deadline: OnceLock<Instant>,
    timeout: Duration,
    step_gap: Duration,
    started: AtomicUsize,
}

/// What one event saw on one connection (or, merged, on all).
#[derive(Debug, Default, Clone)]
struct EventStats {
    /// Event written → HTTP answer read, for every answered event.
    answer_ns: Vec<u64>,
    /// Event written → first command read by the mock (events that cause commands).
    first_ns: Vec<u64>,
    /// Event written → last command read by the mock.
    last_ns: Vec<u64>,
    ok: u64,
    bad_status: Vec<(u16, u64)>,
    /// 200s whose commands were not the expected ones.
    wrong_commands: u64,
    /// Events without a complete answer.
    failed: u64,
}

impl EventStats {
    fn errors(&self) -> u64 {
        self.bad_status.iter().map(|(_, n)| n).sum::<u64>() + self.wrong_commands + self.failed
    }

    fn bad(&mut self, status: u16) {
        match self.bad_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.bad_status.push((status, 1)),
        }
    }

    fn merge(&mut self, o: &EventStats) {
        self.answer_ns.extend_from_slice(&o.answer_ns);
        self.first_ns.extend_from_slice(&o.first_ns);
        self.last_ns.extend_from_slice(&o.last_ns);
        self.ok += o.ok;
        for &(s, n) in &o.bad_status {
            match self.bad_status.iter_mut().find(|(b, _)| *b == s) {
                Some((_, m)) => *m += n,
                None => self.bad_status.push((s, n)),
            }
        }
        self.wrong_commands += o.wrong_commands;
        self.failed += o.failed;
    }
}

#[derive(Debug, Default)]
struct CallerStats {
    events: [EventStats; 5],
    calls: u64,
    calls_ok: u64,
    failure_samples: Vec<String>,
    reconnects: u64,
}

impl CallerStats {
    fn sample(&mut self, why: String) {
        if self.failure_samples.len() < 3 {
            self.failure_samples.push(why);
        }
    }
}

fn caller_number(index: usize, callers: usize) -> String {
    format!("+1555{:0width$}", index % callers, width = CALLER_DIGITS)
}

fn since(t0: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(t0).as_nanos() as u64
}

/// One call's events on `stream`; false when one was not good (the rest is not sent).
async fn place_call(
    i: usize,
    shared: &Shared,
    stream: &mut Option<TcpStream>,
    addr: SocketAddr,
    stats: &mut CallerStats,
    bufs: (&mut Vec<u8>, &mut Vec<u8>),
) -> bool {
    let (wbuf, rbuf) = bufs;
    let call = CallIds::new(&shared.run_id, i, caller_number(i, shared.callers), TO);
    let expected = match Expected::new(&shared.base, &call.call_control_id) {
        Ok(e) => e,
        Err(e) => {
            stats.sample(e);
            return false;
        }
    };
    let start_time = telnyx_api::now_rfc3339();
    let mut state: Option<String> = None;
    for (n, event) in EVENTS.into_iter().enumerate() {
        if n > 0 && !shared.step_gap.is_zero() {
            tokio::time::sleep(shared.step_gap).await;
        }
        let event_id = format!("{}-{:04x}-{i:016x}", shared.run_id, n);
        let body = telnyx_api::event_body(
            event,
            &call,
            &event_id,
            state.as_deref(),
            &start_time,
            (voice_form::SPEECH, 0.91),
            &shared.webhook_url,
        );
        telnyx_api::event_request(&shared.signer, &shared.path, &shared.host, &body, wbuf);
        let s = match stream.as_mut() {
            Some(s) => s,
            None => {
                stats.reconnects += 1;
                match client::connect(addr).await {
                    Ok(s) => stream.insert(s),
                    Err(e) => {
                        stats.events[n].failed += 1;
                        stats.sample(format!("{}: connect: {e}", event.event_type()));
                        return false;
                    }
                }
            }
        };
        let t0 = Instant::now();
        let result = tokio::time::timeout(shared.timeout, client::exchange(s, wbuf, rbuf)).await;
        let answered = Instant::now();
        let st = &mut stats.events[n];
        let why = match result {
            Ok(Ok(res)) => {
                st.answer_ns.push(since(t0, answered));
                if res.close {
                    *stream = None;
                }
                // The gateway sends an event's commands before answering it, so they are
                // all in by now.
                let got = shared.recorder.take(i);
                if let Some(first) = got.first() {
                    st.first_ns.push(since(t0, first.at));
                }
                if let Some(last) = got.last() {
                    st.last_ns.push(since(t0, last.at));
                }
                if let Some(c) = got.iter().rev().find_map(|c| c.client_state.clone()) {
                    state = Some(c);
                }
                let body = &rbuf[res.body_start..res.len];
                if res.status != 200 {
                    st.bad(res.status);
                    Some(format!(
                        "HTTP {}: {}",
                        res.status,
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    ))
                } else if let Some(why) = expected.check(event, &got) {
                    st.wrong_commands += 1;
                    Some(why)
                } else {
                    st.ok += 1;
                    None
                }
            }
            Ok(Err(why)) => {
                st.failed += 1;
                *stream = None;
                Some(why)
            }
            Err(_) => {
                st.failed += 1;
                *stream = None;
                Some(format!("no answer within {:?}", shared.timeout))
            }
        };
        if let Some(why) = why {
            stats.sample(format!("call {i}, {}: {why}", event.event_type()));
            return false;
        }
    }
    true
}

async fn run_caller(
    addr: SocketAddr,
    conn: Result<TcpStream, String>,
    shared: Arc<Shared>,
    start: Arc<Barrier>,
) -> CallerStats {
    let mut stats = CallerStats::default();
    for s in &mut stats.events {
        s.answer_ns = Vec::with_capacity(shared.calls / 32);
        s.first_ns = Vec::with_capacity(shared.calls / 32);
        s.last_ns = Vec::with_capacity(shared.calls / 32);
    }
    let mut stream = match conn {
        Ok(s) => Some(s),
        Err(e) => {
            stats.sample(e);
            None
        }
    };
    start.wait().await;
    if !shared.step_gap.is_zero() {
        let k = shared.started.fetch_add(1, Ordering::Relaxed) as u32;
        tokio::time::sleep(shared.step_gap * k / shared.connections.max(1) as u32).await;
    }
    let deadline = *shared
        .deadline
        .get()
        .expect("deadline set before the start");
    let (mut wbuf, mut rbuf) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.calls || Instant::now() >= deadline {
            break;
        }
        stats.calls += 1;
        if place_call(
            i,
            &shared,
            &mut stream,
            addr,
            &mut stats,
            (&mut wbuf, &mut rbuf),
        )
        .await
        {
            stats.calls_ok += 1;
        }
    }
    stats
}

/// The in-process gateway's config: [`VOICE_CONFIG`](crate::VOICE_CONFIG)'s policies on a
/// Telnyx account whose API is the mock and whose public key is `signer`'s.
fn telnyx_config(api_url: &str, signer: &WebhookSigner) -> Result<Config, String> {
    let text = format!(
        r#"{{ provider: "telnyx", fromNumber: "{TO}",
             telnyx: {{ apiKey: "KEYloadgen-mock-api-key", publicKey: "{}", apiBaseUrl: "{api_url}",
                        connectionId: "loadgen-call-control-app" }},
             voice: {{ enabled: true }}, inboundPolicy: "open", allowFrom: ["*"],
             maxConcurrentSessions: 100000 }}"#,
        signer.public_key_base64()
    );
    Config::from_json5_str(&text)
        .map_err(|e| format!("the Telnyx config: {}", telephony_core::error_chain(&e)))
}

/// Starts the gateway as `telephony serve` would (not the sandbox), ports 0, in `data_dir`.
fn start_gateway(
    server_rt: &tokio::runtime::Runtime,
    mut config: Config,
    data_dir: PathBuf,
) -> Result<(RunningGateway, Target), String> {
    config.serve.bind = "127.0.0.1".into();
    config.serve.port = 0;
    config.admin.bind = "127.0.0.1".into();
    config.admin.port = 0;
    config.data_dir = Some(data_dir);
    config.store.path = None;
    let database = config.database_path();
    let running = server_rt
        .block_on(server::start(
            &config,
            ServeOptions {
                sandbox: false,
                handler: None,
            },
        ))
        .map_err(|e| format!("starting the gateway: {}", telephony_core::error_chain(&e)))?;
    let rt = running.runtime.clone();
    let target = Target {
        mode: "in-process, Telnyx",
        addr: running.public_addr,
        host: running.public_addr.to_string(),
        path: config.serve.path.clone(),
        signed_url: rt.webhook_url.clone(),
        status_path: config.serve.status_path.clone(),
        status_signed_url: rt.status_url.clone(),
        auth_token: String::new(),
        account_sid: String::new(),
        server_pid: Some("self".into()),
        database: Some(database),
        addrs: vec![running.public_addr],
        other_pids: Vec::new(),
        postgres: None,
    };
    Ok((running, target))
}

/// The store's view and whether it matches the good events.
fn check_store(stored: &verify::CallsStored, ev: &[EventStats; 5]) -> Vec<String> {
    let initiated = ev[Event::Initiated as usize].ok;
    let answered = ev[Event::Answered as usize].ok;
    let transcribed = ev[Event::Transcription as usize].ok;
    let hung_up = ev[Event::Hangup as usize].ok;
    let completed = stored
        .by_status
        .iter()
        .find(|(s, _)| s == "completed")
        .map_or(0, |(_, n)| *n);
    let mut mismatches = Vec::new();
    let mut expect = |what: &str, got: u64, want: u64| {
        if got != want {
            mismatches.push(format!("{what}: {got} stored, {want} expected"));
        }
    };
    expect("calls", stored.calls, initiated);
    expect("sessions opened", stored.sessions, initiated);
    expect("calls completed", completed, hung_up);
    expect(
        "sessions still live",
        stored.live,
        initiated.saturating_sub(hung_up),
    );
    // `call.answered` records the answer (in-progress), `call.hangup` the end.
    expect(
        "status history rows (answer + completed)",
        stored.history,
        answered + hung_up,
    );
    expect("turns", stored.turns, transcribed);
    expect(
        "turns with the speech",
        stored.turns_with_speech,
        transcribed,
    );
    expect("transcripts", stored.transcripts, transcribed);
    expect(
        "transcripts with the text",
        stored.transcripts_with_text,
        transcribed,
    );
    mismatches
}

fn run_id() -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 48);
    format!("{nonce:016x}")
}

/// Runs `loadgen --voice --provider telnyx`; returns whether the target was met.
pub(crate) fn run(args: Args) -> Result<bool, String> {
    let calls = args.calls.unwrap_or(DEFAULT_CALLS);
    if args.connections == 0 || calls == 0 {
        return Err("--connections and --calls must be at least 1".into());
    }
    if args.senders == 0 || args.senders > 10usize.pow(CALLER_DIGITS as u32) {
        return Err(format!(
            "--senders must be between 1 and {}",
            10usize.pow(CALLER_DIGITS as u32)
        ));
    }
    crate::init_logging(&args)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .thread_name("lg-client")
        .enable_all()
        .build()
        .map_err(|e| format!("client runtime: {e}"))?;
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.server_threads.unwrap_or(cpus).max(1))
        .thread_name("gw-worker")
        .enable_all()
        .build()
        .map_err(|e| format!("gateway runtime: {e}"))?;
    let data_dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;

    let run_id = run_id();
    let recorder = Arc::new(Recorder::new(&run_id, calls));
    let api = MockApi::start(recorder.clone())?;
    let signer = WebhookSigner::generate();
    let (running, target) = start_gateway(
        &server_rt,
        telnyx_config(&api.url, &signer)?,
        data_dir.path().join("telephony-data"),
    )?;
    let base = target
        .signed_url
        .split('?')
        .next()
        .unwrap_or(&target.signed_url)
        .to_string();
    // Fail before the clock starts if the default flow cannot be rendered.
    Expected::new(&base, &telnyx_api::call_control_id(&run_id, 0))?;
    let rss_before = procfs::status_kb("self", "VmRSS");
    if !args.json {
        eprintln!(
            "{} gateway at http://{}{} with the mock Telnyx API at {}: {} callers, {} calls of 5 events, run id {}",
            target.mode, target.addr, target.path, api.url, args.connections, calls, run_id
        );
    }
    let shared = Arc::new(Shared {
        calls,
        run_id: run_id.clone(),
        signer,
        recorder: recorder.clone(),
        path: target.path.clone(),
        host: target.host.clone(),
        webhook_url: target.signed_url.clone(),
        base,
        callers: args.senders,
        connections: args.connections,
        next: AtomicUsize::new(0),
        deadline: OnceLock::new(),
        timeout: Duration::from_secs_f64(args.timeout),
        step_gap: Duration::from_millis(args.step_gap_ms),
        started: AtomicUsize::new(0),
    });
    let outcome = client_rt.block_on(drive(
        &args,
        &target,
        &shared.deadline,
        {
            let shared = shared.clone();
            move |addr, conn, start| run_caller(addr, conn, shared.clone(), start)
        },
        |why| CallerStats {
            failure_samples: vec![why],
            ..CallerStats::default()
        },
    ));
    let peak_rss = procfs::status_kb("self", "VmHWM");

    let mut events: [EventStats; 5] = Default::default();
    let (mut placed, mut whole, mut reconnects) = (0u64, 0u64, 0u64);
    let mut failure_samples = Vec::new();
    for c in &outcome.conns {
        for (all, one) in events.iter_mut().zip(&c.events) {
            all.merge(one);
        }
        placed += c.calls;
        whole += c.calls_ok;
        reconnects += c.reconnects;
        for f in &c.failure_samples {
            if failure_samples.len() < 5 {
                failure_samples.push(f.clone());
            }
        }
    }
    let stray = recorder.stray.load(Ordering::Relaxed);
    let stray_samples = recorder.stray_samples.lock().expect("stray").clone();
    let errors: u64 = events.iter().map(EventStats::errors).sum::<u64>() + stray;
    let secs = outcome.elapsed.as_secs_f64();
    let lat = |v: &[u64]| Latency::from_samples(&mut v.to_vec());
    let answer: Vec<Latency> = events.iter().map(|e| lat(&e.answer_ns)).collect();
    let first: Vec<Latency> = events.iter().map(|e| lat(&e.first_ns)).collect();
    let last: Vec<Latency> = events.iter().map(|e| lat(&e.last_ns)).collect();
    let all_first: Vec<u64> = events.iter().flat_map(|e| e.first_ns.clone()).collect();
    let all_first = lat(&all_first);
    let requests: usize = answer.iter().map(|l| l.count).sum();

    // The store: every call, session, turn and transcript, then the dispatch drain.
    let (low, high) = (format!("v3:{run_id}"), format!("v3:{run_id}g"));
    let mut stored = None;
    let mut mismatches = Vec::new();
    let mut drain = None;
    let mut verify_error = None;
    if let Some(db) = &target.database {
        match client_rt.block_on(verify::calls(db, &low, &high, voice_form::SPEECH)) {
            Ok(s) => {
                mismatches = check_store(&s, &events);
                stored = Some(s);
            }
            Err(e) => verify_error = Some(e),
        }
        let rows = verify::Rows::Sqlite(db.clone());
        let queued = |s: &verify::Stored| {
            s.by_state
                .iter()
                .find(|(st, _)| st == "queued")
                .map_or(0, |(_, n)| *n)
        };
        let started = Instant::now();
        match client_rt.block_on(verify::count(&rows, &low, &high)) {
            Ok(first) => {
                let mut last = first.clone();
                while queued(&last) > 0
                    && started.elapsed() < Duration::from_secs_f64(args.drain_timeout)
                {
                    std::thread::sleep(Duration::from_millis(100));
                    match client_rt.block_on(verify::count(&rows, &low, &high)) {
                        Ok(s) => last = s,
                        Err(e) => {
                            verify_error = Some(e);
                            break;
                        }
                    }
                }
                drain = Some((queued(&first), queued(&last), started.elapsed(), last));
            }
            Err(e) => verify_error = Some(e),
        }
    }
    server_rt.block_on(running.shutdown());
    drop(api);

    let store_ok = stored.as_ref().map(|_| mismatches.is_empty());
    let met = all_first.p99 < TARGET_P99
        && errors == 0
        && whole == placed
        && placed > 0
        && store_ok != Some(false);

    let lat_json = |l: &Latency| {
        json!({
            "count": l.count, "mean": ms(l.mean), "p50": ms(l.p50), "p90": ms(l.p90),
            "p99": ms(l.p99), "p999": ms(l.p999), "max": ms(l.max),
        })
    };
    if args.json {
        let per_event: serde_json::Map<String, serde_json::Value> = EVENTS
            .iter()
            .map(|&e| {
                let st = &events[e as usize];
                (
                    e.event_type().to_string(),
                    json!({
                        "commands": e.commands(),
                        "ok": st.ok,
                        "errors": st.errors(),
                        "bad_status": st.bad_status.iter().map(|(c, n)| json!({"status": c, "count": n})).collect::<Vec<_>>(),
                        "wrong_commands": st.wrong_commands,
                        "failed": st.failed,
                        "answer_ms": lat_json(&answer[e as usize]),
                        "first_command_ms": lat_json(&first[e as usize]),
                        "last_command_ms": lat_json(&last[e as usize]),
                    }),
                )
            })
            .collect();
        let report = json!({
            "mode": target.mode,
            "provider": "telnyx",
            "voice": true,
            "target": format!("http://{}{}", target.addr, target.path),
            "cpus": cpus,
            "connections": args.connections,
            "step_gap_ms": args.step_gap_ms,
            "client_threads": args.client_threads,
            "calls_planned": calls,
            "run_id": run_id,
            "calls_placed": placed,
            "calls_whole": whole,
            "events_answered": requests,
            "errors": errors,
            "stray_api_requests": stray,
            "stray_samples": stray_samples,
            "failure_samples": failure_samples,
            "reconnects": reconnects,
            "elapsed_s": secs,
            "calls_per_s": whole as f64 / secs,
            "events_per_s": requests as f64 / secs,
            "events": per_event,
            "first_command_ms": lat_json(&all_first),
            "peak_rss_mib": mib(peak_rss),
            "rss_before_run_mib": mib(rss_before),
            "cpu_s": {
                "client": outcome.cpu_client,
                "server": outcome.cpu_server,
                "server_threads": outcome.server_threads.iter()
                    .map(|(n, c, s)| json!({"name": n, "threads": c, "cpu_s": s})).collect::<Vec<_>>(),
            },
            "store": stored.as_ref().map(|s| json!({
                "calls": s.calls,
                "by_status": s.by_status.iter().map(|(st, n)| json!({"status": st, "calls": n})).collect::<Vec<_>>(),
                "sessions": s.sessions,
                "live_sessions": s.live,
                "history_rows": s.history,
                "turns": s.turns,
                "turns_with_speech": s.turns_with_speech,
                "transcripts": s.transcripts,
                "transcripts_with_text": s.transcripts_with_text,
                "mismatches": mismatches,
            })),
            "store_matches_events": store_ok,
            "dispatch_drain": drain.as_ref().map(|(q0, q1, d, st)| json!({
                "queued_after_run": q0, "queued_at_end": q1, "waited_s": d.as_secs_f64(),
                "by_state": st.by_state.iter().map(|(s, n)| json!({"state": s, "rows": n})).collect::<Vec<_>>(),
            })),
            "verify_error": verify_error,
            "target_met": met,
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
        return Ok(met);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "mode:          {} ({} CPUs, {} callers, {} client thread(s), {} ms between events)",
        target.mode, cpus, args.connections, args.client_threads, args.step_gap_ms
    );
    let _ = writeln!(
        out,
        "calls:         {placed} placed in {secs:.2}s, {whole} whole (5 good events), {errors} errors, {reconnects} reconnects"
    );
    for f in &failure_samples {
        let _ = writeln!(out, "               e.g. {f}");
    }
    if stray > 0 {
        let _ = writeln!(
            out,
            "               {stray} requests to the mock API that were not commands of this run's calls, e.g. {stray_samples:?}"
        );
    }
    let _ = writeln!(
        out,
        "throughput:    {:.0} calls/s, {:.0} events/s",
        whole as f64 / secs,
        requests as f64 / secs
    );
    let _ = writeln!(
        out,
        "latency (ms):  {:<19} {:>6} {:>6} | first command: {:>6} {:>6} {:>6} {:>6} | last cmd {:>6} | HTTP answer {:>6} {:>6}",
        "event", "events", "errors", "p50", "p90", "p99", "max", "p99", "p50", "p99"
    );
    for e in EVENTS {
        let (a, f, l) = (&answer[e as usize], &first[e as usize], &last[e as usize]);
        let cmd = |v: Duration, has: bool| {
            if has {
                format!("{:>6.2}", ms(v))
            } else {
                format!("{:>6}", "—")
            }
        };
        let has = f.count > 0;
        let _ = writeln!(
            out,
            "               {:<19} {:>6} {:>6} |                {} {} {} {} |          {} |             {:>6.2} {:>6.2}",
            e.event_type(),
            a.count,
            events[e as usize].errors(),
            cmd(f.p50, has),
            cmd(f.p90, has),
            cmd(f.p99, has),
            cmd(f.max, has),
            cmd(l.p99, has),
            ms(a.p50),
            ms(a.p99),
        );
    }
    let _ = writeln!(
        out,
        "               {:<19} {:>6} {:>6} |                {:>6.2} {:>6.2} {:>6.2} {:>6.2} |",
        "all → first command",
        all_first.count,
        "",
        ms(all_first.p50),
        ms(all_first.p90),
        ms(all_first.p99),
        ms(all_first.max)
    );
    for e in EVENTS {
        let st = &events[e as usize];
        if st.errors() > 0 {
            let _ = writeln!(
                out,
                "               {} errors: statuses {:?}, {} with the wrong commands, {} without answer",
                e.event_type(),
                st.bad_status,
                st.wrong_commands,
                st.failed
            );
        }
    }
    let show = |b: Option<u64>| mib(b).map_or("n/a".into(), |m| format!("{m:.1} MiB"));
    let _ = writeln!(
        out,
        "peak RSS:      {} (this process: gateway + client + mock API; {} before the run)",
        show(peak_rss),
        show(rss_before)
    );
    let _ = writeln!(
        out,
        "CPU:           client {:.2}s ({:.0}% of one core), server {} over {secs:.2}s",
        outcome.cpu_client,
        100.0 * outcome.cpu_client / secs,
        outcome.cpu_server.map_or("n/a".into(), |s| format!(
            "{s:.2}s ({:.0}% of one core)",
            100.0 * s / secs
        )),
    );
    for (name, count, s) in outcome.server_threads.iter().filter(|t| t.2 > 0.0) {
        let _ = writeln!(
            out,
            "               {name:<16} ×{count:<3} {s:6.2}s ({:.0}%)",
            100.0 * s / secs
        );
    }
    match (&stored, &verify_error) {
        (Some(st), _) => {
            let statuses: Vec<String> = st
                .by_status
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "store:         {} calls ({}), {} sessions opened, {} still live, {} history rows, {} turns ({} with the speech), {} transcripts in the inbox ({} with the text)",
                st.calls,
                statuses.join(", "),
                st.sessions,
                st.live,
                st.history,
                st.turns,
                st.turns_with_speech,
                st.transcripts,
                st.transcripts_with_text
            );
            if mismatches.is_empty() {
                let _ = writeln!(
                    out,
                    "               matches the events: every call recorded, every session ended, every transcript stored"
                );
            }
            for m in &mismatches {
                let _ = writeln!(out, "               DOES NOT match the events: {m}");
            }
        }
        (None, Some(e)) => {
            let _ = writeln!(out, "store:         not verified: {e}");
        }
        (None, None) => {
            let _ = writeln!(out, "store:         not verified");
        }
    }
    if let Some((q0, q1, d, st)) = &drain {
        let states: Vec<String> = st
            .by_state
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "dispatch:      {q0} transcripts queued right after the run, {q1} after {:.1}s ({})",
            d.as_secs_f64(),
            states.join(", ")
        );
    }
    if let Some(e) = verify_error.as_ref().filter(|_| stored.is_some()) {
        let _ = writeln!(out, "               verification error: {e}");
    }
    let _ = writeln!(
        out,
        "target:        event → first command p99 < {} ms, no errors, the store matching: {}",
        TARGET_P99.as_millis(),
        if met { "MET" } else { "NOT MET" }
    );
    print!("{out}");
    Ok(met)
}

#[cfg(test)]
mod tests {
    use super::*;
    use telephony_serve::VoiceSettings;

    #[test]
    fn the_expected_commands_follow_the_default_flow() {
        let base = "http://127.0.0.1:3335/telephony/webhook";
        let e = Expected::new(base, "v3:0123456789abcdef0000000000000001").unwrap();
        let v = VoiceSettings::default();
        assert_eq!(e.greeting, v.greeting);
        assert_eq!(e.closing, v.closing);
        let gather = CallState::decode(&e.gather_state).unwrap();
        assert_eq!(gather.w, Wait::Gather);
        assert_eq!(
            gather.a.as_deref(),
            Some(
                "http://127.0.0.1:3335/telephony/webhook?call=v3%3A0123456789abcdef0000000000000001&turn=1"
            )
        );
        assert!(gather.t);
        let cmd = |name: &str, state: Option<&str>, payload: Option<&str>| Command {
            at: Instant::now(),
            name: name.into(),
            client_state: state.map(str::to_string),
            payload: payload.map(str::to_string),
            body: serde_json::Value::Null,
        };
        let good = [
            cmd("speak", Some(&e.speak_state), Some(&v.closing)),
            cmd("gather_stop", None, None),
            cmd("transcription_stop", None, None),
        ];
        assert_eq!(e.check(Event::Transcription, &good), None);
        assert_eq!(
            e.check(Event::Transcription, &good[..2]),
            Some(
                r#"commands ["speak", "gather_stop"], expected ["speak", "gather_stop", "transcription_stop"]"#
                    .into()
            )
        );
        let wrong_text = [
            cmd("speak", Some(&e.speak_state), Some("Bye")),
            good[1].clone(),
            good[2].clone(),
        ];
        assert!(e.check(Event::Transcription, &wrong_text).is_some());
        assert_eq!(
            e.check(
                Event::Initiated,
                &[cmd("answer", Some(&e.answer_state), None)]
            ),
            None
        );
        assert!(
            e.check(
                Event::Initiated,
                &[cmd("answer", Some(&e.speak_state), None)]
            )
            .is_some()
        );
        assert_eq!(e.check(Event::Hangup, &[]), None);
        assert_eq!(
            e.check(Event::SpeakEnded, &[cmd("hangup", None, None)]),
            None
        );
    }
}
