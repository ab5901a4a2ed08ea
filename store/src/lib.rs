//! Durable [`Store`](telephony_core::Store) backends for the telephony gateway.
//!
//! | store | backend | feature | use it for |
//! |---|---|---|---|
//! | [`SqliteStore`] | embedded SQLite file, WAL mode | (default) | one gateway process; nothing to install |
//! | `PostgresStore` | a PostgreSQL server (13 or later) | `postgres` | several gateway replicas sharing state |
//! | [`MemoryStore`](telephony_core::MemoryStore) (in `telephony-core`) | memory | | tests; nothing survives a restart |
//!
//! Both database backends implement every store trait and pass the same conformance suite
//! (`telephony_core::store_suite_tests!`). SQLite stays the default: the `postgres` feature
//! adds the PostgreSQL driver (TLS through rustls) and changes nothing on the SQLite path.
//! A gateway selects PostgreSQL with a `postgres://…` URL (`store.url`, or the environment
//! variable `TELEPHONY_DATABASE_URL`), which it passes to `PostgresStore::connect_with`.
//!
//! # Where the data lives
//!
//! **SQLite**: the gateway passes the path; by convention it is
//! `./telephony-data/telephony.db` (relative to the working directory).
//! [`SqliteStore::open`] creates the file and its parent directories. Next to the database
//! SQLite keeps `telephony.db-wal` and `telephony.db-shm`; back up all three, or use
//! SQLite's online backup.
//!
//! **PostgreSQL**: in the database the URL names, in one schema per account
//! (`PostgresOptions::schema`): the store creates the schema if it is missing and sets every
//! pooled connection's `search_path` to that schema alone, so each account's tables are
//! separate tables and no query can read or change another account's rows. Without a schema
//! option the server's default (`public`) is used; give every account its own when several
//! share a database. Back up with `pg_dump` (per schema with `-n`).
//!
//! # Durability
//!
//! **SQLite**: the database runs in WAL mode with `synchronous=NORMAL` by default. Every
//! operation returns only after its transaction committed, so once [`insert_inbound`] or
//! [`enqueue_outbound`] returned `Ok`, the row survives a crash of the gateway process:
//! an acknowledged webhook is never lost, and a send accepted before a crash is claimed
//! again after restart (its lease simply expires). An operating-system crash or a power
//! loss, however, may lose the last transactions committed before it (never corrupting the
//! database). If that matters more than write throughput, open with
//! [`SqliteOptions::synchronous_full`], which fsyncs every commit.
//!
//! **PostgreSQL**: every operation is one transaction that has committed when it returns, so
//! the same holds for a crash of any gateway process. What survives a crash of the
//! *database server* is the server's setting: with PostgreSQL's defaults (`fsync=on`,
//! `synchronous_commit=on`) a commit is on disk before it is acknowledged; with
//! `synchronous_commit=off` the last few hundred milliseconds of commits may be lost on a
//! server crash; replication (`synchronous_standby_names`) keeps them on a second machine.
//! Several replicas share the database safely: outbox and forward-queue claims lock rows
//! with `FOR UPDATE SKIP LOCKED` and lease them (a replica that dies leaves a lease that
//! expires, and another replica claims the row again); a webhook delivered to two replicas
//! at once is stored once (the provider SID is unique; the loser hears `Duplicate`); the
//! live-call count and the pairing caps hold a transaction advisory lock per schema.
//!
//! # Throughput
//!
//! **SQLite** has one writer. Inbound messages, the hot path (each webhook is persisted before
//! it is acknowledged), go through a *group commit* writer: every insert that arrives while
//! a transaction is committing joins the next one (up to 256), so one commit acknowledges
//! many webhooks. Other writes run in their own `BEGIN IMMEDIATE` transaction on the same
//! write connection; reads use a separate pool and run concurrently with writes.
//!
//! **PostgreSQL** runs each operation on a pooled connection
//! (`PostgresOptions::max_connections`), so writes from one or several replicas run
//! concurrently. Inbound messages are group-committed the same way as on SQLite (one
//! writer per store; a batch is one multi-row insert in provider-SID order, so batches of
//! different replicas never deadlock), so one commit acknowledges many webhooks.
//!
//! # Schema and migrations
//!
//! Each backend has its own embedded migrations (`migrations/sqlite/*.sql`,
//! `migrations/postgres/*.sql`, one file per table family), run on every open through
//! sqlx's migrator, which records them in `_sqlx_migrations` and is idempotent; a database
//! whose applied migration differs from the embedded one is refused. On PostgreSQL the
//! migrator holds an advisory lock (`pg_advisory_lock`) while it runs, and creating the
//! schema holds one too, so replicas starting together do not race: one migrates, the
//! others wait and find nothing left to do. Both backends have the same tables (PostgreSQL
//! numbers rows with a `seq` identity column where SQLite uses its rowid):
//!
//! | table | holds |
//! |---|---|
//! | `inbox` | inbound messages; unique `provider_sid`, so the database detects duplicates |
//! | `receipts`, `receipt_history` | outbound messages, their status and every status reached |
//! | `receipt_sids` | provider SID → receipt, for status callbacks |
//! | `orphan_status` | status callbacks that beat the send's response |
//! | `outbox` | sends waiting for the provider: leases, retry times, held sends |
//! | `pairing_requests`, `approved_senders` | pairing codes and the senders approved by them |
//! | `opt_outs`, `approved_contacts` | STOP/START state; first-contact approvals |
//! | `forwards` | events for the forward URL, delivered at least once (on SQLite, `message.received` events only once they failed or were held back) |
//! | `forward_cursor` | SQLite only: the inbox rowid at or below which every `message.received` event (an inbox row marked `forward_at`) is settled, the settled ones above it, and how many were delivered that way (`sqlite::forward_tail`) |
//! | `calls`, `call_history`, `call_turns` | calls, their session slot, every status reached, their transcript |
//! | `orphan_call_status` | call status updates for call ids no call has |
//! | `call_pending_answers` | answers kept for calls on hold, taken once |
//! | `call_stream_tokens` | one-time tokens (their SHA-256) for calls' real-time sockets |
//! | `store_probe` | empty between write probes ([`HealthStore::probe_write`](telephony_core::HealthStore::probe_write)) |
//!
//! Times are unix milliseconds on both backends: instants read back at millisecond
//! precision.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use telephony_core::store::prelude::*;
//! use telephony_core::{OutboundMessage, MessageId};
//! use telephony_store::SqliteStore;
//!
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("telephony-data/telephony.db")).await?;
//!
//! let id = MessageId::generate();
//! let msg = OutboundMessage::new("+15550005678".parse()?, "Your code is 1234");
//! let now = time::OffsetDateTime::now_utc();
//! store.enqueue_outbound(&id, &msg, now).await?;
//!
//! // An outbox worker leases it, sends it, then records the result.
//! let claimed = store.claim_outbound(now, Duration::from_secs(30), 10).await?;
//! assert_eq!(claimed[0].id, id);
//! assert_eq!(store.outbox_len().await?, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! [`insert_inbound`]: telephony_core::InboxStore::insert_inbound
//! [`enqueue_outbound`]: telephony_core::OutboxStore::enqueue_outbound

mod codec;
mod dispatch_outcomes;
mod extras;
mod forward_outcomes;
mod gates;
mod health;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;

pub use health::error_kind;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore, StartupState, StoreStartup};
pub use sqlite::{BackupReport, SqliteOptions, SqliteStore, sqlite_backup};
