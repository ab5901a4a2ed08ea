//! HTTP basic authentication as Twilio's API checks it: the Account SID and Auth Token,
//! or an API key, and the path's Account SID.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::errors::ApiError;
use crate::simulator::Simulator;

/// Checks HTTP basic auth (Account SID + Auth Token, or an API key) and that the path's
/// Account SID is ours.
pub(crate) fn authorize(
    sim: &Simulator,
    headers: &HeaderMap,
    path_account: &str,
    path: &str,
) -> Result<(), ApiError> {
    let config = &sim.config();
    let (user, pass) = basic_credentials(headers).ok_or_else(ApiError::authenticate)?;
    let eq = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
    let valid = if user == config.account_sid {
        eq(&pass, config.auth_token.expose())
    } else {
        config
            .api_keys
            .iter()
            .any(|(sid, secret)| *sid == user && eq(&pass, secret.expose()))
    };
    if !valid {
        tracing::debug!(path, "simulator: rejected credentials");
        return Err(ApiError::authenticate());
    }
    if path_account != config.account_sid {
        return Err(ApiError::not_found(path));
    }
    Ok(())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}
