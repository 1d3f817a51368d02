use liftgate_policy::Email;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Channel, GrantId, Person, RequestId};

/// What a grant put in place in Identity Center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GrantTarget {
    Account {
        account_id: String,
        permission_set: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        permission_set_arn: Option<String>,
    },
    Group {
        group_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        membership_id: Option<String>,
    },
}

/// Grant states. A grant row exists (with its end) before anything is created in AWS, so a
/// crash at any point leaves something the sweeper can finish or undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Approved with a deferred start; nothing exists in AWS yet.
    Scheduled,
    /// The end is stored; the assignment or membership is being created.
    Provisioning,
    Active,
    /// Claimed for revocation by one replica (see `lease_until`).
    Revoking,
    Revoked,
    /// Never became active; anything partially created was removed.
    Failed,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Scheduled => "scheduled",
            GrantStatus::Provisioning => "provisioning",
            GrantStatus::Active => "active",
            GrantStatus::Revoking => "revoking",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Failed => "failed",
        }
    }

    /// States in which the grant may hold access in AWS, now or at any moment.
    pub fn may_hold_access(self) -> bool {
        matches!(
            self,
            GrantStatus::Provisioning | GrantStatus::Active | GrantStatus::Revoking
        )
    }

    pub fn is_final(self) -> bool {
        matches!(self, GrantStatus::Revoked | GrantStatus::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub request_id: RequestId,
    /// Extension requests whose approval moved this grant's end.
    #[serde(default)]
    pub extensions: Vec<RequestId>,
    pub requester: Email,
    /// Identity Center user id the access is granted to.
    pub principal_id: String,
    pub target: GrantTarget,
    pub status: GrantStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// Whether Identity Center was checked for existing access. Decided once, before anything
    /// is created, so a retry after a crash never mistakes our own creation for older access.
    #[serde(default)]
    pub access_checked: bool,
    /// The access existed before this grant and no other grant made it: never removed at the end.
    #[serde(default)]
    pub preexisting: bool,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub activated_at: Option<OffsetDateTime>,
    /// Why and by whom the grant is ending, set when revocation starts so a resumed revocation
    /// reports it the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<GrantEnd>,
    /// Identity Center's request id of the create (or delete) call, for audit `request_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_request_id: Option<String>,
    /// Provisioning or revocation attempts so far; the sweeper backs off on them.
    #[serde(default)]
    pub attempts: u32,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A replica working on this grant holds it until then; after it, another may take over.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_until: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub version: u64,
}

/// How a grant ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEnd {
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Person>,
    /// The audit `reason`: `scheduled_revocation` for an end on time.
    pub reason: String,
    /// The grant never became active (it failed or was cancelled before its start).
    #[serde(default)]
    pub abandoned: bool,
}

impl Grant {
    /// The identity of the access in AWS, shared by overlapping grants: revoking one grant
    /// must not remove access that another grant with the same key still covers.
    pub fn access_key(&self) -> String {
        match &self.target {
            GrantTarget::Account {
                account_id,
                permission_set,
                ..
            } => {
                format!(
                    "account:{account_id}:{permission_set}:{}",
                    self.principal_id
                )
            }
            GrantTarget::Group { group_id, .. } => {
                format!("group:{group_id}:{}", self.principal_id)
            }
        }
    }
}
