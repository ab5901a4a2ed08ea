//! Ways to give the gateway a public URL that Twilio can reach.
//!
//! | tunnel | type | status |
//! |---|---|---|
//! | a URL you already have (reverse proxy, load balancer) | [`StaticUrl`] | available |
//! | ngrok (in-process, the `ngrok` crate) | — | planned |
//! | Tailscale Funnel (the `tailscale` CLI) | — | planned |
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use telephony_tunnel::{StaticUrl, Tunnel};
//! let t = StaticUrl::new("https://sms.example.com/")?;
//! let url = t.start("127.0.0.1:3335".parse().unwrap()).await?;
//! assert_eq!(url, "https://sms.example.com");
//! # Ok::<(), telephony_tunnel::TunnelError>(())
//! # }).unwrap();
//! ```

use std::net::SocketAddr;

use async_trait::async_trait;

/// Errors from starting or stopping a tunnel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// The configured URL is not an absolute http(s) URL.
    #[error("invalid public URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The tunnel could not be started.
    #[error("could not start {tunnel} tunnel")]
    Start {
        /// Which tunnel.
        tunnel: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Something that exposes a local listener at a public URL.
#[async_trait]
pub trait Tunnel: Send + Sync {
    /// Starts forwarding to `local` and returns the public base URL (no trailing slash).
    async fn start(&self, local: SocketAddr) -> Result<String, TunnelError>;

    /// Stops forwarding; the default does nothing.
    async fn stop(&self) -> Result<(), TunnelError> {
        Ok(())
    }

    /// A short name for logs.
    fn name(&self) -> &'static str;
}

/// A public URL that already reaches the gateway (a reverse proxy, a load balancer, a DNS name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticUrl {
    url: String,
}

impl StaticUrl {
    /// Checks the URL is absolute `http://` or `https://` with a host, and strips a trailing `/`.
    ///
    /// The URL is kept byte for byte otherwise, because Twilio signs the exact string.
    pub fn new(url: impl Into<String>) -> Result<Self, TunnelError> {
        let url = url.into();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(TunnelError::InvalidUrl {
                url: url.clone(),
                reason: "must start with https:// or http://",
            })?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() {
            return Err(TunnelError::InvalidUrl {
                url,
                reason: "has no host",
            });
        }
        if rest.contains(['?', '#']) {
            return Err(TunnelError::InvalidUrl {
                url,
                reason: "must not contain a query or fragment",
            });
        }
        Ok(StaticUrl {
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait]
impl Tunnel for StaticUrl {
    async fn start(&self, _local: SocketAddr) -> Result<String, TunnelError> {
        Ok(self.url.clone())
    }

    fn name(&self) -> &'static str {
        "static"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_keeps_bytes() {
        assert_eq!(
            StaticUrl::new("https://Sms.Example.com:8443/base/")
                .unwrap()
                .url(),
            "https://Sms.Example.com:8443/base"
        );
        assert!(matches!(
            StaticUrl::new("sms.example.com"),
            Err(TunnelError::InvalidUrl {
                reason: "must start with https:// or http://",
                ..
            })
        ));
        assert!(matches!(
            StaticUrl::new("https://"),
            Err(TunnelError::InvalidUrl {
                reason: "has no host",
                ..
            })
        ));
        assert!(matches!(
            StaticUrl::new("https://x.com/?a=1"),
            Err(TunnelError::InvalidUrl {
                reason: "must not contain a query or fragment",
                ..
            })
        ));
    }
}
