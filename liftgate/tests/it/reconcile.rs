//! `liftgate reconcile` as a real process on moto: a dry run reports without acting, a warn pass
//! audits each finding once, and revoke mode removes access no grant explains.

use std::path::Path;
use std::process::Command;

use liftgate_testkit::moto::MotoServer;

fn config(
    directory: &Path,
    moto: &MotoServer,
    instance: &str,
    store: &str,
    account: &str,
    mode: &str,
) -> std::path::PathBuf {
    let text = format!(
        r#"
aws:
  region: us-east-1
  sso_instance_arn: "{instance}"
  identity_store_id: "{store}"
  endpoint_url: "{endpoint}"
state:
  path: "{dir}/state.db"
audit:
  sinks:
    - type: file
      dir: "{dir}/audit"
reconciliation:
  mode: {mode}
webhook:
  clients: []
statements:
  - ResourceType: Account
    Resource: ["{account}"]
    PermissionSet: Admin
    Approvers: [lead@example.com]
"#,
        endpoint = moto.endpoint(),
        dir = directory.display(),
    );
    let path = directory.join(format!("liftgate-{mode}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn reconcile(config: &Path, dry_run: bool) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_liftgate"));
    command.args(["reconcile", "--config", config.to_str().unwrap()]);
    if dry_run {
        command.arg("--dry-run");
    }
    let output = command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn audit_events(directory: &Path) -> Vec<String> {
    let mut events = Vec::new();
    let Ok(entries) = walk(&directory.join("audit")) else {
        return events;
    };
    for file in entries {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        events.push(record["event"].as_str().unwrap().to_owned());
    }
    events.sort();
    events
}

fn walk(directory: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_reports_warns_once_and_revokes_drift() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let accounts = seed.organization(&["Production"]).await;
    let account = accounts[0].id.clone();
    let admin = seed.permission_set("Admin").await;
    let read_only = seed.permission_set("ReadOnly").await;
    let mallory = seed
        .user("mallory@example.com", "mallory@example.com", "Mallory")
        .await;
    // Drift in scope, and an assignment outside the rules' scope that must be left alone.
    seed.assignment(&account, &admin, &mallory).await;
    seed.assignment(&account, &read_only, &mallory).await;
    let directory = tempfile::tempdir().unwrap();
    let (instance, store) = (seed.instance_arn.clone(), seed.identity_store_id.clone());
    let warn = config(directory.path(), &moto, &instance, &store, &account, "warn");

    let (code, report) = reconcile(&warn, true);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("dry run"), "{report}");
    assert!(report.contains("1 finding"), "{report}");
    assert!(report.contains("mallory@example.com"), "{report}");
    assert!(
        audit_events(directory.path()).is_empty(),
        "a dry run records nothing"
    );

    let (code, report) = reconcile(&warn, false);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(audit_events(directory.path()), ["drift_detected"]);
    let (_, report) = reconcile(&warn, false);
    assert!(report.contains("1 finding"), "{report}");
    assert_eq!(
        audit_events(directory.path()),
        ["drift_detected"],
        "each finding is reported once"
    );
    assert_eq!(
        seed.user_assignment_count(&account, &admin, &mallory).await,
        1,
        "warn mode removes nothing"
    );

    let revoke = config(
        directory.path(),
        &moto,
        &instance,
        &store,
        &account,
        "revoke",
    );
    let (code, report) = reconcile(&revoke, false);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(
        seed.user_assignment_count(&account, &admin, &mallory).await,
        0
    );
    assert_eq!(
        seed.user_assignment_count(&account, &read_only, &mallory)
            .await,
        1,
        "out of scope: untouched"
    );
    assert_eq!(
        audit_events(directory.path()),
        ["drift_detected", "revoked"]
    );
}
