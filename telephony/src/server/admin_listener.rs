//! The admin listener's accept loop when it is reachable off loopback: `admin.allowNetworks`
//! (connections from other peers are closed at accept, logged and counted in
//! `telephony_admin_refused_total{reason="network"}`) and `admin.tls` (rustls with the ring
//! provider; a handshake that fails or takes over [`HANDSHAKE_TIMEOUT`] is logged and
//! counted as `reason="tls"`). Handshakes run in their own tasks, so a slow client never
//! holds up the others.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use telephony_serve::Gateway;
use telephony_serve::client_ip::TrustedProxies;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::ServeError;
use crate::config::AdminTlsSection;

/// Longest a client may take to complete the TLS handshake.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection of either kind.
pub(super) trait Conn: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Conn for T {}

/// An axum [`Listener`](axum::serve::Listener) over accepted (and, with TLS, handshaken)
/// connections from allowed peers.
pub(super) struct AdminListener {
    rx: mpsc::Receiver<(Box<dyn Conn>, SocketAddr)>,
    local: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for AdminListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for AdminListener {
    type Io = Box<dyn Conn>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept task ended (it never does on its own): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The rustls server settings for `admin.tls`; errors name the key and the file.
pub(super) fn tls_acceptor(tls: &AdminTlsSection) -> Result<TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |key: &'static str, path: &Path, why: String| ServeError::Config {
        key,
        reason: format!("{}: {why}", path.display()),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            bad(
                "admin.tls.cert",
                &tls.cert,
                format!("cannot read a PEM certificate chain ({e})"),
            )
        })?;
    if certs.is_empty() {
        return Err(bad(
            "admin.tls.cert",
            &tls.cert,
            "holds no CERTIFICATE block".into(),
        ));
    }
    // The error never quotes the key.
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| {
        bad(
            "admin.tls.key",
            &tls.key,
            format!("cannot read a PEM private key ({e})"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| {
            bad(
                "admin.tls.key",
                &tls.key,
                format!("does not fit the certificate in admin.tls.cert ({e})"),
            )
        })?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts on `listener`: peers outside `allowed` (when not empty) are closed at once;
/// with `tls`, the others go through the handshake first.
pub(super) fn admin_listener(
    listener: TcpListener,
    local: SocketAddr,
    allowed: TrustedProxies,
    tls: Option<TlsAcceptor>,
    metrics_of: Gateway,
) -> AdminListener {
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, as axum does.
                    tracing::error!(listener = "admin", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if !allowed.is_empty() && !allowed.trusts(peer.ip()) {
                tracing::warn!(peer = %peer, "admin connection refused: the peer is not in admin.allowNetworks");
                metrics_of
                    .metrics()
                    .inc("telephony_admin_refused_total", &[("reason", "network")]);
                continue;
            }
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "could not set TCP_NODELAY on a connection");
            }
            match &tls {
                None => {
                    if tx
                        .send((Box::new(tcp) as Box<dyn Conn>, peer))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Some(acceptor) => {
                    let (acceptor, tx, metrics) =
                        (acceptor.clone(), tx.clone(), metrics_of.clone());
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                // The server stopped when nobody receives.
                                let _ = tx.send((Box::new(stream) as Box<dyn Conn>, peer)).await;
                            }
                            Ok(Err(e)) => {
                                tracing::warn!(peer = %peer, error = %e, "admin TLS handshake failed");
                                metrics
                                    .metrics()
                                    .inc("telephony_admin_refused_total", &[("reason", "tls")]);
                            }
                            Err(_) => {
                                tracing::warn!(peer = %peer, timeout_s = HANDSHAKE_TIMEOUT.as_secs(), "admin TLS handshake timed out");
                                metrics
                                    .metrics()
                                    .inc("telephony_admin_refused_total", &[("reason", "tls")]);
                            }
                        }
                    });
                }
            }
        }
    });
    AdminListener { rx, local, task }
}
