use std::sync::Arc;

use liftgate_policy::Email;
use time::OffsetDateTime;

use super::{
    FakeIdentityCenter, FakePermissionSetPolicies, ManualClock, MemoryAuditSink, RecordingNotifier,
    RecordingScheduler, Rig, RigParts,
};
use crate::config::RequestSettings;
use crate::domain::{AccessRequest, Grant, GrantStatus, Person, RequestId, RequestStatus};
use crate::metrics::Metrics;
use crate::ports::StateStore;
use crate::store::SqliteStore;
use crate::workflow::{AccessService, OutboxDispatcher, SessionRevoker, SweepReport};

pub const PROD: &str = "111111111111";
pub const DEV: &str = "222222222222";
pub const OPS_GROUP: &str = "11111111-2222-3333-4444-555555555555";

/// A person known only by email.
pub fn person(email: &str) -> Person {
    Person::from_email(Email::parse(email).unwrap())
}

#[derive(Debug, Clone)]
pub struct HarnessOptions {
    pub statements: serde_json::Value,
    pub group_statements: serde_json::Value,
    pub requests: RequestSettings,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            statements: serde_json::json!([]),
            group_statements: serde_json::json!([]),
            requests: RequestSettings::default(),
        }
    }
}

/// A complete workflow on fakes: SQLite in a temporary directory, a fake Identity Center with
/// a small organization, a manual clock, a recording scheduler, an in-memory audit sink and a
/// recording notifier.
pub struct Harness {
    pub service: AccessService,
    pub store: Arc<SqliteStore>,
    pub identity: Arc<FakeIdentityCenter>,
    /// Inline policies and provisioning of permission sets (`RevokeSessions`).
    pub policies: Arc<FakePermissionSetPolicies>,
    pub scheduler: Arc<RecordingScheduler>,
    pub clock: Arc<ManualClock>,
    pub audit: Arc<MemoryAuditSink>,
    pub notifier: Arc<RecordingNotifier>,
    pub dispatcher: OutboxDispatcher,
    pub metrics: Arc<Metrics>,
    pub directory: tempfile::TempDir,
    rig: Rig,
}

impl Harness {
    /// The organization: accounts Prod (111111111111) and Dev (222222222222); permission sets
    /// Admin and ReadOnly; group Ops; users requester, alice, bob, carol and dave @corp.com
    /// (user ids `u-<name>`).
    pub fn new(options: HarnessOptions) -> Harness {
        let directory = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).unwrap());
        Self::with_store(options, store, directory)
    }

    pub fn with_store(
        options: HarnessOptions,
        store: Arc<SqliteStore>,
        directory: tempfile::TempDir,
    ) -> Harness {
        let identity = Arc::new(FakeIdentityCenter::new());
        identity.add_account(PROD, "Prod");
        identity.add_account(DEV, "Dev");
        identity.add_permission_set("Admin");
        identity.add_permission_set("ReadOnly");
        identity.add_group(OPS_GROUP, "Ops");
        for name in ["requester", "alice", "bob", "carol", "dave"] {
            identity.add_user(&format!("{name}@corp.com"), &format!("u-{name}"));
        }
        let scheduler = Arc::new(RecordingScheduler::new());
        let rig = Rig::new(RigParts {
            store: store.clone(),
            identity: identity.clone(),
            scheduler: scheduler.clone(),
            clock: Arc::new(ManualClock::at_epoch_seconds(1_800_000_000)),
            statements: options.statements,
            group_statements: options.group_statements,
            requests: options.requests,
            extra_sinks: Vec::new(),
        });
        let Rig {
            service,
            dispatcher,
            clock,
            audit,
            notifier,
            metrics,
            ..
        } = &rig;
        let policies = Arc::new(FakePermissionSetPolicies::new());
        let (service, dispatcher, clock, audit, notifier, metrics) = (
            service.clone(),
            dispatcher
                .clone()
                .with_session_revoker(SessionRevoker::new(service.clone(), policies.clone())),
            clock.clone(),
            audit.clone(),
            notifier.clone(),
            metrics.clone(),
        );
        Harness {
            service,
            store,
            identity,
            policies,
            scheduler,
            clock,
            audit,
            notifier,
            dispatcher,
            metrics,
            directory,
            rig,
        }
    }

    /// Another replica: its own service (and lease owner) on the same store, Identity Center,
    /// scheduler and clock.
    pub fn replica(&self) -> AccessService {
        self.rig.replica()
    }

    /// An outbox dispatcher of `service` (a replica's), ending sessions through it.
    pub fn dispatcher_for(&self, service: &AccessService) -> OutboxDispatcher {
        self.rig
            .dispatcher
            .clone()
            .with_session_revoker(SessionRevoker::new(service.clone(), self.policies.clone()))
    }

    /// Delivers every outbox message that is due, through `self.dispatcher` (tests may swap
    /// it for one with their own notifiers).
    pub async fn deliver_outbox(&self) {
        while self.dispatcher.dispatch_once().await.unwrap() > 0 {}
    }

    pub async fn sweep(&self) -> SweepReport {
        self.service.sweep().await.unwrap()
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.clock.advance(by);
    }

    /// Every stored request, oldest first.
    pub async fn all_requests(&self) -> Vec<AccessRequest> {
        let mut all = Vec::new();
        for status in RequestStatus::ALL {
            all.extend(
                self.store
                    .query_requests(crate::ports::RequestQuery::Status {
                        status,
                        limit: 1000,
                    })
                    .await
                    .unwrap(),
            );
        }
        all.sort_by_key(|request| request.created_at);
        all
    }

    pub async fn request(&self, id: &RequestId) -> AccessRequest {
        self.store.get_request(id).await.unwrap().unwrap()
    }

    pub async fn grant_of(&self, id: &RequestId) -> Grant {
        let request = self.request(id).await;
        let grant_id = request.grant_id.expect("the request has no grant");
        self.store.get_grant(&grant_id).await.unwrap().unwrap()
    }
}

/// A minimal stored request, for store tests.
pub fn sample_request(status: RequestStatus, created_at: OffsetDateTime) -> AccessRequest {
    AccessRequest::for_tests(status, created_at)
}

/// A minimal stored grant, for store tests.
pub fn sample_grant(status: GrantStatus, principal: &str, ends_at: OffsetDateTime) -> Grant {
    Grant::for_tests(status, principal, ends_at)
}
