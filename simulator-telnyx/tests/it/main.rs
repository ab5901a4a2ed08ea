//! The integration tests of `telephony-telnyx-simulator`, one binary: the simulator over
//! real HTTP on 127.0.0.1, driven by the Telnyx provider.

mod calls;
mod find_sent;
mod listings;
mod numbers;
mod simulator;
mod streams;
mod support;
mod surface;
mod voice_app;
