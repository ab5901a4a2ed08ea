//! The integration tests of `telephony-telnyx`, one binary: the client against a local
//! stand-in API, the conformance suite, webhook signatures and parsing.

mod client;
mod conformance;
mod signature;
mod support;
mod webhooks;
