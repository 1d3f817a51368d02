//! The interleavings that once left permanent access behind, or answered what the store had
//! not recorded, each replayed deterministically: an Identity Center call is held at a gate
//! while the other party acts, then released.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use liftgate_gateway::config::RequestSettings;
use liftgate_gateway::domain::{AccessKey, Channel, GrantStatus, RequestId, RequestStatus};
use liftgate_gateway::ports::{
    AccountInfo, Clock, DirectoryUser, GroupInfo, IdentityCenter, IdentityError, ProvisionReceipt,
    StateStore,
};
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::testing::{
    FakeFailure, FakeIdentityCenter, ManualClock, PROD, RecordingScheduler, Rig, RigParts, person,
};
use liftgate_gateway::workflow::{
    ACCESS_LEASE_TTL, AccessService, NewRequest, TargetInput, WorkflowError,
};
use liftgate_policy::{Duration, Email};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

/// Holds the next call of an operation until released.
#[derive(Debug, Default)]
struct Gates {
    held: Mutex<BTreeMap<&'static str, Arc<Gate>>>,
}

#[derive(Debug)]
struct Gate {
    reached: Notify,
    release: Semaphore,
}

impl Gates {
    /// The next call of `operation` waits until [`Gate::open`].
    fn hold(&self, operation: &'static str) -> Arc<Gate> {
        let gate = Arc::new(Gate {
            reached: Notify::new(),
            release: Semaphore::new(0),
        });
        self.held.lock().insert(operation, gate.clone());
        gate
    }

    async fn pass(&self, operation: &'static str) {
        let gate = self.held.lock().remove(operation);
        if let Some(gate) = gate {
            gate.reached.notify_one();
            let _permit = gate.release.acquire().await;
        }
    }
}

impl Gate {
    async fn reached(&self) {
        self.reached.notified().await;
    }

    fn open(&self) {
        self.release.add_permits(1);
    }
}

/// The fake Identity Center with gates in front of the calls the defects turn on.
#[derive(Debug)]
struct GatedIdentity {
    inner: Arc<FakeIdentityCenter>,
    gates: Gates,
}

#[async_trait]
impl IdentityCenter for GatedIdentity {
    async fn find_user(&self, email: &Email) -> Result<Option<DirectoryUser>, IdentityError> {
        self.inner.find_user(email).await
    }
    async fn member_groups(
        &self,
        user_id: &str,
        candidates: &std::collections::BTreeSet<String>,
    ) -> Result<std::collections::BTreeSet<String>, IdentityError> {
        self.inner.member_groups(user_id, candidates).await
    }
    async fn describe_account(&self, id: &str) -> Result<Option<AccountInfo>, IdentityError> {
        self.inner.describe_account(id).await
    }
    async fn list_accounts(&self) -> Result<Vec<AccountInfo>, IdentityError> {
        self.inner.list_accounts().await
    }
    async fn permission_set_arn(&self, name: &str) -> Result<Option<String>, IdentityError> {
        self.inner.permission_set_arn(name).await
    }
    async fn list_permission_sets(&self) -> Result<Vec<String>, IdentityError> {
        self.inner.list_permission_sets().await
    }
    async fn describe_group(&self, id: &str) -> Result<Option<GroupInfo>, IdentityError> {
        self.inner.describe_group(id).await
    }
    async fn assignment_exists(
        &self,
        account: &str,
        arn: &str,
        user: &str,
    ) -> Result<bool, IdentityError> {
        self.gates.pass("assignment_exists").await;
        self.inner.assignment_exists(account, arn, user).await
    }
    async fn create_assignment(
        &self,
        account: &str,
        arn: &str,
        user: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        self.gates.pass("create_assignment").await;
        self.inner.create_assignment(account, arn, user).await
    }
    async fn delete_assignment(
        &self,
        account: &str,
        arn: &str,
        user: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        self.gates.pass("delete_assignment").await;
        self.inner.delete_assignment(account, arn, user).await
    }
    async fn find_membership(
        &self,
        group: &str,
        user: &str,
    ) -> Result<Option<String>, IdentityError> {
        self.inner.find_membership(group, user).await
    }
    async fn add_membership(&self, group: &str, user: &str) -> Result<String, IdentityError> {
        IdentityCenter::add_membership(self.inner.as_ref(), group, user).await
    }
    async fn delete_membership(&self, membership: &str) -> Result<(), IdentityError> {
        self.inner.delete_membership(membership).await
    }
}

struct World {
    rig: Rig,
    fake: Arc<FakeIdentityCenter>,
    identity: Arc<GatedIdentity>,
    scheduler: Arc<RecordingScheduler>,
    store: Arc<SqliteStore>,
    _directory: tempfile::TempDir,
}

/// Self-service Admin on Prod (granted without approval).
fn world() -> World {
    world_with(json!([{
        "ResourceType": "Account", "Resource": [PROD], "PermissionSet": "Admin",
        "Approvers": ["alice@corp.com"], "ApprovalIsNotRequired": true
    }]))
}

fn world_with(statements: serde_json::Value) -> World {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).unwrap());
    let fake = Arc::new(FakeIdentityCenter::new());
    fake.add_account(PROD, "Prod");
    fake.add_permission_set("Admin");
    for name in ["requester", "alice"] {
        fake.add_user(&format!("{name}@corp.com"), &format!("u-{name}"));
    }
    let identity = Arc::new(GatedIdentity {
        inner: fake.clone(),
        gates: Gates::default(),
    });
    let scheduler = Arc::new(RecordingScheduler::new());
    let rig = Rig::new(RigParts {
        store: store.clone(),
        identity: identity.clone(),
        scheduler: scheduler.clone(),
        clock: Arc::new(ManualClock::at_epoch_seconds(1_800_000_000)),
        statements,
        group_statements: json!([]),
        requests: RequestSettings::default(),
        extra_sinks: Vec::new(),
    });
    World {
        rig,
        fake,
        identity,
        scheduler,
        store,
        _directory: directory,
    }
}

fn admin_on_prod(hours: u64) -> NewRequest {
    NewRequest {
        requester: person("requester@corp.com"),
        target: TargetInput::Account {
            account_id: PROD.to_owned(),
            permission_set: "Admin".to_owned(),
        },
        duration: Duration::from_hours(hours),
        reason: "incident".to_owned(),
        channel: Channel::Webhook,
        start_at: None,
        extends: None,
        idempotency_key: None,
        break_glass: false,
    }
}

impl World {
    fn service(&self) -> AccessService {
        self.rig.service.clone()
    }

    fn held(&self) -> u32 {
        self.fake.assignment_count(PROD, "Admin", "u-requester")
    }

    fn key() -> AccessKey {
        AccessKey::account(PROD, "Admin", "u-requester")
    }

    fn advance(&self, by: StdDuration) {
        self.rig.clock.advance(by);
    }

    async fn status(&self, id: &RequestId) -> RequestStatus {
        self.store.get_request(id).await.unwrap().unwrap().status()
    }

    async fn grant_status(&self, id: &RequestId) -> GrantStatus {
        let request = self.store.get_request(id).await.unwrap().unwrap();
        let grant = request.grant_id.unwrap();
        self.store
            .get_grant(&grant)
            .await
            .unwrap()
            .unwrap()
            .status()
    }

    /// Sweeps until nothing is left that is due now.
    async fn settle(&self) {
        for _ in 0..5 {
            self.rig.service.sweep().await.unwrap();
        }
    }

    /// Lets the end of every grant pass, sweeping, then the quarantine of retired records.
    async fn end_everything(&self) {
        self.advance(StdDuration::from_secs(13 * 3600));
        self.settle().await;
        self.advance(StdDuration::from_secs(3600));
        self.settle().await;
        assert!(
            self.store
                .get_access(&World::key())
                .await
                .unwrap()
                .is_none(),
            "the ledger record is gone once everything ended"
        );
    }
}

/// Defect 1: a revoke while `CreateAccountAssignment` is in flight. It used to find nothing to
/// delete, commit `revoked`, and then the create landed: permanent access with no grant.
#[tokio::test]
async fn a_revoke_while_the_assignment_is_being_created_removes_it_once_made() {
    let w = world();
    let create = w.identity.gates.hold("create_assignment");
    let service = w.service();
    let creating = tokio::spawn(async move { service.create(admin_on_prod(1)).await });
    create.reached().await;
    let id = w
        .store
        .query_requests(liftgate_gateway::ports::RequestQuery::Status {
            status: RequestStatus::Approved,
            limit: 10,
        })
        .await
        .unwrap()[0]
        .id
        .clone();

    // The revoke records the end and waits for the lease the provisioner holds.
    let service = w.service();
    let revoking = tokio::spawn({
        let id = id.clone();
        async move {
            service
                .revoke(&id, &person("requester@corp.com"), Channel::Webhook)
                .await
        }
    });
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    assert!(
        !revoking.is_finished(),
        "the revoke waits for the provisioner"
    );
    create.open();
    creating.await.unwrap().unwrap();
    let answer = revoking.await.unwrap().unwrap();

    assert_eq!(w.held(), 0, "the provisioner removed what it had just made");
    assert_eq!(answer.status(), RequestStatus::Cancelled, "{answer:?}");
    assert_eq!(w.status(&id).await, RequestStatus::Cancelled);
    assert_eq!(w.grant_status(&id).await, GrantStatus::Failed);
    assert!(w.scheduler.timers().is_empty());
    w.end_everything().await;
    assert_eq!(w.held(), 0);
}

/// Defect 2: G2's existence check failed retryably while G1 ended early; G2's retry then saw
/// access no grant covered and called it pre-existing, so it was never removed.
#[tokio::test]
async fn an_overlapping_grant_whose_check_failed_never_launders_the_access() {
    let w = world();
    let service = w.service();
    let first = service.create(admin_on_prod(1)).await.unwrap();
    assert_eq!(first.status(), RequestStatus::Active);
    w.fake
        .fail_next("assignment_exists", FakeFailure::Throttled);
    let second = service.create(admin_on_prod(2)).await.unwrap();
    assert_eq!(
        second.status(),
        RequestStatus::Approved,
        "provisioning, deferred"
    );

    let ended = service
        .revoke(&first.id, &person("requester@corp.com"), Channel::Webhook)
        .await
        .unwrap();
    assert_eq!(ended.status(), RequestStatus::Ended);
    assert_eq!(w.held(), 1, "the second grant still holds the access");
    assert_eq!(
        w.scheduler.timers().get(&World::key()).copied(),
        w.store
            .get_request(&second.id)
            .await
            .unwrap()
            .unwrap()
            .ends_at,
        "the one timer moved to the grant that still covers the access"
    );

    w.advance(StdDuration::from_secs(30));
    w.settle().await;
    assert_eq!(w.status(&second.id).await, RequestStatus::Active);
    let grant = w
        .store
        .get_grant(
            &w.store
                .get_request(&second.id)
                .await
                .unwrap()
                .unwrap()
                .grant_id
                .unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        !grant.preexisting,
        "Liftgate made this access; it is never pre-existing"
    );

    w.end_everything().await;
    assert_eq!(
        w.held(),
        0,
        "access Liftgate created is removed once no grant covers it"
    );
}

/// Defect 3: G1 on pre-existing access stuck before its check; G2 granted meanwhile treated
/// the unset flag as proof the access was Liftgate's and the last end deleted it.
#[tokio::test]
async fn access_that_predates_liftgate_survives_every_grant_on_it() {
    let w = world();
    w.fake.add_assignment(PROD, "Admin", "u-requester");
    w.fake
        .fail_next("assignment_exists", FakeFailure::Throttled);
    let service = w.service();
    let first = service.create(admin_on_prod(1)).await.unwrap();
    assert_eq!(first.status(), RequestStatus::Approved, "its check failed");
    let second = service.create(admin_on_prod(2)).await.unwrap();
    assert_eq!(second.status(), RequestStatus::Active);
    w.settle().await;
    assert_eq!(w.status(&first.id).await, RequestStatus::Active);
    assert!(
        w.scheduler.timers().is_empty(),
        "no timer for access that predates Liftgate"
    );

    w.end_everything().await;
    assert_eq!(w.held(), 1, "the person's standing access is untouched");
    assert_eq!(w.fake.calls("delete_assignment"), 0);
}

/// Defect 4: two grants of one access in one process at once. The per-access lock did not
/// exclude tasks of one replica, so the slow check of one saw the other's assignment.
#[tokio::test]
async fn two_grants_of_one_access_in_one_process_take_turns() {
    let w = world();
    let check = w.identity.gates.hold("assignment_exists");
    let service = w.service();
    let first = tokio::spawn({
        let service = service.clone();
        async move { service.create(admin_on_prod(1)).await }
    });
    check.reached().await;
    // The second grant joins the same ledger record while the first check is held.
    let second = tokio::spawn({
        let service = service.clone();
        async move { service.create(admin_on_prod(2)).await }
    });
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    assert_eq!(
        w.fake.calls("create_assignment"),
        0,
        "nothing is created before the check"
    );
    check.open();
    let first = first.await.unwrap().unwrap();
    let second = second.await.unwrap().unwrap();
    w.settle().await;
    assert_eq!(w.status(&first.id).await, RequestStatus::Active);
    assert_eq!(w.status(&second.id).await, RequestStatus::Active);
    assert_eq!(
        w.fake.calls("create_assignment"),
        1,
        "created once, for both"
    );
    w.end_everything().await;
    assert_eq!(w.held(), 0);
}

/// Defect 5: a process killed mid-change left its lock for 120 s; a grant approved meanwhile
/// could not take it, failed past its end and kept what the dead process had created. Now the
/// dead holder's lease is taken over one time to live after a live replica first sees it, and
/// the live replica finishes the dead one's work.
#[tokio::test]
async fn a_dead_replicas_work_is_resumed_within_fifteen_seconds() {
    let w = world();
    let create = w.identity.gates.hold("create_assignment");
    let doomed = w.rig.replica();
    let killed = tokio::spawn(async move { doomed.create(admin_on_prod(1)).await });
    create.reached().await;
    // kill -9 while CreateAccountAssignment is on the wire: the call lands, nothing after it
    // runs, and the lease is never released nor renewed.
    killed.abort();
    let _ = killed.await;
    w.fake.add_assignment(PROD, "Admin", "u-requester");
    let request = w
        .store
        .query_requests(liftgate_gateway::ports::RequestQuery::Status {
            status: RequestStatus::Approved,
            limit: 10,
        })
        .await
        .unwrap()
        .remove(0);

    // The restarted process (or another replica) sweeps every 5 s, the default interval.
    let started = w.rig.clock.now();
    while w.status(&request.id).await != RequestStatus::Active {
        assert!(
            w.rig.clock.now() - started <= time::Duration::seconds(15),
            "the dead replica's work was not resumed within 15 s"
        );
        w.advance(StdDuration::from_secs(5));
        w.rig.service.sweep().await.unwrap();
    }
    assert!(ACCESS_LEASE_TTL <= StdDuration::from_secs(10));
    assert_eq!(w.held(), 1, "verified, not created twice");
    w.end_everything().await;
    assert_eq!(
        w.held(),
        0,
        "nothing the dead replica made outlives the grant"
    );
}

/// Defect 6: a grant made while an early revoke's delete was in flight became active without
/// creating anything, then the delete landed: told it had access it did not have.
#[tokio::test]
async fn a_grant_made_while_the_access_is_being_removed_gets_it_back() {
    let w = world();
    let service = w.service();
    let first = service.create(admin_on_prod(1)).await.unwrap();
    assert_eq!(w.held(), 1);
    let delete = w.identity.gates.hold("delete_assignment");
    let revoking = tokio::spawn({
        let service = service.clone();
        let id = first.id.clone();
        async move {
            service
                .revoke(&id, &person("requester@corp.com"), Channel::Webhook)
                .await
        }
    });
    delete.reached().await;
    let second = tokio::spawn({
        let service = service.clone();
        async move { service.create(admin_on_prod(2)).await }
    });
    tokio::time::sleep(StdDuration::from_millis(50)).await;
    delete.open();
    revoking.await.unwrap().unwrap();
    let second = second.await.unwrap().unwrap();
    w.settle().await;
    assert_eq!(w.status(&second.id).await, RequestStatus::Active);
    assert_eq!(
        w.held(),
        1,
        "the access exists for the grant that says it is active"
    );
    w.end_everything().await;
    assert_eq!(w.held(), 0);
}

/// A revoke whose access change cannot finish now answers with what is stored: still active,
/// with the end recorded and in progress; never `ended` before the access is gone.
#[tokio::test]
async fn a_revoke_that_cannot_finish_now_says_it_is_in_progress() {
    let w = world();
    let service = w.service();
    let request = service.create(admin_on_prod(1)).await.unwrap();
    w.fake
        .fail_next("delete_assignment", FakeFailure::Unavailable);
    let answer = service
        .revoke(&request.id, &person("requester@corp.com"), Channel::Webhook)
        .await
        .unwrap();
    assert_eq!(answer.status(), RequestStatus::Active);
    assert!(answer.is_ending(), "the answer says the end is in progress");
    assert_eq!(w.held(), 1, "and it is: the access is still there");
    w.advance(StdDuration::from_secs(30));
    w.settle().await;
    assert_eq!(w.status(&request.id).await, RequestStatus::Ended);
    assert_eq!(w.held(), 0);
}

/// Approvals after `expires_at` are refused at once, not counted until the sweeper runs.
#[tokio::test]
async fn an_approval_after_the_expiry_is_refused() {
    let w = world_with(json!([{
        "ResourceType": "Account", "Resource": [PROD], "PermissionSet": "Admin",
        "Approvers": ["alice@corp.com"]
    }]));
    let service = w.service();
    let pending = service.create(admin_on_prod(1)).await.unwrap();
    assert_eq!(pending.status(), RequestStatus::Pending);
    w.advance(StdDuration::from_secs(8 * 3600));
    let late = service
        .approve(&pending.id, &person("alice@corp.com"), Channel::Slack, None)
        .await;
    assert!(
        matches!(
            &late,
            Err(WorkflowError::Conflict {
                code: "expired",
                ..
            })
        ),
        "{late:?}"
    );
    assert_eq!(
        w.status(&pending.id).await,
        RequestStatus::Pending,
        "nothing changed"
    );
    assert_eq!(w.held(), 0);
}

/// Code review: extending the earlier-ending of two overlapping grants left the other grant's
/// EventBridge schedule in place, which removed the shared access while the extended grant
/// was still active. There is one timer per access now, at the latest end of its grants.
#[tokio::test]
async fn extending_the_earlier_of_two_overlapping_grants_moves_the_one_timer() {
    let w = world();
    let service = w.service();
    let early = service.create(admin_on_prod(1)).await.unwrap();
    let late = service.create(admin_on_prod(2)).await.unwrap();
    assert_eq!(w.status(&early.id).await, RequestStatus::Active);
    assert_eq!(w.status(&late.id).await, RequestStatus::Active);
    let late_end = w
        .store
        .get_request(&late.id)
        .await
        .unwrap()
        .unwrap()
        .ends_at
        .unwrap();
    assert_eq!(
        w.scheduler.timers().into_iter().collect::<Vec<_>>(),
        [(World::key(), late_end)],
        "one timer for the shared access, at the later end"
    );

    let early_grant = w
        .store
        .get_request(&early.id)
        .await
        .unwrap()
        .unwrap()
        .grant_id
        .unwrap();
    let extension = service
        .create(NewRequest {
            extends: Some(early_grant),
            ..admin_on_prod(3)
        })
        .await
        .unwrap();
    assert_eq!(extension.status(), RequestStatus::Active);
    let extended_end = w
        .store
        .get_request(&early.id)
        .await
        .unwrap()
        .unwrap()
        .ends_at
        .unwrap();
    assert!(extended_end > late_end);
    assert_eq!(
        w.scheduler.timers().into_iter().collect::<Vec<_>>(),
        [(World::key(), extended_end)],
        "the one timer moved to the extended end; none is left at the other grant's end"
    );

    // Past the other grant's end: it ends, the access stays for the extended grant.
    w.advance(StdDuration::from_secs(2 * 3600 + 60));
    w.settle().await;
    assert!(
        w.scheduler.take_due(w.rig.clock.now()).is_empty(),
        "no timer fires"
    );
    assert_eq!(w.status(&late.id).await, RequestStatus::Ended);
    assert_eq!(w.status(&early.id).await, RequestStatus::Active);
    assert_eq!(w.held(), 1);

    w.end_everything().await;
    assert_eq!(w.held(), 0);
    assert_eq!(w.status(&early.id).await, RequestStatus::Ended);
}
