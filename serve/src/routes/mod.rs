//! HTTP routes: the public listener ([`public`]), the loopback admin listener ([`admin`])
//! and the SMS bridge's local API on it ([`bridge`], opt-in).

pub(crate) mod admin;
mod admin_errors;
pub(crate) mod bridge;
pub(crate) mod public;
pub(crate) mod stream;
