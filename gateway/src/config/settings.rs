//! The typed configuration. Every struct rejects unknown keys; defaults are the embedded
//! choices of docs/reference.md §2.

use liftgate_policy::Duration;
use serde::Deserialize;

use super::Secret;
use super::lenient;

/// Everything but the rules, which `liftgate_policy::parse_rules` validates separately.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub server: ServerSettings,
    pub aws: Option<AwsSettings>,
    pub state: StateSettings,
    pub scheduler: SchedulerSettings,
    pub audit: AuditSettings,
    pub slack: Option<SlackSettings>,
    pub teams: Option<TeamsSettings>,
    pub webhook: Option<WebhookSettings>,
    pub cli: Option<CliSettings>,
    pub requests: RequestSettings,
    pub reconciliation: ReconciliationSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    #[serde(deserialize_with = "lenient::string")]
    pub listen: String,
    /// When set, `/healthz`, `/readyz` and `/metrics` are served here only (and answer 404 on
    /// `listen`), so the public listener an ingress routes to never exposes them.
    pub admin_listen: Option<String>,
    pub public_url: Option<String>,
    /// How long `serve` waits for in-flight work after SIGTERM (docs/reference.md §8 allows 20 s in all).
    #[serde(deserialize_with = "lenient::duration")]
    pub shutdown_grace: Duration,
    /// Log format on stderr: `json` (default, docs/reference.md §8) or `text` for local reading.
    pub log_format: LogFormat,
    /// Most requests served at once per route class; past it a request is answered 503 with
    /// `Retry-After` at once instead of queueing (docs/reference.md §2).
    pub max_in_flight: InFlightLimits,
}

/// Admission limits per route class: chat acks (Slack, Teams), the webhook API, and health
/// and metrics. Separate limits keep an overloaded webhook API from delaying Slack's acks past
/// its 3-second budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InFlightLimits {
    #[serde(deserialize_with = "lenient::u32")]
    pub chat: u32,
    #[serde(deserialize_with = "lenient::u32")]
    pub api: u32,
    #[serde(deserialize_with = "lenient::u32")]
    pub admin: u32,
}

impl Default for InFlightLimits {
    fn default() -> Self {
        InFlightLimits {
            chat: 256,
            api: 64,
            admin: 16,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "0.0.0.0:8080".to_owned(),
            admin_listen: None,
            public_url: None,
            shutdown_grace: Duration::from_secs(15),
            log_format: LogFormat::Json,
            max_in_flight: InFlightLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Text,
}

/// How an email finds its Identity Center user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAttribute {
    /// `emails.value` (the default).
    Email,
    /// `userName`, for directories whose user names are emails.
    UserName,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    #[serde(deserialize_with = "lenient::string")]
    pub region: String,
    #[serde(deserialize_with = "lenient::string")]
    pub sso_instance_arn: String,
    #[serde(deserialize_with = "lenient::string")]
    pub identity_store_id: String,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    #[serde(default = "default_user_attribute")]
    pub user_attribute: UserAttribute,
    /// Domains tried, in order, when the email as given has no user (`@new.example.com`).
    /// Off by default: a fallback can match the wrong person.
    #[serde(default, deserialize_with = "lenient::strings")]
    pub fallback_email_domains: Vec<String>,
    /// Upper bound on waiting for an assignment to finish provisioning.
    #[serde(
        default = "default_provisioning_timeout",
        deserialize_with = "lenient::duration"
    )]
    pub provisioning_timeout: Duration,
}

fn default_user_attribute() -> UserAttribute {
    UserAttribute::Email
}

/// Below the workflow's 120 s grant lease (with the SDK's per-call timeouts on top), so a slow
/// AWS call never outlives the lease that keeps other replicas off the grant.
fn default_provisioning_timeout() -> Duration {
    Duration::from_secs(60)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateBackend {
    Sqlite,
    Dynamodb,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSettings {
    pub backend: StateBackend,
    pub path: String,
    pub table: Option<String>,
    /// How long finished requests are kept in DynamoDB before its TTL removes them.
    #[serde(deserialize_with = "lenient::duration")]
    pub retention: Duration,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            backend: StateBackend::Sqlite,
            path: "./data/liftgate.db".to_owned(),
            table: None,
            retention: Duration::from_hours(24 * 400),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerBackend {
    Local,
    Eventbridge,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSettings {
    pub backend: SchedulerBackend,
    /// How often the sweeper looks for due work (revocations, expiries, reminders, retries).
    #[serde(deserialize_with = "lenient::duration")]
    pub sweep_interval: Duration,
    pub group_name: String,
    /// Role EventBridge Scheduler assumes to call Identity Center.
    pub role_arn: Option<String>,
    pub dead_letter_arn: Option<String>,
    #[serde(deserialize_with = "lenient::u32")]
    pub maximum_retry_attempts: u32,
    #[serde(deserialize_with = "lenient::duration")]
    pub maximum_event_age: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            backend: SchedulerBackend::Local,
            sweep_interval: Duration::from_secs(5),
            group_name: "liftgate".to_owned(),
            role_arn: None,
            dead_letter_arn: None,
            maximum_retry_attempts: 185,
            maximum_event_age: Duration::from_hours(24),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditSinkKind {
    File,
    S3,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSinkSettings {
    #[serde(rename = "type")]
    pub kind: AuditSinkKind,
    #[serde(default)]
    pub dir: Option<String>,
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    /// S3: where signed checkpoints go (default `checkpoints`), beside the records' prefix.
    #[serde(default)]
    pub checkpoint_prefix: Option<String>,
    /// SSE-KMS key; without it objects use SSE-S3 (AES256).
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    pub sinks: Vec<AuditSinkSettings>,
    /// The Ed25519 private key checkpoints are signed with (PEM, or base64 of its PKCS#8
    /// DER); usually `LIFTGATE__AUDIT__SIGNING_KEY`. Without it no checkpoints are written.
    pub signing_key: Option<Secret>,
    /// How often a signed checkpoint is written (also at shutdown).
    pub checkpoint_interval: Duration,
    pub activity_summary: super::ActivitySummarySettings,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            sinks: vec![AuditSinkSettings {
                kind: AuditSinkKind::File,
                dir: Some("./data/audit".to_owned()),
                bucket: None,
                prefix: None,
                checkpoint_prefix: None,
                kms_key_id: None,
            }],
            signing_key: None,
            checkpoint_interval: Duration::from_hours(1),
            activity_summary: super::ActivitySummarySettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    pub signing_secret: Secret,
    pub bot_token: Secret,
    #[serde(deserialize_with = "lenient::string")]
    pub channel_id: String,
    #[serde(default)]
    pub app_token: Option<Secret>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub socket_mode: bool,
    #[serde(default = "default_slack_api_base_url")]
    pub api_base_url: String,
    /// The workspace whose members may use Liftgate (`T…`). Unset: the workspace the bot
    /// token belongs to, learned from `auth.test` (docs/reference.md §2).
    #[serde(default)]
    pub team_id: Option<String>,
    /// An Enterprise Grid organisation (`E…`) whose members, in any of its workspaces, may use
    /// Liftgate. Unset: learned from `auth.test` with `team_id`.
    #[serde(default)]
    pub enterprise_id: Option<String>,
    /// Lets multi- and single-channel guests request and approve; off by default.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub allow_guests: bool,
    /// Accepts users whose Slack email address is not confirmed; off by default.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub allow_unconfirmed_emails: bool,
    /// Work after an ack (opening forms, decisions, submissions) running at once; each makes
    /// Slack Web API calls, so this also bounds the connections to Slack.
    #[serde(
        default = "default_slack_work_concurrency",
        deserialize_with = "lenient::u32"
    )]
    pub work_concurrency: u32,
    /// Work waiting or running at most; past it new work is dropped (recorded decisions and
    /// submissions are resumed from the inbox later; a form that could not open is lost, as
    /// its trigger expires in 3 s anyway).
    #[serde(
        default = "default_slack_work_queue",
        deserialize_with = "lenient::u32"
    )]
    pub work_queue: u32,
    /// Open forms whose looked-up choices are kept in memory at once; past it the oldest are
    /// forgotten. A form whose choices were forgotten looks them up again when next used.
    #[serde(
        default = "default_slack_form_sessions",
        deserialize_with = "lenient::u32"
    )]
    pub form_sessions: u32,
    /// How long an open form's choices are kept (also dropped when it is submitted or closed).
    #[serde(
        default = "default_slack_form_session_ttl",
        deserialize_with = "lenient::duration"
    )]
    pub form_session_ttl: Duration,
}

fn default_slack_form_sessions() -> u32 {
    1000
}

fn default_slack_form_session_ttl() -> Duration {
    Duration::from_mins(15)
}

fn default_slack_work_concurrency() -> u32 {
    32
}

fn default_slack_work_queue() -> u32 {
    1024
}

fn default_slack_api_base_url() -> String {
    "https://slack.com/api/".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {
    #[serde(deserialize_with = "lenient::string")]
    pub app_id: String,
    pub app_password: Secret,
    #[serde(deserialize_with = "lenient::string")]
    pub tenant_id: String,
    #[serde(default = "default_teams_service_url")]
    pub service_url: String,
    #[serde(deserialize_with = "lenient::string")]
    pub approvals_conversation_id: String,
    #[serde(default = "default_openid_metadata_url")]
    pub openid_metadata_url: String,
    /// Defaults to the tenant's Entra token endpoint.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(
        default = "default_allowed_service_url_hosts",
        deserialize_with = "lenient::strings"
    )]
    pub allowed_service_url_hosts: Vec<String>,
    /// Lets B2B guests of the tenant (`userRole: guest`) request and approve; off by default.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub allow_guests: bool,
}

fn default_teams_service_url() -> String {
    "https://smba.trafficmanager.net/teams/".to_owned()
}

fn default_openid_metadata_url() -> String {
    "https://login.botframework.com/v1/.well-known/openidconfiguration".to_owned()
}

fn default_allowed_service_url_hosts() -> Vec<String> {
    [
        "smba.trafficmanager.net",
        "smba.infra.gcc.teams.microsoft.com",
        "smba.infra.gov.teams.microsoft.us",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

impl TeamsSettings {
    pub fn effective_token_url(&self) -> String {
        self.token_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                self.tenant_id
            )
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookClient {
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    pub secret: Secret,
    /// Emails this client may act for, or `"*"` for anyone.
    #[serde(deserialize_with = "lenient::strings")]
    pub act_for: Vec<String>,
}

/// An outbound subscriber: every lifecycle event is POSTed to `url`, signed like inbound calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriber {
    pub url: String,
    pub secret: Secret,
    /// Events to send (`requested`, `granted`, …); empty means all.
    #[serde(default, deserialize_with = "lenient::strings")]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    #[serde(default)]
    pub clients: Vec<WebhookClient>,
    #[serde(default)]
    pub subscribers: Vec<WebhookSubscriber>,
}

/// How a role session's name finds its Identity Center user (`cli.user_attribute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionNameAttribute {
    /// The session name is the user's `UserName` (what Identity Center puts there; the default).
    UserName,
    /// The session name is an email, looked up like a chat user's (`aws.user_attribute`).
    Email,
}

/// `liftgate request` from a terminal (docs/reference.md §5, CLI routes): callers prove who they
/// are with a signed STS `GetCallerIdentity` that the gateway forwards to STS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CliSettings {
    /// Lets the section stay in the file with the routes off.
    #[serde(default = "enabled_by_default", deserialize_with = "lenient::bool")]
    pub enabled: bool,
    /// The only place signed requests are sent; default `https://sts.<region>.amazonaws.com/`.
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    /// The region the caller signs for (the credential scope); default `aws.region`.
    #[serde(default)]
    pub sts_region: Option<String>,
    #[serde(default = "default_session_name_attribute")]
    pub user_attribute: SessionNameAttribute,
    /// What the caller must sign in `X-Liftgate-Server-Id`, so a request signed for another
    /// gateway (or another service using the same scheme) is useless here. The CLI sends the
    /// host of its `--url` unless told otherwise.
    #[serde(deserialize_with = "lenient::string")]
    pub server_id: String,
    /// Accounts a caller's role session may live in; empty means any account of the
    /// organization. Accounts outside the organization are always refused.
    #[serde(default, deserialize_with = "lenient::strings")]
    pub allowed_accounts: Vec<String>,
}

fn enabled_by_default() -> bool {
    true
}

fn default_session_name_attribute() -> SessionNameAttribute {
    SessionNameAttribute::UserName
}

impl CliSettings {
    /// The STS endpoint requests are forwarded to.
    pub fn effective_sts_endpoint(&self, aws_region: &str) -> String {
        self.sts_endpoint.clone().unwrap_or_else(|| {
            format!(
                "https://sts.{}.amazonaws.com/",
                self.effective_sts_region(aws_region)
            )
        })
    }

    /// The region callers sign for.
    pub fn effective_sts_region(&self, aws_region: &str) -> String {
        self.sts_region
            .clone()
            .unwrap_or_else(|| aws_region.to_owned())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestSettings {
    #[serde(deserialize_with = "lenient::duration")]
    pub max_duration: Duration,
    #[serde(deserialize_with = "lenient::durations")]
    pub durations: Vec<Duration>,
    #[serde(deserialize_with = "lenient::duration")]
    pub expiration: Duration,
    #[serde(deserialize_with = "lenient::bool")]
    pub reminders: bool,
    #[serde(deserialize_with = "lenient::duration")]
    pub reminder_initial_wait: Duration,
    #[serde(deserialize_with = "lenient::f64")]
    pub reminder_backoff: f64,
    /// Longest a reason may be; the audit trail keeps it whole.
    #[serde(deserialize_with = "lenient::u32")]
    pub max_reason_length: u32,
    /// Longest an approval or denial comment may be: comments are stored with the request and
    /// shown on cards, so they are bounded like reasons.
    #[serde(deserialize_with = "lenient::u32")]
    pub max_comment_length: u32,
    /// Most requests one person may create per clock hour, across replicas; 0 turns the limit
    /// off (docs/reference.md §2).
    #[serde(deserialize_with = "lenient::u32")]
    pub rate_limit: u32,
    /// Whether removing account access also ends its live role sessions, for statements
    /// without `RevokeSessions` (docs/reference.md §3, §6).
    #[serde(deserialize_with = "lenient::bool")]
    pub revoke_sessions: bool,
    /// How long a break-glass use may go unreviewed before it escalates, and again between
    /// escalations (docs/reference.md §2, §6).
    #[serde(deserialize_with = "lenient::duration")]
    pub break_glass_review: Duration,
}

impl Default for RequestSettings {
    fn default() -> Self {
        RequestSettings {
            max_duration: Duration::from_hours(12),
            durations: [30, 60, 120, 240, 480, 720]
                .into_iter()
                .map(Duration::from_mins)
                .collect(),
            expiration: Duration::from_hours(8),
            reminders: true,
            reminder_initial_wait: Duration::from_mins(15),
            reminder_backoff: 2.0,
            max_reason_length: 2000,
            max_comment_length: 1000,
            rate_limit: 20,
            revoke_sessions: false,
            break_glass_review: Duration::from_hours(24),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconciliationMode {
    Warn,
    Revoke,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconciliationSettings {
    /// Whether `serve` runs reconciliation periodically.
    #[serde(deserialize_with = "lenient::bool")]
    pub enabled: bool,
    pub mode: ReconciliationMode,
    #[serde(deserialize_with = "lenient::duration")]
    pub interval: Duration,
    #[serde(deserialize_with = "lenient::u32")]
    pub max_calls_per_second: u32,
}

impl Default for ReconciliationSettings {
    fn default() -> Self {
        ReconciliationSettings {
            enabled: true,
            mode: ReconciliationMode::Warn,
            interval: Duration::from_hours(1),
            max_calls_per_second: 10,
        }
    }
}
