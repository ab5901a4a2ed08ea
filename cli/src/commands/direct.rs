//! Acting without a running gateway: the configured store, and a gateway over it and the
//! configured credentials.

use std::sync::Arc;

use telephony::config::Config;
use telephony::providers;
use telephony::server;
use telephony_core::Store;
use telephony_serve::Gateway;

use crate::context::CliError;

/// A gateway over the configured store and credentials, for commands that run without a
/// gateway process (its outbox is durable: what it queues is sent now or on the next start).
pub(super) async fn direct_gateway(config: &Config) -> Result<Gateway, CliError> {
    let missing = config.missing_credentials();
    if !missing.is_empty() {
        return Err(CliError::config(format!(
            "no gateway is running and acting directly needs {}",
            missing.join(", ")
        )));
    }
    let provider = providers::provider(config).map_err(|e| {
        if e.is_config() {
            CliError::config(telephony_core::error_chain(&e))
        } else {
            CliError::failure(telephony_core::error_chain(&e))
        }
    })?;
    let store = open_store(config).await?;
    let mut b = Gateway::builder(provider, store);
    if let Some(u) = &config.public_url {
        b = b
            .public_url(u.clone())
            .status_path(config.serve.status_path.clone());
    }
    Ok(server::apply_policies(b, config).build())
}

pub(super) async fn open_store(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    providers::open_store(config)
        .await
        .map_err(|e| CliError::failure(telephony_core::error_chain(&e)))
}
