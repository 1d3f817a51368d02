//! What moto cannot do, with mocked SDK responses: operations that stay in progress or fail,
//! conflicts, throttling, denials and server errors. Errors are sent as AWS sends them (an
//! HTTP status and a JSON body with `__type`), so they go through the SDK's own parsing.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_identitystore::Client as IdentityStore;
use aws_sdk_identitystore::operation::get_group_membership_id::GetGroupMembershipIdOutput;
use aws_sdk_organizations::Client as Organizations;
use aws_sdk_ssoadmin::Client as SsoAdmin;
use aws_sdk_ssoadmin::operation::create_account_assignment::CreateAccountAssignmentOutput;
use aws_sdk_ssoadmin::operation::delete_account_assignment::DeleteAccountAssignmentOutput;
use aws_sdk_ssoadmin::operation::describe_account_assignment_creation_status::DescribeAccountAssignmentCreationStatusOutput;
use aws_sdk_ssoadmin::operation::describe_account_assignment_deletion_status::DescribeAccountAssignmentDeletionStatusOutput;
use aws_sdk_ssoadmin::operation::list_account_assignments::ListAccountAssignmentsOutput;
use aws_sdk_ssoadmin::types::{
    AccountAssignment, AccountAssignmentOperationStatus, PrincipalType, StatusValues, TargetType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use liftgate_aws::{
    AwsClients, AwsIdentityCenter, IdentityCenterConfig, IdentityCenterTuning, IdentityClients,
};
use liftgate_gateway::config::UserAttribute;
use liftgate_gateway::ports::{IdentityCenter, IdentityError};

use crate::support::email;

const INSTANCE: &str = "arn:aws:sso:::instance/ssoins-1111111111111111";
const PERMISSION_SET: &str =
    "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222";
const ACCOUNT: &str = "111111111111";
const USER: &str = "u-requester";

fn executor(
    sso_admin_rules: &[&Rule],
    identity_store_rules: &[&Rule],
    organizations_rules: &[&Rule],
    adjust: impl FnOnce(&mut IdentityCenterTuning),
) -> AwsIdentityCenter {
    // The SDK's own retries are off, so every attempt counted below is one of ours.
    let clients = IdentityClients {
        sso_admin: mock_client!(
            aws_sdk_ssoadmin,
            RuleMode::MatchAny,
            sso_admin_rules,
            |config| config.retry_config(RetryConfig::disabled())
        ),
        identity_store: mock_client!(
            aws_sdk_identitystore,
            RuleMode::MatchAny,
            identity_store_rules,
            |config| config.retry_config(RetryConfig::disabled())
        ),
        organizations: mock_client!(
            aws_sdk_organizations,
            RuleMode::MatchAny,
            organizations_rules,
            |config| config.retry_config(RetryConfig::disabled())
        ),
    };
    let config = IdentityCenterConfig {
        instance_arn: INSTANCE.to_owned(),
        identity_store_id: "d-1111111111".to_owned(),
        user_attribute: UserAttribute::Email,
        fallback_email_domains: Vec::new(),
    };
    let mut tuning = IdentityCenterTuning::fast();
    adjust(&mut tuning);
    AwsIdentityCenter::from_parts(clients, config, tuning)
}

fn sso_admin_only(rules: &[&Rule]) -> AwsIdentityCenter {
    executor(rules, &[], &[], |_| {})
}

/// An error response as AWS JSON protocols send it.
fn aws_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn operation(
    status: StatusValues,
    request_id: &str,
    reason: Option<&str>,
) -> AccountAssignmentOperationStatus {
    AccountAssignmentOperationStatus::builder()
        .status(status)
        .request_id(request_id)
        .set_failure_reason(reason.map(str::to_owned))
        .target_id(ACCOUNT)
        .target_type(TargetType::AwsAccount)
        .permission_set_arn(PERMISSION_SET)
        .principal_type(PrincipalType::User)
        .principal_id(USER)
        .build()
}

fn created(status: StatusValues, request_id: &str) -> CreateAccountAssignmentOutput {
    CreateAccountAssignmentOutput::builder()
        .account_assignment_creation_status(operation(status, request_id, None))
        .build()
}

fn creation_status(
    status: StatusValues,
    reason: Option<&str>,
) -> DescribeAccountAssignmentCreationStatusOutput {
    DescribeAccountAssignmentCreationStatusOutput::builder()
        .account_assignment_creation_status(operation(status, "req-1", reason))
        .build()
}

fn deletion_status(
    status: StatusValues,
    reason: Option<&str>,
) -> DescribeAccountAssignmentDeletionStatusOutput {
    DescribeAccountAssignmentDeletionStatusOutput::builder()
        .account_assignment_deletion_status(operation(status, "del-1", reason))
        .build()
}

/// A create rule that checks the request is a USER assignment on an account.
fn create_rule() -> aws_smithy_mocks::RuleBuilder<
    aws_sdk_ssoadmin::operation::create_account_assignment::CreateAccountAssignmentInput,
    CreateAccountAssignmentOutput,
    aws_sdk_ssoadmin::operation::create_account_assignment::CreateAccountAssignmentError,
> {
    mock!(SsoAdmin::create_account_assignment).match_requests(|input| {
        input.instance_arn() == Some(INSTANCE)
            && input.target_type() == Some(&TargetType::AwsAccount)
            && input.target_id() == Some(ACCOUNT)
            && input.permission_set_arn() == Some(PERMISSION_SET)
            && input.principal_type() == Some(&PrincipalType::User)
            && input.principal_id() == Some(USER)
    })
}

#[tokio::test]
async fn a_creation_in_progress_is_polled_until_it_succeeds() {
    let create = create_rule().then_output(|| created(StatusValues::InProgress, "req-1"));
    let describe = mock!(SsoAdmin::describe_account_assignment_creation_status)
        .match_requests(|input| input.account_assignment_creation_request_id() == Some("req-1"))
        .sequence()
        .output(|| creation_status(StatusValues::InProgress, None))
        .times(2)
        .output(|| creation_status(StatusValues::Succeeded, None))
        .build();
    let identity = sso_admin_only(&[&create, &describe]);

    let receipt = identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap();
    assert_eq!(receipt.request_id.as_deref(), Some("req-1"));
    assert_eq!(create.num_calls(), 1);
    assert_eq!(describe.num_calls(), 3);
}

#[tokio::test]
async fn a_failed_creation_reports_aws_reason() {
    let create = create_rule().then_output(|| created(StatusValues::InProgress, "req-1"));
    let describe = mock!(SsoAdmin::describe_account_assignment_creation_status)
        .sequence()
        .output(|| creation_status(StatusValues::InProgress, None))
        .output(|| {
            creation_status(
                StatusValues::Failed,
                Some("The permission set is not provisioned"),
            )
        })
        .build();
    let identity = sso_admin_only(&[&create, &describe]);

    let error = identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap_err();
    match &error {
        IdentityError::Failed(message) => assert!(
            message.contains("The permission set is not provisioned"),
            "{message}"
        ),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_immediate_failure_is_reported_without_polling() {
    let create = create_rule().then_output(|| {
        CreateAccountAssignmentOutput::builder()
            .account_assignment_creation_status(operation(
                StatusValues::Failed,
                "req-1",
                Some("Quota exceeded"),
            ))
            .build()
    });
    let describe = mock!(SsoAdmin::describe_account_assignment_creation_status)
        .then_output(|| creation_status(StatusValues::Succeeded, None));
    let identity = sso_admin_only(&[&create, &describe]);

    let error = identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, IdentityError::Failed(message) if message.contains("Quota exceeded")),
        "{error:?}"
    );
    assert_eq!(describe.num_calls(), 0);
}

#[tokio::test]
async fn conflicts_are_retried_until_the_creation_goes_through() {
    let create = create_rule()
        .sequence()
        .http_response(|| {
            aws_error(
                400,
                "ConflictException",
                "An operation on this permission set is in progress",
            )
        })
        .times(2)
        .output(|| created(StatusValues::Succeeded, "req-1"))
        .build();
    let identity = sso_admin_only(&[&create]);

    let receipt = identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap();
    assert_eq!(receipt.request_id.as_deref(), Some("req-1"));
    assert_eq!(create.num_calls(), 3);
}

#[tokio::test]
async fn throttling_is_retried_and_then_succeeds() {
    let create = create_rule()
        .sequence()
        .http_response(|| aws_error(400, "ThrottlingException", "Rate exceeded"))
        .times(2)
        .output(|| created(StatusValues::Succeeded, "req-1"))
        .build();
    let identity = sso_admin_only(&[&create]);

    identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap();
    assert_eq!(create.num_calls(), 3);
}

#[tokio::test]
async fn throttling_that_does_not_stop_is_reported_as_throttled_after_the_last_attempt() {
    let create = create_rule()
        .sequence()
        .http_response(|| aws_error(400, "ThrottlingException", "Rate exceeded"))
        .repeatedly()
        .build();
    let identity = executor(&[&create], &[], &[], |tuning| tuning.change_attempts = 3);

    let error = identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, IdentityError::Throttled(message) if message.contains("Rate exceeded")),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(create.num_calls(), 3);
}

#[tokio::test]
async fn access_denied_is_reported_at_once() {
    let create = create_rule()
        .sequence()
        .http_response(|| {
            aws_error(
                400,
                "AccessDeniedException",
                "User is not authorized to perform sso:CreateAccountAssignment",
            )
        })
        .repeatedly()
        .build();
    let identity = sso_admin_only(&[&create]);

    let error = identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, IdentityError::AccessDenied(message) if message.contains("not authorized")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn server_errors_and_unparseable_answers_are_unavailable() {
    let create = create_rule()
        .sequence()
        .http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(500).unwrap(),
                SdkBody::from("<html>Internal Server Error</html>"),
            )
        })
        .repeatedly()
        .build();
    let identity = sso_admin_only(&[&create]);

    let error = identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap_err();
    assert!(matches!(error, IdentityError::Unavailable(_)), "{error:?}");
    assert_eq!(
        create.num_calls(),
        1,
        "outages are left to the SDK's retries and the workflow's backoff"
    );
}

#[tokio::test]
async fn polling_gives_up_after_the_provisioning_timeout() {
    let create = create_rule().then_output(|| created(StatusValues::InProgress, "req-1"));
    let describe = mock!(SsoAdmin::describe_account_assignment_creation_status)
        .sequence()
        .output(|| creation_status(StatusValues::InProgress, None))
        .repeatedly()
        .build();
    let identity = executor(&[&create, &describe], &[], &[], |tuning| {
        tuning.provisioning_timeout = Duration::from_millis(40);
    });

    let error = identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, IdentityError::Unavailable(message) if message.contains("req-1") && message.contains("still in progress")),
        "{error:?}"
    );
    assert!(
        error.is_retryable(),
        "the outcome is unknown: try again later"
    );
    assert!(describe.num_calls() >= 1);
}

#[tokio::test]
async fn a_throttled_status_poll_is_polled_again() {
    let create = create_rule().then_output(|| created(StatusValues::InProgress, "req-1"));
    let describe = mock!(SsoAdmin::describe_account_assignment_creation_status)
        .sequence()
        .http_response(|| aws_error(400, "ThrottlingException", "Rate exceeded"))
        .output(|| creation_status(StatusValues::Succeeded, None))
        .build();
    let identity = sso_admin_only(&[&create, &describe]);

    identity
        .create_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap();
    assert_eq!(describe.num_calls(), 2);
}

#[tokio::test]
async fn deleting_an_assignment_that_is_gone_succeeds_without_a_request() {
    let delete = mock!(SsoAdmin::delete_account_assignment)
        .then_http_response(|| aws_error(400, "ResourceNotFoundException", ""));
    let identity = sso_admin_only(&[&delete]);

    let receipt = identity
        .delete_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap();
    assert_eq!(receipt.request_id, None);
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn a_deletion_in_progress_is_polled_until_it_succeeds() {
    let delete = mock!(SsoAdmin::delete_account_assignment).then_output(|| {
        DeleteAccountAssignmentOutput::builder()
            .account_assignment_deletion_status(operation(StatusValues::InProgress, "del-1", None))
            .build()
    });
    let describe = mock!(SsoAdmin::describe_account_assignment_deletion_status)
        .match_requests(|input| input.account_assignment_deletion_request_id() == Some("del-1"))
        .sequence()
        .output(|| deletion_status(StatusValues::InProgress, None))
        .output(|| deletion_status(StatusValues::Succeeded, None))
        .build();
    let identity = sso_admin_only(&[&delete, &describe]);

    let receipt = identity
        .delete_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap();
    assert_eq!(receipt.request_id.as_deref(), Some("del-1"));
    assert_eq!(describe.num_calls(), 2);
}

/// A deletion that fails while the assignment is (or is not) still listed.
fn failing_deletion(still_listed: bool) -> (AwsIdentityCenter, Rule) {
    let delete = mock!(SsoAdmin::delete_account_assignment).then_output(|| {
        DeleteAccountAssignmentOutput::builder()
            .account_assignment_deletion_status(operation(StatusValues::InProgress, "del-1", None))
            .build()
    });
    let describe = mock!(SsoAdmin::describe_account_assignment_deletion_status)
        .then_output(|| deletion_status(StatusValues::Failed, Some("Assignment does not exist")));
    let list = mock!(SsoAdmin::list_account_assignments).then_output(move || {
        let rows = still_listed.then(|| {
            AccountAssignment::builder()
                .account_id(ACCOUNT)
                .permission_set_arn(PERMISSION_SET)
                .principal_type(PrincipalType::User)
                .principal_id(USER)
                .build()
        });
        ListAccountAssignmentsOutput::builder()
            .set_account_assignments(Some(rows.into_iter().collect()))
            .build()
    });
    let identity = sso_admin_only(&[&delete, &describe, &list]);
    (identity, list)
}

#[tokio::test]
async fn a_failed_deletion_is_success_when_the_assignment_is_gone_and_failure_when_it_is_not() {
    let (identity, list) = failing_deletion(false);
    let receipt = identity
        .delete_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap();
    assert_eq!(receipt.request_id.as_deref(), Some("del-1"));
    assert_eq!(list.num_calls(), 1);

    let (identity, _) = failing_deletion(true);
    let error = identity
        .delete_assignment(ACCOUNT, PERMISSION_SET, USER)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, IdentityError::Failed(message) if message.contains("Assignment does not exist")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_conflict_because_the_user_already_is_a_member_returns_the_existing_membership() {
    let create = mock!(IdentityStore::create_group_membership).then_http_response(|| {
        aws_error(
            400,
            "ConflictException",
            "Member and Group relationship already exists.",
        )
    });
    let existing = mock!(IdentityStore::get_group_membership_id).then_output(|| {
        GetGroupMembershipIdOutput::builder()
            .membership_id("m-existing")
            .membership_arn("arn:aws:identitystore:::membership/m-existing")
            .identity_store_id("d-1111111111")
            .build()
            .unwrap()
    });
    let identity = executor(&[], &[&create, &existing], &[], |_| {});

    let membership = identity.add_membership("g-ops", USER).await.unwrap();
    assert_eq!(membership, "m-existing");
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn a_concurrent_membership_change_is_retried() {
    let create = mock!(IdentityStore::create_group_membership)
        .sequence()
        .http_response(|| aws_error(400, "ConflictException", "Concurrent modification"))
        .output(|| {
            aws_sdk_identitystore::operation::create_group_membership::CreateGroupMembershipOutput::builder()
                .membership_id("m-new")
                .membership_arn("arn:aws:identitystore:::membership/m-new")
                .identity_store_id("d-1111111111")
                .build()
                .unwrap()
        })
        .build();
    let missing = mock!(IdentityStore::get_group_membership_id).then_http_response(|| {
        aws_error(
            400,
            "ResourceNotFoundException",
            "GROUP_MEMBERSHIP not found.",
        )
    });
    let identity = executor(&[], &[&create, &missing], &[], |_| {});

    assert_eq!(
        identity.add_membership("g-ops", USER).await.unwrap(),
        "m-new"
    );
    assert_eq!(create.num_calls(), 2);
}

#[tokio::test]
async fn organizations_throttling_and_denials_are_classified() {
    let describe = mock!(Organizations::describe_account)
        .then_http_response(|| aws_error(400, "TooManyRequestsException", "Slow down"));
    let list = mock!(Organizations::list_accounts).then_http_response(|| {
        aws_error(400, "AccessDeniedException", "not the management account")
    });
    let identity = executor(&[], &[], &[&describe, &list], |_| {});

    assert!(matches!(
        identity.describe_account(ACCOUNT).await,
        Err(IdentityError::Throttled(_))
    ));
    assert!(matches!(
        identity.list_accounts().await,
        Err(IdentityError::AccessDenied(_))
    ));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    // Port 1 on the loopback interface refuses connections.
    let clients = AwsClients::for_test_endpoint("http://127.0.0.1:1", "us-east-1").await;
    let config = IdentityCenterConfig {
        instance_arn: INSTANCE.to_owned(),
        identity_store_id: "d-1111111111".to_owned(),
        user_attribute: UserAttribute::Email,
        fallback_email_domains: Vec::new(),
    };
    let identity = AwsIdentityCenter::from_parts(
        IdentityClients::from(&clients),
        config,
        IdentityCenterTuning::fast(),
    );
    let error = identity
        .find_user(&email("alice@corp.com"))
        .await
        .unwrap_err();
    assert!(matches!(error, IdentityError::Unavailable(_)), "{error:?}");
}
