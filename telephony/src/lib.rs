//! The telephony gateway with everything wired: configuration, providers, stores, tunnels
//! and the standalone server that `telephony serve` runs. Most programs need only this
//! crate.
//!
//! Receive an SMS and answer it:
//!
//! ```no_run
//! use telephony::prelude::*;
//!
//! fn main() -> Result<(), Error> {
//!     Server::from_env()?
//!         .on_message(|msg, reply| async move {
//!             reply.send(format!("You said: {}", msg.body)).await?;
//!             Ok(())
//!         })
//!         .run()
//! }
//! ```
//!
//! [`Server::from_env`] reads what `telephony serve` reads (the file named by
//! `TELEPHONY_CONFIG`, else `./telephony.json5` or `./telephony.toml`, then `TWILIO_*`,
//! `TELNYX_*` and `TELEPHONY_*` variables) and refuses to start without provider
//! credentials; [`Server::sandbox`] runs the same program against the built-in simulator.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | [`prelude`], [`Server`] | the shortest way to a running gateway |
//! | [`config`] | the configuration: schema, loading, environment, validation, the seed dialects, accounts, migration |
//! | [`providers`] | the one place that builds a provider (or its sandbox simulator) and a store from the configuration |
//! | [`server`] | [`start`]: bind → tunnel → build → serve, one file per step; [`RunningGateway`] and its shutdown |
//! | [`listener`] | the public listener's own accept loop (timeouts, caps) |
//! | [`tunnel`] | `tunnel.*` turned into a running ngrok, Tailscale or static tunnel |
//! | [`runtime`], [`lock`] | the runtime file the CLI reads, and the data directory's lock |
//! | [`probe`] | `telephony status --probe`: the public URL checked from outside |
//!
//! The gateway itself (routes, workers, policies) is `telephony-serve`, which depends on
//! no provider and no database: embed it in your own axum app with any
//! [`Provider`](telephony_core::Provider) and store.
//!
//! | provider | `provider` value | cargo feature | sandbox simulator |
//! |---|---|---|---|
//! | Twilio | `"twilio"` (default) | always | `telephony-twilio-simulator` |
//! | Telnyx | `"telnyx"` | `telnyx` (default) | `telephony-telnyx-simulator` |
//!
//! From a config file, with the running gateway in hand:
//!
//! ```no_run
//! use telephony::config::Config;
//! use telephony::{start, ServeOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (config, _sources) = Config::load(Some(std::path::Path::new("telephony.json5")))?;
//! let running = start(&config, ServeOptions::default()).await?;
//! println!("webhook URL: {}", running.runtime.webhook_url);
//! running.shutdown().await;
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

pub use run::{Error, Server, prelude};
pub use server::{RunningGateway, ServeError, ServeOptions, start};

#[cfg(test)]
mod tests {
    /// The README's library quick start is this crate's first example, which rustdoc
    /// compiles: the two cannot drift apart.
    #[test]
    fn the_readme_quick_start_is_the_crate_example() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("## Library quick start").expect("section")..];
        let start = section.find("```rust\n").expect("code block") + "```rust\n".len();
        let end = start + section[start..].find("```").expect("end of code block");
        let snippet = section[start..end].trim_end();
        let docs: Vec<&str> = include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect();
        assert!(
            docs.join("\n").contains(snippet),
            "README's quick start differs from the crate docs' first example:\n{snippet}"
        );
        assert!(snippet.starts_with("use telephony::prelude::*;\n"));
    }
}
