//! Reconciliation at scale, measured on moto: an organization of 200 accounts and 20 permission
//! sets, a few hundred users with about a thousand user-level assignments (some explained by
//! active grants), group assignments and group memberships. Runs dry reconciliation passes with
//! pruning off and on at two rate limits and prints the AWS calls per operation and the wall
//! time of each, then two real `warn` passes to show the steady state.
//!
//! ```text
//! cargo run -p liftgate-aws --example reconcile_scale --release
//! ```
//!
//! Needs `moto_server` (`MOTO_SERVER_BIN` or `<workspace>/.venv-moto/bin/moto_server`).
//! Sizes and rates can be changed with `SCALE_ACCOUNTS`, `SCALE_PERMISSION_SETS`,
//! `SCALE_USERS`, `SCALE_ASSIGNMENTS`, `SCALE_GRANTS` and `SCALE_RATES` (comma-separated calls
//! per second; 0 is unlimited).
//!
//! moto cannot answer the provisioning queries (it ignores their filters), so with pruning on
//! they are answered from the seeded truth — where each permission set was provisioned — while
//! every other call (ListAccountAssignments, ListGroupMemberships, DescribeUser) goes to moto.
//! Every call, simulated or not, takes a token from the rate limiter and is counted.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a measurement program that prints its results and fails loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};
use futures_util::{StreamExt, stream};
use liftgate_aws::{
    AwsAccessInventory, AwsClients, AwsIdentityCenter, IdentityCenterConfig, IdentityCenterTuning,
    IdentityClients, InventoryConfig,
};
use liftgate_gateway::config::{ReconciliationMode, ReconciliationSettings, UserAttribute};
use liftgate_gateway::domain::{GrantStatus, GrantTarget};
use liftgate_gateway::metrics::Metrics;
use liftgate_gateway::ports::{
    AccessInventory, AssignedPrincipal, GroupMember, IdentityError, Page, Put, StateStore,
    UserDetails, WriteBatch,
};
use liftgate_gateway::scheduler::LocalScheduler;
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::testing::{ManualClock, sample_grant};
use liftgate_gateway::workflow::{
    AccessService, Dependencies, FindingOutcome, ReconcileReport, Reconciler, ReconcilerTuning,
};
use liftgate_policy::Duration;
use liftgate_testkit::moto::{MotoServer, REGION, Seed};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// AWS's largest page for the provisioning queries.
const PAGE: usize = 100;
/// Seeding calls in flight at once.
const SEED_CONCURRENCY: usize = 16;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn rates() -> Vec<u32> {
    std::env::var("SCALE_RATES")
        .ok()
        .map(|value| {
            value
                .split(',')
                .filter_map(|rate| rate.trim().parse().ok())
                .collect()
        })
        .filter(|rates: &Vec<u32>| !rates.is_empty())
        .unwrap_or_else(|| vec![10, 20])
}

/// The moto inventory, with the provisioning queries answered from the seeded truth.
#[derive(Debug)]
struct SimulatedProvisioning {
    moto: AwsAccessInventory,
    /// Permission-set ARN → accounts it is provisioned to.
    by_permission_set: BTreeMap<String, Vec<String>>,
    /// Account → permission-set ARNs provisioned to it.
    by_account: BTreeMap<String, Vec<String>>,
}

fn page_of(items: &[String], token: Option<String>) -> Page<String> {
    let start: usize = token.and_then(|token| token.parse().ok()).unwrap_or(0);
    let end = (start + PAGE).min(items.len());
    Page {
        items: items.get(start..end).unwrap_or_default().to_vec(),
        next_token: (end < items.len()).then(|| end.to_string()),
    }
}

#[async_trait]
impl AccessInventory for SimulatedProvisioning {
    fn provisioning_is_reliable(&self) -> bool {
        true
    }

    async fn account_assignments(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        next_token: Option<String>,
    ) -> Result<Page<AssignedPrincipal>, IdentityError> {
        self.moto
            .account_assignments(account_id, permission_set_arn, next_token)
            .await
    }

    async fn group_members(
        &self,
        group_id: &str,
        next_token: Option<String>,
    ) -> Result<Page<GroupMember>, IdentityError> {
        self.moto.group_members(group_id, next_token).await
    }

    async fn accounts_for_provisioned_permission_set(
        &self,
        permission_set_arn: &str,
        next_token: Option<String>,
    ) -> Result<Page<String>, IdentityError> {
        let accounts = self
            .by_permission_set
            .get(permission_set_arn)
            .cloned()
            .unwrap_or_default();
        Ok(page_of(&accounts, next_token))
    }

    async fn permission_sets_provisioned_to_account(
        &self,
        account_id: &str,
        next_token: Option<String>,
    ) -> Result<Page<String>, IdentityError> {
        let arns = self.by_account.get(account_id).cloned().unwrap_or_default();
        Ok(page_of(&arns, next_token))
    }

    async fn describe_user(&self, user_id: &str) -> Result<Option<UserDetails>, IdentityError> {
        self.moto.describe_user(user_id).await
    }
}

struct Organization {
    accounts: Vec<String>,
    /// (name, ARN).
    permission_sets: Vec<(String, String)>,
    users: Vec<String>,
    groups: Vec<String>,
    /// (account, permission-set index, user).
    assignments: Vec<(String, usize, String)>,
    /// (account, permission-set ARN).
    provisioned: BTreeSet<(String, String)>,
    group_assignments: usize,
    memberships: usize,
}

async fn seed_organization(seed: &Seed, rng: &mut StdRng) -> Organization {
    let account_count = setting("SCALE_ACCOUNTS", 200);
    let set_count = setting("SCALE_PERMISSION_SETS", 20);
    let user_count = setting("SCALE_USERS", 300);
    let assignment_target = setting("SCALE_ASSIGNMENTS", 1000);

    let names: Vec<String> = (0..account_count)
        .map(|n| format!("Account {n:03}"))
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut accounts: Vec<String> = seed
        .organization(&name_refs)
        .await
        .into_iter()
        .map(|account| account.id)
        .collect();
    // ListAccounts also returns the management account; it is in scope of `"*"` too.
    accounts.push(liftgate_testkit::moto::MANAGEMENT_ACCOUNT_ID.to_owned());

    let mut permission_sets = Vec::new();
    for n in 0..set_count {
        let name = format!("Set{n:02}");
        let arn = seed.permission_set(&name).await;
        permission_sets.push((name, arn));
    }
    let users: Vec<String> = stream::iter(0..user_count)
        .map(|n| async move {
            seed.user(
                &format!("user{n:03}"),
                &format!("user{n:03}@corp.com"),
                &format!("User {n:03}"),
            )
            .await
        })
        .buffered(SEED_CONCURRENCY)
        .collect()
        .await;
    let mut groups = Vec::new();
    for n in 0..5 {
        groups.push(seed.group(&format!("Team {n}")).await);
    }

    // Each permission set is provisioned to about 15% of the accounts; 80% of those pairs hold
    // user assignments, the rest only a group assignment.
    let mut provisioned = BTreeSet::new();
    let mut user_pairs = Vec::new();
    let mut group_pairs = Vec::new();
    for (index, (_, arn)) in permission_sets.iter().enumerate() {
        let mut shuffled = accounts.clone();
        shuffled.shuffle(rng);
        for account in shuffled.into_iter().take(accounts.len() * 15 / 100) {
            provisioned.insert((account.clone(), arn.clone()));
            if rng.random_bool(0.8) {
                user_pairs.push((account, index));
            } else {
                group_pairs.push((account, arn.clone()));
            }
        }
    }
    let mut assignments = BTreeSet::new();
    while assignments.len() < assignment_target.min(user_pairs.len() * users.len()) {
        let (account, index) = &user_pairs[rng.random_range(0..user_pairs.len())];
        let user = &users[rng.random_range(0..users.len())];
        assignments.insert((account.clone(), *index, user.clone()));
    }
    let assignments: Vec<(String, usize, String)> = assignments.into_iter().collect();
    stream::iter(assignments.iter())
        .map(|(account, index, user)| seed.assignment(account, &permission_sets[*index].1, user))
        .buffer_unordered(SEED_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    stream::iter(group_pairs.iter())
        .map(|(account, arn)| {
            let group = groups[account.len() % groups.len()].clone();
            async move {
                seed.sso_admin
                    .create_account_assignment()
                    .instance_arn(&seed.instance_arn)
                    .target_type(TargetType::AwsAccount)
                    .target_id(account)
                    .permission_set_arn(arn)
                    .principal_type(PrincipalType::Group)
                    .principal_id(group)
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let mut memberships = 0;
    for group in &groups {
        let mut members = users.clone();
        members.shuffle(rng);
        for user in members.iter().take(20) {
            seed.membership(group, user).await;
            memberships += 1;
        }
    }
    Organization {
        accounts,
        permission_sets,
        users,
        groups,
        assignments,
        provisioned,
        group_assignments: group_pairs.len(),
        memberships,
    }
}

fn row(label: &str, rate: u32, report: &ReconcileReport) -> String {
    let calls = |operation: &str| report.api_calls.get(operation).copied().unwrap_or(0);
    let rate = if rate == 0 {
        "none".to_owned()
    } else {
        format!("{rate}/s")
    };
    format!(
        "| {label} | {rate} | {:.1} s | {} | {} | {} | {} | {} | {} | {} |",
        report.duration.as_secs_f64(),
        report.api_calls_total(),
        calls("ListAccountAssignments"),
        calls("ListAccountsForProvisionedPermissionSet")
            + calls("ListPermissionSetsProvisionedToAccount"),
        calls("ListGroupMemberships"),
        calls("DescribeUser"),
        report.scope.pairs_listed,
        report.findings.len(),
    )
}

#[tokio::main]
async fn main() {
    let mut rng = StdRng::seed_from_u64(42);
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let seeding = Instant::now();
    let org = seed_organization(&seed, &mut rng).await;
    let grant_count = setting("SCALE_GRANTS", 150).min(org.assignments.len());
    println!(
        "Seeded moto in {:.0} s: {} accounts (with the management account), {} permission sets, \
         {} users, {} user assignments on {} provisioned pairs, {} group assignments, {} groups \
         with {} memberships.",
        seeding.elapsed().as_secs_f64(),
        org.accounts.len(),
        org.permission_sets.len(),
        org.users.len(),
        org.assignments.len(),
        org.provisioned.len(),
        org.group_assignments,
        org.groups.len(),
        org.memberships,
    );

    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    let identity = Arc::new(AwsIdentityCenter::from_parts(
        IdentityClients::from(&clients),
        IdentityCenterConfig {
            instance_arn: seed.instance_arn.clone(),
            identity_store_id: seed.identity_store_id.clone(),
            user_attribute: UserAttribute::Email,
            fallback_email_domains: Vec::new(),
        },
        IdentityCenterTuning::default(),
    ));
    let statements = json!([{"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                             "Approvers": "security@corp.com"}]);
    let group_statements = json!([{"Resource": org.groups, "Approvers": "security@corp.com"}]);
    let rules = liftgate_policy::parse_rules(Some(&statements), Some(&group_statements)).unwrap();
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).unwrap());
    let clock = Arc::new(ManualClock::at_epoch_seconds(1_800_000_000));
    let service = AccessService::new(Dependencies {
        store: store.clone(),
        identity,
        scheduler: Arc::new(LocalScheduler),
        clock: clock.clone(),
        rules: Arc::new(rules),
        requests: Default::default(),
        // Records and warnings of the real passes stay in the (temporary) outbox.
        audit_sinks: vec!["memory".to_owned()],
        notifiers: Vec::new(),
        metrics: Arc::new(Metrics::new()),
    });

    // Active grants explain some of the assignments.
    let now = liftgate_gateway::ports::Clock::now(clock.as_ref());
    for (account, index, user) in org.assignments.iter().take(grant_count) {
        let mut grant = sample_grant(GrantStatus::Active, user, now + time::Duration::hours(4));
        grant.target = GrantTarget::Account {
            account_id: account.clone(),
            permission_set: org.permission_sets[*index].0.clone(),
            permission_set_arn: Some(org.permission_sets[*index].1.clone()),
        };
        store
            .commit(WriteBatch {
                grants: vec![Put::insert(grant)],
                ..WriteBatch::default()
            })
            .await
            .unwrap();
    }

    let moto_inventory = AwsAccessInventory::from_parts(
        clients.sso_admin.clone(),
        clients.identity_store.clone(),
        InventoryConfig {
            instance_arn: seed.instance_arn.clone(),
            identity_store_id: seed.identity_store_id.clone(),
            page_size: Some(100),
            trust_provisioning_queries: false,
        },
    );
    let mut by_permission_set: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut by_account: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (account, arn) in &org.provisioned {
        by_permission_set
            .entry(arn.clone())
            .or_default()
            .push(account.clone());
        by_account
            .entry(account.clone())
            .or_default()
            .push(arn.clone());
    }
    let inventory = Arc::new(SimulatedProvisioning {
        moto: moto_inventory,
        by_permission_set,
        by_account,
    });

    let reconciler = |rate: u32, pruning: bool, mode: ReconciliationMode| {
        Reconciler::new(
            &service,
            inventory.clone(),
            ReconciliationSettings {
                enabled: true,
                mode,
                interval: Duration::from_hours(1),
                max_calls_per_second: rate,
            },
        )
        .with_tuning(ReconcilerTuning {
            pruning,
            ..ReconcilerTuning::default()
        })
    };

    // Warm the executor's directory caches (ListAccounts, ListPermissionSets and one
    // DescribePermissionSet per set) so every measured pass sees the same state.
    reconciler(0, true, ReconciliationMode::Warn)
        .run_once(true)
        .await
        .unwrap();

    println!();
    println!(
        "Dry passes, scope `Resource: \"*\"` × `PermissionSet: \"*\"` ({} pairs) plus {} groups, \
         concurrency {}:",
        org.accounts.len() * org.permission_sets.len(),
        org.groups.len(),
        ReconcilerTuning::default().concurrency
    );
    println!();
    println!(
        "| pruning | rate limit | wall time | API calls | ListAccountAssignments | provisioning queries | ListGroupMemberships | DescribeUser | pairs listed | findings |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut findings = BTreeSet::new();
    for rate in rates() {
        for pruning in [false, true] {
            let report = reconciler(rate, pruning, ReconciliationMode::Warn)
                .run_once(true)
                .await
                .unwrap();
            assert!(report.errors.is_empty(), "{report}");
            let label = if pruning {
                match report.scope.pruning {
                    Some(strategy) => format!("on ({})", strategy.describe()),
                    None => "on".to_owned(),
                }
            } else {
                "off".to_owned()
            };
            println!("{}", row(&label, rate, &report));
            findings.insert(report.findings.len());
        }
    }
    assert_eq!(
        findings.len(),
        1,
        "pruning must never change what is found: {findings:?}"
    );

    let rate = rates().into_iter().max().unwrap_or(20);
    println!();
    println!("Real `warn` passes with pruning at {rate}/s (the second is the steady state):");
    println!();
    for pass in ["first", "second"] {
        let report = reconciler(rate, true, ReconciliationMode::Warn)
            .run_once(false)
            .await
            .unwrap();
        let warned = report.count(|outcome| matches!(outcome, FindingOutcome::Warned));
        let known = report.count(|outcome| matches!(outcome, FindingOutcome::AlreadyReported));
        println!(
            "- {pass} pass: {:.1} s, {} API calls ({}), {} warned, {} already reported",
            report.duration.as_secs_f64(),
            report.api_calls_total(),
            report
                .api_calls
                .iter()
                .map(|(operation, count)| format!("{operation} {count}"))
                .collect::<Vec<_>>()
                .join(", "),
            warned,
            known
        );
    }
    let upstream = org.accounts.len() * org.permission_sets.len();
    println!();
    println!(
        "For comparison, upstream's nightly pass makes {upstream} serial ListAccountAssignments \
         calls for this scope (A × P), at least {:.0} s at 20 calls per second.",
        upstream as f64 / 20.0
    );
}
