//! Integration tests of the Slack adapter against a fake Slack: signed HTTP endpoints, the
//! request forms, approval messages and DMs through the workflow's outbox, failures, and
//! Socket Mode.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly by design"
)]
#![allow(
    unreachable_pub,
    reason = "the support modules are the tests' shared toolkit"
)]

mod activity;
mod break_glass;
mod contract;
mod decisions;
mod failures;
mod forms;
mod fuzz_corpus;
mod lifecycle;
mod manifest;
mod reconciliation;
mod request_flow;
mod signatures;
mod socket_mode;
mod support;
mod workspace;
