//! A private moto server per test: [`MotoServer::start`] runs `moto_server` on a free local
//! port and stops it when dropped, so tests are isolated and run in parallel. [`Seed`] fills
//! it with an organization, permission sets, users and groups.
//!
//! ```ignore
//! let moto = MotoServer::start();
//! let seed = moto.seed().await;
//! let accounts = seed.organization(&["Prod", "Dev"]).await;
//! let admin_arn = seed.permission_set("Admin").await;
//! let alice = seed.user("alice", "alice@corp.com", "Alice Example").await;
//! // Build any client from `moto.sdk_config().await`, or use `moto.endpoint()`.
//! ```

mod seed;

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use seed::{Seed, SeededAccount};

/// The region every client of the harness uses (moto keeps state per region).
pub const REGION: &str = "us-east-1";

/// The account moto acts as; it is the organization's management account.
pub const MANAGEMENT_ACCOUNT_ID: &str = "123456789012";

/// How long a moto server may take to answer (several start at once on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the server and kills it when its stdin closes, which happens when the `MotoServer`
/// is dropped or when the test process dies in any way: no orphaned servers.
const WATCHDOG: &str = r#"exec 3<&0
"$@" 3<&- </dev/null &
pid=$!
(exec 0<&3 3<&-; cat >/dev/null; kill "$pid" 2>/dev/null) &
exec 3<&-
wait "$pid""#;

/// moto's server with a lock around the application: connections are still served by threads,
/// but one request is processed at a time. Arguments: host, port.
const SERIALIZED_SERVER: &str = r#"
import os, sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
lock = threading.Lock()
def serialized(environ, start_response):
    with lock:
        return list(app(environ, start_response))
run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)
"#;

/// How the server is run.
#[derive(Debug, Clone, Copy)]
enum Launch {
    Standard,
    Serialized,
}

/// The interpreter (with its arguments) that runs the `moto_server` script, read from its
/// `#!` line, so the serialised server uses the same Python environment.
fn python_of(binary: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(binary)
        .map_err(|error| format!("cannot read {}: {error}", binary.display()))?;
    let interpreter = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("#!"))
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .ok_or_else(|| format!("{} is not a Python script with a #! line", binary.display()))?;
    Ok(interpreter)
}

/// A running moto server, stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// Closing it stops the server (see [`WATCHDOG`]).
    lifeline: Option<ChildStdin>,
    port: u16,
    endpoint: String,
    log: tempfile::NamedTempFile,
}

impl MotoServer {
    /// Starts a server on a free port and waits until it answers.
    ///
    /// # Panics
    /// When `moto_server` cannot be found (`MOTO_SERVER_BIN`, else
    /// `<workspace>/.venv-moto/bin/moto_server`) or does not start: tests that need AWS must
    /// never pass silently without it.
    pub fn start() -> MotoServer {
        MotoServer::launch(Launch::Standard)
    }

    /// Like [`MotoServer::start`], but moto handles one request at a time. moto's own
    /// conditional writes and DynamoDB transactions check and write without a lock, so two
    /// concurrent requests can both pass a condition; serialised, moto is as atomic as the
    /// real services, which is what compare-and-set tests need.
    pub fn start_serialized() -> MotoServer {
        MotoServer::launch(Launch::Serialized)
    }

    fn launch(launch: Launch) -> MotoServer {
        let binary = moto_binary();
        let mut failures = Vec::new();
        // A free port can be taken by another process between the check and moto's bind.
        for _ in 0..3 {
            match MotoServer::try_start(&binary, launch) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "moto_server ({}) did not start:\n{}",
            binary.display(),
            failures.join("\n---\n")
        );
    }

    fn try_start(binary: &Path, launch: Launch) -> Result<MotoServer, String> {
        let port = free_port();
        let log = tempfile::Builder::new()
            .prefix("moto-")
            .suffix(".log")
            .tempfile()
            .map_err(|error| format!("cannot create a log file: {error}"))?;
        let stdout = log
            .reopen()
            .map_err(|error| format!("cannot open the log file: {error}"))?;
        let stderr = log
            .reopen()
            .map_err(|error| format!("cannot open the log file: {error}"))?;
        let mut command = Command::new("sh");
        command.arg("-c").arg(WATCHDOG).arg("moto-watchdog");
        match launch {
            Launch::Standard => {
                command
                    .arg(binary)
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            }
            Launch::Serialized => {
                command.args(python_of(binary)?).args([
                    "-c",
                    SERIALIZED_SERVER,
                    "127.0.0.1",
                    &port.to_string(),
                ]);
            }
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", binary.display()))?;
        let lifeline = child.stdin.take();
        let mut server = MotoServer {
            child,
            lifeline,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "moto_server exited with {status}:\n{}",
                    server.log_tail()
                ));
            }
            if answers(port) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not answer on port {port} within {READY_TIMEOUT:?}:\n{}",
                    server.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`: the endpoint URL for every AWS client.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A shared SDK configuration for this server: its endpoint, [`REGION`], static test
    /// credentials (the credential chain never probes instance metadata) and no SDK retries
    /// (moto answers unimplemented operations with a 500 that would be retried for seconds).
    /// For S3 build with `aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true)`.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(aws_sdk_ssoadmin::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "moto-static",
            ))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .load()
            .await
    }

    /// Seeding helpers bound to this server's Identity Center instance.
    pub async fn seed(&self) -> Seed {
        Seed::new(self.sdk_config().await).await
    }

    /// Wipes all of the server's state (moto's `/moto-api/reset`).
    pub fn reset(&self) {
        let response = http_request(self.port, "POST", "/moto-api/reset")
            .unwrap_or_else(|error| panic!("moto reset failed: {error}"));
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "moto reset: {response}"
        );
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut file = match self.log.reopen() {
            Ok(file) => file,
            Err(error) => return format!("(log unreadable: {error})"),
        };
        let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(length.saturating_sub(4000)));
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        text
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `MOTO_SERVER_BIN`, else the workspace's `.venv-moto/bin/moto_server`.
fn moto_binary() -> PathBuf {
    let configured = std::env::var_os("MOTO_SERVER_BIN")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from);
    let candidate = configured
        .clone()
        .or_else(|| workspace_root().map(|root| root.join(".venv-moto/bin/moto_server")));
    match candidate {
        Some(path) if path.is_file() => path,
        Some(path) => panic!(
            "moto_server not found at {}: run .ci/run, or set MOTO_SERVER_BIN{}",
            path.display(),
            if configured.is_some() {
                " to an existing moto_server binary"
            } else {
                ""
            }
        ),
        None => panic!("moto_server not found: run .ci/run, or set MOTO_SERVER_BIN"),
    }
}

/// The directory holding `Cargo.lock`, above this crate.
fn workspace_root() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(Path::to_path_buf)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free local port: {error}"))
}

fn answers(port: u16) -> bool {
    http_request(port, "GET", "/moto-api/").is_ok_and(|response| {
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
    })
}

/// A minimal HTTP/1.1 request without a body; returns the start of the response.
fn http_request(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head)?;
    Ok(String::from_utf8_lossy(&head[..read]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_answers_until_it_is_dropped() {
        let server = MotoServer::start();
        let port = server.port();
        assert!(answers(port));
        assert_eq!(server.endpoint(), format!("http://127.0.0.1:{port}"));
        server.reset();
        drop(server);
        assert!(!answers(port), "the server must stop with its handle");
    }

    #[test]
    fn a_serialized_server_answers_until_it_is_dropped() {
        let server = MotoServer::start_serialized();
        let port = server.port();
        assert!(answers(port));
        server.reset();
        drop(server);
        assert!(!answers(port));
    }

    #[tokio::test]
    async fn seeding_creates_what_it_reports() {
        let server = MotoServer::start();
        let seed = server.seed().await;
        assert!(
            seed.instance_arn
                .starts_with("arn:aws:sso:::instance/ssoins-")
        );
        assert!(seed.identity_store_id.starts_with("d-"));
        let accounts = seed.organization(&["Prod", "Dev"]).await;
        assert_eq!(
            accounts
                .iter()
                .map(|account| account.name.as_str())
                .collect::<Vec<_>>(),
            ["Prod", "Dev"]
        );
        assert!(accounts.iter().all(
            |account| account.id.len() == 12 && account.id.bytes().all(|b| b.is_ascii_digit())
        ));
        // A second call reuses the organization.
        assert_eq!(seed.organization(&["Audit"]).await.len(), 1);

        let admin = seed.permission_set("Admin").await;
        assert!(admin.starts_with(&seed.instance_arn));
        let alice = seed.user("alice", "alice@corp.com", "Alice Example").await;
        let ops = seed.group("Ops").await;
        seed.membership(&ops, &alice).await;
        assert_eq!(seed.membership_count(&ops, &alice).await, 1);
        seed.assignment(&accounts[0].id, &admin, &alice).await;
        seed.assignment(&accounts[0].id, &admin, &alice).await;
        assert_eq!(
            seed.user_assignment_count(&accounts[0].id, &admin, &alice)
                .await,
            2,
            "moto keeps duplicates"
        );
        assert_eq!(
            seed.user_assignment_count(&accounts[1].id, &admin, &alice)
                .await,
            0
        );
    }
}
