//! The CLI routes end to end: the real client's signing against the gateway's HTTP server on
//! the workflow harness, with moto as STS checking every signature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod genuine;
mod refusals;
mod support;
