//! The first step of [`start`](super::start): resolve the listen addresses, apply the
//! fail-closed checks, lock the data directory and bind both listeners, so a port in use
//! is reported before anything else starts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use telephony_serve::client_ip::TrustedProxies;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::ServeError;
use super::security::check_security;
use crate::config::Config;
use crate::lock::DataDirLock;

/// The public and admin listeners, bound.
pub(super) struct Listeners {
    pub(super) public: TcpListener,
    pub(super) admin: TcpListener,
    /// Who may reach the admin listener, and how (`admin.allowNetworks`, `admin.tls`).
    pub(super) admin_access: AdminAccess,
    /// Where the public listener is bound.
    pub(super) public_addr: SocketAddr,
    /// Where the admin listener is bound.
    pub(super) admin_addr: SocketAddr,
}

/// `admin.allowNetworks` and `admin.tls`, loaded.
pub(super) struct AdminAccess {
    /// Peers allowed to connect (empty: every peer).
    pub(super) allowed: TrustedProxies,
    /// The TLS settings, when the admin API speaks HTTPS.
    pub(super) tls: Option<TlsAcceptor>,
}

impl AdminAccess {
    /// `admin.allowNetworks` and `admin.tls` loaded; errors name the key and the file.
    fn load(config: &Config) -> Result<Self, ServeError> {
        let allowed = TrustedProxies::parse(&config.admin.allow_networks).map_err(|e| {
            ServeError::Config {
                key: "admin.allowNetworks",
                reason: e.to_string(),
            }
        })?;
        let tls = config
            .admin
            .tls
            .as_ref()
            .map(super::admin_listener::tls_acceptor)
            .transpose()?;
        Ok(AdminAccess { allowed, tls })
    }

    /// True when the admin listener is plain TCP open to every peer (loopback).
    pub(super) fn is_plain(&self) -> bool {
        self.tls.is_none() && self.allowed.is_empty()
    }
}

/// What binding holds: the listeners and the data directory's lock.
pub(super) struct Bound {
    pub(super) listeners: Listeners,
    pub(super) lock: DataDirLock,
    /// Whether `serve.bind` is a loopback address.
    pub(super) public_loopback: bool,
}

/// Resolves `serve.bind` and `admin.bind`, refuses unsafe settings, locks the data
/// directory (one gateway per directory) and binds the listeners.
pub(super) async fn bind(config: &Config) -> Result<Bound, ServeError> {
    let public_sock = resolve(&config.serve.bind, config.serve.port, "serve.bind").await?;
    let admin_sock = resolve(&config.admin.bind, config.admin.port, "admin.bind").await?;
    let public_loopback = public_sock.ip().is_loopback();
    check_security(config, public_loopback, admin_sock.ip().is_loopback())?;
    crate::tunnel::check(config, std::env::var("NGROK_AUTHTOKEN").ok().as_deref())?;
    let admin_access = AdminAccess::load(config)?;
    let data_dir = config.data_dir();
    let mut lock = DataDirLock::acquire(&data_dir)?;

    // Listeners first: a port in use is reported before anything else starts.
    let public = listen(public_sock, "serve.port").await?;
    let admin = listen(admin_sock, "admin.port").await?;
    let local = |l: &TcpListener, sock: SocketAddr| {
        l.local_addr().map_err(|source| ServeError::Bind {
            addr: sock.to_string(),
            source,
        })
    };
    let public_addr = local(&public, public_sock)?;
    let admin_addr = local(&admin, admin_sock)?;
    lock.set_listeners(&public_addr.to_string(), &admin_addr.to_string())?;
    Ok(Bound {
        listeners: Listeners {
            public,
            admin,
            admin_access,
            public_addr,
            admin_addr,
        },
        lock,
        public_loopback,
    })
}

/// Binds `addr`; a port in use names who holds it (another gateway's data directory when
/// it can be found).
async fn listen(addr: SocketAddr, key: &'static str) -> Result<TcpListener, ServeError> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && addr.port() != 0 => {
            let holder = match crate::lock::port_holder(addr.port()) {
                Some(info) => format!(
                    "another telephony gateway holds it ({}); stop it, or give this one another {key}",
                    crate::lock::describe(&info)
                ),
                None if answers_health(addr).await => format!(
                    "a telephony gateway answers there (GET /health); stop it, or give this one another {key}"
                ),
                None => format!(
                    "another program listens there; stop it, or give this one another {key}"
                ),
            };
            Err(ServeError::PortInUse {
                key,
                port: addr.port(),
                ip: addr.ip(),
                holder,
            })
        }
        Err(source) => Err(ServeError::Bind {
            addr: addr.to_string(),
            source,
        }),
    }
}

/// Whether a gateway's `/health` answers on `addr` (loopback for a wildcard bind), within
/// a second.
async fn answers_health(addr: SocketAddr) -> bool {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(IpAddr::from([127, 0, 0, 1]));
    }
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
    else {
        return false;
    };
    match client.get(format!("http://{addr}/health")).send().await {
        Ok(r) => r
            .json::<serde_json::Value>()
            .await
            .is_ok_and(|v| v == serde_json::json!({"status": "ok"})),
        Err(_) => false,
    }
}

async fn resolve(bind: &str, port: u16, key: &'static str) -> Result<SocketAddr, ServeError> {
    if let Ok(ip) = bind.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut addrs =
        tokio::net::lookup_host((bind, port))
            .await
            .map_err(|e| ServeError::Config {
                key,
                reason: format!("cannot resolve {bind:?}: {e}"),
            })?;
    addrs.next().ok_or_else(|| ServeError::Config {
        key,
        reason: format!("{bind:?} resolves to no address"),
    })
}
