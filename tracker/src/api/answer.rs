//! Error answers: an [`Error`] becomes MLflow's JSON body (`{"error_code", "message"}`) with
//! the HTTP status of its [`ErrorCode`], in one place.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Error, ErrorCode};

/// An error answer: MLflow's JSON body and the HTTP status of its error code.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError(error)
    }
}

/// The HTTP status of an MLflow error code (`mlflow/exceptions.py`).
pub fn http_status(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An MLflow error body with `status`.
pub(super) fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = serde_json::json!({ "error_code": code.as_str(), "message": message });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.error_code();
        let status = match self.0 {
            // MLflow has no code for it; 413 is not one its client retries.
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => http_status(code),
        };
        if status.is_server_error() {
            // The whole chain: SQLite's or the OS's own text is what tells an operator why.
            tracing::error!(error = %self.0.chain(), code = code.as_str(), "request failed");
        } else {
            tracing::debug!(error = %self.0, code = code.as_str(), "request refused");
        }
        error_response(status, code, &self.0.to_string())
    }
}
