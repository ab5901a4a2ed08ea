//! The store's integration tests, in one binary: SQLite on real files (durability, crashes,
//! concurrency), the shared store conformance suite, the opt-in throughput measurement, and
//! (feature `postgres`) PostgreSQL: the suite and several connections sharing a database.

mod backup;
#[cfg(feature = "postgres")]
mod postgres;
mod recovery;
mod retention;
mod sqlite;
mod suite;
mod throughput;
