//! `liftgate migrate sso-elevator`: reads terraform-aws-sso-elevator's module variables (a
//! `.tfvars` file, or a `.tf` file with the `module` block) and/or its `approval-config.json`,
//! and writes `liftgate.yaml` with a report of every variable: mapped, changed (the meaning
//! shifts, e.g. hours become durations) or unsupported, plus the values only the user can give.
//!
//! The rules (`config` → `statements`, `group_config` → `group_statements`) are upstream's JSON
//! unchanged, except for what Liftgate refuses and upstream silently accepted: unknown keys are
//! dropped and `"yes"`-style booleans become booleans, each reported.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use hcl::eval::Evaluate;
use serde_json::{Map, Value};

use super::yaml;

/// What the command was given.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub tfvars: Option<PathBuf>,
    pub approval_config: Option<PathBuf>,
    /// `aws.region`: not a module variable (the provider's region).
    pub region: Option<String>,
    /// `aws.identity_store_id`, when the module's `identity_store_id` was left empty.
    pub identity_store_id: Option<String>,
}

/// How one variable carried over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Mapped,
    Changed,
    Unsupported,
    NeedsInput,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Mapped => "mapped",
            Outcome::Changed => "changed",
            Outcome::Unsupported => "unsupported",
            Outcome::NeedsInput => "needs input",
        })
    }
}

/// One line of the report: the upstream variable (or the Liftgate key) and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub outcome: Outcome,
    pub variable: String,
    pub note: String,
}

/// The result of a conversion: the YAML text and the report.
#[derive(Debug, Clone)]
pub struct Conversion {
    pub yaml: String,
    pub findings: Vec<Finding>,
}

impl Conversion {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.findings
            .iter()
            .filter(|finding| finding.outcome == outcome)
            .count()
    }
}

/// A module variable as read from HCL: a literal value, or an expression (a reference to a data
/// source, a function call) that cannot be evaluated without Terraform.
#[derive(Debug, Clone)]
enum Var {
    Literal(Value),
    Expression,
}

/// Runs the command: converts, writes `output` (`-` for stdout) and prints the report.
pub fn run(
    inputs: &Inputs,
    output: &Path,
    force: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let conversion = convert(inputs)?;
    let sources: Vec<String> = [&inputs.tfvars, &inputs.approval_config]
        .into_iter()
        .flatten()
        .map(|path| path.display().to_string())
        .collect();
    let target = if output == Path::new("-") {
        stdout.write_all(conversion.yaml.as_bytes())?;
        "stdout".to_owned()
    } else {
        super::super::init::write_new(output, &conversion.yaml, force)?;
        output.display().to_string()
    };
    writeln!(
        stderr,
        "Converted terraform-aws-sso-elevator settings from {} into {target}:",
        sources.join(" and ")
    )?;
    let width = "needs input".len();
    for finding in &conversion.findings {
        writeln!(
            stderr,
            "  {:<width$}  {}: {}",
            finding.outcome.to_string(),
            finding.variable,
            finding.note
        )?;
    }
    writeln!(
        stderr,
        "{} mapped, {} changed, {} unsupported, {} needing your input.",
        conversion.count(Outcome::Mapped),
        conversion.count(Outcome::Changed),
        conversion.count(Outcome::Unsupported),
        conversion.count(Outcome::NeedsInput),
    )?;
    let check = if target == "stdout" {
        "the file".to_owned()
    } else {
        format!("liftgate check-config --config {target}")
    };
    writeln!(
        stderr,
        "Next: fill in what needs your input, give the secrets as environment variables \
         (LIFTGATE__SLACK__SIGNING_SECRET, LIFTGATE__SLACK__BOT_TOKEN), then run {check}. \
         docs/migration-sso-elevator.md explains running both side by side."
    )?;
    Ok(())
}

/// Reads the inputs and converts them. Fails (one sentence) only when an input cannot be read.
pub fn convert(inputs: &Inputs) -> anyhow::Result<Conversion> {
    if inputs.tfvars.is_none() && inputs.approval_config.is_none() {
        anyhow::bail!("give --tfvars FILE or --approval-config FILE (or both)");
    }
    let vars = match &inputs.tfvars {
        Some(path) => read_tfvars(path)?,
        None => Vec::new(),
    };
    let approval = match &inputs.approval_config {
        Some(path) => Some(read_approval_config(path)?),
        None => None,
    };
    Ok(Converter::default().run(vars, approval, inputs))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display()))
}

/// The variables of a tfvars file, or of the first `module` block whose `source` names
/// sso-elevator when the file is Terraform code.
fn read_tfvars(path: &Path) -> anyhow::Result<Vec<(String, Var)>> {
    let text = read_text(path)?;
    if path
        .extension()
        .is_some_and(|extension| extension == "json")
    {
        return read_tfvars_json(path, &text);
    }
    let body = hcl::parse(&text).map_err(|error| {
        let message = error.to_string().replace('\n', " ");
        anyhow::anyhow!("{} is not valid HCL: {}", path.display(), message.trim())
    })?;
    let module = body.blocks().find(|block| {
        block.identifier() == "module"
            && block.body().attributes().any(|attribute| {
                attribute.key() == "source"
                    && matches!(attribute.expr(), hcl::Expression::String(source) if source.contains("sso-elevator"))
            })
    });
    let scope = module.map_or(&body, |block| block.body());
    let context = hcl::eval::Context::new();
    let mut vars = Vec::new();
    for attribute in scope.attributes() {
        if module.is_some() && matches!(attribute.key(), "source" | "version" | "providers") {
            continue;
        }
        let var = match attribute.expr().evaluate(&context) {
            Ok(value) => match serde_json::to_value(&value) {
                Ok(json) => Var::Literal(json),
                Err(_) => Var::Expression,
            },
            Err(_) => Var::Expression,
        };
        vars.push((attribute.key().to_owned(), var));
    }
    if vars.is_empty() {
        anyhow::bail!(
            "{} has no variables (a tfvars file, or a module block whose source is terraform-aws-sso-elevator)",
            path.display()
        );
    }
    Ok(vars)
}

/// `terraform.tfvars.json`: one object of variables.
fn read_tfvars_json(path: &Path, text: &str) -> anyhow::Result<Vec<(String, Var)>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| anyhow::anyhow!("{} is not valid JSON: {error}", path.display()))?;
    let Value::Object(map) = value else {
        anyhow::bail!("{} is not an object of variables", path.display());
    };
    if map.is_empty() {
        anyhow::bail!("{} has no variables", path.display());
    }
    Ok(map
        .into_iter()
        .map(|(name, value)| (name, Var::Literal(value)))
        .collect())
}

/// `approval-config.json`: `{"statements": [...], "group_statements": [...]}` as the module
/// writes it to S3, or a bare list of statements.
fn read_approval_config(path: &Path) -> anyhow::Result<(Value, Value)> {
    let text = read_text(path)?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|error| anyhow::anyhow!("{} is not valid JSON: {error}", path.display()))?;
    match value {
        Value::Object(mut map) => {
            let known = ["statements", "group_statements"];
            if let Some(other) = map.keys().find(|key| !known.contains(&key.as_str())) {
                anyhow::bail!(
                    "{} has the key {other:?}; an approval config has only statements and group_statements",
                    path.display()
                );
            }
            let statements = map.remove("statements").unwrap_or(Value::Array(Vec::new()));
            let groups = map
                .remove("group_statements")
                .unwrap_or(Value::Array(Vec::new()));
            Ok((statements, groups))
        }
        Value::Array(_) => Ok((value, Value::Array(Vec::new()))),
        _ => anyhow::bail!(
            "{} is not an approval config (an object with statements and group_statements)",
            path.display()
        ),
    }
}

/// Upstream defaults that change behaviour when left unset (`vars.tf`, 4.x).
const DEFAULT_MAX_HOURS: f64 = 24.0;
const DEFAULT_EXPIRATION_HOURS: f64 = 8.0;
const DEFAULT_RENOTIFICATION_MINUTES: f64 = 15.0;
const DEFAULT_BACKOFF: f64 = 2.0;
const DEFAULT_AUDIT_BUCKET: &str = "sso-elevator-audit-entry";

const STATEMENT_KEYS: [&str; 10] = [
    "ResourceType",
    "Resource",
    "PermissionSet",
    "Approvers",
    "AllowSelfApproval",
    "ApprovalIsNotRequired",
    "AllowedUsers",
    "AllowedGroups",
    "RequiredApprovals",
    "MaxDuration",
];
const GROUP_STATEMENT_KEYS: [&str; 8] = [
    "Resource",
    "Approvers",
    "AllowSelfApproval",
    "ApprovalIsNotRequired",
    "AllowedUsers",
    "AllowedGroups",
    "RequiredApprovals",
    "MaxDuration",
];

/// Variables that configure the Lambda / API Gateway deployment, which Liftgate does not have.
const INFRASTRUCTURE: [&str; 22] = [
    "create_api_gateway",
    "create_lambda_url",
    "ecr_repo_name",
    "ecr_repo_tag",
    "use_pre_created_image",
    "ecr_owner_account_id",
    "aws_sns_topic_subscription_email",
    "requester_lambda_name",
    "revoker_lambda_name",
    "event_brige_check_on_inconsistency_rule_name",
    "event_brige_scheduled_revocation_rule_name",
    "event_bridge_check_on_inconsistency_rule_name",
    "event_bridge_scheduled_revocation_rule_name",
    "api_gateway_throttling_burst_limit",
    "api_gateway_throttling_rate_limit",
    "api_gateway_name",
    "lambda_timeout",
    "lambda_architecture",
    "lambda_memory_size",
    "logs_retention_in_days",
    "config_bucket_name",
    "config_bucket_kms_key_arn",
];

/// What the converted file holds, section by section, each value with the comment naming its
/// source.
#[derive(Debug, Default)]
struct Converter {
    findings: Vec<Finding>,
    aws: BTreeMap<&'static str, (String, String)>,
    fallback_domains: Option<(Vec<String>, String)>,
    audit: Option<(String, String, String)>,
    slack_channel: Option<String>,
    requests: Vec<(&'static str, String, String)>,
    reconciliation_interval: Option<(String, String)>,
    statements: Vec<Value>,
    group_statements: Vec<Value>,
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => items.iter().map(text).collect(),
        Value::String(item) => Some(vec![item.clone()]),
        _ => None,
    }
}

/// Upstream's pydantic booleans: `"yes"`, `"on"`, `1` and friends.
fn truthy(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "t" | "y" => Some(true),
            "false" | "no" | "off" | "0" | "f" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whole minutes as a Liftgate duration: `1h30m`, `45m`, `24h`.
fn minutes_text(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

fn hours_to_minutes(hours: f64) -> Option<u64> {
    let minutes = (hours * 60.0).round();
    (1.0..=1.0e9).contains(&minutes).then_some(minutes as u64)
}

/// Upstream's `"hh:mm"` duration choice.
fn hh_mm(text: &str) -> Option<u64> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let hours: u64 = hours.parse().ok()?;
    let minutes: u64 = minutes.parse().ok()?;
    (minutes < 60 && hours * 60 + minutes > 0).then_some(hours * 60 + minutes)
}

/// `rate(2 hours)` → minutes; `None` for cron or anything else.
fn rate_minutes(expression: &str) -> Option<u64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (amount, unit) = inner.trim().split_once(' ')?;
    let amount: u64 = amount.parse().ok()?;
    let factor = match unit.trim().trim_end_matches('s') {
        "minute" => 1,
        "hour" => 60,
        "day" => 1440,
        _ => return None,
    };
    Some(amount * factor).filter(|minutes| *minutes > 0)
}

impl Converter {
    fn note(&mut self, outcome: Outcome, variable: &str, note: impl Into<String>) {
        self.findings.push(Finding {
            outcome,
            variable: variable.to_owned(),
            note: note.into(),
        });
    }

    fn run(
        mut self,
        vars: Vec<(String, Var)>,
        approval: Option<(Value, Value)>,
        inputs: &Inputs,
    ) -> Conversion {
        let mut literal: BTreeMap<String, Value> = BTreeMap::new();
        for (name, var) in vars {
            match var {
                Var::Literal(value) => {
                    literal.insert(name, value);
                }
                Var::Expression => {
                    let secret =
                        matches!(name.as_str(), "slack_signing_secret" | "slack_bot_token");
                    if !secret {
                        self.note(
                            Outcome::NeedsInput,
                            &name,
                            "is an expression Terraform evaluates (a data source, a function call); \
                             put its value in the file yourself",
                        );
                    }
                    literal.insert(name, Value::Null);
                }
            }
        }
        let get = |name: &str| literal.get(name).filter(|value| !value.is_null());

        // Rules.
        let from_tfvars = (get("config").cloned(), get("group_config").cloned());
        match approval {
            Some((statements, groups)) => {
                if from_tfvars.0.is_some() || from_tfvars.1.is_some() {
                    self.note(
                        Outcome::Changed,
                        "config",
                        "--approval-config given as well: its statements are used, config and group_config from the tfvars are not",
                    );
                }
                self.statements = self.rules(&statements, "statements", &STATEMENT_KEYS);
                self.group_statements =
                    self.rules(&groups, "group_statements", &GROUP_STATEMENT_KEYS);
            }
            None => {
                if let Some(statements) = &from_tfvars.0 {
                    self.statements = self.rules(statements, "config", &STATEMENT_KEYS);
                }
                if let Some(groups) = &from_tfvars.1 {
                    self.group_statements =
                        self.rules(groups, "group_config", &GROUP_STATEMENT_KEYS);
                }
            }
        }
        if self
            .statements
            .iter()
            .chain(&self.group_statements)
            .any(|statement| statement.get("Approvers").is_some())
        {
            self.note(
                Outcome::Changed,
                "statements",
                "approver and requester emails now compare case-insensitively, and explicit denies \
                 (AllowSelfApproval: false) hold at approval time too, closing upstream's self-approval bypass",
            );
        }

        let seen: std::cell::RefCell<Vec<String>> = std::cell::RefCell::new(Vec::new());
        let mark = |name: &str| seen.borrow_mut().push(name.to_owned());
        let take = |name: &str| {
            mark(name);
            get(name).cloned()
        };

        // Slack.
        if let Some(channel) = take("slack_channel_id").as_ref().and_then(text) {
            self.note(Outcome::Mapped, "slack_channel_id", "slack.channel_id");
            self.slack_channel = Some(channel);
        } else if inputs.tfvars.is_some() {
            self.note(
                Outcome::NeedsInput,
                "slack_channel_id",
                "not set: add slack.channel_id (the approvals channel) to turn Slack on",
            );
        }
        for (name, env) in [
            ("slack_signing_secret", "LIFTGATE__SLACK__SIGNING_SECRET"),
            ("slack_bot_token", "LIFTGATE__SLACK__BOT_TOKEN"),
        ] {
            if literal.contains_key(name) {
                mark(name);
                self.note(
                    Outcome::Mapped,
                    name,
                    format!("not written to the file: give it as the environment variable {env} (a Kubernetes Secret)"),
                );
            }
        }

        // AWS.
        let instance = take("sso_instance_arn")
            .as_ref()
            .and_then(text)
            .filter(|arn| !arn.trim().is_empty());
        if let Some(arn) = &instance {
            self.note(Outcome::Mapped, "sso_instance_arn", "aws.sso_instance_arn");
            self.aws.insert(
                "sso_instance_arn",
                (arn.clone(), "sso_instance_arn".to_owned()),
            );
        }
        let store = take("identity_store_id")
            .as_ref()
            .and_then(text)
            .filter(|id| !id.trim().is_empty());
        match (&store, &inputs.identity_store_id) {
            (_, Some(id)) => {
                self.aws.insert(
                    "identity_store_id",
                    (id.clone(), "--identity-store-id".to_owned()),
                );
            }
            (Some(id), None) => {
                self.note(
                    Outcome::Mapped,
                    "identity_store_id",
                    "aws.identity_store_id",
                );
                self.aws.insert(
                    "identity_store_id",
                    (id.clone(), "identity_store_id".to_owned()),
                );
            }
            (None, None) => {}
        }
        if let Some(region) = &inputs.region {
            self.aws
                .insert("region", (region.clone(), "--region".to_owned()));
        }
        if let Some(value) = take("secondary_fallback_email_domains") {
            match strings(&value) {
                Some(domains) if domains.is_empty() => {
                    self.note(
                        Outcome::Mapped,
                        "secondary_fallback_email_domains",
                        "empty: off, as in Liftgate",
                    );
                }
                Some(domains) => {
                    self.note(
                        Outcome::Mapped,
                        "secondary_fallback_email_domains",
                        "aws.fallback_email_domains (every use is flagged in chat and in the audit record, as upstream)",
                    );
                    self.fallback_domains =
                        Some((domains, "secondary_fallback_email_domains".to_owned()));
                }
                None => self.note(
                    Outcome::Unsupported,
                    "secondary_fallback_email_domains",
                    "is not a list of domains; left out",
                ),
            }
        }

        // Audit.
        let existing = take("s3_name_of_the_existing_bucket")
            .as_ref()
            .and_then(text)
            .filter(|name| !name.trim().is_empty());
        let named = take("s3_bucket_name_for_audit_entry")
            .as_ref()
            .and_then(text);
        let prefix_value = take("s3_bucket_partition_prefix");
        let prefix = prefix_value
            .as_ref()
            .and_then(text)
            .unwrap_or_else(|| "logs".to_owned());
        let prefix = prefix.trim().trim_matches('/').to_owned();
        let bucket = match (existing, named) {
            (Some(bucket), _) => {
                self.note(
                    Outcome::Mapped,
                    "s3_name_of_the_existing_bucket",
                    "audit.sinks[0].bucket: Liftgate writes its records beside upstream's, in the same format, so the same Athena table reads both",
                );
                Some((bucket, "s3_name_of_the_existing_bucket".to_owned()))
            }
            (None, Some(name)) if name != DEFAULT_AUDIT_BUCKET => {
                self.note(
                    Outcome::Mapped,
                    "s3_bucket_name_for_audit_entry",
                    "audit.sinks[0].bucket: the bucket the module created; the same Athena table reads both tools' records",
                );
                Some((name, "s3_bucket_name_for_audit_entry".to_owned()))
            }
            _ => {
                self.note(
                    Outcome::NeedsInput,
                    "s3_bucket_name_for_audit_entry",
                    "the module named the audit bucket it created sso-elevator-audit-entry-<random>: \
                     find it with `terraform output sso_elevator_bucket_id` and add an s3 sink with that bucket",
                );
                None
            }
        };
        if let Some((bucket, source)) = bucket {
            if prefix.is_empty() {
                self.note(
                    Outcome::Changed,
                    "s3_bucket_partition_prefix",
                    "empty (the bucket's root): Liftgate writes under the prefix `logs`; point the Athena table at both or move upstream's objects",
                );
            } else if prefix_value.is_some() {
                self.note(
                    Outcome::Mapped,
                    "s3_bucket_partition_prefix",
                    "audit.sinks[0].prefix",
                );
            }
            let prefix = if prefix.is_empty() {
                "logs".to_owned()
            } else {
                prefix
            };
            self.audit = Some((bucket, source, prefix));
        }

        // Requests.
        self.durations(
            take("max_permissions_duration_time"),
            take("permission_duration_list_override"),
        );
        match take("request_expiration_hours").as_ref().map(number) {
            Some(Some(0.0)) => self.note(
                Outcome::Unsupported,
                "request_expiration_hours",
                "0 (never expire): Liftgate requests always expire; kept its 8h default (requests.expiration)",
            ),
            Some(Some(hours)) => match hours_to_minutes(hours) {
                Some(minutes) => {
                    self.note(Outcome::Changed, "request_expiration_hours", "requests.expiration, hours become a duration");
                    self.requests.push(("expiration", minutes_text(minutes), "request_expiration_hours".to_owned()));
                }
                None => self.note(Outcome::Unsupported, "request_expiration_hours", "is not a number of hours; left out"),
            },
            Some(None) => self.note(Outcome::Unsupported, "request_expiration_hours", "is not a number; left out"),
            None => {
                self.requests.push((
                    "expiration",
                    minutes_text(DEFAULT_EXPIRATION_HOURS as u64 * 60),
                    "request_expiration_hours (upstream default)".to_owned(),
                ));
            }
        }
        let wait = take("approver_renotification_initial_wait_time")
            .as_ref()
            .map(number)
            .unwrap_or(Some(DEFAULT_RENOTIFICATION_MINUTES));
        match wait {
            Some(0.0) => {
                self.note(
                    Outcome::Mapped,
                    "approver_renotification_initial_wait_time",
                    "0: requests.reminders: false",
                );
                self.requests.push((
                    "reminders",
                    "false".to_owned(),
                    "approver_renotification_initial_wait_time = 0".to_owned(),
                ));
            }
            Some(minutes) if minutes >= 1.0 => {
                self.note(
                    Outcome::Changed,
                    "approver_renotification_initial_wait_time",
                    "requests.reminder_initial_wait, minutes become a duration",
                );
                self.requests
                    .push(("reminders", "true".to_owned(), String::new()));
                self.requests.push((
                    "reminder_initial_wait",
                    minutes_text(minutes.round() as u64),
                    "approver_renotification_initial_wait_time".to_owned(),
                ));
            }
            _ => self.note(
                Outcome::Unsupported,
                "approver_renotification_initial_wait_time",
                "is not a number of minutes; left out",
            ),
        }
        let backoff = take("approver_renotification_backoff_multiplier")
            .as_ref()
            .map(number)
            .unwrap_or(Some(DEFAULT_BACKOFF));
        match backoff {
            Some(0.0) => {
                self.note(
                    Outcome::Changed,
                    "approver_renotification_backoff_multiplier",
                    "0 (the wait stays the same): requests.reminder_backoff: 1",
                );
                self.requests.push((
                    "reminder_backoff",
                    "1".to_owned(),
                    "approver_renotification_backoff_multiplier".to_owned(),
                ));
            }
            Some(factor) if (1.0..=100.0).contains(&factor) => {
                self.note(
                    Outcome::Mapped,
                    "approver_renotification_backoff_multiplier",
                    "requests.reminder_backoff",
                );
                let shown = if factor.fract() == 0.0 {
                    format!("{}", factor as u64)
                } else {
                    factor.to_string()
                };
                self.requests.push((
                    "reminder_backoff",
                    shown,
                    "approver_renotification_backoff_multiplier".to_owned(),
                ));
            }
            _ => self.note(
                Outcome::Unsupported,
                "approver_renotification_backoff_multiplier",
                "must be 0 or between 1 and 100 for Liftgate; left out",
            ),
        }

        // Reconciliation.
        let revoke = take("schedule_expression").as_ref().and_then(text);
        let check = take("schedule_expression_for_check_on_inconsistency")
            .as_ref()
            .and_then(text);
        let interval = check.as_deref().and_then(rate_minutes).unwrap_or(120);
        self.note(
            Outcome::Changed,
            "schedule_expression_for_check_on_inconsistency",
            format!(
                "reconciliation.interval {}: one pass in one mode; mode warn, so neither tool removes the other's grants while both run",
                minutes_text(interval)
            ),
        );
        self.note(
            Outcome::Changed,
            "schedule_expression",
            format!(
                "upstream revoked unknown assignments at {}; Liftgate does in reconciliation.mode: revoke, \
                 which this file leaves at warn until sso-elevator is removed",
                revoke.as_deref().unwrap_or("cron(0 23 * * ? *)")
            ),
        );
        self.reconciliation_interval = Some((
            minutes_text(interval),
            "schedule_expression_for_check_on_inconsistency".to_owned(),
        ));

        // Behaviour Liftgate has differently, or not at all.
        for (name, outcome, note) in [
            (
                "schedule_group_name",
                Outcome::Changed,
                "Liftgate keeps its own schedule group (scheduler.group_name, default liftgate; deploy/terraform creates it); upstream's pending revocations stay in their group and still fire",
            ),
            (
                "schedule_role_name",
                Outcome::Unsupported,
                "deploy/terraform creates Liftgate's scheduler role (output scheduler_role_arn → scheduler.role_arn)",
            ),
            (
                "revoker_post_update_to_slack",
                Outcome::Unsupported,
                "no switch: Liftgate always tells the approvals channel and the requester when access ends",
            ),
            (
                "send_dm_if_user_not_in_channel",
                Outcome::Changed,
                "Liftgate always follows a request in the requester's direct messages",
            ),
            (
                "log_level",
                Outcome::Unsupported,
                "set RUST_LOG (e.g. info, debug) in the environment",
            ),
            (
                "cache_enabled",
                Outcome::Unsupported,
                "Liftgate caches accounts and permission sets in memory; nothing to set",
            ),
            (
                "tags",
                Outcome::Unsupported,
                "infrastructure: deploy/terraform's variable tags",
            ),
            (
                "s3_logging",
                Outcome::Unsupported,
                "audit bucket settings stay with the bucket (deploy/terraform: audit_access_log_bucket)",
            ),
            (
                "s3_mfa_delete",
                Outcome::Unsupported,
                "audit bucket settings stay with the bucket",
            ),
            (
                "s3_object_lock",
                Outcome::Unsupported,
                "audit bucket settings stay with the bucket (deploy/terraform: audit_object_lock_days)",
            ),
            (
                "s3_object_lock_configuration",
                Outcome::Unsupported,
                "audit bucket settings stay with the bucket (deploy/terraform: audit_object_lock_mode, audit_object_lock_days)",
            ),
        ] {
            if literal.contains_key(name) {
                mark(name);
                self.note(outcome, name, note);
            }
        }
        let mut attribute_sync = Vec::new();
        for name in literal.keys() {
            if seen.borrow().contains(name) || matches!(name.as_str(), "config" | "group_config") {
                continue;
            }
            if INFRASTRUCTURE.contains(&name.as_str()) {
                self.note(
                    Outcome::Unsupported,
                    name,
                    "Lambda / API Gateway infrastructure: Liftgate is one container (helm/liftgate)",
                );
            } else if name.starts_with("attribute_sync") || name == "attribute_syncer_lambda_name" {
                attribute_sync.push(name.clone());
            } else {
                self.note(
                    Outcome::Unsupported,
                    name,
                    "not a terraform-aws-sso-elevator 4.x variable; ignored",
                );
            }
        }
        for name in attribute_sync {
            self.note(
                Outcome::Unsupported,
                &name,
                "attribute-based group sync has no Liftgate equivalent; keep the syncer or move the rules to your identity provider",
            );
        }

        // aws is needed as soon as anything AWS is in the file; what is missing needs input.
        let needs_aws =
            !self.aws.is_empty() || self.audit.is_some() || self.fallback_domains.is_some();
        if needs_aws {
            for (key, hint) in [
                (
                    "region",
                    "the region of Identity Center and the audit bucket: pass --region or edit the file",
                ),
                (
                    "sso_instance_arn",
                    "upstream found the first instance itself; Liftgate needs it named (Identity Center console → Settings)",
                ),
                (
                    "identity_store_id",
                    "upstream's identity_store_id was empty: pass --identity-store-id or copy it from Identity Center → Settings",
                ),
            ] {
                if !self.aws.contains_key(key) {
                    self.note(Outcome::NeedsInput, &format!("aws.{key}"), hint);
                    self.aws
                        .insert(key, ("REPLACE_ME".to_owned(), "NEEDS INPUT".to_owned()));
                }
            }
        }
        let yaml = self.render(inputs);
        let mut findings = self.findings;
        findings.sort_by_key(|finding| finding.outcome);
        Conversion { yaml, findings }
    }

    /// `config` / `group_config` (or the approval config's lists) as Liftgate statements.
    fn rules(&mut self, value: &Value, variable: &str, known: &[&str]) -> Vec<Value> {
        let items: Vec<Value> = match value {
            Value::Array(items) => items.clone(),
            Value::Object(_) => vec![value.clone()],
            Value::Null => Vec::new(),
            _ => {
                self.note(
                    Outcome::Unsupported,
                    variable,
                    "is not a list of statements; left out",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let path = format!("{variable}[{index}]");
            let Value::Object(map) = item else {
                self.note(
                    Outcome::Unsupported,
                    &path,
                    "is not a statement (a mapping); left out",
                );
                continue;
            };
            let mut statement = Map::new();
            for (key, value) in map {
                if !known.contains(&key.as_str()) {
                    self.note(
                        Outcome::Changed,
                        &format!("{path}.{key}"),
                        "dropped: upstream ignored unknown keys, Liftgate refuses them",
                    );
                    continue;
                }
                let value = match key.as_str() {
                    "AllowSelfApproval" | "ApprovalIsNotRequired" => match (truthy(&value), &value)
                    {
                        (Some(flag), Value::Bool(_)) => Value::Bool(flag),
                        (Some(flag), other) => {
                            self.note(
                                Outcome::Changed,
                                &format!("{path}.{key}"),
                                format!("{other} read as {flag}, as upstream did; Liftgate wants a boolean"),
                            );
                            Value::Bool(flag)
                        }
                        (None, _) => value,
                    },
                    _ => value,
                };
                statement.insert(key, value);
            }
            out.push(Value::Object(statement));
        }
        let target = if known.contains(&"PermissionSet") {
            "statements"
        } else {
            "group_statements"
        };
        self.note(
            Outcome::Mapped,
            variable,
            format!("{target} ({} unchanged in meaning)", out.len()),
        );
        out
    }

    fn durations(&mut self, max: Option<Value>, list: Option<Value>) {
        let listed: Vec<u64> = match list.as_ref().and_then(strings) {
            Some(entries) if !entries.is_empty() => {
                let mut minutes = Vec::new();
                for entry in entries {
                    match hh_mm(&entry) {
                        Some(value) => minutes.push(value),
                        None => self.note(
                            Outcome::Unsupported,
                            "permission_duration_list_override",
                            format!("{entry:?} is not hh:mm; left out"),
                        ),
                    }
                }
                minutes
            }
            _ => Vec::new(),
        };
        if !listed.is_empty() {
            let longest = listed.iter().copied().max().unwrap_or(60);
            self.note(
                Outcome::Changed,
                "permission_duration_list_override",
                "requests.durations (hh:mm become durations); requests.max_duration is the longest of them, since upstream ignored max_permissions_duration_time then",
            );
            if max.is_some() {
                self.note(
                    Outcome::Changed,
                    "max_permissions_duration_time",
                    "ignored, as upstream does when permission_duration_list_override is set",
                );
            }
            self.requests.push((
                "max_duration",
                minutes_text(longest),
                "longest of permission_duration_list_override".to_owned(),
            ));
            let texts: Vec<String> = listed.into_iter().map(minutes_text).collect();
            self.requests.push((
                "durations",
                yaml::flow_list(&texts),
                "permission_duration_list_override".to_owned(),
            ));
            return;
        }
        let (hours, source) = match max.as_ref() {
            Some(value) => match number(value) {
                Some(hours) => (hours, "max_permissions_duration_time"),
                None => {
                    self.note(
                        Outcome::Unsupported,
                        "max_permissions_duration_time",
                        "is not a number of hours; upstream's default 24 used",
                    );
                    (
                        DEFAULT_MAX_HOURS,
                        "max_permissions_duration_time (upstream default)",
                    )
                }
            },
            None => (
                DEFAULT_MAX_HOURS,
                "max_permissions_duration_time (upstream default)",
            ),
        };
        let Some(minutes) = hours_to_minutes(hours) else {
            self.note(
                Outcome::Unsupported,
                "max_permissions_duration_time",
                "must be positive; left out",
            );
            return;
        };
        if max.is_some() {
            self.note(
                Outcome::Changed,
                "max_permissions_duration_time",
                "requests.max_duration (hours become a duration) and requests.durations: every half hour up to it, the choices upstream offered",
            );
        }
        // Upstream offers half-hour steps from 00:30, at most 99 of them.
        let steps = ((minutes / 30).clamp(1, 99)) as usize;
        let choices: Vec<String> = (1..=steps)
            .map(|step| minutes_text(step as u64 * 30))
            .collect();
        self.requests
            .push(("max_duration", minutes_text(minutes), source.to_owned()));
        self.requests.push((
            "durations",
            yaml::flow_list(&choices),
            "half-hour steps, as upstream".to_owned(),
        ));
    }

    fn render(&self, inputs: &Inputs) -> String {
        let mut out = String::new();
        let sources: Vec<String> = [&inputs.tfvars, &inputs.approval_config]
            .into_iter()
            .flatten()
            .map(|path| {
                path.file_name().map_or_else(
                    || path.display().to_string(),
                    |name| name.to_string_lossy().into_owned(),
                )
            })
            .collect();
        out.push_str(&format!(
            "# liftgate.yaml converted from terraform-aws-sso-elevator ({}) by\n\
             # `liftgate migrate sso-elevator`. The comment on each value names the variable it came from;\n\
             # the report printed with it lists what mapped, what changed meaning and what Liftgate does not\n\
             # support. Values marked NEEDS INPUT must be filled in before `liftgate check-config` passes.\n\
             #\n\
             # Secrets are never written here: give them as environment variables (a Kubernetes Secret),\n\
             # LIFTGATE__SLACK__SIGNING_SECRET and LIFTGATE__SLACK__BOT_TOKEN.\n\
             # docs/migration-sso-elevator.md covers the Slack app, the audit bucket and running both side\n\
             # by side; docs/deployment.md the Terraform module and Helm values that complete this file.\n\n",
            sources.join(", ")
        ));
        out.push_str("server:\n");
        out.push_str(&yaml::line(2, "listen", &yaml::string("0.0.0.0:8080"), ""));
        out.push('\n');
        if !self.aws.is_empty() {
            out.push_str("aws:\n");
            for key in ["region", "sso_instance_arn", "identity_store_id"] {
                if let Some((value, source)) = self.aws.get(key) {
                    out.push_str(&yaml::line(2, key, &yaml::string(value), source));
                }
            }
            if let Some((domains, source)) = &self.fallback_domains {
                out.push_str(&yaml::line(
                    2,
                    "fallback_email_domains",
                    &yaml::flow_list(domains),
                    source,
                ));
            }
            out.push('\n');
        }
        out.push_str(
            "# State and revocation timers: the embedded defaults suit one replica. For production, use\n\
             # what deploy/terraform creates (its outputs fill these in; see docs/deployment.md):\n\
             #   state: {backend: dynamodb, table: liftgate-state}\n\
             #   scheduler: {backend: eventbridge, group_name: liftgate, role_arn: <scheduler_role_arn>}\n\
             state:\n  backend: sqlite\n  path: \"./data/liftgate.db\"\n\
             scheduler:\n  backend: local\n\n",
        );
        out.push_str("audit:\n  sinks:\n");
        match &self.audit {
            Some((bucket, bucket_source, prefix)) => {
                out.push_str(&yaml::line(
                    4,
                    "- type",
                    "s3",
                    "same bucket, prefix and record fields: the same Athena table",
                ));
                out.push_str(&yaml::line(
                    6,
                    "bucket",
                    &yaml::string(bucket),
                    bucket_source,
                ));
                out.push_str(&yaml::line(
                    6,
                    "prefix",
                    &yaml::string(prefix),
                    "s3_bucket_partition_prefix",
                ));
            }
            None => {
                out.push_str("    - type: file                              # NEEDS INPUT: an s3 sink on upstream's audit bucket\n");
                out.push_str("      dir: \"./data/audit\"\n");
            }
        }
        out.push('\n');
        if let Some(channel) = &self.slack_channel {
            out.push_str("slack:\n");
            out.push_str(&yaml::line(
                2,
                "channel_id",
                &yaml::string(channel),
                "slack_channel_id",
            ));
            out.push_str(
                "  # signing_secret and bot_token: LIFTGATE__SLACK__SIGNING_SECRET, LIFTGATE__SLACK__BOT_TOKEN.\n\
                 # The shortcut callback ids are upstream's, so the existing Slack app keeps working: point its\n\
                 # request URLs at Liftgate (manifests/slack/app-manifest.yaml has the rest).\n\n",
            );
        }
        if !self.requests.is_empty() {
            out.push_str("requests:\n");
            for (key, value, source) in &self.requests {
                out.push_str(&yaml::line(2, key, value, source));
            }
            out.push('\n');
        }
        out.push_str("reconciliation:\n");
        out.push_str(&yaml::line(
            2,
            "mode",
            "warn",
            "revoke once sso-elevator is gone (schedule_expression)",
        ));
        if let Some((interval, source)) = &self.reconciliation_interval {
            out.push_str(&yaml::line(2, "interval", interval, source));
        }
        out.push('\n');
        out.push_str("# config (approval-config.json statements), unchanged in meaning.\n");
        if self.statements.is_empty() {
            out.push_str("statements: []\n");
        } else {
            out.push_str("statements:\n");
            out.push_str(&yaml::block(&Value::Array(self.statements.clone()), 2));
        }
        out.push_str("# group_config, unchanged in meaning.\n");
        if self.group_statements.is_empty() {
            out.push_str("group_statements: []\n");
        } else {
            out.push_str("group_statements:\n");
            out.push_str(&yaml::block(
                &Value::Array(self.group_statements.clone()),
                2,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

    use super::*;

    #[test]
    fn durations_and_rates_read_as_upstream_meant_them() {
        assert_eq!(minutes_text(90), "1h30m");
        assert_eq!(minutes_text(30), "30m");
        assert_eq!(minutes_text(1440), "24h");
        assert_eq!(hh_mm("01:30"), Some(90));
        assert_eq!(hh_mm("24:00"), Some(1440));
        assert_eq!(hh_mm("1:75"), None);
        assert_eq!(hh_mm("00:00"), None);
        assert_eq!(rate_minutes("rate(2 hours)"), Some(120));
        assert_eq!(rate_minutes("rate(1 day)"), Some(1440));
        assert_eq!(rate_minutes("cron(0 23 * * ? *)"), None);
        assert_eq!(truthy(&Value::from("yes")), Some(true));
        assert_eq!(truthy(&Value::from("Off")), Some(false));
        assert_eq!(truthy(&Value::from("maybe")), None);
    }

    #[test]
    fn unknown_keys_are_dropped_and_reported() {
        let mut converter = Converter::default();
        let rules = converter.rules(
            &serde_json::json!([{"ResourceType": "Account", "Resource": "*", "PermissionSet": "X",
                "Approvers": "a@b.co", "AllowSelfApproval": "yes", "Comment": "x"}]),
            "config",
            &STATEMENT_KEYS,
        );
        assert_eq!(rules[0]["AllowSelfApproval"], Value::Bool(true));
        assert!(rules[0].get("Comment").is_none());
        let variables: Vec<&str> = converter
            .findings
            .iter()
            .map(|finding| finding.variable.as_str())
            .collect();
        assert!(variables.contains(&"config[0].Comment"), "{variables:?}");
        assert!(
            variables.contains(&"config[0].AllowSelfApproval"),
            "{variables:?}"
        );
    }
}
