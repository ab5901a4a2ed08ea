//! The integration tests of `telephony-serve`, in one test binary (one link instead of
//! one per file). Each module is one area; `support` holds what several of them use.
//!
//! Everything here shares one process: logs are captured per test thread through the one
//! global subscriber `support::logs` installs, no test sets environment variables or the
//! current directory, and every listener binds port 0.

mod support;

mod bridge_routes;
mod decided_at_insert;
mod dispatch_retries;
mod erasure;
mod forwarding;
mod histograms;
#[cfg(feature = "otel")]
mod otel;
mod outbound_pace;
mod policies;
mod rate_limits;
mod realtime;
mod replicas;
mod replicas_postgres;
mod retention;
mod signature_http;
mod signature_logs;
mod store_full;
mod voice;
mod webhook_routes;
