//! `liftgate migrate sso-elevator`: terraform-aws-sso-elevator variables and approval configs
//! become a liftgate.yaml that `check-config` accepts, with a report of every variable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures/sso-elevator")
        .join(name)
}

fn liftgate(args: &[&str], directory: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_liftgate"));
    command
        .args(args)
        .current_dir(directory)
        .env_remove("LIFTGATE_CONFIG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const SECRETS: [(&str, &str); 2] = [
    ("LIFTGATE__SLACK__SIGNING_SECRET", "from-the-environment"),
    ("LIFTGATE__SLACK__BOT_TOKEN", "xoxb-from-the-environment"),
];

/// The report line for `variable`, e.g. "  changed      max_permissions_duration_time: ...".
fn report_line<'a>(report: &'a str, outcome: &str, variable: &str) -> &'a str {
    report
        .lines()
        .find(|line| {
            let line = line.trim_start();
            line.starts_with(outcome)
                && line[outcome.len()..]
                    .trim_start()
                    .starts_with(&format!("{variable}:"))
        })
        .unwrap_or_else(|| panic!("no {outcome} line for {variable} in:\n{report}"))
}

#[test]
fn tfvars_round_trip_through_check_config() {
    let directory = tempfile::tempdir().unwrap();
    let tfvars = fixture("terraform.tfvars");
    let output = liftgate(
        &[
            "migrate",
            "sso-elevator",
            "--tfvars",
            tfvars.to_str().unwrap(),
            "--region",
            "eu-central-1",
        ],
        directory.path(),
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report = text(&output.stderr);
    let written = std::fs::read_to_string(directory.path().join("liftgate.yaml")).unwrap();

    // Header comment, and the source of each value named beside it.
    assert!(written.starts_with("# liftgate.yaml converted from terraform-aws-sso-elevator"));
    assert!(written.contains("channel_id: C04ELEVATOR"));
    assert!(written.contains("# slack_channel_id"));
    assert!(written.contains("bucket: corp-sso-elevator-audit"));
    assert!(
        written.contains("prefix: logs "),
        "the trailing slash is dropped:\n{written}"
    );
    assert!(written.contains("max_duration: 12h"));
    assert!(written.contains("expiration: 4h"));
    assert!(written.contains("reminder_initial_wait: 10m"));
    assert!(written.contains("reminder_backoff: 3 "));
    assert!(written.contains("mode: warn"));
    assert!(written.contains("interval: 1h"));
    // Secrets never reach the file.
    assert!(!written.contains("0123456789abcdef0123456789abcdef"));
    assert!(!written.contains("xoxb-1111"));
    // Upstream accepted and ignored these; Liftgate would refuse them.
    assert!(!written.contains("Comment"));
    assert!(!written.contains("'yes'") && !written.contains(": yes"));

    for (outcome, variable) in [
        ("mapped", "slack_channel_id"),
        ("mapped", "slack_signing_secret"),
        ("mapped", "config"),
        ("mapped", "group_config"),
        ("mapped", "secondary_fallback_email_domains"),
        ("mapped", "s3_name_of_the_existing_bucket"),
        ("changed", "max_permissions_duration_time"),
        ("changed", "request_expiration_hours"),
        ("changed", "config[1].AllowSelfApproval"),
        ("changed", "config[1].Comment"),
        ("changed", "schedule_expression"),
        ("changed", "schedule_group_name"),
        ("unsupported", "revoker_post_update_to_slack"),
        ("unsupported", "lambda_memory_size"),
        ("unsupported", "attribute_sync_enabled"),
        ("unsupported", "log_level"),
    ] {
        report_line(&report, outcome, variable);
    }
    assert!(
        report_line(&report, "mapped", "slack_signing_secret")
            .contains("LIFTGATE__SLACK__SIGNING_SECRET")
    );
    assert!(report.contains("0 needing your input"), "{report}");

    // The round trip: the written file is a valid configuration (secrets from the environment).
    let check = liftgate(&["check-config"], directory.path(), &SECRETS);
    assert!(check.status.success(), "{}\n{written}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains("is valid: 4 statement(s), 1 group statement(s)"),
        "{}",
        text(&check.stdout)
    );

    // The rules mean what they meant upstream: the org-wide approver's statement applies.
    let explain = liftgate(
        &[
            "policy",
            "explain",
            "--requester",
            "dev@corp.example.com",
            "--account",
            "333333333333",
            "--permission-set",
            "AdministratorAccess",
            "--format",
            "json",
        ],
        directory.path(),
        &SECRETS,
    );
    assert!(explain.status.success(), "{}", text(&explain.stderr));
    let json: serde_json::Value = serde_json::from_slice(&explain.stdout).unwrap();
    assert_eq!(json["decision"], "requires_approval");
    assert_eq!(
        json["approvers"],
        serde_json::json!(["cto@corp.example.com", "security@corp.example.com"])
    );
}

#[test]
fn an_approval_config_alone_becomes_a_valid_config() {
    let directory = tempfile::tempdir().unwrap();
    let approval = fixture("approval-config.json");
    let output = liftgate(
        &[
            "migrate",
            "sso-elevator",
            "--approval-config",
            approval.to_str().unwrap(),
            "--output",
            "converted.yaml",
        ],
        directory.path(),
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report = text(&output.stderr);
    report_line(&report, "mapped", "statements");
    report_line(&report, "mapped", "group_statements");
    let check = liftgate(
        &["check-config", "--config", "converted.yaml"],
        directory.path(),
        &[],
    );
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("is valid: 2 statement(s), 1 group statement(s)"));
}

#[test]
fn a_module_block_is_read_and_what_terraform_evaluates_needs_input() {
    let directory = tempfile::tempdir().unwrap();
    let module = fixture("main.tf");
    let output = liftgate(
        &[
            "migrate",
            "sso-elevator",
            "--tfvars",
            module.to_str().unwrap(),
            "-o",
            "-",
        ],
        directory.path(),
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written = text(&output.stdout);
    let report = text(&output.stderr);
    assert!(
        written.contains("durations: [30m, 1h, 4h, 8h]"),
        "{written}"
    );
    assert!(written.contains("max_duration: 8h"), "{written}");
    // `one(data.aws_ssoadmin_instances.this.arns)` cannot be evaluated without Terraform.
    report_line(&report, "needs input", "sso_instance_arn");
    // Secrets read from SSM are expected to be expressions: nothing to report but the env var.
    assert!(
        !report.contains("needs input  slack_signing_secret"),
        "{report}"
    );
    report_line(&report, "mapped", "slack_bot_token");
    // source and version are the module block's own, not variables.
    assert!(
        !report.contains("source:") && !report.contains("  version:"),
        "{report}"
    );
}

#[test]
fn tfvars_json_is_read_too() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join("terraform.tfvars.json"),
        r#"{"slack_channel_id": "C1", "permission_duration_list_override": ["02:00", "00:45"],
            "config": [{"ResourceType": "Account", "Resource": "111111111111",
                        "PermissionSet": "ReadOnlyAccess", "ApprovalIsNotRequired": "true"}]}"#,
    )
    .unwrap();
    let output = liftgate(
        &[
            "migrate",
            "sso-elevator",
            "--tfvars",
            "terraform.tfvars.json",
        ],
        directory.path(),
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written = std::fs::read_to_string(directory.path().join("liftgate.yaml")).unwrap();
    assert!(written.contains("durations: [2h, 45m]"), "{written}");
    assert!(written.contains("ApprovalIsNotRequired: true"), "{written}");
    let check = liftgate(&["check-config"], directory.path(), &SECRETS);
    assert!(check.status.success(), "{}", text(&check.stderr));
}

#[test]
fn missing_aws_values_are_placeholders_that_check_config_refuses() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join("vars.tfvars"),
        "slack_channel_id = \"C1\"\ns3_bucket_name_for_audit_entry = \"my-audit\"\n",
    )
    .unwrap();
    let output = liftgate(
        &["migrate", "sso-elevator", "--tfvars", "vars.tfvars"],
        directory.path(),
        &[],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report = text(&output.stderr);
    report_line(&report, "needs input", "aws.region");
    report_line(&report, "needs input", "aws.sso_instance_arn");
    report_line(&report, "needs input", "aws.identity_store_id");
    assert!(report.contains("3 needing your input"), "{report}");
    let written = std::fs::read_to_string(directory.path().join("liftgate.yaml")).unwrap();
    assert!(written.contains("REPLACE_ME"));
    let check = liftgate(&["check-config"], directory.path(), &SECRETS);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stdout));
    assert!(text(&check.stderr).contains("aws.sso_instance_arn"));
}

#[test]
fn unreadable_input_fails_with_one_sentence() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("broken.tfvars"), "config = [ {\n").unwrap();
    std::fs::write(directory.path().join("broken.json"), "{\"statements\": [").unwrap();
    for (args, expected) in [
        (
            vec!["migrate", "sso-elevator", "--tfvars", "missing.tfvars"],
            "error: cannot read missing.tfvars",
        ),
        (
            vec!["migrate", "sso-elevator", "--tfvars", "broken.tfvars"],
            "error: broken.tfvars is not valid HCL",
        ),
        (
            vec![
                "migrate",
                "sso-elevator",
                "--approval-config",
                "broken.json",
            ],
            "error: broken.json is not valid JSON",
        ),
    ] {
        let output = liftgate(&args, directory.path(), &[]);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("panicked"));
        assert!(!directory.path().join("liftgate.yaml").exists());
    }
    let output = liftgate(&["migrate", "sso-elevator"], directory.path(), &[]);
    assert_eq!(output.status.code(), Some(1));

    // An existing file is never replaced without --force.
    std::fs::write(directory.path().join("liftgate.yaml"), "keep: me\n").unwrap();
    let approval = fixture("approval-config.json");
    let args = [
        "migrate",
        "sso-elevator",
        "--approval-config",
        approval.to_str().unwrap(),
    ];
    let output = liftgate(&args, directory.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(directory.path().join("liftgate.yaml")).unwrap(),
        "keep: me\n"
    );
}
