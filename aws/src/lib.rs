//! AWS backends for Liftgate: the Identity Center executor (sso-admin, identitystore,
//! organizations), the EventBridge Scheduler revocation timers, the S3 audit sink, the DynamoDB
//! state store, and drift reconciliation. The only crate that depends on the AWS SDK.

pub mod activity;
pub mod client;
pub mod dynamodb;
pub mod identity;
pub mod inventory;
pub mod s3_audit;
pub mod s3_source;
pub mod scheduler;
mod sdk_error;

pub use activity::{LogsInsightsActivity, LogsInsightsConfig};
pub use client::{AwsClients, ClientLimits};
pub use dynamodb::{DynamoSetupError, DynamoStore, DynamoStoreConfig, TableSetup};
pub use identity::{
    AwsIdentityCenter, IdentityCenterConfig, IdentityCenterTuning, IdentityClients,
};
pub use inventory::{AwsAccessInventory, InventoryConfig};
pub use s3_audit::{S3AuditConfig, S3AuditSetupError, S3AuditSink};
pub use s3_source::{S3Location, S3Source, S3SourceError};
pub use scheduler::{
    EventBridgeScheduler, EventBridgeSchedulerConfig, OrphanReport, OrphanSweepError,
    SchedulerSetupError,
};
