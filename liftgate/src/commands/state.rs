//! `liftgate state init`: creates what the state backend needs, idempotently.

use std::io::Write;

use anyhow::Context;
use liftgate_aws::{AwsClients, DynamoStore, DynamoStoreConfig};
use liftgate_gateway::config::{LoadedConfig, StateBackend};

use crate::compose;

pub async fn init(loaded: &LoadedConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    let state = &loaded.settings.state;
    match state.backend {
        StateBackend::Sqlite => {
            compose::open_store(loaded, None)?;
            writeln!(out, "SQLite database ready at {}", state.path)?;
        }
        StateBackend::Dynamodb => {
            let aws = loaded
                .settings
                .aws
                .as_ref()
                .context("the dynamodb state backend needs the aws section")?;
            let clients = AwsClients::from_settings(aws).await;
            let config = DynamoStoreConfig::from_settings(state).context("state section")?;
            let store = DynamoStore::new(&clients, config);
            let setup = store
                .ensure_table()
                .await
                .context("cannot create the DynamoDB table")?;
            let table = state.table.as_deref().unwrap_or_default();
            let created = if setup.created {
                "created"
            } else {
                "already exists"
            };
            let ttl = if setup.ttl_enabled {
                "; time to live turned on"
            } else {
                ""
            };
            writeln!(out, "DynamoDB table {table} {created}{ttl}")?;
        }
    }
    Ok(())
}
