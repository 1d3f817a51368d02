//! Client construction: settings honoured, limits applied, emulator endpoints usable.

use std::time::Duration;

use liftgate_aws::{AwsClients, ClientLimits};
use liftgate_gateway::config::{AwsSettings, UserAttribute};
use liftgate_testkit::moto::{MotoServer, REGION};

fn settings(endpoint_url: Option<&str>) -> AwsSettings {
    AwsSettings {
        region: "eu-west-1".to_owned(),
        sso_instance_arn: "arn:aws:sso:::instance/ssoins-1111111111111111".to_owned(),
        identity_store_id: "d-1111111111".to_owned(),
        endpoint_url: endpoint_url.map(str::to_owned),
        user_attribute: UserAttribute::Email,
        fallback_email_domains: Vec::new(),
        provisioning_timeout: liftgate_policy::Duration::from_secs(120),
    }
}

#[tokio::test]
async fn production_clients_use_the_configured_region_endpoint_retries_and_timeouts() {
    let clients = AwsClients::from_settings(&settings(Some("http://127.0.0.1:9"))).await;
    let config = &clients.sdk_config;
    assert_eq!(
        config.region().map(|region| region.as_ref()),
        Some("eu-west-1")
    );
    assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:9"));
    let retry = config.retry_config().unwrap();
    assert_eq!(retry.max_attempts(), 4);
    assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
    let timeouts = config.timeout_config().unwrap();
    assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(3)));
    assert_eq!(
        timeouts.operation_attempt_timeout(),
        Some(Duration::from_secs(10))
    );
    assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn emulator_limits_disable_retries() {
    let clients = AwsClients::load(&settings(None), &ClientLimits::local_emulator()).await;
    assert_eq!(clients.sdk_config.retry_config().unwrap().max_attempts(), 1);
}

#[tokio::test]
async fn test_clients_reach_moto_and_address_s3_by_path() {
    let moto = MotoServer::start();
    // `localhost` would need `bucket.localhost` to resolve without path-style addressing.
    let clients =
        AwsClients::for_test_endpoint(&format!("http://localhost:{}", moto.port()), REGION).await;
    let instances = clients.sso_admin.list_instances().send().await.unwrap();
    assert_eq!(instances.instances().len(), 1);
    clients
        .s3
        .create_bucket()
        .bucket("liftgate-audit")
        .send()
        .await
        .unwrap();
    clients
        .s3
        .put_object()
        .bucket("liftgate-audit")
        .key("logs/a.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    let listed = clients
        .s3
        .list_objects_v2()
        .bucket("liftgate-audit")
        .prefix("logs/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));
}
