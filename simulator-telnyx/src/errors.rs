//! Telnyx-shaped error responses: `{"errors":[{"code","title","detail","source"}]}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use telephony_telnyx::resources::{ErrorBody, ErrorObject, ErrorSource, error_docs_url};

/// An error the simulator answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: i64,
    pub(crate) title: String,
    pub(crate) detail: String,
    pub(crate) pointer: Option<&'static str>,
    /// The query parameter at fault (`source.parameter`).
    pub(crate) parameter: Option<String>,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: i64, title: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            title: title.to_string(),
            detail: detail.into(),
            pointer: None,
            parameter: None,
            retry_after: None,
        }
    }

    /// 422 pointing at a request field.
    pub(crate) fn invalid(
        code: i64,
        title: &str,
        detail: impl Into<String>,
        pointer: &'static str,
    ) -> Self {
        ApiError {
            pointer: Some(pointer),
            ..Self::new(422, code, title, detail)
        }
    }

    /// 401, code 10009.
    pub(crate) fn authentication() -> Self {
        Self::new(
            401,
            10009,
            "Authentication failed",
            "The required authentication headers were either invalid or not included in the request.",
        )
    }

    /// 404, code 10005.
    pub(crate) fn not_found() -> Self {
        Self::new(
            404,
            10005,
            "Resource not found",
            "The requested resource or URL could not be found.",
        )
    }

    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            errors: vec![ErrorObject {
                code: Some(serde_json::Value::String(self.code.to_string())),
                title: Some(self.title.clone()),
                detail: Some(self.detail.clone()),
                source: (self.pointer.is_some() || self.parameter.is_some()).then(|| ErrorSource {
                    pointer: self.pointer.map(str::to_string),
                    parameter: self.parameter.clone(),
                }),
                meta: Some(serde_json::json!({ "url": error_docs_url(self.code) })),
            }],
        }
    }
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
