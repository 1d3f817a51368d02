use liftgate_policy::Email;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{AccessKey, Channel, GrantId, Person, RequestId};

/// What a grant puts in place in Identity Center.
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

/// Grant states (the moves between them are in [`super::lifecycle`]). A grant row exists
/// (with its end) before anything is created in AWS, so a crash at any point leaves something
/// the sweeper can finish or undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Approved with a deferred start; it does not hold the access yet.
    Scheduled,
    /// Holds its access in the ledger; the access is being created or verified.
    Provisioning,
    Active,
    /// Has left the ledger; the access is being settled (removed, or handed to other holders).
    Revoking,
    Revoked,
    /// Never became active; anything made for it was removed.
    Failed,
}

impl GrantStatus {
    pub const ALL: [GrantStatus; 6] = [
        GrantStatus::Scheduled,
        GrantStatus::Provisioning,
        GrantStatus::Active,
        GrantStatus::Revoking,
        GrantStatus::Revoked,
        GrantStatus::Failed,
    ];

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
    /// Changed only by the transitions in [`super::lifecycle`].
    pub(in crate::domain) status: GrantStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// The access this grant covered predated Liftgate (copied from the ledger when the grant
    /// became active; the ledger is what decides).
    #[serde(default)]
    pub preexisting: bool,
    /// Written before the ledger existed: the old per-grant flag that existing access was
    /// checked. Read only to adopt old grants into the ledger.
    #[serde(default, skip_serializing)]
    pub access_checked: bool,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub activated_at: Option<OffsetDateTime>,
    /// Why and by whom the grant is ending, set when it leaves the ledger so the commit that
    /// makes it final reports it the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<GrantEnd>,
    /// Identity Center's request id of the create (or delete) call, for audit `request_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_request_id: Option<String>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked_at: Option<OffsetDateTime>,
    /// When the post-access activity summary of this grant was recorded: set in the same
    /// batch as the summary's audit record, so it is recorded once across replicas.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub activity_summarised_at: Option<OffsetDateTime>,
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
    /// The grant never became active (it failed or was called off before it did).
    #[serde(default)]
    pub abandoned: bool,
    /// It could not be made (an error, or its end passed first), rather than being called
    /// off: its request fails.
    #[serde(default)]
    pub failed: bool,
}

impl Grant {
    pub fn status(&self) -> GrantStatus {
        self.status
    }

    /// The identity of the access in AWS, shared by overlapping grants.
    pub fn access_key(&self) -> AccessKey {
        AccessKey::of(&self.target, &self.principal_id)
    }

    /// Test support: a grant in any state, bypassing the lifecycle.
    #[cfg(any(test, feature = "test-util"))]
    pub fn force_status(&mut self, status: GrantStatus) {
        self.status = status;
    }

    /// Test support: a grant of Admin on 111111111111 to `principal`, ending at `ends_at`
    /// (started an hour before), in `status`.
    #[cfg(any(test, feature = "test-util"))]
    pub fn for_tests(status: GrantStatus, principal: &str, ends_at: OffsetDateTime) -> Grant {
        Grant {
            id: GrantId::generate(),
            request_id: RequestId::generate(),
            extensions: Vec::new(),
            requester: Email::parse("requester@corp.com").unwrap_or_else(|_| unreachable!()),
            principal_id: principal.to_owned(),
            target: GrantTarget::Account {
                account_id: "111111111111".to_owned(),
                permission_set: "Admin".to_owned(),
                permission_set_arn: None,
            },
            status,
            starts_at: ends_at - time::Duration::hours(1),
            ends_at,
            preexisting: false,
            access_checked: false,
            activated_at: None,
            end: None,
            sso_request_id: None,
            revoked_at: None,
            activity_summarised_at: None,
            version: 0,
        }
    }
}
