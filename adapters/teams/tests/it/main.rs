//! Integration tests of the Teams adapter: the real `/teams/messages` route in an actix `App`
//! on the gateway's test harness, against local fakes of Entra, the Bot Framework issuer and
//! the Connector.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod approving;
mod auth;
mod break_glass;
mod contract;
mod fuzz_corpus;
mod manifest;
mod notifying;
mod outbound;
mod requesting;
mod support;
