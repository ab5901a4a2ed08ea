//! [`ServeError`]: why the gateway did not start.

use std::net::IpAddr;
use std::path::PathBuf;

use telephony_tunnel::TunnelError;

use crate::lock::LockError;
use crate::providers::BuildError;

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The provider or the store could not be built (missing credentials, bad keys, an
    /// unreadable database).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A setting makes it unsafe or impossible to start.
    #[error("{key}: {reason}")]
    Config {
        /// The key at fault.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A listener could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The port is taken (by another gateway, named when found, or another program).
    #[error("{key} {port}: the port is already in use on {ip}: {holder}")]
    PortInUse {
        /// `serve.port` or `admin.port`.
        key: &'static str,
        /// The port.
        port: u16,
        /// The address it was bound on.
        ip: IpAddr,
        /// Who holds it, and what to do.
        holder: String,
    },
    /// Another gateway runs on the same data directory, or the lock file is unusable.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The tunnel did not start (nothing of it is left running).
    #[error("tunnel.provider {provider:?}: {source}")]
    Tunnel {
        /// The configured tunnel.
        provider: String,
        /// Why.
        #[source]
        source: TunnelError,
    },
    /// A file in the data directory could not be written or read.
    #[error("could not use the data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ServeError {
    /// True for configuration problems (exit code 2 in the CLI).
    pub fn is_config(&self) -> bool {
        matches!(self, ServeError::Config { .. })
            || matches!(self, ServeError::Build(b) if b.is_config())
            || matches!(
                self,
                ServeError::Tunnel {
                    source: TunnelError::Config { .. } | TunnelError::InvalidUrl { .. },
                    ..
                }
            )
    }
}
