//! The integration tests of `telephony-telnyx-simulator`, one binary: the simulator over
//! real HTTP on 127.0.0.1, driven by the Telnyx provider.

mod find_sent;
mod listings;
mod numbers;
mod simulator;
mod support;
mod surface;
