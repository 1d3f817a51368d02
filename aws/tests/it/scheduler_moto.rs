//! The EventBridge revocation timers on moto. moto never fires a schedule, so each test reads
//! the schedule back, calls the API its universal target names with its input, exactly as
//! EventBridge Scheduler would, and checks the access is gone.

use std::sync::Arc;

use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode, ScheduleState};
use liftgate_aws::scheduler::{SCHEDULE_NAME_PREFIX, at_expression, schedule_name};
use liftgate_aws::{AwsClients, EventBridgeScheduler, EventBridgeSchedulerConfig, OrphanReport};
use liftgate_gateway::domain::{AccessKey, AccessRecord, Grant, GrantId, GrantStatus, GrantTarget};
use liftgate_gateway::ports::{
    AccessPut, Put, RevocationScheduler, SchedulerError, StateStore, WriteBatch,
};
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
        key: &AccessKey,
    ) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
        self.get_named(&schedule_name(key)).await
    }

    async fn get_named(
        &self,
        name: &str,
    ) -> Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
        match self
            .clients
            .scheduler
            .get_schedule()
            .name(name)
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
    async fn fire(&self, key: &AccessKey) {
        let schedule = self.get(key).await.expect("the access has a schedule");
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

/// A ledger record of an account access held by one active grant ending at `ends_at`.
fn account_record(
    account_id: &str,
    permission_set_arn: &str,
    user: &str,
    ends_at: OffsetDateTime,
) -> AccessRecord {
    let target = GrantTarget::Account {
        account_id: account_id.to_owned(),
        permission_set: "Admin".to_owned(),
        permission_set_arn: Some(permission_set_arn.to_owned()),
    };
    let mut record = AccessRecord::new(AccessKey::of(&target, user), user.to_owned(), target);
    record.join(GrantId::generate(), ends_at);
    record.record_checked(false, None, OffsetDateTime::now_utc());
    record.activate_joiners();
    record
}

fn group_record(group_id: &str, user: &str, membership_id: Option<&str>) -> AccessRecord {
    let target = GrantTarget::Group {
        group_id: group_id.to_owned(),
        group_name: Some("Ops".to_owned()),
        membership_id: membership_id.map(str::to_owned),
    };
    let mut record = AccessRecord::new(AccessKey::of(&target, user), user.to_owned(), target);
    record.join(GrantId::generate(), in_an_hour());
    record
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
    let ends = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()
        + time::Duration::milliseconds(250);
    let record = account_record(&accounts[0].id, &admin, &alice, ends);

    world.scheduler.set(&record, ends).await.unwrap();

    let schedule = world.get(&record.key).await.unwrap();
    assert_eq!(schedule.name(), Some(schedule_name(&record.key).as_str()));
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
    assert!(
        schedule
            .description()
            .is_some_and(|text| text.contains(record.key.as_str())),
        "the description names the access"
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

    world.fire(&record.key).await;
    assert_eq!(
        world
            .seed
            .user_assignment_count(&accounts[0].id, &admin, &alice)
            .await,
        0
    );
}

#[tokio::test]
async fn a_group_schedule_needs_the_membership_and_then_removes_it() {
    let world = world().await;
    let ops = world.seed.group("Ops").await;
    let alice = world
        .seed
        .user("alice", "alice@corp.com", "Alice Example")
        .await;

    // Before the membership exists there is nothing a target could remove: refused, nothing
    // written (the workflow sets a group's timer right after it creates the membership).
    let pending = group_record(&ops, &alice, None);
    let refused = world.scheduler.set(&pending, in_an_hour()).await;
    assert!(
        matches!(refused, Err(SchedulerError::Failed(_))),
        "{refused:?}"
    );
    assert!(world.get(&pending.key).await.is_none());

    let membership = world.seed.membership(&ops, &alice).await;
    let record = group_record(&ops, &alice, Some(&membership));
    world.scheduler.set(&record, in_an_hour()).await.unwrap();
    let schedule = world.get(&record.key).await.unwrap();
    let input: serde_json::Value =
        serde_json::from_str(schedule.target().unwrap().input().unwrap()).unwrap();
    assert_eq!(
        input["IdentityStoreId"],
        world.seed.identity_store_id.as_str()
    );
    assert_eq!(input["MembershipId"], membership.as_str());

    world.fire(&record.key).await;
    assert_eq!(world.seed.membership_count(&ops, &alice).await, 0);
}

#[tokio::test]
async fn moving_the_end_updates_the_one_schedule_and_cancel_removes_it() {
    let world = world().await;
    let mut record = account_record(
        "111111111111",
        "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
        "u-1",
        in_an_hour(),
    );
    let first = in_an_hour();
    world.scheduler.set(&record, first).await.unwrap();
    record.record_timer(first);
    // Setting the same end again is a no-op in effect.
    world.scheduler.set(&record, first).await.unwrap();
    let later = first + time::Duration::hours(2);
    world.scheduler.set(&record, later).await.unwrap();
    assert_eq!(
        world.schedule_names().await,
        vec![schedule_name(&record.key)]
    );
    assert_eq!(
        world.get(&record.key).await.unwrap().schedule_expression(),
        Some(at_expression(later).as_str())
    );
    // Earlier again (the later grant ended early): the same schedule moves back.
    world.scheduler.set(&record, first).await.unwrap();
    assert_eq!(
        world.get(&record.key).await.unwrap().schedule_expression(),
        Some(at_expression(first).as_str())
    );

    world.scheduler.cancel(&record.key).await.unwrap();
    assert!(world.get(&record.key).await.is_none());
    // Already gone is success.
    world.scheduler.cancel(&record.key).await.unwrap();
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
    let record = account_record(
        "111111111111",
        "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
        "u-1",
        in_an_hour(),
    );
    // moto answers a schedule in a missing group with an HTTP 500 (AWS answers
    // ResourceNotFoundException, which the mocked tests cover): the outcome is unknown, so the
    // workflow is told to retry, never to give the grant up.
    let result = world.scheduler.set(&record, in_an_hour()).await;
    assert!(
        matches!(result, Err(SchedulerError::Throttled(_))),
        "{result:?}"
    );
    world.scheduler.ensure_group().await.unwrap();
    world.scheduler.set(&record, in_an_hour()).await.unwrap();
    assert!(world.get(&record.key).await.is_some());
}

async fn store_with(
    records: &[&AccessRecord],
    grants: &[&Grant],
) -> (Arc<SqliteStore>, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).unwrap());
    for record in records {
        store
            .commit(WriteBatch {
                access: vec![AccessPut::Put(Put::insert((*record).clone()))],
                ..WriteBatch::default()
            })
            .await
            .unwrap();
    }
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

/// Creates a schedule with a raw name (one the current version would never make).
async fn raw_schedule(world: &World, name: &str, input: Option<String>) {
    let mut target = aws_sdk_scheduler::types::Target::builder()
        .arn("arn:aws:scheduler:::aws-sdk:ssoadmin:deleteAccountAssignment")
        .role_arn(ROLE_ARN);
    if let Some(input) = input {
        target = target.input(input);
    }
    world
        .clients
        .scheduler
        .create_schedule()
        .name(name)
        .group_name(&world.config.group_name)
        .schedule_expression("at(2030-01-01T00:00:00)")
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .target(target.build().unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn startup_adopts_schedules_of_held_access_and_deletes_or_replaces_the_rest() {
    let world = world().await;
    let arn = "arn:aws:sso:::permissionSet/ssoins-1/ps-1";
    let running = account_record("111111111111", arn, "u-running", in_an_hour());
    let mut extended = account_record("111111111111", arn, "u-extended", in_an_hour());
    let gone = account_record("111111111111", arn, "u-gone", in_an_hour());
    let mut predated = AccessRecord::new(
        AccessKey::account("111111111111", "Admin", "u-pre"),
        "u-pre".to_owned(),
        running.target.clone(),
    );
    predated.join(GrantId::generate(), in_an_hour());
    predated.record_checked(true, None, OffsetDateTime::now_utc());
    let untimed = account_record("333333333333", arn, "u-untimed", in_an_hour());

    for record in [&running, &extended, &gone, &predated] {
        world.scheduler.set(record, in_an_hour()).await.unwrap();
    }
    // The ledger knows a later end than the schedule (an extension whose schedule update was
    // lost): adoption moves it later.
    extended.join(GrantId::generate(), in_an_hour() + time::Duration::hours(3));
    // An earlier version's per-grant schedule of an active grant: replaced by a per-access one.
    let legacy = {
        let mut grant = sample_grant(GrantStatus::Active, "u-legacy", in_an_hour());
        grant.target = running.target.clone();
        grant
    };
    raw_schedule(
        &world,
        &format!("{SCHEDULE_NAME_PREFIX}{}", legacy.id),
        Some("{}".to_owned()),
    )
    .await;
    // A schedule named like Liftgate's but neither a grant id nor an access hash is left alone.
    raw_schedule(&world, &format!("{SCHEDULE_NAME_PREFIX}not-ours"), None).await;

    let (store, _directory) =
        store_with(&[&running, &extended, &predated, &untimed], &[&legacy]).await;
    let report = world
        .scheduler
        .adopt_or_delete_orphans(store.as_ref(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        report,
        OrphanReport {
            adopted: 2,
            moved: 1,
            deleted: 3,
            recreated: 1,
            ignored: 1,
            failed: 0,
        }
    );
    let mut expected: Vec<String> = [
        &running.key,
        &extended.key,
        &untimed.key,
        &legacy.access_key(),
    ]
    .iter()
    .map(|key| schedule_name(key))
    .collect();
    expected.push(format!("{SCHEDULE_NAME_PREFIX}not-ours"));
    expected.sort();
    assert_eq!(world.schedule_names().await, expected);
    assert_eq!(
        world
            .get(&extended.key)
            .await
            .unwrap()
            .schedule_expression(),
        Some(at_expression(extended.desired_timer().unwrap()).as_str())
    );
    assert_eq!(
        world
            .get(&legacy.access_key())
            .await
            .unwrap()
            .schedule_expression(),
        Some(at_expression(legacy.ends_at).as_str()),
        "the replacement fires no earlier than the grant it replaced"
    );

    // A second run finds everything settled (the legacy grant's access has no ledger record,
    // so its new schedule is the sweeper's to settle once the grant is adopted).
    let again = world
        .scheduler
        .adopt_or_delete_orphans(store.as_ref(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        (
            again.adopted,
            again.moved,
            again.recreated,
            again.ignored,
            again.failed
        ),
        (3, 0, 0, 1, 0)
    );
}

#[tokio::test]
async fn adoption_never_moves_a_schedule_earlier() {
    let world = world().await;
    let record = account_record(
        "111111111111",
        "arn:aws:sso:::permissionSet/ssoins-1/ps-1",
        "u-1",
        in_an_hour(),
    );
    // Another replica's extension already moved the schedule past the end this store shows.
    let ahead = in_an_hour() + time::Duration::hours(4);
    world.scheduler.set(&record, ahead).await.unwrap();
    let (store, _directory) = store_with(&[&record], &[]).await;
    let report = world
        .scheduler
        .adopt_or_delete_orphans(store.as_ref(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!((report.adopted, report.moved), (1, 0));
    assert_eq!(
        world.get(&record.key).await.unwrap().schedule_expression(),
        Some(at_expression(ahead).as_str())
    );
}
