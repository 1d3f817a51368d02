//! The Microsoft Teams channel: Bot Framework JWT validation, the Connector client, Adaptive
//! Card request forms and approval cards.
//!
//! The composition root builds one [`TeamsAdapter`] from the `teams` config section and the
//! shared [`liftgate_gateway::workflow::AccessService`]; the adapter contributes the
//! `POST /teams/messages` route and the `teams` notifier (outbox topic `notify:teams`).

mod activity;
mod adapter;
mod auth;
mod bot;
mod cards;
mod connector;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod notifier;
mod pages;
mod references;
mod surface;

pub use adapter::{Pause, TeamsAdapter, TeamsOptions, TokioPause};
pub use error::TeamsError;
pub use surface::{
    ACTIVITY_NAMESPACE, APPROVAL_CARDS_NAMESPACE, DRIFT_NAMESPACE, REQUESTER_NAMESPACE,
};
