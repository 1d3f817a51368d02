//! The AWS SDK clients every backend shares, built once from `aws` settings.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssoadmin::config::Credentials;
use liftgate_gateway::config::AwsSettings;

/// Retry and timeout limits for every AWS call, so a slow or hung AWS endpoint cannot hang the
/// gateway: each attempt and each whole call (retries included) has a deadline.
#[derive(Debug, Clone)]
pub struct ClientLimits {
    /// `None` disables the SDK's own retries (tests against moto, whose unimplemented
    /// operations answer 500 and would otherwise be retried for seconds).
    pub max_attempts: Option<u32>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub operation_attempt_timeout: Duration,
    pub operation_timeout: Duration,
}

impl ClientLimits {
    /// Standard retry mode (exponential backoff with jitter, a token bucket against retry
    /// storms) for throttling, 5xx and transient network errors, four attempts in all.
    pub fn production() -> ClientLimits {
        ClientLimits {
            max_attempts: Some(4),
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(10),
            operation_attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
        }
    }

    /// No retries and short deadlines: what tests against a local emulator want.
    pub fn local_emulator() -> ClientLimits {
        ClientLimits {
            max_attempts: None,
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(10),
            operation_attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(10),
        }
    }

    fn retry_config(&self) -> RetryConfig {
        match self.max_attempts {
            Some(attempts) => RetryConfig::standard().with_max_attempts(attempts.max(1)),
            None => RetryConfig::disabled(),
        }
    }

    fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .operation_attempt_timeout(self.operation_attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }
}

/// One client per AWS service Liftgate talks to. Cheap to clone (the SDK clients are `Arc`s).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub sso_admin: aws_sdk_ssoadmin::Client,
    pub identity_store: aws_sdk_identitystore::Client,
    pub organizations: aws_sdk_organizations::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// CloudWatch Logs (Logs Insights over the organization trail, for activity summaries).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The shared configuration the clients were built from (region, credentials, endpoint).
    pub sdk_config: SdkConfig,
}

impl AwsClients {
    /// Production clients: the configured region, the standard credential chain (environment,
    /// profile, web identity for IRSA, ECS, instance metadata), `aws.endpoint_url` when set
    /// (otherwise the standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables
    /// apply), and [`ClientLimits::production`].
    pub async fn from_settings(settings: &AwsSettings) -> AwsClients {
        Self::load(settings, &ClientLimits::production()).await
    }

    /// Like [`Self::from_settings`] with explicit limits.
    pub async fn load(settings: &AwsSettings, limits: &ClientLimits) -> AwsClients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .retry_config(limits.retry_config())
            .timeout_config(limits.timeout_config());
        if let Some(endpoint) = settings
            .endpoint_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
        {
            loader = loader.endpoint_url(endpoint.trim());
        }
        let sdk_config = loader.load().await;
        tracing::info!(
            region = %settings.region,
            endpoint_override = sdk_config.endpoint_url().is_some(),
            "AWS clients configured."
        );
        Self::from_sdk_config(sdk_config)
    }

    /// Clients from the standard environment alone (region, credentials and endpoint from
    /// `AWS_*` variables and profiles), for commands that run without a config file, such as
    /// `liftgate audit verify` on an auditor's machine.
    pub async fn from_environment() -> AwsClients {
        let limits = ClientLimits::production();
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(limits.retry_config())
            .timeout_config(limits.timeout_config())
            .load()
            .await;
        Self::from_sdk_config(sdk_config)
    }

    /// Clients for a local emulator such as moto: static test credentials (so the credential
    /// chain never probes instance metadata), the given region, and no SDK retries.
    pub async fn for_test_endpoint(endpoint_url: &str, region: &str) -> AwsClients {
        let limits = ClientLimits::local_emulator();
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(endpoint_url)
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "liftgate-test",
            ))
            .retry_config(limits.retry_config())
            .timeout_config(limits.timeout_config())
            .load()
            .await;
        Self::from_sdk_config(sdk_config)
    }

    /// Builds every client from one shared configuration. S3 uses path-style addressing when
    /// an endpoint override is in effect: emulators do not resolve `bucket.host` names.
    pub fn from_sdk_config(sdk_config: SdkConfig) -> AwsClients {
        let path_style = sdk_config.endpoint_url().is_some() || s3_endpoint_from_environment();
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(path_style)
            .build();
        AwsClients {
            sso_admin: aws_sdk_ssoadmin::Client::new(&sdk_config),
            identity_store: aws_sdk_identitystore::Client::new(&sdk_config),
            organizations: aws_sdk_organizations::Client::new(&sdk_config),
            scheduler: aws_sdk_scheduler::Client::new(&sdk_config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk_config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk_config),
            sdk_config,
        }
    }
}

/// The service-specific override (`AWS_ENDPOINT_URL_S3`) is resolved per client, after the
/// shared configuration, so it is looked up here.
fn s3_endpoint_from_environment() -> bool {
    std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|value| !value.is_empty())
}
