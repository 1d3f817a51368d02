//! The command line (docs/reference.md §1).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "liftgate",
    version,
    about = "Just-in-time AWS IAM Identity Center access from Slack, Teams and a signed webhook API."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway until SIGTERM or SIGINT, then drain in-flight work and exit.
    Serve(ConfigArg),
    /// Validate the configuration; print every error and warning with its location.
    CheckConfig(CheckConfigArgs),
    /// Work with the rules offline.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Run one reconciliation pass: find access in Identity Center that no grant explains.
    Reconcile(ReconcileArgs),
    /// Manage the state backend.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Write a commented starter configuration on the embedded defaults.
    Init(InitArgs),
    /// Convert another tool's configuration into liftgate.yaml.
    Migrate {
        #[command(subcommand)]
        command: MigrateCommand,
    },
    /// Verify and query the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Ask a gateway for access from a terminal, signed with your own AWS identity (an IAM
    /// Identity Center session: `aws sso login`); or read, revoke or cancel a request.
    Request(RequestArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RequestArgs {
    #[command(subcommand)]
    pub command: Option<RequestCommand>,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// Which gateway, and which AWS identity signs.
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// The gateway's URL, e.g. https://liftgate.example.com.
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,
    /// The value to sign as the gateway's cli.server_id [default: the host of --url].
    #[arg(long, value_name = "ID", global = true)]
    pub server_id: Option<String>,
    /// The AWS profile whose credentials sign [default: the SDK's chain: environment,
    /// AWS_PROFILE, the default profile, SSO].
    #[arg(long, value_name = "NAME", global = true)]
    pub profile: Option<String>,
    /// Print the gateway's JSON answer instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// The account id (with --permission-set).
    #[arg(
        long,
        value_name = "ID",
        requires = "permission_set",
        conflicts_with = "group"
    )]
    pub account: Option<String>,
    /// The permission set name (with --account).
    #[arg(long, value_name = "NAME", requires = "account")]
    pub permission_set: Option<String>,
    /// The Identity Center group id (instead of --account).
    #[arg(long, value_name = "GROUP_ID")]
    pub group: Option<String>,
    /// How long, e.g. 1h or 30m.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Why you need it (shown to approvers and kept in the audit).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Emergency: access now without approval, reviewed afterwards; only where a BreakGlass
    /// rule names you.
    #[arg(long)]
    pub break_glass: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RequestCommand {
    /// Show a request and its status.
    Status { id: String },
    /// End an active grant early.
    Revoke { id: String },
    /// Withdraw a pending request.
    Cancel { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and the signed checkpoints of a sink's records; name every object
    /// that breaks them. Exit 0 only when everything holds.
    Verify(AuditVerifyArgs),
    /// Filter a sink's records, or say who held access during a window.
    Query(AuditQueryArgs),
    /// Print the public key of audit.signing_key (SubjectPublicKeyInfo PEM), for verify.
    PublicKey(ConfigArg),
}

#[derive(Debug, Args)]
pub struct AuditSourceArgs {
    /// A file sink's directory, or an S3 sink's records: s3://BUCKET/PREFIX.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub source: String,
    /// Where the S3 sink's checkpoints are [default: s3://BUCKET/checkpoints].
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub checkpoints: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    pub source: AuditSourceArgs,
    /// The signer's public key (PEM), as `liftgate audit public-key` prints it.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Verify the chain from the first record at or after this time (RFC 3339 or a date).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct AuditQueryArgs {
    #[command(flatten)]
    pub source: AuditSourceArgs,
    /// Requester email, Slack user id or Teams user id.
    #[arg(long, value_name = "WHO")]
    pub requester: Option<String>,
    /// Approver email, Slack user id or Teams user id.
    #[arg(long, value_name = "WHO")]
    pub approver: Option<String>,
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub permission_set: Option<String>,
    /// Group id or name.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// requested, approved, denied, granted, revoked, expired, cancelled, failed, extended,
    /// drift_detected.
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
    /// slack, teams, webhook, cli, scheduler, reconciler.
    #[arg(long, value_name = "CHANNEL")]
    pub channel: Option<String>,
    /// Records at or after this time (RFC 3339 or a date).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Records before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Who held the access the other filters name at any moment between T1 and T2.
    #[arg(long, num_args = 2, value_names = ["T1", "T2"], conflicts_with_all = ["since", "until", "event", "channel", "approver"])]
    pub active_between: Option<Vec<String>>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: QueryFormat,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write it (`-` for stdout).
    #[arg(long, short, value_name = "FILE", default_value = "liftgate.yaml")]
    pub output: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Convert a terraform-aws-sso-elevator configuration (its module variables and/or its
    /// approval-config.json), reporting what mapped, changed or is unsupported.
    SsoElevator(SsoElevatorArgs),
}

#[derive(Debug, Args)]
pub struct SsoElevatorArgs {
    /// The module's variables: a .tfvars or .tfvars.json file, or a .tf file with the module.
    #[arg(long, value_name = "FILE", required_unless_present = "approval_config")]
    pub tfvars: Option<PathBuf>,
    /// The module's approval-config.json ({"statements": [...], "group_statements": [...]}).
    #[arg(long, value_name = "FILE")]
    pub approval_config: Option<PathBuf>,
    /// aws.region (the module takes it from its provider).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// aws.identity_store_id, when the module's identity_store_id was left empty.
    #[arg(long, value_name = "ID")]
    pub identity_store_id: Option<String>,
    /// Where to write liftgate.yaml (`-` for stdout).
    #[arg(long, short, value_name = "FILE", default_value = "liftgate.yaml")]
    pub output: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Also read Identity Center (the aws section, the standard credential chain): warn where
    /// a permission set's SessionDuration outlives the grants of a statement that does not
    /// end sessions at revoke.
    #[arg(long)]
    pub aws: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The config file [default: $LIFTGATE_CONFIG, then ./liftgate.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Evaluate the rules for one request, with no AWS or chat access.
    Explain(ExplainArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The requester's email.
    #[arg(long, value_name = "EMAIL")]
    pub requester: String,
    /// The account id (with --permission-set).
    #[arg(
        long,
        value_name = "ID",
        requires = "permission_set",
        conflicts_with = "group"
    )]
    pub account: Option<String>,
    /// The permission set name (with --account).
    #[arg(long, value_name = "NAME", requires = "account")]
    pub permission_set: Option<String>,
    /// The Identity Center group id (instead of --account).
    #[arg(long, value_name = "GROUP_ID", required_unless_present = "account")]
    pub group: Option<String>,
    /// Also say whether this person's approval counts.
    #[arg(long, value_name = "EMAIL")]
    pub approver: Option<String>,
    /// A group the requester is a member of (for AllowedGroups); repeatable.
    #[arg(long = "member-of", value_name = "GROUP_ID")]
    pub member_of: Vec<String>,
    /// Decide it as a break-glass request (over the BreakGlass statements only); with
    /// --approver, whether that person may review the use.
    #[arg(long)]
    pub break_glass: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Report what would be done without revoking or warning in chat.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Create what the configured state backend needs, if missing (idempotent).
    Init(ConfigArg),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
