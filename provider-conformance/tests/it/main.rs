//! The integration tests of `telephony-conformance`, one binary: the harness run against
//! a made-up JSON provider, passing and failing on purpose.

mod harness;
mod voice;
