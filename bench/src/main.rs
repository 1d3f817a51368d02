//! `liftgate-bench`: load scenarios against the real `liftgate serve` (the release binary
//! beside this one, or `--gateway`), with moto for AWS and a fast Slack double served by the
//! harness. Each scenario starts a fresh gateway and prints a Markdown table; `all` runs the
//! set the README's "Performance" section reports. See README.md, "Performance".

mod load;
mod report;
mod slack_double;
mod stack;
mod traffic;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::load::{RssSampler, Sent, Target};
use crate::report::{Table, histogram_of, latency_line, mib, millis};
use crate::stack::{Backends, Gateway, GatewayOptions};
use crate::traffic::Kind;

#[derive(Debug, Parser)]
#[command(
    name = "liftgate-bench",
    about = "Load scenarios against the real liftgate serve"
)]
struct Cli {
    /// The `liftgate` binary to run (default: `liftgate` beside this binary, i.e. the one
    /// `cargo build --release -p liftgate` builds).
    #[arg(long, global = true)]
    gateway: Option<PathBuf>,
    /// Extra environment for the gateway, `KEY=VALUE` (e.g. `MALLOC_ARENA_MAX=2`).
    #[arg(long = "env", global = true, value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Accounts in the seeded organization (every one is requestable, so each form lists them).
    #[arg(long, global = true, default_value_t = 20)]
    accounts: usize,
    /// Distinct Slack users (Identity Center users) the requests come from.
    #[arg(long, global = true, default_value_t = 50)]
    users: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Start → first 200 from `/readyz` over several starts, and resident memory when idle.
    Startup {
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Open-loop signed Slack requests of one kind at a fixed rate: ack latency from the due
    /// time, ack → `views.open` at the Slack double, connections to it, resident memory.
    Slack {
        #[arg(long, value_enum, default_value_t = Kind::Shortcut)]
        kind: Kind,
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        /// Seconds measured.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Seconds sent at the same rate before measuring (caches filled, pools open).
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
    /// Open-loop signed webhook creates (`POST /api/v1/requests`) at a fixed rate: latency of
    /// what is served, and how much is shed (503 + `Retry-After`).
    Webhook {
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
    /// Closed-loop flood of shortcuts and `/access` commands as fast as the gateway acks:
    /// throughput, resident memory during and after, connections to Slack, work dropped.
    Flood {
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Concurrent callers.
        #[arg(long, default_value_t = 64)]
        workers: usize,
        /// Seconds to watch memory after the flood.
        #[arg(long, default_value_t = 10)]
        settle: u64,
    },
    /// Every scenario above, in the README's order.
    All {
        /// Seconds measured per open-loop run.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Seconds of the flood.
        #[arg(long, default_value_t = 20)]
        flood: u64,
    },
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// What every scenario shares.
struct Bench {
    binary: PathBuf,
    options: GatewayOptions,
    backends: Backends,
    users: usize,
}

impl Bench {
    async fn gateway(&self) -> anyhow::Result<Gateway> {
        Gateway::start(&self.binary, &self.backends, &self.options).await
    }

    fn target(&self, gateway: &Gateway) -> anyhow::Result<Target> {
        Target::new(
            gateway.base.clone(),
            self.users,
            self.backends.organization.accounts.clone(),
        )
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let binary = match cli.gateway {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("the harness binary has no directory")?
            .join("liftgate"),
    };
    if !binary.is_file() {
        bail!(
            "{} does not exist: build it first with `cargo build --release -p liftgate`, or pass --gateway",
            binary.display()
        );
    }
    progress(&format!(
        "starting moto ({} accounts, {} users) and the Slack double",
        cli.accounts, cli.users
    ));
    let backends = Backends::start(cli.accounts.max(1), cli.users.max(1)).await?;
    let bench = Bench {
        binary,
        options: GatewayOptions { env: cli.env },
        backends,
        users: cli.users.max(1),
    };
    let secs = Duration::from_secs;
    let table = match cli.scenario {
        Scenario::Startup { runs } => startup(&bench, runs).await?,
        Scenario::Slack {
            kind,
            rate,
            duration,
            warmup,
        } => open_loop(&bench, kind, rate, secs(duration), secs(warmup)).await?,
        Scenario::Webhook {
            rate,
            duration,
            warmup,
        } => open_loop(&bench, Kind::Webhook, rate, secs(duration), secs(warmup)).await?,
        Scenario::Flood {
            duration,
            workers,
            settle,
        } => flood(&bench, workers, secs(duration), secs(settle)).await?,
        Scenario::All {
            duration,
            flood: flood_secs,
        } => {
            let mut table = startup(&bench, 5).await?;
            for (kind, rate) in [
                (Kind::Shortcut, 500.0),
                (Kind::Options, 500.0),
                (Kind::Command, 500.0),
                (Kind::Shortcut, 1000.0),
                (Kind::Command, 1000.0),
                (Kind::Webhook, 500.0),
            ] {
                table.extend(open_loop(&bench, kind, rate, secs(duration), secs(2)).await?);
            }
            table.extend(flood(&bench, 64, secs(flood_secs), secs(10)).await?);
            table
        }
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", table.render())?;
    Ok(())
}

fn progress(message: &str) {
    eprintln!("liftgate-bench: {message}");
}

async fn startup(bench: &Bench, runs: usize) -> anyhow::Result<Table> {
    progress(&format!("startup: {runs} starts"));
    let mut times = Vec::new();
    let mut idle_rss = 0;
    let mut fresh_rss = 0;
    for run in 0..runs.max(1) {
        let gateway = bench.gateway().await?;
        times.push(gateway.start_to_ready);
        if run + 1 == runs.max(1) {
            // Idle twice: 3 s after ready with no traffic, then with every client built, forms
            // opened and requests created (so lazy state exists), 3 s after the last.
            tokio::time::sleep(Duration::from_secs(3)).await;
            fresh_rss = gateway.rss_bytes()?;
            let target = bench.target(&gateway)?;
            load::open_loop(&target, Kind::Shortcut, 10.0, Duration::from_millis(500)).await?;
            load::open_loop(&target, Kind::Webhook, 10.0, Duration::from_millis(500)).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            idle_rss = gateway.rss_bytes()?;
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let mut table = Table::default();
    table.row(
        "start → first 200 from `/readyz`",
        format!(
            "median {} ms (min {}, max {}, {} starts)",
            median.as_millis(),
            times[0].as_millis(),
            times[times.len() - 1].as_millis(),
            times.len()
        ),
    );
    table.row(
        "idle RSS",
        format!(
            "{} 3 s after ready; {} 3 s after 5 forms and 5 creates",
            mib(fresh_rss),
            mib(idle_rss)
        ),
    );
    Ok(table)
}

async fn open_loop(
    bench: &Bench,
    kind: Kind,
    rate: f64,
    duration: Duration,
    warmup: Duration,
) -> anyhow::Result<Table> {
    progress(&format!(
        "{} open loop at {rate}/s for {} s",
        kind.label(),
        duration.as_secs()
    ));
    let gateway = bench.gateway().await?;
    let target = bench.target(&gateway)?;
    let slack = &bench.backends.slack;
    if !warmup.is_zero() {
        load::open_loop(&target, kind, rate, warmup).await?;
        // Let the warm-up's after-ack work finish (forms drop after 3 s at the latest).
        tokio::time::sleep(Duration::from_millis(3500)).await;
    }
    slack.reset();
    let sampler = RssSampler::start(gateway.pid);
    let sent = load::open_loop(&target, kind, rate, duration).await?;
    if kind.opens_form() {
        tokio::time::sleep(Duration::from_millis(3500)).await;
    }
    let rss = sampler.finish();
    let connections = slack.connections();

    let mut table = Table::default();
    let at = format!("open loop {rate}/s, {} s", duration.as_secs());
    let ok_status = if kind == Kind::Webhook { 201 } else { 200 };
    let served: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.status == Some(ok_status))
        .collect();
    let shed: Vec<&Sent> = sent.iter().filter(|s| s.status == Some(503)).collect();
    let other = sent.len() - served.len() - shed.len();
    let answered = histogram_of(served.iter().map(|s| s.latency()));
    let mut value = latency_line(&answered);
    if !shed.is_empty() {
        let shed_latency = histogram_of(shed.iter().map(|s| s.latency()));
        value.push_str(&format!(
            "; shed 503 {} ({:.1}%, p99 {})",
            shed.len(),
            100.0 * shed.len() as f64 / sent.len().max(1) as f64,
            millis(&shed_latency, 0.99)
        ));
    }
    if other > 0 {
        value.push_str(&format!("; {other} other answers or failures"));
    }
    let what = if kind == Kind::Webhook {
        "served"
    } else {
        "ack"
    };
    table.row(format!("{} {what}, {at}", kind.label()), value);
    if kind.opens_form() {
        let mut missing = 0;
        let mut after_ack = Vec::new();
        let mut after_send = Vec::new();
        for sent in &served {
            match slack.view_opened(sent.number) {
                Some(opened) => {
                    after_ack.push(opened.saturating_duration_since(sent.answered));
                    after_send.push(opened.saturating_duration_since(sent.scheduled));
                }
                None => missing += 1,
            }
        }
        table.row(
            format!("{} ack → `views.open`, {at}", kind.label()),
            format!(
                "{}; from the due time p99 {}; {missing} never opened; {} filled (`views.update`)",
                latency_line(&histogram_of(after_ack)),
                millis(&histogram_of(after_send), 0.99),
                slack.calls().get("views.update").copied().unwrap_or(0)
            ),
        );
    }
    table.row(
        format!("{} connections to Slack, {at}", kind.label()),
        format!("max {} open at once", connections.max_open),
    );
    table.row(
        format!("{} RSS, {at}", kind.label()),
        format!(
            "max {}",
            mib(rss.iter().map(|(_, bytes)| *bytes).max().unwrap_or(0))
        ),
    );
    Ok(table)
}

async fn flood(
    bench: &Bench,
    workers: usize,
    duration: Duration,
    settle: Duration,
) -> anyhow::Result<Table> {
    progress(&format!(
        "closed-loop flood of shortcuts and /access, {workers} callers, {} s",
        duration.as_secs()
    ));
    let gateway = bench.gateway().await?;
    let target = bench.target(&gateway)?;
    let slack = &bench.backends.slack;
    load::open_loop(&target, Kind::Shortcut, 50.0, Duration::from_secs(1)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = gateway.rss_bytes()?;
    let before_split = gateway.rss_split()?;
    slack.reset();
    let started = Instant::now();
    let sampler = RssSampler::start(gateway.pid);
    let flood =
        load::closed_loop(&target, &[Kind::Shortcut, Kind::Command], workers, duration).await?;
    let during_connections = slack.connections();
    let flood_end = started.elapsed();
    tokio::time::sleep(settle).await;
    let samples = sampler.finish();
    let after_split = gateway.rss_split()?;
    let after_connections = slack.connections();
    let peak = samples
        .iter()
        .filter(|(at, _)| *at <= flood_end)
        .map(|(_, bytes)| *bytes)
        .max()
        .unwrap_or(0);
    let after = samples.last().map_or(0, |(_, bytes)| *bytes);
    let calls = slack.calls();
    let dropped_full = gateway
        .metric_sum("liftgate_chat_work_dropped_total", "queue_full")
        .await
        .unwrap_or(f64::NAN);
    let dropped_expired = gateway
        .metric_sum("liftgate_chat_work_dropped_total", "trigger_expired")
        .await
        .unwrap_or(f64::NAN);

    let acks = flood.answered(200);
    let mut table = Table::default();
    let at = format!("flood ({workers} callers, {} s)", flood.elapsed.as_secs());
    let failures: u64 = flood
        .by_status
        .iter()
        .filter(|(status, _)| *status != Some(200))
        .map(|(_, count)| count)
        .sum();
    table.row(
        format!("acks/s, {at}"),
        format!(
            "{:.0}/s ({} acks; {}; {failures} not 200)",
            acks as f64 / flood.elapsed.as_secs_f64(),
            acks,
            latency_line(&flood.latency)
        ),
    );
    table.row(
        format!("RSS during {at}"),
        format!("peak {} (before {})", mib(peak), mib(before)),
    );
    table.row(format!("RSS {} s after {at}", settle.as_secs()), mib(after));
    table.row(
        format!(
            "anonymous + file-backed RSS, before and {} s after",
            settle.as_secs()
        ),
        format!(
            "{} + {} before; {} + {} after",
            mib(before_split.0),
            mib(before_split.1),
            mib(after_split.0),
            mib(after_split.1)
        ),
    );
    table.row(
        format!("connections to Slack during {at}"),
        format!(
            "max {} open at once ({} after; {} accepted in all)",
            during_connections.max_open, after_connections.open, after_connections.accepted
        ),
    );
    table.row(
        format!("forms during {at}"),
        format!(
            "{} `views.open`; dropped: {dropped_full} queue full, {dropped_expired} trigger expired",
            calls.get("views.open").copied().unwrap_or(0)
        ),
    );
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_are_key_value_pairs() {
        assert_eq!(
            parse_env("MALLOC_ARENA_MAX=2"),
            Ok(("MALLOC_ARENA_MAX".to_owned(), "2".to_owned()))
        );
        assert!(parse_env("=2").is_err());
        assert!(parse_env("MALLOC_ARENA_MAX").is_err());
    }
}
