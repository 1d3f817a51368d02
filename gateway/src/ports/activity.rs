use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::ActivityFound;

#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    /// Throttling, outages, a query still running when the wait ran out: try again later.
    #[error("activity query unavailable: {0}")]
    Unavailable(String),
    /// The query was refused or failed (no such log group, access denied, bad syntax).
    #[error("activity query failed: {0}")]
    Failed(String),
    /// The names could not be put in a query safely (characters outside IAM's
    /// `[\w+=,.@-]`); retrying cannot help.
    #[error("cannot build the activity query: {0}")]
    Invalid(String),
}

/// Whose role sessions to look for: the user's `AWSReservedSSO_<permission set>_…` sessions in
/// one account, or (a group grant) in any account under any permission set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityQuery {
    /// The organization trail's CloudWatch Logs group.
    pub log_group: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// `None`: any account.
    pub account_id: Option<String>,
    /// `None`: any permission set.
    pub permission_set: Option<String>,
    /// The Identity Store user name: the role session name of the user's sessions.
    pub user_name: String,
    /// How many events to list (the counts cover every event).
    pub event_limit: usize,
}

/// The organization trail as the activity summary reads it: the user's non-read-only
/// CloudTrail events (`readOnly` false) in the window, counted by service and event name, and
/// the first `event_limit` of them. One call may run for a while (a Logs Insights query is
/// polled to completion) but is bounded by the implementation's own wait.
#[async_trait]
pub trait ActivityLog: Send + Sync + std::fmt::Debug {
    async fn changes(&self, query: &ActivityQuery) -> Result<ActivityFound, ActivityError>;
}
