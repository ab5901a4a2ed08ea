//! [`SqliteStore`]: the [`Store`](telephony_core::Store) on an embedded SQLite database in WAL mode.
//!
//! One file per concern: [`options`] (how to open), [`migrations`] (the schema),
//! [`group_commit`] (the inbound writer); the tables and their statements in [`inbox`],
//! [`receipts`], [`outbox`], [`pairing`], [`opt_outs`], [`contacts`], [`forwards`],
//! [`calls`] and [`cluster`]; [`retention`] (pruning old records, giving space back);
//! [`codec`] (column ↔ value conversions).

mod calls;
mod claims;
mod cluster;
mod codec;
mod compact;
mod contacts;
mod forward_claims;
mod forward_tail;
mod forwards;
mod group_commit;
mod inbox;
mod migrations;
mod opt_outs;
mod options;
mod outbox;
mod pairing;
mod receipts;
mod recordings;
mod retention;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use telephony_core::store::ForwardOutcome;
use telephony_core::store::{ApprovalGate, PairingState, PruneKind, RetentionStore};
use telephony_core::store::{
    BeginOutcome, CallQuery, CallRecord, CallStatusOutcome, CallTurn, CappedEnqueue,
    ClaimedForward, ClaimedInbound, DispatchOutcome, FailedInbound, ForwardResult, LeaseToken,
    NewCall, OrphanCallStatus, PendingAnswer, ReplicaBeat, SendCap, StatusSource, WorkKind,
    WorkWatch,
};
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
pub use self::options::SqliteOptions;
use self::outbox::Hold;

/// Senders whose next free send time is kept before those in the past are forgotten.
const SEND_SLOT_KEYS: usize = 1024;

/// Entries [`Store::inbox`], [`Store::receipts`], [`Store::calls`] and
/// [`Store::orphan_call_statuses`] return when the limit is 0.
const DEFAULT_LIMIT: usize = 100;

/// A [`Store`](telephony_core::Store) on a SQLite database file.
///
/// Writes go through one connection (SQLite has a single writer) in `BEGIN IMMEDIATE`
/// transactions; inbound messages are batched by a group-commit writer task; reads use a
/// separate pool of [`SqliteOptions::max_connections`] connections (`query_only`), which WAL
/// lets run concurrently with the writer. Cloning is cheap and shares the database.
///
/// Must be opened inside a tokio runtime (the group-commit writer is a tokio task).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use telephony_core::store::prelude::*;
/// use telephony_core::{Channel, InboundMessage, InboxQuery, InsertOutcome, MessageId};
/// use telephony_store::SqliteStore;
///
/// let dir = tempfile::tempdir()?;
/// // The gateway's convention is ./telephony-data/telephony.db; parents are created.
/// let path = dir.path().join("telephony-data").join("telephony.db");
/// let store = SqliteStore::open(&path).await?;
///
/// let msg = InboundMessage {
///     id: MessageId::generate(),
///     provider_sid: "SM0123456789abcdef0123456789abcdef".into(),
///     account_sid: None,
///     channel: Channel::Sms,
///     from: "+15557654321".into(),
///     to: "+15550001234".into(),
///     body: "hello".into(),
///     media: Vec::new(),
///     num_segments: Some(1),
///     received_at: time::OffsetDateTime::from_unix_timestamp(1_767_323_045)?,
///     extra: Default::default(),
/// };
/// assert_eq!(store.insert_inbound(&msg).await?, InsertOutcome::Inserted);
/// assert_eq!(store.insert_inbound(&msg).await?, InsertOutcome::Duplicate);
/// store.close().await;
///
/// // Everything committed is there after reopening.
/// let store = SqliteStore::open(&path).await?;
/// let inbox = store.inbox(&InboxQuery::default()).await?;
/// assert_eq!(inbox[0].message, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    options: SqliteOptions,
    writer: SqlitePool,
    reader: SqlitePool,
    inbound: InboundWriter,
    /// Each sender's next free send time ([`OutboxStore::reserve_send_slots`]): in this
    /// process's memory, since one process owns a SQLite database.
    send_slots: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, OffsetDateTime>>>,
    /// Inbound dispatch claims ([`InboxStore::claim_inbound`]): in this process's memory
    /// too, so a claim is a read and a dispatched message is written twice, not four
    /// times (see [`claims`]). Held across a claim's read and a record's write, so the
    /// two never interleave.
    claims: std::sync::Arc<tokio::sync::Mutex<claims::Claims>>,
    /// Forward claims ([`ForwardStore::claim_forwards`]), in this process's memory for
    /// the same reason: a claim is a read, a delivered event is written twice, not three
    /// times (see [`forward_claims`]). Held across a claim's read and a record's write.
    forward_claims: std::sync::Arc<tokio::sync::Mutex<forward_claims::ForwardClaims>>,
    /// `message.received` events above the forward cursor, which their inbox rows stand
    /// for (see [`forward_tail`]). Changed under `forward_claims` (but for the inbound
    /// writer's pushes).
    forward_tail: forward_tail::SharedTail,
    /// Stops the background checkpointer on close, or when the last clone is dropped.
    checkpointer: std::sync::Arc<CheckpointStop>,
    /// Errors by kind, the last commit, and whether writes are failing (`crate::health`).
    health: std::sync::Arc<crate::health::Health>,
}

/// Dropped with the last clone of a store: tells its checkpointer to stop.
struct CheckpointStop(std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>);

impl CheckpointStop {
    fn stop(&self) {
        let tx = telephony_core::sync::lock(&self.0).take();
        if let Some(tx) = tx {
            // The checkpointer may already have stopped.
            let _ = tx.send(());
        }
    }
}

impl Drop for CheckpointStop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The page size of a database this store creates (SQLite's default is 4096). Each inbound
/// message dirties a page of the `provider_sid` index (providers' SIDs are random), and the
/// WAL takes a whole page image per dirtied page and commit: a smaller page is fewer WAL
/// bytes to write and checkpoint per message. Measured under load (`benches/RESULTS.md`,
/// issue 23): 2 KiB against 4 KiB gave +10 % inbound req/s and p99 −40 % on disk; 1 KiB
/// against 2 KiB the same req/s and p99 −36 % (28 → 18 ms). (Until migration 16 each
/// message also dirtied a page of `inbox_by_sender`; the per-sender counts that replaced
/// it took p99 from 18 to 7 ms.) A row longer than about 990 bytes spills into overflow
/// pages.
const PAGE_SIZE: u32 = 1024;

/// WAL length (frames of one page) above which the checkpointer restarts the WAL.
const WAL_RESTART_FRAMES: i64 = 4096;

/// How often the background checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Checkpoints the WAL from its own connection, so the fsyncs of a checkpoint never run
/// on (and stall) the write connection: the writer has `wal_autocheckpoint=0`. A PASSIVE
/// checkpoint never blocks writers or readers.
///
/// The RESTART that lets a long WAL start over does block writers while it runs, so it
/// runs on the write connection (`writer`, a pool of one): writes wait for it in the
/// pool's queue and start the moment it ends. From another connection they would wait in
/// SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ms … between tries, so
/// each RESTART would add up to a busy-handler step to every write held up by it.
fn spawn_checkpointer(
    pool: SqlitePool,
    writer: SqlitePool,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    path: PathBuf,
    health: std::sync::Arc<crate::health::Health>,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                _ = &mut stop => break,
            }
            if pool.is_closed() {
                break;
            }
            match catch_up(&pool, &path).await {
                Ok(log) => {
                    // Under steady writes a passive checkpoint never catches up with the
                    // writer, so the WAL would never restart: once it is long, a RESTART
                    // checkpoint (just after the passive ones caught up, so with little
                    // left to copy) holds the writer briefly and lets the WAL start over.
                    if log > WAL_RESTART_FRAMES && !writer.is_closed() {
                        let started = std::time::Instant::now();
                        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)")
                            .fetch_one(&writer)
                            .await
                        {
                            Ok((busy, log, done)) => debug!(
                                path = %path.display(), busy, wal_frames = log, checkpointed = done,
                                ms = started.elapsed().as_millis() as u64, "wal restart checkpoint"
                            ),
                            Err(e) => {
                                let kind = health.failed(&StoreError::backend(e));
                                tracing::warn!(path = %path.display(), kind = ?kind, "wal restart checkpoint failed");
                            }
                        }
                    }
                }
                Err(e) if pool.is_closed() => {
                    debug!(error = %e, "checkpointer stopped: the store was closed");
                    break;
                }
                Err(e) => {
                    // Counted, not a write failure: commits may still fit in the WAL. The
                    // connection holds no transaction, so the next attempt starts clean.
                    let e = StoreError::backend(e);
                    let kind = health.failed(&e);
                    tracing::warn!(path = %path.display(), kind = ?kind, error = %telephony_core::error_chain(&e), "wal checkpoint failed; retrying")
                }
            }
        }
        pool.close().await;
    });
}

/// Most passive checkpoints in a row before a RESTART (see [`catch_up`]).
const CATCH_UP_PASSES: usize = 4;

/// Frames a pass may copy and still count as caught up: [`catch_up`] stops after a pass
/// that found at most this many new frames.
const CAUGHT_UP_FRAMES: i64 = 256;

/// PASSIVE checkpoints until a pass finds few new frames to copy (or [`CATCH_UP_PASSES`]):
/// each pass copies what the writer appended during the one before, a fraction of it, so
/// the RESTART that may follow (holding the writer) copies and syncs a few pages instead of
/// what the writer appended during one long pass. A pass reports the WAL as it found it
/// (all of it copied, so `frames == checkpointed`): the frames appended while it ran show
/// only in the next pass's count, so that difference is the measure. Measured under
/// forwarding (~45,000 frames/s, `benches/RESULTS.md`): with one pass, each RESTART held
/// the writer 20–42 ms, the p99. Returns the WAL's length in frames.
async fn catch_up(pool: &SqlitePool, path: &Path) -> Result<i64, sqlx::Error> {
    let mut log = 0;
    for pass in 1..=CATCH_UP_PASSES {
        let started = std::time::Instant::now();
        let (busy, frames, done) =
            sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(pool)
                .await?;
        debug!(
            path = %path.display(), pass, busy, wal_frames = frames, checkpointed = done,
            ms = started.elapsed().as_millis() as u64, "wal checkpoint"
        );
        let stop = caught_up(pass, log, frames, done);
        log = frames;
        if stop {
            break;
        }
    }
    Ok(log)
}

/// Whether [`catch_up`] may stop after pass `pass` (from 1), which found `frames` in the
/// WAL (`before` in the pass before it) and copied `done` of them: it copied all but a few
/// (a pass that a reader held back is followed by another), and it is not the first pass
/// and found few new frames (negative if the WAL started over meanwhile).
fn caught_up(pass: usize, before: i64, frames: i64, done: i64) -> bool {
    frames - done <= CAUGHT_UP_FRAMES && pass > 1 && frames - before <= CAUGHT_UP_FRAMES
}

#[cfg(test)]
mod catch_up_tests {
    use super::caught_up;

    #[test]
    fn passes_go_on_until_one_finds_few_new_frames() {
        // Figures from a run under forwarding: the first pass always goes on (the frames
        // appended while it copied show only in the next pass's count).
        assert!(!caught_up(1, 0, 36_441, 36_441));
        assert!(!caught_up(2, 36_441, 39_017, 39_017));
        assert!(caught_up(3, 39_017, 39_246, 39_246));
        // Held back by a reader: another pass.
        assert!(!caught_up(3, 39_017, 39_246, 30_000));
        // The WAL started over between two passes.
        assert!(caught_up(2, 39_017, 120, 120));
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Opening the database failed; names the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the SQLite store at {}: {what}", path.display())]
struct OpenError {
    path: PathBuf,
    what: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database at `path`
    /// with the default [`SqliteOptions`], and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens the database at `path` with `options`; see [`open`](Self::open).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use telephony_store::{SqliteOptions, SqliteStore};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let opts = SqliteOptions::default().synchronous_full(true);
    /// let store = SqliteStore::open_with(dir.path().join("telephony.db"), opts).await?;
    /// assert!(store.path().ends_with("telephony.db"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let fail = |what: &'static str, e: Box<dyn std::error::Error + Send + Sync>| {
            StoreError::backend(OpenError {
                path: path.clone(),
                what,
                source: e,
            })
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| fail("creating its directory", e.into()))?;
        }

        let common = SqliteConnectOptions::new()
            .filename(&path)
            .foreign_keys(true)
            // Only where the file is created: an existing WAL database keeps its page size.
            .page_size(PAGE_SIZE)
            .busy_timeout(options.busy_timeout)
            .synchronous(if options.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            });
        let mut write_options = common.clone();
        if let Some(pages) = options.max_page_count {
            // Per connection: a write connection opened again gets it again.
            write_options = write_options.pragma("max_page_count", pages.to_string());
        }
        let writer = pool(1)
            .connect_with(
                write_options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // Checkpoints run on their own connection (see `spawn_checkpointer`).
                    .pragma("wal_autocheckpoint", "0")
                    // A WAL that grew under load is cut back to 64 MiB when it restarts.
                    .pragma("journal_size_limit", "67108864"),
            )
            .await
            .map_err(|e| fail("opening the write connection", e.into()))?;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&writer)
            .await
            .map_err(|e| fail("reading journal_mode", e.into()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Without WAL, readers block the writer and NORMAL sync is not crash-safe.
            return Err(fail(
                "enabling WAL",
                format!("journal_mode is {mode:?} (does the filesystem support shared memory?)")
                    .into(),
            ));
        }
        retention::use_incremental_vacuum(&writer, &path)
            .await
            .map_err(|e| fail("enabling incremental auto-vacuum", e.into()))?;
        migrations::run(&writer)
            .await
            .map_err(|e| fail("migrating the schema", e.into()))?;
        // Dispatch claims live in the owning process's memory (see `claims`); leases an
        // earlier version wrote to rows are void now that that process is gone.
        sqlx::query(
            "UPDATE inbox SET leased_until = NULL, lease_token = NULL \
             WHERE state = 'queued' AND leased_until IS NOT NULL",
        )
        .execute(&writer)
        .await
        .map_err(|e| fail("clearing stored dispatch leases", e.into()))?;
        // So do forward claims (see `forward_claims`).
        sqlx::query(
            "UPDATE forwards SET leased_until = NULL, lease_token = NULL \
             WHERE delivered_at IS NULL AND leased_until IS NOT NULL",
        )
        .execute(&writer)
        .await
        .map_err(|e| fail("clearing stored forward leases", e.into()))?;
        let (cursor, settled, backlog) = {
            let mut conn = writer
                .acquire()
                .await
                .map_err(|e| fail("reading the forward cursor", e.into()))?;
            forward_tail::read_cursor(&mut conn)
                .await
                .map_err(|e| fail("reading the forward cursor", e.into()))?
        };
        let forward_tail = std::sync::Arc::new(std::sync::Mutex::new(forward_tail::Tail::opened(
            cursor, settled, backlog,
        )));
        let checkpoints = pool(1)
            .connect_with(common.clone())
            .await
            .map_err(|e| fail("opening the checkpoint connection", e.into()))?;
        let reader = pool(options.max_connections.max(1))
            .connect_with(common.pragma("query_only", "ON"))
            .await
            .map_err(|e| fail("opening the read pool", e.into()))?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let health = std::sync::Arc::new(crate::health::Health::default());
        spawn_checkpointer(
            checkpoints,
            writer.clone(),
            stop_rx,
            path.clone(),
            health.clone(),
        );

        debug!(
            path = %path.display(),
            synchronous_full = options.synchronous_full,
            readers = options.max_connections.max(1),
            busy_timeout_ms = options.busy_timeout.as_millis() as u64,
            "sqlite store opened"
        );
        Ok(SqliteStore {
            send_slots: std::sync::Arc::default(),
            claims: std::sync::Arc::default(),
            forward_claims: std::sync::Arc::default(),
            inbound: InboundWriter::spawn(writer.clone(), health.clone(), forward_tail.clone()),
            forward_tail,
            path,
            options,
            writer,
            reader,
            checkpointer: std::sync::Arc::new(CheckpointStop(std::sync::Mutex::new(Some(stop_tx)))),
            health,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options it was opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }

    /// Closes the database (for every clone): waits for the statements in flight, then every
    /// later operation fails. Dropping the store without closing loses nothing committed.
    pub async fn close(&self) {
        self.checkpointer.stop();
        self.writer.close().await;
        self.reader.close().await;
        debug!(path = %self.path.display(), "sqlite store closed");
    }

    /// A write transaction that takes SQLite's write lock up front, so it never has to
    /// upgrade a read snapshot that another connection's commit made stale.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::backend)
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

/// Runs `$body` (an expression using `$conn: &mut SqliteConnection`) in a write transaction
/// and commits it; a failed transaction is rolled back (see [`pool`] for a connection whose
/// rollback fails), and the outcome recorded in the store's health.
macro_rules! in_write_tx {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let result = async {
            let mut tx = $store.begin_write().await?;
            let $conn = &mut *tx;
            let out = $body.await?;
            tx.commit().await.map_err(StoreError::backend)?;
            Ok::<_, StoreError>(out)
        }
        .await;
        $store.wrote(result)
    }};
}

/// Runs `$body` in a read transaction, so everything it reads is one snapshot (a receipt
/// and its history, say).
macro_rules! in_read_tx {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let result = async {
            let mut tx = $store.reader.begin().await.map_err(StoreError::backend)?;
            let $conn = &mut *tx;
            let out = $body.await?;
            tx.commit().await.map_err(StoreError::backend)?;
            Ok::<_, StoreError>(out)
        }
        .await;
        $store.read(result)
    }};
}

/// Runs `$body` (one statement) on a connection of the read pool.
macro_rules! on_reader {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let result = async {
            let mut conn = $store.reader.acquire().await.map_err(StoreError::backend)?;
            let $conn = &mut *conn;
            $body.await
        }
        .await;
        $store.read(result)
    }};
}

// Declared after the macros above, which they use: erasure ([`erasure`]), export pages
// ([`export`]) and online backup ([`backup`]).
mod backup;
mod erasure;
mod export;

pub use self::backup::{BackupReport, backup as sqlite_backup};
// Declared after the transaction macros, which it uses.
mod health;

fn pool(max: u32) -> PoolOptions<Sqlite> {
    // A local file does not go stale: no liveness ping per acquire, no idle reconnects.
    PoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(30))
        .after_release(|conn, _| Box::pin(release(conn)))
}

/// Whether a connection going back to its pool may be reused: not while it is still
/// inside a transaction. A dropped transaction queues its rollback on the connection; when
/// that rollback fails (SQLite already rolled back by itself after `SQLITE_FULL` or an
/// I/O error, so `ROLLBACK` finds no transaction), sqlx still counts the transaction open,
/// and every later `BEGIN` on the connection would fail ("attempted to call begin_with at
/// non-zero transaction depth"). Such a connection is closed (closing rolls back whatever
/// SQLite still holds) and the pool opens a fresh one. Costs one atomic read per release
/// when nothing failed.
async fn release(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // Runs the queued rollback (commands run in order), then looks again.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!(
            "a store connection was left inside a transaction after a failed commit or rollback; replacing it"
        );
        return Ok(false);
    }
    Ok(true)
}

#[async_trait]
impl InboxStore for SqliteStore {
    async fn insert_inbound(&self, msg: &InboundMessage) -> Result<InsertOutcome, StoreError> {
        self.inbound.insert(InboxRow::encode(msg)?, None).await
    }

    async fn insert_inbound_in_state(
        &self,
        msg: &InboundMessage,
        state: InboxState,
        note: Option<&str>,
    ) -> Result<InsertOutcome, StoreError> {
        self.inbound
            .insert(InboxRow::encode(msg)?.in_state(state, note), None)
            .await
    }

    async fn insert_inbound_forwarded(
        &self,
        msg: &InboundMessage,
        state: InboxState,
        event: &ForwardEvent,
    ) -> Result<InsertOutcome, StoreError> {
        let row = InboxRow::encode(msg)?.in_state(state, None);
        if forward_tail::stands_for(event, msg) {
            // The row stands for the event: nothing is copied into `forwards`.
            let numbers = [msg.from.clone(), msg.to.clone()];
            let row = row.with_forward_at(event.created_at);
            return self
                .inbound
                .insert_with_tail(row, Box::new((event.clone(), numbers)))
                .await;
        }
        self.inbound
            .insert(row, Some(crate::codec::ForwardRow::encode(event)?))
            .await
    }

    async fn insert_inbound_gated_atomic(
        &self,
        msg: &InboundMessage,
        gate: &ApprovalGate,
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
        on_reader!(self, |conn| inbox::list(conn, query.since, limit))
    }

    async fn queued_inbound(&self, limit: usize) -> Result<Vec<InboundMessage>, StoreError> {
        on_reader!(self, |conn| inbox::queued(conn, limit))
    }

    async fn set_inbound_state(
        &self,
        id: &MessageId,
        state: InboxState,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut claims = self.claims.lock().await;
        in_write_tx!(self, |conn| inbox::set_state(conn, id, state, note))?;
        claims.forget([id]);
        Ok(())
    }

    async fn set_inbound_states(&self, updates: &[InboxUpdate]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut claims = self.claims.lock().await;
        in_write_tx!(self, |conn| inbox::set_states(&mut *conn, updates))?;
        claims.forget(updates.iter().map(|u| &u.id));
        Ok(())
    }

    async fn claim_inbound(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedInbound>, StoreError> {
        // Nothing to record: a read on the read pool, and the claims kept in memory.
        let (_, claimed) = self
            .record_and_claim_inbound(&[], now, lease, limit)
            .await?;
        Ok(claimed)
    }

    async fn record_dispatch(
        &self,
        outcomes: &[DispatchOutcome],
    ) -> Result<Vec<MessageId>, StoreError> {
        let mut claims = self.claims.lock().await;
        let plan = claims.plan(outcomes);
        let applied = if plan.writes() {
            in_write_tx!(self, |conn| claims::record(conn, &plan))?
        } else {
            Default::default()
        };
        Ok(claims.settle(&plan, applied))
    }

    async fn record_and_claim_inbound(
        &self,
        outcomes: &[DispatchOutcome],
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<(Vec<MessageId>, Vec<ClaimedInbound>), StoreError> {
        let mut claims = self.claims.lock().await;
        let plan = claims.plan(outcomes);
        // The record is one write transaction; the claim is a read on the read pool, so
        // it never holds the writer that the inbound webhooks wait for.
        let applied = if plan.writes() {
            in_write_tx!(self, |conn| claims::record(conn, &plan))?
        } else {
            Default::default()
        };
        let held = claims.held_senders(now, &plan);
        let read = on_reader!(self, |conn| inbox::claimable(conn, now, limit, &held));
        let lost = claims.settle(&plan, applied);
        let candidates = match read {
            Ok(c) => c,
            Err(e) if outcomes.is_empty() => return Err(e),
            Err(e) => {
                // The outcomes are recorded: report that, and let the next call claim.
                tracing::error!(recorded = outcomes.len(), error = %telephony_core::error_chain(&e), "claiming inbound messages failed after their outcomes were recorded; claiming again on the next call");
                Vec::new()
            }
        };
        let token = LeaseToken::generate();
        let claimed = claims.lease(candidates, token, now, lease);
        if !claimed.is_empty() {
            debug!(claimed = claimed.len(), recorded = outcomes.len(), limit, lease = %token, "inbound outcomes recorded and messages claimed");
        }
        Ok((lost, claimed))
    }

    async fn failed_inbound(&self, limit: usize) -> Result<Vec<FailedInbound>, StoreError> {
        let limit = match limit {
            0 => DEFAULT_LIMIT,
            n => n,
        };
        on_reader!(self, |conn| inbox::failed(conn, limit))
    }

    async fn requeue_inbound(&self, id: &MessageId) -> Result<InboxState, StoreError> {
        let mut claims = self.claims.lock().await;
        let before = in_write_tx!(self, |conn| inbox::requeue(conn, id))?;
        claims.forget([id]);
        Ok(before)
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn enqueue_outbound(
        &self,
        id: &MessageId,
        msg: &OutboundMessage,
        now: OffsetDateTime,
    ) -> Result<Receipt, StoreError> {
        let now = codec::stored(now);
        in_write_tx!(self, |conn| outbox::enqueue(conn, id, msg, now, Hold::No))
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

    /// Books in this process's memory, not in the database: one process owns a SQLite
    /// database (the gateway locks its data directory), so no other process books the
    /// same senders, and a send costs no database write for its slot. Slots start afresh
    /// when the process does.
    async fn reserve_send_slots(
        &self,
        key: &str,
        rate: SendRate,
        count: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<OffsetDateTime>, StoreError> {
        let mut slots = telephony_core::sync::lock(&self.send_slots);
        if slots.len() > SEND_SLOT_KEYS {
            // Senders whose next free time has passed book as if new.
            slots.retain(|_, next| *next > now);
        }
        let (booked, next) = rate.book(slots.get(key).copied(), now, count);
        slots.insert(key.to_string(), next);
        Ok(booked)
    }

    async fn next_outbound_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        on_reader!(self, |conn| outbox::next_due(conn))
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
        on_reader!(self, |conn| outbox::len(conn))
    }

    async fn outbox_oldest(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        on_reader!(self, |conn| outbox::oldest(conn))
    }
}

#[async_trait]
impl PolicyStore for SqliteStore {
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
        on_reader!(self, |conn| pairing::pending(conn, now))
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
        on_reader!(self, |conn| pairing::is_approved(conn, number))
    }

    async fn approved_senders_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<std::collections::HashSet<PhoneNumber>, StoreError> {
        if numbers.is_empty() {
            return Ok(Default::default());
        }
        on_reader!(self, |conn| pairing::approved_among(conn, numbers))
    }

    async fn pairing_state(
        &self,
        numbers: &[PhoneNumber],
        now: OffsetDateTime,
    ) -> Result<PairingState, StoreError> {
        on_reader!(self, |conn| pairing::state(conn, numbers, now))
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
        on_reader!(self, |conn| opt_outs::is_opted_out(conn, number))
    }
}

#[async_trait]
impl ContactStore for SqliteStore {
    async fn is_known_contact(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        on_reader!(self, |conn| contacts::is_known(conn, number))
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
        in_write_tx!(self, |conn| contacts::approve(conn, number, now))
    }

    async fn held_outbound(&self) -> Result<Vec<Receipt>, StoreError> {
        in_read_tx!(self, |conn| outbox::held(conn))
    }

    async fn count_outbound_since(&self, since: OffsetDateTime) -> Result<usize, StoreError> {
        on_reader!(self, |conn| receipts::count_since(conn, since))
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

impl SqliteStore {
    /// The forward tail (a short lock; never held across an `await`).
    fn tail(&self) -> std::sync::MutexGuard<'_, forward_tail::Tail> {
        self.forward_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one forward outcome; a fenced-out outcome is `LeaseLost`, or `NotFound`
    /// for an unknown id.
    async fn record_one_forward(
        &self,
        outcome: ForwardOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let id = outcome.id.clone();
        if self.record_forwards(&[outcome], now).await?.is_empty() {
            return Ok(());
        }
        if self.tail().holds(&id) || on_reader!(self, |conn| forwards::exists(conn, &id))? {
            Err(StoreError::LeaseLost { id })
        } else {
            Err(forwards::not_found(&id))
        }
    }
}

#[async_trait]
impl ForwardStore for SqliteStore {
    async fn enqueue_forward(&self, event: &ForwardEvent) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| forwards::enqueue(conn, event))
    }

    async fn claim_forwards(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedForward>, StoreError> {
        // A read on the read pool, and the lease kept in memory (see `forward_claims`).
        let mut claims = self.forward_claims.lock().await;
        let scan = self.tail().scan_needed();
        if let Some(from) = scan {
            let rows = on_reader!(self, |conn| forward_tail::backlog(
                conn,
                from,
                forward_tail::SCAN
            ))?;
            self.tail().loaded(from, rows, forward_tail::SCAN);
        }
        let read = limit.saturating_add(claims.live(now));
        let mut candidates = on_reader!(self, |conn| forwards::claimable(conn, now, read))?;
        // The tail's events are due when created: merged in, oldest due first.
        let tail = self.tail().candidates(read);
        if !tail.is_empty() {
            candidates.extend(
                tail.into_iter()
                    .map(|(event, due)| forward_claims::Candidate { event, due }),
            );
            candidates.sort_by_key(|c| c.due);
        }
        let token = LeaseToken::generate();
        Ok(claims.lease(candidates, token, now, lease, limit))
    }

    async fn complete_forward(
        &self,
        id: &str,
        lease: LeaseToken,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let outcome = ForwardOutcome {
            id: id.to_string(),
            lease,
            result: ForwardResult::Delivered,
        };
        self.record_one_forward(outcome, now).await
    }

    async fn retry_forward(
        &self,
        id: &str,
        lease: LeaseToken,
        error: &str,
        next_attempt: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let outcome = ForwardOutcome {
            id: id.to_string(),
            lease,
            result: ForwardResult::Retry {
                error: error.to_string(),
                at: next_attempt,
            },
        };
        self.record_one_forward(outcome, OffsetDateTime::now_utc())
            .await
    }

    async fn record_forwards(
        &self,
        outcomes: &[ForwardOutcome],
        now: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let mut claims = self.forward_claims.lock().await;
        let mut plan = claims.plan(outcomes);
        // The tail's events: delivered ones settle in memory and move the cursor; failed
        // and moved ones are written to `forwards`, to be retried from there.
        let tail_ids = {
            let tail = self.tail();
            plan.take_tail(|id| tail.holds(id))
        };
        let (settling, moved) = self.tail().settle(
            tail_ids.delivered.iter().copied(),
            tail_ids.to_table.iter().map(|(id, ..)| *id),
        );
        let rows = match tail_ids.rows(moved, &claims) {
            Ok(rows) => rows,
            Err(e) => {
                self.tail().restore(settling);
                return Err(e);
            }
        };
        let written = if plan.writes() || !tail_ids.is_empty() {
            in_write_tx!(self, |conn| async {
                let applied = forward_claims::record(&mut *conn, &plan, now).await?;
                if !rows.is_empty() {
                    let refs: Vec<&crate::codec::ForwardRow> = rows.iter().collect();
                    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
                    forwards::push_insert_many(&mut q, &refs);
                    q.build()
                        .execute(&mut *conn)
                        .await
                        .map_err(StoreError::backend)?;
                }
                if !tail_ids.is_empty() {
                    forward_tail::write_cursor(&mut *conn, &settling).await?;
                }
                Ok::<_, StoreError>(applied)
            })
        } else {
            Ok(Default::default())
        };
        let mut applied = match written {
            Ok(applied) => applied,
            Err(e) => {
                self.tail().restore(settling);
                return Err(e);
            }
        };
        if !tail_ids.is_empty() {
            // What was written moves the cursor; nothing else does.
            self.tail().stored(&settling);
        }
        applied.extend(tail_ids.ids().map(str::to_string));
        let lost = claims.settle(&plan, applied);
        // Moved events start over in `forwards` with the attempts written there.
        claims.forget(tail_ids.ids());
        Ok(lost)
    }

    async fn forward_stats(&self) -> Result<ForwardStats, StoreError> {
        let (in_memory, scan_from, settled) = self.tail().in_memory();
        let mut stats = on_reader!(self, |conn| forwards::stats(conn))?;
        let (unread, delivered) = on_reader!(self, |conn| forward_tail::stats(conn, scan_from))?;
        stats.pending += in_memory + unread.saturating_sub(settled);
        stats.delivered += delivered;
        Ok(stats)
    }
}

#[async_trait]
impl CallStore for SqliteStore {
    async fn begin_call(
        &self,
        call: &NewCall,
        max_live: Option<usize>,
    ) -> Result<BeginOutcome, StoreError> {
        // BEGIN IMMEDIATE holds the write lock from the live count to the insert.
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
        on_reader!(self, |conn| calls::update_epoch(conn, call_id))
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
        on_reader!(self, |conn| calls::orphans(conn, limit))
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
impl ClusterStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        // Migrated at open: a store that answers is ready.
        on_reader!(self, |conn| cluster::ping(conn))
    }

    async fn heartbeat(&self, beat: &ReplicaBeat) -> Result<(), StoreError> {
        in_write_tx!(self, |conn| cluster::heartbeat(conn, beat))
    }

    async fn replicas(&self, live_since: OffsetDateTime) -> Result<Vec<ReplicaBeat>, StoreError> {
        on_reader!(self, |conn| cluster::replicas(conn, live_since))
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

    /// Never fires: one process opens a SQLite store, and the gateway wakes its own
    /// workers when it enqueues.
    fn watch_work(&self, _kind: WorkKind) -> WorkWatch {
        WorkWatch::never()
    }
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn prune_batch(
        &self,
        kind: PruneKind,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        if kind != PruneKind::Messages {
            return in_write_tx!(self, |conn| retention::prune_batch(
                conn, kind, before, limit
            ));
        }
        // Deleting inbox rows can free the largest rowids: the forward cursor comes down
        // with them, in the same transaction and in memory, with no forward record in
        // between (see `forward_tail`).
        let _forward_claims = self.forward_claims.lock().await;
        let (pruned, max_rowid) = in_write_tx!(self, |conn| async {
            let pruned = retention::prune_batch(&mut *conn, kind, before, limit).await?;
            let max = forward_tail::clamp_cursor(&mut *conn).await?;
            Ok::<_, StoreError>((pruned, max))
        })?;
        self.tail().clamp(max_rowid);
        Ok(pruned)
    }

    async fn count_prunable(
        &self,
        kind: PruneKind,
        before: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        in_read_tx!(self, |conn| retention::count(conn, kind, before))
    }

    async fn reclaim_space(&self, max_pages: u32) -> Result<u64, StoreError> {
        in_write_tx!(self, |conn| retention::incremental_vacuum(conn, max_pages))
    }
}
