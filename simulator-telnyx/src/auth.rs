//! Bearer authentication as Telnyx's API checks it: the API key, compared in constant time.

use axum::http::{HeaderMap, header};

use crate::errors::ApiError;
use crate::simulator::Simulator;

/// Compares without an early exit, so timing does not tell how much of a key matched.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn authorize(sim: &Simulator, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(ApiError::authentication)?;
    if !same_secret(token.as_bytes(), sim.config().api_key.expose().as_bytes()) {
        tracing::debug!("telnyx simulator: rejected an API key");
        return Err(ApiError::authentication());
    }
    Ok(())
}
