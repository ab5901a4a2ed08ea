//! The integration tests of `telephony-twilio`, one binary: the client against Twilio's
//! OpenAPI subset and a local stand-in API, the conformance suite, the real-time
//! protocols, voice TwiML and voice webhooks.

mod client_schema;
mod conformance;
mod realtime;
mod twiml_voice;
mod voice_webhooks;
