//! Measures the request forms' choices (`accounts_for_requester`, `permission_sets_for_account`,
//! `groups_for_requester`, which the gateway's `requestable_*` calls) for a requester who may
//! ask for 1,000 accounts × 200 permission sets.
//!
//! The configuration (`CATALOG_STATEMENTS`, default 1,000 statements) mixes what large
//! organisations write: most statements name 50 accounts and 20 permission sets and are
//! restricted to one of 40 groups (the requester is in 8) or to a few users, some are open to
//! everyone, and a few have `Resource: "*"`.
//!
//! cargo run --release -p liftgate-policy --example catalog_bench

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use liftgate_policy::{Email, Requester, Scope};
use serde_json::{Value, json};

const ACCOUNTS: usize = 1_000;
const PERMISSION_SETS: usize = 200;
const GROUPS: usize = 40;

fn account(index: usize) -> String {
    format!("{:012}", 100_000_000_000 + index % ACCOUNTS)
}

fn permission_set(index: usize) -> String {
    format!("Set{:03}", index % PERMISSION_SETS)
}

fn group(index: usize) -> String {
    format!("{:08x}-0000-4000-8000-000000000000", index % GROUPS)
}

fn main() {
    let statements: usize = std::env::var("CATALOG_STATEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let raw: Vec<Value> = (0..statements)
        .map(|index| {
            let accounts: Vec<String> = (0..50).map(|k| account(index * 37 + k)).collect();
            let sets: Vec<String> = (0..20).map(|k| permission_set(index * 11 + k)).collect();
            let mut statement = json!({
                "ResourceType": "Account",
                "Resource": accounts,
                "PermissionSet": sets,
                "Approvers": [format!("lead{}@corp.com", index % 30), "security@corp.com"],
            });
            match index % 10 {
                // Open to everyone.
                0 => {}
                // Resource "*", restricted to a group.
                1 if index % 100 == 1 => {
                    statement["Resource"] = json!("*");
                    statement["AllowedGroups"] = json!([group(index)]);
                }
                // Restricted to a few users.
                2 => {
                    statement["AllowedUsers"] =
                        json!([format!("user{}@corp.com", index % 50), "requester@corp.com"]);
                }
                _ => statement["AllowedGroups"] = json!([group(index), group(index + 7)]),
            }
            statement
        })
        .collect();
    let started = Instant::now();
    let rules = liftgate_policy::parse_rules(Some(&Value::Array(raw)), None).unwrap();
    let load = started.elapsed();

    let email = Email::parse("requester@corp.com").unwrap();
    let groups: BTreeSet<String> = (0..8).map(|k| group(k * 5)).collect();
    let requester = Requester {
        email: &email,
        groups: &groups,
    };

    let accounts = liftgate_policy::accounts_for_requester(&rules, &requester);
    let offered: Vec<String> = match &accounts {
        Scope::Only(accounts) => accounts.iter().cloned().collect(),
        Scope::Any => (0..ACCOUNTS).map(account).collect(),
    };
    let mut pairs = 0;
    let mut most_sets = 0;
    for account_id in &offered {
        let sets =
            match liftgate_policy::permission_sets_for_account(&rules, account_id, &requester) {
                Scope::Only(sets) => sets.len(),
                Scope::Any => PERMISSION_SETS,
            };
        pairs += sets;
        most_sets = most_sets.max(sets);
    }
    println!(
        "{statements} statements (loaded and indexed in {:.1} ms); the requester may ask for \
         {} accounts, {pairs} account × permission-set pairs (up to {most_sets} sets on one account)",
        load.as_secs_f64() * 1e3,
        offered.len(),
    );

    let form_open = time(|| {
        black_box(liftgate_policy::accounts_for_requester(&rules, &requester));
        black_box(liftgate_policy::groups_for_requester(&rules, &requester));
    });
    let one_account = time(|| {
        black_box(liftgate_policy::permission_sets_for_account(
            &rules,
            &offered[offered.len() / 2],
            &requester,
        ));
    });
    let everything = time(|| {
        black_box(liftgate_policy::accounts_for_requester(&rules, &requester));
        for account_id in &offered {
            black_box(liftgate_policy::permission_sets_for_account(
                &rules, account_id, &requester,
            ));
        }
    });
    println!(
        "opening a form (the accounts and groups on offer): {}; the permission sets of one \
         account: {}; every choice (the accounts, then the sets of each of the {} accounts): {}",
        show(form_open),
        show(one_account),
        offered.len(),
        show(everything),
    );
}

/// The median of repeated runs of `work`, repeated for about a second in all.
fn time(mut work: impl FnMut()) -> Duration {
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < 5
        || (started.elapsed() < Duration::from_secs(1) && samples.len() < 10_000)
    {
        let run = Instant::now();
        work();
        samples.push(run.elapsed());
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn show(duration: Duration) -> String {
    if duration < Duration::from_millis(1) {
        format!("{:.1} µs", duration.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", duration.as_secs_f64() * 1e3)
    }
}
