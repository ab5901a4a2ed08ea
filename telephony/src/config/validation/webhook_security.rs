//! `webhookSecurity.*` and `publicUrl`: what the signed URL is built from.

use super::rule;
use crate::config::loading::without_fragment;
use crate::config::{Config, ConfigError};

/// `webhookSecurity.trustedProxies` are IP addresses or CIDR ranges.
pub(super) fn check_trusted_proxies(config: &Config) -> Result<(), ConfigError> {
    if let Err(e) =
        telephony_serve::client_ip::TrustedProxies::parse(&config.webhook_security.trusted_proxies)
    {
        return rule("webhookSecurity.trustedProxies", e.to_string());
    }
    Ok(())
}

/// Every `webhookSecurity.allowedHosts` entry is a host name with an optional port.
pub(super) fn check_allowed_hosts(config: &Config) -> Result<(), ConfigError> {
    for host in &config.webhook_security.allowed_hosts {
        if let Err(reason) = check_allowed_host(host) {
            return rule("webhookSecurity.allowedHosts", reason);
        }
    }
    Ok(())
}

/// `publicUrl` is a URL the gateway can be reached at, with a valid port if it names one.
pub(super) fn check_public_url(config: &Config) -> Result<(), ConfigError> {
    if let Some(u) = &config.public_url {
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
    Ok(())
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
