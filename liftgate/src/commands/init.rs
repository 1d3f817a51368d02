//! `liftgate init`: writes a commented starter configuration on the embedded defaults, with one
//! example statement, so a newcomer starts from a file that passes `check-config` as written.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// The starter configuration. Every value set here is the embedded default (a test keeps them
/// in step with `Settings::default()`); the channels are commented out, to be filled in.
pub const STARTER: &str = r#"# Liftgate configuration (docs/reference.md §2), written by `liftgate init`.
#
# Every value below can be overridden by an environment variable LIFTGATE__SECTION__KEY
# (double underscores nest): LIFTGATE__SLACK__BOT_TOKEN, LIFTGATE__REQUESTS__MAX_DURATION, ...
# Secrets belong in the environment (a Kubernetes Secret), never in this file.
# Unknown keys are errors. Durations are written 90m, 4h, 1h30m.
# Check the file at any time, with no AWS or chat access:
#   liftgate check-config --config liftgate.yaml

# The HTTP listener Slack, Teams and the webhook API call.
server:
  listen: "0.0.0.0:8080"
  # Serve /healthz, /readyz and /metrics on a listener of their own (then they answer 404 on
  # `listen`, so an ingress in front of `listen` never exposes them). The Helm chart sets it.
  # admin_listen: "0.0.0.0:9090"
  # The public HTTPS address of `listen`, as Slack and Teams reach it.
  # public_url: "https://liftgate.example.com"
  shutdown_grace: 15s
  log_format: json              # or text, for reading locally

# Where Identity Center is. Needed by `serve` and `reconcile`, not by check-config or policy
# explain. Credentials come from the standard AWS chain (environment, profile, IRSA or EKS Pod
# Identity); the IAM policies are in manifests/iam/ and the Terraform module in deploy/terraform/.
# aws:
#   region: us-east-1
#   sso_instance_arn: "arn:aws:sso:::instance/ssoins-1234567890abcdef"   # Identity Center settings page
#   identity_store_id: "d-1234567890"
#   user_attribute: email       # or user_name: how an email finds its Identity Center user
#   provisioning_timeout: 60s

# Requests, grants and the outbox. The embedded SQLite file suits one replica with a persistent
# volume; several replicas share a DynamoDB table (backend: dynamodb, table: NAME).
state:
  backend: sqlite
  path: "./data/liftgate.db"

# Revocation timers. `local`: the sweeper revokes due grants from the state store. `eventbridge`
# also creates one EventBridge Scheduler schedule per grant, which revokes the access even if no
# Liftgate replica runs (group_name, role_arn; see manifests/iam/).
scheduler:
  backend: local
  sweep_interval: 5s

# Every step is one JSON record. Add an S3 sink (type: s3, bucket, prefix) for the format
# terraform-aws-sso-elevator's Athena table reads; it needs the aws section.
audit:
  sinks:
    - type: file
      dir: "./data/audit"

# Channels: a section left out turns that channel off. Fill in at least one.
# Slack: manifests/slack/app-manifest.yaml creates the app.
# slack:
#   channel_id: "C0123456789"     # the approvals channel; invite the bot to it
#   # signing_secret and bot_token come from LIFTGATE__SLACK__SIGNING_SECRET and
#   # LIFTGATE__SLACK__BOT_TOKEN.
#
# Microsoft Teams: manifests/teams/package.sh builds the app package.
# teams:
#   app_id: "00000000-0000-0000-0000-000000000000"
#   tenant_id: "00000000-0000-0000-0000-000000000000"
#   approvals_conversation_id: "19:abc@thread.tacv2"
#   # app_password comes from LIFTGATE__TEAMS__APP_PASSWORD.
#
# The signed webhook API (adapters/webhook/README.md):
# webhook:
#   clients:
#     - id: ci-bot
#       act_for: ["*"]
#       secret_env: LIFTGATE_WEBHOOK_CI_BOT_SECRET   # the variable holding its secret
#       # (at least 32 random characters); or secret: "..." in this file.

# What people may ask for, and how long requests wait for approval.
requests:
  max_duration: 12h
  durations: [30m, 1h, 2h, 4h, 8h, 12h]   # the choices the forms offer
  expiration: 8h                          # a pending request expires after this
  reminders: true                         # remind approvers, with exponential backoff
  reminder_initial_wait: 15m
  reminder_backoff: 2
  max_reason_length: 2000

# Reconciliation: user assignments and group memberships in the rules' scope that no grant
# explains. `warn` reports them in the approvals channel and the audit log; `revoke` also
# removes them.
reconciliation:
  enabled: true
  mode: warn
  interval: 1h
  max_calls_per_second: 10

# The rules (terraform-aws-sso-elevator's statements: its approval-config.json pasted here works
# unchanged). Try them offline:
#   liftgate policy explain --config liftgate.yaml --requester dev@example.com \
#     --account 111111111111 --permission-set ReadOnlyAccess
statements:
  - ResourceType: Account
    Resource: ["111111111111"]          # account ids, or "*"
    PermissionSet: [ReadOnlyAccess]     # permission set names, or "*"
    Approvers: [lead@example.com]       # who may approve
    MaxDuration: 4h                     # optional cap for requests under this rule
    # AllowSelfApproval: true           # an approver may approve their own request
    # ApprovalIsNotRequired: true       # granted at once
    # RequiredApprovals: 2              # distinct approvers needed, the requester never counts
    # AllowedUsers: [dev@example.com]   # only these people may request under this rule
    # AllowedGroups: ["<identity store group id>"]

# Membership of Identity Center groups, with the same keys (Resource is group ids).
group_statements: []
# group_statements:
#   - Resource: ["99999999-8888-7777-6666-555555555555"]
#     Approvers: [lead@example.com]
"#;

/// Writes the starter to `output` (`-` for stdout). Refuses to replace an existing file unless
/// `force`.
pub fn run(
    output: &Path,
    force: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    if output == Path::new("-") {
        stdout.write_all(STARTER.as_bytes())?;
        return Ok(());
    }
    write_new(output, STARTER, force)?;
    writeln!(
        stderr,
        "wrote {path}: the embedded defaults and one example statement. Next: fill in a channel \
         (slack, teams or webhook) and the aws section, then run liftgate check-config --config {path}",
        path = output.display()
    )?;
    Ok(())
}

/// Writes `contents` to a file that must not exist yet, unless `force`.
pub(crate) fn write_new(path: &Path, contents: &str, force: bool) -> anyhow::Result<()> {
    if !force && path.exists() {
        anyhow::bail!(
            "{} already exists; pass --force to replace it",
            path.display()
        );
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

    use liftgate_gateway::config::{
        AuditSettings, ReconciliationSettings, RequestSettings, SchedulerSettings, ServerSettings,
        StateSettings,
    };

    use super::STARTER;

    /// The starter's values are the embedded defaults, so it documents them truthfully.
    #[test]
    fn the_starter_sets_the_embedded_defaults() {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(STARTER).unwrap();
        let text = |path: &[&str]| {
            let mut node = &value;
            for key in path {
                node = &node[*key];
            }
            match node {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                other => panic!("{path:?} is {other:?}"),
            }
        };
        let server = ServerSettings::default();
        assert_eq!(text(&["server", "listen"]), server.listen);
        assert_eq!(
            text(&["server", "shutdown_grace"]),
            server.shutdown_grace.to_string()
        );
        let state = StateSettings::default();
        assert_eq!(text(&["state", "path"]), state.path);
        let scheduler = SchedulerSettings::default();
        assert_eq!(
            text(&["scheduler", "sweep_interval"]),
            scheduler.sweep_interval.to_string()
        );
        let audit = AuditSettings::default();
        assert_eq!(
            value["audit"]["sinks"][0]["dir"].as_str(),
            audit.sinks[0].dir.as_deref()
        );
        let requests = RequestSettings::default();
        assert_eq!(
            text(&["requests", "max_duration"]),
            requests.max_duration.to_string()
        );
        assert_eq!(
            text(&["requests", "expiration"]),
            requests.expiration.to_string()
        );
        assert_eq!(
            text(&["requests", "reminder_initial_wait"]),
            requests.reminder_initial_wait.to_string()
        );
        assert_eq!(
            text(&["requests", "reminder_backoff"])
                .parse::<f64>()
                .unwrap(),
            requests.reminder_backoff
        );
        assert_eq!(
            text(&["requests", "max_reason_length"]),
            requests.max_reason_length.to_string()
        );
        let durations: Vec<String> = value["requests"]["durations"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        let defaults: Vec<String> = requests.durations.iter().map(ToString::to_string).collect();
        assert_eq!(durations, defaults);
        let reconciliation = ReconciliationSettings::default();
        assert_eq!(
            text(&["reconciliation", "interval"]),
            reconciliation.interval.to_string()
        );
        assert_eq!(
            text(&["reconciliation", "max_calls_per_second"]),
            reconciliation.max_calls_per_second.to_string()
        );
    }
}
