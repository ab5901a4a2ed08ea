//! Ways to give the gateway a public URL that Twilio can reach.
//!
//! | tunnel | type | how |
//! |---|---|---|
//! | a URL you already have (reverse proxy, load balancer) | [`StaticUrl`] | `publicUrl` as configured |
//! | ngrok (feature `ngrok`, default) | `Ngrok` | in-process, the `ngrok` crate |
//! | Tailscale Funnel (public) / Serve (tailnet only) | [`Tailscale`] | the `tailscale` CLI, one mount per gateway path |
//!
//! [`Tunnel::start`] returns a [`TunnelHandle`] that owns the running tunnel: its public
//! URL, and the teardown, run by [`TunnelHandle::close`] or, failing that, when the handle
//! is dropped. A tunnel cannot outlive the gateway that holds its handle.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use telephony_tunnel::{StaticUrl, Tunnel};
//! let t = StaticUrl::new("https://sms.example.com/")?;
//! let handle = t.start("127.0.0.1:3335".parse().unwrap()).await?;
//! assert_eq!(handle.url(), "https://sms.example.com");
//! handle.close().await?;
//! # Ok::<(), telephony_tunnel::TunnelError>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::net::SocketAddr;

use async_trait::async_trait;

#[cfg(feature = "ngrok")]
mod ngrok;
mod tailscale;

#[cfg(feature = "ngrok")]
pub use crate::ngrok::Ngrok;
pub use tailscale::{Tailscale, TailscaleMode};

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
    /// The tunnel's settings are not usable (named, with what to do).
    #[error("{tunnel}: {reason}")]
    Config {
        /// Which tunnel.
        tunnel: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A program the tunnel needs is not installed.
    #[error("{tunnel}: the `{program}` command was not found ({hint})")]
    MissingProgram {
        /// Which tunnel.
        tunnel: &'static str,
        /// The program looked for.
        program: String,
        /// How to get it.
        hint: &'static str,
    },
    /// A command the tunnel ran failed; its output says why.
    #[error("{tunnel}: `{command}` failed ({status}): {output}")]
    Command {
        /// Which tunnel.
        tunnel: &'static str,
        /// The command line, as run.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed (stderr, else stdout), trimmed.
        output: String,
    },
    /// The tunnel could not be started.
    #[error("could not start {tunnel} tunnel: {reason}")]
    Start {
        /// Which tunnel.
        tunnel: &'static str,
        /// Why.
        reason: String,
    },
}

/// Something that exposes a local listener at a public URL.
#[async_trait]
pub trait Tunnel: Send + Sync {
    /// Starts forwarding to `local` (the gateway's public listener) and returns the handle
    /// that owns the running tunnel. On failure nothing is left running.
    async fn start(&self, local: SocketAddr) -> Result<TunnelHandle, TunnelError>;

    /// A short name for logs.
    fn name(&self) -> &'static str;
}

/// Tears a running tunnel down (blocking: it may run a command); called once.
pub trait Teardown: Send + 'static {
    /// Undoes what the tunnel's start did.
    fn teardown(&mut self) -> Result<(), TunnelError>;
}

/// A running tunnel: its public URL and its teardown.
///
/// [`close`](Self::close) tears it down and reports errors; dropping the handle without
/// closing tears it down too (errors are then logged to stderr, since `Drop` cannot
/// return them).
pub struct TunnelHandle {
    name: &'static str,
    url: String,
    teardown: Option<Box<dyn Teardown>>,
}

impl fmt::Debug for TunnelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelHandle")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("running", &self.teardown.is_some())
            .finish()
    }
}

impl TunnelHandle {
    /// A handle for `url` that `teardown` undoes (`None`: nothing to undo).
    pub fn new(name: &'static str, url: String, teardown: Option<Box<dyn Teardown>>) -> Self {
        TunnelHandle {
            name,
            url,
            teardown,
        }
    }

    /// The public base URL (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The tunnel's name (`static`, `tailscale-funnel`, …).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Tears the tunnel down now.
    pub async fn close(mut self) -> Result<(), TunnelError> {
        let Some(mut t) = self.teardown.take() else {
            return Ok(());
        };
        let name = self.name;
        tokio::task::spawn_blocking(move || t.teardown())
            .await
            .map_err(|e| TunnelError::Start {
                tunnel: name,
                reason: format!("teardown task failed: {e}"),
            })?
    }
}

impl Drop for TunnelHandle {
    fn drop(&mut self) {
        if let Some(mut t) = self.teardown.take() {
            if let Err(e) = t.teardown() {
                eprintln!(
                    "telephony: could not tear down the {} tunnel: {e}",
                    self.name
                );
            }
        }
    }
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
    async fn start(&self, _local: SocketAddr) -> Result<TunnelHandle, TunnelError> {
        Ok(TunnelHandle::new("static", self.url.clone(), None))
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

    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Teardown for Count {
        fn teardown(&mut self) -> Result<(), TunnelError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_handle_tears_down_once_on_close_or_on_drop() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let n = std::sync::Arc::new(AtomicUsize::new(0));
        let h = TunnelHandle::new("t", "https://x".into(), Some(Box::new(Count(n.clone()))));
        h.close().await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 1);
        let h = TunnelHandle::new("t", "https://x".into(), Some(Box::new(Count(n.clone()))));
        drop(h);
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }
}
