//! Tuning knobs for [`SqliteStore::open_with`](super::SqliteStore::open_with).

use std::time::Duration;

/// How a [`SqliteStore`](super::SqliteStore) opens its database.
///
/// The defaults suit the gateway: `synchronous=NORMAL` (see the crate docs on durability),
/// four reader connections, and a 5 s busy timeout.
///
/// ```
/// use std::time::Duration;
/// use telephony_store::SqliteOptions;
///
/// let opts = SqliteOptions::default()
///     .synchronous_full(true)
///     .max_connections(8)
///     .busy_timeout(Duration::from_secs(10));
/// assert!(opts.synchronous_full);
/// assert_eq!(opts.max_connections, 8);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// `synchronous=FULL` instead of `NORMAL`: every commit is fsynced, so it also survives
    /// an OS crash or power loss, at the cost of one fsync per commit (per inbound batch).
    pub synchronous_full: bool,
    /// Connections in the read pool (at least 1). Writes always go through one connection,
    /// because SQLite has a single writer.
    pub max_connections: u32,
    /// How long a statement waits for a lock held by another connection or process before
    /// failing with "database is locked".
    pub busy_timeout: Duration,
    /// A cap on the database file's size, in pages (SQLite's `max_page_count`; a page is
    /// 1 KiB in a database this store creates now, 2 KiB or 4 KiB in one an earlier
    /// version created: a database keeps its page size): writes that would grow it further fail as `disk_full` (`SQLITE_FULL`, as on
    /// a full disk) until space is freed inside the database. `None` (the default): no cap
    /// but the disk's.
    pub max_page_count: Option<u32>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: false,
            max_connections: 4,
            busy_timeout: Duration::from_secs(5),
            max_page_count: None,
        }
    }
}

impl SqliteOptions {
    /// Sets [`synchronous_full`](Self::synchronous_full).
    pub fn synchronous_full(mut self, on: bool) -> Self {
        self.synchronous_full = on;
        self
    }

    /// Sets [`max_connections`](Self::max_connections) (values below 1 mean 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets [`busy_timeout`](Self::busy_timeout).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets [`max_page_count`](Self::max_page_count).
    ///
    /// ```
    /// use telephony_store::SqliteOptions;
    ///
    /// // At most 256 MiB of database.
    /// let opts = SqliteOptions::default().max_page_count(Some(65_536));
    /// assert_eq!(opts.max_page_count, Some(65_536));
    /// ```
    pub fn max_page_count(mut self, pages: Option<u32>) -> Self {
        self.max_page_count = pages;
        self
    }
}
