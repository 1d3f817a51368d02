use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{AccessRequest, Grant, GrantId, GrantStatus, RequestId, RequestStatus};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A compare-and-set lost: the item changed (or appeared) since it was read. Nothing of the
    /// batch was written; re-read and decide again.
    #[error("the item changed concurrently")]
    Conflict,
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
}

/// All-or-nothing write of requests, grants and outbox messages. Either every expectation holds
/// and everything is written, or [`StoreError::Conflict`] and nothing is.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    pub requests: Vec<Put<AccessRequest>>,
    pub grants: Vec<Put<Grant>>,
    pub outbox: Vec<OutboxMessage>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.grants.is_empty() && self.outbox.is_empty()
    }
}

#[derive(Debug, Clone)]
pub enum RequestQuery {
    /// Requests in this status, oldest first.
    Status { status: RequestStatus, limit: usize },
}

#[derive(Debug, Clone)]
pub enum GrantQuery {
    /// Grants in any of these states, ordered by `ends_at`.
    Status {
        statuses: Vec<GrantStatus>,
        limit: usize,
    },
    /// Grants that may hold access under this [`Grant::access_key`].
    AccessKey { key: String },
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

    /// Takes up to `limit` outbox messages of topics starting with `topic_prefix` that are due,
    /// leasing them to the caller until `lease_until` so other replicas skip them meanwhile.
    async fn claim_outbox(
        &self,
        topic_prefix: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError>;

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

    /// Takes the named lease for `owner` until `until` if it is free, expired or already held by
    /// `owner`. Returns whether the caller now holds it.
    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

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
