//! The settings types with their defaults: the JSON5 keys (camelCase), one type per
//! section. Loading, validation and derived views live beside this folder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use figment::Figment;
use figment::value::Dict;
use serde::{Deserialize, Serialize};
use telephony_core::policy::InboundPolicy;
use telephony_core::{PhoneNumber, Secret};

mod listeners;
mod messaging;
mod provider;
mod voice;

pub use listeners::{
    AdminSection, AdminTlsSection, ServeSection, TUNNEL_PROVIDERS, TunnelSection, WebhookSecurity,
};
pub use messaging::{
    ChunkModeName, ForwardSection, OutboundPolicySection, PairingSection, RateLimitsSection,
    RateSpec, SmsSection,
};
pub use provider::{ProviderKind, TelnyxSection, TwilioSection};
pub use voice::VoiceSection;

/// `store: { … }`: SQLite (the default: `path`) or PostgreSQL (`url`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreSection {
    /// SQLite database file (default `{dataDir}/telephony.db`).
    pub path: Option<PathBuf>,
    /// A `postgres://user:password@host:port/db?sslmode=…` URL: selects the PostgreSQL
    /// store (also `TELEPHONY_DATABASE_URL`; a SecretRef may stand instead). A secret:
    /// shown only with its password and query values redacted.
    pub url: Option<Secret>,
    /// PostgreSQL: connections in each account's pool (default 10).
    pub max_connections: Option<u32>,
    /// PostgreSQL: longest a statement may run before the server cancels it, in
    /// milliseconds (default 30000; 0 leaves the server's `statement_timeout`).
    pub statement_timeout_ms: Option<u64>,
    /// PostgreSQL: the schema that holds the tables (default `telephony`; with accounts,
    /// `telephony_{account}`), a lowercase SQL identifier.
    pub schema: Option<String>,
    /// How long records are kept (default: forever): one duration for every kind
    /// (`"90d"`), or one per kind (`{ default: "90d", messages: "30d" }`); see
    /// [`Config::retention_policy`].
    pub retention: Option<RetentionSection>,
}

/// `store.retention`: one duration for every kind, or durations per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RetentionSection {
    /// `"90d"`: every kind.
    All(String),
    /// `{ default: "90d", messages: "30d", … }`: per kind, `default` for the kinds not named.
    PerKind(BTreeMap<String, String>),
}

/// The whole gateway configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Whether the channel is on (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Provider: `twilio` (default) or `telnyx`.
    #[serde(default)]
    pub provider: ProviderKind,
    /// Sender number, E.164 (also `TWILIO_PHONE_NUMBER` / `TWILIO_SMS_FROM`).
    pub from_number: Option<PhoneNumber>,
    /// Sender policy (`dmPolicy` is accepted as an alias).
    #[serde(default, alias = "dmPolicy")]
    pub inbound_policy: InboundPolicy,
    /// Numbers allowed to reach the application (E.164; `sms:`/`twilio:` prefixes and
    /// punctuation accepted; `"*"` for `open`).
    #[serde(default)]
    pub allow_from: Vec<String>,
    /// Pairing settings.
    #[serde(default)]
    pub pairing: PairingSection,
    /// Outbound limits.
    #[serde(default)]
    pub outbound_policy: OutboundPolicySection,
    /// Rate limits (outbound per number, inbound per sender, status callbacks, invalid
    /// requests per client IP).
    #[serde(default)]
    pub rate_limits: RateLimitsSection,
    /// Forwarding to a non-Rust application.
    pub forward: Option<ForwardSection>,
    /// Default recipient for automation that omits one.
    pub default_to: Option<String>,
    /// Twilio account.
    #[serde(default)]
    pub twilio: TwilioSection,
    /// Telnyx account.
    #[serde(default)]
    pub telnyx: TelnyxSection,
    /// SMS text shaping.
    #[serde(default)]
    pub sms: SmsSection,
    /// Chunk limit in characters (seed plugin key; default 1530 when chunking applies).
    pub text_chunk_limit: Option<usize>,
    /// Voice.
    #[serde(default)]
    pub voice: VoiceSection,
    /// Public listener.
    #[serde(default)]
    pub serve: ServeSection,
    /// Admin listener.
    #[serde(default)]
    pub admin: AdminSection,
    /// Tunnel.
    pub tunnel: Option<TunnelSection>,
    /// Webhook security.
    #[serde(default)]
    pub webhook_security: WebhookSecurity,
    /// The public base URL Twilio uses (scheme, optional `user:pass@`, host, optional
    /// port, optional path prefix; no query). Signatures are checked against it byte for
    /// byte; a `#fragment` is dropped at load (it is never signed).
    pub public_url: Option<String>,
    /// Skip `X-Twilio-Signature` checks; refused unless the listener is loopback-only and
    /// no tunnel is configured. Counted in `telephony_signature_verification_skipped_total`.
    /// (`dangerouslyDisableSignatureValidation` is accepted as an alias.)
    #[serde(default, alias = "dangerouslyDisableSignatureValidation")]
    pub skip_signature_verification: bool,
    /// Live calls at most (default 50): over it, callers hear a busy message and outbound
    /// calls are refused.
    pub max_concurrent_sessions: Option<u32>,
    /// Directory for the database, admin token and runtime files (default `./telephony-data`).
    pub data_dir: Option<PathBuf>,
    /// Storage.
    #[serde(default)]
    pub store: StoreSection,
    /// Several accounts served at once: per account, overlays of the keys that belong to
    /// one account (see [`accounts`](crate::config::accounts)). Empty once loaded: the resolved
    /// accounts are [`served_accounts`](Self::served_accounts).
    #[serde(default, skip_serializing)]
    pub accounts: BTreeMap<String, Dict>,
    /// The account used when none is named (`defaultAccount`; else the account named
    /// `default`, else the first by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_account: Option<String>,
    /// The account this config is (`None` when no accounts are configured).
    #[serde(skip)]
    pub account: Option<String>,
    /// Every configured account, resolved (empty when no accounts are configured).
    #[serde(skip)]
    pub(crate) accounts_resolved: Vec<Config>,
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Config::from_figment(Figment::new()).expect("empty config is valid")
    }
}
