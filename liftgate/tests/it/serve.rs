//! `liftgate serve` as a real process on moto, driven through the signed webhook API: the main
//! job end to end, concurrency, bad input, a SIGKILL during a grant followed by a restart that
//! still revokes on time, and a clean exit on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use liftgate_testkit::moto::MotoServer;
use serde_json::{Value, json};

use crate::support::{
    Liftgate, Org, SECRET, audit_events, free_port, seed_org, signed_call, wait_for,
};

fn write_config(directory: &Path, moto: &MotoServer, org: &Org, port: u16) -> PathBuf {
    let config = format!(
        r#"
server:
  listen: "127.0.0.1:{port}"
  shutdown_grace: 5s
aws:
  region: us-east-1
  sso_instance_arn: "{instance}"
  identity_store_id: "{store}"
  endpoint_url: "{endpoint}"
state:
  path: "{dir}/state.db"
scheduler:
  sweep_interval: 1s
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
statements:
  - ResourceType: Account
    Resource: ["{account}"]
    PermissionSet: Admin
    Approvers: [lead@example.com]
  - ResourceType: Account
    Resource: ["{account}"]
    PermissionSet: ReadOnly
    Approvers: [lead@example.com, cto@example.com, sec@example.com]
    RequiredApprovals: 2
"#,
        instance = org.seed.instance_arn,
        store = org.seed.identity_store_id,
        endpoint = moto.endpoint(),
        dir = directory.display(),
        account = org.production,
    );
    let path = directory.join("liftgate.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

fn create_body(permission_set: &str, duration: &str) -> Value {
    json!({"requester": "dev@example.com", "account_id": "ACCOUNT", "permission_set": permission_set,
           "duration": duration, "reason": "INC-42: payment workers stuck"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_grants_revokes_survives_sigkill_and_drains_on_sigterm() {
    let moto = MotoServer::start();
    let org = seed_org(&moto).await;
    let directory = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(directory.path(), &moto, &org, port);
    let log = directory.path().join("liftgate.log");
    let liftgate = Liftgate::start(&config, port, log.clone()).await;
    let account = org.production.clone();
    let body = |permission_set: &str, duration: &str| {
        let mut body = create_body(permission_set, duration);
        body["account_id"] = json!(account);
        body
    };

    // Bad input changes nothing.
    let (status, error) = liftgate
        .call(
            "POST",
            "/api/v1/requests",
            Some(json!({"requester": "dev@example.com"})),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    let mut unknown = body("Admin", "1h");
    unknown["account_id"] = json!("999999999999");
    let (status, error) = liftgate
        .call("POST", "/api/v1/requests", Some(unknown))
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (422, Some("unknown_account"))
    );
    let forged = reqwest::Client::new()
        .post(format!("{}/api/v1/requests", liftgate.base))
        .header("X-Liftgate-Client", "e2e")
        .header("X-Liftgate-Timestamp", "1")
        .header("X-Liftgate-Signature", "v1=00")
        .body(body("Admin", "1h").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);

    // The main job: request, approve, grant in Identity Center.
    let (status, created) = liftgate
        .call("POST", "/api/v1/requests", Some(body("Admin", "1h")))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_str().unwrap().to_owned();
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
    assert_eq!(
        org.seed
            .user_assignment_count(&account, &org.admin_arn, &org.dev_id)
            .await,
        1
    );

    // Quorum under concurrency: 12 simultaneous approvals by 3 approvers, 2 needed.
    let (_, quorum) = liftgate
        .call("POST", "/api/v1/requests", Some(body("ReadOnly", "4s")))
        .await;
    let quorum_id = quorum["id"].as_str().unwrap().to_owned();
    let mut calls = Vec::new();
    for round in 0..4 {
        for approver in ["lead", "cto", "sec"] {
            let path = format!("/api/v1/requests/{quorum_id}/approve");
            let body = json!({"approver": format!("{approver}@example.com"), "comment": format!("round {round}")});
            calls.push(signed_call(liftgate.base.clone(), "POST", path, Some(body)));
        }
    }
    let statuses: Vec<u16> = futures_statuses(calls).await;
    assert!(
        statuses.iter().all(|status| matches!(status, 200 | 409)),
        "{statuses:?}"
    );
    assert_eq!(
        org.seed
            .user_assignment_count(&account, &org.read_only_arn, &org.dev_id)
            .await,
        1
    );
    let (_, quorum) = liftgate
        .call("GET", &format!("/api/v1/requests/{quorum_id}"), None)
        .await;
    assert_eq!(quorum["status"], "active");
    assert_eq!(quorum["approvals"].as_array().unwrap().len(), 2);

    // SIGKILL while the short grant is active; it ends while nothing runs; the restarted
    // process revokes it at once.
    liftgate.kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        org.seed
            .user_assignment_count(&account, &org.read_only_arn, &org.dev_id)
            .await,
        1,
        "nothing revokes while no replica runs (with the local scheduler)"
    );
    let liftgate = Liftgate::start(&config, port, log.clone()).await;
    let seed = org.seed.clone();
    let (account_id, arn, user) = (
        account.clone(),
        org.read_only_arn.clone(),
        org.dev_id.clone(),
    );
    wait_for(
        "the restarted process to revoke the expired grant",
        Duration::from_secs(15),
        || {
            let (seed, account_id, arn, user) =
                (seed.clone(), account_id.clone(), arn.clone(), user.clone());
            async move { seed.user_assignment_count(&account_id, &arn, &user).await == 0 }
        },
    )
    .await;
    assert_eq!(
        org.seed
            .user_assignment_count(&account, &org.admin_arn, &org.dev_id)
            .await,
        1,
        "the long grant stays"
    );
    let (_, quorum) = liftgate
        .call("GET", &format!("/api/v1/requests/{quorum_id}"), None)
        .await;
    assert_eq!(quorum["status"], "ended");
    let directory_path = directory.path().to_path_buf();
    wait_for(
        "the complete audit trail of the short grant",
        // Records the killed process had claimed are redelivered once its claim lease (15 s) ends.
        Duration::from_secs(40),
        || {
            let events = audit_events(&directory_path, &quorum_id);
            async move { events.len() == 5 }
        },
    )
    .await;
    let events = audit_events(directory.path(), &quorum_id);
    let names: Vec<&str> = events.iter().map(|(event, _)| event.as_str()).collect();
    assert_eq!(
        names,
        ["requested", "approved", "approved", "granted", "revoked"]
    );
    assert_eq!(events.last().unwrap().1, "scheduler");

    // Health and metrics, as Kubernetes and Prometheus read them.
    let health = reqwest::get(format!("{}/healthz", liftgate.base))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = reqwest::get(format!("{}/metrics", liftgate.base))
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let metrics = metrics.text().await.unwrap();
    for family in [
        "# TYPE liftgate_http_requests_total counter",
        "liftgate_grants_active",
        "liftgate_requests_pending",
    ] {
        assert!(
            metrics.contains(family),
            "{family} missing from:\n{metrics}"
        );
    }

    // Early revoke by the requester through the API.
    let (status, ended) = liftgate
        .call(
            "POST",
            &format!("/api/v1/requests/{id}/revoke"),
            Some(json!({"requester": "dev@example.com"})),
        )
        .await;
    assert_eq!(
        (status, ended["status"].as_str()),
        (200, Some("ended")),
        "{ended}"
    );
    assert_eq!(
        org.seed
            .user_assignment_count(&account, &org.admin_arn, &org.dev_id)
            .await,
        0
    );

    let (code, took) = liftgate.terminate();
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.lines()
            .any(|line| line.starts_with('{') && line.contains("\"Liftgate is serving.\"")),
        "JSON logs on stderr"
    );
    assert!(
        !logs.contains(SECRET),
        "the webhook secret never reaches the logs"
    );
}

async fn futures_statuses<F>(calls: Vec<F>) -> Vec<u16>
where
    F: std::future::Future<Output = (u16, Value)> + Send + 'static,
{
    let handles: Vec<_> = calls.into_iter().map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap().0);
    }
    statuses
}

fn production_config(directory: &Path, moto: &MotoServer, org: &Org, port: u16) -> PathBuf {
    let config = format!(
        r#"
server:
  listen: "127.0.0.1:{port}"
  shutdown_grace: 5s
aws:
  region: us-east-1
  sso_instance_arn: "{instance}"
  identity_store_id: "{store}"
  endpoint_url: "{endpoint}"
state:
  backend: dynamodb
  table: liftgate-state
scheduler:
  backend: eventbridge
  group_name: liftgate
  role_arn: arn:aws:iam::123456789012:role/liftgate-scheduler
  sweep_interval: 1s
audit:
  sinks:
    - type: s3
      bucket: liftgate-audit
      prefix: logs
reconciliation:
  enabled: false
webhook:
  clients:
    - id: e2e
      secret: "{SECRET}"
      act_for: ["*"]
statements:
  - ResourceType: Account
    Resource: ["{account}"]
    PermissionSet: Admin
    Approvers: [lead@example.com]
"#,
        instance = org.seed.instance_arn,
        store = org.seed.identity_store_id,
        endpoint = moto.endpoint(),
        account = org.production,
    );
    let path = directory.join("liftgate.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

fn run_state_init(config: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_liftgate"))
        .args(["state", "init", "--config", config.to_str().unwrap()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_backends_dynamodb_eventbridge_and_s3_work_end_to_end() {
    let moto = MotoServer::start();
    let org = seed_org(&moto).await;
    let clients = liftgate_aws::AwsClients::for_test_endpoint(moto.endpoint(), "us-east-1").await;
    clients
        .s3
        .create_bucket()
        .bucket("liftgate-audit")
        .send()
        .await
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = production_config(directory.path(), &moto, &org, port);

    assert!(run_state_init(&config).contains("DynamoDB table liftgate-state created"));
    assert!(
        run_state_init(&config).contains("already exists"),
        "state init is idempotent"
    );

    let log = directory.path().join("liftgate.log");
    let liftgate = Liftgate::start(&config, port, log.clone()).await;
    let body = json!({"requester": "dev@example.com", "account_id": org.production, "permission_set": "Admin",
                      "duration": "2h", "reason": "INC-7: database failover"});
    let (status, created) = liftgate.call("POST", "/api/v1/requests", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, active) = liftgate
        .call(
            "POST",
            &format!("/api/v1/requests/{id}/approve"),
            Some(json!({"approver": "lead@example.com"})),
        )
        .await;
    assert_eq!(active["status"], "active", "{active}");
    assert_eq!(
        org.seed
            .user_assignment_count(&org.production, &org.admin_arn, &org.dev_id)
            .await,
        1
    );

    // The access's one-time schedule exists in the group, at its end, and targets Identity
    // Center.
    let schedule_name = liftgate_aws::scheduler::schedule_name(
        &liftgate_gateway::domain::AccessKey::account(&org.production, "Admin", &org.dev_id),
    );
    let schedule = clients
        .scheduler
        .get_schedule()
        .group_name("liftgate")
        .name(&schedule_name)
        .send()
        .await
        .unwrap();
    assert!(
        schedule.schedule_expression().unwrap().starts_with("at("),
        "{schedule:?}"
    );
    let target = schedule.target().unwrap();
    assert!(
        target.arn().contains("ssoadmin:deleteAccountAssignment"),
        "{}",
        target.arn()
    );

    // Early revoke removes the assignment and the schedule.
    let (status, ended) = liftgate
        .call(
            "POST",
            &format!("/api/v1/requests/{id}/revoke"),
            Some(json!({"requester": "dev@example.com"})),
        )
        .await;
    assert_eq!(
        (status, ended["status"].as_str()),
        (200, Some("ended")),
        "{ended}"
    );
    assert_eq!(
        org.seed
            .user_assignment_count(&org.production, &org.admin_arn, &org.dev_id)
            .await,
        0
    );
    let gone = clients
        .scheduler
        .get_schedule()
        .group_name("liftgate")
        .name(&schedule_name)
        .send()
        .await;
    assert!(
        gone.is_err(),
        "the schedule is deleted when the grant ends early"
    );

    // The audit trail lands in S3 under logs/YYYY/MM/DD/UUID.json.
    let s3 = clients.s3.clone();
    wait_for("four audit records in S3", Duration::from_secs(15), || {
        let s3 = s3.clone();
        async move {
            let listed = s3
                .list_objects_v2()
                .bucket("liftgate-audit")
                .prefix("logs/")
                .send()
                .await
                .unwrap();
            listed.contents().len() >= 4
        }
    })
    .await;
    let listed = clients
        .s3
        .list_objects_v2()
        .bucket("liftgate-audit")
        .prefix("logs/")
        .send()
        .await
        .unwrap();
    let mut events = Vec::new();
    for object in listed.contents() {
        let key = object.key().unwrap();
        assert_eq!(
            key.split('/').count(),
            5,
            "logs/YYYY/MM/DD/UUID.json: {key}"
        );
        let body = clients
            .s3
            .get_object()
            .bucket("liftgate-audit")
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        let record: Value = serde_json::from_slice(&bytes).unwrap();
        events.push(record["event"].as_str().unwrap().to_owned());
    }
    events.sort();
    assert_eq!(events, ["approved", "granted", "requested", "revoked"]);

    let (code, _) = liftgate.terminate();
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_admin_listen_health_and_metrics_leave_the_public_listener() {
    let moto = MotoServer::start();
    let org = seed_org(&moto).await;
    let directory = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let config = write_config(directory.path(), &moto, &org, port);
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "server:\n",
        &format!("server:\n  admin_listen: \"127.0.0.1:{admin_port}\"\n"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let log = directory.path().join("liftgate.log");
    let liftgate = Liftgate::start_with_health_on(&config, port, admin_port, log.clone()).await;
    let admin = format!("http://127.0.0.1:{admin_port}");

    for path in ["/metrics", "/healthz", "/readyz"] {
        let public = reqwest::get(format!("{}{path}", liftgate.base))
            .await
            .unwrap();
        assert_eq!(
            public.status().as_u16(),
            404,
            "{path} on the public listener"
        );
        let private = reqwest::get(format!("{admin}{path}")).await.unwrap();
        assert_eq!(
            private.status().as_u16(),
            200,
            "{path} on the admin listener"
        );
    }
    let metrics = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("liftgate_requests_pending"), "{metrics}");

    // The channels stay on the public listener, and only there.
    let mut body = create_body("Admin", "1h");
    body["account_id"] = json!(org.production);
    let (status, created) = liftgate.call("POST", "/api/v1/requests", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let on_admin = reqwest::Client::new()
        .post(format!("{admin}/api/v1/requests"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(on_admin.status().as_u16(), 404);
    let (code, _) = liftgate.terminate();
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
