//! Writes signed checkpoints (docs/reference.md §7) at an interval and at shutdown. Every
//! replica runs one; a lease keeps them from racing, and the store writes a checkpoint only if
//! it is the next of the chain (compare-and-set on the chain head), so checkpoint N exists
//! once whoever writes it. Checkpoints reach the sinks through the outbox, like records.

use std::sync::Arc;
use std::time::Duration;

use super::{Checkpoint, KeyError, SigningKey};
use crate::ports::{CheckpointAppend, Clock, StateStore, StoreError, WriteBatch};
use crate::workflow::{LeaseError, Leases};

/// The lease a checkpoint is written under.
const CHECKPOINT_LEASE: &str = "audit-checkpoint";
const LEASE_TTL: Duration = Duration::from_secs(30);
/// Writes that lose the compare-and-set to a record commit (DynamoDB) are tried again.
const ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error("cannot sign the checkpoint: {0}")]
    Key(#[from] KeyError),
    #[error("the chain head kept changing; no checkpoint after {ATTEMPTS} attempts")]
    Contended,
}

#[derive(Debug, Clone)]
pub struct Checkpointer {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    leases: Arc<Leases>,
    key: Arc<SigningKey>,
    sinks: Vec<String>,
    interval: Duration,
}

impl Checkpointer {
    pub fn new(
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        leases: Arc<Leases>,
        key: Arc<SigningKey>,
        sinks: Vec<String>,
        interval: Duration,
    ) -> Checkpointer {
        Checkpointer {
            store,
            clock,
            leases,
            key,
            sinks,
            interval,
        }
    }

    /// Writes a checkpoint unless the chain's last one is younger than `min_age` (another
    /// replica wrote it) or another replica is writing one now. `Ok(None)` when skipped.
    ///
    /// # Errors
    /// When the store fails, the lease is lost, or the head keeps moving.
    pub async fn checkpoint_unless_younger_than(
        &self,
        min_age: Duration,
        wait: Duration,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let written = self
            .leases
            .with_lease(CHECKPOINT_LEASE, LEASE_TTL, wait, |fence| async move {
                for _ in 0..ATTEMPTS {
                    let head = self.store.audit_chain_head().await?;
                    let now = self.clock.now();
                    let min_age = time::Duration::try_from(min_age).unwrap_or(time::Duration::MAX);
                    if head
                        .checkpoint
                        .as_ref()
                        .is_some_and(|mark| now - mark.time < min_age)
                    {
                        return Ok(None);
                    }
                    let checkpoint = self.key.checkpoint(&head, now)?;
                    let batch = WriteBatch {
                        checkpoint: Some(CheckpointAppend {
                            checkpoint: checkpoint.clone(),
                            sinks: self.sinks.clone(),
                        }),
                        fence: Some(fence.clone()),
                        ..WriteBatch::default()
                    };
                    match self.store.commit(batch).await {
                        Ok(()) => {
                            tracing::info!(
                                number = checkpoint.number,
                                seq = checkpoint.seq,
                                "Audit checkpoint signed."
                            );
                            return Ok(Some(checkpoint));
                        }
                        Err(StoreError::Conflict) => continue,
                        Err(error) => return Err(CheckpointError::Store(error)),
                    }
                }
                Err(CheckpointError::Contended)
            })
            .await?;
        Ok(written.transpose()?.flatten())
    }

    /// The checkpoint of a replica that stops: always written (unless another replica is
    /// writing one this moment).
    ///
    /// # Errors
    /// As [`Self::checkpoint_unless_younger_than`].
    pub async fn final_checkpoint(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        self.checkpoint_unless_younger_than(Duration::ZERO, Duration::from_secs(2))
            .await
    }

    /// Checkpoints every `interval` (at most one per interval across replicas) until
    /// `shutdown`. The final checkpoint is [`Self::final_checkpoint`], written by the caller
    /// once the last records of the drain are committed.
    pub async fn run(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        // Slightly less than the interval, so replicas whose timers drift apart still give one
        // checkpoint per interval rather than skipping one. A replica starting within an
        // interval of the last checkpoint therefore leaves it be.
        let min_age = self.interval.mul_f64(0.9);
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(error) = self
                .checkpoint_unless_younger_than(min_age, Duration::ZERO)
                .await
            {
                tracing::error!(%error, "Audit checkpoint failed; trying again at the next interval.");
            }
            tokio::select! {
                _ = self.clock.sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
