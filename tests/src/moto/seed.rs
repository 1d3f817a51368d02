//! Filling a moto server with what Liftgate reads, and counting what it changed. moto accepts
//! duplicates (assignments, memberships), so tests assert on counts read back from here.

use aws_config::SdkConfig;
use aws_sdk_identitystore::types::{Email, MemberId, Name};
use aws_sdk_organizations::types::OrganizationFeatureSet;
use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};

/// An account created in the organization. moto picks random 12-digit ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededAccount {
    pub id: String,
    pub name: String,
}

/// Clients for one moto server plus its default Identity Center instance.
#[derive(Debug, Clone)]
pub struct Seed {
    pub sdk_config: SdkConfig,
    pub sso_admin: aws_sdk_ssoadmin::Client,
    pub identity_store: aws_sdk_identitystore::Client,
    pub organizations: aws_sdk_organizations::Client,
    /// The instance moto creates by default (random per server).
    pub instance_arn: String,
    /// That instance's identity store (moto accepts any id; this one is the consistent choice).
    pub identity_store_id: String,
}

impl Seed {
    pub(super) async fn new(sdk_config: SdkConfig) -> Seed {
        let sso_admin = aws_sdk_ssoadmin::Client::new(&sdk_config);
        let instances = sso_admin
            .list_instances()
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!("moto ListInstances failed: {}", aws_smithy_error(&error))
            });
        let instance = instances
            .instances()
            .first()
            .expect("moto has no default Identity Center instance");
        Seed {
            identity_store: aws_sdk_identitystore::Client::new(&sdk_config),
            organizations: aws_sdk_organizations::Client::new(&sdk_config),
            instance_arn: instance
                .instance_arn()
                .expect("the instance has no ARN")
                .to_owned(),
            identity_store_id: instance
                .identity_store_id()
                .expect("the instance has no identity store")
                .to_owned(),
            sso_admin,
            sdk_config,
        }
    }

    /// Creates the organization (once; moto's account becomes its management account
    /// [`super::MANAGEMENT_ACCOUNT_ID`], named "master", which `ListAccounts` also returns) and
    /// one member account per name, in order.
    pub async fn organization(&self, account_names: &[&str]) -> Vec<SeededAccount> {
        let created = self
            .organizations
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await;
        if let Err(error) = created {
            let already = error
                .as_service_error()
                .is_some_and(|e| e.is_already_in_organization_exception());
            assert!(
                already,
                "moto CreateOrganization failed: {}",
                aws_smithy_error(&error)
            );
        }
        let mut accounts = Vec::with_capacity(account_names.len());
        for name in account_names {
            let slug: String = name
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_lowercase();
            let output = self
                .organizations
                .create_account()
                .account_name(*name)
                .email(format!("aws+{slug}-{}@example.com", accounts.len()))
                .send()
                .await
                .unwrap_or_else(|error| {
                    panic!(
                        "moto CreateAccount {name} failed: {}",
                        aws_smithy_error(&error)
                    )
                });
            let id = output
                .create_account_status()
                .and_then(|status| status.account_id())
                .expect("moto CreateAccount returned no account id")
                .to_owned();
            accounts.push(SeededAccount {
                id,
                name: (*name).to_owned(),
            });
        }
        accounts
    }

    /// Creates a permission set (with a session duration: moto's default one breaks the SDK)
    /// and returns its ARN.
    pub async fn permission_set(&self, name: &str) -> String {
        let output = self
            .sso_admin
            .create_permission_set()
            .instance_arn(&self.instance_arn)
            .name(name)
            .description(format!("{name} (seeded)"))
            .session_duration("PT1H")
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "moto CreatePermissionSet {name} failed: {}",
                    aws_smithy_error(&error)
                )
            });
        output
            .permission_set()
            .and_then(|set| set.permission_set_arn())
            .expect("moto CreatePermissionSet returned no ARN")
            .to_owned()
    }

    /// Creates an identity-store user with one primary work email; returns its user id.
    pub async fn user(&self, user_name: &str, email: &str, display_name: &str) -> String {
        let (given, family) = display_name
            .split_once(' ')
            .unwrap_or((display_name, "User"));
        let output = self
            .identity_store
            .create_user()
            .identity_store_id(&self.identity_store_id)
            .user_name(user_name)
            .display_name(display_name)
            .name(
                Name::builder()
                    .given_name(given)
                    .family_name(family)
                    .build(),
            )
            .emails(
                Email::builder()
                    .value(email)
                    .r#type("work")
                    .primary(true)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "moto CreateUser {user_name} failed: {}",
                    aws_smithy_error(&error)
                )
            });
        output.user_id().to_owned()
    }

    /// Creates a group; returns its id.
    pub async fn group(&self, display_name: &str) -> String {
        let output = self
            .identity_store
            .create_group()
            .identity_store_id(&self.identity_store_id)
            .display_name(display_name)
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "moto CreateGroup {display_name} failed: {}",
                    aws_smithy_error(&error)
                )
            });
        output.group_id().to_owned()
    }

    /// Adds a user to a group; returns the membership id.
    pub async fn membership(&self, group_id: &str, user_id: &str) -> String {
        let output = self
            .identity_store
            .create_group_membership()
            .identity_store_id(&self.identity_store_id)
            .group_id(group_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "moto CreateGroupMembership failed: {}",
                    aws_smithy_error(&error)
                )
            });
        output.membership_id().to_owned()
    }

    /// Creates a USER account assignment directly (access that predates Liftgate).
    pub async fn assignment(&self, account_id: &str, permission_set_arn: &str, user_id: &str) {
        self.sso_admin
            .create_account_assignment()
            .instance_arn(&self.instance_arn)
            .target_type(TargetType::AwsAccount)
            .target_id(account_id)
            .permission_set_arn(permission_set_arn)
            .principal_type(PrincipalType::User)
            .principal_id(user_id)
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "moto CreateAccountAssignment failed: {}",
                    aws_smithy_error(&error)
                )
            });
    }

    /// How many USER assignment rows the user has on the account and permission set (moto
    /// keeps duplicates, so more than 1 means something was granted twice).
    pub async fn user_assignment_count(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> usize {
        let mut pages = self
            .sso_admin
            .list_account_assignments()
            .instance_arn(&self.instance_arn)
            .account_id(account_id)
            .permission_set_arn(permission_set_arn)
            .into_paginator()
            .send();
        let mut count = 0;
        while let Some(page) = pages.next().await {
            let page = page.unwrap_or_else(|error| {
                panic!(
                    "moto ListAccountAssignments failed: {}",
                    aws_smithy_error(&error)
                )
            });
            count += page
                .account_assignments()
                .iter()
                .filter(|row| {
                    row.principal_type() == Some(&PrincipalType::User)
                        && row.principal_id() == Some(user_id)
                })
                .count();
        }
        count
    }

    /// How many memberships of the user in the group exist (moto keeps duplicates).
    pub async fn membership_count(&self, group_id: &str, user_id: &str) -> usize {
        let mut pages = self
            .identity_store
            .list_group_memberships()
            .identity_store_id(&self.identity_store_id)
            .group_id(group_id)
            .into_paginator()
            .send();
        let mut count = 0;
        while let Some(page) = pages.next().await {
            let page = page.unwrap_or_else(|error| {
                panic!(
                    "moto ListGroupMemberships failed: {}",
                    aws_smithy_error(&error)
                )
            });
            count += page
                .group_memberships()
                .iter()
                .filter(|membership| matches!(membership.member_id(), Some(MemberId::UserId(id)) if id == user_id))
                .count();
        }
        count
    }
}

/// The full error chain of an SDK error, for panic messages.
fn aws_smithy_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
