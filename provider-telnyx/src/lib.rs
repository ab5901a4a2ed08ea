//! Telnyx for the telephony gateway.
//!
//! - [`TelnyxConfig`]: API key, webhook public key, sender, API base URL.
//! - [`TelnyxClient`]: `POST /v2/messages` on reqwest with rustls, one attempt per call
//!   (the gateway's outbox owns retries), typed [`ProviderError`](telephony_core::ProviderError)s.
//! - [`WebhookVerifier`]: `telnyx-signature-ed25519` / `telnyx-timestamp` verification
//!   (Ed25519, strict), and [`WebhookSigner`] to make such signatures.
//! - [`webhook`]: `message.received`, `message.sent` and `message.finalized` parsing.
//! - [`TelnyxProvider`]: the [`telephony_core::Provider`] implementation, with number
//!   setup on the number's messaging profile ([`numbers`]).
//! - [`voice`]: calls through Call Control (commands, events, media streaming).
//!
//! A Telnyx-compatible local server that sends signed webhooks, for tests and sandbox
//! mode, is the crate `telephony-telnyx-simulator`.

pub mod client;
pub mod config;
pub mod numbers;
pub mod provider;
pub mod resources;
pub mod signature;
pub mod voice;
pub mod webhook;

pub use client::{CreateMessage, LIMITS, TelnyxClient};
pub use config::{DEFAULT_API_BASE_URL, DEFAULT_TTS_VOICE, TelnyxConfig};
pub use provider::TelnyxProvider;
pub use signature::{WebhookSigner, WebhookVerifier};
