//! The embedded revocation timer (`scheduler.backend: local`): none. Grant ends live in the
//! state store and the sweeper acts on them, so this backend has nothing to create or remove.

use async_trait::async_trait;

use crate::domain::{Grant, GrantId};
use crate::ports::{RevocationScheduler, SchedulerError};

#[derive(Debug, Default, Clone, Copy)]
pub struct LocalScheduler;

#[async_trait]
impl RevocationScheduler for LocalScheduler {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn schedule(&self, _grant: &Grant) -> Result<(), SchedulerError> {
        Ok(())
    }

    async fn cancel(&self, _grant_id: &GrantId) -> Result<(), SchedulerError> {
        Ok(())
    }
}
