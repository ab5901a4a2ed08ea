//! This process as one replica of a gateway whose store others share: its id and what it
//! holds now, which the heartbeat worker (`worker::heartbeat`) records in the
//! store ([`ClusterStore`](telephony_core::ClusterStore)) for `telephony status`.
//!
//! The heartbeat beats every [`BEAT_EVERY`]; a replica whose last beat is older than
//! [`LIVE_FOR`] (three beats) is no longer listed. A replica that stops cleanly
//! ([`Workers::shutdown`](crate::worker::Workers::shutdown)) removes its row at once.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use telephony_core::store::ReplicaHolds;

/// How often a replica records its heartbeat.
pub const BEAT_EVERY: Duration = Duration::from_secs(5);

/// How long after its last heartbeat a replica still counts as live (three beats).
pub const LIVE_FOR: Duration = Duration::from_secs(15);

/// This process's default replica id, `<host>-<pid>-<4 hex digits>`, the same for every
/// gateway of the process (made once, on first use).
///
/// ```
/// let id = telephony_serve::default_replica_id();
/// assert_eq!(id, telephony_serve::default_replica_id());
/// assert!(id.contains(&format!("-{}-", std::process::id())));
/// ```
pub fn default_replica_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        format!(
            "{}-{}-{:04x}",
            telephony_core::store::host_name(),
            std::process::id(),
            rand::random::<u16>()
        )
    })
}

/// What this replica holds now, counted by guards the holders keep while they hold it.
#[derive(Debug, Default)]
pub(crate) struct Holding {
    realtime_calls: Arc<AtomicU64>,
    sends_in_flight: Arc<AtomicU64>,
    dispatching: Arc<AtomicU64>,
}

/// Counts one held thing until dropped.
#[derive(Debug)]
pub(crate) struct Held(Arc<AtomicU64>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn hold(counter: &Arc<AtomicU64>) -> Held {
    counter.fetch_add(1, Ordering::Relaxed);
    Held(counter.clone())
}

impl Holding {
    /// A real-time call socket open on this replica.
    pub(crate) fn realtime_call(&self) -> Held {
        hold(&self.realtime_calls)
    }

    /// An outbox entry being sent.
    pub(crate) fn send(&self) -> Held {
        hold(&self.sends_in_flight)
    }

    /// An inbound message being handed to the application.
    pub(crate) fn dispatch(&self) -> Held {
        hold(&self.dispatching)
    }

    /// The counts now.
    pub(crate) fn now(&self) -> ReplicaHolds {
        ReplicaHolds {
            realtime_calls: self.realtime_calls.load(Ordering::Relaxed),
            sends_in_flight: self.sends_in_flight.load(Ordering::Relaxed),
            dispatching: self.dispatching.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holding_counts_while_guards_live() {
        let h = Holding::default();
        let a = h.realtime_call();
        let b = h.send();
        let c = h.send();
        let d = h.dispatch();
        assert_eq!(
            h.now(),
            ReplicaHolds {
                realtime_calls: 1,
                sends_in_flight: 2,
                dispatching: 1
            }
        );
        drop((a, b, d));
        assert_eq!(
            h.now(),
            ReplicaHolds {
                realtime_calls: 0,
                sends_in_flight: 1,
                dispatching: 0
            }
        );
        drop(c);
        assert_eq!(h.now(), ReplicaHolds::default());
    }

    #[test]
    fn the_default_id_is_host_pid_and_four_hex_digits() {
        let id = default_replica_id();
        let (rest, suffix) = id.rsplit_once('-').unwrap();
        assert_eq!(suffix.len(), 4);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
        let (host, pid) = rest.rsplit_once('-').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        assert_eq!(host, telephony_core::store::host_name());
    }
}
