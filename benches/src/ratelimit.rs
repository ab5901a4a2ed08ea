//! Rate-limit benchmark: the achieved send rate per number against the in-process Twilio
//! simulator, and the memory of a keyed limiter with a million keys.
//!
//! ```text
//! cargo run --release -p telephony-benches --bin ratelimit -- outbound --secs 60
//! cargo run --release -p telephony-benches --bin ratelimit -- memory --keys 1000000
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::{Parser, Subcommand};
use telephony_core::{OutboundMessage, Provider, ProviderError, ProviderReceipt, SendOptions};
use telephony_serve::Gateway;
use telephony_serve::rate_limit::{KeyedLimiter, OutboundLimits, Rate};
use telephony_store::SqliteStore;
use telephony_twilio::{TwilioConfig, TwilioProvider};
use telephony_twilio_simulator::{Simulator, SimulatorConfig};

#[derive(Parser)]
#[command(about = "Rate-limit benchmark")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Three numbers of different kinds, each sent to faster than its rate for the whole
    /// run; reports the achieved rate per number over the measured window.
    Outbound {
        /// Length of the measured window in seconds (after a 5 s warm-up).
        #[arg(long, default_value_t = 60)]
        secs: u64,
    },
    /// Fills a keyed limiter with distinct keys and reports RSS before, after, and after
    /// pruning once the keys' interval has passed.
    Memory {
        /// Distinct keys.
        #[arg(long, default_value_t = 1_000_000)]
        keys: usize,
    },
}

/// (sender key, recipient, configured kind): the sender key decides the limit; the
/// short code's messages go through the simulator from a stand-in number (a Twilio
/// `From` must be E.164 in this client), the limit is the short code's.
const NUMBERS: [(&str, &str, &str); 3] = [
    ("+15005550006", "+15557000001", "long code"),
    ("+18005550100", "+15557000002", "toll-free"),
    ("22395", "+15557000003", "short code"),
];

#[derive(Debug)]
struct ThreeNumbers {
    providers: Vec<TwilioProvider>,
}

impl ThreeNumbers {
    fn index(msg: &OutboundMessage) -> usize {
        NUMBERS
            .iter()
            .position(|(_, to, _)| msg.to.number().as_str() == *to)
            .unwrap_or(0)
    }
}

#[async_trait]
impl Provider for ThreeNumbers {
    async fn send(
        &self,
        msg: &OutboundMessage,
        opts: &SendOptions,
    ) -> Result<ProviderReceipt, ProviderError> {
        self.providers[Self::index(msg)].send(msg, opts).await
    }

    fn sender(&self, msg: &OutboundMessage) -> Option<String> {
        Some(NUMBERS[Self::index(msg)].0.to_string())
    }

    async fn find_sent(
        &self,
        msg: &OutboundMessage,
        since: time::OffsetDateTime,
    ) -> Result<Option<ProviderReceipt>, ProviderError> {
        self.providers[Self::index(msg)].find_sent(msg, since).await
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn outbound(secs: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = Simulator::new(SimulatorConfig::generate());
    let running = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("simulator");
    let c = sim.config();
    let stand_in = ["+15005550006", "+18005550100", "+15005550007"];
    let providers = stand_in
        .iter()
        .map(|from| {
            TwilioProvider::new(
                TwilioConfig::new(c.account_sid.clone(), c.auth_token.clone())
                    .api_base_url(running.url())
                    .from_number(from.parse().expect("number")),
            )
            .expect("provider")
        })
        .collect();
    let store = Arc::new(
        SqliteStore::open(dir.path().join("bench.db"))
            .await
            .expect("store"),
    );
    let gw = Gateway::builder(Arc::new(ThreeNumbers { providers }), store).build();
    let limits = OutboundLimits::default();
    let rates: Vec<Rate> = NUMBERS.iter().map(|(s, _, _)| limits.rate_for(s)).collect();
    let workers = gw.spawn_workers();
    let warmup = Duration::from_secs(5);
    let total = warmup + Duration::from_secs(secs) + Duration::from_secs(2);
    // Producers: each number is sent to at 1.25 × its rate for the whole run, so it always
    // has a backlog (the limiter, not the producer, sets the pace).
    let started = Instant::now();
    let start_utc = time::OffsetDateTime::now_utc();
    let mut producers = Vec::new();
    for (i, (_, to, _)) in NUMBERS.iter().enumerate() {
        let gw = gw.clone();
        let every = rates[i].interval().mul_f64(0.8);
        let to = to.to_string();
        producers.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut n = 0u64;
            while started.elapsed() < total {
                tick.tick().await;
                n += 1;
                gw.send(&to, format!("{n}")).await.expect("send");
            }
            n
        }));
    }
    let mut queued = Vec::new();
    for p in producers {
        queued.push(p.await.expect("producer"));
    }
    workers.shutdown().await;
    let from = start_utc + warmup;
    let until = from + Duration::from_secs(secs);
    println!(
        "window: {secs} s after a {} s warm-up; producers at 1.25 x each rate",
        warmup.as_secs()
    );
    println!(
        "| number | kind | configured | sends in window | achieved/s | difference | shortest gap | longest gap | in order |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, (sender, to, kind)) in NUMBERS.iter().enumerate() {
        let creates: Vec<_> = sim
            .create_requests()
            .into_iter()
            .filter(|r| r.to.as_deref() == Some(*to) && r.http_status == 201)
            .collect();
        let in_window = creates
            .iter()
            .filter(|r| r.at >= from && r.at < until)
            .count();
        let achieved = in_window as f64 / secs as f64;
        // Gaps between successive requests in the window, by the simulator's arrival times.
        let mut times: Vec<_> = creates
            .iter()
            .filter(|r| r.at >= from && r.at < until)
            .map(|r| r.at)
            .collect();
        times.sort();
        let gaps: Vec<f64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_seconds_f64() * 1000.0)
            .collect();
        let shortest = gaps.iter().copied().fold(f64::INFINITY, f64::min);
        let longest = gaps.iter().copied().fold(0.0, f64::max);
        let configured = rates[i].per_second_value();
        let bodies: Vec<u64> = sim
            .messages()
            .into_iter()
            .filter(|m| m.to.as_deref() == Some(*to))
            .filter_map(|m| m.body?.parse().ok())
            .collect();
        let ordered = bodies.windows(2).all(|w| w[0] < w[1]);
        println!(
            "| {sender} | {kind} | {} | {in_window} | {achieved:.3} | {:+.2}% | {shortest:.2} ms | {longest:.2} ms | {ordered} ({} sent of {} queued) |",
            rates[i],
            (achieved / configured - 1.0) * 100.0,
            bodies.len(),
            queued[i]
        );
    }
    running.shutdown().await;
}

async fn memory(keys: usize) {
    let limiter = KeyedLimiter::new(Rate::per_second(1.0).expect("rate"));
    let before = rss_kib();
    let t = Instant::now();
    for i in 0..keys {
        let key = format!(
            "AC00000000000000000000000000000001\n+1{:010}",
            5_550_000_000u64 + i as u64
        );
        let _ = limiter.check(&key);
    }
    let fill = t.elapsed();
    let filled = rss_kib();
    println!(
        "keys: {} (filled in {:.2} s, {:.0} ns per check)",
        limiter.len(),
        fill.as_secs_f64(),
        fill.as_nanos() as f64 / keys as f64
    );
    println!("RSS before: {} KiB", before);
    println!(
        "RSS with {} keys: {} KiB (+{:.1} MiB, {:.1} bytes per key)",
        limiter.len(),
        filled,
        (filled - before) as f64 / 1024.0,
        (filled - before) as f64 * 1024.0 / keys as f64
    );
    // Governor forgets a key once its theoretical arrival time (one interval after its
    // last check) is an interval in the past: two intervals after the last key was filled.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let t = Instant::now();
    limiter.prune();
    let pruned = rss_kib();
    println!(
        "after prune ({:.0} ms): {} keys, RSS {} KiB (+{:.1} MiB over before)",
        t.elapsed().as_secs_f64() * 1000.0,
        limiter.len(),
        pruned,
        pruned.saturating_sub(before) as f64 / 1024.0
    );
}

#[tokio::main]
async fn main() {
    match Args::parse().mode {
        Mode::Outbound { secs } => outbound(secs).await,
        Mode::Memory { keys } => memory(keys).await,
    }
}
