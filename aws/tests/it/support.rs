//! Building the executor on a moto server.

use liftgate_aws::{
    AwsClients, AwsIdentityCenter, IdentityCenterConfig, IdentityCenterTuning, IdentityClients,
};
use liftgate_gateway::config::UserAttribute;
use liftgate_testkit::moto::{MotoServer, REGION, Seed};

/// The executor on `moto`'s default instance, with fast tuning, adjusted by `adjust`.
pub(crate) async fn identity_on(
    moto: &MotoServer,
    seed: &Seed,
    adjust: impl FnOnce(&mut IdentityCenterConfig, &mut IdentityCenterTuning),
) -> AwsIdentityCenter {
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    let mut config = IdentityCenterConfig {
        instance_arn: seed.instance_arn.clone(),
        identity_store_id: seed.identity_store_id.clone(),
        user_attribute: UserAttribute::Email,
        fallback_email_domains: Vec::new(),
    };
    let mut tuning = IdentityCenterTuning::fast();
    adjust(&mut config, &mut tuning);
    AwsIdentityCenter::from_parts(IdentityClients::from(&clients), config, tuning)
}

pub(crate) fn email(text: &str) -> liftgate_policy::Email {
    liftgate_policy::Email::parse(text).unwrap()
}

/// The role schedules assume in tests (moto does not check it).
pub(crate) const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/liftgate-scheduler";

/// A scheduler configuration on `seed`'s Identity Center instance, adjusted by `adjust`.
pub(crate) fn scheduler_config(
    seed: &Seed,
    adjust: impl FnOnce(&mut liftgate_aws::EventBridgeSchedulerConfig),
) -> liftgate_aws::EventBridgeSchedulerConfig {
    let mut config = liftgate_aws::EventBridgeSchedulerConfig {
        group_name: "liftgate-test".to_owned(),
        role_arn: ROLE_ARN.to_owned(),
        dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:liftgate-dlq".to_owned()),
        maximum_retry_attempts: 17,
        maximum_event_age: std::time::Duration::from_secs(3600),
        identity_center: liftgate_aws::scheduler::IdentityCenterIds {
            instance_arn: seed.instance_arn.clone(),
            identity_store_id: seed.identity_store_id.clone(),
        },
    };
    adjust(&mut config);
    config
}

/// An error response as AWS JSON protocols (JSON 1.0/1.1 and REST-JSON) send it.
pub(crate) fn json_error(
    status: u16,
    code: &str,
    message: &str,
) -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    )
}
