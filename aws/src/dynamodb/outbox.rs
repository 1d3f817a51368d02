//! The outbox: due messages are found through the `outbox_due` index and each is claimed with
//! a conditional update of its due time, so two replicas never both take one.

use aws_sdk_dynamodb::types::{ReturnValue, Select};
use liftgate_gateway::ports::{OutboxMessage, StoreError};
use time::OffsetDateTime;

use super::layout::{self, Item};
use super::{DynamoStore, unavailable};
use crate::sdk_error::{classify, error_code};

/// Index entries read per page while looking for due messages.
const CANDIDATE_PAGE: i32 = 100;

/// A due message as the index shows it (possibly slightly stale).
struct Candidate {
    key: Item,
    due_at: i64,
    created_at: i64,
}

impl DynamoStore {
    /// Due messages of topics starting with `topic_prefix`, oldest first, at most `limit`.
    async fn due_candidates(
        &self,
        topic_prefix: &str,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<Candidate>, StoreError> {
        let mut candidates = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.config.table)
                .index_name(layout::OUTBOX_INDEX)
                .key_condition_expression("#shard = :shard AND #due <= :now")
                .expression_attribute_names("#shard", layout::OUTBOX_SHARD_KEY)
                .expression_attribute_names("#due", layout::DUE_AT)
                .expression_attribute_values(":shard", layout::s(layout::OUTBOX_SHARD))
                .expression_attribute_values(":now", layout::n(layout::millis(now)))
                .scan_index_forward(true)
                .limit(CANDIDATE_PAGE)
                .set_exclusive_start_key(start.take());
            if !topic_prefix.is_empty() {
                request = request
                    .filter_expression("begins_with(#topic, :prefix)")
                    .expression_attribute_names("#topic", layout::TOPIC)
                    .expression_attribute_values(":prefix", layout::s(topic_prefix));
            }
            let output = request
                .send()
                .await
                .map_err(|error| unavailable(classify("Query", &error)))?;
            for item in output.items() {
                candidates.push(Candidate {
                    key: layout::key(
                        layout::string_attribute(item, layout::PK)?.to_owned(),
                        layout::string_attribute(item, layout::SK)?,
                    ),
                    due_at: layout::number_attribute(item, layout::DUE_AT)?,
                    created_at: layout::number_attribute(item, layout::CREATED_AT)?,
                });
            }
            match output.last_evaluated_key() {
                Some(next) if candidates.len() < limit && !next.is_empty() => {
                    start = Some(next.clone());
                }
                _ => break,
            }
        }
        candidates.sort_by_key(|candidate| (candidate.due_at, candidate.created_at));
        candidates.truncate(limit);
        Ok(candidates)
    }

    pub(super) async fn claim_messages(
        &self,
        topic_prefix: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut claimed = Vec::new();
        for candidate in self.due_candidates(topic_prefix, now, limit).await? {
            // Taken only if its due time is still the one seen: another replica that claimed
            // it first has moved it, and a completed message is gone.
            let result = self
                .client
                .update_item()
                .table_name(&self.config.table)
                .set_key(Some(candidate.key))
                .update_expression("SET #due = :lease")
                .condition_expression("attribute_exists(#pk) AND #due = :seen")
                .expression_attribute_names("#due", layout::DUE_AT)
                .expression_attribute_names("#pk", layout::PK)
                .expression_attribute_values(":lease", layout::n(layout::millis(lease_until)))
                .expression_attribute_values(":seen", layout::n(candidate.due_at))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(output) => {
                    let item = output.attributes().ok_or_else(|| {
                        StoreError::Unavailable("UpdateItem returned no attributes".to_owned())
                    })?;
                    claimed.push(layout::outbox_message(item)?);
                }
                Err(error)
                    if matches!(
                        error_code(&error),
                        Some("ConditionalCheckFailedException" | "TransactionConflictException")
                    ) => {}
                Err(error) => return Err(unavailable(classify("UpdateItem", &error))),
            }
        }
        Ok(claimed)
    }

    pub(super) async fn complete_message(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.config.table)
            .set_key(Some(layout::outbox_key(id)))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| unavailable(classify("DeleteItem", &error)))
    }

    pub(super) async fn retry_message(
        &self,
        id: uuid::Uuid,
        retry_at: OffsetDateTime,
        error_text: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.config.table)
            .set_key(Some(layout::outbox_key(id)))
            .update_expression("SET #due = :retry, #attempts = #attempts + :one, #error = :error")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#due", layout::DUE_AT)
            .expression_attribute_names("#attempts", layout::ATTEMPTS)
            .expression_attribute_names("#error", layout::LAST_ERROR)
            .expression_attribute_names("#pk", layout::PK)
            .expression_attribute_values(":retry", layout::n(layout::millis(retry_at)))
            .expression_attribute_values(":one", layout::n(1))
            .expression_attribute_values(":error", layout::s(error_text))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Completed meanwhile: nothing left to retry (SQLite's UPDATE of a missing row).
            Err(error) if error_code(&error) == Some("ConditionalCheckFailedException") => Ok(()),
            Err(error) => Err(unavailable(classify("UpdateItem", &error))),
        }
    }

    /// Messages waiting, counted through the index (eventually consistent: a gauge).
    pub(super) async fn count_messages(&self) -> Result<u64, StoreError> {
        let mut count: u64 = 0;
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.config.table)
                .index_name(layout::OUTBOX_INDEX)
                .key_condition_expression("#shard = :shard")
                .expression_attribute_names("#shard", layout::OUTBOX_SHARD_KEY)
                .expression_attribute_values(":shard", layout::s(layout::OUTBOX_SHARD))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|error| unavailable(classify("Query", &error)))?;
            count += u64::try_from(output.count()).unwrap_or(0);
            match output.last_evaluated_key() {
                Some(next) if !next.is_empty() => start = Some(next.clone()),
                _ => break,
            }
        }
        Ok(count)
    }
}
