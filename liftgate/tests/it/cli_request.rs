//! `liftgate request` as a real process, signing with an Identity Center role session's
//! credentials from the environment, against `liftgate serve` with the cli section on. STS is
//! a second moto that checks every signature; Identity Center is the first.

use std::path::Path;
use std::process::{Command, Output};

use aws_credential_types::Credentials;
use liftgate_testkit::moto::MotoServer;
use liftgate_testkit::sts::{SSO_ROLE, Sts};
use serde_json::json;

use crate::support::{Liftgate, Org, SECRET, audit_events, free_port, seed_org, wait_for};

fn write_config(
    directory: &Path,
    moto: &MotoServer,
    sts: &Sts,
    org: &Org,
    port: u16,
) -> std::path::PathBuf {
    let config = format!(
        r#"
server:
  listen: "127.0.0.1:{port}"
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
  enabled: false
webhook:
  clients:
    - id: e2e
      secret: "{SECRET}"
      act_for: ["*"]
cli:
  sts_endpoint: "{sts_endpoint}"
  server_id: "127.0.0.1:{port}"
statements:
  - ResourceType: Account
    Resource: ["{account}"]
    PermissionSet: Admin
    Approvers: [lead@example.com]
"#,
        instance = org.seed.instance_arn,
        store = org.seed.identity_store_id,
        endpoint = moto.endpoint(),
        sts_endpoint = sts.endpoint(),
        dir = directory.display(),
        account = org.production,
    );
    let path = directory.join("liftgate.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Runs `liftgate request ARGS` with only `credentials` in its environment.
fn request(base: &str, credentials: &Credentials, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_liftgate"));
    command
        .arg("request")
        .args(args)
        .args(["--url", base])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    if let Some(token) = credentials.session_token() {
        command.env("AWS_SESSION_TOKEN", token);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liftgate_request_signs_with_the_callers_session_and_the_gateway_acts_on_it() {
    let moto = MotoServer::start();
    let org = seed_org(&moto).await;
    let sts = Sts::start();
    sts.create_role(SSO_ROLE).await;
    sts.create_role("Deployer").await;
    // Identity Center names a session after the user's UserName (here the address).
    let session = sts
        .assume(&org.production, SSO_ROLE, "dev@example.com")
        .await;
    let deployer = sts
        .assume(&org.production, "Deployer", "dev@example.com")
        .await;
    sts.check_signatures().await;
    let directory = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(directory.path(), &moto, &sts, &org, port);
    let liftgate = Liftgate::start(&config, port, directory.path().join("liftgate.log")).await;

    let created = request(
        &liftgate.base,
        &session,
        &[
            "--account",
            &org.production,
            "--permission-set",
            "Admin",
            "--duration",
            "1h",
            "--reason",
            "INC-42",
        ],
    );
    assert!(
        created.status.success(),
        "{}{}",
        text(&created.stdout),
        text(&created.stderr)
    );
    let out = text(&created.stdout);
    assert!(out.contains("is pending: Admin on"), "{out}");
    assert!(
        out.contains("Waiting for 1 approval(s) from: lead@example.com."),
        "{out}"
    );
    let arn = format!(
        "arn:aws:sts::{}:assumed-role/{SSO_ROLE}/dev@example.com",
        org.production
    );
    assert!(out.contains(&format!("Signed as {arn}.")), "{out}");
    let id = out.split_whitespace().nth(1).unwrap().to_owned();

    let (status, approved) = liftgate
        .call(
            "POST",
            &format!("/api/v1/requests/{id}/approve"),
            Some(json!({"approver": "lead@example.com"})),
        )
        .await;
    assert_eq!(
        (status, approved["status"].as_str()),
        (200, Some("active")),
        "{approved}"
    );

    let shown = request(&liftgate.base, &session, &["status", &id, "--json"]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let body: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(body["status"], "active");

    let revoked = request(&liftgate.base, &session, &["revoke", &id]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert_eq!(
        org.seed
            .user_assignment_count(&org.production, &org.admin_arn, &org.dev_id)
            .await,
        0
    );

    // A role that is not an Identity Center session is refused, exit 1, nothing made.
    let refused = request(
        &liftgate.base,
        &deployer,
        &[
            "--account",
            &org.production,
            "--permission-set",
            "Admin",
            "--duration",
            "1h",
            "--reason",
            "x",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).starts_with("refused (403 not_an_sso_session)"),
        "{}",
        text(&refused.stderr)
    );
    // A create without a reason is a usage error before anything is signed.
    let incomplete = request(
        &liftgate.base,
        &session,
        &["--group", "g-1", "--duration", "1h"],
    );
    assert_eq!(incomplete.status.code(), Some(1));
    assert!(text(&incomplete.stderr).contains("--reason is required"));

    // The outbox delivers the audit trail in the background.
    let audit_dir = directory.path().to_owned();
    wait_for(
        "the revoked record",
        std::time::Duration::from_secs(10),
        || {
            let events = audit_events(&audit_dir, &id);
            async move { events.iter().any(|(event, _)| event == "revoked") }
        },
    )
    .await;
    let events = audit_events(directory.path(), &id);
    let cli_events: Vec<&str> = events
        .iter()
        .filter(|(_, channel)| channel == "cli")
        .map(|(event, _)| event.as_str())
        .collect();
    assert!(cli_events.contains(&"requested"), "{events:?}");
    assert!(cli_events.contains(&"revoked"), "{events:?}");
    drop(liftgate);
}
