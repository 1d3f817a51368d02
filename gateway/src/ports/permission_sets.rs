use async_trait::async_trait;

use super::IdentityError;

/// What a re-provisioning did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioned {
    /// The accounts the permission set was provisioned to again.
    pub accounts: Vec<String>,
    /// Identity Center's request ids of the provisioning operations.
    pub request_ids: Vec<String>,
}

/// A permission set's inline policy and its provisioning, for ending live role sessions
/// (docs/reference.md §6, `RevokeSessions`). Identity Center keeps one inline policy per
/// permission set and copies it to the set's role in each account only when the set is
/// provisioned there again.
#[async_trait]
pub trait PermissionSetPolicies: Send + Sync + std::fmt::Debug {
    /// The inline policy (`GetInlinePolicyForPermissionSet`); `None` when there is none.
    async fn inline_policy(
        &self,
        permission_set_arn: &str,
    ) -> Result<Option<String>, IdentityError>;

    /// Replaces the inline policy (`PutInlinePolicyToPermissionSet`).
    async fn put_inline_policy(
        &self,
        permission_set_arn: &str,
        document: &str,
    ) -> Result<(), IdentityError>;

    /// Removes the inline policy (`DeleteInlinePolicyFromPermissionSet`); none is success.
    async fn delete_inline_policy(&self, permission_set_arn: &str) -> Result<(), IdentityError>;

    /// Provisions the permission set again to those of `accounts` it is provisioned to
    /// (`ListAccountsForProvisionedPermissionSet`, then `ProvisionPermissionSet` per account),
    /// waiting until Identity Center reports each done. An account the set is not provisioned
    /// to is left alone: no role there holds sessions.
    async fn reprovision(
        &self,
        permission_set_arn: &str,
        accounts: &[String],
    ) -> Result<Provisioned, IdentityError>;
}
