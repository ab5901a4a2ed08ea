//! The standalone telephony gateway server.
//!
//! Reads the configuration ([`config::Config`]: JSON5 or TOML, environment variables),
//! builds the provider and the store it names ([`providers`], the one place that knows
//! every provider compiled in), starts the gateway's listeners and workers
//! ([`server::start`]), and writes the runtime files the `telephony` CLI reads
//! ([`runtime`]).
//!
//! | provider | `provider` value | cargo feature | sandbox simulator |
//! |---|---|---|---|
//! | Twilio | `"twilio"` (default) | always | yes |
//! | Telnyx | `"telnyx"` | `telnyx` (default) | yes |
//!
//! ```no_run
//! use telephony_server::config::Config;
//! use telephony_server::server::{self, ServeOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (config, _sources) = Config::load(Some(std::path::Path::new("telephony.json5")))?;
//! let running = server::start(&config, ServeOptions::default()).await?;
//! println!("webhook URL: {}", running.runtime.webhook_url);
//! # Ok(()) }
//! ```

pub mod config;
pub mod listener;
pub mod lock;
pub mod probe;
pub mod providers;
pub mod run;
pub mod runtime;
pub mod server;
pub mod tunnel;

pub use run::{prelude, Error, Server};
