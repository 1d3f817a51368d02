//! Drives load: open loop at a fixed rate, with every latency measured from the time the
//! request was scheduled to be sent (so a slow answer cannot delay the next request and hide
//! its own cost: no coordinated omission), and closed loop as fast as the gateway answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::report::new_histogram;
use crate::traffic::{self, Kind, Prepared};

/// When each request of an open-loop run is due: `count` requests, `1 / rate` apart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    rate: f64,
    pub(crate) count: u64,
}

impl Schedule {
    pub(crate) fn new(rate: f64, duration: Duration) -> Schedule {
        Schedule {
            rate,
            count: (rate * duration.as_secs_f64()).round() as u64,
        }
    }

    /// The instant request `index` is due, counted from `start`.
    pub(crate) fn due(&self, start: Instant, index: u64) -> Instant {
        start + Duration::from_secs_f64(index as f64 / self.rate)
    }
}

/// What the harness needs to send requests.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) users: usize,
    pub(crate) accounts: Arc<Vec<String>>,
    /// Numbers requests across runs, so trigger ids never repeat.
    pub(crate) next_number: Arc<AtomicU64>,
}

impl Target {
    pub(crate) fn new(base: String, users: usize, accounts: Vec<String>) -> anyhow::Result<Target> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        Ok(Target {
            client,
            base,
            users,
            accounts: Arc::new(accounts),
            next_number: Arc::new(AtomicU64::new(1)),
        })
    }

    fn prepare(&self, kind: Kind) -> (u64, Prepared) {
        let number = self.next_number.fetch_add(1, Ordering::Relaxed);
        let user = (number as usize) % self.users.max(1);
        let account = &self.accounts[(number as usize) % self.accounts.len().max(1)];
        (number, traffic::prepare(kind, number, user, account))
    }

    /// Sends one request and reads the whole answer; `None` when no answer came.
    async fn send(&self, prepared: Prepared) -> Option<u16> {
        let mut request = self
            .client
            .post(format!("{}{}", self.base, prepared.path))
            .header(reqwest::header::CONTENT_TYPE, prepared.content_type)
            .body(prepared.body);
        for (name, value) in prepared.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        response.bytes().await.ok()?;
        Some(status)
    }
}

/// One request of an open-loop run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    pub(crate) number: u64,
    pub(crate) scheduled: Instant,
    pub(crate) answered: Instant,
    pub(crate) status: Option<u16>,
}

impl Sent {
    pub(crate) fn latency(&self) -> Duration {
        self.answered.saturating_duration_since(self.scheduled)
    }
}

/// Sends `kind` at `rate` for `duration`. Requests are prepared (built and signed) ahead of
/// their due time on a scheduler thread, which sleeps until each is due and hands it to the
/// runtime; `std::thread::sleep` is accurate to tens of microseconds where tokio's timer has
/// a 1 ms tick, which would blur sub-millisecond acks.
pub(crate) async fn open_loop(
    target: &Target,
    kind: Kind,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Vec<Sent>> {
    let schedule = Schedule::new(rate, duration);
    let runtime = tokio::runtime::Handle::current();
    let scheduler_target = target.clone();
    let scheduler = std::thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(20);
        let mut tasks = Vec::with_capacity(schedule.count as usize);
        for index in 0..schedule.count {
            let (number, prepared) = scheduler_target.prepare(kind);
            let scheduled = schedule.due(start, index);
            let wait = scheduled.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            let target = scheduler_target.clone();
            tasks.push(runtime.spawn(async move {
                let status = target.send(prepared).await;
                Sent {
                    number,
                    scheduled,
                    answered: Instant::now(),
                    status,
                }
            }));
        }
        tasks
    });
    let tasks = tokio::task::spawn_blocking(move || scheduler.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the scheduler thread panicked"))?;
    let mut sent = Vec::with_capacity(tasks.len());
    for task in tasks {
        sent.push(task.await.context("a request task failed")?);
    }
    Ok(sent)
}

/// What a closed-loop run did.
#[derive(Debug)]
pub(crate) struct Flood {
    pub(crate) elapsed: Duration,
    pub(crate) by_status: Vec<(Option<u16>, u64)>,
    pub(crate) latency: Histogram<u64>,
}

impl Flood {
    pub(crate) fn answered(&self, status: u16) -> u64 {
        self.by_status
            .iter()
            .filter(|(code, _)| *code == Some(status))
            .map(|(_, count)| count)
            .sum()
    }
}

/// `workers` callers each sending the next request as soon as the last was answered, cycling
/// through `kinds`, for `duration`.
pub(crate) async fn closed_loop(
    target: &Target,
    kinds: &[Kind],
    workers: usize,
    duration: Duration,
) -> anyhow::Result<Flood> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let target = target.clone();
        let kinds = kinds.to_vec();
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            let mut latency = new_histogram();
            let mut by_status: Vec<(Option<u16>, u64)> = Vec::new();
            let mut turn = worker;
            while !stop.load(Ordering::Relaxed) {
                let kind = kinds[turn % kinds.len()];
                turn += 1;
                let (_, prepared) = target.prepare(kind);
                let sent = Instant::now();
                let status = target.send(prepared).await;
                latency.saturating_record(sent.elapsed().as_micros() as u64);
                match by_status.iter_mut().find(|(code, _)| *code == status) {
                    Some((_, count)) => *count += 1,
                    None => by_status.push((status, 1)),
                }
            }
            (latency, by_status)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut flood = Flood {
        elapsed: Duration::ZERO,
        by_status: Vec::new(),
        latency: new_histogram(),
    };
    for task in tasks {
        let (latency, by_status) = task.await?;
        flood.latency.add(&latency)?;
        for (status, count) in by_status {
            match flood.by_status.iter_mut().find(|(code, _)| *code == status) {
                Some((_, total)) => *total += count,
                None => flood.by_status.push((status, count)),
            }
        }
    }
    flood.elapsed = started.elapsed();
    flood.by_status.sort();
    Ok(flood)
}

/// Samples a process's resident memory every 100 ms on a thread of its own.
pub(crate) struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Duration, u64)>>,
}

impl RssSampler {
    pub(crate) fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Ok(bytes) = crate::stack::rss_bytes(pid) {
                    samples.push((started.elapsed(), bytes));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling; the samples, oldest first.
    pub(crate) fn finish(self) -> Vec<(Duration, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_loop_schedule_spaces_requests_evenly_from_the_start() {
        let schedule = Schedule::new(500.0, Duration::from_secs(10));
        assert_eq!(schedule.count, 5000);
        let start = Instant::now();
        assert_eq!(schedule.due(start, 0), start);
        assert_eq!(schedule.due(start, 1), start + Duration::from_millis(2));
        assert_eq!(
            schedule.due(start, 4999),
            start + Duration::from_millis(9998)
        );
        // The due times never depend on when answers come back: the 1,000th request is due
        // 2 s in whatever happened before it.
        assert_eq!(
            schedule.due(start, 1000) - schedule.due(start, 0),
            Duration::from_secs(2)
        );
    }
}
