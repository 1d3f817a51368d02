//! Reading requests and grants: by id (strongly consistent), by status through the
//! `by_status` index, and by access key through the strongly consistent access links.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::KeysAndAttributes;
use liftgate_gateway::domain::{AccessKey, AccessRecord, AccessRequest, Grant, GrantStatus};
use liftgate_gateway::ports::{AccessQuery, GrantQuery, RequestQuery, StoreError};
use time::OffsetDateTime;

use super::layout::{self, Item};
use super::{DynamoStore, unavailable};
use crate::sdk_error::classify;

/// `BatchGetItem` takes at most this many keys per call.
const BATCH_GET_LIMIT: usize = 100;

/// How often unprocessed keys of a `BatchGetItem` are asked for again before giving up.
const BATCH_GET_ROUNDS: usize = 8;

impl DynamoStore {
    /// The document of one item, read strongly consistent.
    pub(super) async fn read_document<T: serde::de::DeserializeOwned>(
        &self,
        key: Item,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.config.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| unavailable(classify("GetItem", &error)))?;
        output.item().map(layout::document).transpose()
    }

    /// Up to `limit` items of one `by_status` partition, lowest `order_key` first, optionally
    /// only those with `order_key <= up_to`.
    async fn status_partition(
        &self,
        status_key: String,
        up_to: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        let page_size = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.config.table)
                .index_name(layout::STATUS_INDEX)
                .expression_attribute_names("#status", layout::STATUS_KEY)
                .expression_attribute_values(":status", layout::s(&status_key))
                .scan_index_forward(true)
                .limit(page_size)
                .set_exclusive_start_key(start.take());
            request = match up_to {
                Some(bound) => request
                    .key_condition_expression("#status = :status AND #order <= :bound")
                    .expression_attribute_names("#order", layout::ORDER_KEY)
                    .expression_attribute_values(":bound", layout::n(bound)),
                None => request.key_condition_expression("#status = :status"),
            };
            let output = request
                .send()
                .await
                .map_err(|error| unavailable(classify("Query", &error)))?;
            items.extend(output.items().iter().cloned());
            match output.last_evaluated_key() {
                Some(next) if items.len() < limit && !next.is_empty() => {
                    start = Some(next.clone());
                }
                _ => break,
            }
        }
        items.truncate(limit);
        Ok(items)
    }

    pub(super) async fn requests_by(
        &self,
        query: RequestQuery,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let RequestQuery::Status { status, limit } = query;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .status_partition(layout::request_status_key(status), None, limit)
            .await?;
        let mut requests = Vec::with_capacity(items.len());
        for item in &items {
            let request: AccessRequest = layout::document(item)?;
            // The index is eventually consistent; its copy is consistent with itself, so
            // this only guards against a malformed item.
            if request.status() == status {
                requests.push(request);
            }
        }
        Ok(requests)
    }

    /// Grants in any of `statuses` (optionally ending by `before`), by end, at most `limit`.
    async fn grants_in(
        &self,
        statuses: &[GrantStatus],
        before: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<Grant>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut grants: BTreeMap<String, Grant> = BTreeMap::new();
        for status in statuses {
            let items = self
                .status_partition(
                    layout::grant_status_key(*status),
                    before.map(layout::millis),
                    limit,
                )
                .await?;
            for item in &items {
                let grant: Grant = layout::document(item)?;
                if grant.status() == *status {
                    grants.insert(grant.id.to_string(), grant);
                }
            }
        }
        let mut grants: Vec<Grant> = grants.into_values().collect();
        grants.sort_by_key(|grant| grant.ends_at);
        grants.truncate(limit);
        Ok(grants)
    }

    /// Grants that may hold `access_key`, by end. The access links are read strongly
    /// consistent and the grants themselves too, so a replica that holds the access lock sees
    /// every change committed before it took the lock.
    async fn grants_with_access(&self, access_key: &AccessKey) -> Result<Vec<Grant>, StoreError> {
        let mut ids = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.config.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :links)")
                .expression_attribute_names("#pk", layout::PK)
                .expression_attribute_names("#sk", layout::SK)
                .expression_attribute_values(":pk", layout::s(layout::access_partition(access_key)))
                .expression_attribute_values(":links", layout::s(layout::GRANT_LINK_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| unavailable(classify("Query", &error)))?;
            for item in output.items() {
                ids.push(layout::string_attribute(item, layout::GRANT_ID)?.to_owned());
            }
            match output.last_evaluated_key() {
                Some(next) if !next.is_empty() => start = Some(next.clone()),
                _ => break,
            }
        }
        let mut grants = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_GET_LIMIT) {
            for item in self.batch_get(chunk).await? {
                let grant: Grant = layout::document(&item)?;
                if grant.status().may_hold_access() && &grant.access_key() == access_key {
                    grants.push(grant);
                }
            }
        }
        grants.sort_by_key(|grant| grant.ends_at);
        Ok(grants)
    }

    /// Grant items by id, strongly consistent, asking again for keys DynamoDB left
    /// unprocessed (throttling).
    async fn batch_get(&self, grant_ids: &[String]) -> Result<Vec<Item>, StoreError> {
        let keys: Vec<Item> = grant_ids.iter().map(|id| layout::grant_key(id)).collect();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|error| StoreError::Unavailable(error.to_string()))?,
        );
        let mut items = Vec::new();
        for _ in 0..BATCH_GET_ROUNDS {
            let Some(request) = pending.take() else {
                return Ok(items);
            };
            let output = self
                .client
                .batch_get_item()
                .set_request_items(Some(HashMap::from([(self.config.table.clone(), request)])))
                .send()
                .await
                .map_err(|error| unavailable(classify("BatchGetItem", &error)))?;
            if let Some(found) = output
                .responses()
                .and_then(|responses| responses.get(&self.config.table))
            {
                items.extend(found.iter().cloned());
            }
            pending = output
                .unprocessed_keys()
                .and_then(|unprocessed| unprocessed.get(&self.config.table))
                .filter(|rest| !rest.keys().is_empty())
                .cloned();
        }
        if pending.is_some() {
            return Err(StoreError::Unavailable(
                "BatchGetItem kept leaving keys unprocessed".to_owned(),
            ));
        }
        Ok(items)
    }

    /// Ledger records through the `by_status` index: the unsettled ones, or all of them in key
    /// order (both partitions, merged).
    pub(super) async fn access_by(
        &self,
        query: AccessQuery,
    ) -> Result<Vec<AccessRecord>, StoreError> {
        let (partitions, due_by, after, limit): (&[&str], Option<i64>, Option<AccessKey>, usize) =
            match query {
                AccessQuery::Unsettled { due_by, limit } => (
                    &[layout::ACCESS_UNSETTLED],
                    Some(layout::millis(due_by)),
                    None,
                    limit,
                ),
                AccessQuery::All { after, limit } => (
                    &[layout::ACCESS_UNSETTLED, layout::ACCESS_SETTLED],
                    None,
                    after,
                    limit,
                ),
            };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut records: BTreeMap<AccessKey, AccessRecord> = BTreeMap::new();
        for partition in partitions {
            // The index is eventually consistent: read each record itself again, strongly.
            let wanted = if after.is_some() { usize::MAX } else { limit };
            for item in self
                .status_partition((*partition).to_owned(), due_by, wanted)
                .await?
            {
                let indexed: AccessRecord = layout::document(&item)?;
                if after.as_ref().is_some_and(|after| &indexed.key <= after) {
                    continue;
                }
                if let Some(record) = self
                    .read_document::<AccessRecord>(layout::ledger_key(&indexed.key))
                    .await?
                {
                    records.insert(record.key.clone(), record);
                }
            }
        }
        Ok(records
            .into_values()
            .filter(|record| !partitions.eq(&[layout::ACCESS_UNSETTLED]) || record.unsettled())
            .take(limit)
            .collect())
    }

    pub(super) async fn grants_by(&self, query: GrantQuery) -> Result<Vec<Grant>, StoreError> {
        match query {
            GrantQuery::Status { statuses, limit } => self.grants_in(&statuses, None, limit).await,
            GrantQuery::AccessKey { key } => self.grants_with_access(&key).await,
            GrantQuery::EndingBy {
                statuses,
                before,
                limit,
            } => self.grants_in(&statuses, Some(before), limit).await,
        }
    }
}
