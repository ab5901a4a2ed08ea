//! Several accounts served by one gateway: native `accounts` and `defaultAccount`.
//!
//! `accounts: { name: { … } }` holds, per account, any of the config's keys that belong to
//! one account (provider and credentials, number or Messaging Service, sender policy and
//! allowlist, `publicUrl`, webhook, status and stream paths, voice, forwarding, rate limits,
//! `store.*`); each account inherits the top-level keys it does not set. The listeners,
//! their limits, the admin API, the tunnel, `dataDir` and `webhookSecurity` belong to the
//! process and may only be set at the top level.
//!
//! Each account keeps its own store (default `{dataDir}/accounts/{name}/telephony.db`; on
//! PostgreSQL, `store.url`, its own schema, default `telephony_{name}`), so its inbox,
//! receipts, pairing requests and opt-outs are its own. The default account is
//! `defaultAccount`, else the account named `default`, else the first by name.
//!
//! ```
//! use telephony::config::Config;
//! let cfg = Config::from_json5_str(r#"{
//!     twilio: { accountSid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", authToken: "one" },
//!     defaultAccount: "support",
//!     accounts: {
//!         support: { fromNumber: "+15550001111", serve: { path: "/sms/support", statusPath: "/sms/support/status", streamPath: "/sms/support/stream" } },
//!         alerts: {
//!             fromNumber: "+15550002222",
//!             twilio: { accountSid: "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", authToken: "two" },
//!             serve: { path: "/sms/alerts", statusPath: "/sms/alerts/status", streamPath: "/sms/alerts/stream" },
//!         },
//!     },
//! }"#)?;
//! assert_eq!(cfg.account.as_deref(), Some("support"));
//! assert_eq!(cfg.from_number.as_ref().unwrap().as_str(), "+15550001111");
//! let alerts = cfg.account_config("alerts").unwrap();
//! assert_eq!(alerts.twilio.account_sid.as_deref(), Some("ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
//! assert_eq!(alerts.serve.path, "/sms/alerts");
//! # Ok::<(), telephony::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use figment::Figment;
use figment::value::{Dict, Value};

use super::{Config, ConfigError};

/// Keys that belong to the process, never to one account.
const PROCESS_KEYS: &[&str] = &[
    "accounts",
    "defaultAccount",
    "admin",
    "tunnel",
    "dataDir",
    "webhookSecurity",
];

/// `serve.*` keys that belong to the process (the listener and its limits).
const PROCESS_SERVE_KEYS: &[&str] = &[
    "port",
    "bind",
    "headerTimeoutMs",
    "requestTimeoutMs",
    "idleTimeoutMs",
    "maxHeaderBytes",
    "maxConnections",
    "maxInFlight",
    "shutdownGraceMs",
];

/// Whether `name` may name an account: it becomes part of paths and file names.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An account's keys that belong to the process, as `accounts.{name}.{key}`.
fn process_keys_in(name: &str, overlay: &Dict) -> Option<String> {
    for key in overlay.keys() {
        if PROCESS_KEYS.contains(&key.as_str()) {
            return Some(format!("accounts.{name}.{key}"));
        }
    }
    if let Some(Value::Dict(_, serve)) = overlay.get("serve") {
        for key in serve.keys() {
            if PROCESS_SERVE_KEYS.contains(&key.as_str()) {
                return Some(format!("accounts.{name}.serve.{key}"));
            }
        }
    }
    None
}

fn sets_store_path(overlay: &Dict) -> bool {
    sets_store_key(overlay, "path")
}

fn sets_store_key(overlay: &Dict, key: &str) -> bool {
    matches!(overlay.get("store"), Some(Value::Dict(_, s)) if s.contains_key(key))
}

/// Resolves the accounts of `top` (extracted from `fig`) into `top.accounts_resolved`,
/// returning the default account's config (with every account attached), or `top` itself
/// when no accounts are configured.
pub(super) fn resolve(fig: &Figment, mut top: Config) -> Result<Config, ConfigError> {
    let invalid = |msg: String| Err(ConfigError::Invalid(msg));
    if top.accounts.is_empty() {
        if let Some(d) = &top.default_account {
            return invalid(format!(
                "defaultAccount: {d:?} names an account, but accounts is not set"
            ));
        }
        top.validate()?;
        return Ok(top);
    }
    let overlays = std::mem::take(&mut top.accounts);
    for (name, overlay) in &overlays {
        if !valid_name(name) {
            return invalid(format!(
                "accounts.{name:?}: an account name is 1 to 64 letters, digits, '-' or '_' (it is part of paths and file names)"
            ));
        }
        if let Some(key) = process_keys_in(name, overlay) {
            return invalid(format!(
                "{key}: belongs to the whole gateway (its listeners, admin API, tunnel and data directory), not to one account; set it at the top level"
            ));
        }
    }
    if top.store.path.is_some() && overlays.values().any(|o| !sets_store_path(o)) {
        return invalid(
            "store.path: with accounts, each account keeps its own store; set accounts.NAME.store.path per account, or leave it unset ({dataDir}/accounts/NAME/telephony.db)".into(),
        );
    }

    if top.store.schema.is_some() && overlays.values().any(|o| !sets_store_key(o, "schema")) {
        return invalid(
            "store.schema: with accounts, each account keeps its own schema; set accounts.NAME.store.schema per account, or leave it unset (telephony_NAME)".into(),
        );
    }

    let mut resolved: Vec<Config> = Vec::with_capacity(overlays.len());
    for name in overlays.keys() {
        let account_fig = fig
            .clone()
            .merge(fig.clone().focus(&format!("accounts.{name}")));
        let mut c: Config = account_fig
            .extract()
            .map_err(|e| super::error::figment_error_at(e, &["accounts", name]))?;
        c.accounts = BTreeMap::new();
        c.default_account = None;
        c.account = Some(name.clone());
        c.validate().map_err(|e| match e {
            ConfigError::Rule { key, reason } => ConfigError::Rule {
                key: format!("accounts.{name}.{key}"),
                reason,
            },
            other => other,
        })?;
        resolved.push(c);
    }
    let enabled: Vec<&Config> = resolved.iter().filter(|c| c.enabled).collect();

    // Paths and stores: each account's own.
    let mut seen: BTreeMap<String, (String, &str)> = BTreeMap::new();
    for c in &enabled {
        let name = c.account.as_deref().unwrap_or_default();
        let relay = format!("{}/relay", c.serve.stream_path);
        for (key, path) in [
            ("serve.path", c.serve.path.as_str()),
            ("serve.statusPath", c.serve.status_path.as_str()),
            ("serve.streamPath", c.serve.stream_path.as_str()),
            ("serve.streamPath", relay.as_str()),
        ] {
            let who = format!("accounts.{name}.{key}");
            if let Some((other, owner)) = seen.get(path) {
                // Within one account, `validate` has checked its paths.
                if *owner != name {
                    return invalid(format!(
                        "{other} and {who} both use the path {path:?}; give each account its own paths (serve.path, serve.statusPath, serve.streamPath)"
                    ));
                }
            }
            seen.insert(path.to_string(), (who, name));
        }
    }
    // PostgreSQL: each account its own schema in a database (the URL, compared without
    // printing it).
    let mut schemas: BTreeMap<(String, String), String> = BTreeMap::new();
    for c in &enabled {
        let Some(url) = &c.store.url else { continue };
        let name = c.account.clone().unwrap_or_default();
        let schema = c.store_schema();
        let key = (url.expose().to_string(), schema.clone());
        if let Some(other) = schemas.insert(key, name.clone()) {
            return invalid(format!(
                "accounts.{other}.store.schema and accounts.{name}.store.schema are the same schema ({schema:?}) in the same database; each account keeps its own"
            ));
        }
    }
    let mut stores: BTreeMap<PathBuf, String> = BTreeMap::new();
    for c in enabled.iter().filter(|c| c.store.url.is_none()) {
        let name = c.account.clone().unwrap_or_default();
        if let Some(other) = stores.insert(c.database_path(), name.clone()) {
            return invalid(format!(
                "accounts.{other}.store.path and accounts.{name}.store.path are the same file ({}); each account keeps its own store",
                c.database_path().display()
            ));
        }
    }

    let default = match &top.default_account {
        Some(d) => match resolved.iter().find(|c| c.account.as_deref() == Some(d)) {
            None => {
                return invalid(format!(
                    "defaultAccount: {d:?} is not one of the configured accounts ({})",
                    overlays.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            Some(c) if !c.enabled => {
                return invalid(format!(
                    "defaultAccount: {d:?} is disabled (accounts.{d}.enabled: false)"
                ));
            }
            Some(_) => d.clone(),
        },
        None => enabled
            .iter()
            .find(|c| c.account.as_deref() == Some("default"))
            .or(enabled.first())
            .copied()
            .or(resolved.first())
            .and_then(|c| c.account.clone())
            .unwrap_or_default(),
    };
    let idx = resolved
        .iter()
        .position(|c| c.account.as_deref() == Some(default.as_str()))
        .expect("the default account is one of them");
    for c in &mut resolved {
        c.default_account = Some(default.clone());
    }
    let mut main = resolved[idx].clone();
    main.accounts_resolved = resolved;
    Ok(main)
}

/// The store of account `name` when it sets no `store.path`.
pub fn account_store_path(data_dir: &std::path::Path, name: &str) -> PathBuf {
    data_dir.join("accounts").join(name).join("telephony.db")
}

impl Config {
    /// Every account this config serves, the default one included (one config, this one,
    /// when no `accounts` are configured). Disabled accounts are left out.
    ///
    /// The keys that belong to the whole gateway (listeners and their limits, `admin`,
    /// `tunnel`, `dataDir`, `webhookSecurity`) are this config's in every account, so a
    /// program that changes them after loading (a port, the data directory) changes them
    /// for all.
    pub fn served_accounts(&self) -> Vec<Config> {
        if self.accounts_resolved.is_empty() {
            return vec![self.clone()];
        }
        self.accounts_resolved
            .iter()
            .filter(|c| c.enabled)
            .map(|c| self.with_process_keys(c))
            .collect()
    }

    /// `account` with this config's process-wide keys.
    fn with_process_keys(&self, account: &Config) -> Config {
        let mut c = account.clone();
        c.data_dir = self.data_dir.clone();
        c.admin = self.admin.clone();
        c.tunnel = self.tunnel.clone();
        c.webhook_security = self.webhook_security.clone();
        let (s, from) = (&mut c.serve, &self.serve);
        s.port = from.port;
        s.bind = from.bind.clone();
        s.header_timeout_ms = from.header_timeout_ms;
        s.request_timeout_ms = from.request_timeout_ms;
        s.idle_timeout_ms = from.idle_timeout_ms;
        s.max_header_bytes = from.max_header_bytes;
        s.max_connections = from.max_connections;
        s.max_in_flight = from.max_in_flight;
        s.shutdown_grace_ms = from.shutdown_grace_ms;
        c
    }

    /// Every configured account's name (empty when no `accounts` are configured).
    pub fn account_names(&self) -> Vec<String> {
        self.accounts_resolved
            .iter()
            .filter_map(|c| c.account.clone())
            .collect()
    }

    /// The config of account `name`, with this config's accounts attached (so it can be
    /// asked for another), or an error listing the accounts there are.
    pub fn account_config(&self, name: &str) -> Result<Config, ConfigError> {
        match self
            .accounts_resolved
            .iter()
            .find(|c| c.account.as_deref() == Some(name))
        {
            Some(c) => {
                let mut c = self.with_process_keys(c);
                c.accounts_resolved = self.accounts_resolved.clone();
                Ok(c)
            }
            None if self.accounts_resolved.is_empty() => Err(ConfigError::Invalid(format!(
                "--account {name:?}: this config has no accounts"
            ))),
            None => Err(ConfigError::Invalid(format!(
                "--account {name:?}: no such account; the accounts are {}",
                self.account_names().join(", ")
            ))),
        }
    }

    /// Sets the provider of this config and of every account (`telephony serve
    /// --provider`), checking each again.
    pub fn override_provider(&mut self, provider: super::ProviderKind) -> Result<(), ConfigError> {
        self.provider = provider;
        self.validate()?;
        for c in &mut self.accounts_resolved {
            c.provider = provider;
            c.validate()?;
        }
        Ok(())
    }

    /// Uses `dir` as the data directory (of every account) unless `dataDir` is set:
    /// `telephony serve --sandbox --provider telnyx` keeps its data apart from the Twilio
    /// sandbox's this way.
    ///
    /// ```
    /// let mut config = telephony::config::Config::from_json5_str("{}").unwrap();
    /// config.default_data_dir_to("telephony-data-telnyx".into());
    /// assert_eq!(config.data_dir(), std::path::Path::new("telephony-data-telnyx"));
    /// let mut set = telephony::config::Config::from_json5_str("{ dataDir: 'mine' }").unwrap();
    /// set.default_data_dir_to("telephony-data-telnyx".into());
    /// assert_eq!(set.data_dir(), std::path::Path::new("mine"));
    /// ```
    pub fn default_data_dir_to(&mut self, dir: std::path::PathBuf) {
        if self.data_dir.is_some() {
            return;
        }
        self.data_dir = Some(dir.clone());
        for c in &mut self.accounts_resolved {
            c.data_dir = Some(dir.clone());
        }
    }

    /// Turns voice on (`voice.enabled: true`) for every account, as `telephony serve
    /// --voice` does, and validates the result (a voice mode's own keys, say).
    ///
    /// ```
    /// let mut config = telephony::config::Config::from_json5_str("{}").unwrap();
    /// assert!(!config.voice.enabled.unwrap_or(false));
    /// config.enable_voice().unwrap();
    /// assert_eq!(config.voice.enabled, Some(true));
    /// ```
    pub fn enable_voice(&mut self) -> Result<(), ConfigError> {
        self.voice.enabled = Some(true);
        self.validate()?;
        for c in &mut self.accounts_resolved {
            c.voice.enabled = Some(true);
            c.validate()?;
        }
        Ok(())
    }

    /// Whether this config is the default account's (always true without accounts).
    pub fn is_default_account(&self) -> bool {
        self.account.is_none() || self.account == self.default_account
    }
}
