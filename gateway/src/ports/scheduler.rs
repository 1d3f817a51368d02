use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{AccessKey, AccessRecord};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("scheduler throttled: {0}")]
    Throttled(String),
    #[error("scheduler failed: {0}")]
    Failed(String),
}

/// Out-of-process revocation timers: exactly one per held access (not per grant), at the
/// latest end among the grants covering it, so no timer can ever fire while another grant still
/// covers the access. With `scheduler.backend: local` there is none: the sweeper ends grants
/// from the store. With `eventbridge`, each held access has one one-time schedule that removes
/// it even if no replica is running.
#[async_trait]
pub trait RevocationScheduler: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;

    /// Creates the access's timer, or moves it, to fire at `at`, removing exactly the access
    /// `record` describes. Idempotent.
    async fn set(&self, record: &AccessRecord, at: OffsetDateTime) -> Result<(), SchedulerError>;

    /// Removes the access's timer; a timer already gone is success.
    async fn cancel(&self, key: &AccessKey) -> Result<(), SchedulerError>;
}
