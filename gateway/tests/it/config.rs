//! Configuration loading: the complete example of docs/reference.md §2, the upstream rules file,
//! environment overrides, every kind of error with its location, and no panic on any input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use liftgate_gateway::config::{
    ConfigErrors, ConfigSource, LoadedConfig, ReconciliationMode, SchedulerBackend,
    SessionNameAttribute, StateBackend, load,
};
use proptest::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name)
}

fn load_text(text: &str, env: &[(&str, &str)]) -> Result<LoadedConfig, ConfigErrors> {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("liftgate.yaml");
    std::fs::write(&path, text).unwrap();
    let env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    load(&ConfigSource { path, env })
}

fn error_lines(errors: &ConfigErrors) -> Vec<String> {
    errors.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn the_complete_example_of_appendix_a_is_valid() {
    let loaded = load(&ConfigSource {
        path: fixture("appendix-a.yaml"),
        env: HashMap::new(),
    })
    .unwrap_or_else(|errors| panic!("{errors}"));
    let settings = &loaded.settings;
    assert_eq!(settings.server.listen, "127.0.0.1:8080");
    assert_eq!(
        settings.aws.as_ref().unwrap().endpoint_url.as_deref(),
        Some("http://127.0.0.1:5000")
    );
    assert_eq!(settings.state.backend, StateBackend::Sqlite);
    assert_eq!(settings.scheduler.backend, SchedulerBackend::Local);
    assert_eq!(settings.audit.sinks.len(), 2);
    assert_eq!(settings.slack.as_ref().unwrap().channel_id, "C0123456789");
    assert_eq!(
        settings.teams.as_ref().unwrap().allowed_service_url_hosts,
        ["smba.trafficmanager.net"]
    );
    assert_eq!(settings.webhook.as_ref().unwrap().clients[0].act_for, ["*"]);
    assert_eq!(settings.reconciliation.mode, ReconciliationMode::Warn);
    assert_eq!(settings.requests.durations.len(), 6);
    assert_eq!(loaded.rules.statements.len(), 1);
    assert_eq!(loaded.rules.group_statements.len(), 1);
}

#[test]
fn the_upstream_approval_config_loads_unchanged_under_the_two_keys() {
    let upstream: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("upstream-approval-config.json")).unwrap(),
    )
    .unwrap();
    let text = format!(
        "webhook:\n  clients: []\nstatements: {}\ngroup_statements: {}\n",
        upstream["statements"], upstream["group_statements"]
    );
    let loaded = load_text(&text, &[]).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(loaded.rules.statements.len(), 3);
    assert_eq!(
        loaded.rules.statements[0].approvers[0].as_str(),
        "cto@example.com"
    );
}

#[test]
fn an_empty_file_is_the_embedded_defaults() {
    let loaded = load_text("", &[]).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(loaded.settings.server.listen, "0.0.0.0:8080");
    assert_eq!(loaded.settings.requests.max_duration.to_string(), "12h");
    assert_eq!(loaded.settings.requests.expiration.to_string(), "8h");
    assert_eq!(loaded.settings.reconciliation.max_calls_per_second, 10);
    assert_eq!(loaded.settings.state.path, "./data/liftgate.db");
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("nobody can make a request"))
    );
}

#[test]
fn environment_overrides_nest_with_double_underscores() {
    let text = "slack:\n  signing_secret: from-file\n  bot_token: xoxb-1\n  channel_id: C1\nreconciliation:\n  mode: warn\n";
    let loaded = load_text(
        text,
        &[
            ("LIFTGATE__SLACK__SIGNING_SECRET", "from-env"),
            ("LIFTGATE__RECONCILIATION__MAX_CALLS_PER_SECOND", "5"),
            ("LIFTGATE__RECONCILIATION__MODE", "revoke"),
            ("LIFTGATE__REQUESTS__MAX_DURATION", "4h"),
            ("LIFTGATE__REQUESTS__DURATIONS", "1h,2h"),
            ("LIFTGATE__SLACK__SOCKET_MODE", "false"),
            ("LIFTGATE_CONFIG", "ignored.yaml"),
        ],
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let slack = loaded.settings.slack.unwrap();
    assert_eq!(slack.signing_secret.expose(), "from-env");
    assert_eq!(loaded.settings.reconciliation.max_calls_per_second, 5);
    assert_eq!(
        loaded.settings.reconciliation.mode,
        ReconciliationMode::Revoke
    );
    assert_eq!(loaded.settings.requests.max_duration.to_string(), "4h");
    assert_eq!(loaded.settings.requests.durations.len(), 2);
}

#[test]
fn webhook_secrets_come_from_the_variables_secret_env_names() {
    let text = "webhook:\n  clients:\n    - id: ci\n      secret_env: CI_SECRET\n      act_for: ['*']\n  subscribers:\n    - url: https://hooks.example.com/x\n      secret_env: HOOK_SECRET\n";
    let loaded = load_text(
        text,
        &[("CI_SECRET", "from-env-1"), ("HOOK_SECRET", "from-env-2")],
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let webhook = loaded.settings.webhook.unwrap();
    assert_eq!(webhook.clients[0].secret.expose(), "from-env-1");
    assert_eq!(webhook.subscribers[0].secret.expose(), "from-env-2");

    let errors = load_text(text, &[("CI_SECRET", "")]).unwrap_err();
    let lines = error_lines(&errors);
    assert!(
        lines
            .iter()
            .any(|line| line.contains("webhook.clients[0].secret_env")
                && line.contains("CI_SECRET is not set"))
            && lines
                .iter()
                .any(|line| line.contains("webhook.subscribers[0].secret_env")),
        "{lines:?}"
    );
    let both = "webhook:\n  clients:\n    - id: ci\n      secret: s\n      secret_env: CI_SECRET\n      act_for: ['*']\n";
    let lines = error_lines(&load_text(both, &[("CI_SECRET", "x")]).unwrap_err());
    assert!(
        lines.iter().any(|line| line.contains("not both")),
        "{lines:?}"
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let text = "slack:\n  signing_secret: s3cr3t-signing\n  bot_token: xoxb-s3cr3t\n  channel_id: C1\nwebhook:\n  clients:\n    - id: ci\n      secret: s3cr3t-webhook-0123456789\n      act_for: ['*']\n";
    let loaded = load_text(text, &[]).unwrap_or_else(|errors| panic!("{errors}"));
    let debug = format!("{:?}", loaded.settings);
    assert!(!debug.contains("s3cr3t"), "{debug}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let text = r#"
server:
  listen: "not an address"
  colour: blue
state:
  backend: dynamo
slack:
  signing_secret: abc
  channel_id: C1
requests:
  max_duration: 12
  expiration: 8h
reconciliation:
  max_calls_per_second: lots
statements:
  - ResourceType: Account
    Resource: "111111111111"
    PermissionSet: Admin
    Approvers: ["alice@corp.com", "bob@"]
    AllowSelfAprovals: true
  - ResourceType: Account
    Resource: "1234"
    PermissionSet: Admin
surprise: true
"#;
    let errors = load_text(text, &[]).unwrap_err();
    let lines = error_lines(&errors);
    let expect = [
        "surprise: unknown section",
        "server.colour: unknown key",
        "server.listen: \"not an address\" is not an address",
        "state.backend: unknown variant `dynamo`",
        "slack.bot_token: is required",
        "requests.max_duration: 12 is not a duration",
        "reconciliation.max_calls_per_second: \"lots\" is not a whole number",
        "statements[0].Approvers[1]: \"bob@\" is not an email",
        "statements[0].AllowSelfAprovals",
        "statements[1].Resource",
    ];
    for expected in expect {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "missing {expected:?} in {lines:#?}"
        );
    }
    // server.listen is only checked once the section parses; the parse errors come first.
    assert!(lines.len() >= expect.len() - 1, "{lines:#?}");
}

#[test]
fn form_sessions_are_bounded_by_count_and_age() {
    let slack = "slack:\n  signing_secret: s\n  bot_token: xoxb-1\n  channel_id: C1\n";
    let loaded = load_text(slack, &[]).unwrap();
    let defaults = loaded.settings.slack.unwrap();
    assert_eq!(defaults.form_sessions, 1000);
    assert_eq!(defaults.form_session_ttl.as_secs(), 15 * 60);

    let tuned = format!("{slack}  form_sessions: 200\n  form_session_ttl: 5m\n");
    let tuned = load_text(&tuned, &[]).unwrap().settings.slack.unwrap();
    assert_eq!(tuned.form_sessions, 200);
    assert_eq!(tuned.form_session_ttl.as_secs(), 300);

    let unbounded = format!("{slack}  form_sessions: 0\n  form_session_ttl: 2d\n");
    let lines = error_lines(&load_text(&unbounded, &[]).unwrap_err());
    for expected in [
        "slack.form_sessions: must be at least 1",
        "slack.form_session_ttl: 2d is longer than a day",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "missing {expected:?} in {lines:#?}"
        );
    }
}

#[test]
fn cross_section_requirements_are_checked() {
    let text = "state:\n  backend: dynamodb\nscheduler:\n  backend: eventbridge\naudit:\n  sinks:\n    - type: s3\n    - type: file\n";
    let lines = error_lines(&load_text(text, &[]).unwrap_err());
    for expected in [
        "state.table:",
        "scheduler.role_arn:",
        "aws: the dynamodb",
        "audit.sinks[0].bucket:",
        "audit.sinks[1].dir:",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "missing {expected:?} in {lines:#?}"
        );
    }
    let teams = "teams:\n  app_id: a\n  app_password: p\n  tenant_id: t\n  approvals_conversation_id: c\n  token_url: http://login.example.com/t/oauth2/v2.0/token\n  openid_metadata_url: http://127.0.0.1:9/meta\n";
    let lines = error_lines(&load_text(teams, &[]).unwrap_err());
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("teams.token_url:") && line.contains("must be https")),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|line| line.starts_with("teams.openid_metadata_url")),
        "loopback is allowed: {lines:#?}"
    );
    let lines = error_lines(&load_text("audit:\n  sinks: []\n", &[]).unwrap_err());

    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("audit.sinks: at least one")),
        "{lines:#?}"
    );
    let loaded = load_text("requests:\n  max_duration: 4h\n", &[]).unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.path == "requests.durations[4]" && w.message.contains("will not be offered")),
        "{:#?}",
        loaded.warnings
    );

    let text = "webhook:\n  subscribers:\n    - {url: 'https://hooks.example.com/x', secret: abc, events: [granted, grantd]}\n  clients:\n    - {id: a, secret: '', act_for: ['bob@']}\n    - {id: a, secret: long-enough-secret-123, act_for: ['*']}\n";
    let lines = error_lines(&load_text(text, &[]).unwrap_err());
    for expected in [
        "webhook.clients[0].secret:",
        "webhook.clients[0].act_for[0]:",
        "webhook.clients[1].id:",
        "webhook.subscribers[0].events[1]: \"grantd\" is not an event",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "missing {expected:?} in {lines:#?}"
        );
    }
}

#[test]
fn the_cli_section_defaults_to_the_regional_sts_endpoint_and_checks_each_key() {
    let aws = "aws: {region: eu-west-1, sso_instance_arn: 'arn:aws:sso:::instance/ssoins-1', identity_store_id: d-1}\n";
    let loaded = load_text(
        &format!("{aws}cli: {{server_id: liftgate.example.com}}\n"),
        &[],
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let cli = loaded.settings.cli.unwrap();
    assert!(cli.enabled);
    assert_eq!(cli.user_attribute, SessionNameAttribute::UserName);
    assert_eq!(
        cli.effective_sts_endpoint("eu-west-1"),
        "https://sts.eu-west-1.amazonaws.com/"
    );
    assert_eq!(cli.effective_sts_region("eu-west-1"), "eu-west-1");
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("nobody can make a request")),
        "{:#?}",
        loaded.warnings
    );

    let text = format!(
        "{aws}cli:\n  server_id: ''\n  sts_endpoint: 'http://sts.example.com/?x=1'\n  sts_region: 'EU West'\n  allowed_accounts: [12345678901, '111111111111']\n  user_attribute: upn\n"
    );
    let lines = error_lines(&load_text(&text, &[]).unwrap_err());
    for expected in [
        "cli.server_id:",
        "cli.sts_endpoint:",
        "cli.sts_region:",
        "cli.allowed_accounts[0]: \"12345678901\" is not a 12-digit account id",
        "cli.user_attribute:",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "missing {expected:?} in {lines:#?}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|line| line.starts_with("cli.allowed_accounts[1]")),
        "{lines:#?}"
    );

    let lines = error_lines(&load_text("cli: {server_id: x}\n", &[]).unwrap_err());
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("cli: needs the aws section")),
        "{lines:#?}"
    );
}

#[test]
fn lints_are_warnings_and_do_not_fail_the_config() {
    let text = r#"
webhook: {clients: []}
statements:
  - ResourceType: Account
    Resource: "*"
    PermissionSet: "*"
    Approvers: ["boss@corp.com"]
    AllowSelfApproval: true
  - ResourceType: Account
    Resource: "111111111111"
    PermissionSet: Admin
    Approvers: ["solo@corp.com"]
"#;
    let loaded = load_text(text, &[]).unwrap_or_else(|errors| panic!("{errors}"));
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("statements[0]") && w.contains("every account")),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("boss@corp.com")),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with("statements[1]")),
        "{warnings:#?}"
    );
}

#[test]
fn unreadable_and_malformed_files_are_one_sentence_errors() {
    let missing = load(&ConfigSource {
        path: PathBuf::from("/nonexistent/liftgate.yaml"),
        env: HashMap::new(),
    })
    .unwrap_err();
    assert!(
        error_lines(&missing)[0].contains("cannot read config file"),
        "{missing}"
    );
    let broken = load_text("server: [unclosed\n", &[]).unwrap_err();
    assert!(
        error_lines(&broken)[0].contains("cannot parse config"),
        "{broken}"
    );
    let list = load_text("- a\n- b\n", &[]).unwrap_err();
    assert_eq!(list.errors.len(), 1, "{list}");
}

fn yaml_value() -> impl Strategy<Value = serde_json::Value> {
    let keys = prop_oneof![
        Just("server".to_owned()),
        Just("aws".to_owned()),
        Just("state".to_owned()),
        Just("scheduler".to_owned()),
        Just("audit".to_owned()),
        Just("slack".to_owned()),
        Just("teams".to_owned()),
        Just("webhook".to_owned()),
        Just("requests".to_owned()),
        Just("reconciliation".to_owned()),
        Just("statements".to_owned()),
        Just("group_statements".to_owned()),
        Just("listen".to_owned()),
        Just("backend".to_owned()),
        Just("sinks".to_owned()),
        Just("clients".to_owned()),
        Just("Resource".to_owned()),
        Just("Approvers".to_owned()),
        Just("PermissionSet".to_owned()),
        Just("ResourceType".to_owned()),
        Just("max_duration".to_owned()),
        Just("type".to_owned()),
        "[a-zA-Z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "[ -~]{0,20}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("111111111111")),
        Just(serde_json::Value::from("Account")),
        Just(serde_json::Value::from("alice@corp.com")),
        Just(serde_json::Value::from("1h30m")),
        Just(serde_json::Value::from("*")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn check_config_never_panics_on_random_yaml(document in yaml_value()) {
        let text = serde_yaml_ng::to_string(&document).unwrap();
        let _ = load_text(&text, &[]);
    }

    #[test]
    fn check_config_never_panics_on_random_text(text in "[ -~\n\t]{0,200}") {
        let _ = load_text(&text, &[]);
    }
}
