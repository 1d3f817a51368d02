use std::collections::BTreeSet;

use liftgate_policy::{Decision, Duration, Email};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Channel, GrantId, Person, RequestId};

/// What is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestTarget {
    Account {
        account_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account_name: Option<String>,
        permission_set: String,
    },
    Group {
        group_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_name: Option<String>,
    },
}

impl RequestTarget {
    pub fn policy_target(&self) -> liftgate_policy::Target<'_> {
        match self {
            RequestTarget::Account {
                account_id,
                permission_set,
                ..
            } => liftgate_policy::Target::Account {
                account_id,
                permission_set,
            },
            RequestTarget::Group { group_id, .. } => liftgate_policy::Target::Group { group_id },
        }
    }

    /// A short human description: "Admin on Prod (111111111111)" or "group Ops (id)".
    pub fn describe(&self) -> String {
        match self {
            RequestTarget::Account {
                account_id,
                account_name,
                permission_set,
            } => match account_name {
                Some(name) => format!("{permission_set} on {name} ({account_id})"),
                None => format!("{permission_set} on {account_id}"),
            },
            RequestTarget::Group {
                group_id,
                group_name,
            } => match group_name {
                Some(name) => format!("group {name} ({group_id})"),
                None => format!("group {group_id}"),
            },
        }
    }
}

/// Request states (docs/reference.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Active,
    Ended,
    Denied,
    Expired,
    Cancelled,
    Failed,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 8] = [
        RequestStatus::Pending,
        RequestStatus::Approved,
        RequestStatus::Active,
        RequestStatus::Ended,
        RequestStatus::Denied,
        RequestStatus::Expired,
        RequestStatus::Cancelled,
        RequestStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Active => "active",
            RequestStatus::Ended => "ended",
            RequestStatus::Denied => "denied",
            RequestStatus::Expired => "expired",
            RequestStatus::Cancelled => "cancelled",
            RequestStatus::Failed => "failed",
        }
    }

    /// No further transition is possible from a final state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RequestStatus::Ended
                | RequestStatus::Denied
                | RequestStatus::Expired
                | RequestStatus::Cancelled
                | RequestStatus::Failed
        )
    }
}

/// One counted approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approver: Person,
    /// The approver's Identity Center user id: distinct approvers and "is this the requester"
    /// are decided on it, never on chat emails, so one person under two emails counts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The lifecycle events; also the `event` field of audit records (docs/reference.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestEvent {
    Requested,
    Approved,
    Denied,
    Granted,
    Revoked,
    Expired,
    Cancelled,
    Failed,
    DriftDetected,
    /// An extension request moved the end of an active grant.
    Extended,
    /// What the user changed in AWS during an ended grant (audit only, never in a request's
    /// history; see [`super::ActivitySummary`]).
    ActivitySummary,
    /// The live role sessions of removed account access were ended (audit only; see
    /// [`crate::workflow::SessionsRevocation`]).
    SessionsRevoked,
    /// They were to be ended but could not be (audit only, with the reason).
    SessionsRevocationRefused,
    /// Access granted at once by a `BreakGlass` statement, to be reviewed afterwards.
    BreakGlassUsed,
    /// A reviewer acknowledged or flagged a break-glass use.
    BreakGlassReviewed,
    /// A break-glass use went unreviewed past `requests.break_glass_review`.
    BreakGlassReviewOverdue,
}

impl RequestEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestEvent::Requested => "requested",
            RequestEvent::Approved => "approved",
            RequestEvent::Denied => "denied",
            RequestEvent::Granted => "granted",
            RequestEvent::Revoked => "revoked",
            RequestEvent::Expired => "expired",
            RequestEvent::Cancelled => "cancelled",
            RequestEvent::Failed => "failed",
            RequestEvent::DriftDetected => "drift_detected",
            RequestEvent::Extended => "extended",
            RequestEvent::ActivitySummary => "activity_summary",
            RequestEvent::SessionsRevoked => "sessions_revoked",
            RequestEvent::SessionsRevocationRefused => "sessions_revocation_refused",
            RequestEvent::BreakGlassUsed => "break_glass_used",
            RequestEvent::BreakGlassReviewed => "break_glass_reviewed",
            RequestEvent::BreakGlassReviewOverdue => "break_glass_review_overdue",
        }
    }
}

/// One line of a request's history, as `GET /api/v1/requests/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub event: RequestEvent,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An access request and everything decided about it. The decision fields are a snapshot of
/// the policy evaluation at creation; approval-time checks re-evaluate against current rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub id: RequestId,
    pub target: RequestTarget,
    pub requester: Person,
    /// The requester's Identity Center user id, resolved from their email at creation.
    pub principal_id: String,
    #[serde(default)]
    pub secondary_domain_used: bool,
    /// Group memberships of the requester that rules with `AllowedGroups` asked about.
    #[serde(default)]
    pub requester_groups: BTreeSet<String>,
    pub duration: Duration,
    pub reason: String,
    pub channel: Channel,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a pending request expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Optional deferred start of the grant.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_at: Option<OffsetDateTime>,
    pub decision: Decision,
    pub approvers: Vec<Email>,
    pub required_approvals: u32,
    pub statements: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
    /// A refused request that is not posted to the approvals channel: the requester already
    /// had one refused this hour (`requests.rate_limit`, docs/reference.md §2). The requester
    /// is still told, the audit trail still has it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quiet: bool,
    /// The `Warning`s of the statements behind the decision, shown on the approval message
    /// (docs/reference.md §3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Where its approval messages go (`ApprovalChannel`, `NotifyApprovers`, docs/reference.md §3).
    #[serde(default, skip_serializing_if = "liftgate_policy::Routing::is_default")]
    pub routing: liftgate_policy::Routing,
    /// The requester asked to break the glass (whether or not the rules let them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass_requested: bool,
    /// Set on a break-glass use (decision `break_glass`): its review (docs/reference.md §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<super::BreakGlassReview>,
    /// Changed only by the transitions in [`super::lifecycle`].
    pub(in crate::domain) status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<GrantId>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ends_at: Option<OffsetDateTime>,
    /// Set on an extension request: the grant whose end it moves once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<GrantId>,
    /// Next approver reminder while pending, and how many were sent.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_reminder_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub reminders_sent: u32,
    /// Set when an end of the grant was asked for and is still being carried out (the access
    /// is being removed): the request is not ended until the store says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ending: Option<Ending>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Optimistic-concurrency version; every store write bumps it.
    #[serde(default)]
    pub version: u64,
}

/// An end that was asked for and recorded, not yet carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Email>,
}

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
    /// A break-glass use is still unreviewed past its deadline: tell the reviewers again.
    ReviewOverdue,
}

impl AccessRequest {
    pub fn status(&self) -> RequestStatus {
        self.status
    }

    /// Whether `email`'s approval was counted.
    pub fn has_approval_from(&self, email: &Email) -> bool {
        self.approvals
            .iter()
            .any(|approval| &approval.approver.email == email)
    }

    /// Whether the Identity Center user `user_id` already approved (under any email).
    pub fn has_approval_from_user(&self, user_id: &str) -> bool {
        self.approvals
            .iter()
            .any(|approval| approval.user_id.as_deref() == Some(user_id))
    }

    /// Whether an end was asked for and is still being carried out.
    pub fn is_ending(&self) -> bool {
        self.ending.is_some() && !self.status.is_final()
    }

    /// Test support: a request in any state, bypassing the lifecycle.
    #[cfg(any(test, feature = "test-util"))]
    pub fn force_status(&mut self, status: RequestStatus) {
        self.status = status;
    }

    /// Test support: a minimal request for `requester@corp.com` (user `u-requester`) to use
    /// Admin on 111111111111, approvable by alice@corp.com, in `status`.
    #[cfg(any(test, feature = "test-util"))]
    pub fn for_tests(status: RequestStatus, created_at: OffsetDateTime) -> AccessRequest {
        let email = |text: &str| Email::parse(text).unwrap_or_else(|_| unreachable!());
        AccessRequest {
            id: RequestId::generate(),
            target: RequestTarget::Account {
                account_id: "111111111111".to_owned(),
                account_name: Some("Prod".to_owned()),
                permission_set: "Admin".to_owned(),
            },
            requester: Person::from_email(email("requester@corp.com")),
            principal_id: "u-requester".to_owned(),
            secondary_domain_used: false,
            requester_groups: BTreeSet::new(),
            duration: Duration::from_hours(1),
            reason: "contract test".to_owned(),
            channel: Channel::Webhook,
            created_at,
            expires_at: created_at + time::Duration::hours(8),
            start_at: None,
            decision: Decision::RequiresApproval,
            approvers: vec![email("alice@corp.com")],
            required_approvals: 1,
            statements: vec![0],
            max_duration: Some(Duration::from_hours(12)),
            quiet: false,
            warnings: Vec::new(),
            routing: liftgate_policy::Routing::default(),
            break_glass_requested: false,
            break_glass: None,
            status,
            status_reason: None,
            approvals: Vec::new(),
            grant_id: None,
            ends_at: None,
            extends: None,
            next_reminder_at: None,
            reminders_sent: 0,
            ending: None,
            history: Vec::new(),
            version: 0,
        }
    }

    pub(in crate::domain) fn push_history(
        &mut self,
        at: OffsetDateTime,
        event: RequestEvent,
        channel: Channel,
        actor: Option<&Email>,
        detail: Option<String>,
    ) {
        self.history.push(HistoryEntry {
            at,
            event,
            channel,
            actor: actor.cloned(),
            detail,
        });
    }
}
