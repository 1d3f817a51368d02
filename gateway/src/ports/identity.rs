use std::collections::BTreeSet;

use async_trait::async_trait;
use liftgate_policy::Email;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Identity Center or Organizations asked us to slow down; retry later.
    #[error("throttled by AWS: {0}")]
    Throttled(String),
    /// A concurrent operation on the same assignment; retry later.
    #[error("conflicting operation in progress: {0}")]
    Conflict(String),
    #[error("access denied by AWS: {0}")]
    AccessDenied(String),
    /// The operation ran and failed (e.g. an assignment status of FAILED).
    #[error("{0}")]
    Failed(String),
    /// Network, timeouts, 5xx: the outcome is unknown; retry later.
    #[error("AWS unavailable: {0}")]
    Unavailable(String),
}

impl IdentityError {
    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            IdentityError::Throttled(_)
                | IdentityError::Conflict(_)
                | IdentityError::Unavailable(_)
        )
    }
}

/// The Identity Center user behind an email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub user_id: String,
    /// Matched through a configured fallback domain, not the email as given.
    pub secondary_domain_used: bool,
}

/// The Identity Center user with a given `UserName` (the session name of their role sessions),
/// and the address the gateway knows them by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    pub user_id: String,
    /// What [`IdentityCenter::find_user`] takes for this user: the user name itself when
    /// `aws.user_attribute` is `user_name`, else the user's primary email. `None` when the user
    /// has no such address (then no request can be made for them).
    pub email: Option<Email>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Shared, not copied: every open form holds the requester's list of accounts, which at
    /// thousands of accounts would otherwise copy every id and name once per form.
    pub id: std::sync::Arc<str>,
    pub name: std::sync::Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub id: String,
    pub name: String,
}

/// What Identity Center returned for a create or delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionReceipt {
    /// The assignment operation's request id (audit `request_id`), when there was one.
    pub request_id: Option<String>,
}

/// Identity Center, Identity Store and Organizations as the core needs them. Calls are
/// idempotent where AWS allows it: deleting what is already gone succeeds.
#[async_trait]
pub trait IdentityCenter: Send + Sync + std::fmt::Debug {
    /// The Identity Center user for this email, by the configured attribute, falling back to a
    /// case-insensitive match and to the configured fallback domains. `None` when there is none.
    async fn find_user(&self, email: &Email) -> Result<Option<DirectoryUser>, IdentityError>;

    /// The user whose `UserName` is exactly `user_name` (a role session's name, docs/reference.md
    /// §5 `cli`). `None` when there is none. The default supports no lookup by user name and
    /// fails, so a backend without it refuses such callers instead of guessing.
    async fn find_user_by_user_name(
        &self,
        user_name: &str,
    ) -> Result<Option<NamedUser>, IdentityError> {
        let _ = user_name;
        Err(IdentityError::Failed(
            "this Identity Center backend cannot look users up by user name".to_owned(),
        ))
    }

    /// Which of `candidates` (group ids) the user is a member of.
    async fn member_groups(
        &self,
        user_id: &str,
        candidates: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, IdentityError>;

    /// The account, if it is in the organization.
    async fn describe_account(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountInfo>, IdentityError>;

    /// Every account of the organization, for request forms.
    async fn list_accounts(&self) -> Result<Vec<AccountInfo>, IdentityError>;

    /// The ARN of the permission set with this exact name.
    async fn permission_set_arn(&self, name: &str) -> Result<Option<String>, IdentityError>;

    /// Names of every permission set in the instance, for request forms.
    async fn list_permission_sets(&self) -> Result<Vec<String>, IdentityError>;

    /// The permission set's `SessionDuration` (`DescribePermissionSet`): how long a role
    /// session started under it stays valid, even after the assignment is gone. `None` when
    /// unknown; the default knows none.
    async fn session_duration(
        &self,
        permission_set_arn: &str,
    ) -> Result<Option<std::time::Duration>, IdentityError> {
        let _ = permission_set_arn;
        Ok(None)
    }

    async fn describe_group(&self, group_id: &str) -> Result<Option<GroupInfo>, IdentityError>;

    async fn assignment_exists(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<bool, IdentityError>;

    /// Creates a USER account assignment and waits until Identity Center reports it done.
    async fn create_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError>;

    /// Deletes a USER account assignment and waits until done; one already gone is success.
    async fn delete_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError>;

    /// The membership id if the user is a member of the group.
    async fn find_membership(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, IdentityError>;

    /// Adds the user to the group; returns the membership id.
    async fn add_membership(&self, group_id: &str, user_id: &str) -> Result<String, IdentityError>;

    /// Removes a membership; one already gone is success.
    async fn delete_membership(&self, membership_id: &str) -> Result<(), IdentityError>;
}
