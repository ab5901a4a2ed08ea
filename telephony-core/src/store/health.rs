//! Whether a store can commit, what failed, and how big it is ([`HealthStore`]): what
//! readiness (`/health`), `telephony status` and `/metrics` report.
//!
//! A store keeps its own account of its errors (by [`StoreErrorKind`]) and of its writes:
//! the last commit, and while writes fail, the [`WriteFailure`]. A failure lasts until a
//! later write commits, a real one or [`HealthStore::probe_write`], so a gateway that
//! gets no traffic while its disk is full still notices when space comes back.

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;

/// What kind of failure a store error is, for `telephony_store_errors_total{kind}`.
///
/// ```
/// use telephony_core::store::StoreErrorKind;
///
/// assert_eq!(StoreErrorKind::DiskFull.as_str(), "disk_full");
/// assert_eq!(StoreErrorKind::ALL.len(), 6);
/// assert!(!StoreErrorKind::Constraint.fails_writes());
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The disk (or the database's size cap) is full: SQLite `SQLITE_FULL`, PostgreSQL
    /// `53100 disk_full`, `ENOSPC`.
    DiskFull,
    /// The disk or the file failed: SQLite `SQLITE_IOERR`, PostgreSQL `58030`, other I/O.
    Io,
    /// Locked by someone else too long: SQLite `SQLITE_BUSY`/`SQLITE_LOCKED`, PostgreSQL
    /// serialization failures, deadlocks, lock timeouts.
    Busy,
    /// The database cannot be reached: connection refused or lost, server shutting down,
    /// no connection free within the pool's timeout, the store closed.
    Unavailable,
    /// A row broke a constraint (a unique key, say): that write alone failed, the store
    /// is fine.
    Constraint,
    /// Anything else (a corrupt row, an unexpected answer).
    Other,
}

impl StoreErrorKind {
    /// Every kind, in the order metrics list them.
    pub const ALL: [StoreErrorKind; 6] = [
        StoreErrorKind::DiskFull,
        StoreErrorKind::Io,
        StoreErrorKind::Busy,
        StoreErrorKind::Unavailable,
        StoreErrorKind::Constraint,
        StoreErrorKind::Other,
    ];

    /// The label value: `disk_full`, `io`, `busy`, `unavailable`, `constraint`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreErrorKind::DiskFull => "disk_full",
            StoreErrorKind::Io => "io",
            StoreErrorKind::Busy => "busy",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Constraint => "constraint",
            StoreErrorKind::Other => "other",
        }
    }

    /// Whether a write failing this way means the store cannot commit (every kind but
    /// [`Constraint`](Self::Constraint), which is one row's fault).
    pub fn fails_writes(self) -> bool {
        !matches!(self, StoreErrorKind::Constraint)
    }

    /// What an operator reads: `disk full`, `I/O error`, …
    pub fn describe(self) -> &'static str {
        match self {
            StoreErrorKind::DiskFull => "disk full",
            StoreErrorKind::Io => "I/O error",
            StoreErrorKind::Busy => "database busy",
            StoreErrorKind::Unavailable => "database unavailable",
            StoreErrorKind::Constraint => "constraint violated",
            StoreErrorKind::Other => "error",
        }
    }
}

impl std::fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes have been failing since `since`: the last one failed and none committed after.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteFailure {
    /// The last failure's kind.
    pub kind: StoreErrorKind,
    /// The last failure's error, with its causes.
    pub error: String,
    /// The first failed write of this run of failures.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// The last one.
    #[serde(with = "time::serde::rfc3339")]
    pub last: OffsetDateTime,
    /// Failed writes since `since`.
    pub failures: u64,
}

impl WriteFailure {
    /// One line for readiness and status: `the store cannot write (disk full) since …: …`.
    ///
    /// ```
    /// use telephony_core::store::{StoreErrorKind, WriteFailure};
    ///
    /// let at = time::OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
    /// let f = WriteFailure {
    ///     kind: StoreErrorKind::DiskFull,
    ///     error: "database or disk is full".into(),
    ///     since: at,
    ///     last: at,
    ///     failures: 3,
    /// };
    /// assert_eq!(
    ///     f.reason(),
    ///     "the store cannot write (disk full) since 2026-01-02T03:04:05Z, 3 failed write(s): database or disk is full"
    /// );
    /// ```
    pub fn reason(&self) -> String {
        format!(
            "the store cannot write ({}) since {}, {} failed write(s): {}",
            self.kind.describe(),
            crate::rfc3339::format(self.since),
            self.failures,
            self.error
        )
    }
}

/// A store's account of its health at one moment ([`HealthStore::health`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// When a write last committed in this process (`None`: none yet, or a store that
    /// does not keep it).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_commit: Option<OffsetDateTime>,
    /// `Some` while writes fail: the last write failed and none committed since.
    #[serde(default)]
    pub write_failure: Option<WriteFailure>,
    /// Errors since the store was opened, by kind (reads and writes; a batch of inbound
    /// messages that failed together counts once). Kinds never seen are absent.
    #[serde(default)]
    pub errors: BTreeMap<StoreErrorKind, u64>,
}

impl HealthReport {
    /// Errors of `kind` so far (0 when none).
    pub fn errors_of(&self, kind: StoreErrorKind) -> u64 {
        self.errors.get(&kind).copied().unwrap_or(0)
    }
}

/// Told of every batch of inbound messages a store commits in one transaction (its group
/// commit), so a gateway can export how long commits take and how big batches are without
/// the store knowing the gateway's metrics. Called on the store's writer task once per
/// batch: keep it to a few atomic adds.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use telephony_core::store::CommitObserver;
///
/// #[derive(Debug, Default)]
/// struct Count(AtomicU64);
/// impl CommitObserver for Count {
///     fn batch(&self, size: usize, _took: Duration, committed: bool) {
///         if committed {
///             self.0.fetch_add(size as u64, Ordering::Relaxed);
///         }
///     }
/// }
/// let c = Count::default();
/// c.batch(3, Duration::from_millis(2), true);
/// assert_eq!(c.0.load(Ordering::Relaxed), 3);
/// ```
pub trait CommitObserver: Send + Sync + std::fmt::Debug {
    /// A batch of `size` inbound messages took `took` from its `BEGIN` to its commit
    /// (`committed`) or its rollback (`!committed`).
    fn batch(&self, size: usize, took: std::time::Duration, committed: bool);
}

/// A store's health: errors by kind, whether it can commit, its size.
#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Installs `observer`, told of every inbound batch commit from now on; `false` when
    /// this store has no group commit (the memory store) or already has an observer (the
    /// first one stays: the one gateway that owns the store).
    fn observe_commits(&self, observer: std::sync::Arc<dyn CommitObserver>) -> bool {
        let _ = observer;
        false
    }

    /// Errors so far, the last commit, and the running write failure if any. Cheap: no
    /// I/O, no query (readiness asks it on every check).
    fn health(&self) -> HealthReport;

    /// Bytes the store takes (SQLite: the database file and its WAL; PostgreSQL: every
    /// table of the account's schema with its indexes and TOAST), or `None` for a store
    /// that keeps nothing on disk. One cheap query or two `stat`s: for scrapes, not for
    /// every request.
    async fn size_bytes(&self) -> Result<Option<u64>, StoreError>;

    /// Commits a small write that takes new space (and gives it back), so it fails while
    /// the disk is full: `Ok` once the store can commit again, which ends the
    /// [`write_failure`](HealthReport::write_failure). Readiness runs it (at most once a
    /// second) while writes fail.
    async fn probe_write(&self) -> Result<(), StoreError>;
}
