//! Reading the store a page at a time ([`ExportStore`]) on the read pool: each page is one
//! range scan of the time index starting at the cursor, so a page costs the same however
//! far into the export it is, and never holds the writer.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use telephony_core::store::{
    CallRecord, ExportCursor, ExportPage, ExportRange, ExportStore, InboxEntry, call_cursor,
    export_page_size, inbox_cursor, receipt_cursor,
};
use telephony_core::{Receipt, StoreError};

use super::compact::Key;
use super::{SqliteStore, calls, codec, inbox, receipts};

/// The bounds bound as `?1`‥`?4`: the window (`since`, `until`) and the cursor (time, id).
struct Bounds {
    since: i64,
    until: i64,
    after_ms: i64,
    after_id: String,
}

impl Bounds {
    fn new(range: &ExportRange, after: Option<&ExportCursor>) -> Self {
        Bounds {
            since: range.since.map_or(i64::MIN, codec::to_ms),
            until: range.until.map_or(i64::MAX, codec::to_ms),
            after_ms: after.map_or(i64::MIN, |c| codec::to_ms(c.at)),
            after_id: after.map_or_else(String::new, |c| c.id.clone()),
        }
    }

    /// `sql` with the bounds and the limit bound.
    fn query<'q>(
        &'q self,
        sql: &'q str,
        limit: usize,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        sqlx::query(sql)
            .bind(self.since)
            .bind(self.until)
            .bind(self.after_ms)
            .bind(&self.after_id)
            .bind(codec::limit(limit))
    }
}

/// The `WHERE` clause for time column `t` and id column `id`: inside the window, after the
/// cursor. The repeated `t >= ?3` gives SQLite the range to start the index scan at.
macro_rules! page_where {
    ($t:literal, $id:literal) => {
        concat!(
            " WHERE ",
            $t,
            " >= ?1 AND ",
            $t,
            " < ?2 AND ",
            $t,
            " >= ?3 AND (",
            $t,
            " > ?3 OR ",
            $id,
            " > ?4) ORDER BY ",
            $t,
            ", ",
            $id,
            " LIMIT ?5"
        )
    };
}

async fn inbox_rows(
    conn: &mut SqliteConnection,
    b: &Bounds,
    limit: usize,
) -> Result<Vec<InboxEntry>, StoreError> {
    // The inbox keeps ids packed (see `compact`): the cursor's id is compared packed too.
    let rows = sqlx::query(concat!(
        "SELECT id, provider_sid, account_sid, channel, sender, recipient, body, \
                media_json, num_segments, received_at, extra_json, state, note \
         FROM inbox",
        page_where!("received_at", "id")
    ))
    .bind(b.since)
    .bind(b.until)
    .bind(b.after_ms)
    .bind(Key::pack(&b.after_id))
    .bind(codec::limit(limit))
    .fetch_all(conn)
    .await
    .map_err(StoreError::backend)?;
    rows.iter().map(inbox::decode_entry).collect()
}

async fn receipt_rows(
    conn: &mut SqliteConnection,
    b: &Bounds,
    limit: usize,
) -> Result<Vec<Receipt>, StoreError> {
    let rows = b
        .query(
            concat!(
                "SELECT ",
                receipts::receipt_columns!(),
                " FROM receipts r",
                page_where!("r.created_at", "r.id")
            ),
            limit,
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
    receipts::decode_all(conn, &rows).await
}

async fn call_rows(
    conn: &mut SqliteConnection,
    b: &Bounds,
    limit: usize,
) -> Result<Vec<CallRecord>, StoreError> {
    let rows = b
        .query(
            concat!(
                "SELECT ",
                calls::call_columns!(),
                " FROM calls",
                page_where!("started_at", "call_id")
            ),
            limit,
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
    calls::decode_all(conn, &rows).await
}

#[async_trait]
impl ExportStore for SqliteStore {
    async fn inbox_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<InboxEntry>, StoreError> {
        let limit = export_page_size(limit);
        let b = Bounds::new(range, after);
        let items = on_reader!(self, |conn| inbox_rows(conn, &b, limit))?;
        Ok(ExportPage::new(items, limit, inbox_cursor))
    }

    async fn receipts_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<Receipt>, StoreError> {
        let limit = export_page_size(limit);
        let b = Bounds::new(range, after);
        let items = in_read_tx!(self, |conn| receipt_rows(conn, &b, limit))?;
        Ok(ExportPage::new(items, limit, receipt_cursor))
    }

    async fn calls_page(
        &self,
        range: &ExportRange,
        after: Option<&ExportCursor>,
        limit: usize,
    ) -> Result<ExportPage<CallRecord>, StoreError> {
        let limit = export_page_size(limit);
        let b = Bounds::new(range, after);
        let items = in_read_tx!(self, |conn| call_rows(conn, &b, limit))?;
        Ok(ExportPage::new(items, limit, call_cursor))
    }
}
