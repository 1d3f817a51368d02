//! Liftgate's rules engine.
//!
//! Given the configured statements (docs/reference.md §3), a request target and the requester, it decides
//! whether the request is granted outright, needs approval (and from whom, how many), or cannot
//! be made at all, and it says which statements the decision rests on. It also answers the
//! approval-time question "does this person's approval count?" with the same explicit denies.
//!
//! The crate is pure by design: no IO, no async, no clock. Facts the engine cannot know (the
//! requester's group memberships) are passed in by the caller, so every decision is a function
//! of its inputs and can be replayed offline (`liftgate policy explain`).

mod duration;
mod email;
mod evaluate;
#[doc(hidden)]
pub mod fuzzing;
mod index;
mod justification;
mod lint;
mod parse;
mod rules;

pub use duration::{Duration, DurationError};
pub use email::{Email, EmailError};
pub use evaluate::{
    BreakGlassOffer, Decision, Evaluation, Requester, Target, accounts_for_requester,
    approver_permitted, break_glass_offer, break_glass_reviewer_permitted, evaluate,
    evaluate_break_glass, groups_for_requester, may_deny, permission_sets_for_account,
    revokes_sessions,
};
pub use lint::lint;
pub use parse::{Problem, parse_rules};
pub use rules::{
    GroupStatement, Justification, ReasonPattern, ReasonRefusal, ResourceType, Routing, Rules,
    Scope, Statement,
};
