//! The Logs Insights activity source against mocked CloudWatch Logs answers (moto's Logs
//! Insights support is minimal): the queries it starts, polling until complete, parsing of
//! counts and events, and how failures are classified.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::Client as Logs;
use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryOutput;
use aws_sdk_cloudwatchlogs::types::{QueryStatus, ResultField};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use liftgate_aws::{LogsInsightsActivity, LogsInsightsConfig};
use liftgate_gateway::domain::{ActivityEvent, EventCount};
use liftgate_gateway::ports::{ActivityError, ActivityLog, ActivityQuery};
use time::OffsetDateTime;

use crate::support::json_error;

fn activity(rules: &[&Rule], timeout: Duration) -> LogsInsightsActivity {
    let client = mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::MatchAny,
        rules,
        |config| { config.retry_config(RetryConfig::disabled()) }
    );
    LogsInsightsActivity::from_client(
        client,
        LogsInsightsConfig {
            timeout,
            first_poll: Duration::from_millis(1),
        },
    )
}

fn query() -> ActivityQuery {
    ActivityQuery {
        log_group: "org-trail".to_owned(),
        start: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        end: OffsetDateTime::from_unix_timestamp(1_800_007_200).unwrap(),
        account_id: Some("111111111111".to_owned()),
        permission_set: Some("Admin".to_owned()),
        user_name: "jane".to_owned(),
        event_limit: 2,
    }
}

fn row(cells: &[(&str, &str)]) -> Vec<ResultField> {
    cells
        .iter()
        .map(|(field, value)| ResultField::builder().field(*field).value(*value).build())
        .collect()
}

fn results(status: QueryStatus, rows: Vec<Vec<ResultField>>) -> GetQueryResultsOutput {
    GetQueryResultsOutput::builder()
        .status(status)
        .set_results(Some(rows))
        .build()
}

fn start_rule(id: &'static str, stats: bool) -> Rule {
    mock!(Logs::start_query)
        .match_requests(move |request| {
            request
                .query_string()
                .is_some_and(|text| text.contains("| stats ") == stats)
                && request.log_group_identifiers() == ["org-trail".to_owned()]
                && request.start_time() == Some(1_800_000_000)
                && request.end_time() == Some(1_800_007_200)
                && request
                    .query_string()
                    .is_some_and(|text| text.contains("AWSReservedSSO_Admin_[0-9a-f]+\\/jane$/"))
        })
        .then_output(move || StartQueryOutput::builder().query_id(id).build())
}

#[tokio::test]
async fn counts_and_first_events_are_read_once_the_queries_complete() {
    let start_counts = start_rule("q-counts", true);
    let start_events = start_rule("q-events", false);
    let counts = mock!(Logs::get_query_results)
        .match_requests(|request| request.query_id() == Some("q-counts"))
        .sequence()
        .output(|| results(QueryStatus::Running, Vec::new()))
        .output(|| {
            results(
                QueryStatus::Complete,
                vec![
                    row(&[
                        ("eventSource", "s3.amazonaws.com"),
                        ("eventName", "PutBucketPolicy"),
                        ("calls", "1"),
                        ("errors", "0"),
                    ]),
                    row(&[
                        ("eventSource", "ec2.amazonaws.com"),
                        ("eventName", "TerminateInstances"),
                        ("calls", "4"),
                        ("errors", "1"),
                    ]),
                ],
            )
        })
        .build();
    let events = mock!(Logs::get_query_results)
        .match_requests(|request| request.query_id() == Some("q-events"))
        .then_output(|| {
            results(
                QueryStatus::Complete,
                vec![
                    row(&[
                        ("@timestamp", "2027-01-15 08:10:00.123"),
                        ("eventSource", "ec2.amazonaws.com"),
                        ("eventName", "TerminateInstances"),
                        ("sourceIPAddress", "198.51.100.7"),
                        ("errorCode", "UnauthorizedOperation"),
                        ("recipientAccountId", "111111111111"),
                        ("@ptr", "abc"),
                    ]),
                    row(&[
                        ("@timestamp", "2027-01-15 08:12:00.000"),
                        ("eventSource", "s3.amazonaws.com"),
                        ("eventName", "PutBucketPolicy"),
                        ("resource", "arn:aws:s3:::logs"),
                    ]),
                ],
            )
        });
    let source = activity(
        &[&start_counts, &start_events, &counts, &events],
        Duration::from_secs(5),
    );

    let found = source.changes(&query()).await.unwrap();

    assert_eq!(
        found.counts,
        vec![
            EventCount {
                event_source: "ec2.amazonaws.com".to_owned(),
                event_name: "TerminateInstances".to_owned(),
                count: 4,
                errors: 1,
            },
            EventCount {
                event_source: "s3.amazonaws.com".to_owned(),
                event_name: "PutBucketPolicy".to_owned(),
                count: 1,
                errors: 0,
            },
        ]
    );
    assert_eq!(found.total(), 5);
    assert_eq!(
        found.events,
        vec![
            ActivityEvent {
                at: time::macros::datetime!(2027-01-15 08:10:00.123 UTC),
                event_source: "ec2.amazonaws.com".to_owned(),
                event_name: "TerminateInstances".to_owned(),
                resource: None,
                source_ip: Some("198.51.100.7".to_owned()),
                error_code: Some("UnauthorizedOperation".to_owned()),
                account_id: Some("111111111111".to_owned()),
            },
            ActivityEvent {
                at: time::macros::datetime!(2027-01-15 08:12:00 UTC),
                event_source: "s3.amazonaws.com".to_owned(),
                event_name: "PutBucketPolicy".to_owned(),
                resource: Some("arn:aws:s3:::logs".to_owned()),
                source_ip: None,
                error_code: None,
                account_id: None,
            },
        ]
    );
    assert_eq!(counts.num_calls(), 2, "polled until complete");
}

#[tokio::test]
async fn an_empty_window_is_no_changes() {
    let start_counts = start_rule("q-counts", true);
    let start_events = start_rule("q-events", false);
    let empty =
        mock!(Logs::get_query_results).then_output(|| results(QueryStatus::Complete, Vec::new()));
    let source = activity(
        &[&start_counts, &start_events, &empty],
        Duration::from_secs(5),
    );
    let found = source.changes(&query()).await.unwrap();
    assert!(found.counts.is_empty());
    assert!(found.events.is_empty());
}

#[tokio::test]
async fn a_query_still_running_after_the_wait_is_retryable() {
    let start_counts = start_rule("q-counts", true);
    let start_events = start_rule("q-events", false);
    let running =
        mock!(Logs::get_query_results).then_output(|| results(QueryStatus::Running, Vec::new()));
    let source = activity(
        &[&start_counts, &start_events, &running],
        Duration::from_millis(20),
    );
    let error = source.changes(&query()).await.unwrap_err();
    assert!(
        matches!(error, ActivityError::Unavailable(ref text) if text.contains("still running")),
        "{error}"
    );
}

#[tokio::test]
async fn throttling_is_retryable_and_a_missing_log_group_is_not() {
    let throttled = mock!(Logs::start_query)
        .then_http_response(|| json_error(400, "ThrottlingException", "slow down"));
    let source = activity(&[&throttled], Duration::from_secs(1));
    assert!(matches!(
        source.changes(&query()).await,
        Err(ActivityError::Unavailable(_))
    ));

    let missing = mock!(Logs::start_query).then_http_response(|| {
        json_error(400, "ResourceNotFoundException", "Log group does not exist")
    });
    let source = activity(&[&missing], Duration::from_secs(1));
    let error = source.changes(&query()).await.unwrap_err();
    assert!(
        matches!(error, ActivityError::Failed(ref text) if text.contains("ResourceNotFoundException")),
        "{error}"
    );
}

#[tokio::test]
async fn a_failed_query_and_an_unsafe_name_are_errors() {
    let start_counts = start_rule("q-counts", true);
    let start_events = start_rule("q-events", false);
    let failed =
        mock!(Logs::get_query_results).then_output(|| results(QueryStatus::Failed, Vec::new()));
    let source = activity(
        &[&start_counts, &start_events, &failed],
        Duration::from_secs(1),
    );
    assert!(matches!(
        source.changes(&query()).await,
        Err(ActivityError::Failed(_))
    ));

    let mut unsafe_name = query();
    unsafe_name.user_name = "jane/ or x".to_owned();
    let untouched = activity(&[], Duration::from_secs(1));
    assert!(matches!(
        untouched.changes(&unsafe_name).await,
        Err(ActivityError::Invalid(_))
    ));
}
