//! [`PostgresStore`]: the [`Store`](telephony_core::Store) on PostgreSQL, shared by several
//! gateway replicas.
//!
//! One file per concern: [`options`] (how to connect), [`migrations`] (the schema),
//! [`group_commit`] (the inbound writer); the
//! tables and their statements in [`inbox`], [`receipts`], [`outbox`], [`pairing`],
//! [`opt_outs`], [`contacts`], [`forwards`], [`calls`] and [`cluster`] (replicas, leases);
//! [`retention`] (pruning old records);
//! [`wakeups`] (`LISTEN`/`NOTIFY` between replicas); [`codec`] (column ↔ value conversions,
//! shared with SQLite).

mod calls;
mod cluster;
mod codec;
mod contacts;
mod forwards;
mod group_commit;
mod inbox;
mod lazy;
mod migrations;
mod opt_outs;
mod options;
mod outbox;
mod pairing;
mod receipts;
mod recordings;
mod retention;
mod wakeups;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use telephony_core::redact::redact_url;
use telephony_core::store::ForwardOutcome;
use telephony_core::store::{
    BeginOutcome, CallQuery, CallRecord, CallStatusOutcome, CallTurn, CappedEnqueue,
    ClaimedForward, ClaimedInbound, DispatchOutcome, FailedInbound, LeaseToken, NewCall,
    OrphanCallStatus, PendingAnswer, ReplicaBeat, SendCap, StatusSource, WorkKind, WorkWatch,
};
use telephony_core::store::{PruneKind, RetentionStore};
use telephony_core::voice::CallStatus;
use telephony_core::{
    CallStore, ClusterStore, ContactStore, ForwardStore, InboxStore, OutboxStore, PolicyStore,
};
use telephony_core::{
    ErrorInfo, ForwardEvent, ForwardStats, InboundMessage, InboxEntry, InboxQuery, InboxState,
    InboxUpdate, InsertOutcome, MessageId, OutboundMessage, OutboxItem, PairingLimits,
    PairingOutcome, PairingRequest, PairingResolution, PhoneNumber, ProviderReceipt, Receipt,
    SendRate, StatusOutcome, StatusUpdate, StoreError,
};
use time::OffsetDateTime;
use tracing::debug;

use self::group_commit::InboundWriter;
use self::inbox::InboxRow;
pub use self::lazy::{StartupState, StoreStartup};
pub use self::options::PostgresOptions;
use self::outbox::Hold;
use self::wakeups::Wakeups;

/// Entries [`Store::inbox`], [`Store::receipts`], [`Store::calls`] and
/// [`Store::orphan_call_statuses`] return when the limit is 0.
const DEFAULT_LIMIT: usize = 100;

/// Second key of the transaction advisory lock (`pg_advisory_xact_lock(hashtext(schema),
/// key)`) that serializes creating a schema.
const LOCK_SCHEMA: i32 = 0;
/// ... that serializes `begin_call` in a schema (the live-session count and the insert).
const LOCK_CALL_SLOTS: i32 = 1;
/// ... that serializes pairing requests in a schema (the caps on pending and recent ones).
const LOCK_PAIRING: i32 = 2;
/// ... that serializes capped sends in a schema (the day's count and the inserts).
const LOCK_SEND_CAP: i32 = 10;

/// A [`Store`](telephony_core::Store) on a PostgreSQL database, which several gateway
/// processes (replicas) can share.
///
/// Every operation runs in its own transaction on a pooled connection; inbound messages go
/// through a group-commit writer that commits the inserts waiting at the same moment
/// together, as on SQLite. Must be opened inside a tokio runtime (the writer is a task). What must not run
/// twice across replicas is made safe in the database: claims of the outbox and the forward
/// queue lock rows with `FOR UPDATE SKIP LOCKED` and lease them, a duplicate inbound
/// webhook is stopped by the unique provider SID, and the call-slot count and pairing caps
/// hold an advisory lock. Cloning is cheap and shares the pool.
///
/// Each store uses one schema ([`PostgresOptions::schema`]), which it creates and migrates
/// on open; every pooled connection has only that schema on its `search_path`.
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use telephony_core::store::prelude::*;
/// use telephony_store::{PostgresOptions, PostgresStore};
///
/// let url = std::env::var("TELEPHONY_DATABASE_URL")?; // postgres://user:pw@host/db?sslmode=require
/// let store = PostgresStore::connect_with(&url, PostgresOptions::default().schema("account_main")).await?;
/// println!("{} send(s) waiting", store.outbox_len().await?);
/// store.close().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    /// The URL with its password (and query values) redacted, for errors and logs.
    url: String,
    options: PostgresOptions,
    pool: PgPool,
    inbound: InboundWriter,
    wakeups: Arc<Wakeups>,
    /// Errors by kind, the last commit, and whether writes are failing (`crate::health`).
    health: Arc<crate::health::Health>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Opening the store failed; names the (redacted) URL and the step.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the PostgreSQL store at {url}: {what}")]
struct OpenError {
    url: String,
    what: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, with
    /// `?sslmode=…` for TLS) with the default [`PostgresOptions`], and brings its schema up
    /// to date.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use telephony_store::PostgresStore;
    ///
    /// let store = PostgresStore::connect("postgres://gw:secret@db.internal/telephony?sslmode=require").await?;
    /// assert_eq!(store.schema(), "public");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects with `options`: creates the schema if it is missing (under an advisory
    /// lock), applies the migrations (under sqlx's advisory lock, so replicas starting
    /// together do not race), then opens the pool.
    ///
    /// Errors name the URL with its password redacted and the step that failed; a server
    /// that cannot be reached fails after [`PostgresOptions::connect_timeout`].
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use telephony_store::{PostgresOptions, PostgresStore};
    ///
    /// let opts = PostgresOptions::default()
    ///     .max_connections(20)
    ///     .statement_timeout(Some(Duration::from_secs(10)))
    ///     .schema("account_sales");
    /// let store = PostgresStore::connect_with("postgres://gw@db.internal/telephony?sslmode=verify-full", opts).await?;
    /// assert_eq!(store.schema(), "account_sales");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let redacted = redact_url(url);
        let fail = |what: String, source: Option<Box<dyn std::error::Error + Send + Sync>>| {
            StoreError::backend(OpenError {
                url: redacted.clone(),
                what,
                source,
            })
        };
        let connect =
            connect_options(url, &options).map_err(|(what, source)| fail(what, source))?;

        // One plain connection first: a server that is down or refuses us gives its own
        // error here (the pool would only report a timeout), and it creates the schema.
        let mut first = tokio::time::timeout(
            options.connect_timeout,
            PgConnection::connect_with(&connect),
        )
        .await
        .map_err(|_| {
            fail(
                format!(
                    "connecting to the server timed out after {:?} (is it running and reachable?)",
                    options.connect_timeout
                ),
                None,
            )
        })?
        .map_err(|e| {
            fail(
                format!("connecting to the server: {}", hint(&e)),
                Some(e.into()),
            )
        })?;
        if let Some(schema) = &options.schema {
            create_schema(&mut first, schema)
                .await
                .map_err(|e| fail(format!("creating the schema {schema:?}"), Some(e.into())))?;
        }
        // Closing is only courtesy to the server; the connection is done either way.
        if let Err(e) = first.close().await {
            debug!(error = %e, "closing the first connection failed");
        }

        let schema = options.schema.as_deref().unwrap_or("public").to_string();
        let wakeups = Arc::new(Wakeups::new(connect.clone(), redacted.clone(), &schema));
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| fail("opening the connection pool".into(), Some(e.into())))?;
        migrations::run(&pool)
            .await
            .map_err(|e| fail("migrating the schema".into(), Some(e.into())))?;
        debug!(
            url = %redacted,
            schema = options.schema.as_deref().unwrap_or("(server default)"),
            connections = options.max_connections.max(1),
            "postgres store opened"
        );
        let health = Arc::new(crate::health::Health::default());
        Ok(PostgresStore {
            inbound: InboundWriter::spawn(pool.clone(), wakeups.notifier().clone(), health.clone()),
            health,
            wakeups,
            url: redacted,
            options,
            pool,
        })
    }

    /// The schema that holds this store's tables (`public` when none was configured and the
    /// server's default applies).
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use telephony_store::PostgresStore;
    ///
    /// let store = PostgresStore::connect("postgres://gw@localhost/telephony").await?;
    /// assert_eq!(store.schema(), "public");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn schema(&self) -> &str {
        self.options.schema.as_deref().unwrap_or("public")
    }

    /// The options it was opened with.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use telephony_store::PostgresStore;
    ///
    /// let store = PostgresStore::connect("postgres://gw@localhost/telephony").await?;
    /// assert_eq!(store.options().max_connections, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    /// Closes the pool (for every clone): waits for the statements in flight, then every
    /// later operation fails. Dropping the store without closing loses nothing committed.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use telephony_store::PostgresStore;
    ///
    /// let store = PostgresStore::connect("postgres://gw@localhost/telephony").await?;
    /// store.close().await;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn close(&self) {
        self.wakeups.stop();
        self.pool.close().await;
        debug!(url = %self.url, "postgres store closed");
    }

    /// Inserts one inbound row through the group-commit writer (committed before this
    /// returns).
    async fn insert_row(&self, row: InboxRow) -> Result<InsertOutcome, StoreError> {
        self.inbound.insert(row, None).await
    }

    /// Records how a write ended (`crate::health`): a commit ends a write failure, an error
    /// is counted and (unless one row's fault) starts or continues one.
    fn wrote<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match &result {
            Ok(_) => self.health.committed(),
            Err(e) => self.health.write_failed(e),
        }
        result
    }

    /// Counts a read's error, if it failed (`crate::health`).
    fn read<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result {
            self.health.failed(e);
        }
        result
    }
}

/// Why opening failed: the step and its cause.
type OpenFailure = (String, Option<Box<dyn std::error::Error + Send + Sync>>);

/// The connection options for `url` with `options` applied (statement timeout, the schema
/// alone on the `search_path`); checks the schema name.
fn connect_options(url: &str, options: &PostgresOptions) -> Result<PgConnectOptions, OpenFailure> {
    if let Some(schema) = &options.schema {
        options::check_schema(schema)
            .map_err(|why| (format!("the schema name {schema:?} {why}"), None))?;
    }
    // The URL parser's errors never repeat the URL, so they cannot leak its password.
    let mut connect = PgConnectOptions::from_str(url).map_err(|e| {
        (
            "the URL is not a valid PostgreSQL URL".to_string(),
            Some(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
        )
    })?;
    let mut settings: Vec<(&str, String)> = Vec::new();
    if let Some(timeout) = options.statement_timeout {
        settings.push(("statement_timeout", timeout.as_millis().max(1).to_string()));
    }
    if let Some(schema) = &options.schema {
        settings.push(("search_path", schema.clone()));
    }
    if !settings.is_empty() {
        connect = connect.options(settings);
    }
    Ok(connect)
}

/// The error's text, with a hint when the server could not be reached at all.
fn hint(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(_) => format!("{e} (is the server running and reachable?)"),
        sqlx::Error::Tls(_) => format!("{e} (check sslmode and the server's certificate)"),
        _ => e.to_string(),
    }
}

/// Creates the schema if it is missing. Two replicas doing this at once would both pass
/// `IF NOT EXISTS` and one would fail on the catalog's unique index, so it runs under an
/// advisory lock keyed on the schema name.
async fn create_schema(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1), $2)")
        .bind(schema)
        .bind(LOCK_SCHEMA)
        .execute(&mut *tx)
        .await?;
    // `check_schema` allowed only [a-z0-9_], so the name needs no quoting.
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Rolls back a transaction whose work failed, now: a dropped transaction is only rolled
/// back when its connection is next used, and until then it would keep its row and advisory
/// locks, blocking the other replicas.
async fn rollback(tx: sqlx::Transaction<'static, sqlx::Postgres>) {
    if let Err(e) = tx.rollback().await {
        // The connection is closed rather than reused when its rollback failed.
        debug!(error = %e, "rolling back a failed transaction failed");
    }
}

/// Runs `$body` (an expression using `$conn: &mut PgConnection`) in a transaction and
/// commits it; if `$body` fails, rolls back.
macro_rules! in_write_tx {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let result = async {
            let mut tx = $store.pool.begin().await.map_err(StoreError::backend)?;
            let $conn = &mut *tx;
            match $body.await {
                Ok(out) => {
                    tx.commit().await.map_err(StoreError::backend)?;
                    Ok::<_, StoreError>(out)
                }
                Err(e) => {
                    rollback(tx).await;
                    Err(e)
                }
            }
        }
        .await;
        $store.wrote(result)
    }};
}

/// Runs `$body` in a read-only repeatable-read transaction, so everything it reads is one
/// snapshot (a receipt and its history, say).
macro_rules! in_read_tx {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let result = async {
            let mut tx = $store
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await
                .map_err(StoreError::backend)?;
            let $conn = &mut *tx;
            match $body.await {
                Ok(out) => {
                    tx.commit().await.map_err(StoreError::backend)?;
                    Ok::<_, StoreError>(out)
                }
                Err(e) => {
                    rollback(tx).await;
                    Err(e)
                }
            }
        }
        .await;
        $store.read(result)
    }};
}

/// Runs `$body` (one statement) on a pooled connection. Its errors are counted in the
/// store's health, but do not mark writes as failing (the transactions of `in_write_tx!`
/// do): all but one of these statements only read.
macro_rules! on_pool {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let result = async {
            let mut conn = $store.pool.acquire().await.map_err(StoreError::backend)?;
            let $conn = &mut *conn;
            $body.await
        }
        .await;
        $store.read(result)
    }};
}

// Declared after the macros above, which they use: erasure ([`erasure`]) and export
// pages ([`export`]).
mod erasure;
mod export;
// Declared after the transaction macros, which it uses.
mod health;

#[async_trait]
impl InboxStore for PostgresStore {
    async fn insert_inbound(&self, msg: &InboundMessage) -> Result<InsertOutcome, StoreError> {
        self.insert_row(InboxRow::encode(msg)?).await
    }

    async fn insert_inbound_in_state(
        &self,
        msg: &InboundMessage,
        state: InboxState,
        note: Option<&str>,
    ) -> Result<InsertOutcome, StoreError> {
        self.insert_row(InboxRow::encode(msg)?.in_state(state, note))
            .await
    }

    async fn insert_inbound_forwarded(
        &self,
        msg: &InboundMessage,
        state: InboxState,
        event: &ForwardEvent,
    ) -> Result<InsertOutcome, StoreError> {
        self.inbound
            .insert(
                InboxRow::encode(msg)?.in_state(state, None),
                Some(crate::codec::ForwardRow::encode(event)?),
            )
            .await
    }

    async fn insert_inbound_gated_atomic(
        &self,
        msg: &InboundMessage,
        gate: &telephony_core::store::ApprovalGate,
    ) -> Result<Option<(InsertOutcome, InboxState)>, StoreError> {
        self.inbound
            .insert_gated(InboxRow::encode(msg)?, gate.clone())
            .await
            .map(Some)
    }

    async fn inbox(&self, query: &InboxQuery) -> Result<Vec<InboxEntry>, StoreError> {
        let limit = match query.limit {
            0 => DEFAULT_LIMIT,
            n => n,
        };
        on_pool!(self, |conn| inbox::list(conn, query.since, limit))
    }

    async fn queued_inbound(&self, limit: usize) -> Result<Vec<InboundMessage>, StoreError> {
        on_pool!(self, |conn| inbox::queued(conn, limit))
    }

    async fn set_inbound_state(
        &self,
        id: &MessageId,
        state: InboxState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| inbox::set_state(conn, id, state, note))
    }

    async fn set_inbound_states(&self, updates: &[InboxUpdate]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        in_write_tx!(self, |conn| inbox::set_states(&mut *conn, updates))
    }
    async fn claim_inbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedInbound>, StoreError> {
        let token = LeaseToken::generate();
        let claimed: Vec<ClaimedInbound> =
            in_write_tx!(self, |conn| inbox::claim(conn, now, lease, limit, token))?;
        if !claimed.is_empty() {
            debug!(claimed = claimed.len(), limit, lease = %token, "inbound messages claimed");
        }
        Ok(claimed)
    }

    async fn record_dispatch(
        &self,
        outcomes: &[DispatchOutcome],
    ) -> Result<Vec<MessageId>, StoreError> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        in_write_tx!(self, |conn| inbox::record(conn, outcomes))
    }

    async fn failed_inbound(&self, limit: usize) -> Result<Vec<FailedInbound>, StoreError> {
        let limit = match limit {
            0 => DEFAULT_LIMIT,
            n => n,
        };
        on_pool!(self, |conn| inbox::failed(conn, limit))
    }

    async fn requeue_inbound(&self, id: &MessageId) -> Result<InboxState, StoreError> {
        in_write_tx!(self, |conn| inbox::requeue(conn, id))
    }
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn enqueue_outbound(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let now = codec::stored(now);
        let notifier = self.wakeups.notifier();
        in_write_tx!(self, |conn| async {
            let receipt = outbox::enqueue(&mut *conn, id, msg, now, Hold::No).await?;
            notifier.notify_store(conn, WorkKind::Outbound).await?;
            Ok(receipt)
        })
    }

    async fn claim_outbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let items: Vec<OutboxItem> =
            in_write_tx!(self, |conn| outbox::claim(conn, now, lease, limit))?;
        if !items.is_empty() {
            debug!(claimed = items.len(), limit, "outbox entries claimed");
        }
        Ok(items)
    }

    async fn complete_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        result: &ProviderReceipt,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let now = codec::stored(now);
        in_write_tx!(self, |conn| outbox::complete(conn, id, lease, result, now))
    }

    async fn fail_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        error: &ErrorInfo,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let now = codec::stored(now);
        in_write_tx!(self, |conn| outbox::fail(conn, id, lease, error, now))
    }

    async fn retry_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        error: &ErrorInfo,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| outbox::retry(
            conn,
            id,
            lease,
            error,
            next_attempt
        ))
    }

    async fn defer_outbound(
        &self,
        id: &MessageId,
        lease: LeaseToken,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| outbox::defer(conn, id, lease, until))
    }

    /// Books in the `send_slots` table, one upsert per call: every replica on this
    /// schema shares each sender's slots.
    async fn reserve_send_slots(
        &self,
        key: &str,
        rate: SendRate,
        count: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<OffsetDateTime>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        on_pool!(self, |conn| outbox::reserve_slots(
            conn, key, rate, count, now
        ))
    }

    async fn next_outbound_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        on_pool!(self, |conn| outbox::next_due(conn))
    }

    async fn apply_status(
        &self,
        update: &StatusUpdate,
        now: OffsetDateTime,
    ) -> Result<StatusOutcome, StoreError> {
        let now = codec::stored(now);
        in_write_tx!(self, |conn| receipts::apply_status(conn, update, now))
    }

    async fn receipt(&self, id: &MessageId) -> Result<Option<Receipt>, StoreError> {
        let loaded = in_read_tx!(self, |conn| receipts::load(conn, id))?;
        Ok(loaded.map(|l| l.receipt))
    }

    async fn outbox_len(&self) -> Result<usize, StoreError> {
        on_pool!(self, |conn| outbox::len(conn))
    }

    async fn outbox_oldest(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        on_pool!(self, |conn| outbox::oldest(conn))
    }
}

#[async_trait]
impl PolicyStore for PostgresStore {
    async fn pairing_request(
        &self,
        sender: &PhoneNumber,
        code: &str,
        limits: &PairingLimits,
        now: OffsetDateTime,
    ) -> Result<PairingOutcome, StoreError> {
        let now = codec::stored(now);
        in_write_tx!(self, |conn| pairing::request(
            conn, sender, code, limits, now
        ))
    }

    async fn pending_pairings(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<PairingRequest>, StoreError> {
        on_pool!(self, |conn| pairing::pending(conn, now))
    }

    async fn resolve_pairing(
        &self,
        code: &str,
        approve: bool,
        now: OffsetDateTime,
    ) -> Result<PairingResolution, StoreError> {
        in_write_tx!(self, |conn| pairing::resolve(conn, code, approve, now))
    }

    async fn is_approved_sender(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        on_pool!(self, |conn| pairing::is_approved(conn, number))
    }

    async fn approved_senders_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<std::collections::HashSet<PhoneNumber>, StoreError> {
        if numbers.is_empty() {
            return Ok(Default::default());
        }
        on_pool!(self, |conn| pairing::approved_among(conn, numbers))
    }

    async fn set_opted_out(
        &self,
        number: &PhoneNumber,
        opted_out: bool,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| opt_outs::set(conn, number, opted_out, now))
    }

    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        on_pool!(self, |conn| opt_outs::is_opted_out(conn, number))
    }
}

#[async_trait]
impl ContactStore for PostgresStore {
    async fn is_known_contact(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        on_pool!(self, |conn| contacts::is_known(conn, number))
    }

    async fn enqueue_outbound_held(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let now = codec::stored(now);
        in_write_tx!(self, |conn| outbox::enqueue(
            conn,
            id,
            msg,
            now,
            Hold::UntilApproved
        ))
    }

    async fn enqueue_outbound_capped(
        &self,
        parts: &[(MessageId, OutboundMessage)],
        held: bool,
        cap: Option<SendCap>,
        now: OffsetDateTime,
    ) -> Result<CappedEnqueue, StoreError> {
        let now = codec::stored(now);
        let hold = if held { Hold::UntilApproved } else { Hold::No };
        in_write_tx!(self, |conn| async move {
            // Capped sends of every replica on this schema take turns: the count and the
            // inserts are one step (the lock is released at commit or rollback).
            if cap.is_some() {
                contacts::lock_send_cap(&mut *conn).await?;
            }
            if let Some(cap) = cap {
                let sent = receipts::count_since(&mut *conn, cap.since).await?;
                if sent + parts.len() > cap.max {
                    return Ok(CappedEnqueue::OverCap { sent });
                }
            }
            let mut queued = Vec::with_capacity(parts.len());
            for (id, msg) in parts {
                queued.push(outbox::enqueue(&mut *conn, id, msg, now, hold).await?);
            }
            Ok(CappedEnqueue::Queued(queued))
        })
    }

    async fn approve_contact(
        &self,
        number: &PhoneNumber,
        now: OffsetDateTime,
    ) -> Result<Vec<MessageId>, StoreError> {
        let notifier = self.wakeups.notifier();
        in_write_tx!(self, |conn| async {
            let released = contacts::approve(&mut *conn, number, now).await?;
            if !released.is_empty() {
                notifier.notify_store(conn, WorkKind::Outbound).await?;
            }
            Ok(released)
        })
    }

    async fn held_outbound(&self) -> Result<Vec<Receipt>, StoreError> {
        in_read_tx!(self, |conn| outbox::held(conn))
    }

    async fn count_outbound_since(&self, since: OffsetDateTime) -> Result<usize, StoreError> {
        on_pool!(self, |conn| receipts::count_since(conn, since))
    }

    async fn receipts(
        &self,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<Receipt>, StoreError> {
        let limit = match limit {
            0 => DEFAULT_LIMIT,
            n => n,
        };
        in_read_tx!(self, |conn| receipts::log(conn, since, limit))
    }
}

#[async_trait]
impl ForwardStore for PostgresStore {
    async fn enqueue_forward(&self, event: &ForwardEvent) -> Result<(), StoreError> {
        let notifier = self.wakeups.notifier();
        in_write_tx!(self, |conn| async {
            forwards::enqueue(&mut *conn, event).await?;
            notifier.notify_store(conn, WorkKind::Forward).await
        })
    }

    async fn claim_forwards(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedForward>, StoreError> {
        let token = LeaseToken::generate();
        in_write_tx!(self, |conn| forwards::claim(conn, now, lease, limit, token))
    }

    async fn complete_forward(
        &self,
        id: &str,
        lease: LeaseToken,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| forwards::complete(conn, id, lease, now))
    }

    async fn retry_forward(
        &self,
        id: &str,
        lease: LeaseToken,
        error: &str,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| forwards::retry(
            conn,
            id,
            lease,
            error,
            next_attempt
        ))
    }

    async fn record_forwards(
        &self,
        outcomes: &[ForwardOutcome],
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        in_write_tx!(self, |conn| forwards::record(conn, outcomes, now))
    }

    async fn forward_stats(&self) -> Result<ForwardStats, StoreError> {
        on_pool!(self, |conn| forwards::stats(conn))
    }
}

#[async_trait]
impl CallStore for PostgresStore {
    async fn begin_call(
        &self,
        call: &NewCall,
        max_live: Option<usize>,
    ) -> Result<BeginOutcome, StoreError> {
        // calls::begin holds the schema's call-slot lock from the live count to the insert.
        in_write_tx!(self, |conn| calls::begin(conn, call, max_live))
    }

    async fn rename_call(&self, from_id: &str, to_id: &str) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| calls::rename(conn, from_id, to_id))
    }

    async fn update_call_status(
        &self,
        call_id: &str,
        status: CallStatus,
        duration_secs: Option<u64>,
        source: StatusSource,
        at: OffsetDateTime,
    ) -> Result<CallStatusOutcome, StoreError> {
        in_write_tx!(self, |conn| calls::update_status(
            conn,
            call_id,
            status,
            duration_secs,
            source,
            at
        ))
    }

    async fn set_call_answered_by(
        &self,
        call_id: &str,
        answered_by: telephony_core::voice::AnsweredBy,
        at: OffsetDateTime,
    ) -> Result<CallRecord, StoreError> {
        in_write_tx!(self, |conn| calls::set_answered_by(
            conn,
            call_id,
            answered_by,
            at
        ))
    }

    async fn set_call_note(&self, call_id: &str, note: &str) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| calls::set_note(conn, call_id, note))
    }

    async fn add_call_turn(&self, call_id: &str, turn: &CallTurn) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| calls::add_turn(conn, call_id, turn))
    }

    async fn touch_call(&self, call_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| calls::touch(conn, call_id, at))
    }

    async fn call_update_epoch(&self, call_id: &str) -> Result<u64, StoreError> {
        on_pool!(self, |conn| calls::update_epoch(conn, call_id))
    }

    async fn bump_call_update_epoch(&self, call_id: &str) -> Result<u64, StoreError> {
        in_write_tx!(self, |conn| calls::bump_update_epoch(conn, call_id))
    }

    async fn undo_call_update_epoch(&self, call_id: &str, bumped: u64) -> Result<bool, StoreError> {
        in_write_tx!(self, |conn| calls::undo_update_epoch(conn, call_id, bumped))
    }

    async fn call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        in_read_tx!(self, |conn| calls::load(conn, call_id))
    }

    async fn live_sessions(&self) -> Result<Vec<CallRecord>, StoreError> {
        in_read_tx!(self, |conn| calls::live(conn))
    }

    async fn calls(&self, query: &CallQuery) -> Result<Vec<CallRecord>, StoreError> {
        let limit = match query.limit {
            0 => DEFAULT_LIMIT,
            n => n,
        };
        in_read_tx!(self, |conn| calls::list(conn, query.since, limit))
    }

    async fn orphan_call_statuses(
        &self,
        limit: usize,
    ) -> Result<Vec<OrphanCallStatus>, StoreError> {
        let limit = match limit {
            0 => DEFAULT_LIMIT,
            n => n,
        };
        on_pool!(self, |conn| calls::orphans(conn, limit))
    }

    async fn set_pending_answer(
        &self,
        call_id: &str,
        answer: &PendingAnswer,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| calls::set_pending_answer(
            conn, call_id, answer
        ))
    }

    async fn take_pending_answer(
        &self,
        call_id: &str,
    ) -> Result<Option<PendingAnswer>, StoreError> {
        in_write_tx!(self, |conn| calls::take_pending_answer(conn, call_id))
    }

    async fn put_stream_token(
        &self,
        call_id: &str,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| calls::put_stream_token(
            conn, call_id, token_hash, expires_at
        ))
    }

    async fn take_stream_token(
        &self,
        call_id: &str,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        in_write_tx!(self, |conn| calls::take_stream_token(
            conn, call_id, token_hash, now
        ))
    }

    async fn add_recording(
        &self,
        recording: &telephony_core::voice::CallRecording,
    ) -> Result<bool, StoreError> {
        in_write_tx!(self, |conn| recordings::add(conn, recording))
    }

    async fn recordings(
        &self,
        call_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<telephony_core::voice::CallRecording>, StoreError> {
        let limit = match limit {
            0 => DEFAULT_LIMIT,
            n => n,
        };
        in_read_tx!(self, |conn| recordings::list(conn, call_id, limit))
    }

    async fn recording(
        &self,
        recording_id: &str,
    ) -> Result<Option<telephony_core::voice::CallRecording>, StoreError> {
        in_read_tx!(self, |conn| recordings::load(conn, recording_id))
    }
}

#[async_trait]
impl ClusterStore for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        // Migrated at open: a store that answers is ready.
        on_pool!(self, |conn| cluster::ping(conn))
    }

    async fn heartbeat(&self, beat: &ReplicaBeat) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| cluster::heartbeat(conn, beat))
    }

    async fn replicas(&self, live_since: OffsetDateTime) -> Result<Vec<ReplicaBeat>, StoreError> {
        on_pool!(self, |conn| cluster::replicas(conn, live_since))
    }

    async fn leave(&self, id: &str) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| cluster::leave(conn, id))
    }

    async fn try_lead(
        &self,
        task: &str,
        holder: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        in_write_tx!(self, |conn| cluster::try_lead(conn, task, holder, now, ttl))
    }

    /// Fires when another store on this schema (another replica) enqueued work of `kind`
    /// (`LISTEN`/`NOTIFY`, see the `wakeups` module); this store's own enqueues do not fire it.
    /// After the listener (re)connects, every watch fires once.
    fn watch_work(&self, kind: WorkKind) -> WorkWatch {
        self.wakeups.watch(kind)
    }
}

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn prune_batch(
        &self,
        kind: PruneKind,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        in_write_tx!(self, |conn| retention::prune_batch(
            conn, kind, before, limit
        ))
    }

    async fn count_prunable(
        &self,
        kind: PruneKind,
        before: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        in_read_tx!(self, |conn| retention::count(conn, kind, before))
    }

    /// Autovacuum reclaims the space of deleted rows: nothing to do here.
    async fn reclaim_space(&self, _max_pages: u32) -> Result<u64, StoreError> {
        Ok(0)
    }
}
