//! The inline-policy and provisioning calls of `RevokeSessions` (docs/reference.md §6) with
//! mocked SDK responses: moto neither evaluates policies nor reports provisioning in progress.

use aws_config::retry::RetryConfig;
use aws_sdk_ssoadmin::Client as SsoAdmin;
use aws_sdk_ssoadmin::operation::delete_inline_policy_from_permission_set::DeleteInlinePolicyFromPermissionSetOutput;
use aws_sdk_ssoadmin::operation::describe_permission_set_provisioning_status::DescribePermissionSetProvisioningStatusOutput;
use aws_sdk_ssoadmin::operation::get_inline_policy_for_permission_set::GetInlinePolicyForPermissionSetOutput;
use aws_sdk_ssoadmin::operation::list_accounts_for_provisioned_permission_set::ListAccountsForProvisionedPermissionSetOutput;
use aws_sdk_ssoadmin::operation::provision_permission_set::ProvisionPermissionSetOutput;
use aws_sdk_ssoadmin::operation::put_inline_policy_to_permission_set::PutInlinePolicyToPermissionSetOutput;
use aws_sdk_ssoadmin::types::{PermissionSetProvisioningStatus, ProvisionTargetType, StatusValues};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use liftgate_aws::{
    AwsIdentityCenter, IdentityCenterConfig, IdentityCenterTuning, IdentityClients,
};
use liftgate_gateway::config::UserAttribute;
use liftgate_gateway::ports::{IdentityError, PermissionSetPolicies};

const INSTANCE: &str = "arn:aws:sso:::instance/ssoins-1111111111111111";
const PERMISSION_SET: &str =
    "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222";

fn executor(rules: &[&Rule], adjust: impl FnOnce(&mut IdentityCenterTuning)) -> AwsIdentityCenter {
    let clients = IdentityClients {
        sso_admin: mock_client!(aws_sdk_ssoadmin, RuleMode::MatchAny, rules, |config| config
            .retry_config(RetryConfig::disabled())),
        identity_store: mock_client!(aws_sdk_identitystore, RuleMode::MatchAny, &[], |config| {
            config.retry_config(RetryConfig::disabled())
        }),
        organizations: mock_client!(aws_sdk_organizations, RuleMode::MatchAny, &[], |config| {
            config.retry_config(RetryConfig::disabled())
        }),
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

fn aws_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn provisioning(status: StatusValues, reason: Option<&str>) -> PermissionSetProvisioningStatus {
    PermissionSetProvisioningStatus::builder()
        .status(status)
        .request_id("prov-1")
        .account_id("111111111111")
        .permission_set_arn(PERMISSION_SET)
        .set_failure_reason(reason.map(str::to_owned))
        .build()
}

fn provisioned_to(
    accounts: &[&str],
    next: Option<&str>,
) -> ListAccountsForProvisionedPermissionSetOutput {
    ListAccountsForProvisionedPermissionSetOutput::builder()
        .set_account_ids(Some(accounts.iter().map(|a| (*a).to_owned()).collect()))
        .set_next_token(next.map(str::to_owned))
        .build()
}

#[tokio::test]
async fn the_inline_policy_is_read_and_an_empty_one_is_none() {
    let get = mock!(SsoAdmin::get_inline_policy_for_permission_set)
        .match_requests(|input| {
            input.instance_arn() == Some(INSTANCE)
                && input.permission_set_arn() == Some(PERMISSION_SET)
        })
        .sequence()
        .output(|| {
            GetInlinePolicyForPermissionSetOutput::builder()
                .inline_policy(r#"{"Version":"2012-10-17","Statement":[]}"#)
                .build()
        })
        .output(|| {
            GetInlinePolicyForPermissionSetOutput::builder()
                .inline_policy("")
                .build()
        })
        .build();
    let identity = executor(&[&get], |_| {});
    assert_eq!(
        identity
            .inline_policy(PERMISSION_SET)
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"Version":"2012-10-17","Statement":[]}"#)
    );
    assert_eq!(identity.inline_policy(PERMISSION_SET).await.unwrap(), None);
}

#[tokio::test]
async fn a_put_refused_by_a_concurrent_change_is_retried_with_the_same_document() {
    const DOCUMENT: &str =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    let put = mock!(SsoAdmin::put_inline_policy_to_permission_set)
        .match_requests(|input| {
            input.permission_set_arn() == Some(PERMISSION_SET)
                && input.inline_policy() == Some(DOCUMENT)
        })
        .sequence()
        .http_response(|| aws_error(409, "ConflictException", "another operation is in progress"))
        .output(|| PutInlinePolicyToPermissionSetOutput::builder().build())
        .build();
    let identity = executor(&[&put], |_| {});
    identity
        .put_inline_policy(PERMISSION_SET, DOCUMENT)
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 2);
}

#[tokio::test]
async fn deleting_an_inline_policy_that_is_gone_succeeds_and_a_denial_is_permanent() {
    let delete = mock!(SsoAdmin::delete_inline_policy_from_permission_set)
        .sequence()
        .http_response(|| aws_error(400, "ResourceNotFoundException", "no inline policy"))
        .output(|| DeleteInlinePolicyFromPermissionSetOutput::builder().build())
        .http_response(|| aws_error(403, "AccessDeniedException", "not allowed"))
        .build();
    let identity = executor(&[&delete], |_| {});
    identity.delete_inline_policy(PERMISSION_SET).await.unwrap();
    identity.delete_inline_policy(PERMISSION_SET).await.unwrap();
    let error = identity
        .delete_inline_policy(PERMISSION_SET)
        .await
        .unwrap_err();
    assert!(matches!(error, IdentityError::AccessDenied(_)), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn only_provisioned_accounts_are_provisioned_again_and_each_is_polled_to_its_end() {
    let list = mock!(SsoAdmin::list_accounts_for_provisioned_permission_set)
        .match_requests(|input| input.permission_set_arn() == Some(PERMISSION_SET))
        .sequence()
        .output(|| provisioned_to(&["222222222222"], Some("page-2")))
        .output(|| provisioned_to(&["111111111111"], None))
        .build();
    let provision = mock!(SsoAdmin::provision_permission_set)
        .match_requests(|input| {
            input.instance_arn() == Some(INSTANCE)
                && input.permission_set_arn() == Some(PERMISSION_SET)
                && input.target_type() == Some(&ProvisionTargetType::AwsAccount)
                && input.target_id() == Some("111111111111")
        })
        .then_output(|| {
            ProvisionPermissionSetOutput::builder()
                .permission_set_provisioning_status(provisioning(StatusValues::InProgress, None))
                .build()
        });
    let describe = mock!(SsoAdmin::describe_permission_set_provisioning_status)
        .match_requests(|input| input.provision_permission_set_request_id() == Some("prov-1"))
        .sequence()
        .http_response(|| aws_error(400, "ThrottlingException", "slow down"))
        .output(|| {
            DescribePermissionSetProvisioningStatusOutput::builder()
                .permission_set_provisioning_status(provisioning(StatusValues::InProgress, None))
                .build()
        })
        .output(|| {
            DescribePermissionSetProvisioningStatusOutput::builder()
                .permission_set_provisioning_status(provisioning(StatusValues::Succeeded, None))
                .build()
        })
        .build();
    let identity = executor(&[&list, &provision, &describe], |_| {});
    let done = identity
        .reprovision(
            PERMISSION_SET,
            &["111111111111".to_owned(), "333333333333".to_owned()],
        )
        .await
        .unwrap();
    assert_eq!(done.accounts, vec!["111111111111".to_owned()]);
    assert_eq!(done.request_ids, vec!["prov-1".to_owned()]);
    assert_eq!(list.num_calls(), 2, "both pages read");
    assert_eq!(
        provision.num_calls(),
        1,
        "333333333333 is not provisioned: left alone"
    );
    assert_eq!(describe.num_calls(), 3);
}

#[tokio::test]
async fn a_failed_provisioning_reports_the_reason_and_a_slow_one_is_retried_later() {
    let list = mock!(SsoAdmin::list_accounts_for_provisioned_permission_set)
        .then_output(|| provisioned_to(&["111111111111"], None));
    let provision = mock!(SsoAdmin::provision_permission_set)
        .sequence()
        .output(|| {
            ProvisionPermissionSetOutput::builder()
                .permission_set_provisioning_status(provisioning(
                    StatusValues::Failed,
                    Some("Inline policy exceeds the quota"),
                ))
                .build()
        })
        .output(|| {
            ProvisionPermissionSetOutput::builder()
                .permission_set_provisioning_status(provisioning(StatusValues::InProgress, None))
                .build()
        })
        .build();
    let describe = mock!(SsoAdmin::describe_permission_set_provisioning_status).then_output(|| {
        DescribePermissionSetProvisioningStatusOutput::builder()
            .permission_set_provisioning_status(provisioning(StatusValues::InProgress, None))
            .build()
    });
    let identity = executor(&[&list, &provision, &describe], |tuning| {
        tuning.provisioning_timeout = std::time::Duration::from_millis(30);
    });
    let accounts = ["111111111111".to_owned()];
    match identity.reprovision(PERMISSION_SET, &accounts).await {
        Err(IdentityError::Failed(message)) => {
            assert!(
                message.contains("Inline policy exceeds the quota"),
                "{message}"
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let error = identity
        .reprovision(PERMISSION_SET, &accounts)
        .await
        .unwrap_err();
    assert!(matches!(error, IdentityError::Unavailable(_)), "{error:?}");
    assert!(error.is_retryable(), "the revocation is tried again later");
}
