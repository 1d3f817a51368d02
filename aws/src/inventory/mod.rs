//! Drift reconciliation's view of Identity Center: [`AwsAccessInventory`] implements the core's
//! [`AccessInventory`] port, one AWS call per method (the reconciler paginates, rate-limits,
//! retries and counts). Listings use the largest page AWS allows, so a pass needs the fewest
//! calls.
//!
//! The provisioning queries (`ListAccountsForProvisionedPermissionSet`,
//! `ListPermissionSetsProvisionedToAccount`) let the reconciler skip pairs whose permission set
//! is not provisioned to the account. AWS answers them exactly; emulators do not (moto ignores
//! the account filter of one and answers only its own account to the other), and trusting them
//! there would hide drift. So they are trusted only when no endpoint override is configured,
//! unless [`AwsAccessInventory::with_provisioning_queries`] says otherwise.

use async_trait::async_trait;
use aws_sdk_identitystore::types::MemberId;
use aws_sdk_ssoadmin::types::PrincipalType;
use liftgate_gateway::config::AwsSettings;
use liftgate_gateway::ports::{
    AccessInventory, AssignedPrincipal, GroupMember, IdentityError, Page, UserDetails,
};

use crate::client::AwsClients;
use crate::sdk_error::{error_code, identity_error};

/// The largest `MaxResults` every listing used here accepts.
pub const MAX_PAGE_SIZE: i32 = 100;

/// Which instance and store to read, and how.
#[derive(Debug, Clone)]
pub struct InventoryConfig {
    pub instance_arn: String,
    pub identity_store_id: String,
    /// `MaxResults` of every listing; `None` uses each service's default.
    pub page_size: Option<i32>,
    /// Whether the provisioning queries may prune the scan (see the module docs).
    pub trust_provisioning_queries: bool,
}

impl InventoryConfig {
    /// The `aws` settings' instance and store, the largest pages, and provisioning queries
    /// trusted unless `aws.endpoint_url` points somewhere other than AWS.
    pub fn from_settings(settings: &AwsSettings) -> InventoryConfig {
        let overridden = settings
            .endpoint_url
            .as_deref()
            .is_some_and(|url| !url.trim().is_empty());
        InventoryConfig {
            instance_arn: settings.sso_instance_arn.clone(),
            identity_store_id: settings.identity_store_id.clone(),
            page_size: Some(MAX_PAGE_SIZE),
            trust_provisioning_queries: !overridden,
        }
    }
}

/// Identity Center (sso-admin) and the identity store, read for reconciliation.
#[derive(Debug, Clone)]
pub struct AwsAccessInventory {
    sso_admin: aws_sdk_ssoadmin::Client,
    identity_store: aws_sdk_identitystore::Client,
    config: InventoryConfig,
}

/// An sso-admin endpoint override in the environment means an emulator (or a proxy): the
/// provisioning answers cannot be assumed to be AWS's.
fn endpoint_overridden(clients: &AwsClients) -> bool {
    let from_environment = ["AWS_ENDPOINT_URL_SSO_ADMIN", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    clients.sdk_config.endpoint_url().is_some() || from_environment
}

impl AwsAccessInventory {
    /// The production inventory on the shared clients and the `aws` settings. The provisioning
    /// queries are trusted only when no endpoint override is in effect (settings or the standard
    /// `AWS_ENDPOINT_URL` variables).
    pub fn new(clients: &AwsClients, settings: &AwsSettings) -> AwsAccessInventory {
        let mut config = InventoryConfig::from_settings(settings);
        config.trust_provisioning_queries &= !endpoint_overridden(clients);
        Self::from_parts(
            clients.sso_admin.clone(),
            clients.identity_store.clone(),
            config,
        )
    }

    /// Any clients (moto, mocked SDK clients) and configuration.
    pub fn from_parts(
        sso_admin: aws_sdk_ssoadmin::Client,
        identity_store: aws_sdk_identitystore::Client,
        config: InventoryConfig,
    ) -> AwsAccessInventory {
        AwsAccessInventory {
            sso_admin,
            identity_store,
            config,
        }
    }

    /// Overrides whether the provisioning queries may prune the scan.
    pub fn with_provisioning_queries(mut self, trusted: bool) -> AwsAccessInventory {
        self.config.trust_provisioning_queries = trusted;
        self
    }

    pub fn config(&self) -> &InventoryConfig {
        &self.config
    }
}

fn next(token: Option<&str>) -> Option<String> {
    token.filter(|token| !token.is_empty()).map(str::to_owned)
}

#[async_trait]
impl AccessInventory for AwsAccessInventory {
    fn provisioning_is_reliable(&self) -> bool {
        self.config.trust_provisioning_queries
    }

    async fn account_assignments(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        next_token: Option<String>,
    ) -> Result<Page<AssignedPrincipal>, IdentityError> {
        let output = self
            .sso_admin
            .list_account_assignments()
            .instance_arn(&self.config.instance_arn)
            .account_id(account_id)
            .permission_set_arn(permission_set_arn)
            .set_max_results(self.config.page_size)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| identity_error("ListAccountAssignments", &error))?;
        let items = output
            .account_assignments()
            .iter()
            .filter_map(|assignment| {
                let id = assignment.principal_id()?.to_owned();
                match assignment.principal_type()? {
                    PrincipalType::User => Some(AssignedPrincipal::User(id)),
                    PrincipalType::Group => Some(AssignedPrincipal::Group(id)),
                    _ => None,
                }
            })
            .collect();
        Ok(Page {
            items,
            next_token: next(output.next_token()),
        })
    }

    async fn group_members(
        &self,
        group_id: &str,
        next_token: Option<String>,
    ) -> Result<Page<GroupMember>, IdentityError> {
        let result = self
            .identity_store
            .list_group_memberships()
            .identity_store_id(&self.config.identity_store_id)
            .group_id(group_id)
            .set_max_results(self.config.page_size)
            .set_next_token(next_token)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            // A group named in the rules that does not exist has no members.
            Err(error) if error_code(&error) == Some("ResourceNotFoundException") => {
                tracing::warn!(
                    group_id,
                    "A group named in the group statements does not exist."
                );
                return Ok(Page::last(Vec::new()));
            }
            Err(error) => return Err(identity_error("ListGroupMemberships", &error)),
        };
        let items = output
            .group_memberships()
            .iter()
            .filter_map(|membership| match membership.member_id()? {
                MemberId::UserId(user_id) => Some(GroupMember {
                    membership_id: membership.membership_id().to_owned(),
                    user_id: user_id.clone(),
                }),
                _ => None,
            })
            .collect();
        Ok(Page {
            items,
            next_token: next(output.next_token()),
        })
    }

    async fn accounts_for_provisioned_permission_set(
        &self,
        permission_set_arn: &str,
        next_token: Option<String>,
    ) -> Result<Page<String>, IdentityError> {
        // No `ProvisioningStatus` filter: accounts with an outdated provisioning still hold
        // assignments, so both states are needed for a superset.
        let output = self
            .sso_admin
            .list_accounts_for_provisioned_permission_set()
            .instance_arn(&self.config.instance_arn)
            .permission_set_arn(permission_set_arn)
            .set_max_results(self.config.page_size)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| identity_error("ListAccountsForProvisionedPermissionSet", &error))?;
        Ok(Page {
            items: output.account_ids().to_vec(),
            next_token: next(output.next_token()),
        })
    }

    async fn permission_sets_provisioned_to_account(
        &self,
        account_id: &str,
        next_token: Option<String>,
    ) -> Result<Page<String>, IdentityError> {
        let output = self
            .sso_admin
            .list_permission_sets_provisioned_to_account()
            .instance_arn(&self.config.instance_arn)
            .account_id(account_id)
            .set_max_results(self.config.page_size)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|error| identity_error("ListPermissionSetsProvisionedToAccount", &error))?;
        Ok(Page {
            items: output.permission_sets().to_vec(),
            next_token: next(output.next_token()),
        })
    }

    async fn describe_user(&self, user_id: &str) -> Result<Option<UserDetails>, IdentityError> {
        let result = self
            .identity_store
            .describe_user()
            .identity_store_id(&self.config.identity_store_id)
            .user_id(user_id)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) if error_code(&error) == Some("ResourceNotFoundException") => {
                return Ok(None);
            }
            Err(error) => return Err(identity_error("DescribeUser", &error)),
        };
        let emails = output.emails();
        let email = emails
            .iter()
            .find(|email| email.primary())
            .or_else(|| emails.first())
            .and_then(|email| email.value())
            .map(str::to_owned);
        Ok(Some(UserDetails {
            user_id: output.user_id().to_owned(),
            user_name: output.user_name().map(str::to_owned),
            display_name: output.display_name().map(str::to_owned),
            email,
        }))
    }
}
