//! Revocation timers on EventBridge Scheduler (`scheduler.backend: eventbridge`): one one-time
//! schedule per grant whose universal target calls Identity Center directly, so access ends on
//! time even when no Liftgate replica is running.

mod orphans;
mod target;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, ScheduleState, Target,
};
use liftgate_gateway::config::{AwsSettings, SchedulerSettings};
use liftgate_gateway::domain::{Grant, GrantId};
use liftgate_gateway::ports::{RevocationScheduler, SchedulerError};

pub use orphans::{OrphanReport, OrphanSweepError};
pub use target::{
    IdentityCenterIds, RevocationTarget, SCHEDULE_NAME_PREFIX, TargetProblem, at_expression,
    grant_of_schedule, parse_at_expression, partition_of, revocation_target, schedule_name,
    universal_target_arn,
};

use crate::client::AwsClients;
use crate::sdk_error::{CallFailure, FailureKind, classify, error_code};

/// EventBridge Scheduler's bounds for a target's retry policy.
const MAX_RETRY_ATTEMPTS: u32 = 185;
const MIN_EVENT_AGE: Duration = Duration::from_secs(60);
const MAX_EVENT_AGE: Duration = Duration::from_secs(24 * 3600);

/// How often `schedule` goes around create → update when the schedule appears or disappears
/// under it (another replica, or the schedule firing).
const UPSERT_ATTEMPTS: usize = 3;

/// Everything a revocation schedule needs besides the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBridgeSchedulerConfig {
    /// The schedule group; it should belong to this Liftgate deployment alone, because
    /// [`EventBridgeScheduler::adopt_or_delete_orphans`] removes `liftgate-*` schedules whose
    /// grant this deployment's state store does not know.
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

    fn description(grant: &Grant) -> String {
        format!(
            "Liftgate: ends grant {} of request {}",
            grant.id, grant.request_id
        )
    }

    async fn create(
        &self,
        name: &str,
        expression: &str,
        grant: &Grant,
        target: Target,
    ) -> Result<PutOutcome, SchedulerError> {
        let result = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.config.group_name)
            .description(Self::description(grant))
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
        grant: &Grant,
        target: Target,
    ) -> Result<PutOutcome, SchedulerError> {
        let result = self
            .client
            .update_schedule()
            .name(name)
            .group_name(&self.config.group_name)
            .description(Self::description(grant))
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

    /// Creates the grant's schedule, or updates it when it exists, so there is never more than
    /// one per grant. `prefer_update` starts with the update (for schedules known to exist).
    async fn upsert(&self, grant: &Grant, prefer_update: bool) -> Result<(), SchedulerError> {
        let revocation = match revocation_target(
            grant,
            &self.config.identity_center,
            &self.partition,
        ) {
            Ok(revocation) => revocation,
            Err(TargetProblem::MembershipUnknown) => {
                // Nothing in AWS can be removed yet; the workflow schedules again with the
                // membership id right after it creates the membership.
                tracing::debug!(grant_id = %grant.id, "Group membership not created yet; its schedule follows.");
                return Ok(());
            }
            Err(TargetProblem::PermissionSetArnMissing) => {
                return Err(SchedulerError::Failed(format!(
                    "grant {} has no permission set ARN to revoke",
                    grant.id
                )));
            }
        };
        let name = schedule_name(&grant.id);
        let expression = at_expression(grant.ends_at);
        let mut update_next = prefer_update;
        let mut group_checked = false;
        for _ in 0..UPSERT_ATTEMPTS {
            let target = self.target(&revocation)?;
            let outcome = if update_next {
                self.update(&name, &expression, grant, target).await?
            } else {
                self.create(&name, &expression, grant, target).await?
            };
            match (outcome, update_next) {
                (PutOutcome::Done, _) => {
                    tracing::info!(grant_id = %grant.id, schedule = %name, %expression, "Revocation scheduled.");
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

    async fn schedule(&self, grant: &Grant) -> Result<(), SchedulerError> {
        self.upsert(grant, false).await
    }

    async fn cancel(&self, grant_id: &GrantId) -> Result<(), SchedulerError> {
        self.delete(&schedule_name(grant_id)).await
    }
}
