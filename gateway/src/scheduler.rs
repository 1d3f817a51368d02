//! The embedded revocation timer (`scheduler.backend: local`): none. Grant ends live in the
//! state store and the sweeper acts on them, so this backend has nothing to create or remove;
//! the ledger's own end is the timer.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{AccessKey, AccessRecord};
use crate::ports::{RevocationScheduler, SchedulerError};

#[derive(Debug, Default, Clone, Copy)]
pub struct LocalScheduler;

#[async_trait]
impl RevocationScheduler for LocalScheduler {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn set(&self, _record: &AccessRecord, _at: OffsetDateTime) -> Result<(), SchedulerError> {
        Ok(())
    }

    async fn cancel(&self, _key: &AccessKey) -> Result<(), SchedulerError> {
        Ok(())
    }
}
