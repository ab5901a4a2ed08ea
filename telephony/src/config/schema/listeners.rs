//! How the gateway is reached: `serve` (the public listener), `admin` (the admin listener), `tunnel` and `webhookSecurity`.

use serde::{Deserialize, Serialize};
use telephony_core::Secret;

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

/// `admin.tls: { cert, key }`: the admin listener speaks HTTPS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminTlsSection {
    /// The certificate chain, PEM (the server's certificate first).
    pub cert: std::path::PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

/// `admin: { … }`: the admin listener (loopback by default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminSection {
    /// Port (default 3336).
    #[serde(default = "default_admin_port")]
    pub port: u16,
    /// Address to bind (default `127.0.0.1`). Off loopback only with `admin.token` and
    /// `admin.tls` or `admin.allowNetworks`.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Serve the admin API over TLS (rustls) with this certificate and key.
    pub tls: Option<AdminTlsSection>,
    /// Peers allowed to connect (IP addresses or CIDR ranges, `10.0.0.0/8`); connections
    /// from any other peer are closed at accept. Empty: every peer.
    #[serde(default)]
    pub allow_networks: Vec<String>,
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
            tls: None,
            allow_networks: Vec::new(),
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
