//! What both backends report through [`HealthStore`](telephony_core::HealthStore): store
//! errors classified by kind in one place ([`error_kind`]), and each store's account of
//! them ([`Health`]): counts by kind, the last commit, and the running write failure.
//!
//! Recording costs a clock read and an atomic store per commit (per inbound batch, not
//! per message) and an atomic increment per error; reading never blocks a writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use telephony_core::store::{CommitObserver, HealthReport, StoreErrorKind, WriteFailure};
use telephony_core::{StoreError, error_chain};
use time::OffsetDateTime;

/// What kind of failure `e` is, or `None` for an answer rather than a failure (a record
/// not found, a lease lost to another worker).
///
/// SQLite's result codes, PostgreSQL's SQLSTATEs, I/O errors and the connection pool's
/// errors are classified here, anywhere in the error's chain of causes.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use telephony_core::store::prelude::*;
/// use telephony_core::{MessageId, StoreErrorKind};
/// use telephony_store::{SqliteStore, error_kind};
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("telephony.db")).await?;
/// store.close().await;
/// let err = store.outbox_len().await.unwrap_err();
/// assert_eq!(error_kind(&err), Some(StoreErrorKind::Unavailable));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn error_kind(e: &StoreError) -> Option<StoreErrorKind> {
    match e {
        StoreError::NotFound { .. } | StoreError::LeaseLost { .. } => None,
        StoreError::Corrupt { .. } => Some(StoreErrorKind::Other),
        StoreError::Backend(b) => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&**b);
            while let Some(c) = cause {
                if let Some(kind) = classify(c) {
                    return Some(kind);
                }
                cause = c.source();
            }
            Some(StoreErrorKind::Other)
        }
        _ => Some(StoreErrorKind::Other),
    }
}

/// One link of an error chain, if it is one this crate knows.
fn classify(e: &(dyn std::error::Error + 'static)) -> Option<StoreErrorKind> {
    if let Some(e) = e.downcast_ref::<sqlx::Error>() {
        return Some(sqlx_kind(e));
    }
    if let Some(e) = e.downcast_ref::<Arc<sqlx::Error>>() {
        return Some(sqlx_kind(e));
    }
    if e.downcast_ref::<StoreClosed>().is_some() {
        return Some(StoreErrorKind::Unavailable);
    }
    e.downcast_ref::<std::io::Error>().map(io_kind)
}

fn sqlx_kind(e: &sqlx::Error) -> StoreErrorKind {
    match e {
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                let code = db.code().and_then(|c| c.parse::<i32>().ok());
                return code.map_or(StoreErrorKind::Other, sqlite_kind);
            }
            if matches!(
                db.kind(),
                sqlx::error::ErrorKind::UniqueViolation
                    | sqlx::error::ErrorKind::ForeignKeyViolation
                    | sqlx::error::ErrorKind::NotNullViolation
                    | sqlx::error::ErrorKind::CheckViolation
            ) {
                return StoreErrorKind::Constraint;
            }
            // PostgreSQL (the only other backend): its SQLSTATE.
            db.code()
                .map_or(StoreErrorKind::Other, |c| sqlstate_kind(&c))
        }
        sqlx::Error::Io(io) => io_kind(io),
        sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
        _ => StoreErrorKind::Other,
    }
}

/// SQLite's (extended) result code, by its primary code (the low byte).
fn sqlite_kind(code: i32) -> StoreErrorKind {
    match code & 0xff {
        13 => StoreErrorKind::DiskFull,    // SQLITE_FULL
        10 | 8 | 15 => StoreErrorKind::Io, // IOERR, READONLY, PROTOCOL
        5 | 6 => StoreErrorKind::Busy,     // BUSY, LOCKED
        14 => StoreErrorKind::Unavailable, // CANTOPEN
        19 => StoreErrorKind::Constraint,  // CONSTRAINT
        _ => StoreErrorKind::Other,
    }
}

/// PostgreSQL's SQLSTATE.
fn sqlstate_kind(code: &str) -> StoreErrorKind {
    match code {
        "53100" => StoreErrorKind::DiskFull,
        "58030" => StoreErrorKind::Io,
        "40001" | "40P01" | "55P03" | "57014" => StoreErrorKind::Busy,
        "57P01" | "57P02" | "57P03" => StoreErrorKind::Unavailable,
        c if c.starts_with("08") || c.starts_with("53") => StoreErrorKind::Unavailable,
        c if c.starts_with("23") => StoreErrorKind::Constraint,
        _ => StoreErrorKind::Other,
    }
}

fn io_kind(e: &std::io::Error) -> StoreErrorKind {
    use std::io::ErrorKind as K;
    if e.raw_os_error() == Some(28) {
        // ENOSPC, on systems where it has no ErrorKind of its own.
        return StoreErrorKind::DiskFull;
    }
    match e.kind() {
        K::StorageFull => StoreErrorKind::DiskFull,
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::TimedOut
        | K::UnexpectedEof
        | K::AddrNotAvailable => StoreErrorKind::Unavailable,
        K::Other => StoreErrorKind::Other,
        _ => StoreErrorKind::Io,
    }
}

/// The innermost cause's message (`(code: 13) database or disk is full`), which the
/// layers above repeat: short enough for a readiness reason. The whole chain is logged.
fn root_cause(e: &StoreError) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The store was closed, or its inbound writer stopped with the runtime.
#[derive(Debug, thiserror::Error)]
#[error("the inbound writer task has stopped (store closed or runtime shutting down)")]
pub(crate) struct StoreClosed;

/// A store's account of its errors and writes (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct Health {
    errors: [AtomicU64; StoreErrorKind::ALL.len()],
    /// Unix milliseconds of the last commit; 0 before the first.
    last_commit_ms: AtomicI64,
    /// Whether `failure` holds a running failure: the one thing a commit reads.
    failing: AtomicBool,
    failure: std::sync::Mutex<Option<WriteFailure>>,
    /// Told of every inbound batch (set once, by the gateway that owns the store).
    observer: std::sync::OnceLock<Arc<dyn CommitObserver>>,
}

fn index(kind: StoreErrorKind) -> usize {
    StoreErrorKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(StoreErrorKind::ALL.len() - 1)
}

impl Health {
    /// A write committed: the running failure, if any, is over.
    pub(crate) fn committed(&self) {
        let now = OffsetDateTime::now_utc();
        let ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        self.last_commit_ms.store(ms, Ordering::Release);
        if self.failing.load(Ordering::Acquire) {
            let mut failure = telephony_core::sync::lock(&self.failure);
            if let Some(f) = failure.take() {
                tracing::info!(
                    kind = %f.kind,
                    failed_writes = f.failures,
                    since = %telephony_core::rfc3339::format(f.since),
                    "store writes commit again"
                );
            }
            self.failing.store(false, Ordering::Release);
        }
    }

    /// Installs the observer of inbound batches; `false` if one is already installed.
    pub(crate) fn observe_commits(&self, observer: Arc<dyn CommitObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// An inbound batch of `size` took `took` and committed (or rolled back): told to the
    /// observer, if any (a load and a call; no lock).
    pub(crate) fn batch(&self, size: usize, took: std::time::Duration, committed: bool) {
        if let Some(o) = self.observer.get() {
            o.batch(size, took, committed);
        }
    }

    /// A read (or anything but a write) failed: counted.
    pub(crate) fn failed(&self, e: &StoreError) -> Option<StoreErrorKind> {
        let kind = error_kind(e)?;
        self.count(kind, 1);
        Some(kind)
    }

    /// A write failed: counted, and unless it was one row's fault, writes are failing
    /// until one commits.
    pub(crate) fn write_failed(&self, e: &StoreError) {
        if let Some(kind) = self.failed(e) {
            self.fail_writes(kind, e);
        }
    }

    /// `n` writes failed on a constraint, one row each (counted, the store is fine).
    pub(crate) fn count(&self, kind: StoreErrorKind, n: u64) {
        self.errors[index(kind)].fetch_add(n, Ordering::Relaxed);
    }

    fn fail_writes(&self, kind: StoreErrorKind, e: &StoreError) {
        if !kind.fails_writes() {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let error = root_cause(e);
        let mut failure = telephony_core::sync::lock(&self.failure);
        match &mut *failure {
            Some(f) => {
                f.kind = kind;
                f.error = error;
                f.last = now;
                f.failures += 1;
            }
            None => {
                tracing::error!(kind = %kind, error = %error_chain(e), "store writes failing: nothing is acknowledged until a write commits again");
                *failure = Some(WriteFailure {
                    kind,
                    error,
                    since: now,
                    last: now,
                    failures: 1,
                });
            }
        }
        self.failing.store(true, Ordering::Release);
    }

    pub(crate) fn report(&self) -> HealthReport {
        let ms = self.last_commit_ms.load(Ordering::Acquire);
        let last_commit = (ms > 0)
            .then(|| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
            .flatten();
        let errors = StoreErrorKind::ALL
            .iter()
            .zip(&self.errors)
            .map(|(k, n)| (*k, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        HealthReport {
            last_commit,
            write_failure: telephony_core::sync::lock(&self.failure).clone(),
            errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::backend(e)
    }

    #[test]
    fn kinds_of_io_pool_and_sqlstate_errors() {
        let enospc = std::io::Error::from_raw_os_error(28);
        assert_eq!(error_kind(&backend(enospc)), Some(StoreErrorKind::DiskFull));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            error_kind(&backend(sqlx::Error::Io(refused))),
            Some(StoreErrorKind::Unavailable)
        );
        let eio = std::io::Error::from_raw_os_error(5);
        assert_eq!(error_kind(&backend(eio)), Some(StoreErrorKind::Io));
        assert_eq!(
            error_kind(&backend(sqlx::Error::PoolTimedOut)),
            Some(StoreErrorKind::Unavailable)
        );
        assert_eq!(
            error_kind(&backend(StoreClosed)),
            Some(StoreErrorKind::Unavailable)
        );
        assert_eq!(
            error_kind(&StoreError::NotFound {
                kind: "message",
                id: "m1".into()
            }),
            None
        );
        assert_eq!(error_kind(&StoreError::LeaseLost { id: "m1".into() }), None);
        for (code, kind) in [
            ("53100", StoreErrorKind::DiskFull),
            ("58030", StoreErrorKind::Io),
            ("40P01", StoreErrorKind::Busy),
            ("57P01", StoreErrorKind::Unavailable),
            ("08006", StoreErrorKind::Unavailable),
            ("53300", StoreErrorKind::Unavailable),
            ("23505", StoreErrorKind::Constraint),
            ("42P01", StoreErrorKind::Other),
        ] {
            assert_eq!(sqlstate_kind(code), kind, "{code}");
        }
        for (code, kind) in [
            (13, StoreErrorKind::DiskFull),
            (10 | (4 << 8), StoreErrorKind::Io), // SQLITE_IOERR_FSYNC
            (5, StoreErrorKind::Busy),
            (6, StoreErrorKind::Busy),
            (14, StoreErrorKind::Unavailable),
            (19 | (8 << 8), StoreErrorKind::Constraint), // SQLITE_CONSTRAINT_UNIQUE
            (11, StoreErrorKind::Other),
        ] {
            assert_eq!(sqlite_kind(code), kind, "{code}");
        }
    }

    #[test]
    fn a_failure_lasts_until_a_commit_and_constraints_do_not_fail_writes() {
        let h = Health::default();
        assert_eq!(h.report(), HealthReport::default());
        h.write_failed(&backend(sqlx::Error::Io(
            std::io::Error::from_raw_os_error(28),
        )));
        h.write_failed(&backend(sqlx::Error::Io(
            std::io::Error::from_raw_os_error(5),
        )));
        let r = h.report();
        let f = r.write_failure.clone().unwrap();
        assert_eq!((f.kind, f.failures), (StoreErrorKind::Io, 2));
        assert!(f.since <= f.last);
        assert_eq!(r.errors_of(StoreErrorKind::DiskFull), 1);
        assert_eq!(r.errors_of(StoreErrorKind::Io), 1);
        assert_eq!(r.last_commit, None);
        h.committed();
        let r = h.report();
        assert_eq!(r.write_failure, None);
        assert!(r.last_commit.is_some());
        h.count(StoreErrorKind::Constraint, 3);
        h.write_failed(&StoreError::LeaseLost { id: "m1".into() });
        let r = h.report();
        assert_eq!(r.write_failure, None);
        assert_eq!(r.errors_of(StoreErrorKind::Constraint), 3);
        assert_eq!(r.errors.values().sum::<u64>(), 5);
    }
}
