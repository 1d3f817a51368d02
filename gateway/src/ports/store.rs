use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{AuditRecord, ChainHead, Checkpoint};
use crate::domain::{
    AccessKey, AccessRecord, AccessRequest, Grant, GrantId, GrantStatus, RequestId, RequestStatus,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A compare-and-set lost: the item changed (or appeared) since it was read. Nothing of the
    /// batch was written; re-read and decide again.
    #[error("the item changed concurrently")]
    Conflict,
    /// A fenced batch was refused: its lease is no longer held by the writer. Nothing was
    /// written; the writer must stop acting on what the lease protected.
    #[error("the lease this write depends on is no longer held")]
    LeaseLost,
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The version a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The item must not exist yet.
    Absent,
    /// The stored item must have exactly this version.
    Version(u64),
}

/// One item of a [`WriteBatch`]. The store writes `item` with version `expected + 1` (or 1).
#[derive(Debug, Clone)]
pub struct Put<T> {
    pub item: T,
    pub expect: Expect,
}

impl<T> Put<T> {
    pub fn insert(item: T) -> Put<T> {
        Put {
            item,
            expect: Expect::Absent,
        }
    }

    pub fn update(item: T, version: u64) -> Put<T> {
        Put {
            item,
            expect: Expect::Version(version),
        }
    }
}

/// A message for a background consumer (an audit sink or a chat notifier), written in the same
/// transaction as the state change it reports, so a crash can never lose one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: uuid::Uuid,
    /// Which consumer takes it, e.g. `audit:file`, `audit:s3`, `notify:slack`.
    pub topic: String,
    pub payload: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub attempts: u32,
    /// When the message first becomes due; `None` is at once. Work acked to a chat platform
    /// is recorded this way: due only if the replica running it dies before finishing.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_before: Option<OffsetDateTime>,
}

impl OutboxMessage {
    /// When a store first offers the message to [`StateStore::claim_outbox`].
    pub fn first_due(&self) -> OffsetDateTime {
        self.not_before.unwrap_or(self.created_at)
    }
}

/// A write of an access ledger record.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "a batch holds one or two of these for the moment of a commit"
)]
pub enum AccessPut {
    Put(Put<AccessRecord>),
    /// Deletes the record, which must have exactly this version.
    Delete {
        key: AccessKey,
        version: u64,
    },
}

/// A lease the batch is only valid under: the commit fails with [`StoreError::Conflict`]
/// unless `owner` still holds `lease` at that moment. This is the fencing token: a lease
/// holder that lost its lease (it stalled, another took over) can no longer write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub owner: String,
}

/// The outbox topic prefix of audit records (`audit:<sink>`).
pub const AUDIT_TOPIC_PREFIX: &str = "audit:";
/// The outbox topic prefix of signed checkpoints (`checkpoint:<sink>`).
pub const CHECKPOINT_TOPIC_PREFIX: &str = "checkpoint:";

/// An audit record to add to the chain: the store gives it the next `seq`, `prev_hash` and
/// `hash` inside the batch's transaction, then writes one outbox message per sink.
#[derive(Debug, Clone)]
pub struct AuditAppend {
    pub record: AuditRecord,
    /// The sinks it goes to (their outbox topics are `audit:<sink>`).
    pub sinks: Vec<String>,
}

/// A signed checkpoint to record as the chain's latest and deliver to every sink. The store
/// writes it only if it is the next checkpoint of the chain ([`ChainHead::next_checkpoint_number`]
/// and the previous signature match), else the batch fails with [`StoreError::Conflict`]: two
/// replicas can never both write checkpoint N.
#[derive(Debug, Clone)]
pub struct CheckpointAppend {
    pub checkpoint: Checkpoint,
    pub sinks: Vec<String>,
}

/// All-or-nothing write of requests, grants, access ledger records and outbox messages. Either
/// every expectation (and the fence) holds and everything is written, or
/// [`StoreError::Conflict`] and nothing is.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    pub requests: Vec<Put<AccessRequest>>,
    pub grants: Vec<Put<Grant>>,
    pub access: Vec<AccessPut>,
    pub outbox: Vec<OutboxMessage>,
    /// Audit records, chained by the store in this transaction (see [`Self::seal_audit`]).
    pub audit: Vec<AuditAppend>,
    pub checkpoint: Option<CheckpointAppend>,
    pub fence: Option<Fence>,
}

/// The outbox message of `value` for `topic`. Its id is derived from `identity` and the topic,
/// so a batch committed again after a lost answer writes the same rows (and conflicts) rather
/// than chaining the same record twice.
fn outbox_message<T: Serialize>(
    topic: String,
    identity: &[u8],
    value: &T,
    created_at: OffsetDateTime,
) -> Result<OutboxMessage, StoreError> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(identity);
    context.update(topic.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&context.finish().as_ref()[..16]);
    Ok(OutboxMessage {
        id: uuid::Builder::from_random_bytes(bytes).into_uuid(),
        topic,
        payload: serde_json::to_value(value)
            .map_err(|error| StoreError::Corrupt(format!("unserialisable audit item: {error}")))?,
        created_at,
        attempts: 0,
        not_before: None,
    })
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
            && self.grants.is_empty()
            && self.access.is_empty()
            && self.outbox.is_empty()
            && !self.touches_chain()
    }

    /// Whether the store must read and update the audit chain's head for this batch.
    pub fn touches_chain(&self) -> bool {
        self.audit.iter().any(|append| !append.sinks.is_empty()) || self.checkpoint.is_some()
    }

    /// Links the batch's audit records onto `head` (and checks its checkpoint follows it),
    /// turning both into outbox messages. Stores call this inside the transaction, with the
    /// head they read there, and write the moved head in the same transaction. A record going
    /// to no sink is written nowhere and takes no `seq`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the checkpoint is not the next one of `head`.
    pub fn seal_audit(&mut self, head: &mut ChainHead) -> Result<(), StoreError> {
        for mut append in std::mem::take(&mut self.audit) {
            if append.sinks.is_empty() {
                continue;
            }
            head.append(&mut append.record)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
            for sink in &append.sinks {
                self.outbox.push(outbox_message(
                    format!("{AUDIT_TOPIC_PREFIX}{sink}"),
                    append.record.id.as_bytes(),
                    &append.record,
                    append.record.at,
                )?);
            }
        }
        if let Some(append) = self.checkpoint.take() {
            let checkpoint = &append.checkpoint;
            let previous = head.checkpoint.as_ref().map(|mark| &mark.signature);
            if checkpoint.number != head.next_checkpoint_number()
                || checkpoint.previous_signature.as_ref() != previous
                || checkpoint.seq > head.seq
            {
                return Err(StoreError::Conflict);
            }
            head.checkpoint = Some(checkpoint.mark());
            for sink in &append.sinks {
                self.outbox.push(outbox_message(
                    format!("{CHECKPOINT_TOPIC_PREFIX}{sink}"),
                    checkpoint.signature.as_bytes(),
                    checkpoint,
                    checkpoint.time,
                )?);
            }
        }
        Ok(())
    }
}

/// What [`StateStore::acquire_lease`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// The caller holds the lease; `token` changes on every renewal.
    Acquired { token: u64 },
    /// Someone else holds it, at this token. A holder renews well within the lease's time to
    /// live, so a caller that sees the same holder at the same token for longer than that (by
    /// its own clock) may take the lease over by passing them as `stale`.
    Held { owner: String, token: u64 },
}

/// A lease as a waiter saw it: its holder and token. Owners are unique per acquisition, so a
/// sighting can never match a later holder of the same lease (tokens alone restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSighting {
    pub owner: String,
    pub token: u64,
}

#[derive(Debug, Clone)]
pub enum RequestQuery {
    /// Requests in this status, oldest first.
    Status { status: RequestStatus, limit: usize },
}

#[derive(Debug, Clone)]
pub enum AccessQuery {
    /// Records with something left to settle (see [`AccessRecord::unsettled`]) that are due
    /// by `due_by` ([`AccessRecord::due_at`]), soonest first.
    Unsettled {
        due_by: OffsetDateTime,
        limit: usize,
    },
    /// Every record, in key order, starting after `after`.
    All {
        after: Option<AccessKey>,
        limit: usize,
    },
}

#[derive(Debug, Clone)]
pub enum GrantQuery {
    /// Grants in any of these states, ordered by `ends_at`.
    Status {
        statuses: Vec<GrantStatus>,
        limit: usize,
    },
    /// Grants that may hold access under this [`Grant::access_key`].
    AccessKey { key: AccessKey },
    /// Grants in any of these states whose `ends_at` is at or before `before`.
    EndingBy {
        statuses: Vec<GrantStatus>,
        before: OffsetDateTime,
        limit: usize,
    },
}

/// Durable state shared by every replica. Every transition is a compare-and-set, so two
/// concurrent writers (two approvers clicking at once, two replicas sweeping) can never both
/// win. Contract tests in `crate::testing::store_contract` pin the semantics for all backends.
#[async_trait]
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// Cheap liveness probe for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Applies a batch atomically (see [`WriteBatch`]).
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError>;

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError>;

    async fn query_requests(&self, query: RequestQuery) -> Result<Vec<AccessRequest>, StoreError>;

    async fn get_grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError>;

    async fn query_grants(&self, query: GrantQuery) -> Result<Vec<Grant>, StoreError>;

    /// The ledger record of an access key (strongly consistent).
    async fn get_access(&self, key: &AccessKey) -> Result<Option<AccessRecord>, StoreError>;

    async fn query_access(&self, query: AccessQuery) -> Result<Vec<AccessRecord>, StoreError>;

    /// Takes up to `limit` outbox messages of topics starting with `topic_prefix` that are due,
    /// leasing them to the caller until `lease_until` so other replicas skip them meanwhile.
    async fn claim_outbox(
        &self,
        topic_prefix: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError>;

    /// The end of the audit chain (strongly consistent): the last `seq` and hash, and the last
    /// checkpoint. A store nobody wrote audit records to answers [`ChainHead::default`].
    async fn audit_chain_head(&self) -> Result<ChainHead, StoreError>;

    /// Deletes a delivered message.
    async fn complete_outbox(&self, id: uuid::Uuid) -> Result<(), StoreError>;

    /// Puts a failed message back, due again at `retry_at`, with its attempt count bumped.
    async fn retry_outbox(
        &self,
        id: uuid::Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Number of messages waiting, for metrics.
    async fn outbox_len(&self) -> Result<u64, StoreError>;

    /// Records `key → value` unless the key is already recorded (and not yet expired); returns
    /// the value already recorded in that case. Idempotency for retried API calls and
    /// redelivered chat payloads.
    async fn remember_once(
        &self,
        key: &str,
        value: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError>;

    /// Takes the named lease for `owner` if nobody holds it, or if it is held exactly as
    /// `stale` says (the caller watched that holder at that token for longer than the lease's
    /// time to live). Never re-entrant: a lease held by `owner` itself answers `Held`. `now + ttl`
    /// is kept for people reading the store and for TTL clean-up; no decision compares clocks
    /// across replicas.
    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        stale: Option<&LeaseSighting>,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<LeaseState, StoreError>;

    /// Renews a lease `owner` holds at `token`; returns the new token, or `None` when the lease
    /// was lost (taken over or released).
    async fn renew_lease(
        &self,
        name: &str,
        owner: &str,
        token: u64,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<Option<u64>, StoreError>;

    /// Gives the lease back if `owner` holds it.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError>;

    /// Small documents that adapters keep (message references, conversation references,
    /// drift findings already reported).
    async fn put_document(
        &self,
        namespace: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError>;

    async fn get_document(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError>;

    async fn delete_document(&self, namespace: &str, key: &str) -> Result<(), StoreError>;
}
