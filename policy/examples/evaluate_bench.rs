//! Measures rule evaluation.
//!
//! With `--workload FILE` it replays a workload written by `policy/bench/peer_workload.py`
//! (terraform-aws-sso-elevator's own statement generator; `policy/bench/compare.sh` runs both
//! engines on it side by side): every query once for the decisions (`--decisions OUT` writes
//! them as JSON, for the comparison), then the whole query list over and over for at least
//! `BENCH_SECONDS` (default 2) to time it.
//!
//! Without it, a synthetic configuration of `BENCH_STATEMENTS` statements (default 500),
//! evaluated for a mix of requests that match one, several, or no statements.
//!
//! cargo run --release -p liftgate-policy --example evaluate_bench -- --workload policy/bench/workloads/sso-elevator-200.json

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration as Wall, Instant};

use liftgate_policy::{Duration, Email, Evaluation, Requester, Rules, Target};
use serde_json::{Value, json};

const GLOBAL_MAX: Duration = Duration::from_hours(12);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .map(|at| args.get(at + 1).expect("a value after the flag").clone())
    };
    match flag("--workload") {
        Some(path) => replay(&path, flag("--decisions").as_deref()),
        None => synthetic(),
    }
}

/// One request of a replayed workload.
struct Query {
    account_id: String,
    permission_set: String,
    requester: Email,
}

fn replay(path: &str, decisions_out: Option<&str>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let workload: Value = serde_json::from_str(&text).unwrap();
    let started = Instant::now();
    let rules = liftgate_policy::parse_rules(Some(&workload["statements"]), None)
        .unwrap_or_else(|problems| panic!("the workload's statements do not parse: {problems:#?}"));
    let load = started.elapsed();
    let queries: Vec<Query> = workload["queries"]
        .as_array()
        .expect("a list of queries")
        .iter()
        .map(|query| Query {
            account_id: query["account_id"].as_str().unwrap().to_owned(),
            permission_set: query["permission_set"].as_str().unwrap().to_owned(),
            requester: Email::parse(query["requester"].as_str().unwrap()).unwrap(),
        })
        .collect();
    let groups = BTreeSet::new();
    let evaluate = |query: &Query| {
        let requester = Requester {
            email: &query.requester,
            groups: &groups,
        };
        let target = Target::Account {
            account_id: &query.account_id,
            permission_set: &query.permission_set,
        };
        liftgate_policy::evaluate(&rules, &target, &requester, GLOBAL_MAX)
    };

    let answers: Vec<Evaluation> = queries.iter().map(&evaluate).collect();
    let average = |size: fn(&Evaluation) -> usize| {
        answers.iter().map(size).sum::<usize>() as f64 / answers.len().max(1) as f64
    };
    println!(
        "{path}: an answer names {:.1} approvers and {:.1} statements on average",
        average(|answer| answer.approvers.len()),
        average(|answer| answer.statements.len()),
    );
    if let Some(out) = decisions_out {
        let decisions: Vec<Value> = answers.iter().map(decision_json).collect();
        std::fs::write(out, serde_json::to_string(&decisions).unwrap())
            .unwrap_or_else(|error| panic!("{out}: {error}"));
    }

    let budget = Wall::from_secs_f64(seconds_budget());
    let started = Instant::now();
    let mut evaluations = 0usize;
    let mut granted = 0usize;
    while started.elapsed() < budget {
        for query in &queries {
            granted += usize::from(black_box(evaluate(black_box(query))).granted());
        }
        evaluations += queries.len();
    }
    let wall = started.elapsed();
    println!(
        "{path}: {} statements (loaded and indexed in {:.2} ms), {} queries; \
         {evaluations} evaluations in {:.2} s = {:.0} per second ({:.0} ns each; {} granted per pass)",
        rules.statements.len(),
        load.as_secs_f64() * 1e3,
        queries.len(),
        wall.as_secs_f64(),
        evaluations as f64 / wall.as_secs_f64(),
        wall.as_secs_f64() * 1e9 / evaluations as f64,
        granted * queries.len() / evaluations.max(1),
    );
}

/// What the comparison with upstream looks at: the decision and the approvers (upstream has no
/// statement indexes, and no quorum or duration caps).
fn decision_json(evaluation: &Evaluation) -> Value {
    let approvers: Vec<&str> = evaluation.approvers.iter().map(Email::as_str).collect();
    json!({"decision": evaluation.decision.as_str(), "approvers": approvers})
}

fn seconds_budget() -> f64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0)
}

fn synthetic() {
    let statements: usize = std::env::var("BENCH_STATEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let raw: Vec<Value> = (0..statements)
        .map(|index| {
            json!({
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
    let rules: Rules = liftgate_policy::parse_rules(Some(&Value::Array(raw)), None).unwrap();
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
        let evaluation = liftgate_policy::evaluate(&rules, &target, &requester, GLOBAL_MAX);
        granted += usize::from(black_box(evaluation).granted());
    }
    let wall = started.elapsed();
    println!(
        "{evaluations} evaluations over {statements} statements in {:.2} s = {:.0} per second ({:.1} µs each; {granted} granted)",
        wall.as_secs_f64(),
        evaluations as f64 / wall.as_secs_f64(),
        wall.as_secs_f64() * 1e6 / evaluations as f64
    );
}
