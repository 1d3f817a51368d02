//! Turning SDK errors into the core's [`IdentityError`], by what the caller can do about them.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use liftgate_gateway::ports::IdentityError;

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

/// Server-side failures worth retrying later.
const UNAVAILABLE_CODES: &[&str] = &[
    "InternalServerException",
    "InternalFailure",
    "InternalError",
    "ServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ExpiredToken",
    "ExpiredTokenException",
];

/// The AWS error code of a service error, if the call got that far.
pub(crate) fn error_code<E: ProvideErrorMetadata>(
    error: &SdkError<E, HttpResponse>,
) -> Option<&str> {
    match error {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}

/// Whether AWS answered with this error code.
pub(crate) fn has_code<E: ProvideErrorMetadata>(
    error: &SdkError<E, HttpResponse>,
    code: &str,
) -> bool {
    error_code(error) == Some(code)
}

/// Classifies a failed call: throttling and conflicts (retry later), access denied (a setup
/// problem), unavailable (network, timeouts, 5xx, unparseable answers: the outcome is
/// unknown) and everything else as a plain failure. Logs it with the operation name.
pub(crate) fn classify<E>(
    operation: &'static str,
    error: SdkError<E, HttpResponse>,
) -> IdentityError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error
        .raw_response()
        .map(|response| response.status().as_u16());
    let code = error_code(&error).map(str::to_owned);
    let detail = match &error {
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
    let classified = match (&error, code.as_deref()) {
        (
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_),
            _,
        ) => IdentityError::Unavailable(detail),
        (SdkError::ConstructionFailure(_), _) => IdentityError::Failed(detail),
        (_, Some(code)) if THROTTLING_CODES.contains(&code) => IdentityError::Throttled(detail),
        (_, Some("ConflictException" | "ConcurrentModificationException")) => {
            IdentityError::Conflict(detail)
        }
        (_, Some(code)) if ACCESS_DENIED_CODES.contains(&code) => {
            IdentityError::AccessDenied(detail)
        }
        (_, Some(code)) if UNAVAILABLE_CODES.contains(&code) => IdentityError::Unavailable(detail),
        _ if status == Some(429) => IdentityError::Throttled(detail),
        _ if status.is_some_and(|status| status >= 500) => IdentityError::Unavailable(detail),
        _ if status == Some(403) => IdentityError::AccessDenied(detail),
        _ => IdentityError::Failed(detail),
    };
    tracing::warn!(
        operation,
        aws_error_code = code.as_deref().unwrap_or(""),
        http_status = status.unwrap_or_default(),
        error = %classified,
        "AWS call failed."
    );
    classified
}
