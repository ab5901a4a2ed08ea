//! HTTP routes: the public listener ([`public`]), the loopback admin listener ([`admin`])
//! and the SMS bridge's local API on it ([`bridge`], opt-in).

pub mod admin;
pub mod bridge;
pub mod public;
pub mod stream;
