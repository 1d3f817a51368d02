use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{AuditRecord, CHECKPOINT_DIR, Checkpoint, object_key};
use crate::ports::{AuditError, AuditSink};

/// Writes each record to `DIR/YYYY/MM/DD/UUID.json` and each checkpoint to
/// `DIR/checkpoints/YYYY/MM/DD/NUMBER.json`. A file appears atomically (written to a temporary
/// name, synced, renamed), so a reader never sees half a record and a retried write of the
/// same record replaces it with identical content.
#[derive(Debug, Clone)]
pub struct FileAuditSink {
    name: String,
    dir: PathBuf,
}

impl FileAuditSink {
    /// A sink named `file`.
    pub fn new(dir: impl Into<PathBuf>) -> FileAuditSink {
        FileAuditSink::named("file", dir)
    }

    /// A sink with its own outbox topic name, for configs with several file sinks.
    pub fn named(name: &str, dir: impl Into<PathBuf>) -> FileAuditSink {
        FileAuditSink {
            name: name.to_owned(),
            dir: dir.into(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn error(&self, message: impl std::fmt::Display) -> AuditError {
        AuditError {
            sink: self.name.clone(),
            message: format!("{}: {message}", self.dir.display()),
        }
    }

    async fn write_file(&self, path: PathBuf, body: Vec<u8>) -> Result<(), AuditError> {
        let sink = self.clone();
        tokio::task::spawn_blocking(move || -> Result<(), AuditError> {
            let parent = path
                .parent()
                .ok_or_else(|| sink.error("record path has no parent"))?;
            std::fs::create_dir_all(parent).map_err(|error| sink.error(error))?;
            let temporary = path.with_extension("json.tmp");
            {
                use std::io::Write;
                let mut file =
                    std::fs::File::create(&temporary).map_err(|error| sink.error(error))?;
                file.write_all(&body).map_err(|error| sink.error(error))?;
                file.sync_all().map_err(|error| sink.error(error))?;
            }
            std::fs::rename(&temporary, &path).map_err(|error| sink.error(error))?;
            Ok(())
        })
        .await
        .map_err(|error| self.error(error))?
    }
}

#[async_trait]
impl AuditSink for FileAuditSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let path = self.dir.join(object_key(record));
        let body = serde_json::to_vec(&record.fields).map_err(|error| self.error(error))?;
        self.write_file(path, body).await
    }

    async fn write_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        let path = self.dir.join(CHECKPOINT_DIR).join(checkpoint.object_key());
        let body = serde_json::to_vec(checkpoint).map_err(|error| self.error(error))?;
        self.write_file(path, body).await
    }
}
