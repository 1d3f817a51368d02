//! End-to-end tests of the `liftgate` binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod audit;
mod cli;
mod cli_request;
mod crash;
mod init;
mod migrate;
mod reconcile;
mod serve;
mod support;
