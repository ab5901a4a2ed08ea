//! The CLI's integration tests, one binary: the `telephony` command run as a user runs it
//! (exit codes, config check and migrate on the seed configs, the sandbox flow across
//! processes, tunnels, secrets that must never show). Helpers are in [`support`].

mod cli;
mod crash;
mod replicas;
mod secrets;
mod seed_configs;
mod support;
mod tunnel;
mod workload;
