//! Which findings were already reported, so each is warned about once while it lasts rather
//! than on every pass. Kept in the state store's documents (namespace `reconciler`) as entries
//! keyed by access key, split into shards small enough for any backend's item limit, listed by
//! a head document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ports::{StateStore, StoreError};

pub(crate) const NAMESPACE: &str = "reconciler";
const HEAD: &str = "reported";
/// About 150 bytes an entry: 500 keep a shard near 75 KB, well under DynamoDB's 400 KB.
const SHARD_SIZE: usize = 500;

/// A finding that was reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Remembered {
    /// The unit (pair or group) the access belongs to, so it is only forgotten once that unit
    /// was listed completely without it.
    pub(crate) unit: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) reported_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    shards: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Shard {
    entries: BTreeMap<String, Remembered>,
}

fn shard_key(index: usize) -> String {
    format!("{HEAD}/{index}")
}

fn corrupt(what: &str, error: &serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("reconciler {what}: {error}"))
}

/// The reported findings by access key, as loaded.
#[derive(Debug, Default, Clone)]
pub(crate) struct Memory {
    pub(crate) entries: BTreeMap<String, Remembered>,
    shards: usize,
}

impl Memory {
    pub(crate) async fn load(store: &dyn StateStore) -> Result<Memory, StoreError> {
        let Some(head) = store.get_document(NAMESPACE, HEAD).await? else {
            return Ok(Memory::default());
        };
        let head: Head = serde_json::from_value(head).map_err(|e| corrupt("head", &e))?;
        let mut entries = BTreeMap::new();
        for index in 0..head.shards {
            // A shard lost to a crash mid-save only means its findings are reported again.
            if let Some(shard) = store.get_document(NAMESPACE, &shard_key(index)).await? {
                let shard: Shard =
                    serde_json::from_value(shard).map_err(|e| corrupt("shard", &e))?;
                entries.extend(shard.entries);
            }
        }
        Ok(Memory {
            entries,
            shards: head.shards,
        })
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Replaces what is stored with `entries`: shards first, then the head, then shards no
    /// longer needed.
    pub(crate) async fn save(
        &self,
        store: &dyn StateStore,
        entries: BTreeMap<String, Remembered>,
    ) -> Result<(), StoreError> {
        let all: Vec<(String, Remembered)> = entries.into_iter().collect();
        let chunks: Vec<&[(String, Remembered)]> = all.chunks(SHARD_SIZE).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            let shard = Shard {
                entries: chunk.iter().cloned().collect(),
            };
            let value = serde_json::to_value(&shard).map_err(|e| corrupt("shard", &e))?;
            store
                .put_document(NAMESPACE, &shard_key(index), &value)
                .await?;
        }
        let head = serde_json::to_value(Head {
            shards: chunks.len(),
        })
        .map_err(|e| corrupt("head", &e))?;
        store.put_document(NAMESPACE, HEAD, &head).await?;
        for index in chunks.len()..self.shards {
            store.delete_document(NAMESPACE, &shard_key(index)).await?;
        }
        Ok(())
    }
}
