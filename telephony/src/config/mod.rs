//! Gateway configuration: the JSON5 shape of the seed guide's "Full Configuration Example",
//! the same keys in TOML, and environment variables.
//!
//! Sources, later ones winning: the config file (`.json5`/`.json` or `.toml`; an optional
//! `channels.telephony` wrapper), then `TWILIO_*` / `NGROK_AUTHTOKEN` variables, then
//! `TELEPHONY_*` overrides (`TELEPHONY_SERVE__PORT=4000` sets `serve.port`; `__` separates
//! levels and `SNAKE_CASE` maps to `camelCase`). Unknown keys and bad values are errors that
//! name the key and the file.
//!
//! ```
//! use telephony::config::Config;
//! let cfg = Config::from_json5_str(r#"{
//!     channels: { telephony: {
//!         fromNumber: "+15550001234",
//!         twilio: { accountSid: "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", authToken: "secret" },
//!         serve: { port: 3335, bind: "127.0.0.1" },
//!     } },
//! }"#)?;
//! assert_eq!(cfg.serve.port, 3335);
//! assert_eq!(cfg.from_number.unwrap().as_str(), "+15550001234");
//! # Ok::<(), telephony::config::ConfigError>(())
//! ```
//!
//! | file | what it holds |
//! |---|---|
//! | `schema/` | the settings types and their defaults |
//! | `loading.rs` | files, formats (JSON5, TOML) and figment: [`Config::load`] |
//! | `environment.rs` | `TWILIO_*`, `TELNYX_*`, `NGROK_AUTHTOKEN` and `TELEPHONY_*` variables |
//! | [`dialects`] | the seed dialects (`channels.telephony`, `channels.sms`, `channels."twilio-sms"`) |
//! | [`accounts`] | several accounts served by one gateway |
//! | `validation/` | [`Config::validate`]: the rules that span keys, by concern |
//! | `views.rs`, `inactive_keys.rs` | what the server and the CLI read off a loaded config |
//! | `migration.rs` | `config migrate`: a dialect's config as native JSON5 or TOML |
//! | `rate_limits.rs` | `rateLimits.*` turned into the gateway's limiters |
//! | `store.rs` | [`StoreBackend`]: SQLite or PostgreSQL (`store.url`), a schema per account |
//! | `retention.rs` | `store.retention` turned into a [`RetentionPolicy`](telephony_core::store::RetentionPolicy) |
//! | [`secret_ref`] | SecretRefs (`{ source: "env", … }`) in place of secret values |

pub mod accounts;
pub mod dialects;
mod environment;
mod error;
mod inactive_keys;
mod loading;
mod migration;
mod rate_limits;
mod retention;
mod schema;
pub mod secret_ref;
mod store;
mod validation;
mod views;

pub use dialects::{Dialect, DialectReport};
pub use environment::{ENV_KEYS, NON_CONFIG_VARS, SEND_LEASE_VAR};
pub use error::ConfigError;
pub use inactive_keys::InactiveKey;
pub use loading::{ConfigSources, Json5, config_file};
pub use schema::{
    AdminSection, AdminTlsSection, ChunkModeName, Config, ForwardSection, OutboundPolicySection,
    PairingSection, ProviderKind, RateLimitsSection, RateSpec, RetentionSection, ServeSection,
    SmsSection, StoreSection, TUNNEL_PROVIDERS, TelnyxSection, TunnelSection, TwilioSection,
    VoiceSection, WebhookSecurity,
};
pub use secret_ref::SecretRef;
pub use store::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SCHEMA, DEFAULT_STATEMENT_TIMEOUT_MS, PostgresSettings,
    StoreBackend, default_schema,
};
pub use telephony_core::policy::InboundPolicy;
