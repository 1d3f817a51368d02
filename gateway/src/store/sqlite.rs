use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use time::OffsetDateTime;

use super::to_millis;
use crate::audit::ChainHead;
use crate::domain::{
    AccessKey, AccessRecord, AccessRequest, Grant, GrantId, GrantStatus, RequestId,
};
use crate::ports::{
    AccessPut, AccessQuery, Expect, GrantQuery, LeaseSighting, LeaseState, OutboxMessage,
    RequestQuery, StateStore, StoreError, WriteBatch,
};

/// Migrations, applied in order; `PRAGMA user_version` remembers how many ran. Append only.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX requests_by_status ON requests (status, created_at);
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    access_key TEXT NOT NULL,
    ends_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX grants_by_status_end ON grants (status, ends_at);
CREATE INDEX grants_by_access_key ON grants (access_key);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX outbox_by_due ON outbox (due_at, created_at);
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until INTEGER NOT NULL
);
CREATE TABLE documents (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
);
"#,
    r#"
CREATE TABLE access (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    unsettled INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX access_unsettled ON access (unsettled, due_at);
ALTER TABLE leases ADD COLUMN token INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
CREATE TABLE audit_chain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    doc TEXT NOT NULL
);
"#,
];

/// SQLite in WAL mode, one file. A single connection serialises this process's access; other
/// processes sharing the file (replicas on one host, a restarted process) are serialised by
/// SQLite's own locking, and every write transaction takes the write lock up front
/// (`BEGIN IMMEDIATE`) so compare-and-set checks and writes cannot interleave.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and applies pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                unavailable(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let mut connection = Connection::open(&path)
            .map_err(|error| unavailable(format!("cannot open {}: {error}", path.display())))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(unavailable)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        // In WAL mode NORMAL survives any process crash (SIGKILL); only an OS crash can lose
        // the last transactions.
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(unavailable)?;
        migrate(&mut connection)?;
        Ok(SqliteStore {
            connection: Arc::new(Mutex::new(connection)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with_connection<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut guard = connection
                .lock()
                .map_err(|_| unavailable("a previous store operation panicked"))?;
            work(&mut guard)
        })
        .await
        .map_err(unavailable)?
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let applied: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(unavailable)?;
    let applied = usize::try_from(applied).map_err(corrupt)?;
    if applied > MIGRATIONS.len() {
        return Err(corrupt(format!(
            "the database was written by a newer Liftgate (schema {applied}, this one knows {})",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        transaction.execute_batch(migration).map_err(unavailable)?;
        transaction
            .pragma_update(None, "user_version", (index + 1) as i64)
            .map_err(unavailable)?;
    }
    transaction.commit().map_err(unavailable)
}

fn read_chain_head(connection: &Connection) -> Result<ChainHead, StoreError> {
    let doc: Option<String> = connection
        .query_row("SELECT doc FROM audit_chain WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()
        .map_err(unavailable)?;
    doc.as_deref()
        .map(from_json)
        .transpose()
        .map(Option::unwrap_or_default)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(corrupt)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}

fn new_version(expect: Expect) -> u64 {
    match expect {
        Expect::Absent => 1,
        Expect::Version(version) => version + 1,
    }
}

fn status_name(status: GrantStatus) -> &'static str {
    status.as_str()
}

fn placeholders(count: usize, first: usize) -> String {
    (0..count)
        .map(|i| format!("?{}", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.with_connection(|connection| {
            connection
                .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut batch = batch;
        self.with_connection(move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            if let Some(fence) = &batch.fence {
                let holder: Option<String> = transaction
                    .query_row(
                        "SELECT owner FROM leases WHERE name = ?1",
                        params![fence.lease],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                if holder.as_deref() != Some(fence.owner.as_str()) {
                    return Err(StoreError::LeaseLost);
                }
            }
            // The write lock is held (BEGIN IMMEDIATE), so reading the head and writing it
            // back cannot interleave with another writer: one chain, no gaps.
            if batch.touches_chain() {
                let mut head = read_chain_head(&transaction)?;
                batch.seal_audit(&mut head)?;
                transaction
                    .execute(
                        "INSERT INTO audit_chain (id, doc) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                        params![to_json(&head)?],
                    )
                    .map_err(unavailable)?;
            }
            for write in batch.access {
                let changed = match write {
                    AccessPut::Put(put) => {
                        let mut record: AccessRecord = put.item;
                        record.version = new_version(put.expect);
                        let doc = to_json(&record)?;
                        let unsettled = i64::from(record.unsettled());
                        let due_at = record.due_at().map_or(0, to_millis);
                        match put.expect {
                            Expect::Absent => transaction
                                .execute(
                                    "INSERT INTO access (key, version, unsettled, due_at, doc) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING",
                                    params![record.key.as_str(), record.version as i64, unsettled, due_at, doc],
                                )
                                .map_err(unavailable)?,
                            Expect::Version(version) => transaction
                                .execute(
                                    "UPDATE access SET version = ?2, unsettled = ?3, due_at = ?4, doc = ?5 WHERE key = ?1 AND version = ?6",
                                    params![record.key.as_str(), record.version as i64, unsettled, due_at, doc, version as i64],
                                )
                                .map_err(unavailable)?,
                        }
                    }
                    // Version 0 is a record that was never stored (adopted in memory): there is
                    // nothing to delete, but nothing may have been stored meanwhile either.
                    AccessPut::Delete { key, version: 0 } => {
                        let exists: Option<i64> = transaction
                            .query_row("SELECT version FROM access WHERE key = ?1", params![key.as_str()], |row| row.get(0))
                            .optional()
                            .map_err(unavailable)?;
                        usize::from(exists.is_none())
                    }
                    AccessPut::Delete { key, version } => transaction
                        .execute(
                            "DELETE FROM access WHERE key = ?1 AND version = ?2",
                            params![key.as_str(), version as i64],
                        )
                        .map_err(unavailable)?,
                };
                if changed != 1 {
                    return Err(StoreError::Conflict);
                }
            }
            for put in batch.requests {
                let mut request: AccessRequest = put.item;
                request.version = new_version(put.expect);
                let doc = to_json(&request)?;
                let changed = match put.expect {
                    Expect::Absent => transaction
                        .execute(
                            "INSERT INTO requests (id, status, created_at, version, doc) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                            params![request.id.as_str(), request.status().as_str(), to_millis(request.created_at), request.version as i64, doc],
                        )
                        .map_err(unavailable)?,
                    Expect::Version(version) => transaction
                        .execute(
                            "UPDATE requests SET status = ?2, version = ?3, doc = ?4 WHERE id = ?1 AND version = ?5",
                            params![request.id.as_str(), request.status().as_str(), request.version as i64, doc, version as i64],
                        )
                        .map_err(unavailable)?,
                };
                if changed != 1 {
                    return Err(StoreError::Conflict);
                }
            }
            for put in batch.grants {
                let mut grant: Grant = put.item;
                grant.version = new_version(put.expect);
                let doc = to_json(&grant)?;
                let changed = match put.expect {
                    Expect::Absent => transaction
                        .execute(
                            "INSERT INTO grants (id, status, access_key, ends_at, version, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                            params![grant.id.as_str(), status_name(grant.status()), grant.access_key().as_str(), to_millis(grant.ends_at), grant.version as i64, doc],
                        )
                        .map_err(unavailable)?,
                    Expect::Version(version) => transaction
                        .execute(
                            "UPDATE grants SET status = ?2, access_key = ?3, ends_at = ?4, version = ?5, doc = ?6 WHERE id = ?1 AND version = ?7",
                            params![grant.id.as_str(), status_name(grant.status()), grant.access_key().as_str(), to_millis(grant.ends_at), grant.version as i64, doc, version as i64],
                        )
                        .map_err(unavailable)?,
                };
                if changed != 1 {
                    return Err(StoreError::Conflict);
                }
            }
            for message in batch.outbox {
                let doc = to_json(&message)?;
                transaction
                    .execute(
                        "INSERT INTO outbox (id, topic, due_at, created_at, attempts, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![message.id.to_string(), message.topic, to_millis(message.first_due()), to_millis(message.created_at), message.attempts as i64, doc],
                    )
                    .map_err(|error| match error {
                        rusqlite::Error::SqliteFailure(failure, _)
                            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
                        {
                            StoreError::Conflict
                        }
                        other => unavailable(other),
                    })?;
            }
            transaction.commit().map_err(unavailable)
        })
        .await
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        let id = id.as_str().to_owned();
        self.with_connection(move |connection| {
            let doc: Option<String> = connection
                .query_row(
                    "SELECT doc FROM requests WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            doc.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn query_requests(&self, query: RequestQuery) -> Result<Vec<AccessRequest>, StoreError> {
        self.with_connection(move |connection| {
            let RequestQuery::Status { status, limit } = query;
            let mut statement = connection
                .prepare_cached(
                    "SELECT doc FROM requests WHERE status = ?1 ORDER BY created_at LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![status.as_str(), limit as i64], |row| {
                    row.get::<_, String>(0)
                })
                .map_err(unavailable)?;
            rows.map(|row| row.map_err(unavailable).and_then(|doc| from_json(&doc)))
                .collect()
        })
        .await
    }

    async fn get_grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        let id = id.as_str().to_owned();
        self.with_connection(move |connection| {
            let doc: Option<String> = connection
                .query_row("SELECT doc FROM grants WHERE id = ?1", params![id], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(unavailable)?;
            doc.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn query_grants(&self, query: GrantQuery) -> Result<Vec<Grant>, StoreError> {
        self.with_connection(move |connection| {
            let (sql, values): (String, Vec<rusqlite::types::Value>) = match query {
                GrantQuery::Status { statuses, limit } => {
                    let mut values: Vec<rusqlite::types::Value> =
                        statuses.iter().map(|s| status_name(*s).to_owned().into()).collect();
                    values.push((limit as i64).into());
                    (
                        format!(
                            "SELECT doc FROM grants WHERE status IN ({}) ORDER BY ends_at LIMIT ?{}",
                            placeholders(statuses.len(), 1),
                            statuses.len() + 1
                        ),
                        values,
                    )
                }
                GrantQuery::AccessKey { key } => (
                    "SELECT doc FROM grants WHERE access_key = ?1 AND status IN ('provisioning', 'active', 'revoking') ORDER BY ends_at".to_owned(),
                    vec![key.as_str().to_owned().into()],
                ),
                GrantQuery::EndingBy { statuses, before, limit } => {
                    let mut values: Vec<rusqlite::types::Value> =
                        statuses.iter().map(|s| status_name(*s).to_owned().into()).collect();
                    values.push(to_millis(before).into());
                    values.push((limit as i64).into());
                    (
                        format!(
                            "SELECT doc FROM grants WHERE status IN ({}) AND ends_at <= ?{} ORDER BY ends_at LIMIT ?{}",
                            placeholders(statuses.len(), 1),
                            statuses.len() + 1,
                            statuses.len() + 2
                        ),
                        values,
                    )
                }
            };
            let mut statement = connection.prepare(&sql).map_err(unavailable)?;
            let rows = statement
                .query_map(params_from_iter(values), |row| row.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|row| row.map_err(unavailable).and_then(|doc| from_json(&doc)))
                .collect()
        })
        .await
    }

    async fn get_access(&self, key: &AccessKey) -> Result<Option<AccessRecord>, StoreError> {
        let key = key.as_str().to_owned();
        self.with_connection(move |connection| {
            let doc: Option<String> = connection
                .query_row(
                    "SELECT doc FROM access WHERE key = ?1",
                    params![key],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            doc.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn query_access(&self, query: AccessQuery) -> Result<Vec<AccessRecord>, StoreError> {
        self.with_connection(move |connection| {
            let (sql, values): (&str, Vec<rusqlite::types::Value>) = match query {
                AccessQuery::Unsettled { due_by, limit } => (
                    "SELECT doc FROM access WHERE unsettled = 1 AND due_at <= ?1 ORDER BY due_at, key LIMIT ?2",
                    vec![to_millis(due_by).into(), (limit as i64).into()],
                ),
                AccessQuery::All { after, limit } => (
                    "SELECT doc FROM access WHERE key > ?1 ORDER BY key LIMIT ?2",
                    vec![
                        after
                            .map_or_else(String::new, |key| key.as_str().to_owned())
                            .into(),
                        (limit as i64).into(),
                    ],
                ),
            };
            let mut statement = connection.prepare_cached(sql).map_err(unavailable)?;
            let rows = statement
                .query_map(params_from_iter(values), |row| row.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|row| row.map_err(unavailable).and_then(|doc| from_json(&doc)))
                .collect()
        })
        .await
    }

    async fn claim_outbox(
        &self,
        topic_prefix: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let prefix = topic_prefix.to_owned();
        self.with_connection(move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let claimed = {
                let mut statement = transaction
                    .prepare_cached(
                        "SELECT id, doc, attempts FROM outbox WHERE substr(topic, 1, length(?1)) = ?1 AND due_at <= ?2 ORDER BY due_at, created_at LIMIT ?3",
                    )
                    .map_err(unavailable)?;
                let rows = statement
                    .query_map(params![prefix, to_millis(now), limit as i64], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?))
                    })
                    .map_err(unavailable)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)?
            };
            let mut messages = Vec::with_capacity(claimed.len());
            for (id, doc, attempts) in claimed {
                transaction
                    .execute("UPDATE outbox SET due_at = ?2 WHERE id = ?1", params![id, to_millis(lease_until)])
                    .map_err(unavailable)?;
                let mut message: OutboxMessage = from_json(&doc)?;
                message.attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
                messages.push(message);
            }
            transaction.commit().map_err(unavailable)?;
            Ok(messages)
        })
        .await
    }

    async fn audit_chain_head(&self) -> Result<ChainHead, StoreError> {
        self.with_connection(|connection| read_chain_head(connection))
            .await
    }

    async fn complete_outbox(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        self.with_connection(move |connection| {
            connection
                .execute("DELETE FROM outbox WHERE id = ?1", params![id.to_string()])
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn retry_outbox(
        &self,
        id: uuid::Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.with_connection(move |connection| {
            connection
                .execute(
                    "UPDATE outbox SET due_at = ?2, attempts = attempts + 1, last_error = ?3 WHERE id = ?1",
                    params![id.to_string(), to_millis(retry_at), error],
                )
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        self.with_connection(|connection| {
            connection
                .query_row("SELECT COUNT(*) FROM outbox", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map(|count| count.max(0) as u64)
                .map_err(unavailable)
        })
        .await
    }

    async fn remember_once(
        &self,
        key: &str,
        value: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.with_connection(move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let existing: Option<(String, i64)> = transaction
                .query_row(
                    "SELECT value, expires_at FROM idempotency WHERE key = ?1",
                    params![key],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            if let Some((existing, expires)) = existing
                && expires > to_millis(now) {
                    return Ok(Some(existing));
                }
            transaction
                .execute(
                    "INSERT INTO idempotency (key, value, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                    params![key, value, to_millis(expires_at)],
                )
                .map_err(unavailable)?;
            // Expired keys are dead weight; sweeping a few on each write keeps the table small.
            transaction
                .execute(
                    "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE expires_at <= ?1 LIMIT 100)",
                    params![to_millis(now)],
                )
                .map_err(unavailable)?;
            transaction.commit().map_err(unavailable)?;
            Ok(None)
        })
        .await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        stale: Option<&LeaseSighting>,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<LeaseState, StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        let stale = stale.cloned();
        let until = to_millis(now + ttl);
        self.with_connection(move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let current: Option<(String, i64)> = transaction
                .query_row(
                    "SELECT owner, token FROM leases WHERE name = ?1",
                    params![name],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            let state = match current {
                None => {
                    transaction
                        .execute(
                            "INSERT INTO leases (name, owner, until, token) VALUES (?1, ?2, ?3, 1)",
                            params![name, owner, until],
                        )
                        .map_err(unavailable)?;
                    LeaseState::Acquired { token: 1 }
                }
                Some((holder, token))
                    if stale
                        .as_ref()
                        .is_some_and(|seen| seen.owner == holder && seen.token == token as u64) =>
                {
                    transaction
                        .execute(
                            "UPDATE leases SET owner = ?2, until = ?3, token = ?4 WHERE name = ?1",
                            params![name, owner, until, token + 1],
                        )
                        .map_err(unavailable)?;
                    LeaseState::Acquired {
                        token: token as u64 + 1,
                    }
                }
                Some((holder, token)) => LeaseState::Held {
                    owner: holder,
                    token: token as u64,
                },
            };
            transaction.commit().map_err(unavailable)?;
            Ok(state)
        })
        .await
    }

    async fn renew_lease(
        &self,
        name: &str,
        owner: &str,
        token: u64,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<Option<u64>, StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        let until = to_millis(now + ttl);
        self.with_connection(move |connection| {
            let changed = connection
                .execute(
                    "UPDATE leases SET token = token + 1, until = ?4 WHERE name = ?1 AND owner = ?2 AND token = ?3",
                    params![name, owner, token as i64, until],
                )
                .map_err(unavailable)?;
            Ok((changed == 1).then_some(token + 1))
        })
        .await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.with_connection(move |connection| {
            connection
                .execute(
                    "DELETE FROM leases WHERE name = ?1 AND owner = ?2",
                    params![name, owner],
                )
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn put_document(
        &self,
        namespace: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let (namespace, key, value) = (namespace.to_owned(), key.to_owned(), to_json(value)?);
        self.with_connection(move |connection| {
            connection
                .execute(
                    "INSERT INTO documents (namespace, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                    params![namespace, key, value],
                )
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn get_document(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.with_connection(move |connection| {
            let value: Option<String> = connection
                .query_row(
                    "SELECT value FROM documents WHERE namespace = ?1 AND key = ?2",
                    params![namespace, key],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            value.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn delete_document(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.with_connection(move |connection| {
            connection
                .execute(
                    "DELETE FROM documents WHERE namespace = ?1 AND key = ?2",
                    params![namespace, key],
                )
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }
}
