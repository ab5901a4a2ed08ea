//! What the replicas of one gateway, sharing a store, know about each other: whether the
//! store answers ([`ClusterStore::ping`]), who is running (heartbeats), which replica runs
//! a once-per-cluster job (singleton leases), and wake-ups when another replica enqueued
//! work ([`WorkWatch`]).

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::watch;

use super::StoreError;

/// What a replica holds at the moment of its heartbeat, for `telephony status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaHolds {
    /// Real-time call sockets (Media Streams, ConversationRelay) open on this replica:
    /// they cannot move to another replica.
    pub realtime_calls: u64,
    /// Outbox entries this replica is sending now (claimed, provider call under way).
    pub sends_in_flight: u64,
    /// Inbound messages this replica is handing to the application now.
    pub dispatching: u64,
}

/// One replica's heartbeat row: who it is and what it holds.
///
/// ```
/// use telephony_core::store::{ReplicaBeat, ReplicaHolds};
/// use time::OffsetDateTime;
///
/// let now = OffsetDateTime::now_utc();
/// let beat = ReplicaBeat::new("gw1-4242-a1b2", now)
///     .with_accounts(vec!["default".into()]);
/// assert_eq!(beat.pid, std::process::id());
/// assert_eq!(beat.holds, ReplicaHolds::default());
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaBeat {
    /// The replica's id (unique among the replicas of one store).
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// The gateway version it runs.
    pub version: String,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it last beat (the heartbeat's own time; a store keeps it to the millisecond).
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// The accounts it serves.
    pub accounts: Vec<String>,
    /// What it holds now.
    pub holds: ReplicaHolds,
    /// Anything else the replica wants to show (free-form JSON), or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Value>,
}

impl ReplicaBeat {
    /// A beat for replica `id` of this process (host name, pid, this crate's version)
    /// started at `now`, holding nothing, serving no account yet.
    pub fn new(id: impl Into<String>, now: OffsetDateTime) -> Self {
        ReplicaBeat {
            id: id.into(),
            host: host_name(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: now,
            last_seen: now,
            accounts: Vec::new(),
            holds: ReplicaHolds::default(),
            extra: None,
        }
    }

    /// Sets [`accounts`](Self::accounts).
    pub fn with_accounts(mut self, accounts: Vec<String>) -> Self {
        self.accounts = accounts;
        self
    }
}

/// This machine's host name: `$HOSTNAME`, else `/etc/hostname`, else `localhost`.
///
/// ```
/// assert!(!telephony_core::store::host_name().is_empty());
/// ```
pub fn host_name() -> String {
    let from_env = std::env::var("HOSTNAME").ok();
    let from_file = || {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .ok()
    };
    from_env
        .or_else(from_file)
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A kind of queued work another replica may have enqueued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkKind {
    /// Inbound messages waiting for dispatch ([`InboxStore`](super::InboxStore)).
    Inbound,
    /// Outbox entries waiting to be sent ([`OutboxStore`](super::OutboxStore)).
    Outbound,
    /// Events waiting to be forwarded ([`ForwardStore`](super::ForwardStore)).
    Forward,
}

impl WorkKind {
    /// Every kind.
    pub const ALL: [WorkKind; 3] = [WorkKind::Inbound, WorkKind::Outbound, WorkKind::Forward];

    /// `inbound`, `outbound` or `forward`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Inbound => "inbound",
            WorkKind::Outbound => "outbound",
            WorkKind::Forward => "forward",
        }
    }

    /// The kind named by [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<WorkKind> {
        WorkKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Wakes a worker when another replica enqueued work of one [`WorkKind`]; from
/// [`ClusterStore::watch_work`].
///
/// Nothing is missed between two waits: a wake-up that came while the worker was busy
/// makes the next [`changed`](Self::changed) return at once (several such wake-ups return
/// once). A watch that can never fire ([`WorkWatch::never`]) waits forever, so it can sit
/// in a `select!` beside the worker's own wake-up and poll.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use telephony_core::store::WorkWatch;
///
/// let (tx, rx) = tokio::sync::watch::channel(0u64);
/// let mut work = WorkWatch::from_receiver(rx);
/// tx.send_modify(|n| *n += 1);
/// work.changed().await; // at once: the wake-up came before the wait
/// let mut never = WorkWatch::never();
/// assert!(tokio::time::timeout(Duration::from_millis(10), never.changed()).await.is_err());
/// # });
/// ```
#[derive(Debug)]
pub struct WorkWatch {
    rx: Option<watch::Receiver<u64>>,
}

impl WorkWatch {
    /// A watch that never fires (a store with one process, where in-process wake-ups
    /// already cover every enqueue).
    pub fn never() -> Self {
        WorkWatch { rx: None }
    }

    /// A watch on a backend's counter of wake-ups: each change of the value is one.
    pub fn from_receiver(rx: watch::Receiver<u64>) -> Self {
        WorkWatch { rx: Some(rx) }
    }

    /// Resolves when work was signalled since the last call (or since the watch was
    /// made); never, when the watch cannot fire or its backend stopped.
    pub async fn changed(&mut self) {
        match &mut self.rx {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    // The backend stopped signalling (store closed): nothing more to wait for.
                    self.rx = None;
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

/// What replicas sharing a store know about each other.
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::cluster`](crate::store_suite::cluster).
#[async_trait]
pub trait ClusterStore: Send + Sync + 'static {
    /// Ok when the store answers a trivial statement now and its schema is migrated (a
    /// store is migrated when it opens, so an open store that answers is ready). This is
    /// the readiness of `/health`: an error means the store is unreachable (or closed), and
    /// the replica should get no traffic until it answers again. It never waits longer
    /// than the backend's connect timeout (a pool that cannot get a connection fails).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records a replica's heartbeat: inserts its row, or replaces the row with the same
    /// [`id`](ReplicaBeat::id) (every field, `started_at` included).
    async fn heartbeat(&self, beat: &ReplicaBeat) -> Result<(), StoreError>;

    /// Replicas whose last heartbeat is at or after `live_since`, ordered by id.
    async fn replicas(&self, live_since: OffsetDateTime) -> Result<Vec<ReplicaBeat>, StoreError>;

    /// Removes a replica's row (a replica that stops cleanly); nothing when it has none.
    async fn leave(&self, id: &str) -> Result<(), StoreError>;

    /// Takes or renews the lease on the once-per-cluster job `task` for `holder` until
    /// `now + ttl`. True when `holder` holds it now: it was free, its lease had expired
    /// (at or before `now`), or `holder` already held it (renewed). False while another
    /// holder's lease runs, and then nothing changes.
    async fn try_lead(
        &self,
        task: &str,
        holder: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// A watch that fires when another process enqueued work of `kind` in this store, so
    /// idle workers wake at once rather than at their next poll. Backends with a single
    /// process (memory, SQLite) return [`WorkWatch::never`]: every enqueue there comes
    /// from the process whose workers it concerns, and that process wakes its workers
    /// itself. Must be called inside a tokio runtime (a backend may start a listener).
    fn watch_work(&self, kind: WorkKind) -> WorkWatch;
}
