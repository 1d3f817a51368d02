//! The composition root: builds every backend and channel the configuration asks for and
//! wires them into one gateway. The only place that knows all concrete types.

use std::sync::Arc;

use anyhow::Context;
use liftgate_aws::{AwsClients, AwsIdentityCenter};
use liftgate_gateway::audit::FileAuditSink;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::{AuditSinkKind, LoadedConfig, SchedulerBackend, StateBackend};
use liftgate_gateway::metrics::Metrics;
use liftgate_gateway::ports::{
    AuditSink, Clock, IdentityCenter, RevocationScheduler, StateStore, SystemClock,
};
use liftgate_gateway::scheduler::LocalScheduler;
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::workflow::{AccessService, Dependencies, OutboxDispatcher};
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
}

/// Opens the configured state store.
pub async fn open_store(
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
            let _ = clients;
            anyhow::bail!("the dynamodb state backend is not available in this build yet")
        }
    }
}

fn audit_sinks(
    loaded: &LoadedConfig,
    clients: Option<&AwsClients>,
) -> anyhow::Result<Vec<Arc<dyn AuditSink>>> {
    let mut sinks: Vec<Arc<dyn AuditSink>> = Vec::new();
    let mut files = 0;
    for sink in &loaded.settings.audit.sinks {
        match sink.kind {
            AuditSinkKind::File => {
                files += 1;
                let name = if files == 1 {
                    "file".to_owned()
                } else {
                    format!("file-{files}")
                };
                let dir = sink.dir.clone().context("a file audit sink needs a dir")?;
                sinks.push(Arc::new(FileAuditSink::named(&name, dir)));
            }
            AuditSinkKind::S3 => {
                let _ = clients;
                anyhow::bail!("the s3 audit sink is not available in this build yet")
            }
        }
    }
    Ok(sinks)
}

fn scheduler(loaded: &LoadedConfig) -> anyhow::Result<Arc<dyn RevocationScheduler>> {
    match loaded.settings.scheduler.backend {
        SchedulerBackend::Local => Ok(Arc::new(LocalScheduler)),
        SchedulerBackend::Eventbridge => {
            anyhow::bail!("the eventbridge scheduler is not available in this build yet")
        }
    }
}

/// Builds the gateway. `identity` overrides the AWS-backed Identity Center (tests).
pub async fn build(loaded: &LoadedConfig) -> anyhow::Result<Gateway> {
    let settings = &loaded.settings;
    let aws = settings
        .aws
        .as_ref()
        .context("serve needs the aws section (region, sso_instance_arn, identity_store_id)")?;
    let clients = AwsClients::from_settings(aws).await;
    let identity: Arc<dyn IdentityCenter> = Arc::new(AwsIdentityCenter::new(&clients, aws));
    let store = open_store(loaded, Some(&clients)).await?;
    let sinks = audit_sinks(loaded, Some(&clients))?;
    let scheduler = scheduler(loaded)?;
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
    });

    let mut adapters: Vec<Arc<dyn ChannelAdapter>> = Vec::new();
    if let Some(webhook) = &settings.webhook {
        let adapter = WebhookAdapter::new(webhook, service.clone()).context("webhook section")?;
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

    let chat_notifiers = adapters
        .iter()
        .filter_map(|adapter| Arc::clone(adapter).notifier())
        .collect();
    let dispatcher = OutboxDispatcher::new(
        Arc::clone(&store),
        clock,
        sinks,
        chat_notifiers,
        Arc::clone(&metrics),
    );
    Ok(Gateway {
        service,
        dispatcher,
        adapters,
        store,
        metrics,
    })
}
