use crate::ports::{IdentityError, StoreError};

/// Why a workflow call was refused or failed. Every variant carries a stable machine `code`
/// and a sentence for people; the HTTP layer maps variants to statuses.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// Malformed input (400).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Well-formed but impossible: unknown account, permission set, group or user, a duration
    /// over the maximum (422).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// The acting person may not do this (403).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { message: String },
    /// The request is no longer in a state that allows this (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The person made too many requests lately (429); try again after `retry_after`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    /// AWS or the store cannot be reached; nothing was changed, try again (503).
    #[error("{0}")]
    Unavailable(String),
}

impl WorkflowError {
    pub fn code(&self) -> &'static str {
        match self {
            WorkflowError::Invalid { code, .. }
            | WorkflowError::Unprocessable { code, .. }
            | WorkflowError::Forbidden { code, .. }
            | WorkflowError::Conflict { code, .. } => code,
            WorkflowError::NotFound { .. } => "not_found",
            WorkflowError::RateLimited { .. } => "rate_limited",
            WorkflowError::Unavailable(_) => "unavailable",
        }
    }

    /// Whether trying again later may succeed (an outage, not a refusal).
    pub fn is_retryable(&self) -> bool {
        matches!(self, WorkflowError::Unavailable(_))
    }

    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> WorkflowError {
        WorkflowError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn unprocessable(code: &'static str, message: impl Into<String>) -> WorkflowError {
        WorkflowError::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> WorkflowError {
        WorkflowError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> WorkflowError {
        WorkflowError::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<crate::domain::Refusal> for WorkflowError {
    fn from(refusal: crate::domain::Refusal) -> Self {
        use crate::domain::RefusalKind;
        let (code, message) = (refusal.code, refusal.message);
        match refusal.kind {
            RefusalKind::Invalid => WorkflowError::Invalid { code, message },
            RefusalKind::Unprocessable => WorkflowError::Unprocessable { code, message },
            RefusalKind::Forbidden => WorkflowError::Forbidden { code, message },
            RefusalKind::Conflict => WorkflowError::Conflict { code, message },
        }
    }
}

impl From<StoreError> for WorkflowError {
    fn from(error: StoreError) -> Self {
        WorkflowError::Unavailable(format!("state store: {error}"))
    }
}

impl From<IdentityError> for WorkflowError {
    fn from(error: IdentityError) -> Self {
        WorkflowError::Unavailable(format!("AWS: {error}"))
    }
}
