//! HTTP routes: the public listener ([`public`]) and the loopback admin listener ([`admin`]).

pub mod admin;
pub mod public;
pub mod stream;
