//! Turning SDK errors into the core's [`IdentityError`]: the shared classification of
//! `crate::sdk_error`, mapped onto what the workflow can do about each kind.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use liftgate_gateway::ports::IdentityError;

pub(crate) use crate::sdk_error::has_code;

/// Classifies a failed call (and logs it with the operation name).
pub(crate) fn classify<E>(
    operation: &'static str,
    error: SdkError<E, HttpResponse>,
) -> IdentityError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    crate::sdk_error::identity_error(operation, &error)
}
