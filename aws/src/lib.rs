//! AWS backends for Liftgate: the Identity Center executor (sso-admin, identitystore,
//! organizations), the EventBridge Scheduler revocation timers, the S3 audit sink, the DynamoDB
//! state store, and drift reconciliation. The only crate that depends on the AWS SDK.

pub mod client;
pub mod identity;

pub use client::{AwsClients, ClientLimits};
pub use identity::{
    AwsIdentityCenter, IdentityCenterConfig, IdentityCenterTuning, IdentityClients,
};
