//! Outbound throughput through the durable outbox (issue 23): how many sends per second
//! the gateway carries from `Gateway::send` to the provider's API, with rate limits
//! effectively off, against the Twilio simulator over loopback HTTP.
//!
//! The gateway runs in this process as `telephony serve --sandbox` runs it (a fresh
//! temporary `dataDir`, SQLite, the built-in simulator, the outbox worker and its status
//! callbacks), with `rateLimits.default` raised to 1,000,000/s. `--senders` tasks queue
//! `--messages` texts to `--recipients` distinct numbers (each send commits to the outbox
//! before it returns); the clock stops when the simulator has received every one. Printed:
//! queued/s (the `send` calls), sent/s (queued → accepted by the provider's API), and the
//! outbox wait (queued → first send attempt) from the gateway's own
//! `telephony_outbox_wait_seconds` histogram: the bucket bounds that hold the median and
//! the 99th percentile.
//!
//! ```sh
//! cargo run --release -p telephony-benches --bin outbound -- --messages 20000 [--json]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use telephony::config::Config;
use telephony::server::{self, ServeOptions};

/// The config: the sandbox's defaults with outbound rate limits out of the way.
const CONFIG: &str = r#"{
  rateLimits: { default: { perSecond: 1000000, burst: 100000 } },
}"#;

#[derive(Parser, Debug)]
#[command(about = "Outbound sends/s through the outbox against the Twilio simulator")]
struct Args {
    /// Messages to send (after a warm-up of 200).
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Concurrent tasks calling `Gateway::send`.
    #[arg(long, default_value_t = 64)]
    senders: usize,
    /// Distinct recipients (the outbox keeps each recipient's messages in order).
    #[arg(long, default_value_t = 1000)]
    recipients: usize,
    /// Give up waiting for the simulator after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn recipient(i: usize, recipients: usize) -> String {
    format!("+1555{:07}", 2_000_000 + i % recipients)
}

/// The upper bound (seconds) of the histogram bucket holding quantile `q`, from the
/// Prometheus text of `family` (all label sets summed); `None` without observations.
fn bucket_quantile(text: &str, family: &str, q: f64) -> Option<(f64, u64)> {
    let prefix = format!("{family}_bucket{{");
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let le = line.split("le=\"").nth(1)?.split('"').next()?;
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        let count: u64 = line.rsplit(' ').next()?.parse().ok()?;
        match buckets.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, c)) => *c += count,
            None => buckets.push((bound, count)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil() as u64;
    buckets
        .iter()
        .find(|(_, c)| *c >= rank)
        .map(|(b, _)| (*b, total))
}

async fn wait_for(
    sim: &telephony_twilio_simulator::Simulator,
    n: usize,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if sim.message_count() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn run(args: Args) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mut config = Config::from_json5_str(CONFIG)
        .map_err(|e| format!("config: {}", telephony_core::error_chain(&e)))?;
    config.serve.bind = "127.0.0.1".into();
    config.serve.port = 0;
    config.admin.bind = "127.0.0.1".into();
    config.admin.port = 0;
    config.data_dir = Some(PathBuf::from(dir.path()));
    config.store.path = None;
    let running = server::start(
        &config,
        ServeOptions {
            sandbox: true,
            handler: None,
        },
    )
    .await
    .map_err(|e| format!("starting the gateway: {}", telephony_core::error_chain(&e)))?;
    let sim = running
        .simulator
        .as_ref()
        .and_then(|s| s.twilio())
        .ok_or("the sandbox did not start the Twilio simulator")?
        .clone();
    let gateway = running.gateway.clone();
    let timeout = Duration::from_secs(args.timeout_secs);

    // Warm-up: connections, statements, the worker's first batches.
    const WARM: usize = 200;
    for i in 0..WARM {
        gateway
            .send(&recipient(i, args.recipients), format!("warm-up {i}"))
            .await
            .map_err(|e| format!("warm-up send: {e}"))?;
    }
    if !wait_for(&sim, WARM, timeout).await {
        return Err("the warm-up sends never all reached the simulator".into());
    }
    let wait_before = gateway.metrics().render(&[]);
    let before =
        bucket_quantile(&wait_before, "telephony_outbox_wait_seconds", 1.0).map_or(0, |(_, n)| n);

    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.senders {
        let gateway = gateway.clone();
        let next = next.clone();
        let (messages, recipients) = (args.messages, args.recipients);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= messages {
                    return Ok::<(), String>(());
                }
                gateway
                    .send(&recipient(i, recipients), format!("load {i}"))
                    .await
                    .map_err(|e| format!("send {i}: {e}"))?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("sender task: {e}"))??;
    }
    let queued_secs = started.elapsed().as_secs_f64();
    if !wait_for(&sim, WARM + args.messages, timeout).await {
        return Err(format!(
            "only {} of {} sends reached the simulator in {} s",
            sim.message_count() - WARM,
            args.messages,
            args.timeout_secs
        ));
    }
    let sent_secs = started.elapsed().as_secs_f64();
    let text = gateway.metrics().render(&[]);
    let p50 = bucket_quantile(&text, "telephony_outbox_wait_seconds", 0.5);
    let p99 = bucket_quantile(&text, "telephony_outbox_wait_seconds", 0.99);
    let observed = p50.map_or(0, |(_, n)| n) - before;
    running.shutdown().await;
    Ok(json!({
        "messages": args.messages,
        "senders": args.senders,
        "recipients": args.recipients,
        "queuedPerSec": args.messages as f64 / queued_secs,
        "sentPerSec": args.messages as f64 / sent_secs,
        "queuedSecs": queued_secs,
        "sentSecs": sent_secs,
        "outboxWaitObserved": observed,
        "outboxWaitP50LeSecs": p50.map(|(b, _)| b),
        "outboxWaitP99LeSecs": p99.map(|(b, _)| b),
        "note": "outbox wait quantiles are histogram bucket upper bounds over the whole run (warm-up included)",
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let json_out = args.json;
    match run(args).await {
        Ok(v) if json_out => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Ok(v) => {
            println!(
                "{} messages, {} senders, {} recipients: queued {:.0}/s ({:.2} s), sent {:.0}/s ({:.2} s); outbox wait p50 ≤ {} s, p99 ≤ {} s",
                v["messages"],
                v["senders"],
                v["recipients"],
                v["queuedPerSec"].as_f64().unwrap_or_default(),
                v["queuedSecs"].as_f64().unwrap_or_default(),
                v["sentPerSec"].as_f64().unwrap_or_default(),
                v["sentSecs"].as_f64().unwrap_or_default(),
                v["outboxWaitP50LeSecs"],
                v["outboxWaitP99LeSecs"],
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("outbound: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bucket_quantile;

    #[test]
    fn quantiles_come_from_the_cumulative_buckets_of_every_label_set() {
        let text = "\
# TYPE telephony_outbox_wait_seconds histogram
telephony_outbox_wait_seconds_bucket{account=\"a\",le=\"0.001\"} 50
telephony_outbox_wait_seconds_bucket{account=\"a\",le=\"0.01\"} 90
telephony_outbox_wait_seconds_bucket{account=\"a\",le=\"+Inf\"} 100
telephony_outbox_wait_seconds_bucket{account=\"b\",le=\"0.001\"} 0
telephony_outbox_wait_seconds_bucket{account=\"b\",le=\"0.01\"} 0
telephony_outbox_wait_seconds_bucket{account=\"b\",le=\"+Inf\"} 100
";
        // 200 observations: 50 ≤ 1 ms, 90 ≤ 10 ms, all ≤ +Inf.
        assert_eq!(
            bucket_quantile(text, "telephony_outbox_wait_seconds", 0.25),
            Some((0.001, 200))
        );
        assert_eq!(
            bucket_quantile(text, "telephony_outbox_wait_seconds", 0.45),
            Some((0.01, 200))
        );
        assert_eq!(
            bucket_quantile(text, "telephony_outbox_wait_seconds", 0.5),
            Some((f64::INFINITY, 200))
        );
        assert_eq!(bucket_quantile(text, "other", 0.5), None);
    }
}
