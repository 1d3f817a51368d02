//! `ensure_table`: creates the table with its indexes and TTL setting if missing (what
//! `liftgate state init` runs). Idempotent.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, TableDescription, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use liftgate_gateway::ports::StoreError;

use super::layout;
use super::{DynamoStore, unavailable};
use crate::sdk_error::{classify, error_code};

/// How long a new table may take to become active.
const TABLE_WAIT: Duration = Duration::from_secs(300);
const TABLE_POLL: Duration = Duration::from_secs(2);

/// What [`DynamoStore::ensure_table`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSetup {
    /// The table did not exist and was created.
    pub created: bool,
    /// Time to live was off and was turned on (attribute `ttl`).
    pub ttl_enabled: bool,
}

fn invalid(message: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("could not describe the table: {message}"))
}

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(invalid)
}

fn attribute(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(invalid)
}

fn status_index() -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(layout::STATUS_INDEX)
        .key_schema(key_element(layout::STATUS_KEY, KeyType::Hash)?)
        .key_schema(key_element(layout::ORDER_KEY, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(invalid)
}

fn outbox_index() -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(layout::OUTBOX_INDEX)
        .key_schema(key_element(layout::OUTBOX_SHARD_KEY, KeyType::Hash)?)
        .key_schema(key_element(layout::DUE_AT, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes(layout::TOPIC)
                .non_key_attributes(layout::CREATED_AT)
                .build(),
        )
        .build()
        .map_err(invalid)
}

/// Whether the table and its indexes can be used.
fn ready(table: &TableDescription) -> bool {
    table.table_status() == Some(&TableStatus::Active)
        && table.global_secondary_indexes().iter().all(|index| {
            index
                .index_status()
                .is_none_or(|s| *s == IndexStatus::Active)
        })
}

/// The table has the indexes Liftgate queries (a table made by hand or by an older Terraform
/// module would otherwise fail at the first query).
fn check_layout(name: &str, table: &TableDescription) -> Result<(), StoreError> {
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|element| (element.attribute_name(), element.key_type()))
        .collect();
    if keys != [(layout::PK, &KeyType::Hash), (layout::SK, &KeyType::Range)] {
        return Err(StoreError::Unavailable(format!(
            "table {name} exists but its key is not (pk HASH, sk RANGE); see docs/dynamodb.md"
        )));
    }
    for wanted in [layout::STATUS_INDEX, layout::OUTBOX_INDEX] {
        let present = table
            .global_secondary_indexes()
            .iter()
            .any(|index| index.index_name() == Some(wanted));
        if !present {
            return Err(StoreError::Unavailable(format!(
                "table {name} exists but lacks the global secondary index {wanted}; see docs/dynamodb.md"
            )));
        }
    }
    Ok(())
}

impl DynamoStore {
    async fn describe(&self) -> Result<Option<TableDescription>, StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.config.table)
            .send()
            .await
        {
            Ok(output) => Ok(output.table().cloned()),
            Err(error) if error_code(&error) == Some("ResourceNotFoundException") => Ok(None),
            Err(error) => Err(unavailable(classify("DescribeTable", &error))),
        }
    }

    async fn create_table(&self) -> Result<bool, StoreError> {
        let result = self
            .client
            .create_table()
            .table_name(&self.config.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_element(layout::PK, KeyType::Hash)?)
            .key_schema(key_element(layout::SK, KeyType::Range)?)
            .attribute_definitions(attribute(layout::PK, ScalarAttributeType::S)?)
            .attribute_definitions(attribute(layout::SK, ScalarAttributeType::S)?)
            .attribute_definitions(attribute(layout::STATUS_KEY, ScalarAttributeType::S)?)
            .attribute_definitions(attribute(layout::ORDER_KEY, ScalarAttributeType::N)?)
            .attribute_definitions(attribute(layout::OUTBOX_SHARD_KEY, ScalarAttributeType::S)?)
            .attribute_definitions(attribute(layout::DUE_AT, ScalarAttributeType::N)?)
            .global_secondary_indexes(status_index()?)
            .global_secondary_indexes(outbox_index()?)
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(table = %self.config.table, "DynamoDB table created.");
                Ok(true)
            }
            // Another process is creating it right now.
            Err(error) if error_code(&error) == Some("ResourceInUseException") => Ok(false),
            Err(error) => Err(unavailable(classify("CreateTable", &error))),
        }
    }

    async fn wait_until_active(&self) -> Result<TableDescription, StoreError> {
        let deadline = Instant::now() + TABLE_WAIT;
        loop {
            if let Some(table) = self.describe().await?
                && ready(&table)
            {
                return Ok(table);
            }
            if Instant::now() + TABLE_POLL > deadline {
                return Err(StoreError::Unavailable(format!(
                    "table {} did not become active within {} s",
                    self.config.table,
                    TABLE_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(TABLE_POLL).await;
        }
    }

    /// Turns TTL on for the `ttl` attribute unless it already is. Returns whether it changed.
    async fn ensure_ttl(&self) -> Result<bool, StoreError> {
        let output = self
            .client
            .describe_time_to_live()
            .table_name(&self.config.table)
            .send()
            .await
            .map_err(|error| unavailable(classify("DescribeTimeToLive", &error)))?;
        let description = output.time_to_live_description();
        let status = description.and_then(|d| d.time_to_live_status());
        let attribute = description.and_then(|d| d.attribute_name());
        match status {
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
                if attribute == Some(layout::TTL) =>
            {
                return Ok(false);
            }
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
                return Err(StoreError::Unavailable(format!(
                    "table {} has time to live on attribute {:?}; Liftgate needs it on {:?}",
                    self.config.table,
                    attribute.unwrap_or_default(),
                    layout::TTL
                )));
            }
            _ => {}
        }
        self.client
            .update_time_to_live()
            .table_name(&self.config.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(layout::TTL)
                    .enabled(true)
                    .build()
                    .map_err(invalid)?,
            )
            .send()
            .await
            .map_err(|error| unavailable(classify("UpdateTimeToLive", &error)))?;
        tracing::info!(table = %self.config.table, attribute = layout::TTL, "Time to live enabled.");
        Ok(true)
    }

    /// Creates the table (on-demand capacity, the `by_status` and `outbox_due` indexes) if it
    /// does not exist, waits until it is active, and turns time to live on for `ttl`. A table
    /// that exists with another layout is reported, never changed.
    pub async fn ensure_table(&self) -> Result<TableSetup, StoreError> {
        let created = match self.describe().await? {
            Some(_) => false,
            None => self.create_table().await?,
        };
        let table = self.wait_until_active().await?;
        check_layout(&self.config.table, &table)?;
        let ttl_enabled = self.ensure_ttl().await?;
        Ok(TableSetup {
            created,
            ttl_enabled,
        })
    }
}
