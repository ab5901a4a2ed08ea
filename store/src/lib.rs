//! Durable [`Store`](telephony_core::Store) backends for the telephony gateway.
//!
//! | store | backend | use it for |
//! |---|---|---|
//! | [`SqliteStore`] | embedded SQLite file, WAL mode | one gateway process (the default) |
//! | [`MemoryStore`](telephony_core::MemoryStore) (in `telephony-core`) | memory | tests; nothing survives a restart |
//!
//! # Where the data lives
//!
//! The gateway passes the path; by convention it is `./telephony-data/telephony.db`
//! (relative to the working directory). [`SqliteStore::open`] creates the file and its
//! parent directories. Next to the database SQLite keeps `telephony.db-wal` and
//! `telephony.db-shm`; back up all three, or use SQLite's online backup.
//!
//! # Durability
//!
//! The database runs in WAL mode with `synchronous=NORMAL` by default. Every operation
//! returns only after its transaction committed, so once [`insert_inbound`] or
//! [`enqueue_outbound`] returned `Ok`, the row survives a crash of the gateway process:
//! an acknowledged webhook is never lost, and a send accepted before a crash is claimed
//! again after restart (its lease simply expires). An operating-system crash or a power
//! loss, however, may lose the last transactions committed before it (never corrupting the
//! database). If that matters more than write throughput, open with
//! [`SqliteOptions::synchronous_full`], which fsyncs every commit.
//!
//! # Throughput
//!
//! SQLite has one writer. Inbound messages, the hot path (each webhook is persisted before
//! it is acknowledged), go through a *group commit* writer: every insert that arrives while
//! a transaction is committing joins the next one (up to 256), so one commit acknowledges
//! many webhooks. Other writes run in their own `BEGIN IMMEDIATE` transaction on the same
//! write connection; reads use a separate pool and run concurrently with writes.
//!
//! # Schema
//!
//! Embedded migrations (`migrations/sqlite/*.sql`) run on every open and are idempotent;
//! a database whose applied migration differs from the embedded one is refused. Tables:
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
//! | `forwards` | events for the forward URL, delivered at least once |
//! | `calls`, `call_history`, `call_turns` | calls, their session slot, every status reached, their transcript |
//! | `orphan_call_status` | call status updates for call ids no call has |
//! | `call_pending_answers` | answers kept for calls on hold, taken once |
//! | `call_stream_tokens` | one-time tokens (their SHA-256) for calls' real-time sockets |
//!
//! Times are unix milliseconds: instants read back at millisecond precision.
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
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{SqliteOptions, SqliteStore};
