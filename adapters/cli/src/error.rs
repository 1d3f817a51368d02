//! Refusals as the CLI routes show them: `{"error": {"code": "...", "message": "..."}}`, the
//! same body as the webhook API's.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use liftgate_gateway::http::{error_response, unavailable_response, workflow_error_response};
use liftgate_gateway::workflow::WorkflowError;

/// Why a call was refused: by this adapter (who is calling, the body) or by the workflow.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// STS, Identity Center or the nonce memory failed; the detail is logged, never shown.
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
}

impl CliError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> CliError {
        CliError::Refused {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn unauthorized(code: &'static str, message: impl Into<String>) -> CliError {
        CliError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> CliError {
        CliError::new(StatusCode::FORBIDDEN, code, message)
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> CliError {
        CliError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> CliError {
        CliError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            CliError::Refused { code, .. } => code,
            CliError::Workflow(error) => error.code(),
            CliError::Unavailable(_) => "unavailable",
        }
    }
}

impl ResponseError for CliError {
    fn status_code(&self) -> StatusCode {
        match self {
            CliError::Refused { status, .. } => *status,
            // The mapping of `workflow_error_response`, without its logging.
            CliError::Workflow(error) => match error {
                WorkflowError::Invalid { .. } => StatusCode::BAD_REQUEST,
                WorkflowError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                WorkflowError::Forbidden { .. } => StatusCode::FORBIDDEN,
                WorkflowError::NotFound { .. } => StatusCode::NOT_FOUND,
                WorkflowError::Conflict { .. } => StatusCode::CONFLICT,
                WorkflowError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                WorkflowError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            CliError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            CliError::Refused {
                status,
                code,
                message,
            } => error_response(*status, code, message),
            CliError::Workflow(error) => workflow_error_response(error),
            CliError::Unavailable(detail) => unavailable_response(detail),
        }
    }
}
