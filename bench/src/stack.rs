//! What a run targets: moto seeded with an organization, the Slack double, and the real
//! `liftgate serve` process with a configuration pointing at both, started fresh per scenario
//! so no scenario inherits another's memory or state.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use liftgate_testkit::moto::{MotoServer, Seed};

use crate::slack_double::{self, SlackDouble};

pub(crate) const SLACK_SIGNING_SECRET: &str = "bench-slack-signing-secret-0123456789";
pub(crate) const WEBHOOK_CLIENT: &str = "bench";
pub(crate) const WEBHOOK_SECRET: &str = "bench-webhook-secret-0123456789abcdef";
pub(crate) const APPROVALS_CHANNEL: &str = "CBENCHAPPROVALS";
pub(crate) const REQUESTER: &str = "user0@example.com";
pub(crate) const PERMISSION_SET: &str = "Admin";

/// The seeded organization the rules and requests name.
#[derive(Debug)]
pub(crate) struct Organization {
    pub(crate) seed: Seed,
    pub(crate) accounts: Vec<String>,
}

/// moto and the Slack double, shared by every gateway a run starts.
pub(crate) struct Backends {
    pub(crate) moto: MotoServer,
    pub(crate) organization: Organization,
    pub(crate) slack: SlackDouble,
}

impl Backends {
    /// Starts moto (`MOTO_SERVER_BIN`) and seeds `accounts` accounts, two permission sets and
    /// `users` requesters (plus their approver), and starts the Slack double.
    pub(crate) async fn start(accounts: usize, users: usize) -> anyhow::Result<Backends> {
        let moto = tokio::task::spawn_blocking(MotoServer::start).await?;
        let seed = moto.seed().await;
        let names: Vec<String> = (0..accounts).map(|i| format!("Bench{i:03}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let accounts = seed
            .organization(&names)
            .await
            .into_iter()
            .map(|account| account.id)
            .collect();
        seed.permission_set(PERMISSION_SET).await;
        seed.permission_set("ReadOnly").await;
        for index in 0..users {
            let email = slack_double::user_email(index);
            seed.user(&email, &email, &format!("Bench User {index}"))
                .await;
        }
        seed.user("lead@example.com", "lead@example.com", "Lead")
            .await;
        let slack = SlackDouble::start().await?;
        Ok(Backends {
            moto,
            organization: Organization { seed, accounts },
            slack,
        })
    }
}

/// Which allocator, limits and so on the gateway runs with: extra YAML under `server:`.
#[derive(Debug, Clone, Default)]
pub(crate) struct GatewayOptions {
    /// Extra environment (e.g. `MALLOC_ARENA_MAX`), for comparisons.
    pub(crate) env: Vec<(String, String)>,
}

/// A running `liftgate serve`; killed when dropped.
pub(crate) struct Gateway {
    child: Child,
    pub(crate) base: String,
    pub(crate) pid: u32,
    /// Spawn → first 200 from `/readyz`.
    pub(crate) start_to_ready: Duration,
    log: PathBuf,
    _directory: tempfile::TempDir,
}

impl Gateway {
    pub(crate) async fn start(
        binary: &Path,
        backends: &Backends,
        options: &GatewayOptions,
    ) -> anyhow::Result<Gateway> {
        let directory = tempfile::tempdir()?;
        let port = free_port()?;
        let config = directory.path().join("liftgate.yaml");
        std::fs::write(&config, config_text(directory.path(), backends, port))?;
        let log = directory.path().join("liftgate.log");
        let log_file = std::fs::File::create(&log)?;
        let started = Instant::now();
        let child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .env_remove("AWS_ENDPOINT_URL")
            .envs(options.env.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let pid = child.id();
        let mut gateway = Gateway {
            child,
            base: format!("http://127.0.0.1:{port}"),
            pid,
            start_to_ready: Duration::ZERO,
            log,
            _directory: directory,
        };
        gateway.start_to_ready = gateway.wait_ready(started).await?;
        Ok(gateway)
    }

    /// Polls `/readyz` every millisecond (a fresh connection each time, as a probe would).
    async fn wait_ready(&mut self, started: Instant) -> anyhow::Result<Duration> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("{}/readyz", self.base);
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "liftgate serve exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        bail!("liftgate serve was not ready in 30 s:\n{}", self.log_tail())
    }

    /// Resident memory now, from `/proc/PID/status`.
    pub(crate) fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid)
    }

    pub(crate) fn rss_split(&self) -> anyhow::Result<(u64, u64)> {
        rss_split(self.pid)
    }

    /// One Prometheus sample of `/metrics` summed over its labels matching `label_filter`.
    pub(crate) async fn metric_sum(&self, name: &str, label_filter: &str) -> anyhow::Result<f64> {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter(|line| line.contains(label_filter))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .fold(0.0, |total, value| total + value))
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        text.get(start..).unwrap_or_default().to_owned()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process in bytes.
pub(crate) fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    status_bytes(pid, "VmRSS:")
}

/// Resident memory split into anonymous (heap, stacks) and file-backed (the binary's code and
/// data pages, which the kernel can drop and read again), in bytes.
pub(crate) fn rss_split(pid: u32) -> anyhow::Result<(u64, u64)> {
    Ok((
        status_bytes(pid, "RssAnon:")?,
        status_bytes(pid, "RssFile:")?,
    ))
}

/// One `… kB` line of `/proc/PID/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .with_context(|| format!("no {field} in /proc/PID/status"))?;
    Ok(kib * 1024)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The gateway's configuration: every channel on, one moto, the Slack double, no per-person
/// create limit (the webhook scenario sends hundreds of creates a second for one requester).
fn config_text(directory: &Path, backends: &Backends, port: u16) -> String {
    let organization = &backends.organization;
    format!(
        r#"
server:
  listen: "127.0.0.1:{port}"
  shutdown_grace: 2s
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
requests:
  rate_limit: 0
  reminders: false
slack:
  signing_secret: "{SLACK_SIGNING_SECRET}"
  bot_token: "{bot_token}"
  channel_id: "{APPROVALS_CHANNEL}"
  api_base_url: "{slack}"
webhook:
  clients:
    - id: {WEBHOOK_CLIENT}
      secret: "{WEBHOOK_SECRET}"
      act_for: ["*"]
statements:
  - ResourceType: Account
    Resource: "*"
    PermissionSet: ["{PERMISSION_SET}", ReadOnly]
    Approvers: [lead@example.com]
"#,
        instance = organization.seed.instance_arn,
        store = organization.seed.identity_store_id,
        endpoint = backends.moto.endpoint(),
        dir = directory.display(),
        bot_token = slack_double::BOT_TOKEN,
        slack = backends.slack.api_base_url(),
    )
}
