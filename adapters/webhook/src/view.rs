//! The JSON the API answers with. Kept apart from the stored documents so the storage format
//! can change without changing what integrations read.

use liftgate_gateway::domain::{
    AccessRequest, Approval, Channel, Grant, GrantStatus, GrantTarget, HistoryEntry, RequestEvent,
    RequestStatus, RequestTarget,
};
use liftgate_policy::{Decision, Duration, Email};
use serde::Serialize;
use time::OffsetDateTime;

/// A request as the API shows it (docs/reference.md §5): a top-level object. Optional values are present as
/// `null` rather than left out, so every answer has the same keys.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub id: String,
    pub status: RequestStatus,
    pub decision: Decision,
    pub approvers: Vec<Email>,
    pub required_approvals: u32,
    pub approvals: Vec<ApprovalView>,
    pub requester: Email,
    #[serde(flatten)]
    pub target: TargetView,
    pub duration: Duration,
    pub reason: String,
    /// Where the request was made: `slack`, `teams` or `webhook`.
    pub channel: Channel,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a pending request expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub start_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    pub max_duration: Option<Duration>,
    pub status_reason: Option<String>,
    pub grant_id: Option<String>,
    pub extends: Option<String>,
    /// Set while an end that was asked for is being carried out (the access is being
    /// removed); `null` otherwise. The status says `ended` only once it is done.
    pub revocation: Option<RevocationView>,
    /// Whether the requester asked to break the glass.
    pub break_glass: bool,
    /// The review of a break-glass use (decision `break_glass`); `null` otherwise.
    pub review: Option<ReviewView>,
    pub history: Vec<HistoryView>,
}

/// The review of a break-glass use: owed by `due_at` (moved on by each escalation), or given.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewView {
    /// `pending`, `acknowledged` or `flagged`.
    pub state: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub escalations: u32,
    pub by: Option<Email>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    pub comment: Option<String>,
}

/// An end in progress.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationView {
    /// Always `in_progress`: a finished revocation shows as status `ended`.
    pub state: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    pub by: Option<Email>,
}

/// `account_id`, `account_name`, `permission_set`; or `group_id`, `group_name`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum TargetView {
    Account {
        account_id: String,
        account_name: Option<String>,
        permission_set: String,
    },
    Group {
        group_id: String,
        group_name: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalView {
    pub approver: Email,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub channel: Channel,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub event: RequestEvent,
    pub channel: Channel,
    pub actor: Option<Email>,
    pub detail: Option<String>,
}

impl From<&Approval> for ApprovalView {
    fn from(approval: &Approval) -> Self {
        ApprovalView {
            approver: approval.approver.email.clone(),
            at: approval.at,
            channel: approval.channel,
            comment: approval.comment.clone(),
        }
    }
}

impl From<&HistoryEntry> for HistoryView {
    fn from(entry: &HistoryEntry) -> Self {
        HistoryView {
            at: entry.at,
            event: entry.event,
            channel: entry.channel,
            actor: entry.actor.clone(),
            detail: entry.detail.clone(),
        }
    }
}

impl From<&RequestTarget> for TargetView {
    fn from(target: &RequestTarget) -> Self {
        match target {
            RequestTarget::Account {
                account_id,
                account_name,
                permission_set,
            } => TargetView::Account {
                account_id: account_id.clone(),
                account_name: account_name.clone(),
                permission_set: permission_set.clone(),
            },
            RequestTarget::Group {
                group_id,
                group_name,
            } => TargetView::Group {
                group_id: group_id.clone(),
                group_name: group_name.clone(),
            },
        }
    }
}

impl From<&AccessRequest> for RequestView {
    fn from(request: &AccessRequest) -> Self {
        RequestView {
            id: request.id.to_string(),
            status: request.status(),
            decision: request.decision,
            approvers: request.approvers.clone(),
            required_approvals: request.required_approvals,
            approvals: request.approvals.iter().map(ApprovalView::from).collect(),
            requester: request.requester.email.clone(),
            target: TargetView::from(&request.target),
            duration: request.duration,
            reason: request.reason.clone(),
            channel: request.channel,
            created_at: request.created_at,
            expires_at: request.expires_at,
            start_at: request.start_at,
            ends_at: request.ends_at,
            max_duration: request.max_duration,
            status_reason: request.status_reason.clone(),
            grant_id: request.grant_id.as_ref().map(ToString::to_string),
            extends: request.extends.as_ref().map(ToString::to_string),
            revocation: request
                .ending
                .as_ref()
                .filter(|_| request.is_ending())
                .map(|ending| RevocationView {
                    state: "in_progress",
                    requested_at: ending.requested_at,
                    by: ending.by.clone(),
                }),
            break_glass: request.break_glass_requested,
            review: request.break_glass.as_ref().map(|review| {
                let given = review.reviewed.as_ref();
                ReviewView {
                    state: given.map_or("pending", |given| given.outcome.as_str()),
                    due_at: review.due_at,
                    escalations: review.escalations,
                    by: given.map(|given| given.by.email.clone()),
                    at: given.map(|given| given.at),
                    comment: given.and_then(|given| given.comment.clone()),
                }
            }),
            history: request.history.iter().map(HistoryView::from).collect(),
        }
    }
}

/// A grant as `GET /api/v1/grants` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub id: String,
    pub request_id: String,
    pub requester: Email,
    pub status: GrantStatus,
    #[serde(flatten)]
    pub target: GrantTargetView,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Extension requests that moved this grant's end.
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum GrantTargetView {
    Account {
        account_id: String,
        permission_set: String,
    },
    Group {
        group_id: String,
        group_name: Option<String>,
    },
}

impl From<&Grant> for GrantView {
    fn from(grant: &Grant) -> Self {
        let target = match &grant.target {
            GrantTarget::Account {
                account_id,
                permission_set,
                ..
            } => GrantTargetView::Account {
                account_id: account_id.clone(),
                permission_set: permission_set.clone(),
            },
            GrantTarget::Group {
                group_id,
                group_name,
                ..
            } => GrantTargetView::Group {
                group_id: group_id.clone(),
                group_name: group_name.clone(),
            },
        };
        GrantView {
            id: grant.id.to_string(),
            request_id: grant.request_id.to_string(),
            requester: grant.requester.clone(),
            status: grant.status(),
            target,
            starts_at: grant.starts_at,
            ends_at: grant.ends_at,
            activated_at: grant.activated_at,
            revoked_at: grant.revoked_at,
            extensions: grant.extensions.iter().map(ToString::to_string).collect(),
        }
    }
}
