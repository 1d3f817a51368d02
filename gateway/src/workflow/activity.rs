//! The post-access activity summary (docs/reference.md §6): after a grant ends and its role
//! sessions can no longer be used, the organization trail is asked what the user changed, and
//! the answer is posted to the chat channels and recorded as audit event `activity_summary`.
//!
//! Durable and once across replicas: the commit that makes a grant `revoked` also writes an
//! outbox row (topic [`ACTIVITY_QUERY_TOPIC`]) due when the summary may run, so a restart
//! never loses it. Whichever replica claims it runs the query under the lease
//! `activity:<grant id>` and commits the audit record and the chat notices together with
//! [`Grant::activity_summarised_at`], a compare-and-set on the grant, so a second run (a crash
//! before the row was cleared, a takeover) finds it done. A query that keeps failing is retried
//! with backoff [`MAX_QUERY_ATTEMPTS`] times, then recorded with the error, never dropped.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AccessService;
use super::commit::Snapshot;
use crate::audit::AuditRecord;
use crate::config::ActivitySummarySettings;
use crate::domain::lifecycle::Transition;
use crate::domain::{
    AccessRequest, ActivityOutcome, ActivityScope, ActivitySummary, Channel, Grant, GrantId,
    GrantStatus, GrantTarget, RequestEvent,
};
use crate::ports::{
    AccessInventory, ActivityError, ActivityLog, ActivityQuery, Fence, OutboxMessage, Put,
    StoreError, WriteBatch,
};

/// The pending summary of one ended grant.
pub const ACTIVITY_QUERY_TOPIC: &str = "activity-query";
/// A finished summary for one chat notifier: the payload is the whole [`ActivitySummary`].
pub const ACTIVITY_NOTICE_PREFIX: &str = "activity:";

/// The delay when none is configured and Identity Center does not say the permission set's
/// `SessionDuration` (its own default is 1h).
pub const DEFAULT_DELAY: time::Duration = time::Duration::hours(1);

/// How long after the window closes the query runs: CloudTrail delivers most events to
/// CloudWatch Logs within 5 minutes, and documents up to about 15.
pub const DELIVERY_LAG: time::Duration = time::Duration::minutes(15);

/// How many times a summary is tried (a failed query, an unknown user, a deferral to the
/// session duration each count as one) before it is recorded with the error.
pub const MAX_QUERY_ATTEMPTS: u32 = 6;

/// A row whose summary no replica can make (summaries turned off everywhere) is given up
/// after this long, with an error log.
const ABANDON_AFTER: time::Duration = time::Duration::days(7);

/// The lease one summary runs under; renewed while the query runs.
const SUMMARY_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Compare-and-set attempts for recording a summary (only the grant itself is contended).
const RECORD_ATTEMPTS: usize = 4;

/// What the scheduling commit knows: the configured delay, or none (the permission set's
/// session duration, looked up when the row is first due).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ActivitySchedule {
    pub delay: Option<time::Duration>,
}

/// The payload of a [`ACTIVITY_QUERY_TOPIC`] row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSummary {
    pub grant_id: GrantId,
    /// The configured delay in seconds; `None`: the permission set's session duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<i64>,
}

/// What the dispatcher does with the row.
#[derive(Debug)]
pub(crate) enum SummaryStep {
    /// Recorded (or found recorded): clear the row.
    Done,
    /// Not yet, or failed: offer the row again at this time.
    RetryAt(String, OffsetDateTime),
    /// Nothing can be made of it; clear the row with an error log.
    Abandon(String),
    /// This version cannot read the row: keep it.
    Unreadable(String),
}

impl AccessService {
    /// Turns activity summaries on for this service's commits (`audit.activity_summary`).
    #[must_use]
    pub fn with_activity_summaries(mut self, settings: &ActivitySummarySettings) -> AccessService {
        self.activity = settings.is_enabled().then(|| ActivitySchedule {
            delay: settings
                .delay
                .map(|delay| time::Duration::seconds(delay.as_secs() as i64)),
        });
        self
    }

    /// The pending-summary rows of a transition: one per grant it makes `revoked` (a grant
    /// that was active; abandoned grants never gave access).
    pub(crate) fn activity_rows(
        &self,
        transition: &Transition,
        snapshot: &Snapshot,
        now: OffsetDateTime,
    ) -> Vec<OutboxMessage> {
        let Some(schedule) = self.activity else {
            return Vec::new();
        };
        transition
            .grants
            .iter()
            .filter(|grant| {
                grant.status() == GrantStatus::Revoked
                    && grant.activated_at.is_some()
                    && snapshot
                        .grant(&grant.id)
                        .is_none_or(|before| before.status() != GrantStatus::Revoked)
            })
            .map(|grant| {
                let first_delay = schedule.delay.unwrap_or(DEFAULT_DELAY);
                OutboxMessage {
                    id: uuid::Uuid::new_v4(),
                    topic: ACTIVITY_QUERY_TOPIC.to_owned(),
                    payload: serde_json::to_value(PendingSummary {
                        grant_id: grant.id.clone(),
                        delay_seconds: schedule.delay.map(|delay| delay.whole_seconds()),
                    })
                    .unwrap_or_else(
                        |error| serde_json::json!({ "unserialisable": error.to_string() }),
                    ),
                    created_at: now,
                    attempts: 0,
                    not_before: Some(now + first_delay + DELIVERY_LAG),
                }
            })
            .collect()
    }

    fn activity_notices(
        &self,
        summary: &ActivitySummary,
        at: OffsetDateTime,
    ) -> Vec<OutboxMessage> {
        let payload = match serde_json::to_value(summary) {
            Ok(payload) => payload,
            Err(error) => serde_json::json!({ "unserialisable": error.to_string() }),
        };
        self.deps
            .notifiers
            .iter()
            .map(|notifier| OutboxMessage {
                id: uuid::Uuid::new_v4(),
                topic: format!("{ACTIVITY_NOTICE_PREFIX}{notifier}"),
                payload: payload.clone(),
                created_at: at,
                attempts: 0,
                not_before: None,
            })
            .collect()
    }
}

/// The audit record of a summary: the request's fields as every record has them, event
/// `activity_summary`, the headline as `reason`, the summary itself in `activity_summary`.
/// Its id is the summary's, so writing it twice lands on the same object.
pub fn activity_record(
    at: OffsetDateTime,
    request: &AccessRequest,
    grant: &Grant,
    summary: &ActivitySummary,
) -> AuditRecord {
    let mut record = AuditRecord::for_request(
        at,
        RequestEvent::ActivitySummary,
        Channel::Scheduler,
        request,
        Some(grant),
        None,
        Some(&summary.headline()),
    );
    record.id = summary.id;
    record.fields.activity_summary = Some(summary.clone());
    record
}

/// Makes the summaries of ended grants: claimed by the [`super::OutboxDispatcher`] from
/// [`ACTIVITY_QUERY_TOPIC`] rows.
#[derive(Debug, Clone)]
pub struct ActivitySummarizer {
    service: AccessService,
    log: Arc<dyn ActivityLog>,
    users: Arc<dyn AccessInventory>,
    settings: ActivitySummarySettings,
}

/// Backoff between failed attempts: 1, 2, 4, 8, 16 minutes, then 30.
fn query_backoff(attempts: u32) -> time::Duration {
    time::Duration::minutes((1i64 << attempts.min(5)).min(30))
}

impl ActivitySummarizer {
    /// `log` answers the queries, `users` gives the user name (the role session name).
    pub fn new(
        service: AccessService,
        log: Arc<dyn ActivityLog>,
        users: Arc<dyn AccessInventory>,
        settings: ActivitySummarySettings,
    ) -> ActivitySummarizer {
        ActivitySummarizer {
            service,
            log,
            users,
            settings,
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.service.now()
    }

    /// Handles one pending-summary row.
    pub(crate) async fn run(&self, message: &OutboxMessage) -> SummaryStep {
        let pending: PendingSummary = match serde_json::from_value(message.payload.clone()) {
            Ok(pending) => pending,
            Err(error) => {
                return SummaryStep::Unreadable(format!("unreadable pending summary: {error}"));
            }
        };
        let grant_id = pending.grant_id.clone();
        let lease = format!("activity:{grant_id}");
        let leases = Arc::clone(self.service.leases());
        let ran = leases
            .with_lease(
                &lease,
                SUMMARY_LEASE_TTL,
                std::time::Duration::ZERO,
                |fence| self.run_held(message, pending, fence),
            )
            .await;
        match ran {
            Ok(Some(step)) => step,
            Ok(None) => SummaryStep::RetryAt(
                "another replica is making this summary".to_owned(),
                self.now() + time::Duration::minutes(1),
            ),
            Err(error) => SummaryStep::RetryAt(error.to_string(), self.now() + query_backoff(0)),
        }
    }

    async fn run_held(
        &self,
        message: &OutboxMessage,
        pending: PendingSummary,
        fence: Fence,
    ) -> SummaryStep {
        let store = self.service.store();
        let retry_soon = |error: String| SummaryStep::RetryAt(error, self.now() + query_backoff(0));
        let grant = match store.get_grant(&pending.grant_id).await {
            Ok(Some(grant)) => grant,
            Ok(None) => {
                return SummaryStep::Abandon(format!("grant {} is gone", pending.grant_id));
            }
            Err(error) => return retry_soon(error.to_string()),
        };
        if grant.activity_summarised_at.is_some() {
            return SummaryStep::Done;
        }
        let revoked_at = grant.revoked_at.unwrap_or(message.created_at);
        let delay = match pending.delay_seconds {
            Some(seconds) => time::Duration::seconds(seconds),
            None => match self.session_duration(&grant).await {
                Ok(delay) => delay,
                Err(error) => {
                    return self
                        .failed_attempt(message, &grant, revoked_at, DEFAULT_DELAY, error, fence)
                        .await;
                }
            },
        };
        let window_end = revoked_at + delay;
        let due = window_end + DELIVERY_LAG;
        let now = self.now();
        if now < due {
            // The permission set's session duration is longer than the first guess: sessions
            // started before the end may still be in use.
            return SummaryStep::RetryAt(
                format!("waiting for the session duration to pass (until {due})"),
                due,
            );
        }
        let user_name = match self.users.describe_user(&grant.principal_id).await {
            Ok(Some(user)) => user.user_name,
            Ok(None) => None,
            Err(error) if error.is_retryable() => {
                return self
                    .failed_attempt(
                        message,
                        &grant,
                        revoked_at,
                        delay,
                        ActivityError::Unavailable(error.to_string()),
                        fence,
                    )
                    .await;
            }
            Err(error) => {
                return self
                    .failed_attempt(
                        message,
                        &grant,
                        revoked_at,
                        delay,
                        ActivityError::Failed(error.to_string()),
                        fence,
                    )
                    .await;
            }
        };
        let Some(user_name) = user_name else {
            return self
                .failed_attempt(
                    message,
                    &grant,
                    revoked_at,
                    delay,
                    ActivityError::Failed(format!(
                        "the Identity Store has no user name for {}",
                        grant.principal_id
                    )),
                    fence,
                )
                .await;
        };
        let log_group = self.settings.log_group.clone().unwrap_or_default();
        let (account_id, permission_set) = match &grant.target {
            GrantTarget::Account {
                account_id,
                permission_set,
                ..
            } => (Some(account_id.clone()), Some(permission_set.clone())),
            GrantTarget::Group { .. } => (None, None),
        };
        let query = ActivityQuery {
            log_group,
            start: window_start(&grant),
            end: window_end,
            account_id,
            permission_set,
            user_name: user_name.clone(),
            event_limit: self.settings.events as usize,
        };
        match self.log.changes(&query).await {
            Ok(found) => {
                let summary = summary_of(
                    message,
                    &grant,
                    user_name,
                    &query,
                    ActivityOutcome::Found(found),
                );
                self.record(summary, fence).await
            }
            Err(error) => {
                self.failed_attempt_named(message, &grant, Some(user_name), &query, error, fence)
                    .await
            }
        }
    }

    /// The delay for a grant without a configured one: its permission set's session duration,
    /// 1h when Identity Center does not say (group grants have no single permission set).
    async fn session_duration(&self, grant: &Grant) -> Result<time::Duration, ActivityError> {
        let GrantTarget::Account {
            permission_set_arn: Some(arn),
            ..
        } = &grant.target
        else {
            return Ok(DEFAULT_DELAY);
        };
        match self.service.identity().session_duration(arn).await {
            Ok(Some(duration)) => Ok(time::Duration::seconds(duration.as_secs() as i64)),
            Ok(None) => Ok(DEFAULT_DELAY),
            Err(error) if error.is_retryable() => {
                Err(ActivityError::Unavailable(error.to_string()))
            }
            Err(error) => {
                tracing::warn!(grant_id = %grant.id, %error, "Could not read the permission set's session duration; using 1h.");
                Ok(DEFAULT_DELAY)
            }
        }
    }

    async fn failed_attempt(
        &self,
        message: &OutboxMessage,
        grant: &Grant,
        revoked_at: OffsetDateTime,
        delay: time::Duration,
        error: ActivityError,
        fence: Fence,
    ) -> SummaryStep {
        let query = ActivityQuery {
            log_group: self.settings.log_group.clone().unwrap_or_default(),
            start: window_start(grant),
            end: revoked_at + delay,
            account_id: None,
            permission_set: None,
            user_name: String::new(),
            event_limit: 0,
        };
        self.failed_attempt_named(message, grant, None, &query, error, fence)
            .await
    }

    /// A failed attempt: retried with backoff, or, once the attempts are used up (or retrying
    /// cannot help), recorded with the error.
    async fn failed_attempt_named(
        &self,
        message: &OutboxMessage,
        grant: &Grant,
        user_name: Option<String>,
        query: &ActivityQuery,
        error: ActivityError,
        fence: Fence,
    ) -> SummaryStep {
        let attempts = message.attempts + 1;
        let hopeless = matches!(error, ActivityError::Invalid(_));
        if !hopeless && attempts < MAX_QUERY_ATTEMPTS {
            tracing::warn!(grant_id = %grant.id, attempts, %error, "Activity summary failed; retrying later.");
            return SummaryStep::RetryAt(
                error.to_string(),
                self.now() + query_backoff(message.attempts),
            );
        }
        tracing::error!(grant_id = %grant.id, attempts, %error, "Activity summary given up; recording the error.");
        let outcome = ActivityOutcome::Failed {
            error: error.to_string(),
            attempts,
        };
        let user_name = user_name.unwrap_or_else(|| grant.principal_id.clone());
        let summary = summary_of(message, grant, user_name, query, outcome);
        self.record(summary, fence).await
    }

    /// Commits the summary's audit record and chat notices with the grant's mark, once.
    async fn record(&self, summary: ActivitySummary, fence: Fence) -> SummaryStep {
        let store = self.service.store();
        for _ in 0..RECORD_ATTEMPTS {
            let grant = match store.get_grant(&summary.grant_id).await {
                Ok(Some(grant)) => grant,
                Ok(None) => {
                    return SummaryStep::Abandon(format!("grant {} is gone", summary.grant_id));
                }
                Err(error) => {
                    return SummaryStep::RetryAt(error.to_string(), self.now() + query_backoff(0));
                }
            };
            if grant.activity_summarised_at.is_some() {
                return SummaryStep::Done;
            }
            let request = match store.get_request(&grant.request_id).await {
                Ok(Some(request)) => request,
                Ok(None) => {
                    return SummaryStep::Abandon(format!("request {} is gone", grant.request_id));
                }
                Err(error) => {
                    return SummaryStep::RetryAt(error.to_string(), self.now() + query_backoff(0));
                }
            };
            let now = self.now();
            let record = activity_record(now, &request, &grant, &summary);
            // The record joins the hash chain in this commit (docs/reference.md §7).
            let audit = vec![self.service.audit_append(record)];
            let outbox = self.service.activity_notices(&summary, now);
            let version = grant.version;
            let mut marked = grant;
            marked.activity_summarised_at = Some(now);
            let batch = WriteBatch {
                grants: vec![Put::update(marked, version)],
                outbox,
                audit,
                fence: Some(fence.clone()),
                ..WriteBatch::default()
            };
            match store.commit(batch).await {
                Ok(()) => {
                    tracing::info!(grant_id = %summary.grant_id, request_id = %summary.request_id, outcome = outcome_label(&summary.outcome), "Activity summary recorded.");
                    self.service.metrics().inc(
                        "liftgate_activity_summaries_total",
                        &[("outcome", outcome_label(&summary.outcome))],
                    );
                    return SummaryStep::Done;
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => {
                    return SummaryStep::RetryAt(error.to_string(), self.now() + query_backoff(0));
                }
            }
        }
        SummaryStep::RetryAt(
            "the grant kept changing while the summary was recorded".to_owned(),
            self.now() + query_backoff(0),
        )
    }

    /// Whether a row has waited so long it is given up (no replica makes summaries).
    pub(crate) fn is_abandoned(message: &OutboxMessage, now: OffsetDateTime) -> bool {
        now - message.first_due() > ABANDON_AFTER
    }
}

fn outcome_label(outcome: &ActivityOutcome) -> &'static str {
    match outcome {
        ActivityOutcome::Found(found) if found.counts.is_empty() => "no_changes",
        ActivityOutcome::Found(_) => "changes",
        ActivityOutcome::Failed { .. } => "failed",
    }
}

/// The window starts when the access was granted (a deferred start waits as `approved`).
fn window_start(grant: &Grant) -> OffsetDateTime {
    grant.activated_at.unwrap_or(grant.starts_at)
}

fn summary_of(
    message: &OutboxMessage,
    grant: &Grant,
    user_name: String,
    query: &ActivityQuery,
    outcome: ActivityOutcome,
) -> ActivitySummary {
    let scope = match &grant.target {
        GrantTarget::Account {
            account_id,
            permission_set,
            ..
        } => ActivityScope::Account {
            account_id: account_id.clone(),
            permission_set: permission_set.clone(),
        },
        GrantTarget::Group {
            group_id,
            group_name,
            ..
        } => ActivityScope::Group {
            group_id: group_id.clone(),
            group_name: group_name.clone(),
        },
    };
    ActivitySummary {
        id: message.id,
        request_id: grant.request_id.clone(),
        grant_id: grant.id.clone(),
        requester_email: grant.requester.to_string(),
        user_name,
        scope,
        window_start: query.start,
        window_end: query.end,
        outcome,
    }
}
