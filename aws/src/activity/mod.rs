//! The [`ActivityLog`] port on CloudWatch Logs Insights over the organization trail's log
//! group: two queries per summary (`StartQuery`), the counts and the first events, polled with
//! `GetQueryResults` until complete or until the configured wait runs out. CloudTrail Lake is
//! closed to new customers, so it is not used.

mod query;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::QueryStatus;
use liftgate_gateway::domain::ActivityFound;
use liftgate_gateway::ports::{ActivityError, ActivityLog, ActivityQuery};

use crate::AwsClients;
use crate::sdk_error::{FailureKind, classify};

/// Logs Insights answers at most this many rows per query.
const MAX_ROWS: usize = 10_000;

/// How the queries wait.
#[derive(Debug, Clone)]
pub struct LogsInsightsConfig {
    /// Longest wait for one query (`audit.activity_summary.query_timeout`); a query still
    /// running then is retried later.
    pub timeout: Duration,
    /// First wait between polls; it doubles up to 5 s.
    pub first_poll: Duration,
}

impl LogsInsightsConfig {
    pub fn new(timeout: Duration) -> LogsInsightsConfig {
        LogsInsightsConfig {
            timeout,
            first_poll: Duration::from_millis(500),
        }
    }
}

/// CloudWatch Logs Insights as the activity summary's source.
#[derive(Debug, Clone)]
pub struct LogsInsightsActivity {
    client: aws_sdk_cloudwatchlogs::Client,
    config: LogsInsightsConfig,
}

fn activity_error<E>(
    operation: &'static str,
    error: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> ActivityError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let failure = classify(operation, &error);
    tracing::warn!(operation, error = %failure, "Logs Insights call failed.");
    match failure.kind {
        FailureKind::Throttled | FailureKind::Transient | FailureKind::Conflict => {
            ActivityError::Unavailable(failure.detail)
        }
        FailureKind::AccessDenied | FailureKind::Permanent => ActivityError::Failed(failure.detail),
    }
}

impl LogsInsightsActivity {
    pub fn new(clients: &AwsClients, config: LogsInsightsConfig) -> LogsInsightsActivity {
        LogsInsightsActivity {
            client: clients.logs.clone(),
            config,
        }
    }

    /// Around an existing client (tests with mocked answers).
    pub fn from_client(
        client: aws_sdk_cloudwatchlogs::Client,
        config: LogsInsightsConfig,
    ) -> LogsInsightsActivity {
        LogsInsightsActivity { client, config }
    }

    /// Runs one query to completion and returns its rows.
    async fn run(
        &self,
        query: &ActivityQuery,
        text: String,
        limit: usize,
    ) -> Result<Vec<query::Row>, ActivityError> {
        let started = self
            .client
            .start_query()
            .log_group_identifiers(&query.log_group)
            .start_time(query.start.unix_timestamp())
            .end_time(query.end.unix_timestamp())
            .query_string(text)
            .limit(limit.clamp(1, MAX_ROWS) as i32)
            .send()
            .await
            .map_err(|error| activity_error("StartQuery", error))?;
        let query_id = started
            .query_id()
            .ok_or_else(|| ActivityError::Failed("StartQuery answered no queryId".to_owned()))?
            .to_owned();
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let mut pause = self.config.first_poll;
        loop {
            let output = self
                .client
                .get_query_results()
                .query_id(&query_id)
                .send()
                .await
                .map_err(|error| activity_error("GetQueryResults", error))?;
            match output.status() {
                Some(QueryStatus::Complete) => {
                    return Ok(output
                        .results()
                        .iter()
                        .map(|row| {
                            row.iter()
                                .filter_map(|cell| {
                                    Some((cell.field()?.to_owned(), cell.value()?.to_owned()))
                                })
                                .collect()
                        })
                        .collect());
                }
                Some(QueryStatus::Failed) => {
                    return Err(ActivityError::Failed(format!(
                        "Logs Insights query {query_id} failed"
                    )));
                }
                Some(status @ (QueryStatus::Cancelled | QueryStatus::Timeout)) => {
                    return Err(ActivityError::Unavailable(format!(
                        "Logs Insights query {query_id} ended {}",
                        status.as_str()
                    )));
                }
                _ => {}
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(ActivityError::Unavailable(format!(
                    "Logs Insights query {query_id} still running after {:?}",
                    self.config.timeout
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
}

#[async_trait]
impl ActivityLog for LogsInsightsActivity {
    async fn changes(&self, query: &ActivityQuery) -> Result<ActivityFound, ActivityError> {
        let counts_text = query::counts_query(query)?;
        let events_text = query::events_query(query)?;
        let (counts, events) = tokio::try_join!(
            self.run(query, counts_text, MAX_ROWS),
            self.run(query, events_text, query.event_limit),
        )?;
        Ok(ActivityFound {
            counts: query::parse_counts(&counts)?,
            events: query::parse_events(&events)?,
        })
    }
}
