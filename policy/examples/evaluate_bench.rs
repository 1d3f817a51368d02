//! Measures rule evaluation: a configuration of many statements (default 500), evaluated for
//! a mix of requests that match one, several, or no statements.
//!
//! cargo run --release -p liftgate-policy --example evaluate_bench  (BENCH_STATEMENTS=2000)

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use std::collections::BTreeSet;
use std::time::Instant;

use liftgate_policy::{Duration, Email, Requester, Target};

fn main() {
    let statements: usize = std::env::var("BENCH_STATEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let raw: Vec<serde_json::Value> = (0..statements)
        .map(|index| {
            serde_json::json!({
                "ResourceType": "Account",
                "Resource": [format!("{:012}", 100_000_000_000u64 + index as u64), format!("{:012}", 200_000_000_000u64 + (index % 50) as u64)],
                "PermissionSet": [format!("Set{}", index % 20), "ReadOnly"],
                "Approvers": [format!("approver{}@corp.com", index % 40), "lead@corp.com"],
                "AllowSelfApproval": index % 7 == 0,
                "RequiredApprovals": if index % 11 == 0 { 2 } else { 1 },
            })
        })
        .collect();
    let started = Instant::now();
    let rules = liftgate_policy::parse_rules(Some(&serde_json::Value::Array(raw)), None).unwrap();
    println!(
        "parsed {statements} statements in {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let emails: Vec<Email> = (0..100)
        .map(|i| Email::parse(&format!("user{i}@corp.com")).unwrap())
        .collect();
    let accounts: Vec<String> = (0..200)
        .map(|i| format!("{:012}", 200_000_000_000u64 + (i % 60) as u64))
        .collect();
    let sets = ["ReadOnly", "Set3", "Set7", "Missing"];
    let groups = BTreeSet::new();
    let evaluations = 200_000;
    let started = Instant::now();
    let mut granted = 0usize;
    for index in 0..evaluations {
        let requester = Requester {
            email: &emails[index % emails.len()],
            groups: &groups,
        };
        let target = Target::Account {
            account_id: &accounts[index % accounts.len()],
            permission_set: sets[index % sets.len()],
        };
        let evaluation =
            liftgate_policy::evaluate(&rules, &target, &requester, Duration::from_hours(12));
        granted += usize::from(evaluation.granted());
    }
    let wall = started.elapsed();
    println!(
        "{evaluations} evaluations over {statements} statements in {:.2} s = {:.0} per second ({:.1} µs each; {granted} granted)",
        wall.as_secs_f64(),
        evaluations as f64 / wall.as_secs_f64(),
        wall.as_secs_f64() * 1e6 / evaluations as f64
    );
}
