//! Twilio-shaped error responses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use telephony_twilio::resources::ErrorBody;

/// An error the simulator answers with:
/// `{"code":…,"message":"…","more_info":"https://www.twilio.com/docs/errors/<code>","status":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: i64, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with a Twilio validation code.
    pub(crate) fn bad_request(code: i64, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 401, error 20003.
    pub(crate) fn authenticate() -> Self {
        Self::new(401, 20003, "Authenticate")
    }

    /// 404, error 20404, naming the request path.
    pub(crate) fn not_found(path: &str) -> Self {
        Self::new(
            404,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }

    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            code: Some(self.code),
            message: self.message.clone(),
            more_info: Some(more_info(self.code)),
            status: self.status,
        }
    }
}

/// `https://www.twilio.com/docs/errors/<code>`.
pub(crate) fn more_info(code: i64) -> String {
    format!("https://www.twilio.com/docs/errors/{code}")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
