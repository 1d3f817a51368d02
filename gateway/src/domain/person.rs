use liftgate_policy::Email;
use serde::{Deserialize, Serialize};

/// Where an action came from; also the `channel` field of audit records (docs/reference.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Slack,
    Teams,
    Webhook,
    /// Timers: expiry of pending requests, revocation at the end of a grant.
    Scheduler,
    /// Drift reconciliation.
    Reconciler,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::Webhook => "webhook",
            Channel::Scheduler => "scheduler",
            Channel::Reconciler => "reconciler",
        }
    }
}

/// A person as the gateway knows them: the verified email (the identity every decision uses)
/// plus the chat ids that let adapters mention them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_id: Option<String>,
}

impl Person {
    pub fn from_email(email: Email) -> Person {
        Person {
            email,
            slack_id: None,
            teams_id: None,
        }
    }
}
