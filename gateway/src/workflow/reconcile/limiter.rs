//! The rate limit shared by every AWS call of a pass: a token bucket (GCRA form), so calls
//! made concurrently still reach AWS at no more than the configured rate.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Time between two tokens; zero means no limit.
    interval: Duration,
    /// How far ahead of the steady rate a burst may run: `(burst - 1) * interval`.
    tolerance: Duration,
    /// The theoretical arrival time of the next call at the steady rate.
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_second` tokens a second, a bucket of `burst` tokens (at least one). Zero
    /// `per_second` means no limit.
    pub(crate) fn new(per_second: u32, burst: u32) -> RateLimiter {
        let interval = if per_second == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) / per_second
        };
        RateLimiter {
            interval,
            tolerance: interval.saturating_mul(burst.max(1) - 1),
            next: Mutex::new(None),
        }
    }

    /// Waits for a token. Each caller reserves its own slot, so waiting callers are served in
    /// the order they asked and never more than `burst` at once.
    pub(crate) async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot).await;
    }

    /// Reserves the next token for a caller asking at `now`; returns when it may call.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let theoretical = next.map_or(now, |next| next.max(now));
        let slot = theoretical
            .checked_sub(self.tolerance)
            .map_or(now, |earliest| earliest.max(now));
        *next = Some(theoretical + self.interval);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(limiter: &RateLimiter, start: Instant, asks: &[u64]) -> Vec<u128> {
        asks.iter()
            .map(|at| {
                let slot = limiter.reserve(start + Duration::from_millis(*at));
                slot.duration_since(start).as_millis()
            })
            .collect()
    }

    #[test]
    fn calls_asked_at_once_are_spaced_at_the_configured_rate() {
        let limiter = RateLimiter::new(10, 1);
        let start = Instant::now();
        assert_eq!(
            offsets(&limiter, start, &[0, 0, 0, 0, 0]),
            [0, 100, 200, 300, 400]
        );
    }

    #[test]
    fn a_burst_is_allowed_then_the_steady_rate_applies() {
        let limiter = RateLimiter::new(10, 3);
        let start = Instant::now();
        assert_eq!(
            offsets(&limiter, start, &[0, 0, 0, 0, 0]),
            [0, 0, 0, 100, 200]
        );
    }

    #[test]
    fn an_idle_bucket_refills_but_never_beyond_its_size() {
        let limiter = RateLimiter::new(10, 2);
        let start = Instant::now();
        // Two at once (the bucket), a third waits; after a long pause two are free again.
        assert_eq!(
            offsets(&limiter, start, &[0, 0, 0, 5000, 5000, 5000]),
            [0, 0, 100, 5000, 5000, 5100]
        );
    }

    #[test]
    fn calls_slower_than_the_rate_never_wait() {
        let limiter = RateLimiter::new(20, 1);
        let start = Instant::now();
        assert_eq!(
            offsets(&limiter, start, &[0, 60, 120, 500]),
            [0, 60, 120, 500]
        );
    }

    #[tokio::test]
    async fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0, 1);
        assert!(limiter.interval.is_zero());
        for _ in 0..1000 {
            limiter.acquire().await;
        }
        assert!(
            limiter.next.lock().unwrap().is_none(),
            "nothing was reserved"
        );
    }
}
