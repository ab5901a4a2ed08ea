//! Serving a simulator on a local port.

use std::net::SocketAddr;
use std::time::Duration;

use crate::simulator::Simulator;

impl Simulator {
    /// Binds `addr` (`127.0.0.1:0` picks a free port), serves [`router`](Self::router) on
    /// it in a background task, and returns a handle that stops it.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        self.lock().base_url = Some(format!("http://{local_addr}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%local_addr, "telnyx simulator: listening");
        Ok(RunningSimulator {
            local_addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A [`Simulator`] being served; stops when [`shutdown`](Self::shutdown) is awaited or
/// when dropped.
#[derive(Debug)]
pub struct RunningSimulator {
    local_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningSimulator {
    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash): the gateway's
    /// `telnyx.apiBaseUrl`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits (up to 5 s) for open requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
