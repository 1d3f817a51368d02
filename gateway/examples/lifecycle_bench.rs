//! Measures the request lifecycle itself: create → approve → grant → end-of-grant revocation
//! through `AccessService` on SQLite (WAL, on disk), with an in-memory Identity Center so AWS
//! latency does not hide Liftgate's own cost. Prints throughput, latency percentiles and the
//! process's peak resident memory.
//!
//! cargo run --release -p liftgate-gateway --example lifecycle_bench
//! (BENCH_REQUESTS=2000 BENCH_CONCURRENCY=16 change the load)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use liftgate_gateway::domain::{Channel, RequestId, RequestStatus};
use liftgate_gateway::ports::StateStore;
use liftgate_gateway::testing::{Harness, HarnessOptions, PROD, person};
use liftgate_gateway::workflow::{NewRequest, TargetInput};
use serde_json::json;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn percentile_ms(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Runs `operation` once per item on `concurrency` tasks and prints throughput and latencies.
async fn timed<T, F, Fut>(name: &str, items: Vec<T>, concurrency: usize, operation: F)
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let total = items.len();
    let mut lanes: Vec<Vec<T>> = (0..concurrency).map(|_| Vec::new()).collect();
    for (index, item) in items.into_iter().enumerate() {
        lanes[index % concurrency].push(item);
    }
    let started = Instant::now();
    let tasks: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let operation = operation.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(lane.len());
                for item in lane {
                    let began = Instant::now();
                    operation(item).await;
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let wall = started.elapsed();
    latencies.sort();
    println!(
        "{name:<8} {total:>6} in {:>6.2} s = {:>7.0}/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64(),
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        percentile_ms(&latencies, 1.0),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests = env_number("BENCH_REQUESTS", 1000);
    let concurrency = env_number("BENCH_CONCURRENCY", 8).max(1);
    let harness = Arc::new(Harness::new(HarnessOptions {
        statements: json!([{
            "ResourceType": "Account", "Resource": PROD, "PermissionSet": ["Admin", "ReadOnly"],
            "Approvers": ["alice@corp.com", "bob@corp.com"]
        }]),
        ..HarnessOptions::default()
    }));
    for index in 0..requests {
        harness
            .identity
            .add_user(&format!("user{index}@corp.com"), &format!("u-{index}"));
    }
    println!(
        "lifecycle_bench: {requests} requests, {concurrency} concurrent callers, SQLite on disk"
    );

    let ids = Arc::new(std::sync::Mutex::new(Vec::<RequestId>::new()));
    let (creator, created) = (Arc::clone(&harness), Arc::clone(&ids));
    timed(
        "create",
        (0..requests).collect(),
        concurrency,
        move |index: usize| {
            let (harness, created) = (Arc::clone(&creator), Arc::clone(&created));
            async move {
                let input = NewRequest {
                    requester: person(&format!("user{index}@corp.com")),
                    target: TargetInput::Account {
                        account_id: PROD.to_owned(),
                        permission_set: "Admin".to_owned(),
                    },
                    duration: liftgate_policy::Duration::from_hours(1),
                    reason: format!("benchmark {index}"),
                    channel: Channel::Webhook,
                    start_at: None,
                    extends: None,
                    idempotency_key: None,
                    break_glass: false,
                };
                let request = harness.service.create(input).await.unwrap();
                assert_eq!(request.status(), RequestStatus::Pending);
                created.lock().unwrap().push(request.id);
            }
        },
    )
    .await;

    let pending = std::mem::take(&mut *ids.lock().unwrap());
    let approver = Arc::clone(&harness);
    timed("approve", pending, concurrency, move |id: RequestId| {
        let harness = Arc::clone(&approver);
        async move {
            let approved = harness
                .service
                .approve(&id, &person("alice@corp.com"), Channel::Slack, None)
                .await
                .unwrap();
            assert_eq!(
                approved.status(),
                RequestStatus::Active,
                "each approval grants"
            );
        }
    })
    .await;

    let queued = harness.store.outbox_len().await.unwrap();
    let started = Instant::now();
    harness.deliver_outbox().await;
    let wall = started.elapsed();
    println!(
        "outbox   {queued:>6} in {:>6.2} s = {:>7.0}/s   (audit records and notices)",
        wall.as_secs_f64(),
        queued as f64 / wall.as_secs_f64()
    );

    harness.advance(Duration::from_secs(3600));
    let started = Instant::now();
    let mut revoked = 0;
    loop {
        let pass = harness.sweep().await;
        if pass.revoked == 0 {
            break;
        }
        revoked += pass.revoked;
    }
    let wall = started.elapsed();
    println!(
        "revoke   {revoked:>6} in {:>6.2} s = {:>7.0}/s   (sweeper passes of 200)",
        wall.as_secs_f64(),
        revoked as f64 / wall.as_secs_f64()
    );
    assert_eq!(revoked, requests);
    println!("peak resident memory: {:.1} MiB", peak_rss_mib());
}
