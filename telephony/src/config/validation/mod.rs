//! [`Config::validate`]: the rules that span keys, one file per concern. The checks run in
//! a fixed order and the first broken rule is the error, naming its key.

use super::rate_limits::invalid_requests_quota;
use super::{Config, ConfigError};

mod listener;
mod messaging;
mod provider;
mod store;
mod tunnel;
mod voice;
mod webhook_security;

pub(super) use provider::is_sid;

impl Config {
    /// Checks rules that span keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        listener::check_paths(self)?;
        listener::check_limits(&self.serve)?;
        invalid_requests_quota(&self.rate_limits)?;
        webhook_security::check_trusted_proxies(self)?;
        self.rate_limits.to_rate_limits()?;
        listener::check_status_path(self)?;
        webhook_security::check_allowed_hosts(self)?;
        webhook_security::check_public_url(self)?;
        provider::check(self)?;
        messaging::check(self)?;
        voice::check(self)?;
        tunnel::check(self)?;
        listener::check_shutdown_grace(self)?;
        store::check(self)?;
        listener::check_admin_networks(self)?;
        Ok(())
    }
}

/// The broken rule `key`: `reason`.
fn rule(key: &str, reason: String) -> Result<(), ConfigError> {
    Err(ConfigError::Rule {
        key: key.into(),
        reason,
    })
}
