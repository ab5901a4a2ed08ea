//! Group commit for inbound messages.
//!
//! Webhooks are acknowledged only after their message is committed, and SQLite commits one
//! transaction at a time. Committing each webhook alone would cap throughput at one commit's
//! latency; instead a single writer task takes every insert that queued up while the previous
//! batch was committing (up to [`MAX_BATCH`]), runs them in one transaction, commits once,
//! and only then answers each caller. No artificial delay is added: under light load a batch
//! holds one message, under heavy load batches grow by themselves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::error::ErrorKind;
use sqlx::{Connection as _, SqliteConnection, SqlitePool};
use telephony_core::store::ApprovalGate;
use telephony_core::{InboxState, InsertOutcome, StoreError, StoreErrorKind};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::compact::Key;
use super::forward_tail::SharedTail;
use super::forwards;
use super::inbox::{self, InboxRow};
use super::pairing;
use crate::codec::ForwardRow;
use crate::health::{Health, StoreClosed};

/// Most inserts committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// Inserts waiting for the writer before callers wait to enqueue (backpressure).
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// How often the writer logs what it committed at info (per message and per batch it
/// logs at debug only: a line per message was a write to stderr per webhook).
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What the writer committed since its last summary line.
struct Summary {
    since: Instant,
    inserted: u64,
    duplicates: u64,
    batches: u64,
    largest: usize,
}

impl Summary {
    fn new() -> Self {
        Summary {
            since: Instant::now(),
            inserted: 0,
            duplicates: 0,
            batches: 0,
            largest: 0,
        }
    }

    /// Counts a committed batch; logs and starts over once [`SUMMARY_EVERY`] has passed.
    fn committed(&mut self, size: usize, inserted: usize, duplicates: usize) {
        self.inserted += inserted as u64;
        self.duplicates += duplicates as u64;
        self.batches += 1;
        self.largest = self.largest.max(size);
        let elapsed = self.since.elapsed();
        if elapsed >= SUMMARY_EVERY {
            info!(
                inserted = self.inserted,
                duplicates = self.duplicates,
                batches = self.batches,
                largest_batch = self.largest,
                seconds = elapsed.as_secs(),
                "inbound messages committed"
            );
            *self = Summary::new();
        }
    }
}

/// A `message.received` event its inbox row stands for, and the message's numbers.
pub(crate) type TailEvent = Box<(telephony_core::ForwardEvent, [String; 2])>;

/// The outcome, and the state an approval gate decided (`None` without a gate).
type Answer = (InsertOutcome, Option<InboxState>);

type Reply = oneshot::Sender<Result<Answer, StoreError>>;

struct Request {
    row: InboxRow,
    /// The message's forward event, stored in the same transaction when it is inserted.
    forward: Option<ForwardRow>,
    /// The message's `message.received` event, which its row (marked `forward_at`) stands
    /// for: handed to the forward tail once the batch commits (see `forward_tail`).
    tail: Option<TailEvent>,
    /// Decides the row's state from the sender policy's state, read for the batch on the
    /// write connection just before its insert (see [`decide_gates`]).
    gate: Option<ApprovalGate>,
    /// What the gate decided.
    decided: Option<InboxState>,
    reply: Reply,
}

/// A whole batch was rolled back; every message in it was not stored.
#[derive(Debug, thiserror::Error)]
#[error("inbound batch of {batch} message(s) was rolled back, nothing in it was stored")]
struct BatchFailed {
    batch: usize,
    #[source]
    source: Arc<sqlx::Error>,
}

/// The handle callers use; the writer task ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct InboundWriter {
    queue: mpsc::Sender<Request>,
}

impl InboundWriter {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn spawn(pool: SqlitePool, health: Arc<Health>, tail: SharedTail) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(pool, rx, health, tail));
        InboundWriter { queue }
    }

    /// Queues a row (and its forward event, stored with it if it is inserted) and waits
    /// until its batch is committed (or rolled back).
    pub(crate) async fn insert(
        &self,
        row: InboxRow,
        forward: Option<ForwardRow>,
    ) -> Result<InsertOutcome, StoreError> {
        Ok(self.send(row, forward, None, None).await?.0)
    }

    /// Queues a row marked with its `message.received` event (`inbox.forward_at`), and
    /// waits until its batch is committed; the event is then in the forward tail.
    pub(crate) async fn insert_with_tail(
        &self,
        row: InboxRow,
        tail: TailEvent,
    ) -> Result<InsertOutcome, StoreError> {
        Ok(self.send(row, None, None, Some(tail)).await?.0)
    }

    /// Queues a row whose state `gate` decides in the batch's transaction, and waits until
    /// its batch is committed; returns the outcome and that state.
    pub(crate) async fn insert_gated(
        &self,
        row: InboxRow,
        gate: ApprovalGate,
    ) -> Result<(InsertOutcome, InboxState), StoreError> {
        crate::gates::answer(self.send(row, None, Some(gate), None).await?)
    }

    async fn send(
        &self,
        row: InboxRow,
        forward: Option<ForwardRow>,
        gate: Option<ApprovalGate>,
        tail: Option<TailEvent>,
    ) -> Result<Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request {
                row,
                forward,
                tail,
                gate,
                decided: None,
                reply,
            })
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::backend(StoreClosed)
}

/// Commits batches until the last handle is dropped. A batch that fails is answered with
/// its error and rolled back; its connection goes back to the pool, which replaces it if
/// the rollback could not end the transaction (see `release` in the parent module), so
/// the next batch starts clean: once the cause is gone (space freed), batches commit again.
async fn run(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<Request>,
    health: Arc<Health>,
    tail: SharedTail,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut summary = Summary::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = Instant::now();
        let size = batch.len();
        match write(&pool, &mut batch).await {
            Ok((outcomes, rowids)) => {
                hand_to_tail(&tail, &mut batch, &outcomes, &rowids);
                let inserted = outcomes
                    .iter()
                    .filter(|o| matches!(o, Ok(InsertOutcome::Inserted)))
                    .count();
                let duplicates = outcomes
                    .iter()
                    .filter(|o| matches!(o, Ok(InsertOutcome::Duplicate)))
                    .count();
                health.committed();
                health.batch(size, started.elapsed(), true);
                let refused = size - inserted - duplicates;
                if refused > 0 {
                    // Each such row broke a constraint alone; the batch committed.
                    health.count(StoreErrorKind::Constraint, refused as u64);
                }
                debug!(
                    batch = size,
                    inserted,
                    duplicates,
                    refused,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "inbound batch committed"
                );
                summary.committed(size, inserted, duplicates);
                for (req, outcome) in batch.drain(..).zip(outcomes) {
                    // A caller that gave up still had its message stored; nothing to undo.
                    let _ = req.reply.send(outcome.map(|o| (o, req.decided)));
                }
            }
            Err(e) => {
                warn!(
                    batch = size,
                    error = %e,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "inbound batch rolled back"
                );
                health.batch(size, started.elapsed(), false);
                let source = Arc::new(e);
                health.write_failed(&StoreError::backend(BatchFailed {
                    batch: size,
                    source: source.clone(),
                }));
                for req in batch.drain(..) {
                    let _ = req.reply.send(Err(StoreError::backend(BatchFailed {
                        batch: size,
                        source: source.clone(),
                    })));
                }
            }
        }
    }
    debug!("inbound writer stopped");
}

/// Runs a batch as **one** statement, a multi-row insert in SQLite's autocommit mode: the
/// statement is its own transaction (atomic: all its rows commit together when it
/// completes, or none), and the batch costs one hand-off to the connection's thread and
/// back however many rows it holds (a sqlx transaction around it costs four: `BEGIN`, the
/// check that it began, the insert, `COMMIT`).
///
/// A batch that carries forward events runs in a transaction instead: the messages'
/// insert, then one insert of the events of the messages it inserted (a duplicate's event
/// is not stored), then the commit: each message is committed with its event or not at
/// all. A batch with gated rows first reads the sender policy's state for all of them in
/// one query and sets each row's state ([`decide_gates`]), on the write connection it then
/// inserts with (a pool of one that every write of the gateway goes through), so no
/// approval or pairing request of the gateway can commit between the read and the insert.
///
/// The insert's change count tells how many rows were new. When that is every distinct
/// provider SID of the batch (the usual case), the first request for each SID was inserted
/// and any repeat in the batch is a duplicate; when some were stored before, one read after
/// the insert of the rows at the rowids the statement gave tells which.
///
/// If the insert hit a constraint other than the duplicate provider SID (e.g. a reused
/// gateway id), SQLite backed the statement out, and the rows are inserted one by one in a
/// transaction instead, so the offending row fails alone and the rest commit. Any other
/// error fails the whole batch (nothing of it was stored).
async fn write(
    pool: &SqlitePool,
    batch: &mut [Request],
) -> Result<(Outcomes, Vec<Option<i64>>), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    if batch.iter().any(|r| r.gate.is_some()) {
        // On the gateway's only write connection, held until the batch is written: no
        // other write of the gateway (an approval, a new pairing request) can commit
        // between this read and the insert.
        decide_gates(&mut conn, batch).await?;
    }
    if batch.iter().all(|r| r.forward.is_none()) {
        return match insert_many(&mut conn, batch).await? {
            Some(done) => Ok(done),
            None => {
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                let outcomes = one_by_one(&mut tx, batch).await?;
                tx.commit().await?;
                Ok(outcomes)
            }
        };
    }
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    // SQLite backs out only the failed statement: the transaction goes on row by row.
    let (outcomes, rowids) = match insert_many(&mut tx, batch).await? {
        Some(done) => done,
        None => one_by_one(&mut tx, batch).await?,
    };
    let events = crate::codec::inserted_events(batch.iter().map(|r| r.forward.as_ref()), &outcomes);
    if !events.is_empty() {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
        forwards::push_insert_many(&mut q, &events);
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok((outcomes, rowids))
}

type Outcomes = Vec<Result<InsertOutcome, StoreError>>;

/// Hands the committed batch's `message.received` events to the forward tail, at their
/// rows' rowids, before any caller is answered (so a woken forwarder finds them).
fn hand_to_tail(
    tail: &SharedTail,
    batch: &mut [Request],
    outcomes: &Outcomes,
    rowids: &[Option<i64>],
) {
    if batch.iter().all(|r| r.tail.is_none()) {
        return;
    }
    let mut tail = tail
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for ((req, outcome), rowid) in batch.iter_mut().zip(outcomes).zip(rowids) {
        if let (Some(event), Ok(InsertOutcome::Inserted), Some(rowid)) =
            (req.tail.take(), outcome, rowid)
        {
            let (event, numbers) = *event;
            tail.push(*rowid, event, numbers);
        }
    }
}

/// Reads, once for the batch, which of its gated rows' senders are approved, the pending
/// pairing requests and how many were created in the last hour, in one query
/// ([`pairing::state`]), and
/// sets each gated row's state and note as its gate decides ([`ApprovalGate::decide`]).
async fn decide_gates(
    conn: &mut SqliteConnection,
    batch: &mut [Request],
) -> Result<(), sqlx::Error> {
    let senders = crate::gates::senders(batch.iter().filter_map(|r| r.gate.as_ref()));
    let read = pairing::state(&mut *conn, &senders, OffsetDateTime::now_utc())
        .await
        .map_err(|e| crate::gates::read_failed(&e))?;
    for req in batch.iter_mut() {
        if let Some(gate) = &req.gate {
            let (state, note) = gate.decide(&read);
            req.row.set_state(state, note);
            req.decided = Some(state);
        }
    }
    Ok(())
}

/// The batch's messages in one multi-row insert; `None` when it broke a constraint other
/// than the duplicate provider SID (SQLite backed the statement out).
async fn insert_many(
    conn: &mut SqliteConnection,
    batch: &[Request],
) -> Result<Option<(Outcomes, Vec<Option<i64>>)>, sqlx::Error> {
    let rows: Vec<&InboxRow> = batch.iter().map(|r| &r.row).collect();
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
    inbox::push_insert_many(&mut q, &rows);
    let done = match q.build().execute(&mut *conn).await {
        Ok(done) => done,
        Err(e) if is_constraint_violation(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let inserted = done.rows_affected();
    // The first request for each SID, by position in the batch.
    let mut firsts = std::collections::HashSet::with_capacity(rows.len());
    let first: Vec<bool> = rows
        .iter()
        .map(|r| firsts.insert(r.provider_sid()))
        .collect();
    let last = done.last_insert_rowid();
    if inserted as usize == firsts.len() {
        // Every distinct SID was new: the first request for each inserted it.
        let outcomes = first
            .into_iter()
            .map(|f| {
                Ok(if f {
                    InsertOutcome::Inserted
                } else {
                    InsertOutcome::Duplicate
                })
            })
            .collect();
        return Ok(Some(with_rowids(outcomes, last, inserted)));
    }
    let new: std::collections::HashSet<Key> = if inserted == 0 {
        Default::default()
    } else {
        // Some SIDs were stored before this batch. The statement gave the rows it inserted
        // the rowids just above the table's largest (SQLite's rule for a table without
        // AUTOINCREMENT, and it held the write lock), so they end at its last insert rowid.
        inbox::provider_sids_in_rowids(&mut *conn, last, inserted).await?
    };
    if new.len() as u64 != inserted {
        // Committed, but which request inserted which row is not known: answer the batch
        // with an error; the providers' retries are acknowledged as duplicates.
        return Err(sqlx::Error::Protocol(format!(
            "the inbound batch inserted {inserted} row(s) but {} were found at its rowids",
            new.len()
        )));
    }
    let outcomes = rows
        .iter()
        .zip(first)
        .map(|(r, f)| {
            Ok(if f && new.contains(r.provider_sid()) {
                InsertOutcome::Inserted
            } else {
                InsertOutcome::Duplicate
            })
        })
        .collect();
    Ok(Some(with_rowids(outcomes, last, inserted)))
}

/// Each inserted row's rowid: one multi-row insert gives the rows it inserts consecutive
/// rowids in their order (just above the table's largest, see above), ending at `last`.
fn with_rowids(outcomes: Outcomes, last: i64, inserted: u64) -> (Outcomes, Vec<Option<i64>>) {
    let mut next = last - i64::try_from(inserted).unwrap_or(0) + 1;
    let rowids = outcomes
        .iter()
        .map(|o| {
            matches!(o, Ok(InsertOutcome::Inserted)).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    (outcomes, rowids)
}

/// The batch row by row, in the caller's transaction: a row that breaks a constraint
/// fails alone (SQLite backs out that statement only).
async fn one_by_one(
    tx: &mut SqliteConnection,
    batch: &[Request],
) -> Result<(Outcomes, Vec<Option<i64>>), sqlx::Error> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut rowids = Vec::with_capacity(batch.len());
    for req in batch {
        let (outcome, rowid) = match req.row.insert(&mut *tx).await {
            Ok(Some(rowid)) => (Ok(InsertOutcome::Inserted), Some(rowid)),
            Ok(None) => (Ok(InsertOutcome::Duplicate), None),
            Err(e) if is_constraint_violation(&e) => (Err(StoreError::backend(e)), None),
            Err(e) => return Err(e),
        };
        outcomes.push(outcome);
        rowids.push(rowid);
    }
    Ok((outcomes, rowids))
}

fn is_constraint_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| {
        matches!(
            d.kind(),
            ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation
        )
    })
}
