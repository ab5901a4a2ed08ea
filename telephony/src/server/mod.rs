//! Runs the gateway from a [`Config`], in this order: lock the data directory (one gateway
//! per directory), bind the public and admin listeners (with the fail-closed checks), build
//! the configured provider (or start its simulator in sandbox mode) and open the store,
//! start the tunnel forwarding to the public listener, build the gateway with the tunnel's
//! URL as its public URL, write the runtime file for the CLI, point the number at the
//! gateway (`twilio.autoConfigureWebhooks`), and serve.
//!
//! [`RunningGateway::shutdown`] undoes it within `serve.shutdownGraceMs`: stop accepting,
//! let requests in progress finish, stop the workers (sends already started finish,
//! claimed ones not started go back to the outbox), close the tunnel (Funnel mounts off),
//! remove the runtime file, release the lock. A start that fails after the tunnel started
//! closes it before returning the error.
//!
//! [`start`] reads as its steps, one file each: `bind.rs` (addresses, the fail-closed
//! checks of `security.rs`, the data directory's lock, both listeners), `build.rs` (per
//! account: provider and store, then the gateway), `tunnel.rs` (the public URL),
//! `numbers.rs` (pointing the numbers at the gateway), `serve.rs` (listeners and workers
//! running); `running.rs` holds the started gateway and its shutdown.

use std::sync::Arc;
use std::time::Duration;

use telephony_serve::MessageHandler;

use crate::config::Config;
use crate::runtime::{self, RuntimeInfo};

mod admin_listener;
mod bind;
mod build;
mod error;
mod numbers;
mod running;
mod security;
mod serve;
mod tunnel;

pub use build::apply_policies;
pub use error::ServeError;
pub use running::{RunningGateway, ServedAccount};
pub use security::{admin_access, check_security, is_loopback_bind};

/// Options beyond the config file.
#[derive(Default)]
pub struct ServeOptions {
    /// Run against an in-process simulator of the configured provider with generated
    /// credentials.
    pub sandbox: bool,
    /// The application's handler (none: messages wait in the inbox, read with `telephony inbox`).
    pub handler: Option<Arc<dyn MessageHandler>>,
}

/// Starts the gateway described by `config`.
///
/// Fails closed: without `publicUrl` or a tunnel, a non-loopback bind is refused (Twilio
/// signs the public URL, and the `Host` header is sender-controlled);
/// `skipSignatureVerification` is refused unless the bind is loopback and no tunnel is
/// configured; an admin listener off loopback needs `admin.token` and `admin.tls` or
/// `admin.allowNetworks`. A data directory another gateway
/// holds, or a port in use, is an error naming the other gateway.
pub async fn start(config: &Config, opts: ServeOptions) -> Result<RunningGateway, ServeError> {
    if !config.enabled {
        return Err(ServeError::Config {
            key: "enabled",
            reason: "the telephony channel is disabled (enabled: false)".into(),
        });
    }
    let bind::Bound {
        listeners,
        lock,
        public_loopback,
    } = bind::bind(config).await?;
    let (public_addr, admin_addr) = (listeners.public_addr, listeners.admin_addr);
    // Providers and stores before the tunnel: ngrok's edge may verify signatures with the
    // default account's token (the simulator's in sandbox mode), and an account that
    // cannot be set up fails before anything is exposed.
    let accounts = build::open_accounts(config, public_loopback, opts.sandbox).await?;
    let tunnel = tunnel::start(config, accounts.default_setup(), public_addr).await?;
    let tunnel_url = tunnel.as_ref().map(|t| t.url().to_string());
    match build_and_serve(config, opts, accounts, listeners, tunnel_url).await {
        Ok(started) => {
            tracing::info!(
                public = %public_addr,
                admin = %admin_addr,
                webhook_url = %started.runtime.webhook_url,
                status_url = %started.runtime.status_url,
                tunnel = tunnel.as_ref().map_or("none", |t| t.name()),
                sandbox = started.runtime.sandbox,
                store = %config.store_backend().describe(),
                "telephony gateway listening"
            );
            Ok(RunningGateway {
                gateway: started.gateway,
                public_addr,
                admin_addr,
                admin_token: started.admin_token,
                admin_token_generated: started.generated,
                runtime: started.runtime,
                simulator: started.simulator,
                accounts: started.accounts,
                tunnel,
                data_dir: config.data_dir(),
                stop: started.stop,
                servers: started.servers,
                workers: started.workers,
                grace: Duration::from_millis(config.serve.shutdown_grace_ms),
                lock,
            })
        }
        Err(e) => {
            if let Some(t) = tunnel {
                if let Err(te) = t.close().await {
                    tracing::error!(error = %te, "after a failed start, could not close the tunnel");
                }
            }
            Err(e)
        }
    }
}

/// Builds every account's gateway on the bound listeners with `tunnel_url` (else each
/// account's `publicUrl`), writes the runtime file, configures the numbers and serves.
async fn build_and_serve(
    config: &Config,
    opts: ServeOptions,
    accounts: build::Accounts,
    listeners: bind::Listeners,
    tunnel_url: Option<String>,
) -> Result<serve::Started, ServeError> {
    let data_dir = config.data_dir();
    let built = build::gateways(
        config,
        &opts,
        accounts,
        (listeners.public_addr, listeners.admin_addr),
        tunnel_url,
    )?;
    write_runtime_file(&data_dir, &built.runtime)?;
    numbers::configure_all(&built, opts.sandbox).await;
    Ok(serve::serve(config, built, listeners))
}

/// Writes the runtime file the CLI reads (`{dataDir}/gateway.json`).
fn write_runtime_file(data_dir: &std::path::Path, info: &RuntimeInfo) -> Result<(), ServeError> {
    runtime::write_private(
        &runtime::runtime_path(data_dir),
        &serde_json::to_vec_pretty(info).expect("runtime info serializes"),
    )
    .map_err(|source| ServeError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })
}
