//! Integration tests of the core: the state-store contract on SQLite and in memory, the
//! request lifecycle on fakes, the randomized interleaving simulation, configuration loading,
//! and the audit record format.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod activity;
mod audit;
mod break_glass;
mod config;
mod defects;
mod fuzz_corpus;
mod inbox;
mod lifecycle;
mod reconcile;
mod sessions;
mod shedding;
mod simulation;
mod store_memory;
mod store_sqlite;
