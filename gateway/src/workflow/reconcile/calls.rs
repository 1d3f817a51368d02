//! Every AWS call of a pass goes through [`Calls`]: it waits for the shared rate limit, counts
//! the call under its AWS operation name, and retries throttling and outages with backoff.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;

use super::ReconcilerTuning;
use super::limiter::RateLimiter;
use crate::ports::IdentityError;

#[derive(Debug)]
pub(crate) struct Calls {
    limiter: RateLimiter,
    attempts: u32,
    retry_base_delay: Duration,
    retry_max_delay: Duration,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    throttled: AtomicU64,
}

/// A random wait in `[delay/2, delay]`, the delay doubling per attempt up to `max`.
fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let delay = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    let half = delay / 2;
    let jitter = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rand::rng().random_range(0..=jitter))
}

impl Calls {
    pub(crate) fn new(max_calls_per_second: u32, tuning: &ReconcilerTuning) -> Calls {
        Calls {
            limiter: RateLimiter::new(max_calls_per_second, tuning.burst),
            attempts: tuning.call_attempts.max(1),
            retry_base_delay: tuning.retry_base_delay,
            retry_max_delay: tuning.retry_max_delay,
            counts: Mutex::new(BTreeMap::new()),
            throttled: AtomicU64::new(0),
        }
    }

    /// Runs one AWS call under the rate limit. Throttling and unavailability are retried (each
    /// attempt takes a token and is counted); other errors are returned at once.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        mut call: F,
    ) -> Result<T, IdentityError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, IdentityError>>,
    {
        let mut attempt = 0;
        loop {
            self.limiter.acquire().await;
            self.count(operation);
            match call().await {
                Err(error @ (IdentityError::Throttled(_) | IdentityError::Unavailable(_)))
                    if attempt + 1 < self.attempts =>
                {
                    if matches!(error, IdentityError::Throttled(_)) {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let wait = backoff(self.retry_base_delay, self.retry_max_delay, attempt);
                    tracing::info!(
                        operation,
                        attempt = attempt + 1,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        %error,
                        "Reconciliation call refused for now; retrying."
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(error) => {
                    if matches!(error, IdentityError::Throttled(_)) {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    return Err(error);
                }
                Ok(value) => return Ok(value),
            }
        }
    }

    fn count(&self, operation: &'static str) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(operation).or_insert(0) += 1;
    }

    pub(crate) fn counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(operation, count)| ((*operation).to_owned(), *count))
            .collect()
    }

    pub(crate) fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

/// Calls to the [`crate::ports::IdentityCenter`] port made to resolve the scope and name what
/// was found (accounts, permission sets, groups). The AWS executor serves them from its caches,
/// so they are counted apart from the AWS calls.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl Lookups {
    pub(crate) fn count(&self, lookup: &'static str) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(lookup).or_insert(0) += 1;
    }

    pub(crate) fn counts(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(lookup, count)| ((*lookup).to_owned(), *count))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(attempts: u32) -> Calls {
        let tuning = ReconcilerTuning {
            call_attempts: attempts,
            retry_base_delay: Duration::from_millis(1),
            retry_max_delay: Duration::from_millis(2),
            ..ReconcilerTuning::default()
        };
        Calls::new(0, &tuning)
    }

    #[tokio::test]
    async fn throttling_is_retried_and_every_attempt_is_counted() {
        let calls = calls(3);
        let mut failures = vec![
            IdentityError::Throttled("slow down".to_owned()),
            IdentityError::Unavailable("timeout".to_owned()),
        ];
        let result = calls
            .call("ListAccountAssignments", || {
                let next = failures.pop();
                async move { next.map_or(Ok(7), Err) }
            })
            .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.counts()["ListAccountAssignments"], 3);
        assert_eq!(calls.throttled(), 1);
    }

    #[tokio::test]
    async fn retries_stop_after_the_configured_attempts() {
        let calls = calls(2);
        let result: Result<(), _> = calls
            .call("ListGroupMemberships", || async {
                Err(IdentityError::Throttled("slow down".to_owned()))
            })
            .await;
        assert!(matches!(result, Err(IdentityError::Throttled(_))));
        assert_eq!(calls.counts()["ListGroupMemberships"], 2);
        assert_eq!(calls.throttled(), 2);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = calls(5);
        let result: Result<(), _> = calls
            .call("DescribeUser", || async {
                Err(IdentityError::AccessDenied("no".to_owned()))
            })
            .await;
        assert!(matches!(result, Err(IdentityError::AccessDenied(_))));
        assert_eq!(calls.counts()["DescribeUser"], 1);
    }

    #[test]
    fn backoff_stays_within_its_bounds() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 0..10 {
            let expected = base.saturating_mul(1u32 << attempt).min(max);
            let wait = backoff(base, max, attempt);
            assert!(wait >= expected / 2 && wait <= expected);
        }
    }
}
