use async_trait::async_trait;

use crate::domain::{Grant, GrantId};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("scheduler throttled: {0}")]
    Throttled(String),
    #[error("scheduler failed: {0}")]
    Failed(String),
}

/// Out-of-process revocation timers. With `scheduler.backend: local` there is none: the sweeper
/// reads grant ends from the store. With `eventbridge`, each grant gets a one-time schedule
/// that revokes the access even if no replica is running.
#[async_trait]
pub trait RevocationScheduler: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;

    /// Creates or moves the grant's revocation timer to `grant.ends_at`. Idempotent per grant.
    async fn schedule(&self, grant: &Grant) -> Result<(), SchedulerError>;

    /// Removes the grant's timer; a timer already gone is success.
    async fn cancel(&self, grant_id: &GrantId) -> Result<(), SchedulerError>;
}
