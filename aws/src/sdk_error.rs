//! What a failed AWS call means for the caller: the one classification every AWS backend uses
//! (Identity Center, the scheduler, the S3 audit sink, the DynamoDB store, the inventory), each
//! mapping it onto its own port's error type.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Error codes AWS services use for "slow down".
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

/// Codes meaning the caller's credentials or permissions are not enough.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "AWSOrganizationsNotInUseException",
];

/// Codes meaning another operation on the same resource is in progress.
const CONFLICT_CODES: &[&str] = &["ConflictException", "ConcurrentModificationException"];

/// Server-side failures that say nothing about the request itself.
const TRANSIENT_CODES: &[&str] = &[
    "InternalServerException",
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "ServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ExpiredToken",
    "ExpiredTokenException",
];

/// How a failed call can be dealt with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// AWS asked us to slow down: try again later.
    Throttled,
    /// The network, a timeout or a server error: the outcome is unknown, try again later.
    Transient,
    /// A concurrent operation on the same resource: try again later.
    Conflict,
    /// The credentials or permissions are not enough: a setup problem.
    AccessDenied,
    /// Anything else (validation, access denied, missing resources): retrying the same call
    /// will not help.
    Permanent,
}

/// A failed call, classified, with a one-line description that names the operation and the
/// AWS error code (never request data).
#[derive(Debug, Clone)]
pub(crate) struct CallFailure {
    pub(crate) kind: FailureKind,
    pub(crate) detail: String,
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Whether AWS answered with this error code.
pub(crate) fn has_code<E: ProvideErrorMetadata>(
    error: &SdkError<E, HttpResponse>,
    code: &str,
) -> bool {
    error_code(error) == Some(code)
}

/// The core's view of a failed Identity Center, Identity Store or Organizations call.
pub(crate) fn identity_error<E>(
    operation: &'static str,
    error: &SdkError<E, HttpResponse>,
) -> liftgate_gateway::ports::IdentityError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use liftgate_gateway::ports::IdentityError;
    let failure = classify(operation, error);
    match failure.kind {
        FailureKind::Throttled => IdentityError::Throttled(failure.detail),
        FailureKind::Transient => IdentityError::Unavailable(failure.detail),
        FailureKind::Conflict => IdentityError::Conflict(failure.detail),
        FailureKind::AccessDenied => IdentityError::AccessDenied(failure.detail),
        FailureKind::Permanent => IdentityError::Failed(failure.detail),
    }
}

/// The AWS error code of a service error, if the call got that far.
pub(crate) fn error_code<E: ProvideErrorMetadata>(
    error: &SdkError<E, HttpResponse>,
) -> Option<&str> {
    match error {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}

/// Classifies a failed call and logs it with the operation name. Callers check the codes they
/// expect (a conflict they resolve, a resource already gone) with [`error_code`] first, so only
/// real failures are logged.
pub(crate) fn classify<E>(operation: &'static str, error: &SdkError<E, HttpResponse>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error
        .raw_response()
        .map(|response| response.status().as_u16());
    let code = error_code(error).map(str::to_owned);
    let detail = match error {
        SdkError::ServiceError(context) => {
            let message = context.err().message().unwrap_or("no message");
            match &code {
                Some(code) => format!("{operation}: {code}: {message}"),
                None => format!(
                    "{operation}: HTTP {}: {message}",
                    status.unwrap_or_default()
                ),
            }
        }
        other => format!("{operation}: {}", DisplayErrorContext(other)),
    };
    let kind = match (error, code.as_deref()) {
        (
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_),
            _,
        ) => FailureKind::Transient,
        (SdkError::ConstructionFailure(_), _) => FailureKind::Permanent,
        (_, Some(code)) if THROTTLING_CODES.contains(&code) => FailureKind::Throttled,
        (_, Some(code)) if CONFLICT_CODES.contains(&code) => FailureKind::Conflict,
        (_, Some(code)) if ACCESS_DENIED_CODES.contains(&code) => FailureKind::AccessDenied,
        (_, Some(code)) if TRANSIENT_CODES.contains(&code) => FailureKind::Transient,
        _ if status == Some(429) => FailureKind::Throttled,
        _ if status.is_some_and(|status| status >= 500) => FailureKind::Transient,
        _ if status == Some(403) => FailureKind::AccessDenied,
        _ => FailureKind::Permanent,
    };
    tracing::warn!(
        operation,
        aws_error_code = code.as_deref().unwrap_or(""),
        http_status = status.unwrap_or_default(),
        error = %detail,
        "AWS call failed."
    );
    CallFailure { kind, detail }
}
