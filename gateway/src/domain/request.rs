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

/// Request states (SPEC §6).
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
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The lifecycle events; also the `event` field of audit records (SPEC §7).
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
    pub status: RequestStatus,
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
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// Optimistic-concurrency version; every store write bumps it.
    #[serde(default)]
    pub version: u64,
}

impl AccessRequest {
    pub fn has_approval_from(&self, email: &Email) -> bool {
        self.approvals
            .iter()
            .any(|approval| &approval.approver.email == email)
    }

    pub fn push_history(
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
