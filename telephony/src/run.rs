//! The shortest way to a running gateway: the configuration from the environment, your
//! handler, and the listeners, in one chain.
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
//! [`Server::from_env`] reads what `telephony serve` reads: the file named by
//! `TELEPHONY_CONFIG` (else `./telephony.json5` or `./telephony.toml` when present), then the
//! environment (`TWILIO_ACCOUNT_SID`,
//! `TWILIO_AUTH_TOKEN`, `TWILIO_PHONE_NUMBER`, `TELEPHONY_PUBLIC_URL`, …). Missing
//! credentials are an error naming them: nothing falls back to a simulator unless you ask
//! for it with [`Server::sandbox`].

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use telephony_core::InboundMessage;
use telephony_serve::{HandlerError, MessageHandler, Replier};

use crate::config::{Config, ConfigError, config_file};
use crate::server::{self, RunningGateway, ServeError, ServeOptions};

/// Why [`Server`] could not be configured or started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration could not be read, or a key is unknown or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Provider credentials are missing (and this is not a sandbox).
    #[error("missing provider credentials: {}; set them, or use Server::sandbox() to run against the built-in simulator", .0.join(", "))]
    MissingCredentials(Vec<&'static str>),
    /// The gateway did not start (a port in use, an unsafe setting, the store, the tunnel).
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The async runtime of [`Server::run`] could not be built, or waiting for Ctrl-C failed.
    #[error("{0}")]
    Runtime(#[source] std::io::Error),
}

/// A gateway server to start: configuration, sandbox or not, and your message handler.
///
/// Build it with [`from_env`](Self::from_env), [`sandbox`](Self::sandbox) or
/// [`from_config`](Self::from_config); add a handler; then [`run`](Self::run) (blocking,
/// its own runtime), [`serve`](Self::serve) (async, until Ctrl-C) or
/// [`start`](Self::start) (async, returns the running gateway).
pub struct Server {
    config: Config,
    sandbox: bool,
    handler: Option<Arc<dyn MessageHandler>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("provider", &self.config.provider)
            .field("sandbox", &self.sandbox)
            .field("handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// The configuration `telephony serve` would use: the file named by `TELEPHONY_CONFIG`
    /// (else `./telephony.json5` or `./telephony.toml` when present) and the environment.
    /// Missing provider credentials are an error.
    pub fn from_env() -> Result<Server, Error> {
        let server = Self::load_env()?;
        let missing = server.config.missing_credentials();
        if !missing.is_empty() {
            return Err(Error::MissingCredentials(missing));
        }
        Ok(server)
    }

    /// Like [`from_env`](Self::from_env), but against an in-process simulator of the
    /// configured provider with generated credentials (what `telephony serve --sandbox`
    /// runs): for trying things out and for tests. Without `dataDir`, a Telnyx sandbox
    /// keeps its data in `./telephony-data-telnyx`, as the command does
    /// ([`providers::sandbox_data_dir`](crate::providers::sandbox_data_dir)).
    pub fn sandbox() -> Result<Server, Error> {
        let mut server = Self::load_env()?;
        server.sandbox = true;
        let dir = crate::providers::sandbox_data_dir(server.config.provider);
        server.config.default_data_dir_to(dir.into());
        Ok(server)
    }

    /// A server for a configuration you loaded or built yourself ([`Config::load`]).
    pub fn from_config(config: Config) -> Server {
        Server {
            config,
            sandbox: false,
            handler: None,
        }
    }

    fn load_env() -> Result<Server, Error> {
        let explicit = std::env::var_os("TELEPHONY_CONFIG").map(PathBuf::from);
        let (config, _sources) = Config::load(config_file(explicit.as_deref()).as_deref())?;
        Ok(Server::from_config(config))
    }

    /// Calls `f` for each accepted inbound message, one ordered lane per sender; `reply`
    /// answers the sender through the durable outbox. An error is recorded on the inbox
    /// entry.
    pub fn on_message<F, Fut>(self, f: F) -> Server
    where
        F: Fn(InboundMessage, Replier) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.handler(f)
    }

    /// Sets the message handler (a [`MessageHandler`] implementation, for status callbacks
    /// too).
    pub fn handler(mut self, handler: impl MessageHandler) -> Server {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// Starts the listeners, workers and (if configured) the tunnel, and returns the running
    /// gateway; [`RunningGateway::shutdown`] stops it.
    pub async fn start(self) -> Result<RunningGateway, Error> {
        let opts = ServeOptions {
            sandbox: self.sandbox,
            handler: self.handler,
        };
        Ok(server::start(&self.config, opts).await?)
    }

    /// Starts, then serves until Ctrl-C (SIGINT), then shuts down gracefully.
    pub async fn serve(self) -> Result<(), Error> {
        let running = self.start().await?;
        tracing::info!(
            webhook_url = %running.runtime.webhook_url,
            admin = %running.admin_addr,
            "gateway running; Ctrl-C to stop"
        );
        let waited = tokio::signal::ctrl_c().await;
        running.shutdown().await;
        waited.map_err(Error::Runtime)
    }

    /// [`serve`](Self::serve) on a multi-threaded tokio runtime of its own, blocking the
    /// calling thread: for a plain `fn main`.
    pub fn run(self) -> Result<(), Error> {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?
            .block_on(self.serve())
    }
}

/// The names a program needs to receive and answer messages: `use telephony::prelude::*;`.
pub mod prelude {
    pub use super::{Error, Server};
    pub use telephony_core::{InboundMessage, Receipt};
    pub use telephony_serve::{Gateway, HandlerError, MessageHandler, Replier};
}
