//! `kill -9` of the real binary at every AWS call of a grant and of a revocation, on moto,
//! with the fault-injecting proxy between them. Each step is found by tracing one clean grant
//! and revocation through the proxy; then, for every call in that trace, a fresh gateway is
//! killed while that call is held at the proxy, the held call is either delivered to AWS late
//! (its effect happens, its answer is lost) or dropped, and a restarted gateway must finish
//! the work within 15 seconds: the grant active with exactly one assignment, or the access
//! removed, and never access that no grant covers. A second test runs a grant and a
//! revocation through delays, throttling, 5xx answers and connection resets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use liftgate_testkit::moto::{MotoServer, Seed};
use liftgate_testkit::proxy::{Fault, FaultProxy, Release};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::{
    Liftgate, SECRET, audit_events, free_port, signed_call, try_signed_call, wait_for,
};

/// What the issue promises after a kill -9: the dead process's work resumes within this.
const RESUME_WITHIN: Duration = Duration::from_secs(15);

/// The audit trail of a self-service grant ended early, each record once.
const TRAIL: [&str; 4] = ["requested", "approved", "granted", "revoked"];

/// Gateways run at once (each with its own proxy, state and person).
const PARALLEL: usize = 3;

/// Where the gateway keeps its state and timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// SQLite and the sweeper's own timers: only Identity Center calls cross the proxy.
    Local,
    /// DynamoDB and EventBridge Scheduler: every store and timer call crosses it too.
    Aws,
}

struct World {
    backend: Backend,
    moto: MotoServer,
    seed: Seed,
    account: String,
    admin_arn: String,
}

async fn world(backend: Backend) -> Arc<World> {
    // Serialised, moto's conditional writes are as atomic as DynamoDB's.
    let moto = match backend {
        Backend::Local => MotoServer::start(),
        Backend::Aws => MotoServer::start_serialized(),
    };
    let seed = moto.seed().await;
    let accounts = seed.organization(&["Production"]).await;
    let admin_arn = seed.permission_set("Admin").await;
    Arc::new(World {
        backend,
        account: accounts[0].id.clone(),
        admin_arn,
        seed,
        moto,
    })
}

/// One gateway's surroundings: its state directory, its proxy in front of moto, its port and
/// the one person who asks for access through it.
struct Site {
    directory: tempfile::TempDir,
    config: PathBuf,
    proxy: FaultProxy,
    port: u16,
    email: String,
    user_id: String,
}

async fn site(world: &World, name: &str) -> Site {
    let directory = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(world.moto.endpoint()).await;
    let port = free_port();
    let email = format!("{name}@example.com");
    let user_id = world.seed.user(&email, &email, name).await;
    let config = directory.path().join("liftgate.yaml");
    let backends = match world.backend {
        Backend::Local => format!(
            r#"
state:
  path: "{dir}/state.db"
scheduler:
  sweep_interval: 1s
"#,
            dir = directory.path().display()
        ),
        Backend::Aws => format!(
            r#"
state:
  backend: dynamodb
  table: liftgate-{name}
scheduler:
  backend: eventbridge
  group_name: liftgate-{name}
  role_arn: arn:aws:iam::123456789012:role/liftgate-scheduler
  sweep_interval: 1s
"#
        ),
    };
    std::fs::write(
        &config,
        format!(
            r#"{backends}
server:
  listen: "127.0.0.1:{port}"
  shutdown_grace: 2s
aws:
  region: us-east-1
  sso_instance_arn: "{instance}"
  identity_store_id: "{store}"
  endpoint_url: "{endpoint}"
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
    ApprovalIsNotRequired: true
"#,
            instance = world.seed.instance_arn,
            store = world.seed.identity_store_id,
            endpoint = proxy.endpoint(),
            dir = directory.path().display(),
            account = world.account,
        ),
    )
    .unwrap();
    if world.backend == Backend::Aws {
        // Blocking: off the runtime, which serves this site's proxy meanwhile.
        let path = config.clone();
        tokio::task::spawn_blocking(move || state_init(&path))
            .await
            .unwrap();
    }
    Site {
        directory,
        config,
        proxy,
        port,
        email,
        user_id,
    }
}

fn state_init(config: &Path) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_liftgate"))
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
}

impl Site {
    async fn start(&self) -> Liftgate {
        let log = self.directory.path().join("liftgate.log");
        Liftgate::start(&self.config, self.port, log).await
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn create_body(&self, world: &World) -> Value {
        json!({"requester": self.email, "account_id": world.account, "permission_set": "Admin",
               "duration": "30m", "reason": "INC-9: kill -9 drill"})
    }

    async fn create(&self, world: &World, idempotency_key: &str) -> (u16, Value) {
        create_call(
            self.base(),
            self.create_body(world),
            idempotency_key.to_owned(),
        )
        .await
    }

    async fn get(&self, id: &str) -> Value {
        signed_call(self.base(), "GET", format!("/api/v1/requests/{id}"), None)
            .await
            .1
    }

    async fn assignments(&self, world: &World) -> usize {
        world
            .seed
            .user_assignment_count(&world.account, &world.admin_arn, &self.user_id)
            .await
    }
}

/// A create as a client sends it, with an idempotency key so a retry after a lost answer is
/// safe. Status 0: the connection failed.
async fn create_call(base: String, body: Value, idempotency_key: String) -> (u16, Value) {
    let (status, answer) = try_signed_call(
        &base,
        "POST",
        "/api/v1/requests",
        Some(body),
        &[("Idempotency-Key", &idempotency_key)],
    )
    .await;
    (status.unwrap_or(0), answer)
}

/// An early end by the requester. Status 0: the gateway died with the call in flight.
async fn revoke_call(base: String, id: String, email: String) -> (u16, Value) {
    let path = format!("/api/v1/requests/{id}/revoke");
    let (status, answer) = try_signed_call(
        &base,
        "POST",
        &path,
        Some(json!({ "requester": email })),
        &[],
    )
    .await;
    (status.unwrap_or(0), answer)
}

/// The AWS calls of one clean grant and one clean revocation, in order.
async fn trace(world: &World) -> (Vec<String>, Vec<String>) {
    let site = site(world, "tracer").await;
    let liftgate = site.start().await;
    site.proxy.clear_log();
    let (status, created) = site.create(world, "trace").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "active", "{created}");
    let grant_calls = site.proxy.log();
    site.proxy.clear_log();
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, ended) = revoke_call(site.base(), id, site.email.clone()).await;
    assert_eq!((status, ended["status"].as_str()), (200, Some("ended")));
    let revoke_calls = site.proxy.log();
    liftgate.kill();
    (grant_calls, revoke_calls)
}

/// Where to kill: an operation, and how many of its calls to let through first.
///
/// With the local backend only the action itself calls AWS, so every call of the trace is a
/// kill point (its operation, after as many earlier calls of it as the trace had). With the
/// AWS backend the sweeper and the outbox query DynamoDB in the background every second, so
/// occurrence counts are not repeatable: every distinct operation of the trace is a kill point,
/// caught at its first call after the action starts (a background call of it, if that comes
/// first, is as real a place to die).
fn kill_points(backend: Backend, calls: &[String]) -> Vec<(String, usize)> {
    match backend {
        Backend::Local => (0..calls.len())
            .map(|index| {
                let operation = calls[index].clone();
                let earlier = calls[..index].iter().filter(|op| **op == operation).count();
                (operation, earlier)
            })
            .collect(),
        Backend::Aws => {
            let mut seen = Vec::new();
            for operation in calls {
                if !seen.iter().any(|(op, _)| op == operation) {
                    seen.push((operation.clone(), 0));
                }
            }
            seen
        }
    }
}

/// What one kill taught: which call, how the held call ended, how long the restarted
/// gateway took to finish.
#[derive(Debug)]
struct Outcome {
    phase: &'static str,
    operation: String,
    release: Release,
    resumed_in: Duration,
    /// Whether the client had to send its call again (it was not durable when the gateway
    /// died).
    retried: bool,
}

/// Kills the gateway while the `index`-th AWS call of a grant is in flight; the restarted one
/// must grant within [`RESUME_WITHIN`] (the client retries its create with the same key).
async fn kill_during_grant(
    world: Arc<World>,
    point: (String, usize),
    number: usize,
    release: Release,
) -> Option<Outcome> {
    let site = site(
        world.as_ref(),
        &format!("grant{number}{release:?}").to_lowercase(),
    )
    .await;
    let liftgate = site.start().await;
    let (operation, skip) = point;
    site.proxy.inject(&operation, skip, 1, Fault::Hold);
    let mut pending = tokio::spawn(create_call(
        site.base(),
        site.create_body(&world),
        "drill".to_owned(),
    ));
    tokio::select! {
        _ = site.proxy.wait_held(Duration::from_secs(60)) => {}
        answered = &mut pending => {
            // A traced call this run did not make (a background sweep or outbox call the
            // trace happened to see): not a kill point of this run. The grant still worked.
            let (status, body) = answered.unwrap();
            assert!(matches!(status, 200 | 201), "{status} {body}");
            eprintln!("grant: {operation} (skip {skip}) not reached in this run");
            liftgate.kill();
            return None;
        }
    }
    liftgate.kill();
    site.proxy.release(release).await;
    let _ = pending.await;

    let liftgate = site.start().await;
    let restarted = Instant::now();
    let (status, created) = site.create(&world, "drill").await;
    assert!(matches!(status, 200 | 201), "{status} {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let mut resumed_in = None;
    while restarted.elapsed() < RESUME_WITHIN + Duration::from_secs(5) {
        if site.get(&id).await["status"] == "active" {
            resumed_in = Some(restarted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(resumed_in) = resumed_in else {
        panic!(
            "killed at {operation} (#{skip}, {release:?}): not granted after restart: {}\n{}",
            site.get(&id).await,
            std::fs::read_to_string(&liftgate.log).unwrap_or_default()
        );
    };
    assert_eq!(
        site.assignments(&world).await,
        1,
        "killed at {operation} ({release:?})"
    );
    finish_and_check_trail(&world, &site, &id).await;
    liftgate.kill();
    Some(Outcome {
        phase: "grant",
        operation,
        release,
        resumed_in,
        retried: true,
    })
}

/// Kills the gateway while the `index`-th AWS call of an early revocation is in flight; the
/// restarted one must finish the revocation within [`RESUME_WITHIN`] with no help.
async fn kill_during_revocation(
    world: Arc<World>,
    point: (String, usize),
    number: usize,
    release: Release,
) -> Option<Outcome> {
    let site = site(
        world.as_ref(),
        &format!("revoke{number}{release:?}").to_lowercase(),
    )
    .await;
    let liftgate = site.start().await;
    let (status, created) = site.create(&world, "drill").await;
    assert_eq!((status, created["status"].as_str()), (201, Some("active")));
    let id = created["id"].as_str().unwrap().to_owned();
    let (operation, skip) = point;
    site.proxy.inject(&operation, skip, 1, Fault::Hold);
    let mut pending = tokio::spawn(revoke_call(site.base(), id.clone(), site.email.clone()));
    tokio::select! {
        _ = site.proxy.wait_held(Duration::from_secs(60)) => {}
        answered = &mut pending => {
            let (status, body) = answered.unwrap();
            assert_eq!((status, body["status"].as_str()), (200, Some("ended")), "{body}");
            eprintln!("revocation: {operation} (skip {skip}) not reached in this run");
            liftgate.kill();
            return None;
        }
    }
    liftgate.kill();
    site.proxy.release(release).await;
    let _ = pending.await;

    let liftgate = site.start().await;
    let restarted = Instant::now();
    // Killed before the end was recorded, the revoke never happened (its caller saw the
    // connection drop): the caller asks again, as any client of a dropped call must. Once
    // recorded, the restarted gateway finishes it on its own.
    let after_restart = site.get(&id).await;
    let retried = after_restart["status"] == "active" && after_restart["revocation"].is_null();
    if retried {
        let (status, answer) = revoke_call(site.base(), id.clone(), site.email.clone()).await;
        assert!(matches!(status, 200 | 202), "{status} {answer}");
    }
    let mut resumed_in = None;
    while restarted.elapsed() < RESUME_WITHIN + Duration::from_secs(5) {
        if site.get(&id).await["status"] == "ended" && site.assignments(&world).await == 0 {
            resumed_in = Some(restarted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(resumed_in) = resumed_in else {
        panic!(
            "killed at {operation} (#{skip}, {release:?}) of the revocation: not finished after restart: {} with {} assignments\n{}",
            site.get(&id).await,
            site.assignments(&world).await,
            std::fs::read_to_string(&liftgate.log).unwrap_or_default()
        );
    };
    wait_for_trail(&site, &id).await;
    liftgate.kill();
    Some(Outcome {
        phase: "revocation",
        operation,
        release,
        resumed_in,
        retried,
    })
}

/// Ends the grant and checks the audit trail has every step, once.
async fn finish_and_check_trail(world: &World, site: &Site, id: &str) {
    let (status, ended) = revoke_call(site.base(), id.to_owned(), site.email.clone()).await;
    match (status, ended["status"].as_str()) {
        (200, Some("ended")) => assert_eq!(site.assignments(world).await, 0),
        // The dead process's lease on the access still stands: the end is recorded and the
        // sweeper carries it out once the lease is stale.
        (202, Some("active")) => {
            assert_eq!(ended["revocation"]["state"], "in_progress", "{ended}");
            let deadline = Instant::now() + RESUME_WITHIN;
            while site.get(id).await["status"] != "ended" || site.assignments(world).await != 0 {
                assert!(Instant::now() < deadline, "the recorded end never finished");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        other => panic!("revoke answered {other:?}: {ended}"),
    }
    wait_for_trail(site, id).await;
}

async fn wait_for_trail(site: &Site, id: &str) {
    // Records the killed process had claimed come out once its claim lease (15 s) ends.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let names = event_names(site.directory.path(), id);
        if names == TRAIL {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the audit trail of {id} is {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn event_names(directory: &Path, id: &str) -> Vec<String> {
    let mut names: Vec<String> = audit_events(directory, id)
        .into_iter()
        .map(|(event, _)| event)
        .collect();
    // The order of records written in one instant is not defined; the set and count are.
    names.sort_by_key(|name| TRAIL.iter().position(|o| o == name).unwrap_or(TRAIL.len()));
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_every_identity_center_call_of_a_grant_and_a_revocation_then_restart() {
    kill_at_every_call(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_every_dynamodb_scheduler_and_identity_center_call_then_restart() {
    kill_at_every_call(Backend::Aws).await;
}

async fn kill_at_every_call(backend: Backend) {
    let world = world(backend).await;
    let (grant_calls, revoke_calls) = trace(&world).await;
    assert!(
        grant_calls.iter().any(|op| op == "CreateAccountAssignment"),
        "{grant_calls:?}"
    );
    assert!(
        revoke_calls
            .iter()
            .any(|op| op == "DeleteAccountAssignment"),
        "{revoke_calls:?}"
    );
    let grant_points = kill_points(backend, &grant_calls);
    let revoke_points = kill_points(backend, &revoke_calls);
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(PARALLEL));
    let mut runs = tokio::task::JoinSet::new();
    for release in [Release::Forward, Release::Drop] {
        for (number, point) in grant_points.iter().cloned().enumerate() {
            let (world, slots) = (world.clone(), slots.clone());
            runs.spawn(async move {
                let _slot = slots.acquire_owned().await.unwrap();
                kill_during_grant(world, point, number, release).await
            });
        }
        for (number, point) in revoke_points.iter().cloned().enumerate() {
            let (world, slots) = (world.clone(), slots.clone());
            runs.spawn(async move {
                let _slot = slots.acquire_owned().await.unwrap();
                kill_during_revocation(world, point, number, release).await
            });
        }
    }
    let mut outcomes = Vec::new();
    let mut not_reached = 0;
    while let Some(outcome) = runs.join_next().await {
        match outcome.unwrap() {
            Some(outcome) => outcomes.push(outcome),
            None => not_reached += 1,
        }
    }
    // Background calls (sweeps, outbox) can land in the trace of one run and not another;
    // nearly every traced call must still be a real kill point.
    assert!(
        not_reached * 4 <= outcomes.len(),
        "{not_reached} traced calls were not reached, {} were",
        outcomes.len()
    );
    for phase in ["grant", "revocation"] {
        assert!(
            outcomes.iter().any(|outcome| outcome.phase == phase),
            "no {phase} kill point was reached"
        );
    }
    let unaided = outcomes
        .iter()
        .filter(|outcome| outcome.phase == "revocation" && !outcome.retried)
        .count();
    eprintln!("{backend:?}: {unaided} revocations were finished by the restarted gateway alone");
    let slowest = outcomes
        .iter()
        .max_by_key(|outcome| outcome.resumed_in)
        .unwrap();
    eprintln!(
        "{backend:?}: {} kills ({} kill points in a grant's {} calls, {} in a revocation's {}; each held call forwarded late, and dropped) in {:?}; slowest resume {:?} ({} at {}, {:?})",
        outcomes.len(),
        grant_points.len(),
        grant_calls.len(),
        revoke_points.len(),
        revoke_calls.len(),
        started.elapsed(),
        slowest.resumed_in,
        slowest.phase,
        slowest.operation,
        slowest.release
    );
    for outcome in &outcomes {
        assert!(
            outcome.resumed_in <= RESUME_WITHIN,
            "resumed too late: {outcome:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_throttling_5xx_and_resets_slow_a_grant_but_never_break_it() {
    let world = world(Backend::Local).await;
    let site = site(&world, "weather").await;
    let liftgate = site.start().await;
    let proxy = &site.proxy;
    proxy.inject("ListAccountAssignments", 0, 1, Fault::Status(500));
    proxy.inject("CreateAccountAssignment", 0, 2, Fault::Throttle);
    proxy.inject(
        "DescribeAccountAssignmentCreationStatus",
        0,
        1,
        Fault::Delay(Duration::from_secs(2)),
    );
    proxy.inject("DeleteAccountAssignment", 0, 1, Fault::Reset);
    proxy.inject("DeleteAccountAssignment", 0, 1, Fault::Status(503));

    let (status, created) = site.create(&world, "weather").await;
    assert!(matches!(status, 201 | 202), "{status} {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    wait_for("the grant through the weather", RESUME_WITHIN, || {
        let (base, id) = (site.base(), id.clone());
        async move {
            signed_call(base, "GET", format!("/api/v1/requests/{id}"), None)
                .await
                .1["status"]
                == "active"
        }
    })
    .await;
    assert_eq!(site.assignments(&world).await, 1);

    let (status, ended) = revoke_call(site.base(), id.clone(), site.email.clone()).await;
    assert!(
        matches!(
            (status, ended["status"].as_str()),
            (200, Some("ended")) | (202, Some("active"))
        ),
        "{status} {ended}"
    );
    wait_for("the revocation through the weather", RESUME_WITHIN, || {
        let (base, id) = (site.base(), id.clone());
        async move {
            signed_call(base, "GET", format!("/api/v1/requests/{id}"), None)
                .await
                .1["status"]
                == "ended"
        }
    })
    .await;
    assert_eq!(site.assignments(&world).await, 0);
    let seen = proxy.log();
    assert!(
        seen.iter()
            .filter(|op| *op == "DeleteAccountAssignment")
            .count()
            >= 3,
        "the reset and the 503 were retried: {seen:?}"
    );
    wait_for_trail(&site, &id).await;
    liftgate.kill();
}
