//! Refusals as the API shows them: `{"error": {"code": "...", "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use liftgate_gateway::http::{error_response, unavailable_response, workflow_error_response};
use liftgate_gateway::workflow::WorkflowError;

/// Why a call was refused: by this adapter (authentication, body shape, `act_for`) or by the
/// workflow (rules, unknown targets, state).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// A dependency of the adapter itself (the nonce memory) failed; logged, answered 503.
    #[error("a dependency is unavailable")]
    Unavailable,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503 `unavailable`, with a correlation id in the answer and the detail in the log.
    pub(crate) fn unavailable() -> ApiError {
        ApiError::Unavailable
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The stable machine code of the refusal.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::Refused { code, .. } => code,
            ApiError::Workflow(error) => error.code(),
            ApiError::Unavailable => "unavailable",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Refused { status, .. } => *status,
            // The same mapping as `workflow_error_response`, without its logging.
            ApiError::Workflow(error) => match error {
                WorkflowError::Invalid { .. } => StatusCode::BAD_REQUEST,
                WorkflowError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                WorkflowError::Forbidden { .. } => StatusCode::FORBIDDEN,
                WorkflowError::NotFound { .. } => StatusCode::NOT_FOUND,
                WorkflowError::Conflict { .. } => StatusCode::CONFLICT,
                WorkflowError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                WorkflowError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Refused {
                status,
                code,
                message,
            } => error_response(*status, code, message),
            ApiError::Workflow(error) => workflow_error_response(error),
            ApiError::Unavailable => unavailable_response(&"the webhook nonce memory"),
        }
    }
}
