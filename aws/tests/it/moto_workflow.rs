//! The real request workflow (SQLite state, local scheduler, manual clock) with the AWS
//! executor on moto: what the gateway does to Identity Center, counted in moto.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use liftgate_gateway::domain::{AccessRequest, Channel, RequestId, RequestStatus};
use liftgate_gateway::ports::RequestQuery;
use liftgate_gateway::scheduler::LocalScheduler;
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::testing::{ManualClock, MemoryAuditSink, Rig, RigParts, person};
use liftgate_gateway::workflow::{
    AccessService, NewRequest, OutboxDispatcher, TargetInput, WorkflowError,
};
use liftgate_policy::Duration;
use liftgate_testkit::moto::{MotoServer, Seed};
use serde_json::json;

use crate::support::identity_on;

const APPROVERS: usize = 10;

struct World {
    _moto: MotoServer,
    seed: Seed,
    service: AccessService,
    clock: Arc<ManualClock>,
    audit: Arc<MemoryAuditSink>,
    dispatcher: OutboxDispatcher,
    prod: String,
    dev: String,
    admin: String,
    read_only: String,
    ops: String,
    /// User ids by name (`requester`, `alice`, …, `approver1`…).
    users: BTreeMap<String, String>,
    _directory: tempfile::TempDir,
}

fn approver_email(n: usize) -> String {
    format!("approver{n}@corp.com")
}

/// An organization with Prod and Dev, permission sets Admin and ReadOnly, group Ops and users
/// requester, alice, bob, carol and approver1..10 @corp.com. Rules: Prod/Admin approved by
/// alice or bob; Dev/ReadOnly needs two of the ten approvers; Ops approved by alice.
async fn world() -> World {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let accounts = seed.organization(&["Prod", "Dev"]).await;
    let admin = seed.permission_set("Admin").await;
    let read_only = seed.permission_set("ReadOnly").await;
    let ops = seed.group("Ops").await;
    let mut users = BTreeMap::new();
    let names = ["requester", "alice", "bob", "carol"]
        .map(str::to_owned)
        .into_iter();
    for name in names.chain((1..=APPROVERS).map(|n| format!("approver{n}"))) {
        let id = seed
            .user(
                &name,
                &format!("{name}@corp.com"),
                &format!("{name} Example"),
            )
            .await;
        users.insert(name, id);
    }
    let (prod, dev) = (accounts[0].id.clone(), accounts[1].id.clone());
    let statements = json!([
        {"ResourceType": "Account", "Resource": [prod], "PermissionSet": "Admin",
         "Approvers": ["alice@corp.com", "bob@corp.com"]},
        {"ResourceType": "Account", "Resource": [dev], "PermissionSet": "ReadOnly",
         "Approvers": (1..=APPROVERS).map(approver_email).collect::<Vec<_>>(), "RequiredApprovals": 2},
    ]);
    let group_statements = json!([{"Resource": [ops], "Approvers": ["alice@corp.com"]}]);
    let identity = Arc::new(identity_on(&moto, &seed, |_, _| {}).await);
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).unwrap());
    let Rig {
        service,
        clock,
        audit,
        dispatcher,
        ..
    } = Rig::new(RigParts {
        store,
        identity,
        scheduler: Arc::new(LocalScheduler),
        clock: Arc::new(ManualClock::at_epoch_seconds(1_800_000_000)),
        statements,
        group_statements,
        requests: Default::default(),
        extra_sinks: Vec::new(),
    });
    World {
        _moto: moto,
        seed,
        service,
        clock,
        audit,
        dispatcher,
        prod,
        dev,
        admin,
        read_only,
        ops,
        users,
        _directory: directory,
    }
}

impl World {
    fn user(&self, name: &str) -> &str {
        &self.users[name]
    }

    async fn ask(
        &self,
        requester: &str,
        target: TargetInput,
    ) -> Result<AccessRequest, WorkflowError> {
        self.service
            .create(NewRequest {
                requester: person(requester),
                target,
                duration: Duration::from_hours(1),
                reason: "incident 42".to_owned(),
                channel: Channel::Webhook,
                start_at: None,
                extends: None,
                idempotency_key: None,
                break_glass: false,
            })
            .await
    }

    fn prod_admin(&self) -> TargetInput {
        TargetInput::Account {
            account_id: self.prod.clone(),
            permission_set: "Admin".to_owned(),
        }
    }

    fn ops_group(&self) -> TargetInput {
        TargetInput::Group {
            group_id: self.ops.clone(),
        }
    }

    async fn approve(&self, id: &RequestId, approver: &str) -> AccessRequest {
        self.service
            .approve(id, &person(approver), Channel::Slack, None)
            .await
            .unwrap()
    }

    async fn deliver_outbox(&self) {
        while self.dispatcher.dispatch_once().await.unwrap() > 0 {}
    }

    /// Moves past every one-hour grant's end and lets the sweeper act.
    async fn end_grants(&self) {
        self.clock.advance(StdDuration::from_secs(2 * 3600));
        self.service.sweep().await.unwrap();
    }

    async fn admin_rows(&self, user: &str) -> usize {
        self.seed
            .user_assignment_count(&self.prod, &self.admin, self.user(user))
            .await
    }

    async fn stored_requests(&self) -> usize {
        let mut count = 0;
        for status in [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Active,
            RequestStatus::Ended,
            RequestStatus::Denied,
            RequestStatus::Expired,
            RequestStatus::Cancelled,
            RequestStatus::Failed,
        ] {
            count += self
                .service
                .store()
                .query_requests(RequestQuery::Status { status, limit: 100 })
                .await
                .unwrap()
                .len();
        }
        count
    }
}

#[tokio::test]
async fn an_approved_assignment_is_granted_once_and_revoked_at_its_end() {
    let world = world().await;
    let request = world
        .ask("requester@corp.com", world.prod_admin())
        .await
        .unwrap();
    assert_eq!(request.status(), RequestStatus::Pending);
    assert_eq!(request.principal_id, world.user("requester"));
    assert_eq!(world.admin_rows("requester").await, 0);

    let approved = world.approve(&request.id, "alice@corp.com").await;
    assert_eq!(approved.status(), RequestStatus::Active);
    assert_eq!(world.admin_rows("requester").await, 1);
    let grant = world
        .service
        .store()
        .get_grant(approved.grant_id.as_ref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        grant.sso_request_id.is_some(),
        "the assignment's request id is kept for the audit trail"
    );

    // A sweep before the end changes nothing.
    world.service.sweep().await.unwrap();
    assert_eq!(world.admin_rows("requester").await, 1);

    world.end_grants().await;
    assert_eq!(world.admin_rows("requester").await, 0);
    assert_eq!(
        world.service.get(&request.id).await.unwrap().status(),
        RequestStatus::Ended
    );

    world.deliver_outbox().await;
    assert_eq!(
        world.audit.events_for(&request.id),
        ["requested", "approved", "granted", "revoked"]
    );
}

#[tokio::test]
async fn a_membership_that_predates_the_grant_survives_its_end_and_a_new_one_does_not() {
    let world = world().await;
    let requester = world.user("requester").to_owned();
    let carol = world.user("carol").to_owned();
    world.seed.membership(&world.ops, &requester).await;

    let preexisting = world
        .ask("requester@corp.com", world.ops_group())
        .await
        .unwrap();
    let fresh = world
        .ask("carol@corp.com", world.ops_group())
        .await
        .unwrap();
    assert_eq!(
        world
            .approve(&preexisting.id, "alice@corp.com")
            .await
            .status(),
        RequestStatus::Active
    );
    assert_eq!(
        world.approve(&fresh.id, "alice@corp.com").await.status(),
        RequestStatus::Active
    );
    assert_eq!(
        world.seed.membership_count(&world.ops, &requester).await,
        1,
        "no second membership"
    );
    assert_eq!(world.seed.membership_count(&world.ops, &carol).await, 1);

    world.end_grants().await;
    assert_eq!(
        world.seed.membership_count(&world.ops, &requester).await,
        1,
        "access from before Liftgate stays"
    );
    assert_eq!(world.seed.membership_count(&world.ops, &carol).await, 0);
    for id in [&preexisting.id, &fresh.id] {
        assert_eq!(
            world.service.get(id).await.unwrap().status(),
            RequestStatus::Ended
        );
    }
    world.deliver_outbox().await;
    assert_eq!(
        world.audit.events_for(&fresh.id),
        ["requested", "approved", "granted", "revoked"]
    );
}

#[tokio::test]
async fn overlapping_grants_keep_the_assignment_until_the_last_one_ends() {
    let world = world().await;
    let first = world
        .ask("requester@corp.com", world.prod_admin())
        .await
        .unwrap();
    let second = world
        .ask("requester@corp.com", world.prod_admin())
        .await
        .unwrap();
    world.approve(&first.id, "alice@corp.com").await;
    world.approve(&second.id, "bob@corp.com").await;
    assert_eq!(
        world.admin_rows("requester").await,
        1,
        "one assignment serves both grants"
    );

    let requester = person("requester@corp.com");
    let ended = world
        .service
        .revoke(&first.id, &requester, Channel::Webhook)
        .await
        .unwrap();
    assert_eq!(ended.status(), RequestStatus::Ended);
    assert_eq!(
        world.admin_rows("requester").await,
        1,
        "the second grant still covers it"
    );

    world
        .service
        .revoke(&second.id, &requester, Channel::Webhook)
        .await
        .unwrap();
    assert_eq!(world.admin_rows("requester").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_of_a_quorum_request_grant_exactly_once() {
    let world = world().await;
    let target = TargetInput::Account {
        account_id: world.dev.clone(),
        permission_set: "ReadOnly".to_owned(),
    };
    let request = world.ask("requester@corp.com", target).await.unwrap();
    assert_eq!(request.required_approvals, 2);

    let tasks: Vec<_> = (1..=APPROVERS)
        .map(|n| {
            let service = world.service.clone();
            let id = request.id.clone();
            tokio::spawn(async move {
                service
                    .approve(&id, &person(&approver_email(n)), Channel::Slack, None)
                    .await
            })
        })
        .collect();
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(error) => assert_eq!(error.code(), "not_pending", "{error}"),
        }
    }

    let done = world.service.get(&request.id).await.unwrap();
    assert_eq!(done.status(), RequestStatus::Active);
    assert!(done.approvals.len() >= 2);
    let requester = world.user("requester");
    assert_eq!(
        world
            .seed
            .user_assignment_count(&world.dev, &world.read_only, requester)
            .await,
        1
    );
}

#[tokio::test]
async fn unknown_accounts_permission_sets_groups_and_users_are_refused_and_nothing_is_stored() {
    let world = world().await;
    let cases = [
        (
            "requester@corp.com",
            TargetInput::Account {
                account_id: "999999999999".to_owned(),
                permission_set: "Admin".to_owned(),
            },
            "unknown_account",
        ),
        (
            "requester@corp.com",
            TargetInput::Account {
                account_id: world.prod.clone(),
                permission_set: "Nope".to_owned(),
            },
            "unknown_permission_set",
        ),
        (
            "requester@corp.com",
            TargetInput::Group {
                group_id: "00000000-0000-0000-0000-000000000000".to_owned(),
            },
            "unknown_group",
        ),
        ("ghost@corp.com", world.prod_admin(), "unknown_user"),
    ];
    for (requester, target, code) in cases {
        let error = world.ask(requester, target.clone()).await.unwrap_err();
        assert_eq!(error.code(), code, "{target:?}: {error}");
    }
    assert_eq!(world.stored_requests().await, 0);
    world.deliver_outbox().await;
    assert!(world.audit.records().is_empty());
    assert_eq!(world.admin_rows("requester").await, 0);
}
