//! Test doubles for every port, the state-store contract suite, and a harness that wires a
//! complete [`crate::workflow::AccessService`] on them. Enabled by the `test-util` feature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support code"
)]

mod activity;
pub mod channel_contract;
mod clock;
mod fakes;
mod harness;
mod inventory;
mod memory_store;
mod permission_sets;
mod rig;
pub mod store_contract;

pub use activity::FakeActivityLog;
pub use clock::ManualClock;
pub use fakes::{
    FakeFailure, FakeIdentityCenter, MemoryAuditSink, RecordedTimer, RecordingNotifier,
    RecordingScheduler,
};
pub use harness::{
    DEV, Harness, HarnessOptions, OPS_GROUP, PROD, person, sample_grant, sample_request,
};
pub use inventory::{FakeAccessInventory, ListingPause};
pub use memory_store::MemoryStore;
pub use permission_sets::FakePermissionSetPolicies;
pub use rig::{Rig, RigParts};
