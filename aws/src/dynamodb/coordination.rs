//! Idempotency keys, leases and adapter documents: single items written with conditions.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use liftgate_gateway::ports::{LeaseSighting, LeaseState, StoreError};
use time::OffsetDateTime;

use super::layout::{self, Item};
use super::{DynamoStore, unavailable};
use crate::sdk_error::{classify, error_code};

/// How often `remember_once` goes around when the key it lost to disappears before it can be
/// read (it expired and was replaced, or TTL removed it).
const REMEMBER_ATTEMPTS: usize = 5;

/// A lease item's token; 0 for items written before tokens existed.
fn lease_token(item: &Item) -> u64 {
    layout::number_attribute(item, layout::TOKEN)
        .ok()
        .and_then(|token| u64::try_from(token).ok())
        .unwrap_or(0)
}

/// The value of an idempotency item that has not expired at `now`.
fn live_value(item: &Item, now: OffsetDateTime) -> Result<Option<String>, StoreError> {
    let expires_at = layout::number_attribute(item, layout::EXPIRES_AT)?;
    if expires_at > layout::millis(now) {
        Ok(Some(
            layout::string_attribute(item, layout::VALUE)?.to_owned(),
        ))
    } else {
        Ok(None)
    }
}

impl DynamoStore {
    pub(super) async fn remember(
        &self,
        key: &str,
        value: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        for _ in 0..REMEMBER_ATTEMPTS {
            let result = self
                .client
                .put_item()
                .table_name(&self.config.table)
                .set_item(Some(layout::idempotency_item(key, value, expires_at)))
                .condition_expression("attribute_not_exists(#pk) OR #expires <= :now")
                .expression_attribute_names("#pk", layout::PK)
                .expression_attribute_names("#expires", layout::EXPIRES_AT)
                .expression_attribute_values(":now", layout::n(layout::millis(now)))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(None),
                Err(error) => error,
            };
            if let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                error.as_service_error()
            {
                // The key is held; its value comes with the refusal, or is read.
                let existing = match failed.item() {
                    Some(item) => Some(item.clone()),
                    None => self.read_item(layout::idempotency_key(key)).await?,
                };
                if let Some(item) = existing
                    && let Some(value) = live_value(&item, now)?
                {
                    return Ok(Some(value));
                }
                continue;
            }
            return Err(unavailable(classify("PutItem", &error)));
        }
        Err(StoreError::Unavailable(
            "the idempotency key kept changing".to_owned(),
        ))
    }

    pub(super) async fn read_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.config.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| unavailable(classify("GetItem", &error)))?;
        Ok(output.item().cloned())
    }

    pub(super) async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        stale: Option<&LeaseSighting>,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<LeaseState, StoreError> {
        let until = now + ttl;
        let (condition, token) = match stale {
            // Items written before tokens existed have none: token 0.
            Some(seen) if seen.token == 0 => (
                "attribute_not_exists(#pk) OR (#owner = :stale_owner AND (attribute_not_exists(#token) OR #token = :stale))",
                1,
            ),
            Some(seen) => (
                "attribute_not_exists(#pk) OR (#owner = :stale_owner AND #token = :stale)",
                seen.token + 1,
            ),
            None => ("attribute_not_exists(#pk)", 1),
        };
        let mut request = self
            .client
            .put_item()
            .table_name(&self.config.table)
            .set_item(Some(layout::lease_item(name, owner, until, token)))
            .condition_expression(condition)
            .expression_attribute_names("#pk", layout::PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(seen) = stale {
            request = request
                .expression_attribute_names("#token", layout::TOKEN)
                .expression_attribute_names("#owner", layout::OWNER)
                .expression_attribute_values(":stale", layout::n(seen.token))
                .expression_attribute_values(":stale_owner", layout::s(&seen.owner));
        }
        let error = match request.send().await {
            Ok(_) => return Ok(LeaseState::Acquired { token }),
            Err(error) => error,
        };
        if let Some(PutItemError::ConditionalCheckFailedException(failed)) =
            error.as_service_error()
        {
            let current = match failed.item() {
                Some(item) => Some(item.clone()),
                None => self.read_item(layout::lease_key(name)).await?,
            };
            return match current {
                Some(item) => Ok(LeaseState::Held {
                    owner: layout::string_attribute(&item, layout::OWNER)?.to_owned(),
                    token: lease_token(&item),
                }),
                // Released between the write and the read: the next attempt takes it.
                None => Ok(LeaseState::Held {
                    owner: String::new(),
                    token: 0,
                }),
            };
        }
        Err(unavailable(classify("PutItem", &error)))
    }

    pub(super) async fn renew(
        &self,
        name: &str,
        owner: &str,
        token: u64,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<Option<u64>, StoreError> {
        let until = now + ttl;
        let result = self
            .client
            .update_item()
            .table_name(&self.config.table)
            .set_key(Some(layout::lease_key(name)))
            .update_expression("SET #token = :next, #until = :until")
            .condition_expression("#owner = :owner AND #token = :token")
            .expression_attribute_names("#token", layout::TOKEN)
            .expression_attribute_names("#until", layout::UNTIL)
            .expression_attribute_names("#owner", layout::OWNER)
            .expression_attribute_values(":next", layout::n(token + 1))
            .expression_attribute_values(":token", layout::n(token))
            .expression_attribute_values(":until", layout::n(layout::millis(until)))
            .expression_attribute_values(":owner", layout::s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(token + 1)),
            Err(error) if error_code(&error) == Some("ConditionalCheckFailedException") => Ok(None),
            Err(error) => Err(unavailable(classify("UpdateItem", &error))),
        }
    }

    pub(super) async fn give_back_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.config.table)
            .set_key(Some(layout::lease_key(name)))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", layout::OWNER)
            .expression_attribute_values(":owner", layout::s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else's now (ours ran out), or already gone: nothing of ours to give back.
            Err(error) if error_code(&error) == Some("ConditionalCheckFailedException") => Ok(()),
            Err(error) => Err(unavailable(classify("DeleteItem", &error))),
        }
    }

    pub(super) async fn write_document(
        &self,
        namespace: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.config.table)
            .set_item(Some(layout::document_item(namespace, key, value)?))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| unavailable(classify("PutItem", &error)))
    }

    pub(super) async fn fetch_document(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let Some(item) = self.read_item(layout::document_key(namespace, key)).await? else {
            return Ok(None);
        };
        let text = layout::string_attribute(&item, layout::VALUE)?;
        serde_json::from_str(text)
            .map(Some)
            .map_err(|error| StoreError::Corrupt(error.to_string()))
    }

    pub(super) async fn remove_document(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.config.table)
            .set_key(Some(layout::document_key(namespace, key)))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| unavailable(classify("DeleteItem", &error)))
    }
}
