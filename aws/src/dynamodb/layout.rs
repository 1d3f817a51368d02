//! The single-table layout (documented for operators in `docs/dynamodb.md`): item keys,
//! attribute names, and the encoding of every item kind. Pure functions, no IO.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use liftgate_gateway::audit::ChainHead;
use liftgate_gateway::domain::{
    AccessKey, AccessRecord, AccessRequest, Grant, GrantStatus, RequestStatus,
};
use liftgate_gateway::ports::{OutboxMessage, StoreError};
use time::OffsetDateTime;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Partition key (S) of every item.
pub(crate) const PK: &str = "pk";
/// Sort key (S) of every item.
pub(crate) const SK: &str = "sk";
/// The item kind, for people reading the table.
pub(crate) const KIND: &str = "kind";
/// The JSON document of a request, grant or outbox message.
pub(crate) const DOC: &str = "doc";
/// Compare-and-set version (N) of requests and grants.
pub(crate) const VERSION: &str = "version";
/// Epoch seconds (N) after which DynamoDB's TTL may delete the item.
pub(crate) const TTL: &str = "ttl";

/// `by_status` index: hash `status_key` (S, `request#<status>` / `grant#<status>`), range
/// `order_key` (N: a request's `created_at`, a grant's `ends_at`, in Unix milliseconds).
pub(crate) const STATUS_INDEX: &str = "by_status";
pub(crate) const STATUS_KEY: &str = "status_key";
pub(crate) const ORDER_KEY: &str = "order_key";

/// `outbox_due` index: hash `outbox_shard` (S, always [`OUTBOX_SHARD`]), range `due_at` (N,
/// Unix milliseconds), projecting `topic` and `created_at`.
pub(crate) const OUTBOX_INDEX: &str = "outbox_due";
pub(crate) const OUTBOX_SHARD_KEY: &str = "outbox_shard";
pub(crate) const OUTBOX_SHARD: &str = "outbox";
pub(crate) const DUE_AT: &str = "due_at";
pub(crate) const TOPIC: &str = "topic";
pub(crate) const CREATED_AT: &str = "created_at";
pub(crate) const ATTEMPTS: &str = "attempts";
pub(crate) const LAST_ERROR: &str = "last_error";

/// A grant's access key (S), kept on the grant item for people reading the table.
pub(crate) const ACCESS_KEY: &str = "access_key";
/// The grant id (S) on an access link item.
pub(crate) const GRANT_ID: &str = "grant_id";

pub(crate) const VALUE: &str = "value";
pub(crate) const EXPIRES_AT: &str = "expires_at";
pub(crate) const OWNER: &str = "owner";
pub(crate) const UNTIL: &str = "until";
/// A lease's token (N): changes on every acquisition and renewal.
pub(crate) const TOKEN: &str = "token";

/// `status_key` of ledger records with something left to settle, and of the others.
pub(crate) const ACCESS_UNSETTLED: &str = "access#unsettled";
pub(crate) const ACCESS_SETTLED: &str = "access#settled";
/// The sort key of an access's ledger record, beside its grant links.
pub(crate) const LEDGER_SK: &str = "ledger";
/// The sort-key prefix of grant links in an access partition.
pub(crate) const GRANT_LINK_PREFIX: &str = "grant#";

/// Unix milliseconds, which order correctly as numbers.
pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The primary key of an item.
pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub(crate) fn request_key(id: &str) -> Item {
    key(format!("request#{id}"), "request")
}

pub(crate) fn grant_key(id: &str) -> Item {
    key(format!("grant#{id}"), "grant")
}

/// The partition holding one access link per grant that may hold this access. Read with a
/// strongly consistent query, unlike an index, so the replica holding the access lock sees
/// every grant committed before it took the lock.
pub(crate) fn access_partition(access_key: &AccessKey) -> String {
    format!("access#{access_key}")
}

pub(crate) fn access_link_key(access_key: &AccessKey, grant_id: &str) -> Item {
    key(
        access_partition(access_key),
        &format!("{GRANT_LINK_PREFIX}{grant_id}"),
    )
}

/// The ledger record of an access, in the same partition as its grant links.
pub(crate) fn ledger_key(access_key: &AccessKey) -> Item {
    key(access_partition(access_key), LEDGER_SK)
}

pub(crate) fn outbox_key(id: uuid::Uuid) -> Item {
    key(format!("outbox#{id}"), "outbox")
}

pub(crate) fn idempotency_key(key_text: &str) -> Item {
    key(format!("idem#{key_text}"), "idem")
}

pub(crate) fn lease_key(name: &str) -> Item {
    key(format!("lease#{name}"), "lease")
}

/// Documents are grouped by namespace; the sort key is prefixed so an empty key still makes a
/// valid (non-empty) key attribute.
pub(crate) fn document_key(namespace: &str, key_text: &str) -> Item {
    key(format!("doc#{namespace}"), &format!("doc#{key_text}"))
}

pub(crate) fn ping_key() -> Item {
    key("ping".to_owned(), "ping")
}

pub(crate) fn request_status_key(status: RequestStatus) -> String {
    format!("request#{}", status.as_str())
}

pub(crate) fn grant_status_key(status: GrantStatus) -> String {
    format!("grant#{}", status.as_str())
}

fn corrupt(message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(message.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(corrupt)
}

/// The string attribute `name` of an item.
pub(crate) fn string_attribute<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Ok(text),
        _ => Err(corrupt(format!(
            "item attribute {name} is missing or not a string"
        ))),
    }
}

/// The number attribute `name` of an item.
pub(crate) fn number_attribute(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text
            .parse()
            .map_err(|_| corrupt(format!("item attribute {name} is not an integer: {text}"))),
        _ => Err(corrupt(format!(
            "item attribute {name} is missing or not a number"
        ))),
    }
}

/// The JSON document of an item.
pub(crate) fn document<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_str(string_attribute(item, DOC)?).map_err(corrupt)
}

/// The TTL of an item that may go `retention` after `now`.
fn expiry(now: OffsetDateTime, retention: std::time::Duration) -> AttributeValue {
    let seconds = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2);
    n(now.unix_timestamp().saturating_add(seconds))
}

/// A request item. `request.version` is the version being written. Finished requests carry a
/// TTL so DynamoDB removes them after the retention period.
pub(crate) fn request_item(
    request: &AccessRequest,
    now: OffsetDateTime,
    retention: std::time::Duration,
) -> Result<Item, StoreError> {
    let mut item = request_key(request.id.as_str());
    item.insert(KIND.to_owned(), s("request"));
    item.insert(VERSION.to_owned(), n(request.version));
    item.insert(DOC.to_owned(), s(to_json(request)?));
    item.insert(
        STATUS_KEY.to_owned(),
        s(request_status_key(request.status())),
    );
    item.insert(ORDER_KEY.to_owned(), n(millis(request.created_at)));
    if request.status().is_final() {
        item.insert(TTL.to_owned(), expiry(now, retention));
    }
    Ok(item)
}

/// A grant item (same rules as [`request_item`]).
pub(crate) fn grant_item(
    grant: &Grant,
    now: OffsetDateTime,
    retention: std::time::Duration,
) -> Result<Item, StoreError> {
    let mut item = grant_key(grant.id.as_str());
    item.insert(KIND.to_owned(), s("grant"));
    item.insert(VERSION.to_owned(), n(grant.version));
    item.insert(DOC.to_owned(), s(to_json(grant)?));
    item.insert(STATUS_KEY.to_owned(), s(grant_status_key(grant.status())));
    item.insert(ORDER_KEY.to_owned(), n(millis(grant.ends_at)));
    item.insert(ACCESS_KEY.to_owned(), s(grant.access_key().as_str()));
    if grant.status().is_final() {
        item.insert(TTL.to_owned(), expiry(now, retention));
    }
    Ok(item)
}

/// The access link of a grant that may hold access.
pub(crate) fn access_link_item(grant: &Grant) -> Item {
    let mut item = access_link_key(&grant.access_key(), grant.id.as_str());
    item.insert(KIND.to_owned(), s("access"));
    item.insert(GRANT_ID.to_owned(), s(grant.id.as_str()));
    item
}

/// A ledger record. `record.version` is the version being written. It is indexed by whether
/// anything is left to settle, so the sweeper finds unsettled records with one query. Records
/// are deleted when empty, never expired.
pub(crate) fn ledger_item(record: &AccessRecord) -> Result<Item, StoreError> {
    let mut item = ledger_key(&record.key);
    item.insert(KIND.to_owned(), s("ledger"));
    item.insert(VERSION.to_owned(), n(record.version));
    item.insert(DOC.to_owned(), s(to_json(record)?));
    item.insert(ACCESS_KEY.to_owned(), s(record.key.as_str()));
    let status = if record.unsettled() {
        ACCESS_UNSETTLED
    } else {
        ACCESS_SETTLED
    };
    item.insert(STATUS_KEY.to_owned(), s(status));
    item.insert(ORDER_KEY.to_owned(), n(record.due_at().map_or(0, millis)));
    Ok(item)
}

/// A new outbox message, due at its first due time (at once unless it says otherwise).
pub(crate) fn outbox_item(message: &OutboxMessage) -> Result<Item, StoreError> {
    let mut item = outbox_key(message.id);
    let created = millis(message.created_at);
    item.insert(KIND.to_owned(), s("outbox"));
    item.insert(DOC.to_owned(), s(to_json(message)?));
    item.insert(TOPIC.to_owned(), s(&message.topic));
    item.insert(OUTBOX_SHARD_KEY.to_owned(), s(OUTBOX_SHARD));
    item.insert(DUE_AT.to_owned(), n(millis(message.first_due())));
    item.insert(CREATED_AT.to_owned(), n(created));
    item.insert(ATTEMPTS.to_owned(), n(message.attempts));
    Ok(item)
}

/// An outbox message read back, with the attempt count the store keeps beside it.
pub(crate) fn outbox_message(item: &Item) -> Result<OutboxMessage, StoreError> {
    let mut message: OutboxMessage = document(item)?;
    message.attempts = u32::try_from(number_attribute(item, ATTEMPTS)?.max(0)).unwrap_or(u32::MAX);
    Ok(message)
}

pub(crate) fn idempotency_item(key_text: &str, value: &str, expires_at: OffsetDateTime) -> Item {
    let mut item = idempotency_key(key_text);
    item.insert(KIND.to_owned(), s("idempotency"));
    item.insert(VALUE.to_owned(), s(value));
    item.insert(EXPIRES_AT.to_owned(), n(millis(expires_at)));
    // DynamoDB deletes expired keys some time after they expire; until then the
    // `expires_at` check decides.
    item.insert(TTL.to_owned(), n(expires_at.unix_timestamp() + 1));
    item
}

pub(crate) fn lease_item(name: &str, owner: &str, until: OffsetDateTime, token: u64) -> Item {
    let mut item = lease_key(name);
    item.insert(KIND.to_owned(), s("lease"));
    item.insert(OWNER.to_owned(), s(owner));
    item.insert(TOKEN.to_owned(), n(token));
    // For people reading the table and for clean-up; no replica compares it with its clock.
    item.insert(UNTIL.to_owned(), n(millis(until)));
    // Leases left behind by a crashed replica disappear a day after they ran out.
    item.insert(TTL.to_owned(), n(until.unix_timestamp() + 86_400));
    item
}

/// The one item holding the audit chain's head (docs/dynamodb.md): its JSON document and a
/// version every commit that moves it bumps, under a condition on the version it read.
pub(crate) fn audit_chain_key() -> Item {
    key("audit#chain".to_owned(), "chain")
}

pub(crate) fn audit_chain_item(head: &ChainHead, version: u64) -> Result<Item, StoreError> {
    let mut item = audit_chain_key();
    item.insert(KIND.to_owned(), s("audit_chain"));
    item.insert(DOC.to_owned(), s(to_json(head)?));
    item.insert(VERSION.to_owned(), n(version));
    Ok(item)
}

pub(crate) fn document_item(
    namespace: &str,
    key_text: &str,
    value: &serde_json::Value,
) -> Result<Item, StoreError> {
    let mut item = document_key(namespace, key_text);
    item.insert(KIND.to_owned(), s("document"));
    item.insert(VALUE.to_owned(), s(to_json(value)?));
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use liftgate_gateway::testing::{sample_grant, sample_request};

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn finished_requests_and_grants_expire_after_the_retention() {
        let retention = std::time::Duration::from_secs(3600);
        let pending = sample_request(RequestStatus::Pending, at(0));
        let item = request_item(&pending, at(10), retention).unwrap();
        assert!(!item.contains_key(TTL));
        assert_eq!(item.get(STATUS_KEY), Some(&s("request#pending")));
        assert_eq!(item.get(ORDER_KEY), Some(&n(millis(at(0)))));
        let ended = sample_request(RequestStatus::Ended, at(0));
        let item = request_item(&ended, at(10), retention).unwrap();
        assert_eq!(item.get(TTL), Some(&n(1_800_000_010 + 3600)));

        let active = sample_grant(GrantStatus::Active, "u-1", at(100));
        let item = grant_item(&active, at(10), retention).unwrap();
        assert!(!item.contains_key(TTL));
        assert_eq!(item.get(ORDER_KEY), Some(&n(millis(at(100)))));
        let revoked = sample_grant(GrantStatus::Revoked, "u-1", at(100));
        assert!(
            grant_item(&revoked, at(10), retention)
                .unwrap()
                .contains_key(TTL)
        );
    }

    #[test]
    fn documents_round_trip_and_corruption_is_reported() {
        let request = sample_request(RequestStatus::Pending, at(0));
        let item = request_item(&request, at(0), std::time::Duration::ZERO).unwrap();
        let read: AccessRequest = document(&item).unwrap();
        assert_eq!(read, request);
        let mut broken = item.clone();
        broken.insert(DOC.to_owned(), s("{not json"));
        assert!(matches!(
            document::<AccessRequest>(&broken),
            Err(StoreError::Corrupt(_))
        ));
        broken.remove(DOC);
        assert!(matches!(
            document::<AccessRequest>(&broken),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn keys_are_never_empty_and_never_collide_across_kinds() {
        let empty_document = document_key("", "");
        assert_eq!(empty_document.get(PK), Some(&s("doc#")));
        assert_eq!(empty_document.get(SK), Some(&s("doc#")));
        assert_ne!(request_key("x").get(PK), grant_key("x").get(PK));
        assert_ne!(idempotency_key("x").get(PK), lease_key("x").get(PK));
    }
}
