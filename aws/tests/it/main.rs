//! Integration tests of liftgate-aws: the Identity Center executor against a private moto
//! server per test, the full request workflow on moto, and mocked SDK responses for what moto
//! cannot produce (in-progress and failed operations, conflicts, throttling, denials).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod clients;
mod mocked;
mod moto_identity;
mod moto_workflow;
mod support;
