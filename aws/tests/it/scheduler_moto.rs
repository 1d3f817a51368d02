//! The EventBridge revocation timers on moto. moto never fires a schedule, so each test reads
//! the schedule back, calls the API its universal target names with its input, exactly as
//! EventBridge Scheduler would, and checks the access is gone.

use std::sync::Arc;

use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode, ScheduleState};
use liftgate_aws::scheduler::{SCHEDULE_NAME_PREFIX, schedule_name};
use liftgate_aws::{AwsClients, EventBridgeScheduler, EventBridgeSchedulerConfig, OrphanReport};
use liftgate_gateway::domain::{Grant, GrantStatus, GrantTarget};
use liftgate_gateway::ports::{Put, RevocationScheduler, SchedulerError, StateStore, WriteBatch};
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::testing::sample_grant;
use liftgate_testkit::moto::{MotoServer, REGION, Seed};
use time::OffsetDateTime;

use crate::support::{ROLE_ARN, scheduler_config};

struct World {
    _moto: MotoServer,
    seed: Seed,
    clients: AwsClients,
    scheduler: EventBridgeScheduler,
    config: EventBridgeSchedulerConfig,
}

async fn world() -> World {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    let config = scheduler_config(&seed, |_| {});
    let scheduler = EventBridgeScheduler::new(&clients, config.clone()).unwrap();
    scheduler.ensure_group().await.unwrap();
    World {
        _moto: moto,
        seed,
        clients,
        scheduler,
        config,
    }
}

impl World {
    async fn schedule_names(&self) -> Vec<String> {
        let listed = self
            .clients
            .scheduler
            .list_schedules()
            .group_name(&self.config.group_name)
            .send()
            .await
            .unwrap();
        let mut names: Vec<String> = listed
            .schedules()
            .iter()
            .filter_map(|summary| summary.name().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    async fn get(
        &self,
        grant: &Grant,
    ) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
        match self
            .clients
            .scheduler
            .get_schedule()
            .name(schedule_name(&grant.id))
            .group_name(&self.config.group_name)
            .send()
            .await
        {
            Ok(output) => Some(output),
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

    /// What EventBridge Scheduler does when the schedule fires: calls the target's API with
    /// the target's input.
    async fn fire(&self, grant: &Grant) {
        let schedule = self.get(grant).await.expect("the grant has a schedule");
        let target = schedule.target().unwrap();
        let input: serde_json::Value = serde_json::from_str(target.input().unwrap()).unwrap();
        let text = |field: &str| input[field].as_str().unwrap().to_owned();
        match target.arn() {
            "arn:aws:scheduler:::aws-sdk:ssoadmin:deleteAccountAssignment" => {
                assert_eq!(
                    input.as_object().unwrap().len(),
                    6,
                    "exactly the DeleteAccountAssignment parameters: {input}"
                );
                self.seed
                    .sso_admin
                    .delete_account_assignment()
                    .instance_arn(text("InstanceArn"))
                    .target_id(text("TargetId"))
                    .target_type(text("TargetType").as_str().into())
                    .permission_set_arn(text("PermissionSetArn"))
                    .principal_type(text("PrincipalType").as_str().into())
                    .principal_id(text("PrincipalId"))
                    .send()
                    .await
                    .unwrap();
            }
            "arn:aws:scheduler:::aws-sdk:identitystore:deleteGroupMembership" => {
                assert_eq!(input.as_object().unwrap().len(), 2, "{input}");
                self.seed
                    .identity_store
                    .delete_group_membership()
                    .identity_store_id(text("IdentityStoreId"))
                    .membership_id(text("MembershipId"))
                    .send()
                    .await
                    .unwrap();
            }
            other => panic!("unexpected target {other}"),
        }
    }
}

fn in_an_hour() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::hours(1)
}

fn account_grant(account_id: &str, permission_set_arn: &str, user: &str) -> Grant {
    let mut grant = sample_grant(GrantStatus::Active, user, in_an_hour());
    grant.target = GrantTarget::Account {
        account_id: account_id.to_owned(),
        permission_set: "Admin".to_owned(),
        permission_set_arn: Some(permission_set_arn.to_owned()),
    };
    grant
}

fn group_grant(group_id: &str, user: &str, membership_id: Option<&str>) -> Grant {
    let mut grant = sample_grant(GrantStatus::Active, user, in_an_hour());
    grant.target = GrantTarget::Group {
        group_id: group_id.to_owned(),
        group_name: Some("Ops".to_owned()),
        membership_id: membership_id.map(str::to_owned),
    };
    grant
}

#[tokio::test]
async fn an_account_schedule_fires_once_at_the_end_and_removes_exactly_the_assignment() {
    let world = world().await;
    // A second ensure_group is harmless.
    world.scheduler.ensure_group().await.unwrap();
    let accounts = world.seed.organization(&["Prod"]).await;
    let admin = world.seed.permission_set("Admin").await;
    let alice = world
        .seed
        .user("alice", "alice@corp.com", "Alice Example")
        .await;
    world.seed.assignment(&accounts[0].id, &admin, &alice).await;
    let mut grant = account_grant(&accounts[0].id, &admin, &alice);
    grant.ends_at = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()
        + time::Duration::milliseconds(250);

    world.scheduler.schedule(&grant).await.unwrap();

    let schedule = world.get(&grant).await.unwrap();
    assert_eq!(
        schedule.name(),
        Some(format!("liftgate-{}", grant.id).as_str())
    );
    assert_eq!(schedule.group_name(), Some("liftgate-test"));
    assert_eq!(
        schedule.schedule_expression(),
        Some("at(2030-03-17T17:46:41)"),
        "UTC, rounded up to the second"
    );
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        schedule.action_after_completion(),
        Some(&ActionAfterCompletion::Delete)
    );
    assert_eq!(schedule.state(), Some(&ScheduleState::Enabled));
    assert_eq!(
        schedule.flexible_time_window().map(|window| window.mode()),
        Some(&FlexibleTimeWindowMode::Off)
    );
    let target = schedule.target().unwrap();
    assert_eq!(target.role_arn(), ROLE_ARN);
    let retry = target.retry_policy().unwrap();
    assert_eq!(retry.maximum_retry_attempts(), Some(17));
    assert_eq!(retry.maximum_event_age_in_seconds(), Some(3600));
    assert_eq!(
        target.dead_letter_config().and_then(|dlq| dlq.arn()),
        Some("arn:aws:sqs:us-east-1:123456789012:liftgate-dlq")
    );

    world.fire(&grant).await;
    assert_eq!(
        world
            .seed
            .user_assignment_count(&accounts[0].id, &admin, &alice)
            .await,
        0
    );
}

#[tokio::test]
async fn a_group_schedule_waits_for_the_membership_and_then_removes_it() {
    let world = world().await;
    let ops = world.seed.group("Ops").await;
    let alice = world
        .seed
        .user("alice", "alice@corp.com", "Alice Example")
        .await;

    // Before the membership exists there is nothing a target could remove.
    let pending = group_grant(&ops, &alice, None);
    world.scheduler.schedule(&pending).await.unwrap();
    assert!(world.get(&pending).await.is_none());

    let membership = world.seed.membership(&ops, &alice).await;
    let grant = Grant {
        target: GrantTarget::Group {
            group_id: ops.clone(),
            group_name: None,
            membership_id: Some(membership.clone()),
        },
        ..pending
    };
    world.scheduler.schedule(&grant).await.unwrap();
    let schedule = world.get(&grant).await.unwrap();
    let input: serde_json::Value =
        serde_json::from_str(schedule.target().unwrap().input().unwrap()).unwrap();
    assert_eq!(
        input["IdentityStoreId"],
        world.seed.identity_store_id.as_str()
    );
    assert_eq!(input["MembershipId"], membership.as_str());

    world.fire(&grant).await;
    assert_eq!(world.seed.membership_count(&ops, &alice).await, 0);
}

#[tokio::test]
async fn moving_the_end_updates_the_one_schedule_and_cancel_removes_it() {
    let world = world().await;
    let grant = account_grant(
        "111111111111",
        "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
        "u-1",
    );
    world.scheduler.schedule(&grant).await.unwrap();
    // Scheduling the same end again is a no-op in effect.
    world.scheduler.schedule(&grant).await.unwrap();
    let moved = Grant {
        ends_at: grant.ends_at + time::Duration::hours(2),
        ..grant.clone()
    };
    world.scheduler.schedule(&moved).await.unwrap();
    assert_eq!(world.schedule_names().await, vec![schedule_name(&grant.id)]);
    assert_eq!(
        world.get(&grant).await.unwrap().schedule_expression(),
        Some(liftgate_aws::scheduler::at_expression(moved.ends_at).as_str())
    );

    world.scheduler.cancel(&grant.id).await.unwrap();
    assert!(world.get(&grant).await.is_none());
    // Already gone is success.
    world.scheduler.cancel(&grant.id).await.unwrap();
}

#[tokio::test]
async fn a_schedule_in_a_removed_group_is_retried_until_the_group_is_back() {
    let world = world().await;
    world
        .clients
        .scheduler
        .delete_schedule_group()
        .name(&world.config.group_name)
        .send()
        .await
        .unwrap();
    let grant = account_grant(
        "111111111111",
        "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
        "u-1",
    );
    // moto answers a schedule in a missing group with an HTTP 500 (AWS answers
    // ResourceNotFoundException, which the mocked tests cover): the outcome is unknown, so the
    // workflow is told to retry, never to give the grant up.
    let result = world.scheduler.schedule(&grant).await;
    assert!(
        matches!(result, Err(SchedulerError::Throttled(_))),
        "{result:?}"
    );
    world.scheduler.ensure_group().await.unwrap();
    world.scheduler.schedule(&grant).await.unwrap();
    assert!(world.get(&grant).await.is_some());
}

async fn store_with(grants: &[&Grant]) -> (Arc<SqliteStore>, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).unwrap());
    for grant in grants {
        store
            .commit(WriteBatch {
                grants: vec![Put::insert((*grant).clone())],
                ..WriteBatch::default()
            })
            .await
            .unwrap();
    }
    (store, directory)
}

#[tokio::test]
async fn startup_adopts_schedules_of_running_grants_and_deletes_leftovers() {
    let world = world().await;
    let arn = "arn:aws:sso:::permissionSet/ssoins-1/ps-1";
    let running = account_grant("111111111111", arn, "u-running");
    let mut extended = account_grant("111111111111", arn, "u-extended");
    let mut revoked = account_grant("111111111111", arn, "u-revoked");
    revoked.status = GrantStatus::Revoked;
    let unknown = account_grant("111111111111", arn, "u-unknown");
    let mut preexisting = account_grant("111111111111", arn, "u-pre");
    preexisting.preexisting = true;
    // Two grants on one access: only the later-ending one keeps a timer.
    let earlier = account_grant("222222222222", arn, "u-shared");
    let later = Grant {
        id: liftgate_gateway::domain::GrantId::generate(),
        ends_at: earlier.ends_at + time::Duration::hours(1),
        ..earlier.clone()
    };
    // An active grant whose timer was lost.
    let untimed = account_grant("333333333333", arn, "u-untimed");

    for grant in [
        &running,
        &extended,
        &revoked,
        &unknown,
        &preexisting,
        &earlier,
        &later,
    ] {
        world.scheduler.schedule(grant).await.unwrap();
    }
    // The store knows a later end than the schedule (an extension whose schedule update was
    // lost): adoption moves it later.
    extended.ends_at += time::Duration::hours(3);
    // A schedule named like Liftgate's but not after a grant id is left alone.
    world
        .clients
        .scheduler
        .create_schedule()
        .name(format!("{SCHEDULE_NAME_PREFIX}not-a-grant"))
        .group_name(&world.config.group_name)
        .schedule_expression("at(2030-01-01T00:00:00)")
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .target(
            aws_sdk_scheduler::types::Target::builder()
                .arn("arn:aws:sqs:us-east-1:123456789012:other")
                .role_arn(ROLE_ARN)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let (store, _directory) = store_with(&[
        &running,
        &extended,
        &revoked,
        &preexisting,
        &earlier,
        &later,
        &untimed,
    ])
    .await;
    let report = world
        .scheduler
        .adopt_or_delete_orphans(store.as_ref())
        .await
        .unwrap();
    assert_eq!(
        report,
        OrphanReport {
            adopted: 3,
            moved: 1,
            deleted: 4,
            recreated: 1,
            ignored: 1,
            failed: 0,
        }
    );
    let mut expected: Vec<String> = [&running, &extended, &later, &untimed]
        .iter()
        .map(|grant| schedule_name(&grant.id))
        .collect();
    expected.push(format!("{SCHEDULE_NAME_PREFIX}not-a-grant"));
    expected.sort();
    assert_eq!(world.schedule_names().await, expected);
    assert_eq!(
        world.get(&extended).await.unwrap().schedule_expression(),
        Some(liftgate_aws::scheduler::at_expression(extended.ends_at).as_str())
    );

    // A second run finds everything settled.
    let again = world
        .scheduler
        .adopt_or_delete_orphans(store.as_ref())
        .await
        .unwrap();
    assert_eq!(
        again,
        OrphanReport {
            adopted: 4,
            ignored: 1,
            ..OrphanReport::default()
        }
    );
}

#[tokio::test]
async fn adoption_never_moves_a_schedule_earlier() {
    let world = world().await;
    let grant = account_grant(
        "111111111111",
        "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
        "u-1",
    );
    // Another replica's extension already moved the schedule past the end this store shows.
    let ahead = Grant {
        ends_at: grant.ends_at + time::Duration::hours(4),
        ..grant.clone()
    };
    world.scheduler.schedule(&ahead).await.unwrap();
    let (store, _directory) = store_with(&[&grant]).await;
    let report = world
        .scheduler
        .adopt_or_delete_orphans(store.as_ref())
        .await
        .unwrap();
    assert_eq!((report.adopted, report.moved), (1, 0));
    assert_eq!(
        world.get(&grant).await.unwrap().schedule_expression(),
        Some(liftgate_aws::scheduler::at_expression(ahead.ends_at).as_str())
    );
}
