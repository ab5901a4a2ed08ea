//! The server's integration tests, one binary: configuration (files, dialects, accounts,
//! rate limits), the started server over real sockets on loopback (end to end, lifecycle,
//! hostile clients, several accounts, the bridge API, voice, Telnyx), the probe, and
//! secrets that must never leak. Helpers several modules use are in [`support`].

mod accounts;
mod admin_access;
mod barge_in;
mod bridge_api;
mod call_control;
mod config;
mod dialects;
mod end_to_end;
mod first_words;
mod floods;
mod hostile;
mod lifecycle;
mod machine_detection;
mod multi_account;
mod outbox_replicas;
mod probe;
mod rate_limits;
mod recordings;
mod secrets;
mod store_config;
mod store_health;
mod support;
mod telnyx;
mod telnyx_call_control;
mod telnyx_recordings;
mod telnyx_voice;
mod update_replicas;
mod voice_calls;
mod voice_realtime;
