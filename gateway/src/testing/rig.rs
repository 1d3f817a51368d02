use std::sync::Arc;

use super::{ManualClock, MemoryAuditSink, RecordingNotifier};
use crate::config::RequestSettings;
use crate::metrics::Metrics;
use crate::ports::{AuditSink, IdentityCenter, RevocationScheduler, StateStore};
use crate::workflow::{AccessService, Dependencies, OutboxDispatcher};

/// The backends and rules a [`Rig`] is wired around.
pub struct RigParts {
    pub store: Arc<dyn StateStore>,
    pub identity: Arc<dyn IdentityCenter>,
    pub scheduler: Arc<dyn RevocationScheduler>,
    pub clock: Arc<ManualClock>,
    pub statements: serde_json::Value,
    pub group_statements: serde_json::Value,
    pub requests: RequestSettings,
    /// Audit sinks besides the in-memory one every rig has (e.g. a real S3 sink).
    pub extra_sinks: Vec<Arc<dyn AuditSink>>,
}

/// An [`AccessService`] and an [`OutboxDispatcher`] wired around any backends (fakes, moto,
/// mocked SDK clients), with an in-memory audit sink named `memory` and a recording notifier
/// named `recording`. [`super::Harness`] is a rig on fakes.
pub struct Rig {
    pub service: AccessService,
    pub dispatcher: OutboxDispatcher,
    pub clock: Arc<ManualClock>,
    pub audit: Arc<MemoryAuditSink>,
    pub notifier: Arc<RecordingNotifier>,
    pub metrics: Arc<Metrics>,
    dependencies: Dependencies,
}

impl Rig {
    /// Panics if the rules are invalid: a test's rules are part of the test.
    pub fn new(parts: RigParts) -> Rig {
        let rules =
            liftgate_policy::parse_rules(Some(&parts.statements), Some(&parts.group_statements))
                .unwrap_or_else(|problems| panic!("test rules are invalid: {problems:?}"));
        let audit = Arc::new(MemoryAuditSink::new("memory"));
        let notifier = Arc::new(RecordingNotifier::new("recording"));
        let metrics = Arc::new(Metrics::new());
        let mut sinks: Vec<Arc<dyn AuditSink>> = vec![audit.clone()];
        sinks.extend(parts.extra_sinks);
        let dependencies = Dependencies {
            store: Arc::clone(&parts.store),
            identity: parts.identity,
            scheduler: parts.scheduler,
            clock: parts.clock.clone(),
            rules: Arc::new(rules),
            requests: parts.requests,
            audit_sinks: sinks.iter().map(|sink| sink.name().to_owned()).collect(),
            notifiers: vec!["recording".to_owned()],
            metrics: metrics.clone(),
        };
        let service = AccessService::new(dependencies.clone());
        let dispatcher = OutboxDispatcher::new(
            parts.store,
            parts.clock.clone(),
            sinks,
            vec![notifier.clone()],
            metrics.clone(),
        )
        .with_reviews(service.clone());
        Rig {
            service,
            dispatcher,
            clock: parts.clock,
            audit,
            notifier,
            metrics,
            dependencies,
        }
    }

    /// Another replica: its own service (and lease owner) on the same backends and clock.
    pub fn replica(&self) -> AccessService {
        AccessService::new(self.dependencies.clone())
    }

    /// Delivers every outbox message that is due.
    pub async fn deliver_outbox(&self) {
        while self.dispatcher.dispatch_once().await.unwrap() > 0 {}
    }
}
