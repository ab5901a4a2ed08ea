//! Reading the store a page at a time ([`ExportStore`]).

use super::*;
use crate::store::{
    ExportCursor, ExportPage, ExportRange, ExportStore, call_cursor, export_page_size,
    inbox_cursor, receipt_cursor,
};

/// The page of `items` (already filtered to the range) after `after`, in `(time, id)` order.
fn page<T: Clone>(
    items: Vec<&T>,
    after: Option<&ExportCursor>,
    limit: usize,
    key: fn(&T) -> ExportCursor,
) -> ExportPage<T> {
    let limit = export_page_size(limit);
    let mut keyed: Vec<(ExportCursor, &T)> = items
        .into_iter()
        .map(|t| (key(t), t))
        .filter(|(k, _)| after.is_none_or(|a| a.is_before(k.at, &k.id)))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| (a.at, &a.id).cmp(&(b.at, &b.id)));
    keyed.truncate(limit);
    ExportPage::new(
        keyed.into_iter().map(|(_, t)| t.clone()).collect(),
        limit,
        key,
    )
}

#[async_trait]
impl ExportStore for MemoryStore {
    async fn inbox_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<InboxEntry>, StoreError> {
        let g = self.lock();
        let items = g
            .inbox
            .iter()
            .filter(|e| range.contains(e.message.received_at))
            .collect();
        Ok(page(items, after, limit, inbox_cursor))
    }

    async fn receipts_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<Receipt>, StoreError> {
        let g = self.lock();
        let items = g
            .receipts
            .values()
            .filter(|r| range.contains(r.created_at))
            .collect();
        Ok(page(items, after, limit, receipt_cursor))
    }

    async fn calls_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<CallRecord>, StoreError> {
        let g = self.lock();
        let items = g
            .calls
            .iter()
            .filter(|c| range.contains(c.started_at))
            .collect();
        Ok(page(items, after, limit, call_cursor))
    }
}
