use time::OffsetDateTime;

/// The time source. Everything time-dependent (expiry, revocation, signature windows, waiting
/// for a lease) reads it through this trait, so tests can move time instead of sleeping, and a
/// deterministic simulation can decide when every wait ends.
#[async_trait::async_trait]
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;

    /// Waits until the clock has moved `duration` on (renewal intervals, backoff).
    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }

    /// Waits a little before looking again at something another task holds (a lease). That
    /// task works in real time, so this pause is real time even where the clock is not;
    /// deterministic test clocks decide it themselves.
    async fn pause(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
