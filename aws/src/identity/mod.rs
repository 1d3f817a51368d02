//! The Identity Center executor: [`AwsIdentityCenter`] implements the core's
//! [`IdentityCenter`] port on sso-admin, identitystore and Organizations.

mod accounts;
mod assignments;
mod cache;
mod errors;
mod groups;
mod inline_policy;
mod permission_sets;
mod retry;
mod tuning;
mod users;

use std::collections::BTreeSet;

use async_trait::async_trait;
use liftgate_gateway::config::{AwsSettings, UserAttribute};
use liftgate_gateway::ports::{
    AccountInfo, DirectoryUser, GroupInfo, IdentityCenter, IdentityError, NamedUser,
    PermissionSetPolicies, ProvisionReceipt, Provisioned,
};
use liftgate_policy::Email;

pub use tuning::IdentityCenterTuning;
pub use users::{LookupCandidate, lookup_candidates};

use crate::client::AwsClients;
use accounts::AccountDirectory;
use cache::TtlCache;
use permission_sets::PermissionSetCatalog;

/// The three clients the executor uses.
#[derive(Debug, Clone)]
pub struct IdentityClients {
    pub sso_admin: aws_sdk_ssoadmin::Client,
    pub identity_store: aws_sdk_identitystore::Client,
    pub organizations: aws_sdk_organizations::Client,
}

impl From<&AwsClients> for IdentityClients {
    fn from(clients: &AwsClients) -> Self {
        IdentityClients {
            sso_admin: clients.sso_admin.clone(),
            identity_store: clients.identity_store.clone(),
            organizations: clients.organizations.clone(),
        }
    }
}

/// Which Identity Center instance and how users are matched.
#[derive(Debug, Clone)]
pub struct IdentityCenterConfig {
    pub instance_arn: String,
    pub identity_store_id: String,
    pub user_attribute: UserAttribute,
    /// Domains tried, in order, when the email as given has no user (`@new.example.com`).
    pub fallback_email_domains: Vec<String>,
}

impl IdentityCenterConfig {
    pub fn from_settings(settings: &AwsSettings) -> IdentityCenterConfig {
        IdentityCenterConfig {
            instance_arn: settings.sso_instance_arn.clone(),
            identity_store_id: settings.identity_store_id.clone(),
            user_attribute: settings.user_attribute,
            fallback_email_domains: settings.fallback_email_domains.clone(),
        }
    }
}

/// Identity Center as the gateway needs it. Share it as `Arc<AwsIdentityCenter>`; its caches
/// are per instance.
#[derive(Debug)]
pub struct AwsIdentityCenter {
    clients: IdentityClients,
    config: IdentityCenterConfig,
    tuning: IdentityCenterTuning,
    users: TtlCache<DirectoryUser>,
    accounts: AccountDirectory,
    catalog: PermissionSetCatalog,
}

impl AwsIdentityCenter {
    /// The production executor: the `aws` settings (instance, identity store, user attribute,
    /// fallback domains, provisioning timeout) and default tuning.
    pub fn new(clients: &AwsClients, settings: &AwsSettings) -> AwsIdentityCenter {
        let tuning = IdentityCenterTuning {
            provisioning_timeout: settings.provisioning_timeout.to_std(),
            ..IdentityCenterTuning::default()
        };
        Self::from_parts(
            IdentityClients::from(clients),
            IdentityCenterConfig::from_settings(settings),
            tuning,
        )
    }

    /// Any clients (moto, mocked SDK clients), configuration and tuning.
    pub fn from_parts(
        clients: IdentityClients,
        config: IdentityCenterConfig,
        tuning: IdentityCenterTuning,
    ) -> AwsIdentityCenter {
        AwsIdentityCenter {
            users: TtlCache::new(tuning.directory_cache_ttl),
            accounts: AccountDirectory::new(tuning.directory_cache_ttl),
            catalog: PermissionSetCatalog::new(),
            clients,
            config,
            tuning,
        }
    }

    pub fn config(&self) -> &IdentityCenterConfig {
        &self.config
    }

    pub fn tuning(&self) -> &IdentityCenterTuning {
        &self.tuning
    }
}

#[async_trait]
impl IdentityCenter for AwsIdentityCenter {
    async fn find_user(&self, email: &Email) -> Result<Option<DirectoryUser>, IdentityError> {
        self.find_user_by_address(email.as_str()).await
    }

    async fn find_user_by_user_name(
        &self,
        user_name: &str,
    ) -> Result<Option<NamedUser>, IdentityError> {
        self.find_user_by_exact_user_name(user_name).await
    }

    async fn member_groups(
        &self,
        user_id: &str,
        candidates: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, IdentityError> {
        self.groups_of_user(user_id, candidates).await
    }

    async fn describe_account(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountInfo>, IdentityError> {
        self.account(account_id).await
    }

    async fn list_accounts(&self) -> Result<Vec<AccountInfo>, IdentityError> {
        self.all_accounts().await
    }

    async fn permission_set_arn(&self, name: &str) -> Result<Option<String>, IdentityError> {
        self.permission_set_arn_by_name(name).await
    }

    async fn list_permission_sets(&self) -> Result<Vec<String>, IdentityError> {
        self.permission_set_names().await
    }

    async fn session_duration(
        &self,
        permission_set_arn: &str,
    ) -> Result<Option<std::time::Duration>, IdentityError> {
        self.permission_set_session_duration(permission_set_arn)
            .await
    }

    async fn describe_group(&self, group_id: &str) -> Result<Option<GroupInfo>, IdentityError> {
        self.group(group_id).await
    }

    async fn assignment_exists(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<bool, IdentityError> {
        self.user_assignment_exists(account_id, permission_set_arn, user_id)
            .await
    }

    async fn create_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        self.create_user_assignment(account_id, permission_set_arn, user_id)
            .await
    }

    async fn delete_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        self.delete_user_assignment(account_id, permission_set_arn, user_id)
            .await
    }

    async fn find_membership(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, IdentityError> {
        self.membership_of(group_id, user_id).await
    }

    async fn add_membership(&self, group_id: &str, user_id: &str) -> Result<String, IdentityError> {
        self.add_user_to_group(group_id, user_id).await
    }

    async fn delete_membership(&self, membership_id: &str) -> Result<(), IdentityError> {
        self.remove_membership(membership_id).await
    }
}

#[async_trait]
impl PermissionSetPolicies for AwsIdentityCenter {
    async fn inline_policy(
        &self,
        permission_set_arn: &str,
    ) -> Result<Option<String>, IdentityError> {
        self.get_inline_policy(permission_set_arn).await
    }

    async fn put_inline_policy(
        &self,
        permission_set_arn: &str,
        document: &str,
    ) -> Result<(), IdentityError> {
        self.put_policy_document(permission_set_arn, document).await
    }

    async fn delete_inline_policy(&self, permission_set_arn: &str) -> Result<(), IdentityError> {
        self.delete_policy_document(permission_set_arn).await
    }

    async fn reprovision(
        &self,
        permission_set_arn: &str,
        accounts: &[String],
    ) -> Result<Provisioned, IdentityError> {
        self.reprovision_accounts(permission_set_arn, accounts)
            .await
    }
}
