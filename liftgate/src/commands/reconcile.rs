//! `liftgate reconcile [--dry-run]`: one reconciliation pass, printed.

use std::io::Write;
use std::time::Duration;

use liftgate_gateway::config::LoadedConfig;

use crate::compose;

/// How long the command waits for its audit records and chat warnings to be delivered. Anything
/// left is still in the outbox, for a running `serve` to deliver.
const DELIVERY_BUDGET: Duration = Duration::from_secs(30);

/// Runs one pass; returns whether it completed without errors.
pub async fn run(
    loaded: &LoadedConfig,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let gateway = compose::build(loaded).await?;
    let report = gateway.reconciler.run_once(dry_run).await?;
    writeln!(out, "{report}")?;
    if !dry_run {
        let deliver = async { while gateway.dispatcher.dispatch_once().await.unwrap_or(0) > 0 {} };
        if tokio::time::timeout(DELIVERY_BUDGET, deliver)
            .await
            .is_err()
        {
            writeln!(
                out,
                "Some audit records or chat warnings are still queued; a running `liftgate serve` delivers them."
            )?;
        }
    }
    Ok(report.errors.is_empty())
}
