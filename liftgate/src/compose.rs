//! The composition root: builds every backend and channel the configuration asks for and
//! wires them into one gateway. The only place that knows all concrete types.

use std::sync::Arc;

use anyhow::Context;
use liftgate_aws::{
    AwsAccessInventory, AwsClients, AwsIdentityCenter, DynamoStore, DynamoStoreConfig,
    EventBridgeScheduler, EventBridgeSchedulerConfig, LogsInsightsActivity, LogsInsightsConfig,
    S3AuditConfig, S3AuditSink,
};
use liftgate_gateway::audit::{Checkpointer, FileAuditSink, SigningKey};
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::{AuditSinkKind, LoadedConfig, SchedulerBackend, StateBackend};
use liftgate_gateway::metrics::Metrics;
use liftgate_gateway::ports::{
    AuditSink, Clock, IdentityCenter, RevocationScheduler, StateStore, SystemClock,
};
use liftgate_gateway::scheduler::LocalScheduler;
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::workflow::{
    AccessService, ActivitySummarizer, Dependencies, OutboxDispatcher, Reconciler, SessionRevoker,
};

use liftgate_cli_channel::CliAdapter;
use liftgate_slack::SlackAdapter;
use liftgate_teams::TeamsAdapter;

use liftgate_webhook::WebhookAdapter;

/// Everything `serve` runs.
pub struct Gateway {
    pub service: AccessService,
    pub dispatcher: OutboxDispatcher,
    pub adapters: Vec<Arc<dyn ChannelAdapter>>,
    pub store: Arc<dyn StateStore>,
    pub metrics: Arc<Metrics>,
    pub reconciler: Arc<Reconciler>,
    /// Signed audit checkpoints; `None` without `audit.signing_key`.
    pub checkpointer: Option<Checkpointer>,
}

/// Opens the configured state store. `clients` is required for DynamoDB.
pub fn open_store(
    loaded: &LoadedConfig,
    clients: Option<&AwsClients>,
) -> anyhow::Result<Arc<dyn StateStore>> {
    let state = &loaded.settings.state;
    match state.backend {
        StateBackend::Sqlite => {
            let store = SqliteStore::open(&state.path)
                .with_context(|| format!("cannot open the state database {}", state.path))?;
            Ok(Arc::new(store))
        }
        StateBackend::Dynamodb => {
            let clients = clients.context("the dynamodb state backend needs the aws section")?;
            let config = DynamoStoreConfig::from_settings(state).context("state section")?;
            Ok(Arc::new(DynamoStore::new(clients, config)))
        }
    }
}

/// The configured audit sinks. Their names are outbox topics, so they must stay stable across
/// restarts: the kind, numbered from the second sink of a kind on, in config order.
fn audit_sinks(
    loaded: &LoadedConfig,
    clients: &AwsClients,
) -> anyhow::Result<Vec<Arc<dyn AuditSink>>> {
    let mut sinks: Vec<Arc<dyn AuditSink>> = Vec::new();
    let (mut files, mut buckets) = (0, 0);
    let numbered = |kind: &str, count: usize| {
        if count == 1 {
            kind.to_owned()
        } else {
            format!("{kind}-{count}")
        }
    };
    for (index, sink) in loaded.settings.audit.sinks.iter().enumerate() {
        match sink.kind {
            AuditSinkKind::File => {
                files += 1;
                let dir = sink
                    .dir
                    .clone()
                    .with_context(|| format!("audit.sinks[{index}] needs a dir"))?;
                sinks.push(Arc::new(FileAuditSink::named(
                    &numbered("file", files),
                    dir,
                )));
            }
            AuditSinkKind::S3 => {
                buckets += 1;
                let config = S3AuditConfig::from_settings(sink)
                    .with_context(|| format!("audit.sinks[{index}]"))?;
                sinks.push(Arc::new(S3AuditSink::new(
                    &numbered("s3", buckets),
                    clients,
                    config,
                )));
            }
        }
    }
    Ok(sinks)
}

/// The revocation timers. With EventBridge, the schedule group is created if missing and
/// schedules a crash left behind are adopted or deleted before anything is served.
async fn scheduler(
    loaded: &LoadedConfig,
    clients: &AwsClients,
    store: &Arc<dyn StateStore>,
) -> anyhow::Result<Arc<dyn RevocationScheduler>> {
    let settings = &loaded.settings;
    match settings.scheduler.backend {
        SchedulerBackend::Local => Ok(Arc::new(LocalScheduler)),
        SchedulerBackend::Eventbridge => {
            let aws = settings
                .aws
                .as_ref()
                .context("the eventbridge scheduler needs the aws section")?;
            let config = EventBridgeSchedulerConfig::from_settings(aws, &settings.scheduler)
                .context("scheduler section")?;
            let scheduler =
                EventBridgeScheduler::new(clients, config).context("scheduler section")?;
            scheduler
                .ensure_group()
                .await
                .context("cannot create the schedule group")?;
            let now = liftgate_gateway::ports::Clock::now(&liftgate_gateway::ports::SystemClock);
            match scheduler.adopt_or_delete_orphans(store.as_ref(), now).await {
                Ok(report) => tracing::info!(?report, "Revocation schedules checked."),
                Err(error) => {
                    tracing::warn!(%error, "Could not check leftover revocation schedules; continuing.")
                }
            }
            Ok(Arc::new(scheduler))
        }
    }
}

/// Builds the gateway from its config: every backend and channel it names.
pub async fn build(loaded: &LoadedConfig) -> anyhow::Result<Gateway> {
    let settings = &loaded.settings;
    let aws = settings
        .aws
        .as_ref()
        .context("serve needs the aws section (region, sso_instance_arn, identity_store_id)")?;
    let clients = AwsClients::from_settings(aws).await;
    let aws_identity = Arc::new(AwsIdentityCenter::new(&clients, aws));
    let identity: Arc<dyn IdentityCenter> = aws_identity.clone();
    let store = open_store(loaded, Some(&clients))?;
    let sinks = audit_sinks(loaded, &clients)?;
    let scheduler = scheduler(loaded, &clients, &store).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let metrics = Arc::new(Metrics::new());

    // Notifier names are fixed per channel, so they are known before the adapters exist.
    let mut notifiers = Vec::new();
    if settings
        .webhook
        .as_ref()
        .is_some_and(|webhook| !webhook.subscribers.is_empty())
    {
        notifiers.push("webhook".to_owned());
    }
    if settings.slack.is_some() {
        notifiers.push("slack".to_owned());
    }
    if settings.teams.is_some() {
        notifiers.push("teams".to_owned());
    }

    let service = AccessService::new(Dependencies {
        store: Arc::clone(&store),
        identity,
        scheduler,
        clock: Arc::clone(&clock),
        rules: Arc::new(loaded.rules.clone()),
        requests: settings.requests.clone(),
        audit_sinks: sinks.iter().map(|sink| sink.name().to_owned()).collect(),
        notifiers,
        metrics: Arc::clone(&metrics),
    })
    .with_activity_summaries(&settings.audit.activity_summary);

    let mut adapters: Vec<Arc<dyn ChannelAdapter>> = Vec::new();
    if let Some(webhook) = &settings.webhook {
        let adapter = WebhookAdapter::new(webhook, service.clone()).context("webhook section")?;
        adapters.push(Arc::new(adapter));
    }
    if let Some(cli) = settings.cli.as_ref().filter(|cli| cli.enabled) {
        let adapter = CliAdapter::new(cli, &aws.region, service.clone()).context("cli section")?;
        adapters.push(Arc::new(adapter));
    }
    if let Some(slack) = &settings.slack {
        let adapter = SlackAdapter::new(slack.clone(), service.clone()).context("slack section")?;
        adapters.push(adapter);
    }
    if let Some(teams) = &settings.teams {
        let adapter = TeamsAdapter::new(teams.clone(), service.clone()).context("teams section")?;
        adapters.push(adapter);
    }

    let checkpointer = match &settings.audit.signing_key {
        Some(key) => {
            let key = SigningKey::parse(key.expose()).context("audit.signing_key")?;
            Some(Checkpointer::new(
                Arc::clone(&store),
                Arc::clone(&clock),
                Arc::clone(service.leases()),
                Arc::new(key),
                sinks.iter().map(|sink| sink.name().to_owned()).collect(),
                settings.audit.checkpoint_interval.to_std(),
            ))
        }
        None => None,
    };

    let chat_notifiers = adapters
        .iter()
        .filter_map(|adapter| Arc::clone(adapter).notifier())
        .collect();
    let inbox = adapters
        .iter()
        .filter_map(|adapter| Arc::clone(adapter).inbox())
        .collect();
    let dispatcher = OutboxDispatcher::new(
        Arc::clone(&store),
        clock,
        sinks,
        chat_notifiers,
        Arc::clone(&metrics),
    )
    .with_inbox(inbox)
    // docs/reference.md §6: break-glass uses nobody reviewed in time escalate.
    .with_reviews(service.clone());
    // docs/reference.md §6: ends the live role sessions of removed access (`RevokeSessions`);
    // its rows exist only where it is on, so every replica can carry them out.
    let dispatcher =
        dispatcher.with_session_revoker(SessionRevoker::new(service.clone(), aws_identity));
    let inventory = Arc::new(AwsAccessInventory::new(&clients, aws));
    // docs/reference.md §6: summaries of what users changed, from the organization trail.
    let activity = &settings.audit.activity_summary;
    let dispatcher = if activity.is_enabled() {
        let source = LogsInsightsActivity::new(
            &clients,
            LogsInsightsConfig::new(activity.query_timeout.to_std()),
        );
        dispatcher.with_activity(ActivitySummarizer::new(
            service.clone(),
            Arc::new(source),
            inventory.clone(),
            activity.clone(),
        ))
    } else {
        dispatcher
    };
    let reconciler = Arc::new(Reconciler::new(
        &service,
        inventory,
        settings.reconciliation.clone(),
    ));
    Ok(Gateway {
        service,
        dispatcher,
        adapters,
        store,
        metrics,
        reconciler,
        checkpointer,
    })
}
