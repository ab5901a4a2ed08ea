//! Twilio for the telephony gateway.
//!
//! - [`TwilioClient`]: the REST API (Messages, Calls) on reqwest with rustls,
//!   typed errors; one attempt per send (the caller owns retries), reads retried with
//!   `telephony_core::retry`'s backoff.
//! - [`RequestValidator`]: `X-Twilio-Signature` verification.
//! - [`TwilioProvider`]: the [`telephony_core::Provider`] implementation.
//! - [`webhook`]: inbound SMS/MMS and status-callback parsing; [`voice_webhook`]: calls,
//!   gather results and call status callbacks.
//! - [`twiml`]: TwiML responses (messaging, and voice in twilio-node's style).
//! - [`realtime`]: Media Streams and ConversationRelay over WebSocket (the
//!   [`Realtime`](telephony_core::voice::Realtime) protocols of [`TwilioProvider`]).
//! - [`xml_tree`]: the strict XML reader behind [`twiml::check_twiml`].
//!
//! A Twilio-compatible local server for tests and sandbox mode is the crate
//! `telephony-twilio-simulator`; it uses this crate's resources, signatures and TwiML reader.

pub mod client;
pub mod config;
mod numbers;
pub mod provider;
pub mod realtime;
pub mod resources;
pub mod signature;
pub mod twiml;
pub mod voice_webhook;
pub mod webhook;
pub mod xml_tree;

pub use client::{CallInstructions, CreateCall, CreateMessage, TwilioClient};
pub use config::{Credentials, DEFAULT_API_BASE_URL, TwilioConfig};
pub use provider::TwilioProvider;

pub use signature::RequestValidator;
