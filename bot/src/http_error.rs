//! The one error type of every HTTP handler: a status and one clear sentence for the
//! client, never an internal error chain (that goes to the log).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orchestrator::engine::TaskRefusal;
use serde_json::json;

/// An error as a client sees it: a status and one clear sentence, never a chain.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!("request failed: {error:#}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Nova could not handle this request; see its log")
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("malformed request: {}", rejection.body_text()))
    }
}

/// A task request refused, as the office API and people's API answer it.
impl From<TaskRefusal> for ApiError {
    fn from(refusal: TaskRefusal) -> Self {
        let status = match refusal {
            TaskRefusal::BadKey(_) => StatusCode::UNAUTHORIZED,
            TaskRefusal::UnknownRun(_) | TaskRefusal::Held { .. } | TaskRefusal::Blocked { .. } => StatusCode::CONFLICT,
            TaskRefusal::Closed { .. } | TaskRefusal::NotHeld(_) => StatusCode::CONFLICT,
            TaskRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
            TaskRefusal::NotFound(_) => StatusCode::NOT_FOUND,
            TaskRefusal::NotYours { .. } | TaskRefusal::NotAllowed { .. } => StatusCode::FORBIDDEN,
        };
        Self::new(status, refusal.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
