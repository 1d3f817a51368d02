//! What the end-to-end tests share: an organization seeded in moto, a `liftgate serve` process
//! to start, kill and stop, signed webhook calls, and readers of the audit trail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use liftgate_testkit::moto::{MotoServer, Seed};
use serde_json::Value;

pub(crate) const SECRET: &str = "end-to-end-secret-0123456789abcdef";

pub(crate) struct Org {
    pub(crate) seed: Seed,
    pub(crate) production: String,
    pub(crate) admin_arn: String,
    pub(crate) read_only_arn: String,
    pub(crate) dev_id: String,
}

pub(crate) async fn seed_org(moto: &MotoServer) -> Org {
    let seed = moto.seed().await;
    let accounts = seed.organization(&["Production"]).await;
    let admin_arn = seed.permission_set("Admin").await;
    let read_only_arn = seed.permission_set("ReadOnly").await;
    let dev_id = seed.user("dev@example.com", "dev@example.com", "Dev").await;
    for approver in ["lead", "cto", "sec"] {
        let email = format!("{approver}@example.com");
        seed.user(&email, &email, approver).await;
    }
    Org {
        production: accounts[0].id.clone(),
        admin_arn,
        read_only_arn,
        dev_id,
        seed,
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Liftgate {
    child: Child,
    pub(crate) base: String,
    pub(crate) log: PathBuf,
}

impl Liftgate {
    pub(crate) async fn start(config: &Path, port: u16, log: PathBuf) -> Liftgate {
        Liftgate::start_with_health_on(config, port, port, log).await
    }

    /// Starts it and waits for `/readyz` on `health_port` (the admin listener, when set).
    pub(crate) async fn start_with_health_on(
        config: &Path,
        port: u16,
        health_port: u16,
        log: PathBuf,
    ) -> Liftgate {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_liftgate"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ENDPOINT_URL")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let running = Liftgate {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(response) =
                reqwest::get(format!("http://127.0.0.1:{health_port}/readyz")).await
                && response.status().is_success()
            {
                return running;
            }

            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "liftgate did not become ready:\n{}",
            std::fs::read_to_string(&running.log).unwrap_or_default()
        );
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        signed_call(self.base.clone(), method, path.to_owned(), body).await
    }

    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and returns the exit code and how long the exit took.
    pub(crate) fn terminate(mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        (status.code(), started.elapsed())
    }
}

pub(crate) async fn signed_call(
    base: String,
    method: &str,
    path: String,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, answer) = try_signed_call(&base, method, &path, body, &[]).await;
    (
        status.unwrap_or_else(|| panic!("{method} {path}: no answer")),
        answer,
    )
}

/// A v2-signed call as an integration sends it; `None` when the connection failed (a
/// gateway killed mid-call).
pub(crate) async fn try_signed_call(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    extra_headers: &[(&str, &str)],
) -> (Option<u16>, Value) {
    let raw = body.map(|body| body.to_string()).unwrap_or_default();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let client = reqwest::Client::new();
    let mut request = match method {
        "GET" => client.get(format!("{base}{path}")),
        _ => client.post(format!("{base}{path}")).body(raw.clone()),
    };
    for (name, value) in
        liftgate_webhook::signed_headers("e2e", SECRET, method, path, raw.as_bytes(), timestamp)
    {
        request = request.header(name, value);
    }
    for (name, value) in extra_headers {
        request = request.header(*name, *value);
    }
    match request
        .header("Content-Type", "application/json")
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            (Some(status), response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (None, Value::Null),
    }
}

impl Drop for Liftgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn audit_events(directory: &Path, request_id: &str) -> Vec<(String, String)> {
    let mut records: Vec<Value> = Vec::new();
    let audit = directory.join("audit");
    let Ok(years) = std::fs::read_dir(&audit) else {
        return Vec::new();
    };
    // Checkpoints sit beside the years, in `checkpoints/`.
    for year in years
        .flatten()
        .filter(|entry| entry.file_name() != "checkpoints")
    {
        for month in std::fs::read_dir(year.path()).unwrap().flatten() {
            for day in std::fs::read_dir(month.path()).unwrap().flatten() {
                for file in std::fs::read_dir(day.path()).unwrap().flatten() {
                    // A record being written (or whose writer was killed) is a `.json.tmp`.
                    if file.path().extension().is_none_or(|ext| ext != "json") {
                        continue;
                    }
                    records.push(
                        serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap(),
                    );
                }
            }
        }
    }
    records.retain(|record| record["liftgate_request_id"] == request_id);
    records.sort_by_key(|record| record["timestamp"].as_i64());
    records
        .iter()
        .map(|record| {
            (
                record["event"].as_str().unwrap().to_owned(),
                record["channel"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(crate) async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}
