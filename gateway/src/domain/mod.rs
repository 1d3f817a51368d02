//! The nouns of the product and the rules of how they change: access requests, grants, the
//! access ledger (what Identity Center holds for Liftgate), the people behind them, and the
//! channel each step came through. Plain serde data, persisted as JSON documents by every
//! store; every state change is a pure transition in [`lifecycle`].

pub mod access;
pub mod activity;
pub mod break_glass;
mod grant;
mod ids;
pub mod lifecycle;
mod person;
mod request;
pub mod sessions;

pub use access::{AccessKey, AccessRecord};
pub use activity::{
    ActivityEvent, ActivityFound, ActivityOutcome, ActivityScope, ActivitySummary, EventCount,
    event_line,
};
pub use break_glass::{BreakGlassReview, Review, ReviewOutcome, ReviewTimer, Reviewer};
pub use grant::{Grant, GrantEnd, GrantStatus, GrantTarget};
#[cfg(any(test, feature = "test-util"))]
pub use ids::seed_ids_for_tests;
pub use ids::{GrantId, RequestId};
pub use lifecycle::{Refusal, RefusalKind, Transition, TransitionKind};
pub use person::{Channel, Person, VerifiedCaller};
pub use request::{
    AccessRequest, Approval, Ending, HistoryEntry, NoticeKind, RequestEvent, RequestStatus,
    RequestTarget,
};
