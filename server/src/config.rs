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
//! use telephony_server::config::Config;
//! let cfg = Config::from_json5_str(r#"{
//!     channels: { telephony: {
//!         fromNumber: "+15550001234",
//!         twilio: { accountSid: "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", authToken: "secret" },
//!         serve: { port: 3335, bind: "127.0.0.1" },
//!     } },
//! }"#)?;
//! assert_eq!(cfg.serve.port, 3335);
//! assert_eq!(cfg.from_number.unwrap().as_str(), "+15550001234");
//! # Ok::<(), telephony_server::config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Profile};
use serde::{Deserialize, Serialize};
use telephony_core::{PhoneNumber, Secret};

pub mod accounts;
pub mod dialects;
mod rate_limits;
pub mod secret_ref;

pub use dialects::{Dialect, DialectReport};
pub use secret_ref::SecretRef;

/// JSON5 as a figment [`Format`].
pub struct Json5;

impl Format for Json5 {
    type Error = json5::Error;
    const NAME: &'static str = "JSON5";

    fn from_str<T: serde::de::DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        json5::from_str(string)
    }
}

/// A configuration problem; the message names the key and the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or parsed, or a key is unknown or has a bad value.
    #[error("{0}")]
    Invalid(String),
    /// The configuration is well-formed but not usable (e.g. `open` policy without `"*"`).
    #[error("invalid configuration: {key}: {reason}")]
    Rule {
        /// The key at fault.
        key: String,
        /// Why.
        reason: String,
    },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        figment_error_at(e, &[])
    }
}

/// A figment error whose key paths are under `prefix` (an account's keys were read from
/// `accounts.NAME`).
pub(crate) fn figment_error_at(e: figment::Error, prefix: &[&str]) -> ConfigError {
    // figment's errors name the key path and the source (file or environment).
    let mut parts = Vec::new();
    for mut err in e {
        if !err.path.is_empty() {
            err.path.splice(0..0, prefix.iter().map(|p| p.to_string()));
        }
        let mut s = err.to_string();
        // figment prefixes the profile ("default."), which means nothing to users.
        s = s.replace("for key \"default.", "for key \"");
        parts.push(without_source_lines(&s));
    }
    ConfigError::Invalid(parts.join("; "))
}

/// A parser message without the excerpt of the input it quotes.
///
/// The JSON5 (pest) and TOML parsers print the offending line under a `N | …` gutter;
/// that line may hold a secret (`authToken = "…" oops`), so only the position and the
/// explanation are kept: ` --> 2:34`, `= expected …`, `TOML parse error at line 2, …`.
fn without_source_lines(message: &str) -> String {
    let is_excerpt = |line: &str| {
        let t = line.trim_start();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        // `  |`, `2 | authToken = …`, `  |     ^---`
        t[digits..].trim_start().starts_with('|')
    };
    let kept: Vec<&str> = message
        .lines()
        .filter(|l| !is_excerpt(l))
        .map(|l| l.trim_start().trim_start_matches("= "))
        .filter(|l| !l.trim().is_empty())
        .collect();
    kept.join(" ")
}

/// Which provider sends and receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Twilio.
    #[default]
    Twilio,
    /// Telnyx (cargo feature `telnyx`, on by default).
    Telnyx,
}

impl ProviderKind {
    /// What one message may carry with this provider.
    pub fn limits(self) -> telephony_core::ProviderLimits {
        match self {
            ProviderKind::Twilio => telephony_twilio::client::LIMITS,
            #[cfg(feature = "telnyx")]
            ProviderKind::Telnyx => telephony_telnyx::LIMITS,
            // Not compiled in: building the provider fails with an error that says so.
            #[cfg(not(feature = "telnyx"))]
            ProviderKind::Telnyx => telephony_core::ProviderLimits::UNLIMITED,
        }
    }

    /// True when this binary was built with the provider.
    pub fn is_compiled_in(self) -> bool {
        match self {
            ProviderKind::Twilio => true,
            ProviderKind::Telnyx => cfg!(feature = "telnyx"),
        }
    }

    /// Every provider this binary was built with, as written in config.
    pub fn compiled_in() -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|p| p.is_compiled_in())
            .map(ProviderKind::as_str)
            .collect()
    }

    /// Every provider this crate knows, compiled in or not.
    const ALL: [ProviderKind; 2] = [ProviderKind::Twilio, ProviderKind::Telnyx];

    /// The provider named `name` as written in config (compiled in or not: `validate`
    /// names the missing cargo feature); the error names the compiled-in ones.
    fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown provider {name:?}; compiled-in providers: {}",
                    ProviderKind::compiled_in().join(", ")
                )
            })
    }

    /// The provider's name for people ("Twilio").
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::Twilio => "Twilio",
            ProviderKind::Telnyx => "Telnyx",
        }
    }

    /// The provider's name as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Twilio => "twilio",
            ProviderKind::Telnyx => "telnyx",
        }
    }
}

/// Any provider this crate knows (one not compiled in is refused by [`Config::validate`],
/// which names the cargo feature); an unknown name is an error naming the compiled-in
/// providers.
impl<'de> Deserialize<'de> for ProviderKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ProviderKind::from_name(&s).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;

    /// Parses a provider name as written in config; the error names the providers
    /// compiled in.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = ProviderKind::from_name(s)?;
        if !kind.is_compiled_in() {
            return Err(format!(
                "provider {s:?} is not compiled into this binary; compiled-in providers: {}",
                ProviderKind::compiled_in().join(", ")
            ));
        }
        Ok(kind)
    }
}

pub use telephony_core::policy::InboundPolicy;

/// `telnyx: { … }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TelnyxSection {
    /// API key (`KEY…`), sent as `Authorization: Bearer …`.
    pub api_key: Option<Secret>,
    /// The account's webhook public key (base64 of 32 bytes, from the portal's "Keys &
    /// Credentials" → "Public Key"); webhooks are verified with it. Redacted in `Debug`
    /// and `config check` like the credentials.
    pub public_key: Option<Secret>,
    /// Messaging profile id; stands in for `fromNumber` (Telnyx picks a number from the
    /// profile), and is sent along with it when both are set.
    pub messaging_profile_id: Option<String>,
    /// REST API base URL (default `https://api.telnyx.com`).
    pub api_base_url: Option<String>,
    /// On start, point the number's messaging profile at the gateway: its `webhook_url`
    /// (and `webhook_api_version` "2"); voice (a Call Control Application) is left alone
    /// (default false; the sandbox always does it on its simulator).
    pub auto_configure_webhooks: Option<bool>,
}

/// `twilio: { … }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TwilioSection {
    /// `AC…`.
    pub account_sid: Option<String>,
    /// The account's Auth Token.
    pub auth_token: Option<Secret>,
    /// `MG…`; wins over `fromNumber` when both are set.
    pub messaging_service_sid: Option<String>,
    /// API key SID (`SK…`) for REST calls instead of the Auth Token.
    pub api_key_sid: Option<String>,
    /// API key secret.
    pub api_key_secret: Option<Secret>,
    /// REST API base URL (default `https://api.twilio.com`).
    pub api_base_url: Option<String>,
    /// On start, point the number (or the Messaging Service) at the gateway's URLs:
    /// `SmsUrl`/`SmsMethod`, and with voice `VoiceUrl`/`VoiceMethod`/`StatusCallback`
    /// (default false; the sandbox always does it on its simulator).
    pub auto_configure_webhooks: Option<bool>,
}

impl Config {
    /// True when the active provider's `autoConfigureWebhooks` is on.
    pub fn auto_configure_webhooks(&self) -> bool {
        match self.provider {
            ProviderKind::Twilio => self.twilio.auto_configure_webhooks == Some(true),
            ProviderKind::Telnyx => self.telnyx.auto_configure_webhooks == Some(true),
        }
    }
}

/// `sms: { … }` (text shaping).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsSection {
    /// `auto`, `single` or `multi`.
    #[serde(default)]
    pub chunk_mode: ChunkModeName,
    /// Longest message in characters; default and maximum: the provider's limit (1600 for
    /// Twilio).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Prefix chunks with `(i/n) `.
    #[serde(default)]
    pub segment_numbering: bool,
}

impl Default for SmsSection {
    fn default() -> Self {
        SmsSection {
            chunk_mode: ChunkModeName::Auto,
            max_length: None,
            segment_numbering: false,
        }
    }
}

/// `sms.chunkMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkModeName {
    /// One message of several segments when it fits, else several messages.
    #[default]
    Auto,
    /// Always one message.
    Single,
    /// One segment per message.
    Multi,
}

/// `pairing: { … }`: how unknown senders are paired under `inboundPolicy: "pairing"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PairingSection {
    /// How long a pairing code is valid (default 3600 s).
    #[serde(default = "default_code_ttl")]
    pub code_ttl_seconds: u64,
    /// Pending requests at once, and pairing SMS per rolling hour (default 3).
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// Text the sender gets on approval; `""` turns it off.
    #[serde(default = "default_approved_message")]
    pub approved_message: String,
}

impl Default for PairingSection {
    fn default() -> Self {
        PairingSection {
            code_ttl_seconds: default_code_ttl(),
            max_pending: default_max_pending(),
            approved_message: default_approved_message(),
        }
    }
}

fn default_code_ttl() -> u64 {
    3600
}
fn default_max_pending() -> usize {
    3
}
fn default_approved_message() -> String {
    "You're approved: you can now text this number.".into()
}

/// `outboundPolicy: { … }`: limits on what the gateway sends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundPolicySection {
    /// The first send to a number that never texted us and was never approved waits for
    /// `telephony contacts approve`.
    #[serde(default)]
    pub require_approval_for_new_contacts: bool,
    /// Messages per UTC day (all recipients); further sends fail until the next day.
    pub max_per_day: Option<u32>,
}

/// `forward: { … }`: POST every accepted inbound message and status change as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwardSection {
    /// Receiver URL (http or https).
    pub url: String,
    /// HMAC-SHA256 key for `X-Telephony-Signature: sha256=<hex>`.
    pub secret: Option<Secret>,
}

/// `voice: { … }`: calls (off unless `enabled`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoiceSection {
    /// Answer calls (default false: every call gets `<Reject/>`, outbound calls are refused).
    pub enabled: Option<bool>,
    /// Spoken when the default flow answers a call.
    pub greeting: Option<String>,
    /// Spoken before the default flow hangs up.
    pub closing: Option<String>,
    /// The text-to-speech voice (`alice`, `man`, `woman`, `Polly.Joanna`, `Google.en-US-Neural2-F`, …).
    pub voice: Option<String>,
    /// Speech language for `<Say>` and recognition (e.g. `en-US`).
    pub language: Option<String>,
    /// Longest call, counted from the answer (default 600; 0 turns the gateway's limit off).
    pub max_duration_seconds: Option<u64>,
    /// How long a Rust voice handler may take before the caller is put on hold (default 8000).
    pub handler_timeout_ms: Option<u64>,
    /// `gather` (default: greeting, one speech turn, closing), `relay` (a live
    /// conversation: each caller prompt is POSTed to `voice.relayUrl`, its `text` spoken) or
    /// `stream` (the call's audio proxied to `voice.streamUrl`).
    pub mode: Option<String>,
    /// Where `relay` mode POSTs call events (default: `forward.url`); signed with
    /// `forward.secret`.
    pub relay_url: Option<String>,
    /// How long `relay` mode waits for the application's answer (default 8000).
    pub relay_timeout_ms: Option<u64>,
    /// `stream` mode: the application's Media Streams WebSocket (`ws://`), which gets each
    /// call's messages frame for frame.
    pub stream_url: Option<String>,
}

impl VoiceSection {
    /// `relay` mode's endpoint: `voice.relayUrl`, else `forward.url`.
    pub fn relay_endpoint(&self, forward: Option<&ForwardSection>) -> Option<String> {
        self.relay_url
            .clone()
            .or_else(|| forward.map(|f| f.url.clone()))
    }

    /// The gateway's voice settings, with `maxConcurrentSessions`.
    pub fn settings(&self, max_concurrent_sessions: Option<u32>) -> telephony_serve::VoiceSettings {
        let mut v = telephony_serve::VoiceSettings::default();
        v.enabled = self.enabled.unwrap_or(false);
        if let Some(g) = &self.greeting {
            v = v.greeting(g.clone());
        }
        if let Some(c) = &self.closing {
            v = v.closing(c.clone());
        }
        if let Some(x) = &self.voice {
            v = v.voice(x.clone());
        }
        if let Some(l) = &self.language {
            v = v.language(l.clone());
        }
        if let Some(secs) = self.max_duration_seconds {
            v = v.max_duration((secs > 0).then(|| std::time::Duration::from_secs(secs)));
        }
        if let Some(ms) = self.handler_timeout_ms {
            v = v.handler_timeout(std::time::Duration::from_millis(ms));
        }
        if let Some(n) = max_concurrent_sessions {
            v = v.max_concurrent_sessions(Some(n as usize));
        }
        match (self.mode.as_deref(), &self.stream_url) {
            (Some("relay"), _) => v = v.mode(telephony_serve::VoiceMode::Relay),
            (Some("stream"), Some(url)) => v = v.stream_to(url.clone()),
            _ => {}
        }
        v
    }
}

/// `serve: { … }`: the public listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServeSection {
    /// Port (default 3335).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Address to bind (default `127.0.0.1`).
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Inbound webhook path (default `/telephony/webhook`).
    #[serde(default = "default_path")]
    pub path: String,
    /// Status callback path (default `/telephony/status`).
    #[serde(default = "default_status_path")]
    pub status_path: String,
    /// Real-time WebSocket path for call audio streams (default `/telephony/stream`;
    /// relays use `{streamPath}/relay`).
    #[serde(default = "default_stream_path")]
    pub stream_path: String,
    /// Time a client has to send a request's complete headers, from its first byte (or
    /// from the connection's accept), in milliseconds (default 10000). Over it the
    /// listener answers 408 and closes the connection.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Time from a request's headers to its response, the body read included, in
    /// milliseconds (default 30000). Over it the listener answers 408 and closes the
    /// connection. WebSocket streams are not cut: the time stops at the upgrade.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How long a keep-alive connection may sit idle between requests, in milliseconds
    /// (default 60000); then it is closed without an answer.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Largest request head (request line and headers), in bytes (default 16384); larger
    /// ones are answered 431.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Largest webhook body, in bytes (default 65536), chunked or not; larger ones are
    /// answered 413 and nothing is stored.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Open connections at most (default 1024); over it a new connection is answered 503
    /// (`Connection: close`) and closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests being processed at once at most (default 256); over it a request is
    /// answered 503 (`Connection: close`).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// How long shutdown (SIGINT/SIGTERM) waits for requests in progress and sends
    /// already started, in milliseconds (default 10000); what is left then is cut off.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
}

impl Default for ServeSection {
    fn default() -> Self {
        ServeSection {
            port: default_port(),
            bind: default_bind(),
            path: default_path(),
            status_path: default_status_path(),
            stream_path: default_stream_path(),
            header_timeout_ms: default_header_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            max_header_bytes: default_max_header_bytes(),
            max_body_bytes: default_max_body_bytes(),
            max_connections: default_max_connections(),
            max_in_flight: default_max_in_flight(),
            shutdown_grace_ms: default_shutdown_grace_ms(),
        }
    }
}

impl ServeSection {
    /// The public listener's limits (`serve.headerTimeoutMs` … `serve.maxInFlight`; the
    /// body limit is the gateway's, `serve.maxBodyBytes`).
    pub fn listener_limits(&self) -> crate::listener::ListenerLimits {
        use std::time::Duration;
        crate::listener::ListenerLimits {
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
            max_in_flight: self.max_in_flight,
        }
    }
}

fn default_header_timeout_ms() -> u64 {
    10_000
}
fn default_request_timeout_ms() -> u64 {
    30_000
}
fn default_idle_timeout_ms() -> u64 {
    60_000
}
fn default_max_header_bytes() -> usize {
    16 * 1024
}
fn default_max_body_bytes() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_in_flight() -> usize {
    256
}
fn default_shutdown_grace_ms() -> u64 {
    10_000
}

fn default_port() -> u16 {
    3335
}
fn default_admin_port() -> u16 {
    3336
}
fn default_bind() -> String {
    "127.0.0.1".into()
}
fn default_path() -> String {
    "/telephony/webhook".into()
}
fn default_status_path() -> String {
    "/telephony/status".into()
}
fn default_stream_path() -> String {
    "/telephony/stream".into()
}

/// `admin: { … }`: the loopback-only admin listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminSection {
    /// Port (default 3336).
    #[serde(default = "default_admin_port")]
    pub port: u16,
    /// Address to bind; must be loopback (default `127.0.0.1`).
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Bearer token; when absent one is generated on first start and kept in `{dataDir}/admin.token`.
    pub token: Option<Secret>,
    /// Serve the SMS bridge's routes (`POST /sms/send`, `GET /sms/inbox`, `GET /health`,
    /// seed 000) without a token, for agents written against the bridge (default false).
    #[serde(default)]
    pub bridge_api: bool,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            port: default_admin_port(),
            bind: default_bind(),
            token: None,
            bridge_api: false,
        }
    }
}

/// `tunnel: { … }`: how the gateway gets its public URL (see [`TUNNEL_PROVIDERS`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TunnelSection {
    /// `ngrok`, `tailscale-funnel`, `tailscale-serve`, `static` (`publicUrl`) or `none`
    /// (the default).
    pub provider: Option<String>,
    /// ngrok auth token (also `NGROK_AUTHTOKEN`).
    pub ngrok_auth_token: Option<Secret>,
    /// A reserved or static ngrok domain, so the URL survives restarts (alias `ngrokDomain`).
    #[serde(alias = "ngrokDomain")]
    pub domain: Option<String>,
    /// Have ngrok's edge verify Twilio's signatures with `twilio.authToken` too.
    #[serde(default)]
    pub ngrok_verify_twilio: bool,
}

/// The accepted `tunnel.provider` values.
pub const TUNNEL_PROVIDERS: &[&str] = &[
    "ngrok",
    "tailscale-funnel",
    "tailscale-serve",
    "static",
    "none",
];

/// A rate: `{ perSecond, burst }` or `{ perMinute, burst }` (exactly one of the two
/// periods). `burst` defaults, for outbound sends, to 50 ms worth of sends, at least 1
/// ([`slack_burst`](telephony_serve::rate_limit::outbound::slack_burst)); for the
/// listener's limiters, to the rate's own count (`{ perMinute: 10 }` lets 10 go at once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateSpec {
    /// Events per second (may be fractional: 0.5 = one every two seconds).
    pub per_second: Option<f64>,
    /// Events per minute.
    pub per_minute: Option<f64>,
    /// How many may go at once before the rate applies.
    pub burst: Option<u32>,
}

/// `rateLimits: { … }`: per-number outbound rates and the public listener's limiters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitsSection {
    /// Outbound rate for senders without a `perNumber` entry (default: by number kind:
    /// long code 1/s, toll-free 3/s, short code 100/s).
    pub default: Option<RateSpec>,
    /// Outbound rate per sender (E.164 number, Messaging Service SID or messaging profile).
    #[serde(default)]
    pub per_number: std::collections::BTreeMap<String, RateSpec>,
    /// The sender's kind when it cannot be recognized from the number: `long-code`,
    /// `toll-free` or `short-code`.
    pub number_kind: Option<String>,
    /// Inbound messages per sender (account + `From`), counted after the signature is
    /// valid; over it, messages are stored `throttled` and not dispatched.
    pub inbound_per_sender: Option<RateSpec>,
    /// Status callbacks (separate from message limits).
    pub status_callbacks: Option<RateSpec>,
    /// Requests that failed validation, per client IP (answered 429 over it).
    pub invalid_requests: Option<RateSpec>,
}

/// `webhookSecurity: { … }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSecurity {
    /// Hosts accepted in `X-Forwarded-Host` / `Host` when the signed URL is built from
    /// them: RFC 1123 host names with an optional `:port` (`gw.example.com`,
    /// `gw.example.com:8443`), checked at load. An entry without a port allows any port.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Build the signed URL from `X-Forwarded-Proto`/`X-Forwarded-Host` (only for
    /// `allowedHosts`) when `publicUrl` is not set.
    #[serde(default)]
    pub trust_forwarding_headers: bool,
    /// Proxies (IP addresses or CIDR ranges) whose `X-Forwarded-*` headers are believed:
    /// when set, forwarded host/proto (and `X-Forwarded-For`) from any other peer are
    /// ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `store: { … }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreSection {
    /// SQLite database file (default `{dataDir}/telephony.db`).
    pub path: Option<PathBuf>,
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
    /// one account (see [`accounts`](self::accounts)). Empty once loaded: the resolved
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

/// A configuration key that is accepted but has no effect in this version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InactiveKey {
    /// The key path, e.g. `voice.enabled`.
    pub key: String,
    /// Why it has no effect.
    pub reason: &'static str,
}

/// Where a config came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConfigSources {
    /// The file, if one was loaded.
    pub file: Option<PathBuf>,
    /// Environment variables that contributed (names only, never values).
    pub env: Vec<String>,
    /// The dialect the file was written in, and what `config check` should say about it.
    pub dialect: DialectReport,
}

/// Environment variables read besides `TELEPHONY_*`, and the key each sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("TWILIO_ACCOUNT_SID", "twilio.accountSid"),
    ("TWILIO_AUTH_TOKEN", "twilio.authToken"),
    ("TWILIO_SMS_FROM", "fromNumber"),
    ("TWILIO_PHONE_NUMBER", "fromNumber"),
    ("TWILIO_MESSAGING_SERVICE_SID", "twilio.messagingServiceSid"),
    ("TWILIO_API_KEY_SID", "twilio.apiKeySid"),
    ("TWILIO_API_KEY_SECRET", "twilio.apiKeySecret"),
    ("TWILIO_API_BASE_URL", "twilio.apiBaseUrl"),
    ("TELNYX_API_KEY", "telnyx.apiKey"),
    ("TELNYX_PUBLIC_KEY", "telnyx.publicKey"),
    ("TELNYX_MESSAGING_PROFILE_ID", "telnyx.messagingProfileId"),
    ("TELNYX_API_BASE_URL", "telnyx.apiBaseUrl"),
    ("NGROK_AUTHTOKEN", "tunnel.ngrokAuthToken"),
];

impl Config {
    /// Loads a config file (optional) and the environment.
    pub fn load(file: Option<&Path>) -> Result<(Config, ConfigSources), ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, &env)
    }

    /// Like [`load`](Self::load) with an explicit environment (for tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<(Config, ConfigSources), ConfigError> {
        let mut sources = ConfigSources::default();
        let mut fig = Figment::new();
        let mut consumed = Vec::new();
        if let Some(path) = file {
            let loaded = dialects::load_file(
                file_figment(path)?,
                path,
                env,
                dialects::Secrets::Resolve(env),
            )?;
            fig = fig.merge(loaded.figment);
            sources.file = Some(path.to_path_buf());
            sources.dialect = loaded.report;
            consumed = loaded.consumed_env;
        }
        // Variables a dialect already applied (to the account that runs) are not read again.
        let rest: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| !consumed.contains(k))
            .cloned()
            .collect();
        dialects::note_foreign_env(&mut sources.dialect, env);
        let (env_fig, names) = env_provider(&rest)?;
        sources.env = consumed;
        sources.env.extend(names);
        fig = fig.merge(env_fig);
        let file_name = file.map(|p| p.display().to_string()).unwrap_or_default();
        let cfg = Self::from_figment(fig)
            .map_err(|e| dialects::rename_error(e, &sources.dialect, &file_name))?;
        Ok((cfg, sources))
    }

    /// Parses a JSON5 string (wrapper optional), without the environment.
    pub fn from_json5_str(s: &str) -> Result<Config, ConfigError> {
        Self::from_str_figment(Figment::from(Json5::string(s)))
    }

    /// Parses a TOML string (wrapper optional: `[channels.telephony]`), without the
    /// environment: the TOML path of [`load`](Self::load) for text in memory.
    ///
    /// ```
    /// use telephony_server::config::Config;
    /// let cfg = Config::from_toml_str("[serve]\nport = 4000\n")?;
    /// assert_eq!(cfg.serve.port, 4000);
    /// assert!(Config::from_toml_str("[serve]\nport = \"x\"\n").is_err());
    /// # Ok::<(), telephony_server::config::ConfigError>(())
    /// ```
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        Self::from_str_figment(Figment::from(Toml::string(s)))
    }

    /// Text in memory in any dialect, without the environment (SecretRefs to variables
    /// do not resolve).
    fn from_str_figment(fig: Figment) -> Result<Config, ConfigError> {
        let path = Path::new("<string>");
        let loaded = dialects::load_file(fig, path, &[], dialects::Secrets::Resolve(&[]))?;
        Self::from_figment(loaded.figment)
            .map_err(|e| dialects::rename_error(e, &loaded.report, "<string>"))
    }

    fn from_figment(fig: Figment) -> Result<Config, ConfigError> {
        let cfg: Config = fig.extract()?;
        let mut cfg = accounts::resolve(&fig, cfg)?;
        // A fragment is never sent in a request, so Twilio never signs it.
        let strip = |c: &mut Config| {
            c.public_url = c
                .public_url
                .take()
                .map(|u| without_fragment(&u).to_string())
        };
        strip(&mut cfg);
        cfg.accounts_resolved.iter_mut().for_each(strip);
        Ok(cfg)
    }

    /// Checks rules that span keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rule = |key: &str, reason: String| {
            Err(ConfigError::Rule {
                key: key.into(),
                reason,
            })
        };
        for (key, path) in [
            ("serve.path", &self.serve.path),
            ("serve.statusPath", &self.serve.status_path),
            ("serve.streamPath", &self.serve.stream_path),
        ] {
            if !path.starts_with('/') {
                return rule(key, format!("{path:?} must start with '/'"));
            }
        }
        if self.serve.stream_path == self.serve.path
            || self.serve.stream_path == self.serve.status_path
        {
            return rule(
                "serve.streamPath",
                format!(
                    "{:?} is the same as serve.path or serve.statusPath",
                    self.serve.stream_path
                ),
            );
        }
        self.serve.check_limits()?;
        invalid_requests_quota(&self.rate_limits)?;
        if let Err(e) = telephony_serve::client_ip::TrustedProxies::parse(
            &self.webhook_security.trusted_proxies,
        ) {
            return rule("webhookSecurity.trustedProxies", e.to_string());
        }
        self.rate_limits.to_rate_limits()?;
        if self.serve.path == self.serve.status_path {
            return rule(
                "serve.statusPath",
                format!("{:?} is the same as serve.path", self.serve.status_path),
            );
        }
        for host in &self.webhook_security.allowed_hosts {
            if let Err(reason) = check_allowed_host(host) {
                return rule("webhookSecurity.allowedHosts", reason);
            }
        }
        if let Some(u) = &self.public_url {
            let u = without_fragment(u);
            if let Err(e) = telephony_tunnel::StaticUrl::new(u.to_string()) {
                return rule("publicUrl", e.to_string());
            }
            if let Some(port) = url_port(u) {
                if port.parse::<u16>().map_or(true, |p| p == 0) {
                    return rule(
                        "publicUrl",
                        format!("{u:?} has port {port:?}; expected a number from 1 to 65535"),
                    );
                }
            }
        }
        if !self.provider.is_compiled_in() {
            return rule(
                "provider",
                format!(
                    "{:?} is not compiled into this binary (cargo feature {:?}); compiled-in providers: {}",
                    self.provider.as_str(),
                    self.provider.as_str(),
                    ProviderKind::compiled_in().join(", ")
                ),
            );
        }
        #[cfg(feature = "telnyx")]
        if let Some(key) = &self.telnyx.public_key {
            if let Err(e) = telephony_telnyx::WebhookVerifier::from_base64(key.expose()) {
                return rule("telnyx.publicKey", e.to_string());
            }
        }
        if let Some(sid) = &self.twilio.account_sid {
            if !is_sid(sid, "AC") {
                return rule(
                    "twilio.accountSid",
                    format!("{sid:?} is not an Account SID (AC followed by 32 characters)"),
                );
            }
        }
        if let Some(sid) = &self.twilio.messaging_service_sid {
            if !is_sid(sid, "MG") {
                return rule(
                    "twilio.messagingServiceSid",
                    format!(
                        "{sid:?} is not a Messaging Service SID (MG followed by 32 characters)"
                    ),
                );
            }
        }
        if self.twilio.api_key_sid.is_some() != self.twilio.api_key_secret.is_some() {
            return rule(
                "twilio.apiKeySid",
                "apiKeySid and apiKeySecret must be set together".into(),
            );
        }
        let allow =
            telephony_core::AllowList::parse(&self.allow_from).map_err(|e| ConfigError::Rule {
                key: "allowFrom".into(),
                reason: e.to_string(),
            })?;
        if let Err(e) = self.inbound_policy.check(&allow) {
            return rule("inboundPolicy", e.to_string());
        }
        if let Some(to) = &self.default_to {
            if let Err(e) = telephony_core::Address::parse(to) {
                return rule("defaultTo", format!("{to:?}: {e}"));
            }
        }
        if self.pairing.max_pending == 0 {
            return rule("pairing.maxPending", "must be at least 1".into());
        }
        if self.pairing.code_ttl_seconds == 0 {
            return rule("pairing.codeTtlSeconds", "must be at least 1".into());
        }
        if let Some(f) = &self.forward {
            if let Err(e) = telephony_tunnel::StaticUrl::new(f.url.clone()) {
                return rule("forward.url", e.to_string());
            }
        }
        let max_body = self.provider.limits().max_body_chars();
        for (key, value) in [
            ("textChunkLimit", self.text_chunk_limit),
            ("sms.maxLength", self.sms.max_length),
        ] {
            if let Some(n) = value {
                if n == 0 || n > max_body {
                    return rule(
                        key,
                        format!(
                            "{n} is out of range 1..={max_body} ({}'s body limit)",
                            self.provider.as_str()
                        ),
                    );
                }
            }
        }
        if self.max_concurrent_sessions == Some(0) {
            return rule(
                "maxConcurrentSessions",
                "must be at least 1 (set voice.enabled to false to refuse every call)".into(),
            );
        }
        if let Some(ms) = self.voice.handler_timeout_ms {
            if !(100..=14_000).contains(&ms) {
                return rule(
                    "voice.handlerTimeoutMs",
                    format!("{ms} is out of range 100..=14000 (Twilio gives up on an answer after 15 s)"),
                );
            }
        }
        match self.voice.mode.as_deref() {
            None | Some("gather") => {}
            Some("relay") => {
                let url = self
                    .voice
                    .relay_url
                    .clone()
                    .or_else(|| self.forward.as_ref().map(|f| f.url.clone()));
                match url {
                    None => {
                        return rule(
                            "voice.relayUrl",
                            "voice.mode \"relay\" needs voice.relayUrl (or forward.url): where to POST what callers say".into(),
                        )
                    }
                    Some(u) => {
                        if let Err(e) = telephony_tunnel::StaticUrl::new(u) {
                            return rule("voice.relayUrl", e.to_string());
                        }
                    }
                }
            }
            Some("stream") => match self.voice.stream_url.as_deref() {
                None => {
                    return rule(
                        "voice.streamUrl",
                        "voice.mode \"stream\" needs voice.streamUrl: the ws:// URL of the application's Media Streams WebSocket".into(),
                    )
                }
                Some(u) if !u.starts_with("ws://") || u.len() <= 5 => {
                    return rule(
                        "voice.streamUrl",
                        format!("{u:?} must be a ws:// URL (the application's WebSocket, usually on this host)"),
                    )
                }
                Some(_) => {}
            },
            Some(other) => {
                return rule(
                    "voice.mode",
                    format!("unknown mode {other:?}; expected gather, relay or stream"),
                )
            }
        }
        if let Some(ms) = self.voice.relay_timeout_ms {
            if !(100..=60_000).contains(&ms) {
                return rule(
                    "voice.relayTimeoutMs",
                    format!("{ms} is out of range 100..=60000"),
                );
            }
        }
        for (key, text) in [
            ("voice.greeting", &self.voice.greeting),
            ("voice.closing", &self.voice.closing),
        ] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return rule(key, "must not be empty".into());
            }
        }
        if let Some(t) = &self.tunnel {
            if let Some(p) = &t.provider {
                if !TUNNEL_PROVIDERS.contains(&p.as_str()) {
                    return rule(
                        "tunnel.provider",
                        format!(
                            "unknown tunnel {p:?}; expected {}",
                            TUNNEL_PROVIDERS.join(", ")
                        ),
                    );
                }
            }
            if t.provider.as_deref() == Some("static") && self.public_url.is_none() {
                return rule(
                    "publicUrl",
                    "tunnel.provider \"static\" needs publicUrl: the URL your reverse proxy or load balancer serves".into(),
                );
            }
            if t.ngrok_verify_twilio && self.provider != ProviderKind::Twilio {
                return rule(
                    "tunnel.ngrokVerifyTwilio",
                    format!(
                        "verifies Twilio signatures; the provider is {:?}",
                        self.provider.as_str()
                    ),
                );
            }
        }
        if self.serve.shutdown_grace_ms > 600_000 {
            return rule(
                "serve.shutdownGraceMs",
                format!(
                    "{} is out of range 0..=600000",
                    self.serve.shutdown_grace_ms
                ),
            );
        }
        Ok(())
    }

    /// Keys that are set but have no effect in this version, so `config check` can say so.
    pub fn inactive_keys(&self) -> Vec<InactiveKey> {
        let mut out = Vec::new();
        let mut push = |key: &str, reason: &'static str| {
            out.push(InactiveKey {
                key: key.to_string(),
                reason,
            })
        };
        if !self.voice.enabled.unwrap_or(false) {
            let off = "has no effect while voice.enabled is false";
            let v = &self.voice;
            for (key, set) in [
                ("voice.greeting", v.greeting.is_some()),
                ("voice.closing", v.closing.is_some()),
                ("voice.voice", v.voice.is_some()),
                ("voice.language", v.language.is_some()),
                ("voice.maxDurationSeconds", v.max_duration_seconds.is_some()),
                ("voice.handlerTimeoutMs", v.handler_timeout_ms.is_some()),
                ("voice.mode", v.mode.is_some()),
                ("voice.relayUrl", v.relay_url.is_some()),
                ("voice.relayTimeoutMs", v.relay_timeout_ms.is_some()),
                ("voice.streamUrl", v.stream_url.is_some()),
                (
                    "maxConcurrentSessions",
                    self.max_concurrent_sessions.is_some(),
                ),
            ] {
                if set {
                    push(key, off);
                }
            }
        }
        if let Some(t) = &self.tunnel {
            let not_ngrok = "has no effect unless tunnel.provider is \"ngrok\"";
            if t.provider.as_deref() != Some("ngrok") {
                for (key, set) in [
                    ("tunnel.ngrokAuthToken", t.ngrok_auth_token.is_some()),
                    ("tunnel.domain", t.domain.is_some()),
                    ("tunnel.ngrokVerifyTwilio", t.ngrok_verify_twilio),
                ] {
                    if set {
                        push(key, not_ngrok);
                    }
                }
            }
        }
        if self.public_url.is_some() && self.tunnel_provider().is_some() {
            push(
                "publicUrl",
                "has no effect while tunnel.provider starts a tunnel: the tunnel's URL is the public URL (signed, and given to the provider)",
            );
        }
        let ws = &self.webhook_security;
        if ws.trust_forwarding_headers && self.public_url.is_some() {
            push(
                "webhookSecurity.trustForwardingHeaders",
                "has no effect while publicUrl is set: the signed URL is publicUrl",
            );
        } else if ws.trust_forwarding_headers && ws.allowed_hosts.is_empty() {
            push(
                "webhookSecurity.trustForwardingHeaders",
                "has no effect without webhookSecurity.allowedHosts",
            );
        }
        out
    }

    /// True when a tunnel is configured (a `tunnel` section whose `provider` is not
    /// `"none"`): it makes a loopback listener reachable from the internet.
    pub fn tunnel_configured(&self) -> bool {
        self.tunnel
            .as_ref()
            .is_some_and(|t| t.provider.as_deref() != Some("none"))
    }

    /// The tunnel `telephony serve` starts (`ngrok`, `tailscale-funnel`,
    /// `tailscale-serve`), or `None` (no `tunnel` section, `provider` absent, `static` or
    /// `none`: the public URL is `publicUrl`).
    ///
    /// ```
    /// use telephony_server::config::Config;
    /// let cfg = Config::from_json5_str("{ tunnel: { provider: 'tailscale-funnel' } }")?;
    /// assert_eq!(cfg.tunnel_provider(), Some("tailscale-funnel"));
    /// let cfg = Config::from_json5_str("{ publicUrl: 'https://gw.example.com', tunnel: { provider: 'static' } }")?;
    /// assert_eq!(cfg.tunnel_provider(), None);
    /// # Ok::<(), telephony_server::config::ConfigError>(())
    /// ```
    pub fn tunnel_provider(&self) -> Option<&str> {
        self.tunnel
            .as_ref()
            .and_then(|t| t.provider.as_deref())
            .filter(|p| matches!(*p, "ngrok" | "tailscale-funnel" | "tailscale-serve"))
    }

    /// True when forwarding headers may build the signed URL (`trustForwardingHeaders`
    /// with at least one `allowedHosts` entry).
    pub fn trusts_forwarding_headers(&self) -> bool {
        self.webhook_security.trust_forwarding_headers
            && !self.webhook_security.allowed_hosts.is_empty()
    }

    /// The normalized `allowFrom` list (validated when the config was loaded).
    pub fn allow_list(&self) -> telephony_core::AllowList {
        telephony_core::AllowList::parse(&self.allow_from).unwrap_or_default()
    }

    /// Chunking options: `sms.*`, with `textChunkLimit` lowering `sms.maxLength`.
    pub fn chunk_options(&self) -> telephony_core::sms::ChunkOptions {
        use telephony_core::sms::{ChunkMode, ChunkOptions};
        ChunkOptions {
            mode: match self.sms.chunk_mode {
                ChunkModeName::Auto => ChunkMode::Auto,
                ChunkModeName::Single => ChunkMode::Single,
                ChunkModeName::Multi => ChunkMode::Multi,
            },
            max_length: [
                self.text_chunk_limit,
                self.sms.max_length,
                Some(self.provider.limits().max_body_chars()),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(usize::MAX),
            segment_numbering: self.sms.segment_numbering,
        }
    }

    /// The data directory (default `./telephony-data`).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("telephony-data"))
    }

    /// The SQLite database path (default `{dataDir}/telephony.db`; an account's,
    /// `{dataDir}/accounts/{name}/telephony.db`).
    pub fn database_path(&self) -> PathBuf {
        match (&self.store.path, &self.account) {
            (Some(p), _) => p.clone(),
            (None, Some(name)) => accounts::account_store_path(&self.data_dir(), name),
            (None, None) => self.data_dir().join("telephony.db"),
        }
    }

    /// Settings missing for talking to the configured provider (empty when complete).
    pub fn missing_credentials(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.provider == ProviderKind::Telnyx {
            if self.telnyx.api_key.as_ref().is_none_or(|t| t.is_empty()) {
                missing.push("telnyx.apiKey (or TELNYX_API_KEY)");
            }
            if self.telnyx.public_key.as_ref().is_none_or(|k| k.is_empty()) {
                missing.push("telnyx.publicKey (or TELNYX_PUBLIC_KEY)");
            }
            if self.from_number.is_none() && self.telnyx.messaging_profile_id.is_none() {
                missing.push(
                    "fromNumber or telnyx.messagingProfileId (or TELNYX_MESSAGING_PROFILE_ID)",
                );
            }
            return missing;
        }
        if self.twilio.account_sid.is_none() {
            missing.push("twilio.accountSid (or TWILIO_ACCOUNT_SID)");
        }
        if self.twilio.auth_token.as_ref().is_none_or(|t| t.is_empty()) {
            missing.push("twilio.authToken (or TWILIO_AUTH_TOKEN)");
        }
        if self.from_number.is_none() && self.twilio.messaging_service_sid.is_none() {
            missing.push(
                "fromNumber (or TWILIO_PHONE_NUMBER) or twilio.messagingServiceSid (or TWILIO_MESSAGING_SERVICE_SID)",
            );
        }
        missing
    }

    /// The config as JSON with every secret replaced by `"[redacted]"`.
    pub fn redacted_json(&self) -> serde_json::Value {
        // Secret's Serialize impl always writes "[redacted]".
        let mut v = serde_json::to_value(self).expect("config serializes");
        if !self.accounts_resolved.is_empty() {
            let accounts: serde_json::Map<String, serde_json::Value> = self
                .accounts_resolved
                .iter()
                .map(|c| {
                    let mut one = serde_json::to_value(c).expect("config serializes");
                    one["account"] = serde_json::Value::from(c.account.clone());
                    one["database"] =
                        serde_json::Value::from(c.database_path().display().to_string());
                    (c.account.clone().unwrap_or_default(), one)
                })
                .collect();
            v["account"] = serde_json::Value::from(self.account.clone());
            v["accounts"] = serde_json::Value::Object(accounts);
        }
        v
    }
}

impl ServeSection {
    /// Range checks for the public listener's limits, naming the key at fault.
    fn check_limits(&self) -> Result<(), ConfigError> {
        let out_of_range = |key: &str, value: u64, min: u64, max: u64, why: &str| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::Rule {
                    key: key.into(),
                    reason: format!("{value} is out of range {min}..={max}{why}"),
                })
            }
        };
        out_of_range(
            "serve.headerTimeoutMs",
            self.header_timeout_ms,
            100,
            300_000,
            "",
        )?;
        out_of_range(
            "serve.requestTimeoutMs",
            self.request_timeout_ms,
            100,
            600_000,
            "",
        )?;
        out_of_range(
            "serve.idleTimeoutMs",
            self.idle_timeout_ms,
            100,
            3_600_000,
            "",
        )?;
        out_of_range(
            "serve.maxHeaderBytes",
            self.max_header_bytes as u64,
            4096,
            1 << 20,
            " (providers send about 1 KiB of headers)",
        )?;
        out_of_range(
            "serve.maxBodyBytes",
            self.max_body_bytes as u64,
            1024,
            16 << 20,
            "",
        )?;
        out_of_range(
            "serve.maxConnections",
            self.max_connections as u64,
            1,
            1_000_000,
            "",
        )?;
        out_of_range(
            "serve.maxInFlight",
            self.max_in_flight as u64,
            1,
            self.max_connections as u64,
            " (at most serve.maxConnections: a connection carries one request at a time)",
        )?;
        Ok(())
    }
}

/// `rateLimits.invalidRequests` as a quota; the default
/// ([`DEFAULT_INVALID_REQUESTS`](telephony_serve::limits::DEFAULT_INVALID_REQUESTS)) when unset.
fn invalid_requests_quota(
    limits: &RateLimitsSection,
) -> Result<telephony_serve::limits::Quota, ConfigError> {
    use std::num::NonZeroU32;
    use telephony_serve::limits::Quota;
    const KEY: &str = "rateLimits.invalidRequests";
    let Some(spec) = &limits.invalid_requests else {
        return Ok(telephony_serve::limits::DEFAULT_INVALID_REQUESTS);
    };
    let rule = |key: String, reason: String| ConfigError::Rule { key, reason };
    let (count, period_secs, which) = match (spec.per_second, spec.per_minute) {
        (Some(n), None) => (n, 1.0, "perSecond"),
        (None, Some(n)) => (n, 60.0, "perMinute"),
        _ => {
            return Err(rule(
                KEY.into(),
                "set exactly one of perSecond and perMinute".into(),
            ))
        }
    };
    if !count.is_finite() || count <= 0.0 || count > 1e6 {
        return Err(rule(
            format!("{KEY}.{which}"),
            format!("{count} must be a number above 0 and at most 1000000"),
        ));
    }
    let burst = match spec.burst {
        Some(0) => return Err(rule(format!("{KEY}.burst"), "must be at least 1".into())),
        Some(b) => b,
        // The rate's own count, at least 1.
        None => (count.ceil() as u32).max(1),
    };
    let quota = Quota::with_period(std::time::Duration::from_secs_f64(period_secs / count))
        .ok_or_else(|| {
            rule(
                format!("{KEY}.{which}"),
                format!("{count} is too high a rate"),
            )
        })?;
    Ok(quota.allow_burst(NonZeroU32::new(burst).expect("burst checked above")))
}

impl Config {
    /// `rateLimits.invalidRequests` (validated at load), or its default: 60 a minute per
    /// client IP, bursts of 30.
    pub fn invalid_requests_limit(&self) -> telephony_serve::limits::Quota {
        invalid_requests_quota(&self.rate_limits)
            .unwrap_or(telephony_serve::limits::DEFAULT_INVALID_REQUESTS)
    }
}

/// `url` without its `#fragment`.
fn without_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(u, _)| u)
}

/// The port of an `http(s)://[userinfo@]host[:port]…` URL, as written, if it has one.
fn url_port(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port.rsplit_once("]:").map(|(_, p)| p);
    }
    host_port.rsplit_once(':').map(|(_, p)| p)
}

/// A `webhookSecurity.allowedHosts` entry: an RFC 1123 host name (letters, digits and
/// hyphens in dot-separated labels of 1–63 characters, no label starting or ending with a
/// hyphen, at most 253 characters), optionally followed by `:port` (1–65535). No
/// userinfo, scheme, path or spaces.
fn check_allowed_host(entry: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "{entry:?} is not a host name with an optional :port ({why}); expected e.g. \"gw.example.com\" or \"gw.example.com:8443\""
        ))
    };
    if entry.contains('@') {
        return bad("'@' would add a userinfo");
    }
    if entry.chars().any(char::is_whitespace) {
        return bad("it contains a space");
    }
    if entry.contains("://") || entry.contains(['/', '?', '#']) {
        return bad("it has a scheme, path, query or fragment");
    }
    let (name, port) = match entry.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (entry, None),
    };
    if let Some(port) = port {
        if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return bad("the port must be a number from 1 to 65535");
        }
    }
    if name.is_empty() || name.len() > 253 {
        return bad("the name must have 1 to 253 characters");
    }
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return bad(&format!(
                "label {label:?} is not 1-63 letters, digits or inner hyphens"
            ));
        }
    }
    Ok(())
}

// Placeholders such as `ACxxxx…` (32 x's) in the guides pass: only shape is checked.
fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A config file as a figment, by its extension.
fn file_figment(path: &Path) -> Result<Figment, ConfigError> {
    if !path.exists() {
        return Err(ConfigError::Invalid(format!(
            "config file {} does not exist",
            path.display()
        )));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => Ok(Figment::from(Toml::file_exact(path))),
        Some("json5") | Some("json") => Ok(Figment::from(Json5::file_exact(path))),
        _ => Err(ConfigError::Invalid(format!(
            "config file {} must end in .json5, .json or .toml",
            path.display()
        ))),
    }
}

/// `TELEPHONY_*` variables that are not configuration keys.
pub const NON_CONFIG_VARS: &[&str] = &["TELEPHONY_CONFIG", "TELEPHONY_LOG"];

/// Environment values as a figment provider whose errors say "environment variables …".
struct EnvVars {
    dict: Dict,
    names: Vec<String>,
}

impl figment::Provider for EnvVars {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("environment variables ({})", self.names.join(", ")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// `TWILIO_*` and `TELEPHONY_*` variables as a figment provider, plus the names used.
fn env_provider(env: &[(String, String)]) -> Result<(Figment, Vec<String>), ConfigError> {
    let mut root = Dict::new();
    let mut names = Vec::new();
    let lookup: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // TWILIO_PHONE_NUMBER comes after its alias so it wins when both are set.
    for (var, key) in ENV_KEYS {
        if let Some(v) = lookup.get(var).filter(|v| !v.is_empty()) {
            insert_path(&mut root, key, Value::from(v.to_string()));
            names.push(var.to_string());
        }
    }
    for (var, v) in &lookup {
        let Some(rest) = var.strip_prefix("TELEPHONY_") else {
            continue;
        };
        // The CLI's own variables, not config keys.
        if NON_CONFIG_VARS.contains(var) || rest.is_empty() {
            continue;
        }
        let key = rest
            .split("__")
            .map(snake_to_camel)
            .collect::<Vec<_>>()
            .join(".");
        insert_path(&mut root, &key, env_value(v));
        names.push(var.to_string());
    }
    let fig = Figment::from(EnvVars {
        dict: root,
        names: names.clone(),
    });
    Ok((fig, names))
}

fn snake_to_camel(s: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for (i, c) in s.chars().enumerate() {
        if c == '_' {
            upper = true;
        } else if upper && i > 0 {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Numbers and booleans become typed values; `+1555…` and `0…` stay strings; `[a,b]` is a list.
fn env_value(v: &str) -> Value {
    let t = v.trim();
    if t == "true" || t == "false" {
        return Value::from(t == "true");
    }
    let leading_zero = t.starts_with('0') && t.len() > 1;
    let plain_number = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if plain_number && !leading_zero {
        if let Ok(n) = t.parse::<u64>() {
            return Value::from(n);
        }
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let items: Vec<Value> = inner
            .split(',')
            .map(|s| s.trim().trim_matches('"'))
            .filter(|s| !s.is_empty())
            .map(|s| Value::from(s.to_string()))
            .collect();
        return Value::from(items);
    }
    Value::from(v.to_string())
}

fn insert_path(root: &mut Dict, key: &str, value: Value) {
    let mut parts = key.split('.').peekable();
    let mut cur = root;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), value);
            return;
        }
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::from(Map::<String, Value>::new()));
        if !matches!(entry, Value::Dict(..)) {
            *entry = Value::from(Map::<String, Value>::new());
        }
        match entry {
            Value::Dict(_, d) => cur = d,
            _ => unreachable!("just made a dict"),
        }
    }
}
