//! The CLI's integration tests, one binary: the `telephony` command run as a user runs it
//! (exit codes, config check and migrate on the seed configs, the sandbox flow across
//! processes, tunnels, secrets that must never show), and crash safety: the gateway killed
//! with SIGKILL mid-run on SQLite ([`crash`]) and among three PostgreSQL replicas
//! ([`replicas`]), with the load and checks they share in [`workload`]. Helpers are in
//! [`support`].

mod barge_in;
mod cli;
mod config_store;
mod crash;
mod dead_letters;
mod first_hour;
mod lifecycle;
mod prune;
mod recordings;
mod replicas;
mod secrets;
mod seed_configs;
mod support;
mod tunnel;
mod walkthrough;
mod workload;
