//! The integration tests of `telephony-twilio-simulator`, one binary: the simulator over
//! real HTTP and WebSockets on 127.0.0.1, driven by the Twilio provider and stand-in
//! gateways.

mod call_driver;
mod calls;
mod find_sent;
mod numbers;
mod realtime_sim;
mod simulator;
mod subresources;
mod support;
mod surface;
