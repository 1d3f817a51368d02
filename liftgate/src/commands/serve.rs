//! `liftgate serve`: runs the gateway until SIGTERM/SIGINT, then drains and exits 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use liftgate_gateway::config::LoadedConfig;
use liftgate_gateway::http::{ServerState, start_admin_server, start_public_server, start_server};
use tokio::signal::unix::{SignalKind, signal};

use crate::compose;

/// How often the outbox dispatcher looks for due messages when idle.
const OUTBOX_INTERVAL: Duration = Duration::from_millis(500);

pub async fn run(loaded: LoadedConfig) -> anyhow::Result<()> {
    let settings = loaded.settings.clone();
    let gateway = compose::build(&loaded).await?;
    crate::memory::give_back_freed_memory();
    for warning in &loaded.warnings {
        tracing::warn!(path = %warning.path, "Config warning: {}", warning.message);
    }
    // The half of check-config that needs Identity Center (docs/reference.md §6): sessions
    // that outlive grants which do not end them. In the background: it must not delay serving.
    let check = gateway.service.clone();
    tokio::spawn(async move {
        match check.session_duration_check().await {
            Ok(warnings) => {
                for warning in warnings {
                    tracing::warn!(path = %warning.path, "Config warning: {}", warning.message);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "Could not compare MaxDuration with the permission sets' SessionDuration.");
            }
        }
    });
    let routes = gateway
        .adapters
        .iter()
        .filter_map(|adapter| Arc::clone(adapter).routes())
        .collect();
    let state = ServerState {
        store: Arc::clone(&gateway.store),
        metrics: Arc::clone(&gateway.metrics),
        limits: settings.server.max_in_flight,
    };
    let grace = settings.server.shutdown_grace.to_std();
    let listen = &settings.server.listen;
    let (server, admin) = match &settings.server.admin_listen {
        Some(admin_listen) => {
            let admin = start_admin_server(admin_listen, state.clone(), grace)
                .with_context(|| format!("cannot listen on {admin_listen}"))?;
            let server = start_public_server(listen, state, routes, 2, grace)
                .with_context(|| format!("cannot listen on {listen}"))?;
            (server, Some(admin))
        }
        None => (
            start_server(listen, state, routes, 2, grace)
                .with_context(|| format!("cannot listen on {listen}"))?,
            None,
        ),
    };
    if let Some(admin) = &admin {
        tracing::info!(address = %admin.address, "Health and metrics are served on the admin listener.");
    }
    tracing::info!(
        address = %server.address,
        channels = ?gateway.adapters.iter().map(|adapter| adapter.name()).collect::<Vec<_>>(),
        "Liftgate is serving."
    );

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    {
        let service = gateway.service.clone();
        let interval = settings.scheduler.sweep_interval.to_std();
        let shutdown = shutdown_rx.clone();
        tasks.spawn(async move { service.run_sweeper(interval, shutdown).await });
    }
    {
        let dispatcher = gateway.dispatcher.clone();
        let shutdown = shutdown_rx.clone();
        tasks.spawn(async move { dispatcher.run(OUTBOX_INTERVAL, shutdown).await });
    }
    {
        let reconciler = Arc::clone(&gateway.reconciler);
        let shutdown = shutdown_rx.clone();
        tasks.spawn(async move { reconciler.run_periodically(shutdown).await });
    }
    if let Some(checkpointer) = gateway.checkpointer.clone() {
        let shutdown = shutdown_rx.clone();
        tasks.spawn(async move { checkpointer.run(shutdown).await });
    }
    for adapter in &gateway.adapters {
        let adapter = Arc::clone(adapter);
        let shutdown = shutdown_rx.clone();
        tasks.spawn(async move { adapter.run(shutdown).await });
    }

    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let handle = server.handle.clone();
    let mut server_task = tokio::spawn(server.server);
    let admin_handle = admin.map(|admin| {
        let handle = admin.handle.clone();
        tokio::spawn(admin.server);
        handle
    });
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received; draining."),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; draining."),
        result = &mut server_task => {
            result.context("the HTTP server task failed")?.context("the HTTP server stopped")?;
        }
    }

    // Stop taking requests and let in-flight ones finish, then stop the background loops; the
    // outbox makes one last pass so records of the drained work still go out.
    let drain = async {
        handle.stop(true).await;
        let _ = shutdown_tx.send(true);
        while tasks.join_next().await.is_some() {}
        // The last checkpoint covers every record of the drain (docs/reference.md §7); one more
        // outbox pass delivers it.
        if let Some(checkpointer) = &gateway.checkpointer {
            if let Err(error) = checkpointer.final_checkpoint().await {
                tracing::error!(%error, "The final audit checkpoint could not be written.");
            }
            if let Err(error) = gateway.dispatcher.dispatch_once().await {
                tracing::warn!(%error, "The final checkpoint stays in the outbox for the next start.");
            }
        }
        // Health stays answerable until the work is drained; then it goes too.
        if let Some(admin) = &admin_handle {
            admin.stop(true).await;
        }
    };
    if tokio::time::timeout(grace + Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        tracing::warn!("Drain took longer than the grace period; exiting anyway.");
    }
    tracing::info!("Liftgate stopped.");
    Ok(())
}
