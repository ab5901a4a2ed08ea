//! `serve.*`: paths, the public listener's limits, the shutdown grace.

use super::rule;
use crate::config::{Config, ConfigError, ServeSection};

/// `serve.path`, `serve.statusPath` and `serve.streamPath` are absolute, and the stream
/// path is neither of the other two.
pub(super) fn check_paths(config: &Config) -> Result<(), ConfigError> {
    for (key, path) in [
        ("serve.path", &config.serve.path),
        ("serve.statusPath", &config.serve.status_path),
        ("serve.streamPath", &config.serve.stream_path),
    ] {
        if !path.starts_with('/') {
            return rule(key, format!("{path:?} must start with '/'"));
        }
    }
    if config.serve.stream_path == config.serve.path
        || config.serve.stream_path == config.serve.status_path
    {
        return rule(
            "serve.streamPath",
            format!(
                "{:?} is the same as serve.path or serve.statusPath",
                config.serve.stream_path
            ),
        );
    }
    Ok(())
}

/// Range checks for the public listener's limits, naming the key at fault.
pub(super) fn check_limits(serve: &ServeSection) -> Result<(), ConfigError> {
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
        serve.header_timeout_ms,
        100,
        300_000,
        "",
    )?;
    out_of_range(
        "serve.requestTimeoutMs",
        serve.request_timeout_ms,
        100,
        600_000,
        "",
    )?;
    out_of_range(
        "serve.idleTimeoutMs",
        serve.idle_timeout_ms,
        100,
        3_600_000,
        "",
    )?;
    out_of_range(
        "serve.maxHeaderBytes",
        serve.max_header_bytes as u64,
        4096,
        1 << 20,
        " (providers send about 1 KiB of headers)",
    )?;
    out_of_range(
        "serve.maxBodyBytes",
        serve.max_body_bytes as u64,
        1024,
        16 << 20,
        "",
    )?;
    out_of_range(
        "serve.maxConnections",
        serve.max_connections as u64,
        1,
        1_000_000,
        "",
    )?;
    out_of_range(
        "serve.maxInFlight",
        serve.max_in_flight as u64,
        1,
        serve.max_connections as u64,
        " (at most serve.maxConnections: a connection carries one request at a time)",
    )?;
    Ok(())
}

/// `serve.statusPath` is not `serve.path`.
pub(super) fn check_status_path(config: &Config) -> Result<(), ConfigError> {
    if config.serve.path == config.serve.status_path {
        return rule(
            "serve.statusPath",
            format!("{:?} is the same as serve.path", config.serve.status_path),
        );
    }
    Ok(())
}

/// `serve.shutdownGraceMs` is at most ten minutes.
pub(super) fn check_shutdown_grace(config: &Config) -> Result<(), ConfigError> {
    if config.serve.shutdown_grace_ms > 600_000 {
        return rule(
            "serve.shutdownGraceMs",
            format!(
                "{} is out of range 0..=600000",
                config.serve.shutdown_grace_ms
            ),
        );
    }
    Ok(())
}

/// `admin.allowNetworks` entries are IP addresses or CIDR ranges.
pub(super) fn check_admin_networks(config: &Config) -> Result<(), ConfigError> {
    match telephony_serve::client_ip::TrustedProxies::parse(&config.admin.allow_networks) {
        Ok(_) => Ok(()),
        Err(e) => rule("admin.allowNetworks", e.to_string()),
    }
}
