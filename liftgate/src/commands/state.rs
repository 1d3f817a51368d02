//! `liftgate state init`: creates what the state backend needs, idempotently.

use std::io::Write;

use liftgate_gateway::config::{LoadedConfig, StateBackend};

use crate::compose;

pub async fn init(loaded: &LoadedConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    match loaded.settings.state.backend {
        StateBackend::Sqlite => {
            compose::open_store(loaded, None).await?;
            writeln!(
                out,
                "SQLite database ready at {}",
                loaded.settings.state.path
            )?;
        }
        StateBackend::Dynamodb => {
            anyhow::bail!("the dynamodb state backend is not available in this build yet")
        }
    }
    Ok(())
}
