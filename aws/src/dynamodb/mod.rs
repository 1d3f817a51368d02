//! The DynamoDB state store (`state.backend: dynamodb`): one table shared by every replica,
//! every transition a conditional write, batches as transactions. The layout is in
//! [`layout`] and `docs/dynamodb.md`.

mod commit;
mod coordination;
mod layout;
mod outbox;
mod reads;
mod table;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use liftgate_gateway::config::StateSettings;
use liftgate_gateway::domain::{AccessKey, AccessRecord, AccessRequest, Grant, GrantId, RequestId};
use liftgate_gateway::ports::{
    AccessQuery, Clock, GrantQuery, LeaseSighting, LeaseState, OutboxMessage, RequestQuery,
    StateStore, StoreError, SystemClock, WriteBatch,
};
use time::OffsetDateTime;

pub use table::TableSetup;

use crate::client::AwsClients;
use crate::sdk_error::{CallFailure, classify};

/// Which table and how long finished items are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoStoreConfig {
    pub table: String,
    /// How long finished requests and grants stay before DynamoDB's TTL removes them.
    pub retention: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DynamoSetupError {
    #[error("state.table is required by the dynamodb state backend")]
    MissingTable,
}

impl DynamoStoreConfig {
    /// `state.table` and `state.retention`.
    pub fn from_settings(settings: &StateSettings) -> Result<DynamoStoreConfig, DynamoSetupError> {
        let table = settings
            .table
            .as_deref()
            .map(str::trim)
            .filter(|table| !table.is_empty())
            .ok_or(DynamoSetupError::MissingTable)?;
        Ok(DynamoStoreConfig {
            table: table.to_owned(),
            retention: settings.retention.to_std(),
        })
    }
}

/// The `StateStore` on DynamoDB. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    config: DynamoStoreConfig,
    /// Only for TTLs (when a finished item may go); every other time comes from the caller.
    clock: Arc<dyn Clock>,
}

/// A failed call as the core sees it: nothing it can do but try again later.
pub(crate) fn unavailable(failure: CallFailure) -> StoreError {
    StoreError::Unavailable(failure.detail)
}

impl DynamoStore {
    /// The production store on the shared clients.
    pub fn new(clients: &AwsClients, config: DynamoStoreConfig) -> DynamoStore {
        Self::from_client(clients.dynamodb.clone(), config)
    }

    /// Any client (moto, mocked SDK clients).
    pub fn from_client(client: aws_sdk_dynamodb::Client, config: DynamoStoreConfig) -> DynamoStore {
        DynamoStore {
            client,
            config,
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads "now" for TTLs from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> DynamoStore {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &DynamoStoreConfig {
        &self.config
    }

    pub fn table(&self) -> &str {
        &self.config.table
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.config.table)
            .set_key(Some(layout::ping_key()))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| unavailable(classify("GetItem", &error)))
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.commit_batch(batch).await
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        self.read_document(layout::request_key(id.as_str())).await
    }

    async fn query_requests(&self, query: RequestQuery) -> Result<Vec<AccessRequest>, StoreError> {
        self.requests_by(query).await
    }

    async fn get_grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        self.read_document(layout::grant_key(id.as_str())).await
    }

    async fn query_grants(&self, query: GrantQuery) -> Result<Vec<Grant>, StoreError> {
        self.grants_by(query).await
    }

    async fn get_access(&self, key: &AccessKey) -> Result<Option<AccessRecord>, StoreError> {
        self.read_document(layout::ledger_key(key)).await
    }

    async fn query_access(&self, query: AccessQuery) -> Result<Vec<AccessRecord>, StoreError> {
        self.access_by(query).await
    }

    async fn claim_outbox(
        &self,
        topic_prefix: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.claim_messages(topic_prefix, now, lease_until, limit)
            .await
    }

    async fn audit_chain_head(&self) -> Result<liftgate_gateway::audit::ChainHead, StoreError> {
        self.chain_head().await.map(|(head, _)| head)
    }

    async fn complete_outbox(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        self.complete_message(id).await
    }

    async fn retry_outbox(
        &self,
        id: uuid::Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.retry_message(id, retry_at, error).await
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        self.count_messages().await
    }

    async fn remember_once(
        &self,
        key: &str,
        value: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        self.remember(key, value, now, expires_at).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        stale: Option<&LeaseSighting>,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<LeaseState, StoreError> {
        self.take_lease(name, owner, stale, now, ttl).await
    }

    async fn renew_lease(
        &self,
        name: &str,
        owner: &str,
        token: u64,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<Option<u64>, StoreError> {
        self.renew(name, owner, token, now, ttl).await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.give_back_lease(name, owner).await
    }

    async fn put_document(
        &self,
        namespace: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write_document(namespace, key, value).await
    }

    async fn get_document(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.fetch_document(namespace, key).await
    }

    async fn delete_document(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        self.remove_document(namespace, key).await
    }
}
