//! Shows requests in Slack: the approval message in the approvals channel (posted once, then
//! updated with `chat.update` at every change), a direct message to the requester at each
//! step, and reminders to approvers as thread replies. Every notice renders the request's
//! current state, and what was already sent is recorded in the state store, so delivering a
//! notice twice changes nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::domain::{AccessRequest, Grant};
use liftgate_gateway::ports::{DriftNotice, Notice, NoticeKind, Notifier, NotifyError, StoreError};
use liftgate_policy::Email;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::adapter::SlackAdapter;
use crate::api::{ApiError, MessageRef};
use crate::blocks::message::{self, Mentions};

/// Where each request's approval message is: `{channel, ts, reminders}` by request id.
pub const MESSAGES_NAMESPACE: &str = "slack.messages";
/// What the requester was last told: `{step, channel, live_ts, live_blocks}` by request id.
pub const REQUESTER_NAMESPACE: &str = "slack.requester_messages";

/// Drift warnings already posted: `{channel, ts}` by notice id.
pub const DRIFT_NAMESPACE: &str = "slack.drift";

/// The lease that lets one delivery at a time post a request's message (renewed while it runs).
const POST_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApprovalMessage {
    channel: String,
    ts: String,
    /// Reminders already posted in its thread.
    #[serde(default)]
    reminders: u32,
}

impl ApprovalMessage {
    fn reference(&self) -> MessageRef {
        MessageRef {
            channel: self.channel.clone(),
            ts: self.ts.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RequesterMessages {
    /// The step last told about (see `message::requester_step`).
    step: String,
    #[serde(default)]
    channel: Option<String>,
    /// The last direct message with buttons, which come off once the request moves on.
    #[serde(default)]
    live_ts: Option<String>,
    #[serde(default)]
    live_blocks: Option<Value>,
}

/// The people a message names: their Slack ids, and the approvers Slack does not know.
struct Audience {
    mentions: Mentions,
    missing_approvers: Vec<Email>,
    requester_id: Option<String>,
}

/// The Slack channel's [`Notifier`].
#[derive(Debug)]
pub struct SlackNotifier {
    adapter: Arc<SlackAdapter>,
}

impl SlackNotifier {
    pub fn new(adapter: Arc<SlackAdapter>) -> SlackNotifier {
        SlackNotifier { adapter }
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn name(&self) -> &'static str {
        "slack"
    }

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        self.adapter.installation.check(&self.adapter.api).await?;
        self.adapter.deliver(notice).await
    }

    async fn drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        self.adapter.installation.check(&self.adapter.api).await?;
        self.adapter.report_drift(notice).await
    }

    async fn activity_summary(
        &self,
        summary: &liftgate_gateway::domain::ActivitySummary,
    ) -> Result<(), NotifyError> {
        self.adapter.installation.check(&self.adapter.api).await?;
        self.adapter.post_activity_summary(summary).await
    }
}

pub(crate) fn slack_failure(error: ApiError) -> NotifyError {
    if error.is_revoked_token() {
        // Dropping notices while the app is uninstalled would lose approval messages for
        // good; they wait in the outbox until it is reinstalled.
        return NotifyError::Retryable(format!(
            "{error}: Slack refuses the bot token (app uninstalled or token revoked); notices wait until it is reinstalled"
        ));
    }
    if error.is_retryable() {
        NotifyError::Retryable(error.to_string())
    } else {
        NotifyError::Permanent(error.to_string())
    }
}

pub(crate) fn store_failure(error: StoreError) -> NotifyError {
    NotifyError::Retryable(format!("state store: {error}"))
}

impl SlackAdapter {
    pub(crate) async fn deliver(&self, notice: &Notice) -> Result<(), NotifyError> {
        let request = &notice.request;
        let grant = notice.grant.as_ref();
        let audience = self.audience(request, grant).await?;
        if request.quiet {
            // A repeated refusal within the hour: only the requester hears of it.
            return self.tell_requester(request, grant, &audience).await;
        }
        // The channel message and the requester's DM are independent: one failing must not
        // keep the other from going out. Both are idempotent, so a retry redoes only what
        // did not happen.
        let shown = self.show(request, grant, &audience).await;
        let told = match (notice.kind, &shown) {
            (NoticeKind::Created | NoticeKind::Updated, _) => {
                self.tell_requester(request, grant, &audience).await
            }
            (NoticeKind::Reminder, Ok(shown)) => {
                self.remind(request, shown.clone(), &audience).await
            }
            (NoticeKind::Reminder, Err(_)) => Ok(()),
        };
        match (shown, told) {
            (Ok(_), Ok(())) => Ok(()),
            (Err(error @ NotifyError::Retryable(_)), _)
            | (_, Err(error @ NotifyError::Retryable(_))) => Err(error),
            (Err(error), _) | (_, Err(error)) => Err(error),
        }
    }

    /// Posts a reconciliation finding in the approvals channel, once per notice.
    async fn report_drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        let store = self.service.store();
        let key = notice.id.to_string();
        if store
            .get_document(DRIFT_NAMESPACE, &key)
            .await
            .map_err(store_failure)?
            .is_some()
        {
            return Ok(());
        }
        let holder = match notice.user_email.as_deref().map(Email::parse) {
            Some(Ok(email)) => match self.people.slack_id(&email).await.map_err(slack_failure)? {
                Some(id) => format!("<@{id}> ({})", crate::blocks::escape(email.as_str())),
                None => crate::blocks::escape(email.as_str()),
            },
            _ => crate::blocks::escape(&notice.user_label()),
        };
        let blocks = crate::blocks::drift::drift_message(notice, &holder);
        let posted = self
            .api
            .post_message(
                &self.settings.channel_id,
                &notice.summary(),
                Some(&blocks),
                None,
            )
            .await
            .map_err(slack_failure)?;
        let record = serde_json::json!({ "channel": posted.channel, "ts": posted.ts });
        store
            .put_document(DRIFT_NAMESPACE, &key, &record)
            .await
            .map_err(store_failure)?;
        tracing::info!(access_key = %notice.access_key, "Drift warning posted in Slack.");
        Ok(())
    }

    /// Looks up everyone the messages mention.
    async fn audience(
        &self,
        request: &AccessRequest,
        grant: Option<&Grant>,
    ) -> Result<Audience, NotifyError> {
        let mut emails: BTreeSet<&Email> = request.approvers.iter().collect();
        emails.extend(
            request
                .approvals
                .iter()
                .filter(|a| a.approver.slack_id.is_none())
                .map(|a| &a.approver.email),
        );
        emails.extend(
            request
                .history
                .iter()
                .filter_map(|entry| entry.actor.as_ref()),
        );
        if let Some(actor) = grant
            .and_then(|grant| grant.end.as_ref())
            .and_then(|end| end.actor.as_ref())
        {
            emails.insert(&actor.email);
        }
        let mut mentions = Mentions::default();
        let requester = &request.requester;
        if let Some(id) = &requester.slack_id {
            mentions.found.insert(requester.email.clone(), id.clone());
        } else {
            emails.insert(&requester.email);
        }
        let mut missing_approvers = Vec::new();
        for email in emails {
            if mentions.found.contains_key(email) {
                continue;
            }
            match self.people.slack_id(email).await.map_err(slack_failure)? {
                Some(id) => {
                    mentions.found.insert(email.clone(), id);
                }
                None if request.approvers.contains(email) => missing_approvers.push(email.clone()),
                None => {}
            }
        }
        let requester_id = mentions.found.get(&requester.email).cloned();
        Ok(Audience {
            mentions,
            missing_approvers,
            requester_id,
        })
    }

    /// Posts or updates the approval message so it shows the request as it is now.
    async fn show(
        &self,
        request: &AccessRequest,
        grant: Option<&Grant>,
        audience: &Audience,
    ) -> Result<ApprovalMessage, NotifyError> {
        let lease = format!("slack.message:{}", request.id);
        // Two deliveries of notices of one request at once must not both post it.
        let shown = self
            .service
            .leases()
            .with_lease(&lease, POST_LEASE, std::time::Duration::ZERO, |_| {
                self.show_leased(request, grant, audience)
            })
            .await
            .map_err(|error| NotifyError::Retryable(error.to_string()))?;
        shown.unwrap_or_else(|| {
            Err(NotifyError::Retryable(
                "another delivery is updating this request's message".to_owned(),
            ))
        })
    }

    async fn show_leased(
        &self,
        request: &AccessRequest,
        grant: Option<&Grant>,
        audience: &Audience,
    ) -> Result<ApprovalMessage, NotifyError> {
        let store = self.service.store();
        let (text, blocks) = message::approval_message(
            request,
            grant,
            &audience.mentions,
            &audience.missing_approvers,
        );
        let known = store
            .get_document(MESSAGES_NAMESPACE, request.id.as_str())
            .await
            .map_err(store_failure)?;
        let known: Option<ApprovalMessage> = known.and_then(|doc| serde_json::from_value(doc).ok());
        if let Some(known) = &known {
            match self
                .api
                .update_message(&known.reference(), &text, &blocks)
                .await
            {
                Ok(()) => return Ok(known.clone()),
                Err(error)
                    if matches!(
                        error.code(),
                        Some("message_not_found" | "cant_update_message" | "channel_not_found")
                    ) =>
                {
                    tracing::warn!(request_id = %request.id, %error, "The approval message is gone; posting it again.");
                }
                Err(error) => return Err(slack_failure(error)),
            }
        }
        let posted = self
            .api
            .post_message(&self.settings.channel_id, &text, Some(&blocks), None)
            .await
            .map_err(slack_failure)?;
        let shown = ApprovalMessage {
            channel: posted.channel,
            ts: posted.ts,
            reminders: known.map_or(0, |known| known.reminders),
        };
        self.save(MESSAGES_NAMESPACE, request, &shown).await?;
        tracing::info!(request_id = %request.id, "Approval message posted in Slack.");
        Ok(shown)
    }

    async fn save<T: Serialize>(
        &self,
        namespace: &str,
        request: &AccessRequest,
        value: &T,
    ) -> Result<(), NotifyError> {
        let value = serde_json::to_value(value)
            .map_err(|error| NotifyError::Permanent(error.to_string()))?;
        self.service
            .store()
            .put_document(namespace, request.id.as_str(), &value)
            .await
            .map_err(store_failure)
    }

    /// A direct message to the requester when their request reached a new step.
    async fn tell_requester(
        &self,
        request: &AccessRequest,
        grant: Option<&Grant>,
        audience: &Audience,
    ) -> Result<(), NotifyError> {
        let store = self.service.store();
        let step = message::requester_step(request);
        let known = store
            .get_document(REQUESTER_NAMESPACE, request.id.as_str())
            .await
            .map_err(store_failure)?;
        let known: RequesterMessages = known
            .and_then(|doc| serde_json::from_value(doc).ok())
            .unwrap_or_default();
        if known.step == step {
            return Ok(());
        }
        let Some(user_id) = &audience.requester_id else {
            tracing::info!(request_id = %request.id, "The requester is not in Slack; no direct message.");
            return self
                .save(
                    REQUESTER_NAMESPACE,
                    request,
                    &RequesterMessages {
                        step,
                        ..RequesterMessages::default()
                    },
                )
                .await;
        };
        let channel = self
            .people
            .direct_message(user_id)
            .await
            .map_err(slack_failure)?;
        let told = message::requester_message(request, grant, &audience.mentions);
        let posted = self
            .api
            .post_message(&channel, &told.text, Some(&told.blocks), None)
            .await
            .map_err(slack_failure)?;
        if let (Some(ts), Some(blocks)) = (&known.live_ts, &known.live_blocks) {
            let earlier = MessageRef {
                channel: known.channel.clone().unwrap_or_else(|| channel.clone()),
                ts: ts.clone(),
            };
            let retired = message::retired_requester_message(blocks);
            if let Err(error) = self
                .api
                .update_message(&earlier, &told.text, &retired)
                .await
            {
                tracing::debug!(request_id = %request.id, %error, "Could not take the buttons off an earlier direct message.");
            }
        }
        let record = RequesterMessages {
            step,
            channel: Some(channel),
            live_ts: told.has_buttons.then_some(posted.ts),
            live_blocks: told.has_buttons.then_some(told.blocks),
        };
        self.save(REQUESTER_NAMESPACE, request, &record).await
    }

    /// A reminder in the approval message's thread, once per reminder the workflow counted.
    async fn remind(
        &self,
        request: &AccessRequest,
        mut shown: ApprovalMessage,
        audience: &Audience,
    ) -> Result<(), NotifyError> {
        if request.status() != liftgate_gateway::domain::RequestStatus::Pending
            || shown.reminders >= request.reminders_sent
        {
            return Ok(());
        }
        let text = message::reminder_text(request, &audience.mentions, &audience.missing_approvers);
        self.api
            .post_message(&shown.channel, &text, None, Some(&shown.ts))
            .await
            .map_err(slack_failure)?;
        shown.reminders = request.reminders_sent;
        self.save(MESSAGES_NAMESPACE, request, &shown).await
    }
}
