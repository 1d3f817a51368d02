use async_trait::async_trait;

use crate::audit::{AuditRecord, Checkpoint};

#[derive(Debug, thiserror::Error)]
#[error("audit sink {sink} failed: {message}")]
pub struct AuditError {
    pub sink: String,
    pub message: String,
}

/// A place audit records are written to (docs/reference.md §7). Records arrive through the outbox, so a sink
/// may fail and be retried; writing the same record twice must leave one object (the key is the
/// record's UUID).
#[async_trait]
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// The outbox topic suffix, e.g. `file` or `s3`.
    fn name(&self) -> &str;

    async fn write(&self, record: &AuditRecord) -> Result<(), AuditError>;

    /// Writes a signed checkpoint beside the records (docs/reference.md §7). Retried like
    /// records; writing the same checkpoint twice must leave one object (the key is its
    /// number).
    async fn write_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), AuditError>;
}
