//! Model-based randomized testing of the grant lifecycle. A seed generates a history: several
//! requesters asking for overlapping access (some of it held before Liftgate), approvals,
//! denials, early revokes, extensions, deferred starts, break-glass uses and their reviews
//! (by reviewers and by the requester), clock jumps, replicas sweeping the
//! same store, and EventBridge timers firing. A deterministic executor interleaves every store
//! and AWS call of every task, injects faults at each (refused calls, lost answers), and kills
//! replicas mid-step. After every step and at quiescence the invariants of the access ledger
//! are checked. Every interleaving is reproducible from its seed.
//!
//! CI runs a bounded number of histories. Locally:
//! `LIFTGATE_SIM_HISTORIES=100000 cargo test --release -p liftgate-gateway --test integration
//! simulation -- --nocapture` (optionally `LIFTGATE_SIM_SEED=<first seed>`); a failure prints
//! its seed, which then becomes a regression test below.

mod executor;
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use liftgate_gateway::config::RequestSettings;
use liftgate_gateway::domain::access::Origin;
use liftgate_gateway::domain::{
    AccessKey, Channel, GrantStatus, GrantTarget, RequestId, RequestStatus, seed_ids_for_tests,
};
use liftgate_gateway::metrics::Metrics;
use liftgate_gateway::testing::person;
use liftgate_gateway::workflow::{AccessService, Action, Dependencies, NewRequest, TargetInput};
use liftgate_policy::Duration as PolicyDuration;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

use self::executor::{Executor, Fault, Gate, Kind, Parked};
use self::world::{SimClock, SimIdentity, SimScheduler, SimStore};

const PROD: &str = "111111111111";
const DEV: &str = "222222222222";
const OPS: &str = "11111111-2222-3333-4444-555555555555";
const REQUESTERS: [&str; 3] = ["requester", "carol", "dave"];
const APPROVERS: [&str; 2] = ["alice", "bob"];

/// Steps a history may take before the operations stop being issued.
const MAX_STEPS: usize = 3000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Self-service: granted without approval.
    Prod,
    /// Needs one of alice or bob.
    Dev,
    /// A group; needs alice.
    Ops,
}

impl Target {
    const ALL: [Target; 3] = [Target::Prod, Target::Dev, Target::Ops];

    fn input(self) -> TargetInput {
        match self {
            Target::Prod => TargetInput::Account {
                account_id: PROD.to_owned(),
                permission_set: "Admin".to_owned(),
            },
            Target::Dev => TargetInput::Account {
                account_id: DEV.to_owned(),
                permission_set: "Admin".to_owned(),
            },
            Target::Ops => TargetInput::Group {
                group_id: OPS.to_owned(),
            },
        }
    }

    fn key(self, user_id: &str) -> AccessKey {
        match self {
            Target::Prod => AccessKey::account(PROD, "Admin", user_id),
            Target::Dev => AccessKey::account(DEV, "Admin", user_id),
            Target::Ops => AccessKey::group(OPS, user_id),
        }
    }
}

/// One thing a history does.
#[derive(Debug, Clone)]
enum Op {
    Create {
        who: usize,
        target: Target,
        minutes: u64,
        start_in: Option<u64>,
    },
    Approve {
        request: usize,
        approver: usize,
    },
    Deny {
        request: usize,
    },
    Cancel {
        request: usize,
    },
    Revoke {
        request: usize,
        by_requester: bool,
    },
    Extend {
        request: usize,
    },
    Jump {
        minutes: i64,
    },
    /// Break the glass on Dev Admin (only carol may; the others are refused).
    BreakGlass {
        who: usize,
        minutes: u64,
    },
    /// A reviewer acknowledges or flags a request (refused unless it is a break-glass use).
    Review {
        request: usize,
        reviewer: usize,
        flag: bool,
    },
}

/// Fault and crash rates of one history.
#[derive(Debug, Clone, Copy)]
struct Weather {
    refuse: f64,
    lose: f64,
    crash: f64,
    jump: f64,
}

const CALM: Weather = Weather {
    refuse: 0.0,
    lose: 0.0,
    crash: 0.0,
    jump: 0.0,
};

struct Replica {
    service: AccessService,
    alive: bool,
    down_until: usize,
}

/// Requests the history made, shared with the tasks that make them.
#[derive(Debug, Default)]
struct Made {
    requests: Vec<RequestId>,
}

struct Sim {
    /// What the trace last showed of each grant and ledger record.
    traced: BTreeMap<String, String>,
    seed: u64,
    rng: StdRng,
    clock: Arc<SimClock>,
    store: Arc<SimStore>,
    identity: Arc<SimIdentity>,
    scheduler: Arc<SimScheduler>,
    deps: Dependencies,
    replicas: Vec<Replica>,
    exec: Executor,
    made: Arc<Mutex<Made>>,
    /// Access that existed before Liftgate: (key, count) as seeded.
    preseeded: BTreeMap<AccessKey, ()>,
    weather: Weather,
    steps: usize,
}

/// What went wrong, with enough to replay it.
#[derive(Debug)]
struct Violation {
    seed: u64,
    step: usize,
    what: String,
}

/// What a batch of histories did.
#[derive(Debug, Default)]
struct Stats {
    histories: usize,
    steps: usize,
    grants_active_at_some_point: usize,
    faults: usize,
    crashes: usize,
    timers_fired: usize,
}

fn user_id(name: &str) -> String {
    format!("u-{name}")
}

fn email(name: &str) -> String {
    format!("{name}@corp.com")
}

impl Sim {
    fn new(seed: u64) -> Sim {
        seed_ids_for_tests(Some(seed));
        let mut rng = StdRng::seed_from_u64(seed);
        let gate = Arc::new(Gate::default());
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let clock = Arc::new(SimClock::new(start, gate.clone()));
        let store = Arc::new(SimStore::new(gate.clone()));
        let identity = Arc::new(SimIdentity::new(gate.clone(), clock.clone()));
        let scheduler = Arc::new(SimScheduler::new(gate.clone(), clock.clone()));
        let directory = &identity.inner;
        directory.add_account(PROD, "Prod");
        directory.add_account(DEV, "Dev");
        directory.add_permission_set("Admin");
        directory.add_group(OPS, "Ops");
        for name in REQUESTERS.iter().chain(APPROVERS.iter()) {
            directory.add_user(&email(name), &user_id(name));
        }
        let mut preseeded = BTreeMap::new();
        for who in REQUESTERS {
            for target in Target::ALL {
                if rng.random_bool(0.15) {
                    match target {
                        Target::Ops => {
                            directory.add_membership(OPS, &user_id(who));
                        }
                        Target::Prod => directory.add_assignment(PROD, "Admin", &user_id(who)),
                        Target::Dev => directory.add_assignment(DEV, "Admin", &user_id(who)),
                    }
                    preseeded.insert(target.key(&user_id(who)), ());
                }
            }
        }
        let rules = liftgate_policy::parse_rules(
            Some(&serde_json::json!([
                {"ResourceType": "Account", "Resource": [PROD], "PermissionSet": "Admin",
                 "Approvers": ["alice@corp.com"], "ApprovalIsNotRequired": true},
                {"ResourceType": "Account", "Resource": [DEV], "PermissionSet": "Admin",
                 "Approvers": ["alice@corp.com", "bob@corp.com"]},
                {"ResourceType": "Account", "Resource": [DEV], "PermissionSet": "Admin",
                 "BreakGlass": true, "AllowedUsers": ["carol@corp.com"],
                 "Approvers": ["alice@corp.com", "bob@corp.com"]},
            ])),
            Some(&serde_json::json!([{"Resource": [OPS], "Approvers": ["alice@corp.com"]}])),
        )
        .unwrap();
        let deps = Dependencies {
            store: store.clone(),
            identity: identity.clone(),
            scheduler: scheduler.clone(),
            clock: clock.clone(),
            rules: Arc::new(rules),
            requests: RequestSettings::default(),
            audit_sinks: vec!["memory".to_owned()],
            notifiers: Vec::new(),
            metrics: Arc::new(Metrics::new()),
        };
        let replica_count = rng.random_range(1..=3);
        let replicas = (0..replica_count)
            .map(|_| Replica {
                service: AccessService::new(deps.clone()),
                alive: true,
                down_until: 0,
            })
            .collect();
        let stormy = rng.random_bool(0.7);
        let weather = if stormy {
            Weather {
                refuse: rng.random_range(0.0..0.08),
                lose: rng.random_range(0.0..0.06),
                crash: rng.random_range(0.0..0.01),
                jump: rng.random_range(0.0..0.01),
            }
        } else {
            CALM
        };
        Sim {
            traced: BTreeMap::new(),
            seed,
            rng,
            clock,
            store,
            identity,
            scheduler,
            deps,
            replicas,
            exec: Executor::new(gate),
            made: Arc::new(Mutex::new(Made::default())),
            preseeded,
            weather,
            steps: 0,
        }
    }

    fn violation(&self, what: impl Into<String>) -> Violation {
        Violation {
            seed: self.seed,
            step: self.steps,
            what: what.into(),
        }
    }

    fn history(&mut self) -> Vec<(usize, Op)> {
        let count = self.rng.random_range(3..=14);
        let mut ops = Vec::new();
        let mut creates = 0usize;
        for _ in 0..count {
            let at = self.rng.random_range(0..400);
            let request = if creates == 0 {
                0
            } else {
                self.rng.random_range(0..creates.max(1) + 1)
            };
            let op = match self.rng.random_range(0..100) {
                0..=39 => {
                    creates += 1;
                    Op::Create {
                        who: self.rng.random_range(0..REQUESTERS.len()),
                        target: Target::ALL[self.rng.random_range(0..3)],
                        minutes: self.rng.random_range(30..=240),
                        start_in: self
                            .rng
                            .random_bool(0.15)
                            .then(|| self.rng.random_range(1..=120)),
                    }
                }
                40..=59 => Op::Approve {
                    request,
                    approver: self.rng.random_range(0..APPROVERS.len()),
                },
                60..=63 => Op::Deny { request },
                64..=66 => Op::Cancel { request },
                67..=82 => Op::Revoke {
                    request,
                    by_requester: self.rng.random_bool(0.7),
                },
                83..=90 => Op::Extend { request },
                _ => Op::Jump {
                    minutes: self.rng.random_range(1..=180),
                },
            };
            ops.push((at, op));
        }
        // Break-glass operations come from a generator of their own, so the histories of
        // seeds without them (most) are exactly what they were before break-glass existed.
        let mut glass = StdRng::seed_from_u64(self.seed ^ 0xB4EA_6C1A_5500_0000);
        if glass.random_bool(0.3) {
            for _ in 0..glass.random_range(1..=4) {
                let at = glass.random_range(0..400);
                let op = if glass.random_bool(0.5) {
                    creates += 1;
                    Op::BreakGlass {
                        who: glass.random_range(0..REQUESTERS.len()),
                        minutes: glass.random_range(30..=240),
                    }
                } else {
                    Op::Review {
                        request: glass.random_range(0..creates.max(1) + 1),
                        reviewer: glass.random_range(0..APPROVERS.len() + 1),
                        flag: glass.random_bool(0.5),
                    }
                };
                ops.push((at, op));
            }
        }
        ops.sort_by_key(|(at, _)| *at);
        ops
    }

    fn alive_replica(&mut self) -> Option<usize> {
        let alive: Vec<usize> = (0..self.replicas.len())
            .filter(|index| self.replicas[*index].alive)
            .collect();
        (!alive.is_empty()).then(|| alive[self.rng.random_range(0..alive.len())])
    }

    fn spawn_op(&mut self, op: Op) {
        if trace() {
            eprintln!("step {} spawn {op:?}", self.steps);
        }
        if let Op::Jump { minutes } = op {
            self.clock.advance(time::Duration::minutes(minutes));
            return;
        }
        let Some(replica) = self.alive_replica() else {
            return;
        };
        let service = self.replicas[replica].service.clone();
        let made = self.made.clone();
        let pick = |index: usize| made.lock().requests.get(index).cloned();
        match op {
            Op::Create {
                who,
                target,
                minutes,
                start_in,
            } => {
                let start_at =
                    start_in.map(|m| self.clock_now() + time::Duration::minutes(m as i64));
                let made = self.made.clone();
                self.exec.spawn(replica, async move {
                    let input = NewRequest {
                        requester: person(&email(REQUESTERS[who])),
                        target: target.input(),
                        duration: PolicyDuration::from_mins(minutes),
                        reason: "simulated".to_owned(),
                        channel: Channel::Webhook,
                        start_at,
                        extends: None,
                        idempotency_key: None,
                        break_glass: false,
                    };
                    if let Ok(request) = service.create(input).await {
                        made.lock().requests.push(request.id);
                    }
                });
            }
            Op::Approve { request, approver } => {
                let Some(id) = pick(request) else { return };
                self.exec.spawn(replica, async move {
                    let _ = service
                        .approve(
                            &id,
                            &person(&email(APPROVERS[approver])),
                            Channel::Slack,
                            None,
                        )
                        .await;
                });
            }
            Op::Deny { request } => {
                let Some(id) = pick(request) else { return };
                self.exec.spawn(replica, async move {
                    let _ = service
                        .deny(&id, &person(&email("alice")), Channel::Slack, None)
                        .await;
                });
            }
            Op::Cancel { request } => {
                let Some(id) = pick(request) else { return };
                let store = self.store.clone();
                self.exec.spawn(replica, async move {
                    if let Ok(Some(stored)) = store.inner_request(&id) {
                        let _ = service
                            .cancel(&id, &stored.requester, Channel::Webhook)
                            .await;
                    }
                });
            }
            Op::Revoke {
                request,
                by_requester,
            } => {
                let Some(id) = pick(request) else { return };
                let store = self.store.clone();
                self.exec.spawn(replica, async move {
                    let Ok(Some(stored)) = store.inner_request(&id) else {
                        return;
                    };
                    let actor = if by_requester {
                        stored.requester.clone()
                    } else {
                        person(&email("alice"))
                    };
                    if let Ok(answer) = service.revoke(&id, &actor, Channel::Webhook).await {
                        // Truthful answers: what the revoke says is what the store holds.
                        let now = store.inner_request(&id).ok().flatten();
                        assert!(
                            now.is_some_and(
                                |now| now.status() == answer.status() || now.status().is_final()
                            ),
                            "a revoke answered {:?}, which the store did not record",
                            answer.status()
                        );
                    }
                });
            }
            Op::Extend { request } => {
                let Some(id) = pick(request) else { return };
                let store = self.store.clone();
                self.exec.spawn(replica, async move {
                    let Ok(Some(stored)) = store.inner_request(&id) else {
                        return;
                    };
                    let Some(grant_id) = stored.grant_id.clone() else {
                        return;
                    };
                    let (target, minutes) = match &stored.target {
                        liftgate_gateway::domain::RequestTarget::Account {
                            account_id,
                            permission_set,
                            ..
                        } => (
                            TargetInput::Account {
                                account_id: account_id.clone(),
                                permission_set: permission_set.clone(),
                            },
                            60,
                        ),
                        liftgate_gateway::domain::RequestTarget::Group { group_id, .. } => (
                            TargetInput::Group {
                                group_id: group_id.clone(),
                            },
                            60,
                        ),
                    };
                    let input = NewRequest {
                        requester: stored.requester.clone(),
                        target,
                        duration: PolicyDuration::from_mins(minutes),
                        reason: "more time".to_owned(),
                        channel: Channel::Webhook,
                        start_at: None,
                        extends: Some(grant_id),
                        idempotency_key: None,
                        break_glass: false,
                    };
                    if let Ok(extension) = service.create(input).await
                        && extension.status() == RequestStatus::Pending
                    {
                        let _ = service
                            .approve(
                                &extension.id,
                                &person(&email("alice")),
                                Channel::Slack,
                                None,
                            )
                            .await;
                    }
                });
            }
            Op::BreakGlass { who, minutes } => {
                let made = self.made.clone();
                self.exec.spawn(replica, async move {
                    let input = NewRequest {
                        requester: person(&email(REQUESTERS[who])),
                        target: Target::Dev.input(),
                        duration: PolicyDuration::from_mins(minutes),
                        reason: "simulated emergency".to_owned(),
                        channel: Channel::Webhook,
                        start_at: None,
                        extends: None,
                        idempotency_key: None,
                        break_glass: true,
                    };
                    if let Ok(request) = service.create(input).await {
                        made.lock().requests.push(request.id);
                    }
                });
            }
            Op::Review {
                request,
                reviewer,
                flag,
            } => {
                let Some(id) = pick(request) else { return };
                let store = self.store.clone();
                self.exec.spawn(replica, async move {
                    // The last "reviewer" is the requester, who may never review.
                    let actor = match APPROVERS.get(reviewer) {
                        Some(name) => person(&email(name)),
                        None => match store.inner_request(&id) {
                            Ok(Some(stored)) => stored.requester.clone(),
                            _ => return,
                        },
                    };
                    let action = if flag {
                        Action::Flag { comment: None }
                    } else {
                        Action::Acknowledge { comment: None }
                    };
                    let answer = service.act(&id, &actor, Channel::Slack, action).await;
                    if let Ok(answer) = answer {
                        let review = answer.break_glass.as_ref().and_then(|r| r.reviewed.as_ref());
                        assert!(
                            review.is_some_and(|review| review.by.email != answer.requester.email),
                            "a review was answered as recorded by the requester or not at all: {review:?}"
                        );
                    }
                });
            }
            Op::Jump { .. } => {}
        }
    }

    fn clock_now(&self) -> OffsetDateTime {
        liftgate_gateway::ports::Clock::now(self.clock.as_ref())
    }

    /// Sweeps on replicas that are not sweeping, now and then.
    fn maybe_sweep(&mut self, probability: f64) {
        for index in 0..self.replicas.len() {
            if !self.replicas[index].alive || !self.rng.random_bool(probability) {
                continue;
            }
            // One sweep at a time per replica, as `run_sweeper` does.
            if self.exec.tasks_of(index) > 2 {
                continue;
            }
            let service = self.replicas[index].service.clone();
            self.exec.spawn(index, async move {
                let _ = service.sweep().await;
            });
        }
    }

    fn maybe_crash(&mut self) -> bool {
        if !self.rng.random_bool(self.weather.crash) {
            return false;
        }
        let Some(victim) = self.alive_replica() else {
            return false;
        };
        self.exec.crash(victim);
        if trace() {
            eprintln!("step {} crash replica {victim}", self.steps);
        }
        let down = self.rng.random_range(1..200);
        let replica = &mut self.replicas[victim];
        replica.alive = false;
        replica.down_until = self.steps + down;
        true
    }

    fn revive(&mut self, all: bool) {
        for replica in &mut self.replicas {
            if !replica.alive && (all || replica.down_until <= self.steps) {
                // A restarted process: new identity, nothing remembered.
                replica.service = AccessService::new(self.deps.clone());
                replica.alive = true;
            }
        }
    }

    /// EventBridge Scheduler firing what is due: the target removes the access directly.
    fn fire_timers(&mut self) -> Result<usize, Violation> {
        let now = self.clock_now();
        let due = self.scheduler.inner.take_due(now);
        let fired = due.len();
        for (key, timer) in due {
            // No timer may fire while a grant still covers the access.
            for grant in self.store.inner.all_grants() {
                if grant.access_key() == key
                    && grant.status() == GrantStatus::Active
                    && grant.ends_at > now
                {
                    return Err(self.violation(format!(
                        "the timer of {key} fired at {now} while grant {} covers it until {}",
                        grant.id, grant.ends_at
                    )));
                }
            }
            let directory = &self.identity.inner;
            match &timer.target {
                GrantTarget::Account {
                    account_id,
                    permission_set_arn,
                    ..
                } => {
                    let arn = permission_set_arn.clone().unwrap_or_default();
                    let _ = futures_util::FutureExt::now_or_never(
                        liftgate_gateway::ports::IdentityCenter::delete_assignment(
                            directory,
                            account_id,
                            &arn,
                            &timer.principal_id,
                        ),
                    );
                }
                GrantTarget::Group { membership_id, .. } => {
                    if let Some(membership) = membership_id {
                        let _ = futures_util::FutureExt::now_or_never(
                            liftgate_gateway::ports::IdentityCenter::delete_membership(
                                directory, membership,
                            ),
                        );
                    }
                }
            }
        }
        Ok(fired)
    }

    /// The keys of access Identity Center holds now.
    fn held(&self) -> BTreeMap<AccessKey, u32> {
        let directory = &self.identity.inner;
        let mut held = BTreeMap::new();
        let arn = directory.arn_of("Admin").unwrap_or_default();
        for (account, set_arn, user) in directory.assignment_rows() {
            let set = if set_arn == arn { "Admin" } else { "?" };
            *held
                .entry(AccessKey::account(&account, set, &user))
                .or_insert(0) += 1;
        }
        for (_, group, user) in directory.membership_rows() {
            *held.entry(AccessKey::group(&group, &user)).or_insert(0) += 1;
        }
        held
    }

    /// With tracing on, prints what changed in the store's grants and ledger.
    fn trace_changes(&mut self) {
        if !trace() {
            return;
        }
        let mut now: BTreeMap<String, String> = BTreeMap::new();
        for grant in self.store.inner.all_grants() {
            now.insert(
                format!("grant {}", grant.id),
                format!(
                    "{:?} ends {} end {:?}",
                    grant.status(),
                    grant.ends_at,
                    grant.end.as_ref().map(|e| &e.reason)
                ),
            );
        }
        for record in self.store.inner.access_records() {
            now.insert(
                format!("ledger {}", record.key),
                format!(
                    "v{} holders {:?} leaving {:?} origin {:?} timer {:?} retired {:?}",
                    record.version,
                    record
                        .holders()
                        .iter()
                        .map(|(id, h)| (id.to_string(), h.active, h.ends_at))
                        .collect::<Vec<_>>(),
                    record
                        .leaving()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                    record.origin(),
                    record.timer(),
                    record.retired_at()
                ),
            );
        }
        for (key, count) in self.held() {
            now.insert(format!("identity center {key}"), format!("held x{count}"));
        }
        for (key, value) in &now {
            if self.traced.get(key) != Some(value) {
                eprintln!("    = {key}: {value}");
            }
        }
        for key in self.traced.keys() {
            if !now.contains_key(key) {
                eprintln!("    = {key}: gone");
            }
        }
        self.traced = now;
    }

    /// Invariants that hold after every step.
    fn check_step(&self) -> Result<(), Violation> {
        // Break-glass is only ever granted to whom its statement names, and always owes a
        // review; nobody reviews their own use.
        for request in self.store.inner.all_requests() {
            let used = request.decision == liftgate_policy::Decision::BreakGlass;
            if used != request.break_glass.is_some()
                || (used && request.requester.email.as_str() != email("carol"))
            {
                return Err(self.violation(format!(
                    "request {} by {} has decision {:?} and review {:?}",
                    request.id, request.requester.email, request.decision, request.break_glass
                )));
            }
            if let Some(review) = request
                .break_glass
                .as_ref()
                .and_then(|r| r.reviewed.as_ref())
                && (review.by.email == request.requester.email
                    || !APPROVERS
                        .iter()
                        .any(|name| review.by.email.as_str() == email(name)))
            {
                return Err(self.violation(format!(
                    "request {} was reviewed by {}",
                    request.id, review.by.email
                )));
            }
        }
        let held = self.held();
        // Access that predates Liftgate is never removed.
        for key in self.preseeded.keys() {
            if !held.contains_key(key) {
                return Err(
                    self.violation(format!("access that predates Liftgate was removed: {key}"))
                );
            }
        }
        let records: BTreeMap<AccessKey, _> = self
            .store
            .inner
            .access_records()
            .into_iter()
            .map(|record| (record.key.clone(), record))
            .collect();
        for (key, count) in &held {
            if *count > 1 {
                return Err(self.violation(format!("{key} is held {count} times")));
            }
            if self.preseeded.contains_key(key) {
                continue;
            }
            // Everything else Identity Center holds is Liftgate's and tracked by the ledger.
            match records.get(key).map(|record| record.origin()) {
                Some(Origin::Liftgate { .. }) => {}
                other => {
                    return Err(self.violation(format!(
                        "{key} is held but the ledger does not track it as Liftgate's: {other:?}"
                    )));
                }
            }
        }
        // Every active grant on access Liftgate made has the one timer, covering its end.
        let now = self.clock_now();
        let timers = self.scheduler.inner.timers();
        for grant in self.store.inner.all_grants() {
            if grant.status() != GrantStatus::Active || grant.ends_at <= now {
                continue;
            }
            let key = grant.access_key();
            let liftgate_made = records
                .get(&key)
                .is_some_and(|record| matches!(record.origin(), Origin::Liftgate { .. }));
            if liftgate_made && timers.get(&key).is_none_or(|at| *at < grant.ends_at) {
                return Err(self.violation(format!(
                    "active grant {} on {key} ends at {} but its timer is {:?}",
                    grant.id,
                    grant.ends_at,
                    timers.get(&key)
                )));
            }
        }
        Ok(())
    }

    /// Picks and releases one parked point. Returns false when nothing can move.
    fn step(&mut self, weather: Weather, stats: &mut Stats) -> bool {
        let parked = self.exec.parked();
        if parked.is_empty() {
            return false;
        }
        let now = self.clock_now();
        let ready: Vec<Parked> = parked
            .iter()
            .filter(|point| match point.kind {
                Kind::Sleep(wake) => wake <= now,
                _ => true,
            })
            .copied()
            .collect();
        if ready.is_empty() {
            // Only sleepers: time passes until the first wakes.
            let first = parked
                .iter()
                .filter_map(|point| match point.kind {
                    Kind::Sleep(wake) => Some(wake),
                    _ => None,
                })
                .min();
            if let Some(wake) = first {
                self.clock.advance_to(wake);
            }
            return true;
        }
        let point = ready[self.rng.random_range(0..ready.len())];
        let roll: f64 = self.rng.random();
        let fault = match point.kind {
            Kind::Sleep(_) => Fault::Go,
            Kind::StoreRead | Kind::AwsRead if roll < weather.refuse => Fault::Refuse,
            Kind::StoreWrite | Kind::AwsWrite if roll < weather.refuse => Fault::Refuse,
            Kind::StoreWrite | Kind::AwsWrite if roll < weather.refuse + weather.lose => {
                Fault::LoseAnswer
            }
            _ => Fault::Go,
        };
        if fault != Fault::Go {
            stats.faults += 1;
        }
        if trace() {
            eprintln!(
                "step {} t={} task {} {} {:?}",
                self.steps,
                (now - OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()).whole_seconds(),
                point.task,
                point.label,
                fault
            );
        }
        self.exec.release(&point, fault);
        true
    }

    fn run(&mut self, stats: &mut Stats) -> Result<(), Violation> {
        let ops = self.history();
        if trace() {
            eprintln!(
                "replicas {}, weather {:?}, preseeded {:?}",
                self.replicas.len(),
                self.weather,
                self.preseeded.keys().collect::<Vec<_>>()
            );
            for op in &ops {
                eprintln!("op {op:?}");
            }
        }
        let mut next = 0;
        while self.steps < MAX_STEPS {
            while next < ops.len() && ops[next].0 <= self.steps {
                self.spawn_op(ops[next].1.clone());
                next += 1;
            }
            self.maybe_sweep(0.05);
            if self.maybe_crash() {
                stats.crashes += 1;
            }
            self.revive(false);
            if self.rng.random_bool(0.1) {
                stats.timers_fired += self.fire_timers()?;
            }
            if self.rng.random_bool(self.weather.jump) {
                let minutes = self.rng.random_range(1..=30);
                self.clock.advance(time::Duration::minutes(minutes));
            }
            let weather = self.weather;
            let moved = self.step(weather, stats);
            self.steps += 1;
            self.trace_changes();
            self.check_step()?;
            let stuck = self.exec.stuck_tasks();
            if !stuck.is_empty() {
                return Err(self.violation(format!("tasks {stuck:?} wait outside the simulation")));
            }
            if !moved && next >= ops.len() && self.exec.is_idle() {
                break;
            }
        }
        self.settle_now(stats)?;
        self.check_settled()?;
        self.drain(stats)?;
        self.check_quiescent()?;
        stats.steps += self.steps;
        Ok(())
    }

    /// Runs every task to completion, no faults.
    fn finish_tasks(&mut self, stats: &mut Stats) -> Result<(), Violation> {
        for _ in 0..20_000 {
            if self.exec.is_idle() {
                return Ok(());
            }
            if !self.step(CALM, stats) {
                let stuck = self.exec.stuck_tasks();
                return Err(self.violation(format!("tasks {stuck:?} never finished")));
            }
            self.steps += 1;
            self.trace_changes();
            self.check_step()?;
        }
        Err(self.violation("tasks did not finish"))
    }

    /// Sweeps on every replica, calmly, until nothing is left to do now: joiners granted,
    /// leavers settled (backoffs pass in small steps).
    fn settle_now(&mut self, stats: &mut Stats) -> Result<(), Violation> {
        self.revive(true);
        self.finish_tasks(stats)?;
        for _ in 0..80 {
            let now = self.clock_now();
            let pending = self
                .store
                .inner
                .access_records()
                .into_iter()
                .any(|record| record.unsettled() && record.retired_at().is_none())
                || self.store.inner.all_grants().iter().any(|grant| {
                    matches!(
                        grant.status(),
                        GrantStatus::Provisioning | GrantStatus::Revoking
                    )
                })
                || self.store.inner.all_requests().iter().any(|request| {
                    request.status() == RequestStatus::Approved
                        && request.start_at.is_none_or(|start| start <= now)
                });
            if !pending {
                return Ok(());
            }
            self.maybe_sweep(1.0);
            self.finish_tasks(stats)?;
            stats.timers_fired += self.fire_timers()?;
            self.clock.advance(time::Duration::seconds(5));
        }
        Ok(())
    }

    /// With nothing in flight: every active grant's access exists.
    fn check_settled(&self) -> Result<(), Violation> {
        let held = self.held();
        let now = self.clock_now();
        for grant in self.store.inner.all_grants() {
            if grant.status() == GrantStatus::Active
                && grant.ends_at > now
                && !held.contains_key(&grant.access_key())
            {
                return Err(self.violation(format!(
                    "grant {} is active but Identity Center does not hold {}",
                    grant.id,
                    grant.access_key()
                )));
            }
        }
        Ok(())
    }

    /// Lets every end pass: time moves on in steps, replicas sweep, timers fire.
    fn drain(&mut self, stats: &mut Stats) -> Result<(), Violation> {
        let until = self.clock_now() + time::Duration::hours(14);
        while self.clock_now() < until {
            self.clock.advance(time::Duration::minutes(5));
            stats.timers_fired += self.fire_timers()?;
            self.maybe_sweep(1.0);
            self.finish_tasks(stats)?;
        }
        Ok(())
    }

    /// After every end: only the access that predated Liftgate remains, nothing is pending,
    /// and the audit trail has every grant's `granted` and `revoked`.
    fn check_quiescent(&self) -> Result<(), Violation> {
        let held: BTreeSet<AccessKey> = self.held().into_keys().collect();
        let preseeded: BTreeSet<AccessKey> = self.preseeded.keys().cloned().collect();
        if held != preseeded {
            return Err(self.violation(format!(
                "after every end Identity Center holds {held:?}, not exactly what predated Liftgate {preseeded:?}"
            )));
        }
        for request in self.store.inner.all_requests() {
            if !request.status().is_final() {
                let grant = request.grant_id.as_ref().and_then(|id| {
                    self.store
                        .inner
                        .all_grants()
                        .into_iter()
                        .find(|g| &g.id == id)
                });
                return Err(self.violation(format!(
                    "request {} is stuck {:?} (extends {:?}, grant {:?}, history {:?})",
                    request.id,
                    request.status(),
                    request.extends,
                    grant.map(|g| (g.status(), g.ends_at, g.id)),
                    request
                        .history
                        .iter()
                        .map(|h| (h.event, h.detail.clone()))
                        .collect::<Vec<_>>()
                )));
            }
        }
        for grant in self.store.inner.all_grants() {
            if !grant.status().is_final() {
                return Err(self.violation(format!(
                    "grant {} is stuck {:?}",
                    grant.id,
                    grant.status()
                )));
            }
        }
        let records = self.store.inner.access_records();
        if !records.is_empty() {
            return Err(self.violation(format!("ledger records left: {records:?}")));
        }
        let timers = self.scheduler.inner.timers();
        if !timers.is_empty() {
            return Err(self.violation(format!("timers left: {timers:?}")));
        }
        let mut events: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for message in self.store.inner.outbox_messages() {
            if message.topic != "audit:memory" {
                continue;
            }
            let fields = &message.payload["fields"];
            let request = fields["liftgate_request_id"].as_str().unwrap_or_default();
            let event = fields["event"].as_str().unwrap_or_default();
            events
                .entry(request.to_owned())
                .or_default()
                .push(event.to_owned());
        }
        for (request, recorded) in &events {
            let reviews = recorded
                .iter()
                .filter(|event| *event == "break_glass_reviewed")
                .count();
            if reviews > 1 {
                return Err(self.violation(format!(
                    "request {request} was reviewed {reviews} times: {recorded:?}"
                )));
            }
        }
        for grant in self.store.inner.all_grants() {
            if grant.activated_at.is_none() {
                continue;
            }
            let recorded = events
                .get(grant.request_id.as_str())
                .cloned()
                .unwrap_or_default();
            for wanted in ["granted", "revoked"] {
                if !recorded.iter().any(|event| event == wanted) {
                    return Err(self.violation(format!(
                        "grant {} became active but its request has no `{wanted}` record: {recorded:?}",
                        grant.id
                    )));
                }
            }
        }
        Ok(())
    }
}

impl SimStore {
    /// A request as stored, read outside the simulation's points (for the test's own checks).
    fn inner_request(
        &self,
        id: &RequestId,
    ) -> Result<Option<liftgate_gateway::domain::AccessRequest>, ()> {
        Ok(self
            .inner
            .all_requests()
            .into_iter()
            .find(|request| &request.id == id))
    }
}

fn run_one(seed: u64, stats: &mut Stats) -> Result<(), Violation> {
    let mut sim = Sim::new(seed);
    let before = stats.grants_active_at_some_point;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut local = Stats::default();
        let result = sim.run(&mut local);
        (result, local, sim.store.inner.all_grants())
    }));
    seed_ids_for_tests(None);
    match outcome {
        Ok((result, local, grants)) => {
            stats.histories += 1;
            stats.steps += local.steps;
            stats.faults += local.faults;
            stats.crashes += local.crashes;
            stats.timers_fired += local.timers_fired;
            stats.grants_active_at_some_point =
                before + grants.iter().filter(|g| g.activated_at.is_some()).count();
            result
        }
        Err(panic) => Err(Violation {
            seed,
            step: 0,
            what: format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default()
            ),
        }),
    }
}

fn trace() -> bool {
    std::env::var_os("LIFTGATE_SIM_TRACE").is_some()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|text| text.parse().ok())
}

#[test]
fn randomized_histories_keep_every_invariant() {
    let histories = env_number("LIFTGATE_SIM_HISTORIES").unwrap_or(1500);
    let first = env_number("LIFTGATE_SIM_SEED").unwrap_or(1);
    let started = Instant::now();
    let mut stats = Stats::default();
    for seed in first..first + histories {
        if let Err(violation) = run_one(seed, &mut stats) {
            panic!(
                "seed {} violated an invariant at step {}: {}\nreplay: LIFTGATE_SIM_SEED={} LIFTGATE_SIM_HISTORIES=1 cargo test -p liftgate-gateway --test integration simulation",
                violation.seed, violation.step, violation.what, violation.seed
            );
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{} histories, {} steps, {} grants active at some point, {} faults, {} crashes, {} timers fired, in {:.2?} ({:.1} ms per thousand histories)",
        stats.histories,
        stats.steps,
        stats.grants_active_at_some_point,
        stats.faults,
        stats.crashes,
        stats.timers_fired,
        elapsed,
        elapsed.as_secs_f64() * 1_000_000.0 / stats.histories.max(1) as f64
    );
    assert!(
        stats.grants_active_at_some_point > 0,
        "the histories granted nothing"
    );
}

/// Seeds that once found a violation; each must keep passing.
const REGRESSION_SEEDS: &[u64] = &[
    // An access found by the existence check was recorded as Liftgate's because its only
    // grant left while the check ran; its end then removed access that predated Liftgate.
    103,
    // A waiter that watched a lease's first holder took it over from a second holder that
    // had just taken it at the same (restarted) token: two tasks created the same access.
    1242,
    // Two extensions of one grant: the second replaced the first, which stayed approved.
    1477,
    // A lease sighting was dated when the question went, not when the answer came: after a
    // slow answer a live holder looked stale and was taken over.
    2186,
    // A holder stalled past its lease (a clock jump) while a waiter took over; both
    // created the access. Effects now start only right after a renewal, and a call that
    // waited past the SDK timeout fails without effect.
    8568,
    // Expiring two joiners, one of which the snapshot already showed ending: the ledger was
    // dropped from the transition and the other grant left without leaving the ledger.
    3565,
    // EventBridge removed the access at the timer while the lease holder still trusted its
    // earlier check; a new joiner became active without the access.
    5094,
    // ...and the first fix distrusted a verified absence too: removal repeated forever.
    4,
    // An extension approved before the end but applied after it, once EventBridge had
    // removed the access at the old timer: the grant stayed active without the access.
    10879,
    // A grant's ledger record was written between a settle's ledger read and its grant
    // query: the settle adopted the grant as legacy, set a timer, and recorded it on the new
    // record, whose access then proved to predate Liftgate; the timer would have removed it.
    13769,
];

#[test]
fn seeds_that_once_failed_keep_passing() {
    let mut stats = Stats::default();
    for seed in REGRESSION_SEEDS {
        if let Err(violation) = run_one(*seed, &mut stats) {
            panic!("regression seed {}: {}", violation.seed, violation.what);
        }
    }
}
