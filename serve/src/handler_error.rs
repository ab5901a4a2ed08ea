//! [`HandlerError`]: what the application's handlers (messages, calls, streams, relays)
//! return when they fail.

/// An error a handler returns; recorded on the inbox entry (state `failed`) or the call.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;
