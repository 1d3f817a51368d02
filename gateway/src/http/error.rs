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
        WorkflowError::RateLimited { retry_after, .. } => {
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                error.code(),
                &error.to_string(),
            );
            let seconds = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&seconds) {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, value);
            }
            return response;
        }
        WorkflowError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    if status.is_server_error() {
        return unavailable_response(error);
    }
    error_response(status, error.code(), &error.to_string())
}

/// What a client sees when a dependency failed: a stable code, a sentence, and a correlation
/// id; the detail (AWS and store messages name roles, tables and hosts) goes only to the log,
/// under that id.
pub fn unavailable_response(detail: &dyn std::fmt::Display) -> HttpResponse {
    let correlation_id = uuid::Uuid::new_v4().simple().to_string();
    tracing::warn!(%correlation_id, error = %detail, "Request failed on a dependency.");
    HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(serde_json::json!({
        "error": {
            "code": "unavailable",
            "message": format!(
                "Liftgate could not reach AWS or its state store; nothing was changed. Try again. (correlation id {correlation_id})"
            ),
            "correlation_id": correlation_id,
        }
    }))
}
