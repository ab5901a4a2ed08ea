//! Group commit for inbound messages, as on SQLite.
//!
//! Webhooks are acknowledged only after their message is committed, and each commit waits
//! for the server's WAL flush. Committing each webhook alone would cost one flush per
//! webhook; instead a writer task takes every insert that queued up while the previous
//! batch was committing (up to [`MAX_BATCH`]), inserts them with one statement in one
//! transaction, commits once, and only then answers each caller. No artificial delay is
//! added: under light load a batch holds one message, under heavy load batches grow by
//! themselves.
//!
//! Several replicas insert concurrently: a batch inserts its rows in provider-SID order, so
//! two batches that share SIDs wait for each other in one order and cannot deadlock; a SID
//! another replica is inserting at that moment waits for that replica's commit and is then
//! a duplicate (or inserted, if that one rolled back).

use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;
use sqlx::error::ErrorKind;
use telephony_core::store::{ApprovalGate, PairingState};
use telephony_core::{InboxState, InsertOutcome, StoreError, StoreErrorKind};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::forwards;
use super::inbox::{self, InboxRow};
use super::pairing;
use super::wakeups::Notifier;
use crate::codec::ForwardRow;
use crate::health::{Health, StoreClosed};

/// Most inserts committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// Inserts waiting for the writer before callers wait to enqueue (backpressure).
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// The outcome, and the state an approval gate decided (`None` without a gate).
type Answer = (InsertOutcome, Option<InboxState>);

type Reply = oneshot::Sender<Result<Answer, StoreError>>;

struct Request {
    row: InboxRow,
    /// The message's forward event, stored in the same transaction when it is inserted.
    forward: Option<ForwardRow>,
    /// Decides the row's state from the sender policy's state, read in the batch's
    /// transaction (see [`decide_gates`]).
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
    /// Starts the writer task on the current tokio runtime; a batch that stored a new
    /// message notifies the other replicas through `notifier` (once per batch).
    pub(crate) fn spawn(pool: PgPool, notifier: Notifier, health: Arc<Health>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(pool, notifier, rx, health));
        InboundWriter { queue }
    }

    /// Queues a row (and its forward event, stored with it if it is inserted) and waits
    /// until its batch is committed (or rolled back).
    pub(crate) async fn insert(
        &self,
        row: InboxRow,
        forward: Option<ForwardRow>,
    ) -> Result<InsertOutcome, StoreError> {
        Ok(self.send(row, forward, None).await?.0)
    }

    /// Queues a row whose state `gate` decides in the batch's transaction, and waits until
    /// its batch is committed; returns the outcome and that state.
    pub(crate) async fn insert_gated(
        &self,
        row: InboxRow,
        gate: ApprovalGate,
    ) -> Result<(InsertOutcome, InboxState), StoreError> {
        crate::gates::answer(self.send(row, None, Some(gate)).await?)
    }

    async fn send(
        &self,
        row: InboxRow,
        forward: Option<ForwardRow>,
        gate: Option<ApprovalGate>,
    ) -> Result<Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request {
                row,
                forward,
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

/// Commits batches until the last handle is dropped. A failed batch is rolled back (a
/// connection the server dropped is closed by the pool, which connects again), so once
/// the server answers again the next batch commits.
async fn run(
    pool: PgPool,
    notifier: Notifier,
    mut rx: mpsc::Receiver<Request>,
    health: Arc<Health>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let started = Instant::now();
        let size = batch.len();
        match write(&pool, &notifier, &mut batch).await {
            Ok(outcomes) => {
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

/// Runs a batch in one transaction, as one multi-row insert (and one of the forward
/// events of the messages it inserted: each message commits with its event or not at all). If that statement hits a
/// constraint other than the duplicate provider SID (e.g. a reused gateway id), the
/// statement is rolled back to a savepoint and the rows are inserted one by one instead
/// (each behind its own savepoint), so the offending row fails alone and the rest commit.
/// Any other error rolls back the whole batch.
async fn write(
    pool: &PgPool,
    notifier: &Notifier,
    batch: &mut [Request],
) -> Result<Vec<Result<InsertOutcome, StoreError>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted = async {
        if batch.iter().any(|r| r.gate.is_some()) {
            decide_gates(&mut tx, batch).await?;
        }
        let batch = &*batch;
        let outcomes = insert_batch(&mut tx, batch).await?;
        let events =
            crate::codec::inserted_events(batch.iter().map(|r| r.forward.as_ref()), &outcomes);
        if !events.is_empty() {
            forwards::insert_many(&mut tx, &events).await?;
            notifier
                .notify(&mut tx, telephony_core::store::WorkKind::Forward)
                .await?;
        }
        // A message stored with its event, or decided by its gate, is decided: nothing
        // for the dispatch workers.
        if batch.iter().zip(&outcomes).any(|(r, o)| {
            r.forward.is_none()
                && r.decided.is_none_or(|s| s == InboxState::Queued)
                && matches!(o, Ok(InsertOutcome::Inserted))
        }) {
            notifier
                .notify(&mut tx, telephony_core::store::WorkKind::Inbound)
                .await?;
        }
        Ok(outcomes)
    };
    match inserted.await {
        Ok(outcomes) => {
            tx.commit().await?;
            Ok(outcomes)
        }
        Err(e) => {
            // At once: until it rolls back, the batch's rows hold their SIDs' index
            // entries, and other replicas inserting those SIDs wait on them.
            if let Err(re) = tx.rollback().await {
                debug!(error = %re, "rolling back a failed inbound batch failed");
            }
            Err(e)
        }
    }
}

/// Reads, in the batch's transaction and once for the batch, which of its gated rows'
/// senders are approved, the pending pairing requests and how many were created in the
/// last hour, and sets each gated row's state
/// and note as its gate decides ([`ApprovalGate::decide`]). Under READ COMMITTED an
/// approval another replica commits after this read counts from the next batch.
async fn decide_gates(
    conn: &mut sqlx::PgConnection,
    batch: &mut [Request],
) -> Result<(), sqlx::Error> {
    let senders = crate::gates::senders(batch.iter().filter_map(|r| r.gate.as_ref()));
    let now = OffsetDateTime::now_utc();
    let read = async {
        Ok::<_, StoreError>(PairingState {
            approved: pairing::approved_among(&mut *conn, &senders).await?,
            pending: pairing::pending(&mut *conn, now).await?,
            created_last_hour: Some(pairing::created_last_hour(&mut *conn, now).await?),
        })
    }
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

/// The statements of [`write`], in its transaction.
async fn insert_batch(
    tx: &mut sqlx::PgConnection,
    batch: &[Request],
) -> Result<Vec<Result<InsertOutcome, StoreError>>, sqlx::Error> {
    let rows: Vec<&InboxRow> = batch.iter().map(|r| &r.row).collect();
    sqlx::query("SAVEPOINT batch").execute(&mut *tx).await?;
    let outcomes = match inbox::insert_many(&mut *tx, &rows).await {
        Ok(mut new) => rows
            .iter()
            // The first request for a SID gets Inserted, any repeat in the batch Duplicate.
            .map(|r| {
                Ok(if new.remove(r.provider_sid()) {
                    InsertOutcome::Inserted
                } else {
                    InsertOutcome::Duplicate
                })
            })
            .collect(),
        Err(e) if is_constraint_violation(&e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT batch")
                .execute(&mut *tx)
                .await?;
            let mut outcomes = Vec::with_capacity(batch.len());
            for req in batch {
                sqlx::query("SAVEPOINT one").execute(&mut *tx).await?;
                let outcome = match req.row.insert(&mut *tx).await {
                    Ok(true) => Ok(InsertOutcome::Inserted),
                    Ok(false) => Ok(InsertOutcome::Duplicate),
                    Err(e) if is_constraint_violation(&e) => {
                        sqlx::query("ROLLBACK TO SAVEPOINT one")
                            .execute(&mut *tx)
                            .await?;
                        Err(StoreError::backend(e))
                    }
                    Err(e) => return Err(e),
                };
                outcomes.push(outcome);
            }
            outcomes
        }
        Err(e) => return Err(e),
    };
    Ok(outcomes)
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
