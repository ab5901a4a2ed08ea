//! `loadgen --voice`: whole calls, one after another on each connection.
//!
//! Each connection is a caller. A call is three requests on the connection's keep-alive
//! HTTP/1.1 stream, each sent when the previous one is answered ([`voice_plan`](crate::voice_plan)):
//! the incoming call, the speech result, the `completed` status callback. An answer is good
//! when it is HTTP 200, `Content-Type: text/xml`, and exactly the TwiML the default flow
//! gives that call; any other answer (or none) is an error of its step, and the rest of
//! that call is not sent. Latency is measured from write to the end of the response, for
//! every answered request, per step.
//!
//! After the run the gateway's SQLite file is read (read-only): every call answered must
//! have its row, its session (ended by the callback), its history, its turn and its
//! transcript in the inbox, and the dispatch worker is given `--drain-timeout` to hand
//! the transcripts on.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::latency::Latency;
use crate::voice_plan::{STEPS, Step, VoicePlan, VoiceSpec};
use crate::{Args, Setup, TARGET_P99, client, drive, mib, ms, procfs, setup, verify, voice_form};

/// Calls placed when `--calls` is not given.
const DEFAULT_CALLS: usize = 20_000;

/// Work shared by the callers.
#[derive(Debug)]
struct Shared {
    plan: VoicePlan,
    /// Index of the next call to place.
    next: AtomicUsize,
    /// Start no call after this instant (set when the run starts).
    deadline: OnceLock<Instant>,
    /// How long to wait for one answer.
    timeout: Duration,
    /// Pause between a call's steps (the greeting being spoken, the caller talking), so
    /// `--connections` is the number of calls in progress rather than a request hammer.
    step_gap: Duration,
    /// Callers started so far (to spread their first calls over the gap).
    started: AtomicUsize,
    /// Callers in all.
    callers: usize,
}

/// What one step saw on one connection (or, merged, on all).
#[derive(Debug, Default, Clone)]
struct StepStats {
    /// Latency of every answered request, in nanoseconds.
    latencies_ns: Vec<u64>,
    /// Good answers: 200, `text/xml`, the expected TwiML.
    ok: u64,
    /// Answers by non-200 status.
    bad_status: Vec<(u16, u64)>,
    /// 200s whose content type is not `text/xml`.
    wrong_type: u64,
    /// 200 `text/xml` answers that are not the expected TwiML.
    wrong_body: u64,
    /// Requests without a complete answer (I/O error, timeout, unparseable).
    failed: u64,
}

impl StepStats {
    fn errors(&self) -> u64 {
        self.bad_status.iter().map(|(_, n)| n).sum::<u64>()
            + self.wrong_type
            + self.wrong_body
            + self.failed
    }

    fn bad(&mut self, status: u16) {
        match self.bad_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.bad_status.push((status, 1)),
        }
    }

    fn merge(&mut self, other: &StepStats) {
        self.latencies_ns.extend_from_slice(&other.latencies_ns);
        self.ok += other.ok;
        for &(s, n) in &other.bad_status {
            match self.bad_status.iter_mut().find(|(b, _)| *b == s) {
                Some((_, m)) => *m += n,
                None => self.bad_status.push((s, n)),
            }
        }
        self.wrong_type += other.wrong_type;
        self.wrong_body += other.wrong_body;
        self.failed += other.failed;
    }
}

/// What one caller (connection) saw.
#[derive(Debug, Default)]
struct CallerStats {
    steps: [StepStats; 3],
    /// Calls started.
    calls: u64,
    /// Calls whose three answers were all good.
    calls_ok: u64,
    /// The first few errors.
    failure_samples: Vec<String>,
    /// Times the connection was re-established.
    reconnects: u64,
}

impl CallerStats {
    fn sample(&mut self, why: String) {
        if self.failure_samples.len() < 3 {
            self.failure_samples.push(why);
        }
    }
}

/// Whether the response's content type is `text/xml` (parameters allowed).
fn is_xml(buf: &[u8], res: &client::Response) -> bool {
    res.content_type.is_some_and(|(a, b)| {
        let value = &buf[a..b];
        let mime = value.split(|&c| c == b';').next().unwrap_or_default();
        mime.trim_ascii().eq_ignore_ascii_case(b"text/xml")
    })
}

/// One caller: waits at `start`, then places calls until the plan or the time is used up.
async fn run_caller(
    addr: SocketAddr,
    conn: Result<TcpStream, String>,
    shared: Arc<Shared>,
    start: Arc<Barrier>,
) -> CallerStats {
    let mut stats = CallerStats::default();
    for s in &mut stats.steps {
        s.latencies_ns = Vec::with_capacity(shared.plan.len() / 32);
    }
    let mut stream = match conn {
        Ok(s) => Some(s),
        Err(e) => {
            stats.sample(e);
            None
        }
    };
    start.wait().await;
    // With a step gap, calls arrive spread over the gap (as calls do), not all at once.
    if !shared.step_gap.is_zero() {
        let k = shared.started.fetch_add(1, Ordering::Relaxed) as u32;
        tokio::time::sleep(shared.step_gap * k / shared.callers.max(1) as u32).await;
    }
    let deadline = *shared
        .deadline
        .get()
        .expect("deadline set before the start");
    let mut wbuf = Vec::with_capacity(2048);
    let mut rbuf = Vec::with_capacity(4096);
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.plan.len() || Instant::now() >= deadline {
            break;
        }
        stats.calls += 1;
        let mut whole = true;
        for (n, step) in STEPS.into_iter().enumerate() {
            if n > 0 && !shared.step_gap.is_zero() {
                tokio::time::sleep(shared.step_gap).await;
            }
            shared.plan.fill(i, step, &mut wbuf);
            let s = match stream.as_mut() {
                Some(s) => s,
                None => {
                    stats.reconnects += 1;
                    match client::connect(addr).await {
                        Ok(s) => stream.insert(s),
                        Err(e) => {
                            stats.steps[step as usize].failed += 1;
                            stats.sample(format!("{}: connect: {e}", step.name()));
                            whole = false;
                            break;
                        }
                    }
                }
            };
            let t0 = Instant::now();
            let result =
                tokio::time::timeout(shared.timeout, client::exchange(s, &wbuf, &mut rbuf)).await;
            let st = &mut stats.steps[step as usize];
            let why = match result {
                Ok(Ok(res)) => {
                    st.latencies_ns.push(t0.elapsed().as_nanos() as u64);
                    if res.close {
                        stream = None;
                    }
                    let body = &rbuf[res.body_start..res.len];
                    if res.status != 200 {
                        st.bad(res.status);
                        Some(format!(
                            "HTTP {}: {}",
                            res.status,
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ))
                    } else if !is_xml(&rbuf, &res) {
                        st.wrong_type += 1;
                        Some(format!(
                            "content type {:?}",
                            res.content_type
                                .map(|(a, b)| String::from_utf8_lossy(&rbuf[a..b]).into_owned())
                        ))
                    } else if !shared.plan.expected(i, step, body) {
                        st.wrong_body += 1;
                        Some(format!(
                            "unexpected TwiML: {}",
                            String::from_utf8_lossy(&body[..body.len().min(300)])
                        ))
                    } else {
                        st.ok += 1;
                        None
                    }
                }
                Ok(Err(why)) => {
                    st.failed += 1;
                    stream = None;
                    Some(why)
                }
                Err(_) => {
                    st.failed += 1;
                    stream = None;
                    Some(format!("no answer within {:?}", shared.timeout))
                }
            };
            if let Some(why) = why {
                stats.sample(format!("call {i}, {}: {why}", step.name()));
                whole = false;
                break;
            }
        }
        if whole {
            stats.calls_ok += 1;
        }
    }
    stats
}

/// The store's view of the run, and whether it matches the good answers.
struct StoreCheck {
    stored: verify::CallsStored,
    mismatches: Vec<String>,
}

fn check_store(stored: verify::CallsStored, steps: &[StepStats; 3]) -> StoreCheck {
    let incoming = steps[Step::Incoming as usize].ok;
    let gathers = steps[Step::Gather as usize].ok;
    let completed_ok = steps[Step::Status as usize].ok;
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
    expect("calls", stored.calls, incoming);
    expect("sessions opened", stored.sessions, incoming);
    expect("calls completed", completed, completed_ok);
    expect(
        "sessions still live",
        stored.live,
        incoming.saturating_sub(completed_ok),
    );
    expect(
        "status history rows (answer + completed)",
        stored.history,
        incoming + completed_ok,
    );
    expect("turns", stored.turns, gathers);
    expect("turns with the speech", stored.turns_with_speech, gathers);
    expect("transcripts", stored.transcripts, gathers);
    expect(
        "transcripts with the text",
        stored.transcripts_with_text,
        gathers,
    );
    StoreCheck { stored, mismatches }
}

/// Runs `loadgen --voice`; returns whether the target was met.
pub(crate) fn run(args: Args) -> Result<bool, String> {
    let calls = args.calls.unwrap_or(DEFAULT_CALLS);
    if args.connections == 0 || calls == 0 {
        return Err("--connections and --calls must be at least 1".into());
    }
    let Setup {
        client_rt,
        server_rt,
        running,
        target,
        cpus,
        _data_dir,
    } = setup(&args)?;

    let signing = Instant::now();
    let plan = VoicePlan::build(&VoiceSpec {
        calls,
        callers: args.senders,
        webhook_url: target.signed_url.clone(),
        status_url: target.status_signed_url.clone(),
        webhook_path: target.path.clone(),
        status_path: target.status_path.clone(),
        host: target.host.clone(),
        account_sid: target.account_sid.clone(),
        auth_token: target.auth_token.clone(),
        threads: cpus,
    })?;
    let signing = signing.elapsed();
    let (sid_low, sid_high) = plan.sid_range();
    let request_bytes = plan.request_bytes();
    let rss_before = procfs::status_kb("self", "VmRSS");
    if !args.json {
        eprintln!(
            "{} gateway at http://{} ({}, {}): {} callers, {} calls of 3 requests ({:?} bytes) signed in {:.2}s, run id {}",
            target.mode,
            target.addr,
            target.path,
            target.status_path,
            args.connections,
            plan.len(),
            request_bytes,
            signing.as_secs_f64(),
            plan.run_id
        );
    }

    let shared = Arc::new(Shared {
        plan,
        next: AtomicUsize::new(0),
        deadline: OnceLock::new(),
        timeout: Duration::from_secs_f64(args.timeout),
        step_gap: Duration::from_millis(args.step_gap_ms),
        started: AtomicUsize::new(0),
        callers: args.connections,
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

    // Peak RSS before the verification reads the database into this process.
    let server_pid = target.server_pid.clone();
    let peak_rss = server_pid
        .as_deref()
        .and_then(|p| procfs::status_kb(p, "VmHWM"));
    let client_peak_rss = procfs::status_kb("self", "VmHWM");

    let mut steps: [StepStats; 3] = Default::default();
    let (mut placed, mut whole, mut reconnects) = (0u64, 0u64, 0u64);
    let mut failure_samples = Vec::new();
    for c in &outcome.conns {
        for (all, one) in steps.iter_mut().zip(&c.steps) {
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
    let errors: u64 = steps.iter().map(StepStats::errors).sum();
    let lat: Vec<Latency> = steps
        .iter_mut()
        .map(|s| Latency::from_samples(&mut s.latencies_ns))
        .collect();
    let mut answers: Vec<u64> = steps[Step::Incoming as usize]
        .latencies_ns
        .iter()
        .chain(&steps[Step::Gather as usize].latencies_ns)
        .copied()
        .collect();
    let answers = Latency::from_samples(&mut answers);
    let secs = outcome.elapsed.as_secs_f64();
    let requests: usize = lat.iter().map(|l| l.count).sum();

    // The store: every call, session, turn and transcript.
    let mut check = None;
    let mut drain = None;
    let mut verify_error = None;
    if let Some(db) = &target.database {
        let rows = verify::Rows::Sqlite(db.clone());
        match client_rt.block_on(verify::calls(db, &sid_low, &sid_high, voice_form::SPEECH)) {
            Ok(stored) => check = Some(check_store(stored, &steps)),
            Err(e) => verify_error = Some(e),
        }
        // The transcripts are inbox rows: wait for the dispatch worker to hand them on.
        let started = Instant::now();
        let queued = |s: &verify::Stored| {
            s.by_state
                .iter()
                .find(|(st, _)| st == "queued")
                .map_or(0, |(_, n)| *n)
        };
        match client_rt.block_on(verify::count(&rows, &sid_low, &sid_high)) {
            Ok(first) => {
                let mut last = first.clone();
                while queued(&last) > 0
                    && started.elapsed() < Duration::from_secs_f64(args.drain_timeout)
                {
                    std::thread::sleep(Duration::from_millis(100));
                    match client_rt.block_on(verify::count(&rows, &sid_low, &sid_high)) {
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
    if let (Some(gw), Some(rt)) = (running, &server_rt) {
        rt.block_on(gw.shutdown());
    }

    let store_ok = check.as_ref().map(|c| c.mismatches.is_empty());
    let incoming = lat[Step::Incoming as usize];
    let gather = lat[Step::Gather as usize];
    let met = incoming.p99 < TARGET_P99
        && gather.p99 < TARGET_P99
        && errors == 0
        && whole == placed
        && store_ok != Some(false);

    let lat_json = |l: &Latency| {
        json!({
            "answered": l.count, "mean": ms(l.mean), "p50": ms(l.p50), "p90": ms(l.p90),
            "p99": ms(l.p99), "p999": ms(l.p999), "max": ms(l.max),
        })
    };
    if args.json {
        let per_step: serde_json::Map<String, serde_json::Value> = STEPS
            .iter()
            .map(|&s| {
                let st = &steps[s as usize];
                (
                    s.name().to_string(),
                    json!({
                        "request_bytes": request_bytes[s as usize],
                        "ok": st.ok,
                        "errors": st.errors(),
                        "bad_status": st.bad_status.iter().map(|(c, n)| json!({"status": c, "count": n})).collect::<Vec<_>>(),
                        "wrong_content_type": st.wrong_type,
                        "unexpected_twiml": st.wrong_body,
                        "failed": st.failed,
                        "latency_ms": lat_json(&lat[s as usize]),
                    }),
                )
            })
            .collect();
        let report = json!({
            "mode": target.mode,
            "voice": true,
            "target": format!("http://{}", target.addr),
            "webhook_path": target.path,
            "status_path": target.status_path,
            "cpus": cpus,
            "connections": args.connections,
            "client_threads": args.client_threads,
            "calls_planned": calls,
            "run_id": sid_low,
            "calls_placed": placed,
            "calls_whole": whole,
            "requests_answered": requests,
            "errors": errors,
            "failure_samples": failure_samples,
            "reconnects": reconnects,
            "elapsed_s": secs,
            "calls_per_s": whole as f64 / secs,
            "requests_per_s": requests as f64 / secs,
            "steps": per_step,
            "answers_latency_ms": lat_json(&answers),
            "peak_rss_mib": mib(peak_rss),
            "client_peak_rss_mib": mib(client_peak_rss),
            "rss_before_run_mib": mib(rss_before),
            "cpu_s": {
                "client": outcome.cpu_client,
                "server": outcome.cpu_server,
                "server_threads": outcome.server_threads.iter()
                    .map(|(n, c, s)| json!({"name": n, "threads": c, "cpu_s": s})).collect::<Vec<_>>(),
            },
            "store": check.as_ref().map(|c| json!({
                "calls": c.stored.calls,
                "by_status": c.stored.by_status.iter().map(|(s, n)| json!({"status": s, "calls": n})).collect::<Vec<_>>(),
                "sessions": c.stored.sessions,
                "live_sessions": c.stored.live,
                "history_rows": c.stored.history,
                "turns": c.stored.turns,
                "turns_with_speech": c.stored.turns_with_speech,
                "transcripts": c.stored.transcripts,
                "transcripts_with_text": c.stored.transcripts_with_text,
                "mismatches": c.mismatches,
            })),
            "store_matches_answers": store_ok,
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
        "mode:          {} ({} CPUs, {} callers, {} client thread(s))",
        target.mode, cpus, args.connections, args.client_threads
    );
    let _ = writeln!(
        out,
        "calls:         {placed} placed in {secs:.2}s, {whole} whole (3 good answers), {errors} errors, {reconnects} reconnects"
    );
    for f in &failure_samples {
        let _ = writeln!(out, "               e.g. {f}");
    }
    let _ = writeln!(
        out,
        "throughput:    {:.0} calls/s, {:.0} requests/s",
        whole as f64 / secs,
        requests as f64 / secs
    );
    let _ = writeln!(
        out,
        "latency (ms):  {:<10} {:>8} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "step", "answered", "errors", "mean", "p50", "p90", "p99", "p99.9", "max"
    );
    let row = |out: &mut String, name: &str, l: &Latency, errors: u64| {
        let _ = writeln!(
            out,
            "               {name:<10} {:>8} {errors:>6} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2}",
            l.count,
            ms(l.mean),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max)
        );
    };
    for s in STEPS {
        row(
            &mut out,
            s.name(),
            &lat[s as usize],
            steps[s as usize].errors(),
        );
    }
    row(
        &mut out,
        "answers",
        &answers,
        steps[Step::Incoming as usize].errors() + steps[Step::Gather as usize].errors(),
    );
    for s in STEPS {
        let st = &steps[s as usize];
        if st.errors() > 0 {
            let _ = writeln!(
                out,
                "               {} errors: statuses {:?}, {} not text/xml, {} unexpected TwiML, {} without answer",
                s.name(),
                st.bad_status,
                st.wrong_type,
                st.wrong_body,
                st.failed
            );
        }
    }
    let show = |b: Option<u64>| mib(b).map_or("n/a".into(), |m| format!("{m:.1} MiB"));
    let _ = writeln!(
        out,
        "peak RSS:      server {} ({}), client {}{}",
        show(peak_rss),
        server_pid
            .as_deref()
            .map_or("unknown pid".into(), |p| if p == "self" {
                "this process: gateway + client".to_string()
            } else {
                format!("pid {p}")
            }),
        show(client_peak_rss),
        if target.server_pid.as_deref() == Some("self") {
            format!(" (RSS before the run: {})", show(rss_before))
        } else {
            String::new()
        },
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
    match (&check, &verify_error) {
        (Some(c), _) => {
            let st = &c.stored;
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
            if c.mismatches.is_empty() {
                let _ = writeln!(
                    out,
                    "               matches the answers: every call recorded, every session ended, every transcript stored"
                );
            } else {
                for m in &c.mismatches {
                    let _ = writeln!(out, "               DOES NOT match the answers: {m}");
                }
            }
        }
        (None, Some(e)) => {
            let _ = writeln!(out, "store:         not verified: {e}");
        }
        (None, None) => {
            let _ = writeln!(
                out,
                "store:         not verified (no --database or --runtime-file)"
            );
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
    if let Some(e) = verify_error.as_ref().filter(|_| check.is_some()) {
        let _ = writeln!(out, "               verification error: {e}");
    }
    let _ = writeln!(
        out,
        "target:        incoming and gather answers p99 < {} ms, no errors, the store matching: {}",
        TARGET_P99.as_millis(),
        if met { "MET" } else { "NOT MET" }
    );
    print!("{out}");
    Ok(met)
}
