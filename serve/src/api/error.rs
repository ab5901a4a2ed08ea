//! The admin API's one error type and its JSON body.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code; clients branch on it, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the request is malformed or names something invalid.
    BadRequest,
    /// 401: no or wrong admin token.
    Unauthorized,
    /// 404: no such message, pairing code or route.
    NotFound,
    /// 409: the pairing code was already approved or rejected.
    Conflict,
    /// 410: the pairing code expired.
    Expired,
    /// 429: `outboundPolicy.maxPerDay` is reached.
    RateLimited,
    /// 500: the store failed; nothing was changed.
    StoreUnavailable,
    /// 502: the provider refused or could not be reached.
    ProviderFailed,
    /// 503: every session slot is taken (`maxConcurrentSessions`), or voice is off.
    Unavailable,
    /// A code this client does not know (sent by a newer gateway).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status the gateway answers with for this code.
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Expired => StatusCode::GONE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::StoreUnavailable | ErrorCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ProviderFailed => StatusCode::BAD_GATEWAY,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// True when the caller's input was at fault (the request will fail the same way again).
    pub fn is_caller_error(self) -> bool {
        matches!(
            self,
            ErrorCode::BadRequest
                | ErrorCode::NotFound
                | ErrorCode::Conflict
                | ErrorCode::Expired
                | ErrorCode::RateLimited
        )
    }
}

/// The JSON body of every admin error: `{"error":{"code":"not_found","message":"…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// The `error` object of an [`ErrorResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// What kind of failure (stable).
    pub code: ErrorCode,
    /// What happened, for a person (may change between versions).
    pub message: String,
}

/// An admin route's failure; renders as an [`ErrorResponse`] with the code's HTTP status.
///
/// ```
/// use axum::response::IntoResponse;
/// use telephony_serve::api::AdminError;
/// let r = AdminError::not_found("no message with id \"msg_x\"").into_response();
/// assert_eq!(r.status(), 404);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    /// The stable code.
    pub code: ErrorCode,
    /// The message shown to the user.
    pub message: String,
}

impl AdminError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AdminError {
            code,
            message: message.into(),
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The body this error renders as.
    pub fn to_body(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.code.http_status();
        (status, Json(self.to_body())).into_response()
    }
}

impl From<telephony_core::StoreError> for AdminError {
    fn from(e: telephony_core::StoreError) -> Self {
        tracing::error!(error = %telephony_core::error_chain(&e), "admin request failed in the store");
        Self::new(ErrorCode::StoreUnavailable, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_error_envelope() {
        let body = serde_json::to_value(AdminError::new(ErrorCode::Expired, "too late").to_body())
            .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "expired", "message": "too late"}})
        );
        for (code, name, status) in [
            (ErrorCode::BadRequest, "bad_request", 400),
            (ErrorCode::Unauthorized, "unauthorized", 401),
            (ErrorCode::NotFound, "not_found", 404),
            (ErrorCode::Conflict, "conflict", 409),
            (ErrorCode::Expired, "expired", 410),
            (ErrorCode::RateLimited, "rate_limited", 429),
            (ErrorCode::StoreUnavailable, "store_unavailable", 500),
            (ErrorCode::ProviderFailed, "provider_failed", 502),
            (ErrorCode::Unavailable, "unavailable", 503),
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), name);
            assert_eq!(code.http_status().as_u16(), status);
        }
    }

    #[test]
    fn unknown_codes_from_a_newer_gateway_still_parse() {
        let e: ErrorResponse =
            serde_json::from_str(r#"{"error":{"code":"quota_exceeded","message":"m"}}"#).unwrap();
        assert_eq!(e.error.code, ErrorCode::Unknown);
    }
}
