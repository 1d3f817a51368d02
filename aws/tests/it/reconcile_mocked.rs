//! The AWS inventory with mocked SDK responses, for what moto cannot answer: provisioning
//! queries that prune the scan (by permission set and by account, paginated), throttling,
//! denials, missing groups and users. Scope expansion and removals use the core's fake
//! Identity Center; every read of the scan goes through the mocked SDK clients.

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_sdk_identitystore::Client as IdentityStore;
use aws_sdk_identitystore::operation::describe_user::DescribeUserOutput;
use aws_sdk_identitystore::operation::list_group_memberships::ListGroupMembershipsOutput;
use aws_sdk_identitystore::types::{Email, GroupMembership, MemberId};
use aws_sdk_ssoadmin::Client as SsoAdmin;
use aws_sdk_ssoadmin::operation::list_account_assignments::ListAccountAssignmentsOutput;
use aws_sdk_ssoadmin::operation::list_accounts_for_provisioned_permission_set::ListAccountsForProvisionedPermissionSetOutput;
use aws_sdk_ssoadmin::operation::list_permission_sets_provisioned_to_account::ListPermissionSetsProvisionedToAccountOutput;
use aws_sdk_ssoadmin::types::{AccountAssignment, PrincipalType};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use liftgate_aws::{AwsAccessInventory, InventoryConfig};
use liftgate_gateway::config::{AwsSettings, ReconciliationMode, ReconciliationSettings};
use liftgate_gateway::ports::{AccessInventory, IdentityError};
use liftgate_gateway::testing::{DEV, Harness, HarnessOptions, OPS_GROUP, PROD};
use liftgate_gateway::workflow::{
    FindingOutcome, PruningStrategy, ReconcileReport, Reconciler, ReconcilerTuning,
};
use liftgate_policy::Duration;
use serde_json::json;

const INSTANCE: &str = "arn:aws:sso:::instance/ssoins-1111111111111111";
const STORE: &str = "d-1111111111";

fn aws_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"mocked"}}"#);
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn inventory(sso_admin: &[&Rule], identity_store: &[&Rule]) -> AwsAccessInventory {
    // The SDK's own retries are off: every attempt counted is the reconciler's.
    AwsAccessInventory::from_parts(
        mock_client!(aws_sdk_ssoadmin, RuleMode::MatchAny, sso_admin, |config| {
            config.retry_config(RetryConfig::disabled())
        }),
        mock_client!(
            aws_sdk_identitystore,
            RuleMode::MatchAny,
            identity_store,
            |config| config.retry_config(RetryConfig::disabled())
        ),
        InventoryConfig {
            instance_arn: INSTANCE.to_owned(),
            identity_store_id: STORE.to_owned(),
            page_size: Some(100),
            trust_provisioning_queries: true,
        },
    )
}

fn harness(statements: serde_json::Value, group_statements: serde_json::Value) -> Harness {
    Harness::new(HarnessOptions {
        statements,
        group_statements,
        ..HarnessOptions::default()
    })
}

async fn dry_run(h: &Harness, inventory: AwsAccessInventory) -> ReconcileReport {
    Reconciler::new(
        &h.service,
        Arc::new(inventory),
        ReconciliationSettings {
            enabled: true,
            mode: ReconciliationMode::Revoke,
            interval: Duration::from_hours(1),
            max_calls_per_second: 1000,
        },
    )
    .with_tuning(ReconcilerTuning {
        retry_base_delay: std::time::Duration::from_millis(1),
        retry_max_delay: std::time::Duration::from_millis(2),
        ..ReconcilerTuning::default()
    })
    .run_once(true)
    .await
    .unwrap()
}

fn user_row(user: &str) -> AccountAssignment {
    AccountAssignment::builder()
        .principal_type(PrincipalType::User)
        .principal_id(user)
        .build()
}

fn group_row(group: &str) -> AccountAssignment {
    AccountAssignment::builder()
        .principal_type(PrincipalType::Group)
        .principal_id(group)
        .build()
}

/// `ListAccountAssignments` answering `rows` for each (account, ARN) listed, nothing elsewhere.
fn assignments(table: Vec<(String, String, Vec<AccountAssignment>)>) -> Rule {
    mock!(SsoAdmin::list_account_assignments)
        .match_requests(|input| input.instance_arn() == Some(INSTANCE))
        .then_compute_output(move |input| {
            let rows = table
                .iter()
                .find(|(account, arn, _)| {
                    input.account_id() == Some(account.as_str())
                        && input.permission_set_arn() == Some(arn.as_str())
                })
                .map(|(_, _, rows)| rows.clone())
                .unwrap_or_default();
            ListAccountAssignmentsOutput::builder()
                .set_account_assignments(Some(rows))
                .build()
        })
}

fn describe_users() -> Rule {
    mock!(IdentityStore::describe_user).then_compute_output(|input| {
        let user = input.user_id().unwrap_or_default();
        DescribeUserOutput::builder()
            .identity_store_id(STORE)
            .user_id(user)
            .user_arn(format!("arn:aws:identitystore::123456789012:user/{user}"))
            .revision("1")
            .user_name(user)
            .emails(
                Email::builder()
                    .value(format!("old-{user}@corp.com"))
                    .build(),
            )
            .emails(
                Email::builder()
                    .value(format!("{user}@corp.com"))
                    .primary(true)
                    .build(),
            )
            .build()
            .unwrap()
    })
}

fn keys(report: &ReconcileReport) -> Vec<&str> {
    report
        .findings
        .iter()
        .map(|finding| finding.access_key.as_str())
        .collect()
}

/// Every account of a ten-account organization may hold Admin and ReadOnly: 20 pairs.
fn wide_harness() -> Harness {
    let h = harness(
        json!([{"ResourceType": "Account", "Resource": "*", "PermissionSet": ["Admin", "ReadOnly"],
                "Approvers": "alice@corp.com"}]),
        json!([]),
    );
    for n in 3..=10 {
        h.identity
            .add_account(&format!("{n:012}"), &format!("Account {n}"));
    }
    h
}

#[tokio::test]
async fn pruning_by_permission_set_follows_pages_and_lists_only_provisioned_pairs() {
    let h = wide_harness();
    let admin = h.identity.arn_of("Admin").unwrap();
    let read_only = h.identity.arn_of("ReadOnly").unwrap();
    let provisioned = mock!(SsoAdmin::list_accounts_for_provisioned_permission_set)
        .match_requests(|input| input.instance_arn() == Some(INSTANCE))
        .then_compute_output({
            let admin = admin.clone();
            move |input| {
                let builder = ListAccountsForProvisionedPermissionSetOutput::builder();
                match (input.permission_set_arn(), input.next_token()) {
                    (Some(arn), None) if arn == admin => {
                        builder.account_ids(PROD).next_token("page-2").build()
                    }
                    (Some(arn), Some("page-2")) if arn == admin => builder.account_ids(DEV).build(),
                    _ => builder.build(),
                }
            }
        });
    let listed = assignments(vec![
        (
            PROD.to_owned(),
            admin.clone(),
            vec![user_row("u-bob"), group_row(OPS_GROUP)],
        ),
        (DEV.to_owned(), admin.clone(), vec![user_row("u-carol")]),
        // Never asked: ReadOnly is provisioned nowhere.
        (PROD.to_owned(), read_only, vec![user_row("u-dave")]),
    ]);
    let users = describe_users();
    let report = dry_run(&h, inventory(&[&provisioned, &listed], &[&users])).await;

    assert_eq!(report.scope.pairs, 20);
    assert_eq!(report.scope.pruning, Some(PruningStrategy::ByPermissionSet));
    assert_eq!(report.scope.pairs_listed, 2);
    assert_eq!(
        provisioned.num_calls(),
        3,
        "two pages for Admin, one for ReadOnly"
    );
    assert_eq!(listed.num_calls(), 2);
    assert_eq!(
        report.api_calls["ListAccountsForProvisionedPermissionSet"],
        3
    );
    assert_eq!(report.api_calls["ListAccountAssignments"], 2);
    assert_eq!(
        keys(&report),
        [
            format!("account:{PROD}:Admin:u-bob"),
            format!("account:{DEV}:Admin:u-carol"),
        ]
    );
    let bob = &report.findings[0];
    assert_eq!(
        bob.user.as_ref().and_then(|user| user.email.as_deref()),
        Some("u-bob@corp.com"),
        "the primary email, not the first"
    );
}

#[tokio::test]
async fn pruning_by_account_ignores_permission_sets_outside_the_scope() {
    let h = harness(
        json!([{"ResourceType": "Account", "Resource": [PROD, DEV], "PermissionSet": "*",
                "Approvers": "alice@corp.com"}]),
        json!([]),
    );
    for n in 0..8 {
        h.identity.add_permission_set(&format!("Set{n}"));
    }
    let set3 = h.identity.arn_of("Set3").unwrap();
    let provisioned = mock!(SsoAdmin::list_permission_sets_provisioned_to_account)
        .then_compute_output({
            let set3 = set3.clone();
            move |input| {
                let builder = ListPermissionSetsProvisionedToAccountOutput::builder();
                match input.account_id() {
                    Some(PROD) => builder
                        .permission_sets(set3.clone())
                        .permission_sets("arn:aws:sso:::permissionSet/ssoins-fake/ps-unknown")
                        .build(),
                    _ => builder.build(),
                }
            }
        });
    let listed = assignments(vec![(PROD.to_owned(), set3, vec![user_row("u-bob")])]);
    let users = describe_users();
    let report = dry_run(&h, inventory(&[&provisioned, &listed], &[&users])).await;

    assert_eq!(report.scope.pairs, 20, "2 accounts × 10 permission sets");
    assert_eq!(report.scope.pruning, Some(PruningStrategy::ByAccount));
    assert_eq!(provisioned.num_calls(), 2);
    assert_eq!(listed.num_calls(), 1);
    assert_eq!(keys(&report), [format!("account:{PROD}:Set3:u-bob")]);
}

#[tokio::test]
async fn a_denied_pruning_query_lists_the_pairs_it_covers() {
    let h = wide_harness();
    let read_only = h.identity.arn_of("ReadOnly").unwrap();
    let denied = mock!(SsoAdmin::list_accounts_for_provisioned_permission_set)
        .match_requests({
            let read_only = read_only.clone();
            move |input| input.permission_set_arn() == Some(read_only.as_str())
        })
        .then_http_response(|| aws_error(400, "AccessDeniedException"));
    let provisioned =
        mock!(SsoAdmin::list_accounts_for_provisioned_permission_set).then_output(|| {
            ListAccountsForProvisionedPermissionSetOutput::builder()
                .account_ids(PROD)
                .build()
        });
    let listed = assignments(vec![(
        "000000000007".to_owned(),
        read_only,
        vec![user_row("u-carol")],
    )]);
    let users = describe_users();
    let report = dry_run(&h, inventory(&[&denied, &provisioned, &listed], &[&users])).await;

    assert_eq!(denied.num_calls(), 1, "denials are not retried");
    assert_eq!(
        listed.num_calls(),
        1 + 10,
        "PROD/Admin, and every ReadOnly pair"
    );
    assert_eq!(keys(&report), ["account:000000000007:ReadOnly:u-carol"]);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
}

#[tokio::test]
async fn throttled_listings_are_retried_under_the_rate_limit() {
    let h = harness(
        json!([{"ResourceType": "Account", "Resource": [PROD], "PermissionSet": "Admin",
                "Approvers": "alice@corp.com"}]),
        json!([{"Resource": [OPS_GROUP], "Approvers": "alice@corp.com"}]),
    );
    let listed = mock!(SsoAdmin::list_account_assignments)
        .sequence()
        .http_response(|| aws_error(400, "ThrottlingException"))
        .times(2)
        .output(|| {
            ListAccountAssignmentsOutput::builder()
                .account_assignments(user_row("u-bob"))
                .build()
        })
        .build();
    let members = mock!(IdentityStore::list_group_memberships)
        .sequence()
        .http_response(|| aws_error(500, "InternalServerException"))
        .output(|| {
            ListGroupMembershipsOutput::builder()
                .group_memberships(
                    GroupMembership::builder()
                        .identity_store_id(STORE)
                        .membership_id("m-1")
                        .membership_arn("arn:aws:identitystore::123456789012:membership/m-1")
                        .group_id(OPS_GROUP)
                        .member_id(MemberId::UserId("u-carol".to_owned()))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        })
        .build();
    let users = describe_users();
    let report = dry_run(&h, inventory(&[&listed], &[&members, &users])).await;

    assert_eq!(
        keys(&report),
        [
            format!("account:{PROD}:Admin:u-bob"),
            format!("group:{OPS_GROUP}:u-carol"),
        ]
    );
    assert_eq!(report.api_calls["ListAccountAssignments"], 3);
    assert_eq!(report.api_calls["ListGroupMemberships"], 2);
    assert_eq!(report.throttled, 2);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report
            .findings
            .iter()
            .all(|finding| matches!(finding.outcome, FindingOutcome::DryRun { .. }))
    );
}

#[tokio::test]
async fn missing_groups_and_users_are_empty_answers_not_errors() {
    let missing_group = mock!(IdentityStore::list_group_memberships)
        .then_http_response(|| aws_error(400, "ResourceNotFoundException"));
    let missing_user = mock!(IdentityStore::describe_user)
        .then_http_response(|| aws_error(400, "ResourceNotFoundException"));
    let inventory = inventory(&[], &[&missing_group, &missing_user]);
    let page = inventory.group_members(OPS_GROUP, None).await.unwrap();
    assert!(page.items.is_empty() && page.next_token.is_none());
    assert_eq!(inventory.describe_user("u-gone").await.unwrap(), None);
}

#[tokio::test]
async fn sdk_failures_map_to_what_the_reconciler_can_do_about_them() {
    let throttled = mock!(SsoAdmin::list_account_assignments)
        .then_http_response(|| aws_error(400, "ThrottlingException"));
    let denied = mock!(SsoAdmin::list_permission_sets_provisioned_to_account)
        .then_http_response(|| aws_error(400, "AccessDeniedException"));
    let broken = mock!(SsoAdmin::list_accounts_for_provisioned_permission_set)
        .then_http_response(|| aws_error(503, "ServiceUnavailableException"));
    let inventory = inventory(&[&throttled, &denied, &broken], &[]);
    assert!(matches!(
        inventory.account_assignments(PROD, "arn:x", None).await,
        Err(IdentityError::Throttled(_))
    ));
    assert!(matches!(
        inventory
            .permission_sets_provisioned_to_account(PROD, None)
            .await,
        Err(IdentityError::AccessDenied(_))
    ));
    assert!(matches!(
        inventory
            .accounts_for_provisioned_permission_set("arn:x", None)
            .await,
        Err(IdentityError::Unavailable(_))
    ));
}

#[test]
fn provisioning_queries_are_trusted_only_without_an_endpoint_override() {
    let settings = AwsSettings {
        region: "us-east-1".to_owned(),
        sso_instance_arn: INSTANCE.to_owned(),
        identity_store_id: STORE.to_owned(),
        endpoint_url: None,
        user_attribute: liftgate_gateway::config::UserAttribute::Email,
        fallback_email_domains: Vec::new(),
        provisioning_timeout: Duration::from_secs(60),
    };
    let real = InventoryConfig::from_settings(&settings);
    assert!(real.trust_provisioning_queries);
    assert_eq!(real.page_size, Some(100));
    let emulated = InventoryConfig::from_settings(&AwsSettings {
        endpoint_url: Some("http://127.0.0.1:5000".to_owned()),
        ..settings
    });
    assert!(!emulated.trust_provisioning_queries);
}
