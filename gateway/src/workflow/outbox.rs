//! Delivers outbox messages to audit sinks and chat notifiers, retrying with backoff until
//! they are accepted. A sink outage delays records; it never loses one.

use std::collections::HashMap;
use std::sync::Arc;

use super::AccessService;
use super::activity::{
    ACTIVITY_NOTICE_PREFIX, ACTIVITY_QUERY_TOPIC, ActivitySummarizer, SummaryStep,
};
use super::break_glass::{REVIEW_TOPIC, ReviewStep};
use super::inbox::{INBOX_MAX_AGE, INBOX_TOPIC_PREFIX, hold_row};
use super::records::{AUDIT_TOPIC_PREFIX, DRIFT_TOPIC_PREFIX, NOTIFY_TOPIC_PREFIX, NoticePayload};
use super::sessions::{SESSIONS_TOPIC_PREFIX, SessionRevoker, SessionStep};
use crate::audit::{AuditRecord, Checkpoint};
use crate::domain::ActivitySummary;
use crate::metrics::Metrics;
use crate::ports::{
    AuditSink, CHECKPOINT_TOPIC_PREFIX, Clock, DriftNotice, InboxError, InboxHandler, Notice,
    Notifier, NotifyError, OutboxMessage, StateStore, StoreError,
};

/// Notices that keep failing for this many attempts (about a day of backoff) are dropped:
/// chat messages that late help nobody. Audit records are never dropped.
const MAX_NOTICE_ATTEMPTS: u32 = 300;

/// How long a claimed message is hidden from other replicas. Short, because a replica killed
/// mid-delivery leaves its claims until the lease ends; a delivery that outlasts it may run
/// twice, which sinks and notifiers must tolerate anyway (same object key, current state).
const CLAIM_LEASE: time::Duration = time::Duration::seconds(15);

const BATCH: usize = 100;

enum Failure {
    Retry(String),
    Drop(String),
    /// The row cannot be read by this version (a newer replica wrote it, or it is corrupt):
    /// it is kept, retried slowly and alarmed, never deleted.
    Unreadable(String),
    /// Offer it again at this time (the activity summary's own schedule and backoff).
    RetryAt(String, time::OffsetDateTime),
}

/// How long an unreadable row waits between attempts: a replica that can read it (a newer
/// version) takes it meanwhile.
const UNREADABLE_RETRY: time::Duration = time::Duration::minutes(5);

#[derive(Debug, Clone)]
pub struct OutboxDispatcher {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    sinks: HashMap<String, Arc<dyn AuditSink>>,
    notifiers: HashMap<String, Arc<dyn Notifier>>,
    /// Channels that resume acked work a dead replica left behind, by channel name.
    inbox: HashMap<String, Arc<dyn InboxHandler>>,
    /// Makes the activity summaries of ended grants, where they are on.
    activity: Option<Arc<ActivitySummarizer>>,
    /// Ends the live role sessions of removed access (`RevokeSessions`).
    sessions: Option<Arc<SessionRevoker>>,
    /// Escalates break-glass uses nobody reviewed in time.
    reviews: Option<AccessService>,
    metrics: Arc<Metrics>,
    /// Whether the backlog gauge was set yet; after that it is only recounted when a pass
    /// handled messages, the only time the backlog can have changed from this replica's view.
    backlog_counted: Arc<std::sync::atomic::AtomicBool>,
}

/// The bounded metric label of a topic: its family (`audit`, `notify`, `drift`, `inbox`, or
/// `other`).
fn topic_family(topic: &str) -> &'static str {
    if topic.starts_with(AUDIT_TOPIC_PREFIX) {
        "audit"
    } else if topic.starts_with(CHECKPOINT_TOPIC_PREFIX) {
        "checkpoint"
    } else if topic.starts_with(NOTIFY_TOPIC_PREFIX) {
        "notify"
    } else if topic.starts_with(DRIFT_TOPIC_PREFIX) {
        "drift"
    } else if topic.starts_with(INBOX_TOPIC_PREFIX) {
        "inbox"
    } else if topic.starts_with(ACTIVITY_NOTICE_PREFIX) || topic == ACTIVITY_QUERY_TOPIC {
        "activity"
    } else if topic.starts_with(SESSIONS_TOPIC_PREFIX) {
        "sessions"
    } else if topic == REVIEW_TOPIC {
        "break_glass"
    } else {
        "other"
    }
}

fn backoff(attempts: u32) -> time::Duration {
    let secs = 2u64.saturating_mul(1u64 << attempts.min(8)).min(300);
    time::Duration::seconds(secs as i64)
}

impl OutboxDispatcher {
    pub fn new(
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        sinks: Vec<Arc<dyn AuditSink>>,
        notifiers: Vec<Arc<dyn Notifier>>,
        metrics: Arc<Metrics>,
    ) -> OutboxDispatcher {
        OutboxDispatcher {
            store,
            clock,
            sinks: sinks
                .into_iter()
                .map(|sink| (sink.name().to_owned(), sink))
                .collect(),
            notifiers: notifiers
                .into_iter()
                .map(|notifier| (notifier.name().to_owned(), notifier))
                .collect(),
            inbox: HashMap::new(),
            activity: None,
            sessions: None,
            reviews: None,
            metrics,
            backlog_counted: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// Adds the channels that resume acked work (see [`crate::workflow::AccessService::record_acked`]).
    #[must_use]
    pub fn with_inbox(mut self, handlers: Vec<Arc<dyn InboxHandler>>) -> OutboxDispatcher {
        for handler in handlers {
            self.inbox.insert(handler.channel().to_owned(), handler);
        }
        self
    }

    /// Adds the maker of activity summaries (`audit.activity_summary`).
    #[must_use]
    pub fn with_activity(mut self, summarizer: ActivitySummarizer) -> OutboxDispatcher {
        self.activity = Some(Arc::new(summarizer));
        self
    }

    /// Adds the escalation of unreviewed break-glass uses (docs/reference.md §6). A replica
    /// without it leaves their deadlines to one that has it.
    #[must_use]
    pub fn with_reviews(mut self, service: AccessService) -> OutboxDispatcher {
        self.reviews = Some(service);
        self
    }

    /// Adds the revoker of live role sessions (`RevokeSessions`, docs/reference.md §6).
    #[must_use]
    pub fn with_session_revoker(mut self, revoker: SessionRevoker) -> OutboxDispatcher {
        self.sessions = Some(Arc::new(revoker));
        self
    }

    /// Delivers what is due now; returns how many messages it handled.
    pub async fn dispatch_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let messages = self
            .store
            .claim_outbox("", now, now + CLAIM_LEASE, BATCH)
            .await?;
        let count = messages.len();
        for message in messages {
            let consumer = message.topic.clone();
            match self.deliver(&message).await {
                Ok(()) => {
                    self.store.complete_outbox(message.id).await?;
                    self.metrics.inc(
                        "liftgate_outbox_delivered_total",
                        &[("consumer", &consumer)],
                    );
                }
                Err(Failure::Retry(error)) => {
                    self.metrics
                        .inc("liftgate_outbox_failures_total", &[("consumer", &consumer)]);
                    let is_notice = consumer.starts_with(NOTIFY_TOPIC_PREFIX)
                        || consumer.starts_with(DRIFT_TOPIC_PREFIX)
                        || consumer.starts_with(ACTIVITY_NOTICE_PREFIX);
                    if is_notice && message.attempts >= MAX_NOTICE_ATTEMPTS {
                        tracing::error!(topic = %consumer, %error, "Chat notice dropped after too many attempts.");
                        self.store.complete_outbox(message.id).await?;
                        continue;
                    }
                    tracing::warn!(topic = %consumer, attempts = message.attempts, %error, "Outbox delivery failed; retrying later.");
                    let retry_at = self.clock.now() + backoff(message.attempts);
                    self.store
                        .retry_outbox(message.id, retry_at, &error)
                        .await?;
                }
                Err(Failure::Drop(error)) => {
                    self.metrics
                        .inc("liftgate_outbox_failures_total", &[("consumer", &consumer)]);
                    tracing::error!(topic = %consumer, %error, "Outbox message dropped.");
                    self.store.complete_outbox(message.id).await?;
                }
                Err(Failure::RetryAt(error, retry_at)) => {
                    tracing::info!(topic = %consumer, attempts = message.attempts, %error, %retry_at, "Outbox message due again later.");
                    self.store
                        .retry_outbox(message.id, retry_at, &error)
                        .await?;
                }
                Err(Failure::Unreadable(error)) => {
                    self.metrics.inc(
                        "liftgate_outbox_unreadable_total",
                        &[("consumer", topic_family(&consumer))],
                    );
                    tracing::error!(topic = %consumer, message_id = %message.id, %error, "Outbox message unreadable; kept for a replica that can read it.");
                    let retry_at = self.clock.now() + UNREADABLE_RETRY;
                    self.store
                        .retry_outbox(message.id, retry_at, &error)
                        .await?;
                }
            }
        }
        // Counting the backlog is a query of its own (paginated on DynamoDB): not on every idle
        // pass. New messages are due at once, so a changed backlog always comes with work.
        let first_count = !self
            .backlog_counted
            .swap(true, std::sync::atomic::Ordering::Relaxed);
        if (count > 0 || first_count)
            && let Ok(pending) = self.store.outbox_len().await
        {
            self.metrics
                .set_gauge("liftgate_outbox_pending", pending as f64);
        }
        Ok(count)
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<(), Failure> {
        if let Some(sink_name) = message.topic.strip_prefix(AUDIT_TOPIC_PREFIX) {
            let record: AuditRecord =
                serde_json::from_value(message.payload.clone()).map_err(|error| {
                    Failure::Unreadable(format!("unreadable audit record: {error}"))
                })?;
            // A sink removed from the config keeps its records waiting rather than losing them.
            let sink = self.sinks.get(sink_name).ok_or_else(|| {
                Failure::Retry(format!("no audit sink named {sink_name} is configured"))
            })?;
            return sink
                .write(&record)
                .await
                .map_err(|error| Failure::Retry(error.to_string()));
        }
        if let Some(sink_name) = message.topic.strip_prefix(CHECKPOINT_TOPIC_PREFIX) {
            let checkpoint: Checkpoint =
                serde_json::from_value(message.payload.clone()).map_err(|error| {
                    Failure::Unreadable(format!("unreadable audit checkpoint: {error}"))
                })?;
            let sink = self.sinks.get(sink_name).ok_or_else(|| {
                Failure::Retry(format!("no audit sink named {sink_name} is configured"))
            })?;
            return sink
                .write_checkpoint(&checkpoint)
                .await
                .map_err(|error| Failure::Retry(error.to_string()));
        }
        if let Some(notifier_name) = message.topic.strip_prefix(NOTIFY_TOPIC_PREFIX) {
            let Some(notifier) = self.notifiers.get(notifier_name) else {
                return Err(Failure::Drop(format!(
                    "no chat notifier named {notifier_name} is enabled"
                )));
            };
            let payload: NoticePayload = serde_json::from_value(message.payload.clone())
                .map_err(|error| Failure::Unreadable(format!("unreadable notice: {error}")))?;
            let request = self
                .store
                .get_request(&payload.request_id)
                .await
                .map_err(|error| Failure::Retry(error.to_string()))?
                .ok_or_else(|| Failure::Drop(format!("request {} is gone", payload.request_id)))?;
            let grant = match &request.grant_id {
                Some(grant_id) => self
                    .store
                    .get_grant(grant_id)
                    .await
                    .map_err(|error| Failure::Retry(error.to_string()))?,
                None => None,
            };
            let notice = Notice {
                kind: payload.kind,
                request,
                grant,
            };
            return notifier.notify(&notice).await.map_err(|error| match error {
                NotifyError::Retryable(message) => Failure::Retry(message),
                NotifyError::Permanent(message) => Failure::Drop(message),
            });
        }
        if let Some(notifier_name) = message.topic.strip_prefix(DRIFT_TOPIC_PREFIX) {
            let Some(notifier) = self.notifiers.get(notifier_name) else {
                return Err(Failure::Drop(format!(
                    "no chat notifier named {notifier_name} is enabled"
                )));
            };
            let notice: DriftNotice =
                serde_json::from_value(message.payload.clone()).map_err(|error| {
                    Failure::Unreadable(format!("unreadable drift notice: {error}"))
                })?;
            return notifier.drift(&notice).await.map_err(|error| match error {
                NotifyError::Retryable(message) => Failure::Retry(message),
                NotifyError::Permanent(message) => Failure::Drop(message),
            });
        }
        if let Some(channel) = message.topic.strip_prefix(INBOX_TOPIC_PREFIX) {
            return self.resume(channel, message).await;
        }
        if message.topic == ACTIVITY_QUERY_TOPIC {
            return self.summarise(message).await;
        }
        if message.topic.starts_with(SESSIONS_TOPIC_PREFIX) {
            return self.end_sessions(message).await;
        }
        if message.topic == REVIEW_TOPIC {
            let Some(service) = &self.reviews else {
                return Err(Failure::Retry(
                    "break-glass reviews are not escalated by this replica".to_owned(),
                ));
            };
            return match service.check_review(message).await {
                ReviewStep::Done => Ok(()),
                ReviewStep::Retry(error) => Err(Failure::Retry(error)),
                ReviewStep::Unreadable(error) => Err(Failure::Unreadable(error)),
            };
        }
        if let Some(notifier_name) = message.topic.strip_prefix(ACTIVITY_NOTICE_PREFIX) {
            let Some(notifier) = self.notifiers.get(notifier_name) else {
                return Err(Failure::Drop(format!(
                    "no chat notifier named {notifier_name} is enabled"
                )));
            };
            let summary: ActivitySummary = serde_json::from_value(message.payload.clone())
                .map_err(|error| {
                    Failure::Unreadable(format!("unreadable activity summary: {error}"))
                })?;
            return notifier
                .activity_summary(&summary)
                .await
                .map_err(|error| match error {
                    NotifyError::Retryable(message) => Failure::Retry(message),
                    NotifyError::Permanent(message) => Failure::Drop(message),
                });
        }
        Err(Failure::Unreadable(format!(
            "unknown outbox topic {}",
            message.topic
        )))
    }

    /// A pending activity summary: made here if this replica has summaries on, else left for
    /// one that has (a rolling config change), and given up with an error after a week.
    async fn summarise(&self, message: &OutboxMessage) -> Result<(), Failure> {
        let Some(summarizer) = &self.activity else {
            if ActivitySummarizer::is_abandoned(message, self.clock.now()) {
                return Err(Failure::Drop(
                    "no replica makes activity summaries (audit.activity_summary); this one is given up".to_owned(),
                ));
            }
            return Err(Failure::Retry(
                "activity summaries are not enabled on this replica".to_owned(),
            ));
        };
        match summarizer.run(message).await {
            SummaryStep::Done => Ok(()),
            SummaryStep::RetryAt(error, at) => Err(Failure::RetryAt(error, at)),
            SummaryStep::Abandon(error) => Err(Failure::Drop(error)),
            SummaryStep::Unreadable(error) => Err(Failure::Unreadable(error)),
        }
    }

    /// A session revocation or its cleanup: carried out here if this replica has the
    /// revoker, else left for one that has, and given up (with an error) once every session
    /// it was about has expired by itself.
    async fn end_sessions(&self, message: &OutboxMessage) -> Result<(), Failure> {
        let Some(revoker) = &self.sessions else {
            if SessionRevoker::is_abandoned(message, self.clock.now()) {
                return Err(Failure::Drop(
                    "no replica ends live role sessions; this revocation is given up".to_owned(),
                ));
            }
            return Err(Failure::Retry(
                "live role sessions are not ended by this replica".to_owned(),
            ));
        };
        match revoker.run(message).await {
            SessionStep::Done => Ok(()),
            SessionStep::RetryAt(error, at) => Err(Failure::RetryAt(error, at)),
            SessionStep::Unreadable(error) => Err(Failure::Unreadable(error)),
        }
    }

    /// Acked work whose runner died: the channel runs it again, holding the row meanwhile.
    async fn resume(&self, channel: &str, message: &OutboxMessage) -> Result<(), Failure> {
        if self.clock.now() - message.created_at > INBOX_MAX_AGE {
            return Err(Failure::Drop(format!(
                "acked {channel} work from {} was never finished and is abandoned",
                message.created_at
            )));
        }
        // A channel disabled on this replica (or during a rolling config change) keeps its
        // work waiting for one that has it.
        let handler = self.inbox.get(channel).ok_or_else(|| {
            Failure::Retry(format!(
                "the {channel} channel is not enabled on this replica"
            ))
        })?;
        tracing::warn!(channel, message_id = %message.id, since = %message.created_at, "Resuming acked work a stopped replica left unfinished.");
        self.metrics
            .inc("liftgate_inbox_resumed_total", &[("channel", channel)]);
        let resumed = hold_row(
            &self.store,
            &self.clock,
            message.id,
            handler.resume(message.payload.clone()),
        )
        .await;
        resumed.map_err(|error| match error {
            InboxError::Retryable(text) => Failure::Retry(text),
            InboxError::Unreadable(text) => Failure::Unreadable(text),
        })
    }

    /// Delivers until `shutdown`; then makes one last pass so records written during the
    /// drain still go out.
    pub async fn run(
        &self,
        interval: std::time::Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let handled = match self.dispatch_once().await {
                Ok(handled) => handled,
                Err(error) => {
                    tracing::error!(%error, "Outbox pass failed; retrying.");
                    0
                }
            };
            if *shutdown.borrow() {
                let _ = self.dispatch_once().await;
                return;
            }
            if handled == BATCH {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
