//! `commit`: a `WriteBatch` as one conditional write, or as one `TransactWriteItems` when it
//! touches more than one item, so it is all-or-nothing either way.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use liftgate_gateway::audit::ChainHead;
use liftgate_gateway::ports::{AccessPut, Expect, Fence, StoreError, WriteBatch};

use super::layout::{self, Item};
use super::{DynamoStore, unavailable};
use crate::sdk_error::{classify, error_code};

/// DynamoDB's limit on the items of one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// Cancellation reasons that mean "the item changed concurrently": a failed compare-and-set,
/// or another transaction writing the same item at this moment. Either way nothing was
/// written, and re-reading then deciding again is the answer.
const CONFLICT_REASONS: &[&str] = &["ConditionalCheckFailed", "TransactionConflict"];

/// How often a batch that lost the race for the audit chain's head (another commit moved it
/// between the read and the write) is sealed again on the new head before giving up.
const CHAIN_ATTEMPTS: u32 = 40;

/// What a transaction that was cancelled only because of the chain head means: read the head
/// again and retry; nothing else of the batch was in the way.
enum Outcome {
    Written,
    ChainMoved,
}

/// A condition on the item's current state.
#[derive(Debug, Clone)]
struct Condition {
    expression: &'static str,
    names: HashMap<String, String>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl Condition {
    fn from_expect(expect: Expect) -> Condition {
        match expect {
            Expect::Absent => Condition::absent(),
            Expect::Version(version) => Condition {
                expression: "#version = :expected",
                names: HashMap::from([("#version".to_owned(), layout::VERSION.to_owned())]),
                values: Some(HashMap::from([(
                    ":expected".to_owned(),
                    layout::n(version),
                )])),
            },
        }
    }

    fn absent() -> Condition {
        Condition {
            expression: "attribute_not_exists(#pk)",
            names: HashMap::from([("#pk".to_owned(), layout::PK.to_owned())]),
            values: None,
        }
    }
}

/// One item write of a batch.
#[derive(Debug, Clone)]
enum Write {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Delete {
        key: Item,
        condition: Option<Condition>,
    },
    /// Writes nothing; the transaction fails unless it holds (the lease fence).
    Check { key: Item, condition: Condition },
}

fn fence_check(fence: &Fence) -> Write {
    Write::Check {
        key: layout::lease_key(&fence.lease),
        condition: Condition {
            expression: "#owner = :owner",
            names: HashMap::from([("#owner".to_owned(), layout::OWNER.to_owned())]),
            values: Some(HashMap::from([(
                ":owner".to_owned(),
                layout::s(&fence.owner),
            )])),
        },
    }
}

fn new_version(expect: Expect) -> u64 {
    match expect {
        Expect::Absent => 1,
        Expect::Version(version) => version + 1,
    }
}

fn invalid(message: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("could not build a DynamoDB write: {message}"))
}

/// The cancellation reason of each item, in item order: from the structured reasons, or (older
/// emulators put them only there) from the message's `[A, B, …]` list.
fn cancellation_reasons<'a>(
    structured: impl Iterator<Item = &'a str>,
    message: &str,
) -> Vec<String> {
    let reasons: Vec<String> = structured.map(str::to_owned).collect();
    if !reasons.is_empty() {
        return reasons;
    }
    message
        .rsplit_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list.split(',').map(|code| code.trim().to_owned()).collect())
        .unwrap_or_default()
}

impl DynamoStore {
    /// The item writes of a batch: each request and grant with its version check, each grant's
    /// access link (present exactly while the grant may hold access), each outbox message.
    fn writes(&self, batch: WriteBatch) -> Result<Vec<Write>, StoreError> {
        let now = self.now();
        let retention = self.config.retention;
        let mut writes = Vec::new();
        // First, so its cancellation reason is the first one.
        if let Some(fence) = &batch.fence {
            writes.push(fence_check(fence));
        }
        for write in batch.access {
            match write {
                AccessPut::Put(put) => {
                    let mut record = put.item;
                    record.version = new_version(put.expect);
                    writes.push(Write::Put {
                        item: layout::ledger_item(&record)?,
                        condition: Some(Condition::from_expect(put.expect)),
                    });
                }
                // Never stored: it must still be absent.
                AccessPut::Delete { key, version: 0 } => writes.push(Write::Check {
                    key: layout::ledger_key(&key),
                    condition: Condition::absent(),
                }),
                AccessPut::Delete { key, version } => writes.push(Write::Delete {
                    key: layout::ledger_key(&key),
                    condition: Some(Condition::from_expect(Expect::Version(version))),
                }),
            }
        }
        for put in batch.requests {
            let mut request = put.item;
            request.version = new_version(put.expect);
            writes.push(Write::Put {
                item: layout::request_item(&request, now, retention)?,
                condition: Some(Condition::from_expect(put.expect)),
            });
        }
        for put in batch.grants {
            let mut grant = put.item;
            grant.version = new_version(put.expect);
            writes.push(Write::Put {
                item: layout::grant_item(&grant, now, retention)?,
                condition: Some(Condition::from_expect(put.expect)),
            });
            writes.push(if grant.status().may_hold_access() {
                Write::Put {
                    item: layout::access_link_item(&grant),
                    condition: None,
                }
            } else {
                Write::Delete {
                    key: layout::access_link_key(&grant.access_key(), grant.id.as_str()),
                    condition: None,
                }
            });
        }
        for message in &batch.outbox {
            writes.push(Write::Put {
                item: layout::outbox_item(message)?,
                condition: Some(Condition::absent()),
            });
        }
        Ok(writes)
    }

    pub(super) async fn commit_batch(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        if batch.touches_chain() {
            return self.commit_chained(batch).await;
        }
        let fenced = batch.fence.is_some();
        let mut writes = self.writes(batch)?;
        if writes.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "a write batch of {} items exceeds DynamoDB's {MAX_TRANSACTION_ITEMS}-item transaction limit",
                writes.len()
            )));
        }
        if let [Write::Put { .. }] = writes.as_slice()
            && let Some(Write::Put { item, condition }) = writes.pop()
        {
            return self.put_one(item, condition).await;
        }
        self.transact(writes, fenced, None).await.map(|_| ())
    }

    /// The head of the audit chain and the version it was read at (0: never written).
    pub(super) async fn chain_head(&self) -> Result<(ChainHead, u64), StoreError> {
        let Some(item) = self.read_item(layout::audit_chain_key()).await? else {
            return Ok((ChainHead::default(), 0));
        };
        let version = layout::number_attribute(&item, layout::VERSION)?;
        Ok((
            layout::document(&item)?,
            u64::try_from(version).unwrap_or(0),
        ))
    }

    /// A batch with audit records or a checkpoint: read the chain head, link the records onto
    /// it, and write the moved head in the same transaction under a condition on the version
    /// read, so concurrent writers (every replica) extend one chain without gaps. A writer
    /// that lost only that race seals the batch again on the new head.
    async fn commit_chained(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let fenced = batch.fence.is_some();
        for attempt in 0..CHAIN_ATTEMPTS {
            let (mut head, version) = self.chain_head().await?;
            let mut sealed = batch.clone();
            sealed.seal_audit(&mut head)?;
            let mut writes = self.writes(sealed)?;
            // Right after the fence check, so its cancellation reason has a known place.
            let chain_index = usize::from(fenced);
            writes.insert(
                chain_index,
                Write::Put {
                    item: layout::audit_chain_item(&head, version + 1)?,
                    condition: Some(Condition::from_expect(if version == 0 {
                        Expect::Absent
                    } else {
                        Expect::Version(version)
                    })),
                },
            );
            if writes.len() > MAX_TRANSACTION_ITEMS {
                return Err(StoreError::Unavailable(format!(
                    "a write batch of {} items exceeds DynamoDB's {MAX_TRANSACTION_ITEMS}-item transaction limit",
                    writes.len()
                )));
            }
            match self.transact(writes, fenced, Some(chain_index)).await? {
                Outcome::Written => return Ok(()),
                Outcome::ChainMoved => {
                    let pause = rand::random_range(1..=10u64) * u64::from(attempt.min(10) + 1);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "the audit chain head stayed contended for {CHAIN_ATTEMPTS} attempts"
        )))
    }

    /// A single conditional put (half the cost of a one-item transaction).
    async fn put_one(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.config.table)
            .set_item(Some(item));
        if let Some(condition) = condition {
            request = request
                .condition_expression(condition.expression)
                .set_expression_attribute_names(Some(condition.names))
                .set_expression_attribute_values(condition.values);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) if error_code(&error) == Some("ConditionalCheckFailedException") => {
                Err(StoreError::Conflict)
            }
            Err(error) => Err(unavailable(classify("PutItem", &error))),
        }
    }

    async fn transact(
        &self,
        writes: Vec<Write>,
        fenced: bool,
        chain_index: Option<usize>,
    ) -> Result<Outcome, StoreError> {
        let table = &self.config.table;
        let mut items = Vec::with_capacity(writes.len());
        for write in writes {
            let item = match write {
                Write::Put { item, condition } => {
                    let mut put = Put::builder().table_name(table).set_item(Some(item));
                    if let Some(condition) = condition {
                        put = put
                            .condition_expression(condition.expression)
                            .set_expression_attribute_names(Some(condition.names))
                            .set_expression_attribute_values(condition.values);
                    }
                    TransactWriteItem::builder()
                        .put(put.build().map_err(invalid)?)
                        .build()
                }
                Write::Delete { key, condition } => {
                    let mut delete = Delete::builder().table_name(table).set_key(Some(key));
                    if let Some(condition) = condition {
                        delete = delete
                            .condition_expression(condition.expression)
                            .set_expression_attribute_names(Some(condition.names))
                            .set_expression_attribute_values(condition.values);
                    }
                    TransactWriteItem::builder()
                        .delete(delete.build().map_err(invalid)?)
                        .build()
                }
                Write::Check { key, condition } => TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name(table)
                            .set_key(Some(key))
                            .condition_expression(condition.expression)
                            .set_expression_attribute_names(Some(condition.names))
                            .set_expression_attribute_values(condition.values)
                            .build()
                            .map_err(invalid)?,
                    )
                    .build(),
            };
            items.push(item);
        }
        // The token makes the SDK's own retries of this call idempotent: a retry after a lost
        // answer does not fail its own conditions.
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Outcome::Written),
            Err(error) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    error.as_service_error()
                {
                    let message = cancelled.message().unwrap_or_default();
                    let reasons = cancellation_reasons(
                        cancelled
                            .cancellation_reasons()
                            .iter()
                            .map(|reason| reason.code().unwrap_or("None")),
                        message,
                    );
                    // The fence is the first item: its check failing means the lease is gone.
                    if fenced
                        && reasons
                            .first()
                            .is_some_and(|code| code == "ConditionalCheckFailed")
                    {
                        return Err(StoreError::LeaseLost);
                    }
                    if let Some(index) = chain_index
                        && reasons
                            .get(index)
                            .is_some_and(|code| CONFLICT_REASONS.contains(&code.as_str()))
                        && reasons
                            .iter()
                            .enumerate()
                            .all(|(other, code)| other == index || code == "None")
                    {
                        return Ok(Outcome::ChainMoved);
                    }
                    let codes: Vec<&str> = reasons
                        .iter()
                        .map(String::as_str)
                        .filter(|code| *code != "None")
                        .collect();
                    if codes.iter().any(|code| CONFLICT_REASONS.contains(code)) {
                        return Err(StoreError::Conflict);
                    }
                    tracing::warn!(reasons = ?codes, "DynamoDB transaction cancelled.");
                    return Err(StoreError::Unavailable(format!(
                        "TransactWriteItems cancelled: {}",
                        if codes.is_empty() {
                            message.to_owned()
                        } else {
                            codes.join(", ")
                        }
                    )));
                }
                Err(unavailable(classify("TransactWriteItems", &error)))
            }
        }
    }
}
