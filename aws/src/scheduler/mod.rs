//! Revocation timers on EventBridge Scheduler (`scheduler.backend: eventbridge`): one one-time
//! schedule per held access (not per grant), at the latest end among the grants covering it,
//! whose universal target calls Identity Center directly, so access ends on time even when no
//! Liftgate replica is running and no timer can fire while another grant still covers it.

mod orphans;
mod target;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, ScheduleState, Target,
};
use liftgate_gateway::config::{AwsSettings, SchedulerSettings};
use liftgate_gateway::domain::{AccessKey, AccessRecord};
use liftgate_gateway::ports::{RevocationScheduler, SchedulerError};
use time::OffsetDateTime;

pub use orphans::{OrphanReport, OrphanSweepError};
pub use target::{
    IdentityCenterIds, RevocationTarget, SCHEDULE_NAME_PREFIX, TargetProblem, at_expression,
    grant_of_legacy_schedule, is_access_schedule, parse_at_expression, partition_of,
    revocation_target, schedule_name, target_of, universal_target_arn,
};

use crate::client::AwsClients;
use crate::sdk_error::{CallFailure, FailureKind, classify, error_code};

/// EventBridge Scheduler's bounds for a target's retry policy.
const MAX_RETRY_ATTEMPTS: u32 = 185;
const MIN_EVENT_AGE: Duration = Duration::from_secs(60);
const MAX_EVENT_AGE: Duration = Duration::from_secs(24 * 3600);

/// How often `set` goes around create → update when the schedule appears or disappears
/// under it (another replica, or the schedule firing).
const UPSERT_ATTEMPTS: usize = 3;

/// Everything a revocation schedule needs besides the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBridgeSchedulerConfig {
    /// The schedule group; it should belong to this Liftgate deployment alone, because
    /// [`EventBridgeScheduler::adopt_or_delete_orphans`] removes `liftgate-*` schedules whose
    /// access this deployment's state store does not hold.
    pub group_name: String,
    /// The role EventBridge Scheduler assumes to call Identity Center.
    pub role_arn: String,
    /// An SQS queue for revocations EventBridge Scheduler could not deliver.
    pub dead_letter_arn: Option<String>,
    /// 0 to 185.
    pub maximum_retry_attempts: u32,
    /// 60 s to 24 h.
    pub maximum_event_age: Duration,
    pub identity_center: IdentityCenterIds,
}

/// Settings that cannot make a working schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerSetupError {
    #[error("scheduler.role_arn is required by the eventbridge scheduler")]
    MissingRoleArn,
    #[error("scheduler.maximum_retry_attempts must be between 0 and 185, not {0}")]
    RetryAttemptsOutOfRange(u32),
    #[error("scheduler.maximum_event_age must be between 1m and 24h, not {0} s")]
    EventAgeOutOfRange(u64),
}

impl EventBridgeSchedulerConfig {
    /// The `scheduler` settings plus the Identity Center ids from `aws`.
    pub fn from_settings(
        aws: &AwsSettings,
        scheduler: &SchedulerSettings,
    ) -> Result<EventBridgeSchedulerConfig, SchedulerSetupError> {
        let role_arn = scheduler
            .role_arn
            .as_deref()
            .map(str::trim)
            .filter(|arn| !arn.is_empty())
            .ok_or(SchedulerSetupError::MissingRoleArn)?;
        let config = EventBridgeSchedulerConfig {
            group_name: scheduler.group_name.clone(),
            role_arn: role_arn.to_owned(),
            dead_letter_arn: scheduler
                .dead_letter_arn
                .as_deref()
                .map(str::trim)
                .filter(|arn| !arn.is_empty())
                .map(str::to_owned),
            maximum_retry_attempts: scheduler.maximum_retry_attempts,
            maximum_event_age: scheduler.maximum_event_age.to_std(),
            identity_center: IdentityCenterIds {
                instance_arn: aws.sso_instance_arn.clone(),
                identity_store_id: aws.identity_store_id.clone(),
            },
        };
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), SchedulerSetupError> {
        if self.role_arn.trim().is_empty() {
            return Err(SchedulerSetupError::MissingRoleArn);
        }
        if self.maximum_retry_attempts > MAX_RETRY_ATTEMPTS {
            return Err(SchedulerSetupError::RetryAttemptsOutOfRange(
                self.maximum_retry_attempts,
            ));
        }
        if !(MIN_EVENT_AGE..=MAX_EVENT_AGE).contains(&self.maximum_event_age) {
            return Err(SchedulerSetupError::EventAgeOutOfRange(
                self.maximum_event_age.as_secs(),
            ));
        }
        Ok(())
    }
}

/// The `RevocationScheduler` on EventBridge Scheduler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBridgeScheduler {
    client: aws_sdk_scheduler::Client,
    config: EventBridgeSchedulerConfig,
    partition: String,
}

/// The core's two outcomes: try again later (throttling, and also network and server errors,
/// whose outcome is unknown) or give up.
fn scheduler_error(failure: CallFailure) -> SchedulerError {
    match failure.kind {
        FailureKind::Throttled | FailureKind::Transient => {
            SchedulerError::Throttled(failure.detail)
        }
        FailureKind::Conflict | FailureKind::AccessDenied | FailureKind::Permanent => {
            SchedulerError::Failed(failure.detail)
        }
    }
}

/// What one create or update attempt ran into.
enum PutOutcome {
    Done,
    /// Create found the schedule already there.
    Exists,
    /// Update found no schedule, or create found no group.
    Missing,
}

impl EventBridgeScheduler {
    /// The production scheduler on the shared clients.
    pub fn new(
        clients: &AwsClients,
        config: EventBridgeSchedulerConfig,
    ) -> Result<EventBridgeScheduler, SchedulerSetupError> {
        Self::from_client(clients.scheduler.clone(), config)
    }

    /// Any client (moto, mocked SDK clients).
    pub fn from_client(
        client: aws_sdk_scheduler::Client,
        config: EventBridgeSchedulerConfig,
    ) -> Result<EventBridgeScheduler, SchedulerSetupError> {
        config.validate()?;
        let partition = target::partition_of(&config.role_arn).to_owned();
        Ok(EventBridgeScheduler {
            client,
            config,
            partition,
        })
    }

    pub fn config(&self) -> &EventBridgeSchedulerConfig {
        &self.config
    }

    /// Creates the schedule group if it does not exist yet. Call once at startup, before
    /// anything is scheduled.
    pub async fn ensure_group(&self) -> Result<(), SchedulerError> {
        let result = self
            .client
            .create_schedule_group()
            .name(&self.config.group_name)
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(group = %self.config.group_name, "Schedule group created.");
                Ok(())
            }
            Err(error) if error_code(&error) == Some("ConflictException") => {
                tracing::debug!(group = %self.config.group_name, "Schedule group exists.");
                Ok(())
            }
            Err(error) => Err(scheduler_error(classify("CreateScheduleGroup", &error))),
        }
    }

    fn target(&self, revocation: &RevocationTarget) -> Result<Target, SchedulerError> {
        let retry = RetryPolicy::builder()
            .maximum_retry_attempts(self.config.maximum_retry_attempts as i32)
            .maximum_event_age_in_seconds(self.config.maximum_event_age.as_secs() as i32)
            .build();
        Target::builder()
            .arn(&revocation.arn)
            .role_arn(&self.config.role_arn)
            .input(&revocation.input)
            .retry_policy(retry)
            .set_dead_letter_config(
                self.config
                    .dead_letter_arn
                    .as_ref()
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(|error| SchedulerError::Failed(format!("invalid schedule target: {error}")))
    }

    fn no_time_window() -> Result<FlexibleTimeWindow, SchedulerError> {
        FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|error| SchedulerError::Failed(format!("invalid time window: {error}")))
    }

    fn description(key: &AccessKey) -> String {
        format!("Liftgate: revokes access {key}")
    }

    async fn create(
        &self,
        name: &str,
        expression: &str,
        key: &AccessKey,
        target: Target,
    ) -> Result<PutOutcome, SchedulerError> {
        let result = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.config.group_name)
            .description(Self::description(key))
            .schedule_expression(expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(Self::no_time_window()?)
            .action_after_completion(ActionAfterCompletion::Delete)
            .state(ScheduleState::Enabled)
            .target(target)
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Done),
            Err(error) => match error_code(&error) {
                Some("ConflictException") => Ok(PutOutcome::Exists),
                Some("ResourceNotFoundException") => Ok(PutOutcome::Missing),
                _ => Err(scheduler_error(classify("CreateSchedule", &error))),
            },
        }
    }

    async fn update(
        &self,
        name: &str,
        expression: &str,
        key: &AccessKey,
        target: Target,
    ) -> Result<PutOutcome, SchedulerError> {
        let result = self
            .client
            .update_schedule()
            .name(name)
            .group_name(&self.config.group_name)
            .description(Self::description(key))
            .schedule_expression(expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(Self::no_time_window()?)
            .action_after_completion(ActionAfterCompletion::Delete)
            .state(ScheduleState::Enabled)
            .target(target)
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Done),
            Err(error) if error_code(&error) == Some("ResourceNotFoundException") => {
                Ok(PutOutcome::Missing)
            }
            Err(error) => Err(scheduler_error(classify("UpdateSchedule", &error))),
        }
    }

    /// Creates the access's schedule, or updates it when it exists, so there is never more than
    /// one per access. `prefer_update` starts with the update (for schedules known to exist).
    async fn upsert(
        &self,
        key: &AccessKey,
        revocation: &RevocationTarget,
        at: OffsetDateTime,
        prefer_update: bool,
    ) -> Result<(), SchedulerError> {
        let name = schedule_name(key);
        let expression = at_expression(at);
        let mut update_next = prefer_update;
        let mut group_checked = false;
        for _ in 0..UPSERT_ATTEMPTS {
            let target = self.target(revocation)?;
            let outcome = if update_next {
                self.update(&name, &expression, key, target).await?
            } else {
                self.create(&name, &expression, key, target).await?
            };
            match (outcome, update_next) {
                (PutOutcome::Done, _) => {
                    tracing::info!(access_key = %key, schedule = %name, %expression, "Revocation scheduled.");
                    return Ok(());
                }
                (PutOutcome::Exists, _) => update_next = true,
                // The schedule fired or was removed meanwhile: create it afresh.
                (PutOutcome::Missing, true) => update_next = false,
                // Create found no group: someone removed it; put it back once.
                (PutOutcome::Missing, false) if !group_checked => {
                    tracing::warn!(group = %self.config.group_name, "Schedule group missing; creating it again.");
                    self.ensure_group().await?;
                    group_checked = true;
                }
                (PutOutcome::Missing, false) => {
                    return Err(SchedulerError::Failed(format!(
                        "schedule group {} does not exist",
                        self.config.group_name
                    )));
                }
            }
        }
        Err(SchedulerError::Throttled(format!(
            "schedule {name} kept changing while it was written"
        )))
    }

    /// Deletes one schedule by name; one already gone is success.
    async fn delete(&self, name: &str) -> Result<(), SchedulerError> {
        let result = self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.config.group_name)
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(schedule = %name, "Revocation schedule removed.");
                Ok(())
            }
            Err(error) if error_code(&error) == Some("ResourceNotFoundException") => {
                tracing::debug!(schedule = %name, "Revocation schedule already gone.");
                Ok(())
            }
            Err(error) => Err(scheduler_error(classify("DeleteSchedule", &error))),
        }
    }
}

#[async_trait]
impl RevocationScheduler for EventBridgeScheduler {
    fn name(&self) -> &'static str {
        "eventbridge"
    }

    async fn set(&self, record: &AccessRecord, at: OffsetDateTime) -> Result<(), SchedulerError> {
        let revocation =
            match revocation_target(record, &self.config.identity_center, &self.partition) {
                Ok(revocation) => revocation,
                Err(TargetProblem::MembershipUnknown) => {
                    return Err(SchedulerError::Failed(format!(
                        "access {} has no membership to revoke yet",
                        record.key
                    )));
                }
                Err(TargetProblem::PermissionSetArnMissing) => {
                    return Err(SchedulerError::Failed(format!(
                        "access {} has no permission set ARN to revoke",
                        record.key
                    )));
                }
            };
        // Most calls move an existing schedule (a later grant, an extension, an early end).
        let prefer_update = record.timer().is_some();
        self.upsert(&record.key, &revocation, at, prefer_update)
            .await
    }

    async fn cancel(&self, key: &AccessKey) -> Result<(), SchedulerError> {
        self.delete(&schedule_name(key)).await
    }
}
