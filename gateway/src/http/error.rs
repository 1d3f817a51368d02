use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::workflow::WorkflowError;

/// The JSON error body every route uses: `{"error": {"code": "...", "message": "..."}}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({
        "error": { "code": code, "message": message }
    }))
}

/// Maps a workflow refusal to its HTTP status (docs/reference.md §5).
pub fn workflow_error_response(error: &WorkflowError) -> HttpResponse {
    let status = match error {
        WorkflowError::Invalid { .. } => StatusCode::BAD_REQUEST,
        WorkflowError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        WorkflowError::Forbidden { .. } => StatusCode::FORBIDDEN,
        WorkflowError::NotFound { .. } => StatusCode::NOT_FOUND,
        WorkflowError::Conflict { .. } => StatusCode::CONFLICT,
        WorkflowError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    if status.is_server_error() {
        tracing::warn!(%error, "Request failed on a dependency.");
    }
    error_response(status, error.code(), &error.to_string())
}
