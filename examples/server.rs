//! The gateway from a config file, as `telephony serve` runs it.
//!
//! ```text
//! cargo run -p telephony-examples --example server -- telephony.json5
//! cargo run -p telephony-examples --example server -- --sandbox
//! ```
//!
//! With `--sandbox` (or no credentials at all) it runs against the built-in Twilio simulator.

use std::path::PathBuf;

use telephony::config::Config;
use telephony::server::{self, ServeOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut sandbox = false;
    let mut file: Option<PathBuf> = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--sandbox" => sandbox = true,
            other => file = Some(PathBuf::from(other)),
        }
    }
    let (config, _sources) = Config::load(file.as_deref())?;
    if !sandbox && !config.missing_credentials().is_empty() {
        eprintln!("no Twilio credentials configured: running in sandbox mode");
        sandbox = true;
    }
    let running = server::start(
        &config,
        ServeOptions {
            sandbox,
            handler: None,
        },
    )
    .await?;
    println!("webhook URL: {}", running.runtime.webhook_url);
    println!("admin API:   http://{}", running.admin_addr);
    println!("Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}
