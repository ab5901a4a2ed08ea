//! The store's integration tests, in one binary: SQLite on real files (durability, crashes,
//! concurrency), the shared store conformance suite, and the opt-in throughput measurement.

mod sqlite;
mod suite;
mod throughput;
