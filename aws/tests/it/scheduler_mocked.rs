//! The EventBridge timers against mocked Scheduler answers moto cannot give: conflicts,
//! throttling, denials, server errors, a group that disappeared.

use aws_config::retry::RetryConfig;
use aws_sdk_scheduler::Client as Scheduler;
use aws_sdk_scheduler::operation::create_schedule::CreateScheduleOutput;
use aws_sdk_scheduler::operation::create_schedule_group::CreateScheduleGroupOutput;
use aws_sdk_scheduler::operation::delete_schedule::DeleteScheduleOutput;
use aws_sdk_scheduler::operation::update_schedule::UpdateScheduleOutput;
use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use liftgate_aws::scheduler::{IdentityCenterIds, schedule_name};
use liftgate_aws::{EventBridgeScheduler, EventBridgeSchedulerConfig, SchedulerSetupError};
use liftgate_gateway::domain::{AccessKey, AccessRecord, GrantTarget};
use liftgate_gateway::ports::{RevocationScheduler, SchedulerError};
use time::OffsetDateTime;

use crate::support::{ROLE_ARN, json_error};

const PERMISSION_SET: &str = "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-1";

fn config() -> EventBridgeSchedulerConfig {
    EventBridgeSchedulerConfig {
        group_name: "liftgate".to_owned(),
        role_arn: ROLE_ARN.to_owned(),
        dead_letter_arn: None,
        maximum_retry_attempts: 185,
        maximum_event_age: std::time::Duration::from_secs(86_400),
        identity_center: IdentityCenterIds {
            instance_arn: "arn:aws:sso:::instance/ssoins-1111111111111111".to_owned(),
            identity_store_id: "d-1111111111".to_owned(),
        },
    }
}

fn scheduler(rules: &[&Rule]) -> EventBridgeScheduler {
    let client = mock_client!(aws_sdk_scheduler, RuleMode::MatchAny, rules, |config| {
        config.retry_config(RetryConfig::disabled())
    });
    EventBridgeScheduler::from_client(client, config()).unwrap()
}

/// When the timers of these tests fire: 2027-01-15T09:00:00Z.
fn ends() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_003_600).unwrap()
}

/// The ledger record of one account access.
fn record() -> AccessRecord {
    AccessRecord::new(
        AccessKey::account("111111111111", "Admin", "u-requester"),
        "u-requester".to_owned(),
        GrantTarget::Account {
            account_id: "111111111111".to_owned(),
            permission_set: "Admin".to_owned(),
            permission_set_arn: Some(PERMISSION_SET.to_owned()),
        },
    )
}

fn created() -> CreateScheduleOutput {
    CreateScheduleOutput::builder()
        .schedule_arn("arn:aws:scheduler:us-east-1:123456789012:schedule/liftgate/x")
        .build()
        .unwrap()
}

fn updated() -> UpdateScheduleOutput {
    UpdateScheduleOutput::builder()
        .schedule_arn("arn:aws:scheduler:us-east-1:123456789012:schedule/liftgate/x")
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_existing_schedule_is_updated_in_place_with_the_full_definition() {
    let record = record();
    let name = schedule_name(&record.key);
    let create = mock!(Scheduler::create_schedule)
        .then_http_response(|| json_error(409, "ConflictException", "Schedule already exists"));
    let expected_name = name.clone();
    let update = mock!(Scheduler::update_schedule)
        .match_requests(move |input| {
            let target = input.target().unwrap();
            let body: serde_json::Value = serde_json::from_str(target.input().unwrap()).unwrap();
            input.name() == Some(expected_name.as_str())
                && input.group_name() == Some("liftgate")
                && input.schedule_expression() == Some("at(2027-01-15T09:00:00)")
                && input.schedule_expression_timezone() == Some("UTC")
                && input.action_after_completion() == Some(&ActionAfterCompletion::Delete)
                && input
                    .flexible_time_window()
                    .is_some_and(|window| window.mode() == &FlexibleTimeWindowMode::Off)
                && target.arn() == "arn:aws:scheduler:::aws-sdk:ssoadmin:deleteAccountAssignment"
                && target.role_arn() == ROLE_ARN
                && target
                    .retry_policy()
                    .is_some_and(|retry| retry.maximum_retry_attempts() == Some(185))
                && target.dead_letter_config().is_none()
                && body["PermissionSetArn"] == PERMISSION_SET
                && body["PrincipalId"] == "u-requester"
        })
        .then_output(updated);
    let scheduler = scheduler(&[&create, &update]);

    scheduler.set(&record, ends()).await.unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(update.num_calls(), 1, "moved, never a second schedule");
}

#[tokio::test]
async fn a_schedule_that_fired_between_conflict_and_update_is_created_again() {
    let create = mock!(Scheduler::create_schedule)
        .sequence()
        .http_response(|| json_error(409, "ConflictException", "exists"))
        .output(created)
        .build();
    let update = mock!(Scheduler::update_schedule)
        .then_http_response(|| json_error(404, "ResourceNotFoundException", "gone"));
    let scheduler = scheduler(&[&create, &update]);

    scheduler.set(&record(), ends()).await.unwrap();
    assert_eq!((create.num_calls(), update.num_calls()), (2, 1));
}

#[tokio::test]
async fn a_missing_group_is_created_and_the_schedule_written_into_it() {
    let create = mock!(Scheduler::create_schedule)
        .sequence()
        .http_response(|| {
            json_error(
                404,
                "ResourceNotFoundException",
                "Schedule group liftgate does not exist.",
            )
        })
        .output(created)
        .build();
    let group = mock!(Scheduler::create_schedule_group)
        .match_requests(|input| input.name() == Some("liftgate"))
        .then_output(|| {
            CreateScheduleGroupOutput::builder()
                .schedule_group_arn(
                    "arn:aws:scheduler:us-east-1:123456789012:schedule-group/liftgate",
                )
                .build()
                .unwrap()
        });
    let scheduler = scheduler(&[&create, &group]);

    scheduler.set(&record(), ends()).await.unwrap();
    assert_eq!((create.num_calls(), group.num_calls()), (2, 1));
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_later_and_denials_are_final() {
    let cases = [
        (429, "ThrottlingException", true),
        (500, "InternalServerException", true),
        (503, "ServiceUnavailable", true),
        (403, "AccessDeniedException", false),
        (400, "ValidationException", false),
        (402, "ServiceQuotaExceededException", false),
    ];
    for (status, code, retryable) in cases {
        let create = mock!(Scheduler::create_schedule)
            .then_http_response(move || json_error(status, code, "no"));
        let scheduler = scheduler(&[&create]);
        let error = scheduler.set(&record(), ends()).await.unwrap_err();
        match (&error, retryable) {
            (SchedulerError::Throttled(message), true)
            | (SchedulerError::Failed(message), false) => {
                assert!(message.contains(code), "{message}");
            }
            _ => panic!("{code}: unexpected {error:?}"),
        }
    }
}

#[tokio::test]
async fn cancelling_a_schedule_that_is_gone_succeeds_and_throttling_is_retried() {
    let gone = mock!(Scheduler::delete_schedule)
        .then_http_response(|| json_error(404, "ResourceNotFoundException", "gone"));
    scheduler(&[&gone]).cancel(&record().key).await.unwrap();
    assert_eq!(gone.num_calls(), 1);

    let record = record();
    let name = schedule_name(&record.key);
    let throttled = mock!(Scheduler::delete_schedule)
        .match_requests(move |input| {
            input.name() == Some(name.as_str()) && input.group_name() == Some("liftgate")
        })
        .sequence()
        .http_response(|| json_error(429, "ThrottlingException", "slow down"))
        .output(|| DeleteScheduleOutput::builder().build())
        .build();
    let scheduler = scheduler(&[&throttled]);
    assert!(matches!(
        scheduler.cancel(&record.key).await,
        Err(SchedulerError::Throttled(_))
    ));
    scheduler.cancel(&record.key).await.unwrap();
}

#[tokio::test]
async fn ensure_group_accepts_an_existing_group_and_reports_denials() {
    let exists = mock!(Scheduler::create_schedule_group)
        .then_http_response(|| json_error(409, "ConflictException", "exists"));
    scheduler(&[&exists]).ensure_group().await.unwrap();

    let denied = mock!(Scheduler::create_schedule_group)
        .then_http_response(|| json_error(403, "AccessDeniedException", "no"));
    assert!(matches!(
        scheduler(&[&denied]).ensure_group().await,
        Err(SchedulerError::Failed(_))
    ));
}

#[tokio::test]
async fn an_access_without_its_permission_set_arn_is_refused_without_a_call() {
    let create = mock!(Scheduler::create_schedule).then_output(created);
    let scheduler = scheduler(&[&create]);
    let mut record = record();
    record.target = GrantTarget::Account {
        account_id: "111111111111".to_owned(),
        permission_set: "Admin".to_owned(),
        permission_set_arn: None,
    };
    assert!(matches!(
        scheduler.set(&record, ends()).await,
        Err(SchedulerError::Failed(_))
    ));
    assert_eq!(create.num_calls(), 0);
}

#[test]
fn settings_outside_eventbridge_limits_are_refused() {
    let client = mock_client!(aws_sdk_scheduler, []);
    let with = |adjust: fn(&mut EventBridgeSchedulerConfig)| {
        let mut config = config();
        adjust(&mut config);
        EventBridgeScheduler::from_client(client.clone(), config).map(|_| ())
    };
    assert_eq!(with(|_| {}), Ok(()));
    assert_eq!(
        with(|c| c.maximum_retry_attempts = 186),
        Err(SchedulerSetupError::RetryAttemptsOutOfRange(186))
    );
    assert_eq!(
        with(|c| c.maximum_event_age = std::time::Duration::from_secs(59)),
        Err(SchedulerSetupError::EventAgeOutOfRange(59))
    );
    assert_eq!(
        with(|c| c.role_arn = " ".to_owned()),
        Err(SchedulerSetupError::MissingRoleArn)
    );
}
