//! `liftgate init`: a commented starter config that passes `check-config` as written.

use std::path::Path;
use std::process::{Command, Output};

fn liftgate(args: &[&str], directory: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_liftgate"))
        .args(args)
        .current_dir(directory)
        .env_remove("LIFTGATE_CONFIG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn init_writes_a_commented_starter_that_check_config_accepts() {
    let directory = tempfile::tempdir().unwrap();
    let output = liftgate(&["init"], directory.path());
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("wrote liftgate.yaml"));
    let written = std::fs::read_to_string(directory.path().join("liftgate.yaml")).unwrap();
    // Commented, with every section explained and one example statement.
    for section in [
        "server:",
        "# aws:",
        "state:",
        "scheduler:",
        "audit:",
        "# slack:",
        "# teams:",
        "# webhook:",
        "requests:",
        "reconciliation:",
        "statements:",
        "group_statements:",
    ] {
        assert!(written.contains(section), "missing {section}");
    }
    assert!(
        written
            .lines()
            .filter(|line| line.trim_start().starts_with('#'))
            .count()
            > 40
    );

    // The default path is ./liftgate.yaml, which check-config also reads by default.
    let check = liftgate(&["check-config"], directory.path());
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains("is valid: 1 statement(s), 0 group statement(s)"),
        "{}",
        text(&check.stdout)
    );
    assert!(
        !text(&check.stderr).contains("error"),
        "{}",
        text(&check.stderr)
    );

    let explain = liftgate(
        &[
            "policy",
            "explain",
            "--requester",
            "dev@example.com",
            "--account",
            "111111111111",
            "--permission-set",
            "ReadOnlyAccess",
            "--format",
            "json",
        ],
        directory.path(),
    );
    assert!(explain.status.success(), "{}", text(&explain.stderr));
    let json: serde_json::Value = serde_json::from_slice(&explain.stdout).unwrap();
    assert_eq!(json["decision"], "requires_approval");
    assert_eq!(json["max_duration"], "4h");
}

#[test]
fn init_refuses_to_overwrite_unless_forced() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("custom.yaml");
    std::fs::write(&path, "mine: true\n").unwrap();
    let output = liftgate(&["init", "--output", "custom.yaml"], directory.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("already exists; pass --force"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine: true\n");

    let output = liftgate(
        &["init", "--output", "custom.yaml", "--force"],
        directory.path(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("statements:")
    );
}

#[test]
fn init_to_stdout_prints_the_same_file() {
    let directory = tempfile::tempdir().unwrap();
    let printed = liftgate(&["init", "--output", "-"], directory.path());
    assert!(printed.status.success());
    let nested = liftgate(&["init", "-o", "conf/liftgate.yaml"], directory.path());
    assert!(nested.status.success(), "{}", text(&nested.stderr));
    let written = std::fs::read_to_string(directory.path().join("conf/liftgate.yaml")).unwrap();
    assert_eq!(text(&printed.stdout), written);
    assert!(!directory.path().join("liftgate.yaml").exists());
}
