//! The webhook API end to end: signed calls against the gateway's HTTP server on top of the
//! workflow harness, and outbound events to local receivers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod concurrency;
mod fuzz_corpus;
mod idempotency;
mod lifecycle;
mod refusals;
mod subscribers;
mod support;
