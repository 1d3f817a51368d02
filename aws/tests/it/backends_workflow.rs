//! The request workflow on all production backends at once, on one moto: DynamoDB state,
//! EventBridge revocation timers, the S3 audit sink and the Identity Center executor.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use liftgate_aws::scheduler::{at_expression, schedule_name};
use liftgate_aws::{
    AwsClients, DynamoStore, EventBridgeScheduler, OrphanReport, S3AuditConfig, S3AuditSink,
};
use liftgate_gateway::domain::{
    Channel, Grant, GrantStatus, GrantTarget, RequestId, RequestStatus,
};
use liftgate_gateway::ports::StateStore;
use liftgate_gateway::testing::{ManualClock, Rig, RigParts, person};
use liftgate_gateway::workflow::{AccessService, NewRequest, OutboxDispatcher, TargetInput};
use liftgate_policy::Duration;
use liftgate_testkit::moto::{MotoServer, REGION, Seed};
use serde_json::json;

use crate::dynamodb::store_config;
use crate::support::{identity_on, scheduler_config};

const BUCKET: &str = "liftgate-audit";

const LIFECYCLE: &[&str] = &["requested", "approved", "granted", "revoked"];

struct World {
    _moto: MotoServer,
    seed: Seed,
    clients: AwsClients,
    store: Arc<DynamoStore>,
    scheduler: Arc<EventBridgeScheduler>,
    service: AccessService,
    dispatcher: OutboxDispatcher,
    clock: Arc<ManualClock>,
    prod: String,
    admin: String,
    ops: String,
    requester: String,
}

async fn world() -> World {
    let moto = MotoServer::start_serialized();
    let seed = moto.seed().await;
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    let prod = seed.organization(&["Prod"]).await.remove(0).id;
    let admin = seed.permission_set("Admin").await;
    let ops = seed.group("Ops").await;
    let requester = seed
        .user("requester", "requester@corp.com", "Requester Example")
        .await;
    seed.user("alice", "alice@corp.com", "Alice Example").await;
    let statements = json!([{"ResourceType": "Account", "Resource": [prod],
        "PermissionSet": "Admin", "Approvers": ["alice@corp.com"]}]);
    let group_statements = json!([{"Resource": [ops], "Approvers": ["alice@corp.com"]}]);

    let clock = Arc::new(ManualClock::at_epoch_seconds(1_800_000_000));
    let store = Arc::new(DynamoStore::new(&clients, store_config()).with_clock(clock.clone()));
    store.ensure_table().await.unwrap();
    let scheduler =
        Arc::new(EventBridgeScheduler::new(&clients, scheduler_config(&seed, |_| {})).unwrap());
    scheduler.ensure_group().await.unwrap();
    clients
        .s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let sink = Arc::new(S3AuditSink::new(
        "s3",
        &clients,
        S3AuditConfig::new(BUCKET, None, None),
    ));
    let identity = Arc::new(identity_on(&moto, &seed, |_, _| {}).await);
    let Rig {
        service,
        dispatcher,
        ..
    } = Rig::new(RigParts {
        store: store.clone(),
        identity,
        scheduler: scheduler.clone(),
        clock: clock.clone(),
        statements,
        group_statements,
        requests: Default::default(),
        extra_sinks: vec![sink],
    });
    World {
        _moto: moto,
        seed,
        clients,
        store,
        scheduler,
        service,
        dispatcher,
        clock,
        prod,
        admin,
        ops,
        requester,
    }
}

impl World {
    async fn grant_approved(&self, target: TargetInput) -> (RequestId, Grant) {
        let request = self
            .service
            .create(NewRequest {
                requester: person("requester@corp.com"),
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
            .unwrap();
        assert_eq!(request.status(), RequestStatus::Pending);
        let approved = self
            .service
            .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
            .await
            .unwrap();
        assert_eq!(approved.status(), RequestStatus::Active);
        let grant = self
            .store
            .get_grant(approved.grant_id.as_ref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grant.status(), GrantStatus::Active);
        (request.id, grant)
    }

    /// The grant's schedule: its expression and its target input.
    async fn schedule_of(&self, grant: &Grant) -> Option<(String, serde_json::Value)> {
        let result = self
            .clients
            .scheduler
            .get_schedule()
            .name(schedule_name(&grant.access_key()))
            .group_name("liftgate-test")
            .send()
            .await;
        match result {
            Ok(schedule) => Some((
                schedule.schedule_expression().unwrap().to_owned(),
                serde_json::from_str(schedule.target().unwrap().input().unwrap()).unwrap(),
            )),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(error) => panic!("GetSchedule: {error:?}"),
        }
    }

    async fn end_grants(&self) {
        self.clock.advance(StdDuration::from_secs(2 * 3600));
        self.service.sweep().await.unwrap();
    }

    /// The audit events of a request as written to S3, in time order, with their channels.
    async fn audit_trail(&self, id: &RequestId) -> Vec<(String, String)> {
        while self.dispatcher.dispatch_once().await.unwrap() > 0 {}
        let listed = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("logs/")
            .send()
            .await
            .unwrap();
        let mut trail = Vec::new();
        for object in listed.contents() {
            let body = self
                .clients
                .s3
                .get_object()
                .bucket(BUCKET)
                .key(object.key().unwrap())
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            let record: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if record["liftgate_request_id"] == id.as_str() {
                let event = record["event"].as_str().unwrap().to_owned();
                // Events of one call share a timestamp (the clock is manual): break ties by
                // their order in the lifecycle.
                let rank = LIFECYCLE.iter().position(|known| *known == event);
                trail.push((
                    record["timestamp"].as_i64().unwrap(),
                    rank,
                    event,
                    record["channel"].as_str().unwrap().to_owned(),
                ));
            }
        }
        trail.sort();
        trail
            .into_iter()
            .map(|(_, _, event, channel)| (event, channel))
            .collect()
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_grant_is_stored_in_dynamodb_timed_in_eventbridge_and_audited_in_s3() {
    let world = world().await;
    let (request_id, grant) = world
        .grant_approved(TargetInput::Account {
            account_id: world.prod.clone(),
            permission_set: "Admin".to_owned(),
        })
        .await;
    assert_eq!(
        world
            .seed
            .user_assignment_count(&world.prod, &world.admin, &world.requester)
            .await,
        1
    );
    let (expression, input) = world.schedule_of(&grant).await.expect("a revocation timer");
    assert_eq!(expression, at_expression(grant.ends_at));
    assert_eq!(input["PrincipalId"], world.requester.as_str());
    assert_eq!(input["PermissionSetArn"], world.admin.as_str());
    assert_eq!(input["TargetId"], world.prod.as_str());

    // A restart now adopts the running grant's timer.
    let report = world
        .scheduler
        .adopt_or_delete_orphans(world.store.as_ref(), time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        report,
        OrphanReport {
            adopted: 1,
            ..OrphanReport::default()
        }
    );

    // Nothing is due before the end.
    world.service.sweep().await.unwrap();
    assert!(world.schedule_of(&grant).await.is_some());

    world.end_grants().await;
    assert_eq!(
        world.service.get(&request_id).await.unwrap().status(),
        RequestStatus::Ended
    );
    assert_eq!(
        world
            .store
            .get_grant(&grant.id)
            .await
            .unwrap()
            .unwrap()
            .status(),
        GrantStatus::Revoked
    );
    assert_eq!(
        world
            .seed
            .user_assignment_count(&world.prod, &world.admin, &world.requester)
            .await,
        0
    );
    assert!(
        world.schedule_of(&grant).await.is_none(),
        "the timer is gone"
    );
    assert_eq!(
        world.audit_trail(&request_id).await,
        pairs(&[
            ("requested", "webhook"),
            ("approved", "slack"),
            ("granted", "slack"),
            ("revoked", "scheduler"),
        ])
    );
    assert_eq!(world.store.outbox_len().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_timer_removes_the_membership_even_without_liftgate() {
    let world = world().await;
    let (request_id, grant) = world
        .grant_approved(TargetInput::Group {
            group_id: world.ops.clone(),
        })
        .await;
    assert_eq!(
        world
            .seed
            .membership_count(&world.ops, &world.requester)
            .await,
        1
    );
    let GrantTarget::Group {
        membership_id: Some(membership),
        ..
    } = &grant.target
    else {
        panic!("the grant records its membership: {:?}", grant.target);
    };
    let (_, input) = world
        .schedule_of(&grant)
        .await
        .expect("the timer knows the membership");
    assert_eq!(input["MembershipId"], membership.as_str());
    assert_eq!(
        input["IdentityStoreId"],
        world.seed.identity_store_id.as_str()
    );

    // EventBridge fires while no replica runs: the membership goes.
    world
        .seed
        .identity_store
        .delete_group_membership()
        .identity_store_id(input["IdentityStoreId"].as_str().unwrap())
        .membership_id(input["MembershipId"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        world
            .seed
            .membership_count(&world.ops, &world.requester)
            .await,
        0
    );

    // Liftgate catches up when it runs again.
    world.end_grants().await;
    assert_eq!(
        world.service.get(&request_id).await.unwrap().status(),
        RequestStatus::Ended
    );
    assert!(world.schedule_of(&grant).await.is_none());
    assert_eq!(
        world.audit_trail(&request_id).await,
        pairs(&[
            ("requested", "webhook"),
            ("approved", "slack"),
            ("granted", "slack"),
            ("revoked", "scheduler"),
        ])
    );
}
