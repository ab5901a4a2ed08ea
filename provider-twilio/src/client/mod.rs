//! The Twilio REST client (API version 2010-04-01): Messages, Calls, the Account resource,
//! incoming phone numbers and Messaging Services.
//!
//! Requests are form-encoded with `Accept: application/json` and HTTP basic auth
//! (`AccountSid:AuthToken`, or `ApiKeySid:Secret` with the Account SID still in the path).
//! Errors are typed [`ProviderError`](telephony_core::ProviderError)s. Creating a message
//! or a call, and hanging up a call, is **one attempt per call**: the gateway's outbox owns
//! retries of sends. Reads retry 429, 5xx and network errors with
//! [`telephony_core::retry`]'s backoff (see [`TwilioClient`] for the rules).
//!
//! One file per concept: `transport` (the client, auth, retries and backoff, error
//! decoding), `messages`, `calls`, `numbers` (and Messaging Services), `account`.

mod account;
mod calls;
mod messages;
mod numbers;
mod transport;

pub use calls::{
    CALL_NOT_IN_PROGRESS_CODE, CALL_STATUS_EVENTS, CallInstructions, CreateCall,
    MAX_RING_TIMEOUT_SECS, MAX_TWIML_CHARS, NOT_FOUND_CODE,
};
pub use messages::{
    CreateMessage, FIND_SENT_MAX_PAGES, FIND_SENT_PAGE_SIZE, LIMITS, MAX_BODY_CHARS,
    MAX_MEDIA_URLS, SentMessageQuery,
};
pub use transport::{OPTED_OUT_CODE, TwilioClient};
