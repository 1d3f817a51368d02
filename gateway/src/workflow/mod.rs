//! The request lifecycle (docs/reference.md, "Lifecycle"): create → approve → grant →
//! revoke, with deny, cancel, expiry, extension and failure. The moves themselves are pure
//! transitions in [`crate::domain::lifecycle`]; this module reads what they need, commits them
//! through one compare-and-set loop ([`commit`]) together with their audit records and chat
//! notices, and carries out their AWS effects under the access key's lease ([`settle`]). A
//! crash at any point leaves every grant revoked on time or still tracked; the sweeper finishes
//! anything a crash interrupted.

mod activity;
mod break_glass;
mod catalog;
mod commit;
mod create;
mod decide;
mod error;
mod inbox;
pub mod lease;
mod outbox;
mod rate_limit;
mod reconcile;
mod records;
mod session_check;
mod sessions;
mod settle;
mod sweeper;

use std::sync::Arc;

use liftgate_policy::{Duration, Email, Rules};
use time::OffsetDateTime;

pub use activity::{
    ACTIVITY_NOTICE_PREFIX, ACTIVITY_QUERY_TOPIC, ActivitySummarizer, DEFAULT_DELAY, DELIVERY_LAG,
    MAX_QUERY_ATTEMPTS, PendingSummary, activity_record,
};
pub use break_glass::REVIEW_TOPIC;
pub use catalog::RequesterFacts;
pub use decide::Action;
pub use error::WorkflowError;
pub use inbox::{AckedWork, INBOX_GRACE, INBOX_MAX_AGE, INBOX_TOPIC_PREFIX};
pub use lease::{HeldLease, LeaseError, Leases};
pub use outbox::OutboxDispatcher;
pub use reconcile::{
    Finding, FindingOutcome, PASS_LEASE, PruningStrategy, ReconcileError, ReconcileReport,
    Reconciler, ReconcilerTuning, SCHEDULE_DOCUMENT, ScopeSummary,
};
pub use records::{AUDIT_TOPIC_PREFIX, DRIFT_TOPIC_PREFIX, NOTIFY_TOPIC_PREFIX, NoticePayload};
pub use session_check::{session_duration_check, session_duration_warnings};
pub use sessions::{
    EXPIRE_TOPIC, PendingExpiry, PendingRevocation, REVOKE_TOPIC, SESSIONS_TOPIC_PREFIX,
    SessionRevoker, SessionsRevocation,
};
pub use settle::{ACCESS_LEASE_TTL, SettleReport, Settled};
pub use sweeper::SweepReport;

use crate::config::RequestSettings;
use crate::domain::{Channel, GrantId, Person};
use crate::metrics::Metrics;
use crate::ports::{Clock, IdentityCenter, RevocationScheduler, StateStore};

/// What a new request asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewRequest {
    pub requester: Person,
    pub target: TargetInput,
    pub duration: Duration,
    pub reason: String,
    pub channel: Channel,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start_at: Option<OffsetDateTime>,
    /// Extend this active grant instead of making a new one.
    pub extends: Option<GrantId>,
    /// Makes creation idempotent: a retry with the same key returns the first request.
    pub idempotency_key: Option<String>,
    /// Break the glass: decided over the `BreakGlass` statements only, granted at once when
    /// one admits the requester, reviewed afterwards (docs/reference.md §3).
    #[serde(default)]
    pub break_glass: bool,
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

/// The request workflow of one replica. Cheap to clone; every channel adapter holds one.
#[derive(Debug, Clone)]
pub struct AccessService {
    deps: Arc<Dependencies>,
    /// This replica's leases (each acquisition has its own owner).
    leases: Arc<Leases>,
    /// When the sweeper last recounted the active grants for the metrics gauge.
    gauges_refreshed_at: Arc<parking_lot::Mutex<Option<OffsetDateTime>>>,
    /// Set when activity summaries are on: ended grants schedule one.
    activity: Option<activity::ActivitySchedule>,
}

/// How long a create or an approval waits for the access key's lease before answering with
/// what is stored (the grant then completes in the background or on the next sweep).
const REQUEST_SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a revoke waits for the access key's lease (an end asked for while the access is
/// being created is carried out by the task creating it).
const REVOKE_SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl AccessService {
    pub fn new(deps: Dependencies) -> AccessService {
        let replica = format!("replica-{}", uuid::Uuid::new_v4());
        let leases = Leases::new(Arc::clone(&deps.store), Arc::clone(&deps.clock), replica);
        AccessService {
            deps: Arc::new(deps),
            leases: Arc::new(leases),
            gauges_refreshed_at: Arc::new(parking_lot::Mutex::new(None)),
            activity: None,
        }
    }

    /// This replica's leases, for other components that must act alone (reconciliation,
    /// keeping chat messages current).
    pub fn leases(&self) -> &Arc<Leases> {
        &self.leases
    }

    fn timing(&self) -> crate::domain::lifecycle::Timing {
        let requests = &self.deps.requests;
        crate::domain::lifecycle::Timing {
            max_duration: requests.max_duration,
            expiration: requests.expiration,
            reminders: requests.reminders,
            reminder_initial_wait: requests.reminder_initial_wait,
            reminder_backoff: requests.reminder_backoff,
            break_glass_review: requests.break_glass_review,
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
