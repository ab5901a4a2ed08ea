//! Reading the whole store a page at a time (keyset pagination), for `telephony export`:
//! each page is one bounded query that starts after the last row of the page before, so an
//! export of any size holds one page in memory and never rescans what it has read.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::message::Receipt;

use super::{CallRecord, InboxEntry, StoreError};

/// The time window of an export: `since` inclusive, `until` exclusive; `None` is open.
///
/// ```
/// use telephony_core::store::ExportRange;
/// use time::macros::datetime;
///
/// let r = ExportRange {
///     since: Some(datetime!(2026-01-02 00:00 UTC)),
///     until: Some(datetime!(2026-01-03 00:00 UTC)),
/// };
/// assert!(r.contains(datetime!(2026-01-02 00:00 UTC)));
/// assert!(!r.contains(datetime!(2026-01-03 00:00 UTC)));
/// assert!(ExportRange::default().contains(datetime!(1970-01-01 00:00 UTC)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportRange {
    /// Only records at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Only records before this instant.
    pub until: Option<OffsetDateTime>,
}

impl ExportRange {
    /// True when `t` is inside the window.
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// Where a page ends: the time and id of its last record. Records are exported in
/// `(time, id)` order (time: an inbound message's `received_at`, a send's `created_at`, a
/// call's `started_at`), so the next page starts strictly after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExportCursor {
    /// The last record's time.
    pub at: OffsetDateTime,
    /// The last record's id (gateway message id, or call id).
    pub id: String,
}

impl ExportCursor {
    /// True when a record at `(at, id)` comes after this cursor.
    pub fn is_before(&self, at: OffsetDateTime, id: &str) -> bool {
        (at, id) > (self.at, self.id.as_str())
    }
}

/// One page of an export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage<T> {
    /// The records, in `(time, id)` order.
    pub items: Vec<T>,
    /// Where the next page starts, or `None` when this page was the last (it had fewer
    /// records than asked for).
    pub next: Option<ExportCursor>,
}

impl<T> ExportPage<T> {
    /// A page of `items` read with `limit`: there may be more when it is full, and then
    /// the next page starts after its last item (`key` gives an item's time and id).
    pub fn new(items: Vec<T>, limit: usize, key: impl Fn(&T) -> ExportCursor) -> Self {
        let next = if items.len() >= limit {
            items.last().map(key)
        } else {
            None
        };
        ExportPage { items, next }
    }
}

/// The page size used when a caller asks for 0.
pub const DEFAULT_EXPORT_PAGE: usize = 500;

/// The page size to use for `limit` (0 means [`DEFAULT_EXPORT_PAGE`]).
pub fn export_page_size(limit: usize) -> usize {
    if limit == 0 {
        DEFAULT_EXPORT_PAGE
    } else {
        limit
    }
}

/// Reading the store a page at a time, oldest first, for exports.
///
/// Each method returns at most `limit` records (0 means [`DEFAULT_EXPORT_PAGE`]) inside
/// `range`, in `(time, id)` order, strictly after `after` (from the start when `None`).
/// Records written while an export runs are included when they sort after the cursor.
///
/// Part of [`Store`](super::Store); its conformance cases are in
/// [`store_suite::export`](crate::store_suite::export).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use telephony_core::MemoryStore;
/// use telephony_core::store::{ExportRange, ExportStore};
///
/// let store = MemoryStore::new();
/// let mut after = None;
/// loop {
///     let page = store.inbox_page(&ExportRange::default(), after.as_ref(), 1000).await.unwrap();
///     for entry in &page.items { println!("{}", entry.message.id); }
///     match page.next { Some(c) => after = Some(c), None => break }
/// }
/// # });
/// ```
#[async_trait]
pub trait ExportStore: Send + Sync + 'static {
    /// Inbound messages with their state, by `received_at`.
    async fn inbox_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<InboxEntry>, StoreError>;

    /// Sends (receipts with their status history), by `created_at`.
    async fn receipts_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<Receipt>, StoreError>;

    /// Calls with their status history and transcript, by `started_at`.
    async fn calls_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<CallRecord>, StoreError>;
}

/// The cursor after an inbound message.
pub fn inbox_cursor(e: &InboxEntry) -> ExportCursor {
    ExportCursor {
        at: e.message.received_at,
        id: e.message.id.as_str().to_string(),
    }
}

/// The cursor after a send.
pub fn receipt_cursor(r: &Receipt) -> ExportCursor {
    ExportCursor {
        at: r.created_at,
        id: r.id.as_str().to_string(),
    }
}

/// The cursor after a call.
pub fn call_cursor(c: &CallRecord) -> ExportCursor {
    ExportCursor {
        at: c.started_at,
        id: c.call_id.clone(),
    }
}
