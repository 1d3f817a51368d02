//! Integration tests of the core: the state-store contract on SQLite, the request lifecycle
//! on fakes, configuration loading, and the audit record format.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod audit;
mod config;
mod lifecycle;
mod reconcile;
mod store_sqlite;
