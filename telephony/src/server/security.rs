//! The fail-closed rules for listeners: what may be served where.

use std::net::IpAddr;

use super::ServeError;
use crate::config::Config;

/// The fail-closed rules for listeners, given whether each bind address is loopback.
///
/// ```
/// use telephony::config::Config;
/// use telephony::server::check_security;
/// let cfg = Config::from_json5_str(r#"{ serve: { bind: "0.0.0.0" } }"#).unwrap();
/// let err = check_security(&cfg, false, true).unwrap_err();
/// assert!(err.to_string().starts_with("publicUrl: required when serve.bind is 0.0.0.0"));
/// ```
pub fn check_security(
    config: &Config,
    public_loopback: bool,
    admin_loopback: bool,
) -> Result<(), ServeError> {
    // With accounts, say which account's settings are refused (the admin listener is the
    // whole gateway's).
    check_security_of(config, public_loopback, admin_loopback).map_err(|e| {
        match (e, &config.account) {
            (ServeError::Config { key, reason }, Some(name)) if !key.starts_with("admin.") => {
                ServeError::Config {
                    key,
                    reason: format!("account {name}: {reason}"),
                }
            }
            (e, _) => e,
        }
    })
}

fn check_security_of(
    config: &Config,
    public_loopback: bool,
    admin_loopback: bool,
) -> Result<(), ServeError> {
    if config.admin.bridge_api && !admin_loopback {
        return Err(ServeError::Config {
            key: "admin.bridgeApi",
            reason: format!(
                "refused because admin.bind {} is not loopback: the SMS bridge routes answer without a token, so they are served on a loopback admin listener only",
                config.admin.bind
            ),
        });
    }
    if !admin_loopback {
        let admin = &config.admin;
        if admin.tls.is_none() && admin.allow_networks.is_empty() {
            return Err(ServeError::Config {
                key: "admin.bind",
                reason: format!(
                    "{} is not a loopback address, and the admin API can send messages: off loopback it needs admin.token and either admin.tls: {{ cert, key }} (PEM files; clients connect with https) or admin.allowNetworks: [\"10.0.0.0/8\", …] (the only peers allowed to connect, for a private network behind a proxy); or bind it to 127.0.0.1",
                    admin.bind
                ),
            });
        }
        if admin.token.as_ref().is_none_or(|t| t.is_empty()) {
            return Err(ServeError::Config {
                key: "admin.token",
                reason: format!(
                    "required when admin.bind {} is not loopback: set a long random token (a SecretRef works); a generated one is only for a loopback admin listener",
                    admin.bind
                ),
            });
        }
    }
    if config.skip_signature_verification && !public_loopback {
        return Err(ServeError::Config {
            key: "skipSignatureVerification",
            reason: format!(
                "refused because serve.bind {} is not loopback; never disable signature checks on a public listener",
                config.serve.bind
            ),
        });
    }
    if config.skip_signature_verification && config.tunnel_configured() {
        return Err(ServeError::Config {
            key: "skipSignatureVerification",
            reason: "refused because a tunnel is configured (tunnel.provider is not \"none\"): the tunnel makes the loopback listener public; never disable signature checks on a public listener".into(),
        });
    }
    if config.public_url.is_none()
        && config.tunnel_provider().is_none()
        && !public_loopback
        && !config.trusts_forwarding_headers()
    {
        return Err(ServeError::Config {
            key: "publicUrl",
            reason: format!(
                "required when serve.bind is {} (not loopback): Twilio signs the public URL, and without it the gateway would have to trust the sender-controlled Host header. Set publicUrl to the URL configured in the Twilio console (scheme and host), or bind to 127.0.0.1 behind a tunnel (tunnel.provider)",
                config.serve.bind
            ),
        });
    }
    Ok(())
}

/// Whether a bind address is loopback without resolving it (`localhost` counts).
pub fn is_loopback_bind(bind: &str) -> bool {
    bind.eq_ignore_ascii_case("localhost")
        || bind.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// How the admin listener is reached, for `config check` and the start-up log: `loopback`,
/// `tls`, `allowNetworks` or `tls+allowNetworks` (TLS and the network list apply on
/// loopback too when set).
///
/// ```
/// use telephony::config::Config;
/// use telephony::server::admin_access;
/// let cfg = Config::from_json5_str(r#"{ admin: { bind: "10.0.0.5", token: "t0ken", allowNetworks: ["10.0.0.0/8"] } }"#).unwrap();
/// assert_eq!(admin_access(&cfg), "allowNetworks");
/// ```
pub fn admin_access(config: &Config) -> &'static str {
    match (
        config.admin.tls.is_some(),
        !config.admin.allow_networks.is_empty(),
    ) {
        (true, true) => "tls+allowNetworks",
        (true, false) => "tls",
        (false, true) => "allowNetworks",
        (false, false) => "loopback",
    }
}
