//! The one-time per-call tokens that authenticate a real-time socket: the gateway puts one
//! in the call's stream or relay parameters (keeping only its hash in the store), and the
//! socket's start must bring it back.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// The parameter that carries the per-call token.
pub(crate) const TOKEN_PARAM: &str = "telephonyToken";
/// How long a per-call token stays valid after the gateway answered the call.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(300);

/// The SHA-256 (hex) under which a token is stored.
pub(crate) fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token (32 bytes, hex).
pub(crate) fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
