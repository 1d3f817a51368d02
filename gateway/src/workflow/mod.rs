//! The request lifecycle (SPEC §6): create → approve → grant → revoke, with deny, cancel,
//! expiry, extension and failure. Every transition is a compare-and-set in the state store
//! together with its audit records and chat notices (one [`WriteBatch`]), so concurrent or
//! redelivered calls never grant twice and a crash never loses a step. Slow work (AWS) runs
//! after the state that makes it resumable is stored; the sweeper finishes anything a crash
//! interrupted.

mod catalog;
mod create;
mod decide;
mod error;
mod grant;
mod outbox;
mod reconcile;
mod records;
mod sweeper;

use std::sync::Arc;

use liftgate_policy::{Duration, Email, Rules};
use time::OffsetDateTime;

pub use catalog::RequesterFacts;
pub use error::WorkflowError;
pub use outbox::OutboxDispatcher;
pub use reconcile::{
    Finding, FindingOutcome, PASS_LEASE, PruningStrategy, ReconcileError, ReconcileReport,
    Reconciler, ReconcilerTuning, SCHEDULE_LEASE, ScopeSummary,
};
pub use records::{AUDIT_TOPIC_PREFIX, DRIFT_TOPIC_PREFIX, NOTIFY_TOPIC_PREFIX, NoticePayload};
pub use sweeper::SweepReport;

use crate::config::RequestSettings;
use crate::domain::{Channel, GrantId, Person};
use crate::metrics::Metrics;
use crate::ports::{Clock, IdentityCenter, RevocationScheduler, StateStore};

/// What a new request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetInput {
    Account {
        account_id: String,
        permission_set: String,
    },
    Group {
        group_id: String,
    },
}

/// A request as a channel hands it to the core. The requester is a verified identity.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub requester: Person,
    pub target: TargetInput,
    pub duration: Duration,
    pub reason: String,
    pub channel: Channel,
    pub start_at: Option<OffsetDateTime>,
    /// Extend this active grant instead of making a new one.
    pub extends: Option<GrantId>,
    /// Makes creation idempotent: a retry with the same key returns the first request.
    pub idempotency_key: Option<String>,
}

/// Everything the workflow needs, injected.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub store: Arc<dyn StateStore>,
    pub identity: Arc<dyn IdentityCenter>,
    pub scheduler: Arc<dyn RevocationScheduler>,
    pub clock: Arc<dyn Clock>,
    pub rules: Arc<Rules>,
    pub requests: RequestSettings,
    /// Names of the configured audit sinks; each gets its own outbox topic.
    pub audit_sinks: Vec<String>,
    /// Names of the enabled chat notifiers; each gets its own outbox topic.
    pub notifiers: Vec<String>,
    pub metrics: Arc<Metrics>,
}

/// The request workflow. Cheap to clone; every channel adapter holds one.
#[derive(Debug, Clone)]
pub struct AccessService {
    deps: Arc<Dependencies>,
    /// Identifies this replica in leases.
    owner: Arc<str>,
    /// When the sweeper last recounted the active grants for the metrics gauge.
    gauges_refreshed_at: Arc<std::sync::Mutex<Option<OffsetDateTime>>>,
}

/// How many times a compare-and-set loop re-reads and retries before giving up. Contention on
/// one request is bounded by its number of approvers, so this is never reached in practice.
const CAS_ATTEMPTS: usize = 32;

/// How long a replica may hold a grant or an access key before another may take over.
const LEASE: time::Duration = time::Duration::seconds(120);

impl AccessService {
    pub fn new(deps: Dependencies) -> AccessService {
        AccessService {
            deps: Arc::new(deps),
            owner: format!("replica-{}", uuid::Uuid::new_v4()).into(),
            gauges_refreshed_at: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.deps.rules
    }

    pub fn settings(&self) -> &RequestSettings {
        &self.deps.requests
    }

    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.deps.store
    }

    pub fn identity(&self) -> &Arc<dyn IdentityCenter> {
        &self.deps.identity
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.deps.clock
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.deps.metrics
    }

    fn now(&self) -> OffsetDateTime {
        self.deps.clock.now()
    }

    /// The facts the policy needs about a stored request's requester.
    fn requester_of<'a>(
        email: &'a Email,
        groups: &'a std::collections::BTreeSet<String>,
    ) -> liftgate_policy::Requester<'a> {
        liftgate_policy::Requester { email, groups }
    }
}
