//! Test doubles for end-to-end tests: a moto server harness for AWS, a faithful fake Slack
//! Web API with a signed-interaction driver, and fake Microsoft identity and connector services,
//! and STS role sessions whose signatures moto checks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support code fails loudly"
)]

pub mod moto;
pub mod proxy;
pub mod sts;
