use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{AccessRequest, Grant};

/// Why a chat notice is sent. The notifier renders the request's *current* state, so notices
/// are idempotent: delivering one twice shows the same truth twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A new request: post the approval message, tell the requester.
    Created,
    /// Anything changed: approvals so far, granted, denied, expired, ended, failed.
    Updated,
    /// Still pending: remind the approvers.
    Reminder,
}

#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: NoticeKind,
    pub request: AccessRequest,
    pub grant: Option<Grant>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Try again later (rate limits, outages).
    #[error("temporary notification failure: {0}")]
    Retryable(String),
    /// Retrying cannot help (the channel is gone, a scope is missing); logged and dropped.
    #[error("notification failed: {0}")]
    Permanent(String),
}

/// A chat platform that shows requests to people. Fed through the outbox, so a chat outage
/// delays notices but never blocks or loses a grant or a revocation.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// The outbox topic suffix, e.g. `slack`.
    fn name(&self) -> &'static str;

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError>;
}
