//! The hash chain of audit records (docs/reference.md §7). Every record gets the next `seq`
//! of its store's one chain, the previous record's hash as `prev_hash`, and its own `hash`:
//! SHA-256, in lowercase hex, of the record's canonical JSON without `hash`. The chain is
//! extended by the state store inside the transaction that writes the record's outbox rows,
//! so replicas sharing a store share one chain without gaps.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AuditRecord;
use super::canonical::canonical_without;

/// `prev_hash` of the first record of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The last checkpoint written for a chain: what the next one must follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMark {
    pub number: u64,
    pub seq: u64,
    pub signature: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

/// The end of the chain, as the state store keeps it: the last `seq` given out, its hash, and
/// the last checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointMark>,
}

impl Default for ChainHead {
    fn default() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
            checkpoint: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("an audit record could not be serialised: {0}")]
pub struct ChainError(#[from] serde_json::Error);

/// SHA-256 (lowercase hex) of the canonical form of a record body without its `hash` member.
pub fn hash_of_body(body: &serde_json::Value) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &canonical_without(body, "hash"),
    ))
}

impl ChainHead {
    /// Makes `record` the next link: sets its `seq`, `prev_hash` and `hash`, and moves the
    /// head onto it.
    ///
    /// # Errors
    /// When the record cannot be serialised (never for the record types Liftgate builds).
    pub fn append(&mut self, record: &mut AuditRecord) -> Result<(), ChainError> {
        let seq = self.seq + 1;
        record.fields.seq = Some(seq);
        record.fields.record_id = Some(record.id.to_string());
        record.fields.prev_hash = Some(self.hash.clone());
        record.fields.hash = None;
        let hash = hash_of_body(&serde_json::to_value(&record.fields)?);
        record.fields.hash = Some(hash.clone());
        self.seq = seq;
        self.hash = hash;
        Ok(())
    }

    /// The number the next checkpoint must have.
    pub fn next_checkpoint_number(&self) -> u64 {
        self.checkpoint.as_ref().map_or(1, |mark| mark.number + 1)
    }
}
