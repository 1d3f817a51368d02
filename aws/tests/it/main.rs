//! Integration tests of liftgate-aws: the Identity Center executor against a private moto
//! server per test, the full request workflow on moto, and mocked SDK responses for what moto
//! cannot produce (in-progress and failed operations, conflicts, throttling, denials).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod activity_mocked;
mod backends_workflow;
mod clients;
mod dynamodb;
mod mocked;
mod moto_identity;
mod moto_workflow;
mod reconcile_mocked;
mod reconcile_moto;
mod s3_audit;
mod scheduler_mocked;
mod scheduler_moto;
mod sessions_mocked;
mod support;
