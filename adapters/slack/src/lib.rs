//! The Slack channel: signed HTTP endpoints and Socket Mode, the request modal, approval
//! messages kept in sync with the request's state, and requester DMs.
//!
//! The composition root builds a [`SlackAdapter`] from the `slack` settings and the
//! [`liftgate_gateway::workflow::AccessService`] and uses it as a
//! [`liftgate_gateway::channel::ChannelAdapter`] (name `slack`): it mounts its routes, registers
//! its notifier with the outbox, and runs it (Socket Mode lives in `run`).
//!
//! Non-goals: deciding anything. Who may request, approve, deny or end access is the
//! workflow's decision, made from the verified email Slack's `users.info` gives for the
//! clicking user; this crate only renders and relays.

mod activity;
mod adapter;
mod api;
mod blocks;
mod decisions;
mod dispatch;
mod forms;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod inbox;
mod installation;
mod notifier;
mod payload;
mod people;
mod sessions;
mod signature;
mod socket;
mod surface;

pub use adapter::{SlackAdapter, SlackError, SlackOptions};
pub use api::{ApiError, RetryPolicy};
pub use notifier::SlackNotifier;
pub use people::IdentityError;
pub use signature::{
    MAX_SKEW_SECONDS, SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER, sign, verify,
};
pub use surface::{DRIFT_NAMESPACE, MESSAGES_NAMESPACE, REQUESTER_NAMESPACE, SlackMessage};
