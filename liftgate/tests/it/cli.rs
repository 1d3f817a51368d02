//! The offline commands: `--version`, `check-config`, `policy explain`.

use std::path::Path;
use std::process::{Command, Output};

fn liftgate(args: &[&str], config: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_liftgate"));
    command.args(args).env_remove("LIFTGATE_CONFIG");
    if let Some(config) = config {
        command.env("LIFTGATE_CONFIG", config);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_config(directory: &Path, body: &str) -> std::path::PathBuf {
    let path = directory.join("liftgate.yaml");
    std::fs::write(&path, body).unwrap();
    path
}

const RULES: &str = r#"
webhook:
  clients: []
requests:
  max_duration: 12h
statements:
  - ResourceType: Account
    Resource: ["111111111111"]
    PermissionSet: Admin
    Approvers: [alice@corp.com]
  - ResourceType: Account
    Resource: "*"
    PermissionSet: ReadOnly
    Approvers: [Bob@Corp.com, alice@corp.com]
    MaxDuration: 4h
  - ResourceType: Account
    Resource: ["222222222222"]
    PermissionSet: Admin
    Approvers: [cto@corp.com]
    AllowSelfApproval: true
  - ResourceType: Account
    Resource: ["111111111111"]
    PermissionSet: Admin
    BreakGlass: true
    AllowedUsers: [oncall@corp.com]
    Approvers: [alice@corp.com, sec@corp.com]
    MaxDuration: 2h
group_statements:
  - Resource: ["99999999-8888-7777-6666-555555555555"]
    Approvers: [cto@corp.com]
    AllowedGroups: ["11111111-2222-3333-4444-555555555555"]
"#;

fn explain_json(config: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "policy",
        "explain",
        "--config",
        config,
        "--account",
        "111111111111",
        "--permission-set",
        "Admin",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = liftgate(&args, None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn explain_shows_break_glass_for_an_allowed_requester_and_never_for_anyone_else() {
    let directory = tempfile::tempdir().unwrap();
    let path = write_config(directory.path(), RULES);
    let config = path.to_str().unwrap();
    assert_eq!(
        explain_json(
            config,
            &[
                "--requester",
                "oncall@corp.com",
                "--break-glass",
                "--approver",
                "sec@corp.com"
            ]
        ),
        serde_json::json!({"decision": "break_glass", "granted": true, "approvers": [],
            "reviewers": ["alice@corp.com", "sec@corp.com"], "statements": [3],
            "max_duration": "2h", "approver_permitted": true})
    );
    // The requester never reviews their own use.
    let own = explain_json(
        config,
        &[
            "--requester",
            "oncall@corp.com",
            "--break-glass",
            "--approver",
            "oncall@corp.com",
        ],
    );
    assert_eq!(own["approver_permitted"], false);
    let outsider = explain_json(config, &["--requester", "dave@corp.com", "--break-glass"]);
    assert_eq!(outsider["decision"], "requester_not_allowed");
    assert_eq!(outsider["granted"], false);
    // Without --break-glass the break-glass statement plays no part.
    let ordinary = explain_json(config, &["--requester", "oncall@corp.com"]);
    assert_eq!(ordinary["decision"], "requires_approval");
    assert_eq!(ordinary["statements"], serde_json::json!([0]));
    let output = liftgate(
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "oncall@corp.com",
            "--account",
            "111111111111",
            "--permission-set",
            "Admin",
            "--break-glass",
        ],
        None,
    );
    let shown = text(&output.stdout);
    assert!(shown.contains("decision:     break_glass"), "{shown}");
    assert!(
        shown.contains("reviewers:    alice@corp.com, sec@corp.com (afterwards)"),
        "{shown}"
    );
}

#[test]
fn version_prints_the_version() {
    let output = liftgate(&["--version"], None);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stdout).trim(),
        format!("liftgate {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_config_accepts_a_valid_file_with_warnings() {
    let directory = tempfile::tempdir().unwrap();
    let path = write_config(directory.path(), RULES);
    let output = liftgate(&["check-config", "--config", path.to_str().unwrap()], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("is valid: 4 statement(s), 1 group statement(s)"));
    assert!(
        text(&output.stderr).contains("warning: statements[1]"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn check_config_lists_every_error_with_its_location_and_exits_1() {
    let directory = tempfile::tempdir().unwrap();
    let path = write_config(
        directory.path(),
        "statements:\n  - ResourceType: Account\n    Resource: '111'\n    PermissionSet: Admin\n    Approvers: ['bob@']\n    AllowSelfAprovals: true\nserver:\n  listen: nowhere\n",
    );
    let output = liftgate(&["check-config"], Some(&path));
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    for expected in [
        "error: statements[0].Resource:",
        "error: statements[0].Approvers[0]: \"bob@\" is not an email",
        "error: statements[0].AllowSelfAprovals:",
        "error: server.listen:",
        "is not valid: 4 error(s)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
    }
    assert!(!stderr.contains("panicked"));
}

#[test]
fn check_config_without_a_file_says_so() {
    let directory = tempfile::tempdir().unwrap();
    let output = liftgate(
        &[
            "check-config",
            "--config",
            directory.path().join("missing.yaml").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cannot read config file"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn explain_prints_the_exact_json_of_spec_section_4() {
    let directory = tempfile::tempdir().unwrap();
    let path = write_config(directory.path(), RULES);
    let config = path.to_str().unwrap();
    let output = liftgate(
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "dave@corp.com",
            "--account",
            "111111111111",
            "--permission-set",
            "ReadOnly",
            "--format",
            "json",
        ],
        None,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"decision": "requires_approval", "granted": false,
            "approvers": ["alice@corp.com", "bob@corp.com"], "required_approvals": 1,
            "statements": [1], "max_duration": "4h"})
    );

    let output = liftgate(
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "CTO@corp.com",
            "--account",
            "222222222222",
            "--permission-set",
            "Admin",
            "--approver",
            "cto@corp.com",
            "--format",
            "json",
        ],
        None,
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"decision": "self_approval", "granted": true, "approvers": [],
            "statements": [2], "max_duration": "12h", "approver_permitted": true})
    );

    let output = liftgate(
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "dave@corp.com",
            "--group",
            "99999999-8888-7777-6666-555555555555",
            "--format",
            "json",
        ],
        None,
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["decision"], "requester_not_allowed");
    let output = liftgate(
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "dave@corp.com",
            "--group",
            "99999999-8888-7777-6666-555555555555",
            "--member-of",
            "11111111-2222-3333-4444-555555555555",
            "--format",
            "json",
        ],
        None,
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["decision"], "requires_approval");

    let output = liftgate(
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "dave@corp.com",
            "--account",
            "333333333333",
            "--permission-set",
            "Admin",
            "--format",
            "json",
        ],
        None,
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"decision": "no_statements", "granted": false, "approvers": [], "statements": []})
    );
}

#[test]
fn explain_has_a_readable_text_form() {
    let directory = tempfile::tempdir().unwrap();
    let path = write_config(directory.path(), RULES);
    let output = liftgate(
        &[
            "policy",
            "explain",
            "--config",
            path.to_str().unwrap(),
            "--requester",
            "dave@corp.com",
            "--account",
            "111111111111",
            "--permission-set",
            "Admin",
            "--approver",
            "dave@corp.com",
        ],
        None,
    );
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("decision:     requires_approval (not granted)"),
        "{stdout}"
    );
    assert!(stdout.contains("approvers:    alice@corp.com"), "{stdout}");
    assert!(
        stdout.contains("approval by dave@corp.com: does not count"),
        "{stdout}"
    );
}

#[test]
fn explain_exits_1_on_invalid_arguments_or_config() {
    let directory = tempfile::tempdir().unwrap();
    let path = write_config(directory.path(), RULES);
    let config = path.to_str().unwrap();
    let cases: [&[&str]; 4] = [
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "not-an-email",
            "--group",
            "g",
        ],
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "a@corp.com",
        ],
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "a@corp.com",
            "--account",
            "111111111111",
        ],
        &[
            "policy",
            "explain",
            "--config",
            config,
            "--requester",
            "a@corp.com",
            "--group",
            "g",
            "--format",
            "yaml",
        ],
    ];
    for args in cases {
        let output = liftgate(args, None);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(!text(&output.stderr).is_empty());
    }
    let broken = write_config(directory.path(), "statements: [{ResourceType: Nope}]\n");
    let output = liftgate(
        &[
            "policy",
            "explain",
            "--requester",
            "a@corp.com",
            "--group",
            "g",
        ],
        Some(&broken),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("statements[0]"),
        "{}",
        text(&output.stderr)
    );
}

/// `check-config --aws` reads each permission set's SessionDuration from Identity Center (moto:
/// the seeded sets last 1 h) and warns where a statement's grants are shorter and its sessions
/// are not ended at revoke; without the aws section, or with Identity Center unreachable, the
/// check that was asked for fails.
#[tokio::test]
async fn check_config_with_aws_warns_where_sessions_outlive_grants() {
    let moto = liftgate_testkit::moto::MotoServer::start();
    let org = crate::support::seed_org(&moto).await;
    let directory = tempfile::tempdir().unwrap();
    let aws = |endpoint: &str| {
        format!(
            "aws:\n  region: us-east-1\n  sso_instance_arn: \"{}\"\n  identity_store_id: \"{}\"\n  endpoint_url: \"{endpoint}\"\n",
            org.seed.instance_arn, org.seed.identity_store_id
        )
    };
    let rules = r#"
statements:
  - ResourceType: Account
    Resource: "*"
    PermissionSet: Admin
    Approvers: [lead@example.com]
    MaxDuration: 30m
  - ResourceType: Account
    Resource: "*"
    PermissionSet: ReadOnly
    Approvers: [lead@example.com]
    MaxDuration: 30m
    RevokeSessions: true
"#;
    let path = write_config(
        directory.path(),
        &format!("{}{rules}", aws(moto.endpoint())),
    );
    let run = |path: &Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_liftgate"));
        command
            .args(["check-config", "--aws", "--config", path.to_str().unwrap()])
            .env_remove("LIFTGATE_CONFIG")
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        command.output().unwrap()
    };
    let output = run(&path);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: statements[0].MaxDuration: grants last at most 30m but the SessionDuration of Admin (1h) is longer, and RevokeSessions is off"),
        "{stderr}"
    );
    assert!(!stderr.contains("SessionDuration of ReadOnly"), "{stderr}");
    assert!(text(&output.stdout).contains("1 session-duration warning(s)"));

    // Unreachable Identity Center: the check was not made, so it does not pass.
    let closed = directory.path().join("closed");
    std::fs::create_dir_all(&closed).unwrap();
    let unreachable = write_config(&closed, &format!("{}{rules}", aws("http://127.0.0.1:9")));
    let output = run(&unreachable);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("could not read the permission sets"),
        "{}",
        text(&output.stderr)
    );
    // No aws section: nothing to read.
    let offline = directory.path().join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    let output = run(&write_config(&offline, rules));
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("--aws needs the aws section"));
}
