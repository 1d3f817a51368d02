//! Reading an S3 audit sink back for `liftgate audit verify` and `audit query`
//! (docs/reference.md §7): every record object under `s3://BUCKET/PREFIX/` and every
//! checkpoint under the sibling `s3://BUCKET/CHECKPOINT_PREFIX/`, fetched with bounded
//! concurrency.

use futures_util::StreamExt;
use liftgate_gateway::audit::verify::{ChainObjects, CheckpointObject, Finding, parse_record};

use crate::s3_audit::DEFAULT_CHECKPOINT_PREFIX;
use crate::sdk_error::classify;

/// Objects fetched at once.
const CONCURRENT_GETS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum S3SourceError {
    #[error("{0:?} is not an S3 location like s3://BUCKET/PREFIX")]
    NotAnS3Location(String),
    #[error("{0}")]
    Call(String),
}

/// `s3://BUCKET/PREFIX`, the prefix without slashes around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// # Errors
    /// When `text` is not `s3://BUCKET[/PREFIX]`.
    pub fn parse(text: &str) -> Result<S3Location, S3SourceError> {
        let rest = text
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| S3SourceError::NotAnS3Location(text.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3SourceError::NotAnS3Location(text.to_owned()));
        }
        Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// The checkpoints of a sink writing records here, with the default `checkpoint_prefix`.
    pub fn default_checkpoints(&self) -> S3Location {
        S3Location {
            bucket: self.bucket.clone(),
            prefix: DEFAULT_CHECKPOINT_PREFIX.to_owned(),
        }
    }

    fn list_prefix(&self) -> Option<String> {
        (!self.prefix.is_empty()).then(|| format!("{}/", self.prefix))
    }

    /// How a key is named in reports: `s3://BUCKET/KEY`.
    pub fn name(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// Reads one S3 location.
#[derive(Debug, Clone)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
}

impl S3Source {
    pub fn new(client: aws_sdk_s3::Client) -> S3Source {
        S3Source { client }
    }

    /// Every `*.json` key under `location`, leaving out those under `exclude` (the checkpoints,
    /// when records sit at the bucket's root).
    ///
    /// # Errors
    /// When listing fails.
    pub async fn keys(
        &self,
        location: &S3Location,
        exclude: Option<&S3Location>,
    ) -> Result<Vec<String>, S3SourceError> {
        let excluded = exclude
            .filter(|other| other.bucket == location.bucket)
            .and_then(S3Location::list_prefix);
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&location.bucket)
            .set_prefix(location.list_prefix())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|error| S3SourceError::Call(classify("ListObjectsV2", &error).detail))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if key.ends_with(".json")
                    && !excluded
                        .as_deref()
                        .is_some_and(|skip| key.starts_with(skip))
                {
                    keys.push(key.to_owned());
                }
            }
        }
        Ok(keys)
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| classify("GetObject", &error).detail)?;
        output
            .body
            .collect()
            .await
            .map(|data| data.into_bytes().to_vec())
            .map_err(|error| error.to_string())
    }

    /// Fetches `keys` of `location` with bounded concurrency, turning each into `T` as it
    /// arrives so at most [`CONCURRENT_GETS`] bodies are held at once.
    async fn fetch_each<T>(
        &self,
        location: &S3Location,
        keys: Vec<String>,
        each: impl Fn(String, Result<Vec<u8>, String>) -> T,
    ) -> Vec<T> {
        let fetches = futures_util::stream::iter(keys)
            .map(|key| async move {
                let body = self.get(&location.bucket, &key).await;
                (location.name(&key), body)
            })
            .buffer_unordered(CONCURRENT_GETS);
        fetches.map(|(name, body)| each(name, body)).collect().await
    }

    /// The records under `records` as chain links, and the checkpoints under `checkpoints`.
    ///
    /// # Errors
    /// When listing fails or a checkpoint cannot be read. A record that cannot be read is a
    /// finding.
    pub async fn read_chain(
        &self,
        records: &S3Location,
        checkpoints: &S3Location,
    ) -> Result<ChainObjects, S3SourceError> {
        let record_keys = self.keys(records, Some(checkpoints)).await?;
        let links = self
            .fetch_each(records, record_keys, |object, body| match body {
                Ok(bytes) => parse_record(object, &bytes),
                Err(reason) => Err(Finding::Unreadable { object, reason }),
            })
            .await;
        let checkpoint_keys = self.keys(checkpoints, None).await?;
        let checkpoints = self
            .fetch_each(checkpoints, checkpoint_keys, |object, body| {
                body.map(|body| CheckpointObject { object, body })
            })
            .await
            .into_iter()
            .collect::<Result<Vec<_>, String>>()
            .map_err(S3SourceError::Call)?;
        Ok((links, checkpoints))
    }

    /// The record bodies under `records`, each with its name.
    ///
    /// # Errors
    /// When listing or a read fails.
    pub async fn read_bodies(
        &self,
        records: &S3Location,
        checkpoints: &S3Location,
    ) -> Result<Vec<(String, Vec<u8>)>, S3SourceError> {
        let keys = self.keys(records, Some(checkpoints)).await?;
        self.fetch_each(records, keys, |name, body| body.map(|body| (name, body)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, String>>()
            .map_err(S3SourceError::Call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_parsed() {
        assert_eq!(
            S3Location::parse("s3://b/logs/").unwrap(),
            S3Location {
                bucket: "b".to_owned(),
                prefix: "logs".to_owned()
            }
        );
        assert_eq!(S3Location::parse("s3://b").unwrap().prefix, "");
        assert!(S3Location::parse("b/logs").is_err());
        assert!(S3Location::parse("s3:///logs").is_err());
    }
}
