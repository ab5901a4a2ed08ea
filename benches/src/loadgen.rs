//! `loadgen`: signed inbound webhooks at a telephony gateway over loopback, as fast as it answers.
//!
//! By default it starts a gateway in this process exactly as `telephony serve --sandbox`
//! does ([`telephony::server::start`] with ports 0, a temporary `dataDir` and the
//! simulator's credentials), on its own tokio runtime (`gw-worker` threads), and drives it
//! from a separate runtime (`lg-client` threads). With `--runtime-file` (and/or `--target`)
//! it drives a gateway running in another process instead, which is the honest setup:
//! client and server then compete for the cores as separate processes, as with `wrk`.
//!
//! Every request is an inbound SMS signed like Twilio signs it, with a `MessageSid` no
//! other run uses; the requests are signed before the clock starts. `--connections`
//! keep-alive HTTP/1.1 connections each keep one request in flight. The run ends after
//! `--requests` requests or `--duration` seconds, whichever comes first. Then it reports
//! throughput, latency percentiles, peak RSS, CPU used by the client and by the server
//! (per thread name), and counts the run's rows in the gateway's SQLite file.
//!
//! ```text
//! loadgen                                          # in-process gateway
//! loadgen --runtime-file /tmp/x/telephony-data/gateway.json   # `telephony serve --sandbox` in /tmp/x
//! loadgen --json --connections 64 --requests 200000
//! loadgen --voice --calls 20000                    # whole voice calls (see below)
//! ```
//!
//! With `--voice`, each connection is a caller placing whole calls one after the other, as
//! Twilio would for a number whose voice URL is the gateway (default flow, no Rust
//! handler): a signed incoming-call webhook (answered with the greeting TwiML), a signed
//! speech result to the answer's gather URL (answered with the closing TwiML, the
//! transcript stored), and a signed `completed` status callback (ending the session). Every
//! answer must be 200 `text/xml` with exactly the expected TwiML; anything else is an error.
//! It reports each step's latency and checks in the gateway's SQLite file that every call,
//! turn and transcript was stored and every session ended. In-process, the gateway's config
//! defaults to [`VOICE_CONFIG`]; a separate gateway needs the same keys (voice on, open
//! policy, a `maxConcurrentSessions` above `--connections`).
//!
//! With `--voice --provider telnyx`, loadgen plays Telnyx Call Control instead
//! ([`telnyx_voice`]): a mock Telnyx API on loopback records the commands the gateway
//! sends, and each call is the default flow's five signed `call.*` events, each measured
//! to the first command it causes. The gateway runs in this process, its Telnyx account
//! pointed at the mock.
//!
//! With `--realtime`, it measures real-time voice instead ([`realtime`]): 100 concurrent
//! Media Streams played as Twilio plays them (signed webhook, `<Connect><Stream>` TwiML,
//! signed upgrade, one-time token, a 160-byte μ-law frame every 20 ms) against a Rust
//! stream handler that echoes every frame, for the added latency frame → handler and
//! handler → frame with the memory and CPU per stream; then 100 ConversationRelay sessions
//! against the standalone server's relay bridge (`voice.mode: "relay"`) to an HTTP app on
//! loopback, for the gateway's overhead from a prompt to the first `text` token.
//!
//! ```text
//! loadgen --realtime                               # 100 streams for 20 s, then 100 relays for 15 s
//! loadgen --realtime --streams 100 --duration 20 --only streams
//! loadgen --realtime --only streams --provider telnyx   # the streams played as Telnyx plays them
//! loadgen --voice --provider telnyx --calls 1280 --step-gap-ms 1000
//! ```
//!
//! It only targets loopback addresses.

#[path = "loadgen/client.rs"]
mod client;
#[path = "loadgen/latency.rs"]
mod latency;
#[path = "loadgen/plan.rs"]
mod plan;
#[path = "loadgen/procfs.rs"]
mod procfs;
#[path = "loadgen/realtime.rs"]
mod realtime;
#[path = "loadgen/rt_samples.rs"]
mod rt_samples;
#[path = "loadgen/telnyx_api.rs"]
mod telnyx_api;
#[path = "loadgen/telnyx_voice.rs"]
mod telnyx_voice;
#[path = "loadgen/verify.rs"]
mod verify;
#[path = "loadgen/voice.rs"]
mod voice;
#[path = "loadgen/voice_form.rs"]
mod voice_form;
#[path = "loadgen/voice_plan.rs"]
mod voice_plan;

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use telephony::config::Config;
use telephony::runtime::RuntimeInfo;
use telephony::server::{self, RunningGateway, ServeOptions};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::client::{ConnStats, Shared};
use crate::latency::Latency;
use crate::plan::{Plan, PlanSpec};

/// The issue's target: persisted, signed inbound webhooks per second.
const TARGET_RPS: f64 = 10_000.0;
/// The issue's target: p99 latency.
const TARGET_P99: Duration = Duration::from_millis(20);

/// The in-process gateway's config in `--voice` mode without `--config`: voice on with the
/// default flow, every caller admitted, and a session limit no run reaches.
pub const VOICE_CONFIG: &str = r#"{ voice: { enabled: true }, inboundPolicy: "open", allowFrom: ["*"], maxConcurrentSessions: 100000 }"#;

/// Load generator for the telephony gateway's inbound webhook.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version, about)]
struct Args {
    /// Concurrent keep-alive connections (one request in flight on each).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Requests to send (all signed before the run starts).
    #[arg(long, default_value_t = 200_000)]
    requests: usize,
    /// Stop after this many seconds even if requests remain.
    #[arg(long)]
    duration: Option<f64>,
    /// Webhook URL of a gateway in another process, e.g. http://127.0.0.1:3335/telephony/webhook (loopback only).
    /// Repeat it for several replicas of one gateway: the connections are spread over them
    /// round robin (the requests are signed once, for `--signed-url`, so the replicas must
    /// share one `publicUrl`).
    #[arg(long)]
    target: Vec<String>,
    /// The running gateway's runtime file (`{dataDir}/gateway.json`): gives the target, the
    /// sandbox credentials, the pid (for its RSS and CPU) and the database (for the row count).
    /// Repeat it for several replicas, as `--target`: their RSS and CPU are added up.
    #[arg(long, value_name = "FILE")]
    runtime_file: Vec<PathBuf>,
    /// Auth token to sign with (default: the runtime file's sandbox token).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    auth_token: Option<String>,
    /// Account SID sent as `AccountSid` (default: the runtime file's sandbox account).
    #[arg(long)]
    account_sid: Option<String>,
    /// The URL the gateway checks signatures against (default: the runtime file's webhook
    /// URL, else the target).
    #[arg(long)]
    signed_url: Option<String>,
    /// The target's pid, for its peak RSS and CPU (default: from the runtime file).
    #[arg(long)]
    pid: Option<u32>,
    /// The target's SQLite file, to count the stored rows (default: `telephony.db` next to the runtime file).
    #[arg(long, value_name = "FILE")]
    database: Option<PathBuf>,
    /// The target's PostgreSQL database (`postgres://…`), to count the stored rows instead
    /// of a SQLite file: every schema with an `inbox` table is counted (one per account).
    #[arg(long, value_name = "URL", conflicts_with = "database")]
    postgres: Option<String>,
    /// Distinct sender numbers, used round robin.
    #[arg(long, default_value_t = 100)]
    senders: usize,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// In-process mode: gateway runtime worker threads (default: one per CPU, like `telephony serve`).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Seconds to wait for one response before counting it failed.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// After the run, wait up to this many seconds for the dispatch worker to hand every
    /// stored message on (no `queued` rows left), and report how long that took.
    #[arg(long, default_value_t = 30.0)]
    drain_timeout: f64,
    /// In-process mode: start from this gateway config file (JSON5/TOML, as `telephony
    /// --config`), e.g. to set `inboundPolicy`; binds, ports and `dataDir` are overridden
    /// (loopback, 0, a temporary directory).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "runtime_file"])]
    config: Option<PathBuf>,
    /// In-process diagnostic: serve only `gateway.router()` (TwilioProvider + SqliteStore),
    /// without the dispatch, outbox and forward workers, to separate the webhook path from
    /// the workers' share of the single SQLite writer.
    #[arg(long, conflicts_with_all = ["target", "runtime_file"])]
    no_workers: bool,
    /// In-process mode: log the gateway's events matching this filter (tracing
    /// `EnvFilter` syntax, e.g. `telephony_store=debug` for every group-commit batch with
    /// its size and commit time) to `--log-file`. Off by default: logging costs time.
    #[arg(long, value_name = "FILTER", requires = "log_file")]
    log: Option<String>,
    /// Where `--log` writes.
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Place whole voice calls instead of sending SMS webhooks: incoming call, speech
    /// gather result, `completed` status callback, one call after another on each
    /// connection (see the module documentation).
    #[arg(long, conflicts_with = "no_workers")]
    voice: bool,
    /// With `--voice`: calls to place (all signed before the run starts); `--requests` is
    /// not used.
    #[arg(long, requires = "voice")]
    calls: Option<usize>,
    /// With `--voice`: milliseconds each caller waits between a call's steps, as a real
    /// call spends seconds speaking and listening between requests (0: back to back).
    #[arg(long, requires = "voice", default_value_t = 0)]
    step_gap_ms: u64,
    /// With `--voice` or `--realtime`: the provider to play. `telnyx`: loadgen plays Telnyx
    /// Call Control (signed `call.*` events, a mock Telnyx API on loopback recording the
    /// commands they cause, Telnyx's media-stream frames) against a gateway it starts in
    /// this process (see the `telnyx_voice` and `realtime` modules).
    #[arg(long, default_value = "twilio", value_parser = ["twilio", "telnyx"])]
    provider: String,
    /// Real-time voice over loopback instead: concurrent Media Streams echoed by a Rust
    /// handler, then ConversationRelay sessions through the relay bridge to an HTTP app
    /// (see the `realtime` module). `--duration` is the streams' (default 20 s).
    #[arg(long, conflicts_with_all = ["voice", "no_workers", "target", "runtime_file", "config"])]
    realtime: bool,
    /// With `--realtime`: concurrent Media Streams, each sending a 160-byte μ-law frame
    /// every 20 ms.
    #[arg(long, requires = "realtime", default_value_t = 100)]
    streams: usize,
    /// With `--realtime`: concurrent ConversationRelay sessions.
    #[arg(long, requires = "realtime", default_value_t = 100)]
    relays: usize,
    /// With `--realtime`: seconds the relays send prompts.
    #[arg(long, requires = "realtime", default_value_t = 15.0)]
    relay_duration: f64,
    /// With `--realtime`: milliseconds between one relay's prompts (the relays' phases are
    /// spread over it).
    #[arg(long, requires = "realtime", default_value_t = 1000)]
    prompt_interval_ms: u64,
    /// With `--realtime`: run only the `streams` or the `relays` phase.
    #[arg(long, requires = "realtime", value_parser = ["streams", "relays"])]
    only: Option<String>,
    /// With `--realtime`: pin the client (its runtime, the main thread and the relay app)
    /// to CPU 0 and the gateway's threads to the other CPUs (one gateway worker per CPU
    /// left unless `--server-threads`), so neither side waits for a core behind the other.
    #[arg(long, requires = "realtime")]
    pin: bool,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Sign `--requests` requests for `--target` (or `--runtime-file`) and write them for
    /// `wrk` into this directory instead of sending them (`benches/wrk-signed.lua` reads
    /// them; see `benches/compare-axum.sh`).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["voice", "realtime", "config", "no_workers"])]
    wrk_plan: Option<PathBuf>,
}

/// Where the requests go and how they are signed.
struct Target {
    mode: &'static str,
    addr: SocketAddr,
    host: String,
    path: String,
    signed_url: String,
    /// Status callback path on the wire.
    status_path: String,
    /// The URL the gateway checks a status callback's signature against.
    status_signed_url: String,
    auth_token: String,
    account_sid: String,
    /// Process whose RSS and CPU are the server's ("self" in-process).
    server_pid: Option<String>,
    database: Option<PathBuf>,
    /// Every address connections go to, round robin (`addr` is the first).
    addrs: Vec<SocketAddr>,
    /// More processes whose RSS and CPU count as the server's (the other replicas).
    other_pids: Vec<String>,
    /// The PostgreSQL database to count rows in (instead of `database`).
    postgres: Option<String>,
}

/// A `http://host:port/path` URL split up, refused unless every address of `host` is loopback.
fn loopback_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// loopback targets are supported"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
        ),
        _ => (authority, 80),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("{url:?}: cannot resolve {bare:?}: {e}"))?
        .collect();
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(format!(
            "{url:?}: refusing a non-loopback target ({addrs:?}); loadgen only targets this machine"
        ));
    }
    Ok((addrs[0], authority.to_string(), path))
}

fn external_target(args: &Args) -> Result<Target, String> {
    let mut runtimes: Vec<RuntimeInfo> = Vec::with_capacity(args.runtime_file.len());
    for f in &args.runtime_file {
        let bytes = std::fs::read(f).map_err(|e| format!("reading {}: {e}", f.display()))?;
        runtimes.push(
            serde_json::from_slice(&bytes).map_err(|e| format!("parsing {}: {e}", f.display()))?,
        );
    }
    let rt = runtimes.first();
    if args.signed_url.is_none()
        && runtimes
            .iter()
            .any(|r| r.webhook_url != runtimes[0].webhook_url)
    {
        return Err(
            "the runtime files name different webhook URLs: give the replicas one \
                    `publicUrl` (the requests are signed once), or pass --signed-url"
                .into(),
        );
    }
    let targets: Vec<String> = if args.target.is_empty() {
        runtimes
            .iter()
            .map(|rt| {
                // Connect to the listener; the path is the webhook URL's.
                let path = rt
                    .webhook_url
                    .split_once("://")
                    .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_string()))
                    .unwrap_or_else(|| "/telephony/webhook".into());
                format!("http://{}{path}", rt.public_addr)
            })
            .collect()
    } else {
        args.target.clone()
    };
    let Some(target) = targets.first().cloned() else {
        unreachable!("external mode needs --target or --runtime-file")
    };
    let (addr, host, path) = loopback_url(&target)?;
    let mut addrs = vec![addr];
    for t in &targets[1..] {
        let (a, _, p) = loopback_url(t)?;
        if p != path {
            return Err(format!(
                "{t:?}: every target must have the path {path:?} (one signed request plan)"
            ));
        }
        addrs.push(a);
    }
    let signed_url = args
        .signed_url
        .clone()
        .or_else(|| rt.as_ref().map(|r| r.webhook_url.clone()))
        .unwrap_or_else(|| target.clone());
    // Without a runtime file: the default status path next to the webhook.
    let status_signed_url = rt.as_ref().map_or_else(
        || with_path(&signed_url, "/telephony/status"),
        |r| r.status_url.clone(),
    );
    let status_path = path_of(&status_signed_url);
    let auth_token = args
        .auth_token
        .clone()
        .or_else(|| rt.as_ref().and_then(|r| r.sandbox_auth_token.clone()))
        .ok_or("no auth token: pass --auth-token (or TWILIO_AUTH_TOKEN), or --runtime-file of a sandbox gateway")?;
    let account_sid = args
        .account_sid
        .clone()
        .or_else(|| rt.as_ref().and_then(|r| r.sandbox_account_sid.clone()))
        .unwrap_or_else(|| "AC00000000000000000000000000000000".into());
    let server_pid = args
        .pid
        .or_else(|| rt.as_ref().map(|r| r.pid))
        .map(|p| p.to_string());
    let other_pids = runtimes.iter().skip(1).map(|r| r.pid.to_string()).collect();
    let database = match &args.postgres {
        Some(_) => None,
        None => args.database.clone().or_else(|| {
            args.runtime_file
                .first()
                .and_then(|f| f.parent())
                .map(|d| d.join("telephony.db"))
        }),
    };
    Ok(Target {
        mode: "separate process",
        addr,
        host,
        path,
        signed_url,
        status_path,
        status_signed_url,
        auth_token,
        account_sid,
        server_pid,
        database,
        addrs,
        other_pids,
        postgres: args.postgres.clone(),
    })
}

/// The path (and query) of an absolute URL.
fn path_of(url: &str) -> String {
    url.split_once("://")
        .and_then(|(_, r)| r.find('/').map(|i| r[i..].to_string()))
        .unwrap_or_else(|| "/".into())
}

/// `url` with its path (and query) replaced by `path`.
fn with_path(url: &str, path: &str) -> String {
    let cut = url
        .split_once("://")
        .and_then(|(s, r)| r.find('/').map(|i| s.len() + 3 + i))
        .unwrap_or(url.len());
    format!("{}{path}", &url[..cut])
}

/// The in-process gateway's config: `--config`, else [`VOICE_CONFIG`] with `--voice`,
/// else the defaults.
fn in_process_config(args: &Args) -> Result<Config, String> {
    match (&args.config, args.voice) {
        (Some(f), _) => Ok(Config::load(Some(f))
            .map_err(|e| {
                format!(
                    "loading {}: {}",
                    f.display(),
                    telephony_core::error_chain(&e)
                )
            })?
            .0),
        (None, true) => Config::from_json5_str(VOICE_CONFIG)
            .map_err(|e| format!("VOICE_CONFIG: {}", telephony_core::error_chain(&e))),
        (None, false) => Ok(Config::default()),
    }
}

/// Starts the gateway like `telephony serve --sandbox` with ports 0 in `data_dir`.
fn start_in_process(
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
                sandbox: true,
                handler: None,
            },
        ))
        .map_err(|e| format!("starting the gateway: {}", telephony_core::error_chain(&e)))?;
    let rt = running.runtime.clone();
    let path = config.serve.path.clone();
    let target = Target {
        mode: "in-process",
        addr: running.public_addr,
        host: running.public_addr.to_string(),
        path,
        signed_url: rt.webhook_url.clone(),
        status_path: config.serve.status_path.clone(),
        status_signed_url: rt.status_url.clone(),
        auth_token: rt
            .sandbox_auth_token
            .clone()
            .ok_or("sandbox has no token")?,
        account_sid: rt
            .sandbox_account_sid
            .clone()
            .ok_or("sandbox has no account")?,
        server_pid: Some("self".into()),
        database: Some(database),
        addrs: vec![running.public_addr],
        other_pids: Vec::new(),
        postgres: None,
    };
    Ok((running, target))
}

/// Serves `gateway.router()` alone on 127.0.0.1:0, with no workers (`--no-workers`).
fn start_router_only(
    server_rt: &tokio::runtime::Runtime,
    data_dir: PathBuf,
) -> Result<Target, String> {
    const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
    const AUTH_TOKEN: &str = "loadgen-router-only-auth-token";
    server_rt.block_on(async {
        let database = data_dir.join("telephony.db");
        let store = telephony_store::SqliteStore::open(&database)
            .await
            .map_err(|e| format!("opening the store: {}", telephony_core::error_chain(&e)))?;
        let twilio = telephony_twilio::TwilioProvider::new(telephony_twilio::TwilioConfig::new(
            ACCOUNT_SID,
            AUTH_TOKEN,
        ))
        .map_err(|e| format!("provider: {e}"))?;
        let gateway = telephony_serve::Gateway::builder(Arc::new(twilio), Arc::new(store))
            .host_header_fallback_dangerous()
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("bind: {e}"))?;
        let app = gateway.router();
        // Runs until the runtime is dropped at exit.
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Target {
            mode: "in-process, router only (no workers)",
            addr,
            host: addr.to_string(),
            path: "/telephony/webhook".into(),
            signed_url: format!("http://{addr}/telephony/webhook"),
            status_path: "/telephony/status".into(),
            status_signed_url: format!("http://{addr}/telephony/status"),
            auth_token: AUTH_TOKEN.into(),
            account_sid: ACCOUNT_SID.into(),
            server_pid: Some("self".into()),
            database: Some(database),
            addrs: vec![addr],
            other_pids: Vec::new(),
            postgres: None,
        })
    })
}

/// Everything measured in a run; `T` is what one connection saw.
struct Outcome<T> {
    elapsed: Duration,
    conns: Vec<T>,
    cpu_client: f64,
    cpu_server: Option<f64>,
    server_threads: Vec<(String, usize, f64)>,
}

/// Opens `--connections` connections, starts the clock (setting `deadline` from
/// `--duration`), runs `connection` on each, and collects what they saw with the CPU used.
/// `connection` gets the address, the connection opened before the clock started, and
/// the barrier to wait at before sending; `lost` stands for a connection task that failed.
async fn drive<T, F, Fut>(
    args: &Args,
    target: &Target,
    deadline: &OnceLock<Instant>,
    connection: F,
    lost: impl Fn(String) -> T,
) -> Outcome<T>
where
    T: Send + 'static,
    F: Fn(SocketAddr, Result<TcpStream, String>, Arc<Barrier>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let connected = Arc::new(Barrier::new(args.connections + 1));
    let start = Arc::new(Barrier::new(args.connections + 1));
    let tasks: Vec<_> = (0..args.connections)
        .map(|k| {
            let (connection, connected, start) =
                (connection.clone(), connected.clone(), start.clone());
            let addr = target.addrs[k % target.addrs.len()];
            tokio::spawn(async move {
                // Connect first so no connection setup is timed.
                let conn = client::connect_ready(addr).await;
                connected.wait().await;
                connection(addr, conn, start).await
            })
        })
        .collect();
    connected.wait().await;

    let in_process = target.server_pid.as_deref() == Some("self");
    let pid = target.server_pid.clone().unwrap_or_else(|| "self".into());
    let threads_before = server_thread_cpu(&pid, &target.other_pids);
    let self_before = procfs::thread_cpu("self");
    let proc_before = server_cpu(target);
    let client_proc_before = procfs::process_cpu("self").unwrap_or(0.0);

    let started = Instant::now();
    let limit = args.duration.map_or(
        Duration::from_secs(365 * 24 * 3600),
        Duration::from_secs_f64,
    );
    deadline.set(started + limit).expect("deadline set once");
    start.wait().await;
    let mut conns = Vec::with_capacity(tasks.len());
    for t in tasks {
        conns.push(
            t.await
                .unwrap_or_else(|e| lost(format!("connection task failed: {e}"))),
        );
    }
    let elapsed = started.elapsed();

    let threads_after = server_thread_cpu(&pid, &target.other_pids);
    let self_after = procfs::thread_cpu("self");
    let client_threads: f64 = procfs::cpu_by_name(&self_before, &self_after)
        .into_iter()
        .filter(|(name, _, _)| name.starts_with("lg-client"))
        .map(|(_, _, s)| s)
        .sum();
    let proc_after = server_cpu(target);
    let mut server_threads = procfs::cpu_by_name(&threads_before, &threads_after);
    let (cpu_client, cpu_server) = if in_process {
        // One process: the client is the lg-client threads, the server everything else.
        server_threads.retain(|(name, _, _)| !name.starts_with("lg-client"));
        let total = proc_after.zip(proc_before).map(|(a, b)| a - b);
        (client_threads, total.map(|t| t - client_threads))
    } else {
        let client_proc = procfs::process_cpu("self").unwrap_or(0.0) - client_proc_before;
        (client_proc, proc_after.zip(proc_before).map(|(a, b)| a - b))
    };
    if target.server_pid.is_none() {
        server_threads.clear();
    }
    Outcome {
        elapsed,
        conns,
        cpu_client,
        cpu_server,
        server_threads,
    }
}

/// `http://addr/path` of every target, comma separated.
fn target_urls(target: &Target) -> String {
    target
        .addrs
        .iter()
        .map(|a| format!("http://{a}{}", target.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU seconds used so far by the server process and the other replicas.
fn server_cpu(target: &Target) -> Option<f64> {
    let first = procfs::process_cpu(target.server_pid.as_deref()?)?;
    Some(
        first
            + target
                .other_pids
                .iter()
                .filter_map(|p| procfs::process_cpu(p))
                .sum::<f64>(),
    )
}

/// CPU seconds per live thread of the server process and the other replicas.
fn server_thread_cpu(
    pid: &str,
    others: &[String],
) -> std::collections::BTreeMap<String, (String, f64)> {
    let mut all = procfs::thread_cpu(pid);
    for p in others {
        all.extend(procfs::thread_cpu(p));
    }
    all
}

/// Peak RSS of the server process plus that of the other replicas.
fn server_peak_rss(target: &Target) -> Option<u64> {
    let first = procfs::status_kb(target.server_pid.as_deref()?, "VmHWM")?;
    Some(
        first
            + target
                .other_pids
                .iter()
                .filter_map(|p| procfs::status_kb(p, "VmHWM"))
                .sum::<u64>(),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(b: Option<u64>) -> Option<f64> {
    b.map(|b| b as f64 / (1024.0 * 1024.0))
}

/// The gateway under load and the client's runtime.
struct Setup {
    client_rt: tokio::runtime::Runtime,
    /// In-process: the gateway's runtime.
    server_rt: Option<tokio::runtime::Runtime>,
    /// In-process (not `--no-workers`): the running gateway, shut down at the end.
    running: Option<RunningGateway>,
    target: Target,
    cpus: usize,
    /// In-process: the gateway's `dataDir` lives here until the run ends.
    _data_dir: tempfile::TempDir,
}

/// Logs the gateway's events to `--log-file` with `--log`.
fn init_logging(args: &Args) -> Result<(), String> {
    if let (Some(filter), Some(file)) = (&args.log, &args.log_file) {
        let f = std::fs::File::create(file).map_err(|e| format!("{}: {e}", file.display()))?;
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_new(filter)
                    .map_err(|e| format!("--log {filter:?}: {e}"))?,
            )
            .with_writer(std::sync::Mutex::new(f))
            .with_ansi(false)
            .init();
    }
    Ok(())
}

/// Starts logging (`--log`), the client runtime, and the in-process gateway (or reads the
/// target of a separate one).
fn setup(args: &Args) -> Result<Setup, String> {
    init_logging(args)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .thread_name("lg-client")
        .enable_all()
        .build()
        .map_err(|e| format!("client runtime: {e}"))?;

    let external = !args.target.is_empty() || !args.runtime_file.is_empty();
    let data_dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let server_rt;
    let mut running = None;
    let target = if external {
        server_rt = None;
        external_target(args)?
    } else {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.server_threads.unwrap_or(cpus).max(1))
            .thread_name("gw-worker")
            .enable_all()
            .build()
            .map_err(|e| format!("gateway runtime: {e}"))?;
        let target = if args.no_workers {
            start_router_only(&rt, data_dir.path().join("telephony-data"))?
        } else {
            let (gw, target) = start_in_process(
                &rt,
                in_process_config(args)?,
                data_dir.path().join("telephony-data"),
            )?;
            running = Some(gw);
            target
        };
        server_rt = Some(rt);
        target
    };
    Ok(Setup {
        client_rt,
        server_rt,
        running,
        target,
        cpus,
        _data_dir: data_dir,
    })
}

fn run(args: Args) -> Result<bool, String> {
    if args.connections == 0 || args.requests == 0 {
        return Err("--connections and --requests must be at least 1".into());
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
    let plan = Plan::build(&PlanSpec {
        requests: args.requests,
        senders: args.senders,
        signed_url: target.signed_url.clone(),
        path: target.path.clone(),
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
            "{} gateway at {} ({} connections, {} requests of {} bytes signed in {:.2}s, run id {})",
            target.mode,
            target_urls(&target),
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
    });
    let outcome = client_rt.block_on(drive(
        &args,
        &target,
        &shared.deadline,
        {
            let shared = shared.clone();
            move |addr, conn, start| client::run_connection(addr, conn, shared.clone(), start)
        },
        |why| {
            let mut s = ConnStats::default();
            s.failure_samples.push(why);
            s.failed += 1;
            s
        },
    ));

    // Peak RSS before the verification reads the database into this process.
    let server_pid = target.server_pid.clone();
    let peak_rss = server_peak_rss(&target);
    let client_peak_rss = procfs::status_kb("self", "VmHWM");

    let mut samples: Vec<u64> = Vec::new();
    let (mut ok, mut failed, mut reconnects) = (0u64, 0u64, 0u64);
    let mut bad: Vec<(u16, u64)> = Vec::new();
    let mut failure_samples = Vec::new();
    for c in &outcome.conns {
        samples.extend_from_slice(&c.latencies_ns);
        ok += c.ok;
        failed += c.failed;
        reconnects += c.reconnects;
        for &(s, n) in &c.bad_status {
            match bad.iter_mut().find(|(b, _)| *b == s) {
                Some((_, m)) => *m += n,
                None => bad.push((s, n)),
            }
        }
        for f in &c.failure_samples {
            if failure_samples.len() < 5 {
                failure_samples.push(f.clone());
            }
        }
    }
    let answered = samples.len() as u64;
    let errors = failed + bad.iter().map(|(_, n)| n).sum::<u64>();
    let lat = Latency::from_samples(&mut samples);
    let secs = outcome.elapsed.as_secs_f64();
    let rps = answered as f64 / secs;
    let persisted_rps = ok as f64 / secs;

    // Verify the rows, then wait for the dispatch worker to drain.
    let mut stored = None;
    let mut drain = None;
    let mut verify_error = None;
    let rows_in = match (&target.postgres, &target.database) {
        (Some(url), _) => Some(verify::Rows::Postgres(url.clone())),
        (None, Some(db)) => Some(verify::Rows::Sqlite(db.clone())),
        (None, None) => None,
    };
    if let Some(db) = &rows_in {
        let drain_started = Instant::now();
        let first = client_rt.block_on(verify::count(db, &sid_low, &sid_high));
        match first {
            Ok(s) => {
                let queued = |s: &verify::Stored| {
                    s.by_state
                        .iter()
                        .find(|(st, _)| st == "queued")
                        .map_or(0, |(_, n)| *n)
                };
                let mut last = s.clone();
                // Without workers nothing drains.
                let give_up = if args.no_workers {
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64(args.drain_timeout)
                };
                while queued(&last) > 0 && drain_started.elapsed() < give_up {
                    std::thread::sleep(Duration::from_millis(100));
                    match client_rt.block_on(verify::count(db, &sid_low, &sid_high)) {
                        Ok(s) => last = s,
                        Err(e) => {
                            verify_error = Some(e);
                            break;
                        }
                    }
                }
                drain = Some((
                    queued(&s),
                    queued(&last),
                    drain_started.elapsed(),
                    last.by_state.clone(),
                ));
                stored = Some(s);
            }
            Err(e) => verify_error = Some(e),
        }
    }
    if let (Some(gw), Some(rt)) = (running, &server_rt) {
        rt.block_on(gw.shutdown());
    }

    let rows_ok = stored.as_ref().map(|s| s.rows == ok);
    let met = persisted_rps >= TARGET_RPS
        && lat.p99 < TARGET_P99
        && errors == 0
        && rows_ok != Some(false);

    if args.json {
        let report = json!({
            "mode": target.mode,
            "target": target_urls(&target),
            "replicas": target.addrs.len(),
            "cpus": cpus,
            "connections": args.connections,
            "client_threads": args.client_threads,
            "requests_planned": args.requests,
            "request_bytes": request_bytes,
            "run_id": sid_low,
            "answered": answered,
            "ok": ok,
            "errors": errors,
            "bad_status": bad.iter().map(|(s, n)| json!({"status": s, "count": n})).collect::<Vec<_>>(),
            "failed": failed,
            "failure_samples": failure_samples,
            "reconnects": reconnects,
            "elapsed_s": secs,
            "requests_per_s": rps,
            "persisted_per_s": persisted_rps,
            "latency_ms": {
                "mean": ms(lat.mean), "p50": ms(lat.p50), "p90": ms(lat.p90),
                "p99": ms(lat.p99), "p999": ms(lat.p999), "max": ms(lat.max),
            },
            "peak_rss_mib": mib(peak_rss),
            "client_peak_rss_mib": mib(client_peak_rss),
            "rss_before_run_mib": mib(rss_before),
            "cpu_s": {
                "client": outcome.cpu_client,
                "server": outcome.cpu_server,
                "server_threads": outcome.server_threads.iter()
                    .map(|(n, c, s)| json!({"name": n, "threads": c, "cpu_s": s})).collect::<Vec<_>>(),
            },
            "rows_verified": stored.as_ref().map(|s| s.rows),
            "rows_match_ok": rows_ok,
            "rows_by_state_after_run": stored.as_ref().map(|s| s.by_state.iter().map(|(st, n)| json!({"state": st, "rows": n})).collect::<Vec<_>>()),
            "dispatch_drain": drain.as_ref().filter(|_| !args.no_workers).map(|(q0, q1, d, st)| json!({
                "queued_after_run": q0, "queued_at_end": q1, "waited_s": d.as_secs_f64(),
                "by_state": st.iter().map(|(s, n)| json!({"state": s, "rows": n})).collect::<Vec<_>>(),
            })),
            "verify_error": verify_error,
            "target_met": met,
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else {
        let mut out = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "mode:          {} ({} CPUs, {} connections, {} client thread(s))",
            target.mode, cpus, args.connections, args.client_threads
        );
        let _ = writeln!(
            out,
            "requests:      {answered} answered in {secs:.2}s, {ok} × 200, {errors} errors ({failed} without response, {reconnects} reconnects)"
        );
        for (s, n) in &bad {
            let _ = writeln!(out, "               status {s}: {n}");
        }
        for f in &failure_samples {
            let _ = writeln!(out, "               e.g. {f}");
        }
        let _ = writeln!(
            out,
            "throughput:    {rps:.0} req/s, {persisted_rps:.0} persisted (200) /s"
        );
        let _ = writeln!(
            out,
            "latency (ms):  mean {:.2}  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            ms(lat.mean),
            ms(lat.p50),
            ms(lat.p90),
            ms(lat.p99),
            ms(lat.p999),
            ms(lat.max)
        );
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
        match (&stored, &verify_error) {
            (Some(s), _) => {
                let states: Vec<String> = s
                    .by_state
                    .iter()
                    .map(|(st, n)| format!("{st} {n}"))
                    .collect();
                let _ = writeln!(
                    out,
                    "rows:          {} stored for this run ({}) — {}",
                    s.rows,
                    states.join(", "),
                    if s.rows == ok {
                        "matches the 200s"
                    } else {
                        "DOES NOT match the 200s"
                    }
                );
            }
            (None, Some(e)) => {
                let _ = writeln!(out, "rows:          not verified: {e}");
            }
            (None, None) => {
                let _ = writeln!(
                    out,
                    "rows:          not verified (no --database, --postgres or --runtime-file)"
                );
            }
        }
        if args.no_workers {
            let _ = writeln!(
                out,
                "dispatch:      not running (--no-workers); every row stays queued"
            );
        } else if let Some((q0, q1, d, st)) = &drain {
            let states: Vec<String> = st.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let _ = writeln!(
                out,
                "dispatch:      {q0} queued right after the run, {q1} after {:.1}s ({})",
                d.as_secs_f64(),
                states.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "target:        ≥{TARGET_RPS:.0} persisted/s with p99 < {} ms: {}",
            TARGET_P99.as_millis(),
            if met { "MET" } else { "NOT MET" }
        );
        print!("{out}");
    }
    Ok(met)
}

/// `--wrk-plan`: signs the requests for the external target and writes them for `wrk`.
fn write_wrk_plan(args: &Args, dir: &std::path::Path) -> Result<bool, String> {
    if args.target.is_empty() && args.runtime_file.is_empty() {
        return Err("--wrk-plan needs --target or --runtime-file".into());
    }
    let target = external_target(args)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let plan = Plan::build(&PlanSpec {
        requests: args.requests,
        senders: args.senders,
        signed_url: target.signed_url.clone(),
        path: target.path.clone(),
        host: target.host.clone(),
        account_sid: target.account_sid.clone(),
        auth_token: target.auth_token.clone(),
        threads: cpus,
    })?;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    plan.write_wrk(dir)
        .map_err(|e| format!("writing the plan into {}: {e}", dir.display()))?;
    let (low, high) = plan.sid_range();
    if args.json {
        println!(
            "{}",
            json!({ "requests": plan.len(), "run_id": plan.run_id, "sid_low": low, "sid_high": high, "request_bytes": plan.request_bytes() })
        );
    } else {
        eprintln!(
            "{} requests of {} bytes for {} written to {} (run id {})",
            plan.len(),
            plan.request_bytes(),
            target.signed_url,
            dir.display(),
            plan.run_id
        );
    }
    Ok(true)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = if args.provider == "telnyx" && !args.voice && !args.realtime {
        Err("--provider telnyx goes with --voice or --realtime".into())
    } else if args.realtime {
        realtime::run(args)
    } else if args.voice && args.provider == "telnyx" {
        if !args.target.is_empty()
            || !args.runtime_file.is_empty()
            || args.config.is_some()
            || args.postgres.is_some()
        {
            Err("--provider telnyx starts its own gateway in this process (its API must be loadgen's mock): drop --target, --runtime-file, --config and --postgres".into())
        } else {
            telnyx_voice::run(args)
        }
    } else if args.voice {
        voice::run(args)
    } else if let Some(dir) = &args.wrk_plan {
        write_wrk_plan(&args, dir)
    } else {
        run(args)
    };
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
