//! A state store in memory, deterministic and without threads, for the randomized
//! interleaving tests. It passes the same contract suite as SQLite and DynamoDB.

use std::collections::BTreeMap;

use async_trait::async_trait;
use parking_lot::Mutex;
use time::OffsetDateTime;

use crate::audit::ChainHead;
use crate::domain::{AccessKey, AccessRecord, AccessRequest, Grant, GrantId, RequestId};
use crate::ports::{
    AccessPut, AccessQuery, Expect, GrantQuery, LeaseSighting, LeaseState, OutboxMessage,
    RequestQuery, StateStore, StoreError, WriteBatch,
};

#[derive(Debug, Clone)]
struct QueuedMessage {
    message: OutboxMessage,
    due_at: OffsetDateTime,
}

#[derive(Debug, Default, Clone)]
struct Tables {
    requests: BTreeMap<RequestId, AccessRequest>,
    grants: BTreeMap<GrantId, Grant>,
    access: BTreeMap<AccessKey, AccessRecord>,
    outbox: BTreeMap<uuid::Uuid, QueuedMessage>,
    /// Insertion order of outbox messages, so claims are deterministic.
    outbox_order: Vec<uuid::Uuid>,
    idempotency: BTreeMap<String, (String, OffsetDateTime)>,
    leases: BTreeMap<String, (String, u64)>,
    documents: BTreeMap<(String, String), serde_json::Value>,
    chain: ChainHead,
}

/// The store in memory. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

fn check(expect: Expect, current: Option<u64>) -> Result<u64, StoreError> {
    match (expect, current) {
        (Expect::Absent, None) => Ok(1),
        (Expect::Version(version), Some(stored)) if version == stored => Ok(version + 1),
        _ => Err(StoreError::Conflict),
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Every ledger record, for invariant checks.
    pub fn access_records(&self) -> Vec<AccessRecord> {
        self.tables.lock().access.values().cloned().collect()
    }

    /// Every request, for invariant checks.
    pub fn all_requests(&self) -> Vec<AccessRequest> {
        self.tables.lock().requests.values().cloned().collect()
    }

    /// Every grant, for invariant checks.
    pub fn all_grants(&self) -> Vec<Grant> {
        self.tables.lock().grants.values().cloned().collect()
    }

    /// Outbox messages still queued.
    pub fn outbox_messages(&self) -> Vec<OutboxMessage> {
        let tables = self.tables.lock();
        tables
            .outbox_order
            .iter()
            .filter_map(|id| tables.outbox.get(id).map(|queued| queued.message.clone()))
            .collect()
    }

    /// Current lease holders.
    pub fn lease_owner(&self, name: &str) -> Option<String> {
        self.tables
            .lock()
            .leases
            .get(name)
            .map(|(owner, _)| owner.clone())
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn commit(&self, mut batch: WriteBatch) -> Result<(), StoreError> {
        let mut tables = self.tables.lock();
        if let Some(fence) = &batch.fence
            && tables.leases.get(&fence.lease).map(|(owner, _)| owner) != Some(&fence.owner)
        {
            return Err(StoreError::LeaseLost);
        }
        // Check everything first, then write: all or nothing.
        let mut staged = tables.clone();
        if batch.touches_chain() {
            batch.seal_audit(&mut staged.chain)?;
        }
        for put in batch.requests {
            let current = staged.requests.get(&put.item.id).map(|r| r.version);
            let mut item = put.item;
            item.version = check(put.expect, current)?;
            staged.requests.insert(item.id.clone(), item);
        }
        for put in batch.grants {
            let current = staged.grants.get(&put.item.id).map(|g| g.version);
            let mut item = put.item;
            item.version = check(put.expect, current)?;
            staged.grants.insert(item.id.clone(), item);
        }
        for write in batch.access {
            match write {
                AccessPut::Put(put) => {
                    let current = staged.access.get(&put.item.key).map(|r| r.version);
                    let mut item = put.item;
                    item.version = check(put.expect, current)?;
                    staged.access.insert(item.key.clone(), item);
                }
                AccessPut::Delete { key, version } => {
                    let current = staged.access.get(&key).map(|r| r.version);
                    match (version, current) {
                        (0, None) => {}
                        (version, Some(stored)) if version == stored => {
                            staged.access.remove(&key);
                        }
                        _ => return Err(StoreError::Conflict),
                    }
                }
            }
        }
        for message in batch.outbox {
            if staged.outbox.contains_key(&message.id) {
                return Err(StoreError::Conflict);
            }
            staged.outbox_order.push(message.id);
            staged.outbox.insert(
                message.id,
                QueuedMessage {
                    due_at: message.first_due(),
                    message,
                },
            );
        }
        *tables = staged;
        Ok(())
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        Ok(self.tables.lock().requests.get(id).cloned())
    }

    async fn query_requests(&self, query: RequestQuery) -> Result<Vec<AccessRequest>, StoreError> {
        let RequestQuery::Status { status, limit } = query;
        let mut found: Vec<AccessRequest> = self
            .tables
            .lock()
            .requests
            .values()
            .filter(|request| request.status() == status)
            .cloned()
            .collect();
        found.sort_by_key(|request| request.created_at);
        found.truncate(limit);
        Ok(found)
    }

    async fn get_grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        Ok(self.tables.lock().grants.get(id).cloned())
    }

    async fn query_grants(&self, query: GrantQuery) -> Result<Vec<Grant>, StoreError> {
        let tables = self.tables.lock();
        let (mut found, limit): (Vec<Grant>, usize) = match query {
            GrantQuery::Status { statuses, limit } => (
                tables
                    .grants
                    .values()
                    .filter(|grant| statuses.contains(&grant.status()))
                    .cloned()
                    .collect(),
                limit,
            ),
            GrantQuery::AccessKey { key } => (
                tables
                    .grants
                    .values()
                    .filter(|grant| grant.access_key() == key && grant.status().may_hold_access())
                    .cloned()
                    .collect(),
                usize::MAX,
            ),
            GrantQuery::EndingBy {
                statuses,
                before,
                limit,
            } => (
                tables
                    .grants
                    .values()
                    .filter(|grant| statuses.contains(&grant.status()) && grant.ends_at <= before)
                    .cloned()
                    .collect(),
                limit,
            ),
        };
        found.sort_by(|a, b| a.ends_at.cmp(&b.ends_at).then(a.id.cmp(&b.id)));
        found.truncate(limit);
        Ok(found)
    }

    async fn get_access(&self, key: &AccessKey) -> Result<Option<AccessRecord>, StoreError> {
        Ok(self.tables.lock().access.get(key).cloned())
    }

    async fn query_access(&self, query: AccessQuery) -> Result<Vec<AccessRecord>, StoreError> {
        let tables = self.tables.lock();
        Ok(match query {
            AccessQuery::Unsettled { due_by, limit } => {
                let mut due: Vec<AccessRecord> = tables
                    .access
                    .values()
                    .filter(|record| {
                        record.unsettled() && record.due_at().is_none_or(|at| at <= due_by)
                    })
                    .cloned()
                    .collect();
                due.sort_by_key(|record| record.due_at());
                due.truncate(limit);
                due
            }
            AccessQuery::All { after, limit } => tables
                .access
                .values()
                .filter(|record| after.as_ref().is_none_or(|after| &record.key > after))
                .take(limit)
                .cloned()
                .collect(),
        })
    }

    async fn claim_outbox(
        &self,
        topic_prefix: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut tables = self.tables.lock();
        let mut due: Vec<(OffsetDateTime, usize, uuid::Uuid)> = tables
            .outbox_order
            .iter()
            .enumerate()
            .filter_map(|(position, id)| {
                let queued = tables.outbox.get(id)?;
                (queued.message.topic.starts_with(topic_prefix) && queued.due_at <= now)
                    .then_some((queued.due_at, position, *id))
            })
            .collect();
        due.sort();
        due.truncate(limit);
        let mut claimed = Vec::new();
        for (_, _, id) in due {
            if let Some(queued) = tables.outbox.get_mut(&id) {
                queued.due_at = lease_until;
                claimed.push(queued.message.clone());
            }
        }
        Ok(claimed)
    }

    async fn audit_chain_head(&self) -> Result<ChainHead, StoreError> {
        Ok(self.tables.lock().chain.clone())
    }

    async fn complete_outbox(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        let mut tables = self.tables.lock();
        tables.outbox.remove(&id);
        tables.outbox_order.retain(|queued| *queued != id);
        Ok(())
    }

    async fn retry_outbox(
        &self,
        id: uuid::Uuid,
        retry_at: OffsetDateTime,
        _error: &str,
    ) -> Result<(), StoreError> {
        if let Some(queued) = self.tables.lock().outbox.get_mut(&id) {
            queued.due_at = retry_at;
            queued.message.attempts += 1;
        }
        Ok(())
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        Ok(self.tables.lock().outbox.len() as u64)
    }

    async fn remember_once(
        &self,
        key: &str,
        value: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let mut tables = self.tables.lock();
        if let Some((existing, expires)) = tables.idempotency.get(key)
            && *expires > now
        {
            return Ok(Some(existing.clone()));
        }
        tables
            .idempotency
            .insert(key.to_owned(), (value.to_owned(), expires_at));
        Ok(None)
    }

    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        stale: Option<&LeaseSighting>,
        _now: OffsetDateTime,
        _ttl: time::Duration,
    ) -> Result<LeaseState, StoreError> {
        let mut tables = self.tables.lock();
        match tables.leases.get(name).cloned() {
            None => {
                tables.leases.insert(name.to_owned(), (owner.to_owned(), 1));
                Ok(LeaseState::Acquired { token: 1 })
            }
            Some((holder, token))
                if stale.is_some_and(|seen| seen.owner == holder && seen.token == token) =>
            {
                tables
                    .leases
                    .insert(name.to_owned(), (owner.to_owned(), token + 1));
                Ok(LeaseState::Acquired { token: token + 1 })
            }
            Some((holder, token)) => Ok(LeaseState::Held {
                owner: holder,
                token,
            }),
        }
    }

    async fn renew_lease(
        &self,
        name: &str,
        owner: &str,
        token: u64,
        _now: OffsetDateTime,
        _ttl: time::Duration,
    ) -> Result<Option<u64>, StoreError> {
        let mut tables = self.tables.lock();
        match tables.leases.get_mut(name) {
            Some((holder, current)) if holder == owner && *current == token => {
                *current += 1;
                Ok(Some(token + 1))
            }
            _ => Ok(None),
        }
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let mut tables = self.tables.lock();
        if tables
            .leases
            .get(name)
            .is_some_and(|(holder, _)| holder == owner)
        {
            tables.leases.remove(name);
        }
        Ok(())
    }

    async fn put_document(
        &self,
        namespace: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.tables
            .lock()
            .documents
            .insert((namespace.to_owned(), key.to_owned()), value.clone());
        Ok(())
    }

    async fn get_document(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .tables
            .lock()
            .documents
            .get(&(namespace.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn delete_document(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        self.tables
            .lock()
            .documents
            .remove(&(namespace.to_owned(), key.to_owned()));
        Ok(())
    }
}
