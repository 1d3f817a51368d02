//! The audit trail end to end (docs/reference.md §7): two `liftgate serve` replicas sharing
//! one store and one audit directory write one hash chain and signed checkpoints, across a
//! restart; `liftgate audit verify` accepts it and names the object of every kind of
//! tampering; `liftgate audit query` answers on the directory and, copied to S3 (moto), on
//! the bucket.

use std::path::{Path, PathBuf};
use std::process::Command;

use liftgate_testkit::moto::MotoServer;
use serde_json::{Value, json};

use crate::support::{Liftgate, Org, SECRET, free_port, seed_org, signed_call};

/// An Ed25519 test key, base64 of its PKCS#8 DER (`openssl genpkey -algorithm ed25519`).
const SIGNING_KEY: &str = "MC4CAQAwBQYDK2VwBCIEIOu5Xee5FR87TDbyQtxbjCKRJLwuEzxmt1ZkzY+K0EZd";

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
  signing_key: "{SIGNING_KEY}"
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
"#,
        instance = org.seed.instance_arn,
        store = org.seed.identity_store_id,
        endpoint = moto.endpoint(),
        dir = directory.display(),
        account = org.production,
    );
    let path = directory.join(format!("liftgate-{port}.yaml"));
    std::fs::write(&path, config).unwrap();
    path
}

fn liftgate(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_liftgate"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn verify(source: &str, key: Option<&Path>, env: &[(&str, &str)]) -> (i32, String) {
    let mut args = vec!["audit", "verify", "--source", source];
    if let Some(key) = key {
        args.extend(["--public-key", key.to_str().unwrap()]);
    }
    liftgate(&args, env)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        if entry.path().is_dir() {
            found.extend(files(&entry.path()));
        } else {
            found.push(entry.path());
        }
    }
    found.sort();
    found
}

/// Record files by `seq`.
fn records_by_seq(audit: &Path) -> Vec<(u64, PathBuf, Value)> {
    let mut records: Vec<(u64, PathBuf, Value)> = files(audit)
        .into_iter()
        .filter(|path| !path.starts_with(audit.join("checkpoints")))
        .map(|path| {
            let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            (body["seq"].as_u64().unwrap(), path, body)
        })
        .collect();
    records.sort_by_key(|(seq, _, _)| *seq);
    records
}

fn rewrite(path: &Path, body: &Value) {
    std::fs::write(path, serde_json::to_vec(body).unwrap()).unwrap();
}

/// `body` with its hash recomputed, as a forger without the signing key can.
fn rehashed(mut body: Value) -> Value {
    let hash = liftgate_gateway::audit::hash_of_body(&body);
    body["hash"] = json!(hash);
    body
}

async fn request_and_approve(base: String, account: String, reason: &'static str) -> String {
    let body = json!({"requester": "dev@example.com", "account_id": account,
                      "permission_set": "Admin", "duration": "1h", "reason": reason});
    let (status, created) = signed_call(
        base.clone(),
        "POST",
        "/api/v1/requests".to_owned(),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, approved) = signed_call(
        base,
        "POST",
        format!("/api/v1/requests/{id}/approve"),
        Some(json!({"approver": "lead@example.com"})),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_write_one_verifiable_chain_and_verify_names_every_tampering() {
    let moto = MotoServer::start();
    let org = seed_org(&moto).await;
    let directory = tempfile::tempdir().unwrap();
    let (first_port, second_port) = (free_port(), free_port());
    let first_config = write_config(directory.path(), &moto, &org, first_port);
    let second_config = write_config(directory.path(), &moto, &org, second_port);
    let log = directory.path().join("liftgate.log");

    // Two replicas on one SQLite store and one audit directory, written to concurrently.
    let first = Liftgate::start(&first_config, first_port, log.clone()).await;
    let second = Liftgate::start(&second_config, second_port, log.clone()).await;
    let started = time::OffsetDateTime::now_utc();
    let account = org.production.clone();
    let mut calls = Vec::new();
    for _ in 0..3 {
        for (replica, reason) in [(&first, "INC-1"), (&second, "INC-2")] {
            calls.push(tokio::spawn(request_and_approve(
                replica.base.clone(),
                account.clone(),
                reason,
            )));
        }
    }
    for call in calls {
        call.await.unwrap();
    }
    let (code, _) = first.terminate();
    assert_eq!(code, Some(0));
    let (code, _) = second.terminate();
    assert_eq!(code, Some(0));

    // A restart continues the chain and the checkpoints.
    let restarted = Liftgate::start(&first_config, first_port, log.clone()).await;
    let last_id = request_and_approve(restarted.base.clone(), account.clone(), "INC-3").await;
    let (code, _) = restarted.terminate();
    assert_eq!(code, Some(0));
    let ended = time::OffsetDateTime::now_utc();

    let audit = directory.path().join("audit");
    let records = records_by_seq(&audit);
    // requested, approved and granted for each of the 7 requests: one gap-free chain.
    let seqs: Vec<u64> = records.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(seqs, (1..=21).collect::<Vec<_>>());
    let checkpoints = files(&audit.join("checkpoints"));
    assert!(checkpoints.len() >= 3, "{checkpoints:?}");

    let (code, pem) = liftgate(
        &[
            "audit",
            "public-key",
            "--config",
            first_config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{pem}");
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let key = directory.path().join("audit-key.pem");
    std::fs::write(&key, &pem).unwrap();

    let (code, output) = verify(audit.to_str().unwrap(), Some(&key), &[]);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("21 records (seq 1..=21)"), "{output}");
    assert!(output.contains("signed up to seq 21: OK"), "{output}");

    // Each kind of tampering, on its own copy, is named with its object.
    let case = |name: &str| {
        let copy = directory.path().join(format!("tampered-{name}"));
        copy_tree(&audit, &copy);
        copy
    };
    let in_copy = |copy: &Path, original: &Path| copy.join(original.strip_prefix(&audit).unwrap());
    let expect_failure = |copy: &Path, key: Option<&Path>, needles: &[String]| {
        let (code, output) = verify(copy.to_str().unwrap(), key, &[]);
        assert_eq!(code, 1, "{output}");
        for needle in needles {
            assert!(
                output.contains(needle.as_str()),
                "{needle:?} not in:\n{output}"
            );
        }
    };

    // A changed record.
    let copy = case("changed");
    let (_, path, body) = &records[4];
    let mut changed = body.clone();
    changed["reason"] = json!("nothing to see here");
    let target = in_copy(&copy, path);
    rewrite(&target, &changed);
    expect_failure(
        &copy,
        Some(&key),
        &[format!("changed record: {} (seq 5)", target.display())],
    );

    // A deleted record.
    let copy = case("deleted");
    std::fs::remove_file(in_copy(&copy, &records[9].1)).unwrap();
    expect_failure(
        &copy,
        Some(&key),
        &[format!(
            "deleted records: seq 10 is missing between {} and {}",
            in_copy(&copy, &records[8].1).display(),
            in_copy(&copy, &records[10].1).display()
        )],
    );

    // Two records swapped in the chain, their hashes recomputed by the forger.
    let copy = case("reordered");
    let (third, fourth) = (&records[2], &records[3]);
    let mut moved_up = fourth.2.clone();
    moved_up["seq"] = json!(3);
    moved_up["prev_hash"] = third.2["prev_hash"].clone();
    let moved_up = rehashed(moved_up);
    let mut moved_down = third.2.clone();
    moved_down["seq"] = json!(4);
    moved_down["prev_hash"] = moved_up["hash"].clone();
    let moved_down = rehashed(moved_down);
    rewrite(&in_copy(&copy, &fourth.1), &moved_up);
    rewrite(&in_copy(&copy, &third.1), &moved_down);
    expect_failure(
        &copy,
        Some(&key),
        &[format!(
            "reordered or inserted record: {} (seq 5)",
            in_copy(&copy, &records[4].1).display()
        )],
    );

    // A record inserted at a position already taken.
    let copy = case("inserted");
    let (_, path, body) = &records[6];
    let intruder = path.with_file_name("00000000-0000-4000-8000-000000000000.json");
    let mut forged = body.clone();
    forged["reason"] = json!("forged");
    rewrite(&in_copy(&copy, &intruder), &rehashed(forged));
    expect_failure(
        &copy,
        Some(&key),
        &[
            "inserted record: seq 7 is claimed by both".to_owned(),
            in_copy(&copy, &intruder).display().to_string(),
        ],
    );

    // The tail cut off after the last checkpoint's position.
    let copy = case("truncated");
    for (_, path, _) in &records[18..] {
        std::fs::remove_file(in_copy(&copy, path)).unwrap();
    }
    expect_failure(
        &copy,
        Some(&key),
        &["covers records up to seq 21, the log ends at seq 18".to_owned()],
    );

    // A checkpoint changed, and one deleted.
    let copy = case("forged-checkpoint");
    let last = checkpoints.last().unwrap();
    let mut body: Value = serde_json::from_slice(&std::fs::read(last).unwrap()).unwrap();
    body["seq"] = json!(18);
    body["record_count"] = json!(18);
    rewrite(&in_copy(&copy, last), &body);
    expect_failure(
        &copy,
        Some(&key),
        &[format!(
            "forged checkpoint: {} is not signed",
            in_copy(&copy, last).display()
        )],
    );
    let copy = case("missing-checkpoint");
    std::fs::remove_file(in_copy(&copy, &checkpoints[1])).unwrap();
    expect_failure(
        &copy,
        Some(&key),
        &["missing checkpoint: number 2..=2".to_owned()],
    );

    // Without the key, or with another, nothing is vouched for.
    expect_failure(
        &audit,
        None,
        &["checkpoint signatures not checked".to_owned()],
    );
    let other = directory.path().join("other-key.pem");
    let (other_key, _) = liftgate_gateway::audit::SigningKey::generate().unwrap();
    std::fs::write(&other, other_key.public_key().to_pem()).unwrap();
    expect_failure(&audit, Some(&other), &["forged checkpoint".to_owned()]);

    // Queries on the directory.
    let source = audit.to_str().unwrap().to_owned();
    let (code, output) = liftgate(
        &[
            "audit", "query", "--source", &source, "--event", "granted", "--format", "json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{output}");
    let granted: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(granted.len(), 7);
    assert!(
        granted
            .iter()
            .all(|record| record["approver_email"] == "lead@example.com")
    );
    let window = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (code, output) = liftgate(
        &[
            "audit",
            "query",
            "--source",
            &source,
            "--account",
            &account,
            "--active-between",
            &window(started),
            &window(ended),
            "--format",
            "csv",
        ],
        &[],
    );
    assert_eq!(code, 0, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "who,target,kind,from,until,approver,request");
    assert_eq!(lines.len(), 8, "{output}");
    assert!(lines.iter().any(|line| line.contains(&last_id)), "{output}");
    assert!(lines[1].starts_with("dev@example.com,"), "{output}");
    let (code, output) = liftgate(
        &[
            "audit",
            "query",
            "--source",
            &source,
            "--account",
            "999999999999",
            "--active-between",
            &window(started),
            &window(ended),
        ],
        &[],
    );
    assert_eq!((code, output.lines().count()), (0, 1), "{output}");

    // The same log in S3 (records under logs/, checkpoints beside them) verifies and answers.
    let clients = liftgate_aws::AwsClients::for_test_endpoint(moto.endpoint(), "us-east-1").await;
    clients
        .s3
        .create_bucket()
        .bucket("audit-log")
        .send()
        .await
        .unwrap();
    for path in files(&audit) {
        let relative = path
            .strip_prefix(&audit)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let key = if relative.starts_with("checkpoints/") {
            relative.clone()
        } else {
            format!("logs/{relative}")
        };
        clients
            .s3
            .put_object()
            .bucket("audit-log")
            .key(key)
            .body(std::fs::read(&path).unwrap().into())
            .send()
            .await
            .unwrap();
    }
    let endpoint = moto.endpoint();
    let aws_env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let (code, output) = verify("s3://audit-log/logs", Some(&key), &aws_env);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("signed up to seq 21: OK"), "{output}");
    let deleted_key = format!(
        "logs/{}",
        records[9].1.strip_prefix(&audit).unwrap().to_str().unwrap()
    );
    clients
        .s3
        .delete_object()
        .bucket("audit-log")
        .key(&deleted_key)
        .send()
        .await
        .unwrap();
    let (code, output) = verify("s3://audit-log/logs", Some(&key), &aws_env);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("deleted records: seq 10 is missing"),
        "{output}"
    );
    assert!(
        output.contains(&format!(
            "s3://audit-log/logs/{}",
            records[8].1.strip_prefix(&audit).unwrap().to_str().unwrap()
        )),
        "{output}"
    );
    let (code, output) = liftgate(
        &[
            "audit",
            "query",
            "--source",
            "s3://audit-log/logs",
            "--requester",
            "dev@example.com",
            "--event",
            "requested",
        ],
        &aws_env,
    );
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        output.lines().count(),
        8,
        "a header and 7 requests:\n{output}"
    );
    assert!(output.contains("INC-3"), "{output}");
}
