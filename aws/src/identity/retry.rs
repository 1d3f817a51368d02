//! Bounded retries of changes that AWS refused for now (conflict, throttling), and the
//! growing waits between status polls.

use std::future::Future;
use std::time::Duration;

use liftgate_gateway::ports::IdentityError;
use rand::Rng;

use super::IdentityCenterTuning;

/// Exponential backoff with full jitter: a random wait in `[delay/2, delay]`, where the delay
/// doubles per attempt from `base` up to `max`. Jitter keeps replicas from retrying in step.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let delay = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    let half = delay / 2;
    let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rand::rng().random_range(0..=jitter_nanos))
}

/// Runs `call` until it succeeds, fails for good, or `tuning.change_attempts` attempts were
/// refused with a conflict or throttling.
pub(crate) async fn retry_refused<T, F, Fut>(
    tuning: &IdentityCenterTuning,
    operation: &'static str,
    mut call: F,
) -> Result<T, IdentityError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, IdentityError>>,
{
    let attempts = tuning.change_attempts.max(1);
    let mut attempt = 0;
    loop {
        match call().await {
            Err(error @ (IdentityError::Conflict(_) | IdentityError::Throttled(_)))
                if attempt + 1 < attempts =>
            {
                let wait = backoff(tuning.retry_base_delay, tuning.retry_max_delay, attempt);
                tracing::info!(
                    operation,
                    attempt = attempt + 1,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    %error,
                    "AWS refused the change for now; retrying."
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The waits between status polls: doubling from the initial interval up to the maximum.
#[derive(Debug)]
pub(crate) struct PollSchedule {
    next: Duration,
    max: Duration,
}

impl PollSchedule {
    pub(crate) fn new(tuning: &IdentityCenterTuning) -> PollSchedule {
        PollSchedule {
            next: tuning.poll_initial_interval,
            max: tuning.poll_max_interval.max(tuning.poll_initial_interval),
        }
    }

    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_between_half_and_the_capped_delay() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 0..20 {
            let expected = base.saturating_mul(1u32 << attempt.min(16)).min(max);
            let wait = backoff(base, max, attempt);
            assert!(
                wait >= expected / 2 && wait <= expected,
                "attempt {attempt}: {wait:?}"
            );
        }
    }

    #[test]
    fn poll_waits_double_up_to_the_maximum() {
        let tuning = IdentityCenterTuning {
            poll_initial_interval: Duration::from_millis(250),
            poll_max_interval: Duration::from_secs(1),
            ..IdentityCenterTuning::default()
        };
        let mut schedule = PollSchedule::new(&tuning);
        let waits: Vec<u128> = (0..5).map(|_| schedule.next_wait().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 1000, 1000]);
    }
}
