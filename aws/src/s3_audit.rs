//! The S3 audit sink (docs/reference.md §7): one JSON object per record at
//! `s3://BUCKET/PREFIX/YYYY/MM/DD/UUID.json`, encrypted at rest, readable by upstream's Athena
//! table (see `docs/athena.md`), and one per signed checkpoint at
//! `s3://BUCKET/CHECKPOINT_PREFIX/YYYY/MM/DD/NUMBER.json`, a sibling prefix an Athena table
//! over the records never reads.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ServerSideEncryption};
use liftgate_gateway::audit::{AuditRecord, Checkpoint, object_key};
use liftgate_gateway::config::AuditSinkSettings;
use liftgate_gateway::ports::{AuditError, AuditSink};

use crate::client::AwsClients;
use crate::sdk_error::{classify, error_code};

/// The prefix records go under when none is configured (upstream's default).
pub const DEFAULT_PREFIX: &str = "logs";
/// The prefix checkpoints go under when none is configured.
pub const DEFAULT_CHECKPOINT_PREFIX: &str = "checkpoints";

/// Where and how records are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3AuditConfig {
    pub bucket: String,
    /// Without leading or trailing slashes; empty puts records at the bucket's root.
    pub prefix: String,
    /// Where checkpoints go, normalised like `prefix`.
    pub checkpoint_prefix: String,
    /// SSE-KMS key (id, alias or ARN); without it objects use SSE-S3 (AES256).
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3AuditSetupError {
    #[error("an s3 audit sink needs a bucket")]
    MissingBucket,
}

impl S3AuditConfig {
    /// `prefix` defaults to `logs`; slashes around it are dropped, so `logs/` and `logs` name
    /// the same place and an empty prefix gives keys without a leading slash.
    pub fn new(bucket: &str, prefix: Option<&str>, kms_key_id: Option<&str>) -> S3AuditConfig {
        S3AuditConfig {
            bucket: bucket.trim().to_owned(),
            prefix: normalise(prefix.unwrap_or(DEFAULT_PREFIX)),
            checkpoint_prefix: normalise(DEFAULT_CHECKPOINT_PREFIX),
            kms_key_id: kms_key_id
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(str::to_owned),
        }
    }

    /// Checkpoints under `prefix` instead of `checkpoints`.
    #[must_use]
    pub fn with_checkpoint_prefix(mut self, prefix: &str) -> S3AuditConfig {
        self.checkpoint_prefix = normalise(prefix);
        self
    }

    /// The key of a checkpoint: `CHECKPOINT_PREFIX/YYYY/MM/DD/NUMBER.json`.
    pub fn checkpoint_key(&self, checkpoint: &Checkpoint) -> String {
        join(&self.checkpoint_prefix, &checkpoint.object_key())
    }

    /// From one `audit.sinks[]` entry of type `s3`.
    pub fn from_settings(settings: &AuditSinkSettings) -> Result<S3AuditConfig, S3AuditSetupError> {
        let bucket = settings
            .bucket
            .as_deref()
            .filter(|bucket| !bucket.trim().is_empty())
            .ok_or(S3AuditSetupError::MissingBucket)?;
        let config = S3AuditConfig::new(
            bucket,
            settings.prefix.as_deref(),
            settings.kms_key_id.as_deref(),
        );
        Ok(match settings.checkpoint_prefix.as_deref() {
            Some(prefix) => config.with_checkpoint_prefix(prefix),
            None => config,
        })
    }
}

/// Without slashes around it, so `logs/` and `logs` name the same place.
fn normalise(prefix: &str) -> String {
    prefix.trim().trim_matches('/').to_owned()
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

/// Writes each record once, as its own object. Writes are conditional (`If-None-Match: *`):
/// a record retried after a write whose answer was lost leaves the one object (and, in a
/// versioned or Object Lock bucket, one version). Every upload carries a SHA-256 checksum,
/// which S3 verifies and which Object Lock buckets require.
#[derive(Debug, Clone)]
pub struct S3AuditSink {
    name: String,
    client: aws_sdk_s3::Client,
    config: S3AuditConfig,
}

impl S3AuditSink {
    /// A sink with the outbox topic name `name` (`s3`, or `s3-2`… when several are configured).
    pub fn new(name: &str, clients: &AwsClients, config: S3AuditConfig) -> S3AuditSink {
        Self::from_client(name, clients.s3.clone(), config)
    }

    /// Any client (moto, mocked SDK clients).
    pub fn from_client(
        name: &str,
        client: aws_sdk_s3::Client,
        config: S3AuditConfig,
    ) -> S3AuditSink {
        S3AuditSink {
            name: name.to_owned(),
            client,
            config,
        }
    }

    pub fn config(&self) -> &S3AuditConfig {
        &self.config
    }

    /// The object key of a record: `PREFIX/YYYY/MM/DD/UUID.json`.
    pub fn key_for(&self, record: &AuditRecord) -> String {
        join(&self.config.prefix, &object_key(record))
    }

    fn error(&self, message: impl std::fmt::Display) -> AuditError {
        AuditError {
            sink: self.name.clone(),
            message: format!("s3://{}: {message}", self.config.bucket),
        }
    }
}

#[async_trait]
impl AuditSink for S3AuditSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let body = serde_json::to_vec(&record.fields).map_err(|error| self.error(error))?;
        self.put_once(self.key_for(record), body).await
    }

    async fn write_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        let body = serde_json::to_vec(checkpoint).map_err(|error| self.error(error))?;
        self.put_once(self.config.checkpoint_key(checkpoint), body)
            .await
    }
}

impl S3AuditSink {
    /// Writes one object once (`If-None-Match: *`), with a SHA-256 checksum S3 verifies.
    async fn put_once(&self, key: String, body: Vec<u8>) -> Result<(), AuditError> {
        let checksum =
            aws_smithy_types::base64::encode(ring::digest::digest(&ring::digest::SHA256, &body));
        let encryption = match &self.config.kms_key_id {
            Some(_) => ServerSideEncryption::AwsKms,
            None => ServerSideEncryption::Aes256,
        };
        let result = self
            .client
            .put_object()
            .bucket(&self.config.bucket)
            .key(&key)
            .content_type("application/json")
            .server_side_encryption(encryption)
            .set_ssekms_key_id(self.config.kms_key_id.clone())
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(checksum)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::debug!(sink = %self.name, bucket = %self.config.bucket, %key, "Audit object written.");
                Ok(())
            }
            // The object exists: an earlier attempt of this very object (the key is the
            // record's UUID or the checkpoint's number) succeeded and its answer was lost.
            Err(error) if error_code(&error) == Some("PreconditionFailed") => {
                tracing::info!(sink = %self.name, bucket = %self.config.bucket, %key, "Audit object was already written.");
                Ok(())
            }
            Err(error) => Err(self.error(classify("PutObject", &error))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(S3AuditConfig::new("b", None, None).prefix, "logs");
        assert_eq!(S3AuditConfig::new("b", Some("logs/"), None).prefix, "logs");
        assert_eq!(
            S3AuditConfig::new("b", Some("/audit/liftgate//"), None).prefix,
            "audit/liftgate"
        );
        assert_eq!(S3AuditConfig::new("b", Some(""), None).prefix, "");
        assert_eq!(S3AuditConfig::new("b", Some("/"), None).prefix, "");
        assert_eq!(S3AuditConfig::new("b", None, Some(" ")).kms_key_id, None);
        assert_eq!(
            S3AuditConfig::new("b", None, None).checkpoint_prefix,
            "checkpoints"
        );
        assert_eq!(
            S3AuditConfig::new("b", None, None)
                .with_checkpoint_prefix("/audit/cp/")
                .checkpoint_prefix,
            "audit/cp"
        );
    }
}
