use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::IdentityError;

/// One page of a listing, and the token of the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// A single, last page.
    pub fn last(items: Vec<T>) -> Page<T> {
        Page {
            items,
            next_token: None,
        }
    }
}

/// Who an account assignment is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssignedPrincipal {
    /// An Identity Store user: what Liftgate grants and reconciles.
    User(String),
    /// A group: permanent access managed outside Liftgate, never reconciled.
    Group(String),
}

/// A user's membership of a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupMember {
    pub membership_id: String,
    pub user_id: String,
}

/// What the identity store knows about a user, for drift warnings and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDetails {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The primary email, else the first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Read access to what Identity Center holds, for drift reconciliation. Every method is exactly
/// one AWS API call (one page), so the reconciler can rate-limit, retry and count each call;
/// it follows `next_token` itself.
///
/// The two provisioning queries exist to prune the scan: a permission set can only be assigned
/// in an account it is provisioned to, so they may answer a superset of the truth, never a
/// subset. An implementation whose answers cannot be trusted that way (an emulator) must say so
/// in [`AccessInventory::provisioning_is_reliable`]; the reconciler then lists every pair.
#[async_trait]
pub trait AccessInventory: Send + Sync + std::fmt::Debug {
    /// Whether [`Self::accounts_for_provisioned_permission_set`] and
    /// [`Self::permission_sets_provisioned_to_account`] answer at least every account (set)
    /// that can hold an assignment.
    fn provisioning_is_reliable(&self) -> bool;

    /// One page of the account assignments of a permission set in an account
    /// (`ListAccountAssignments`).
    async fn account_assignments(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        next_token: Option<String>,
    ) -> Result<Page<AssignedPrincipal>, IdentityError>;

    /// One page of a group's user memberships (`ListGroupMemberships`). An unknown group is an
    /// empty page.
    async fn group_members(
        &self,
        group_id: &str,
        next_token: Option<String>,
    ) -> Result<Page<GroupMember>, IdentityError>;

    /// One page of the accounts a permission set is provisioned to
    /// (`ListAccountsForProvisionedPermissionSet`).
    async fn accounts_for_provisioned_permission_set(
        &self,
        permission_set_arn: &str,
        next_token: Option<String>,
    ) -> Result<Page<String>, IdentityError>;

    /// One page of the permission-set ARNs provisioned to an account
    /// (`ListPermissionSetsProvisionedToAccount`).
    async fn permission_sets_provisioned_to_account(
        &self,
        account_id: &str,
        next_token: Option<String>,
    ) -> Result<Page<String>, IdentityError>;

    /// The user behind an id (`DescribeUser`); `None` when there is none.
    async fn describe_user(&self, user_id: &str) -> Result<Option<UserDetails>, IdentityError>;
}
