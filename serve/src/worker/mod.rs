//! Background workers: [`outbox`] sends queued messages, [`dispatch`] hands stored inbound
//! messages to the application, [`forward`] posts events to `forward.url`, [`prune`]
//! deletes what the retention policy no longer keeps.

pub(crate) mod dispatch;
pub(crate) mod forward;
pub(crate) mod heartbeat;
pub(crate) mod outbox;
pub(crate) mod prune;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::gateway::Gateway;

/// Running workers; stop them with [`Workers::shutdown`].
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Asks the workers to stop after their current item, and waits for them.
    pub async fn shutdown(self) {
        // Receivers may already be gone if a worker ended; nothing to tell them then.
        let _ = self.stop.send(true);
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "worker task ended abnormally");
            }
        }
    }
}

impl Gateway {
    /// Starts the workers on the current tokio runtime: outbox, dispatch, forwarding, and
    /// (with voice on) the voice worker (duration limits, session reaper), the pruning
    /// of the rate limiters, the retention pruner (with `store.retention` set), and this
    /// replica's heartbeat ([`crate::cluster`]), which
    /// [`Workers::shutdown`] ends by removing the replica's row.
    pub fn spawn_workers(&self) -> Workers {
        let (stop, rx) = watch::channel(false);
        let dispatch = self.dispatch().clone();
        let security = self.security().clone();
        let prune = move || security.webhook_limiters().prune();
        let tasks = vec![
            tokio::spawn(outbox::run(self.outbox().clone(), rx.clone())),
            tokio::spawn(forward::run(dispatch.forwarder().clone(), rx.clone())),
            tokio::spawn(dispatch::run(dispatch, self.clone(), rx.clone())),
            tokio::spawn(crate::voice::worker::run(self.voice().clone(), rx.clone())),
            tokio::spawn(crate::rate_limit::prune_periodically(prune, rx.clone())),
            tokio::spawn(prune::run(self.pruner().clone(), rx.clone())),
            tokio::spawn(crate::worker::heartbeat::heartbeat(
                self.shared().clone(),
                rx,
            )),
        ];
        Workers { stop, tasks }
    }
}
