//! Slack as the conversation core's [`ChatSurface`]: Block Kit rendering of the neutral
//! request view, and `chat.postMessage` / `chat.update` / thread replies / direct messages
//! as transport. What is shown, to whom and when is decided by the core's notice driver.

use std::collections::BTreeSet;

use async_trait::async_trait;
use liftgate_gateway::conversation::{ChatSurface, Namespaces, RequestView, Updated};
use liftgate_gateway::domain::{ActivitySummary, Channel, Person};
use liftgate_gateway::ports::{DriftNotice, NotifyError};
use liftgate_policy::Email;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::activity::{ACTIVITY_NAMESPACE, activity_blocks};
use crate::adapter::SlackAdapter;
use crate::api::{ApiError, MessageRef};
use crate::blocks::message::{self, Mentions};

/// Where each request's approval message is: `{channel, ts, reminders}` by request id.
pub const MESSAGES_NAMESPACE: &str = "slack.messages";
/// What the requester was last told: `{step, at, message}` by request id.
pub const REQUESTER_NAMESPACE: &str = "slack.requester";
/// Drift warnings already posted: `{channel, ts}` by notice id.
pub const DRIFT_NAMESPACE: &str = "slack.drift";

/// A message as `chat.postMessage` takes it: the notification text and the blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackMessage {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
}

/// The people a message names: their Slack ids, and the approvers Slack does not know.
pub struct SlackAudience {
    mentions: Mentions,
    missing_approvers: Vec<Email>,
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

#[async_trait]
impl ChatSurface for SlackAdapter {
    type Reference = MessageRef;
    type Message = SlackMessage;
    type Audience = SlackAudience;

    fn platform(&self) -> Channel {
        Channel::Slack
    }

    fn namespaces(&self) -> Namespaces {
        Namespaces {
            approvals: MESSAGES_NAMESPACE,
            requester: REQUESTER_NAMESPACE,
            drift: DRIFT_NAMESPACE,
            activity: ACTIVITY_NAMESPACE,
        }
    }

    /// Looks up everyone the messages mention.
    async fn audience(&self, view: &RequestView<'_>) -> Result<SlackAudience, NotifyError> {
        let request = view.request;
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
        if let Some(actor) = view
            .grant
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
        Ok(SlackAudience {
            mentions,
            missing_approvers,
        })
    }

    fn approval_message(&self, view: &RequestView<'_>, audience: &SlackAudience) -> SlackMessage {
        let (text, blocks) =
            message::approval_message(view, &audience.mentions, &audience.missing_approvers);
        SlackMessage {
            text,
            blocks: Some(blocks),
        }
    }

    fn requester_message(&self, view: &RequestView<'_>, audience: &SlackAudience) -> SlackMessage {
        let told = message::requester_message(view, &audience.mentions);
        SlackMessage {
            text: told.text,
            blocks: Some(told.blocks),
        }
    }

    fn retired(&self, earlier: &SlackMessage) -> SlackMessage {
        SlackMessage {
            text: earlier.text.clone(),
            blocks: earlier
                .blocks
                .as_ref()
                .map(message::retired_requester_message),
        }
    }

    fn reminder(&self, view: &RequestView<'_>, audience: &SlackAudience) -> SlackMessage {
        let text = match view.review().filter(|_| view.awaits_review()) {
            Some(review) => message::review_reminder_text(
                view.request,
                review,
                &audience.mentions,
                &audience.missing_approvers,
            ),
            None => message::reminder_text(
                view.request,
                &audience.mentions,
                &audience.missing_approvers,
            ),
        };
        SlackMessage { text, blocks: None }
    }

    async fn drift_message(&self, notice: &DriftNotice) -> Result<SlackMessage, NotifyError> {
        let holder = match notice.user_email.as_deref().map(Email::parse) {
            Some(Ok(email)) => match self.people.slack_id(&email).await.map_err(slack_failure)? {
                Some(id) => format!("<@{id}> ({})", crate::blocks::escape(email.as_str())),
                None => crate::blocks::escape(email.as_str()),
            },
            _ => crate::blocks::escape(&notice.user_label()),
        };
        Ok(SlackMessage {
            text: notice.summary(),
            blocks: Some(crate::blocks::drift::drift_message(notice, &holder)),
        })
    }

    fn activity_message(&self, summary: &ActivitySummary) -> SlackMessage {
        SlackMessage {
            text: summary.headline(),
            blocks: Some(activity_blocks(summary)),
        }
    }

    fn routed<'r>(&self, routing: &'r liftgate_policy::Routing) -> Option<&'r str> {
        routing.slack_channel.as_deref()
    }

    async fn post(
        &self,
        to: Option<&str>,
        message: &SlackMessage,
    ) -> Result<MessageRef, NotifyError> {
        self.api
            .post_message(
                to.unwrap_or(&self.settings.channel_id),
                &message.text,
                message.blocks.as_ref(),
                None,
            )
            .await
            .map_err(slack_failure)
    }

    async fn update(
        &self,
        at: &MessageRef,
        message: &SlackMessage,
    ) -> Result<Updated, NotifyError> {
        let blocks = message
            .blocks
            .clone()
            .unwrap_or_else(|| Value::Array(Vec::new()));
        match self.api.update_message(at, &message.text, &blocks).await {
            Ok(()) => Ok(Updated::Done),
            Err(error)
                if matches!(
                    error.code(),
                    Some("message_not_found" | "cant_update_message" | "channel_not_found")
                ) =>
            {
                Ok(Updated::Gone)
            }
            Err(error) => Err(slack_failure(error)),
        }
    }

    async fn reply_in_thread(
        &self,
        at: &MessageRef,
        message: &SlackMessage,
    ) -> Result<MessageRef, NotifyError> {
        self.api
            .post_message(
                &at.channel,
                &message.text,
                message.blocks.as_ref(),
                Some(&at.ts),
            )
            .await
            .map_err(slack_failure)
    }

    async fn direct_message(
        &self,
        person: &Person,
        message: &SlackMessage,
    ) -> Result<Option<MessageRef>, NotifyError> {
        let user_id = match &person.slack_id {
            Some(id) => id.clone(),
            None => match self
                .people
                .slack_id(&person.email)
                .await
                .map_err(slack_failure)?
            {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        let channel = self
            .people
            .direct_message(&user_id)
            .await
            .map_err(slack_failure)?;
        self.api
            .post_message(&channel, &message.text, message.blocks.as_ref(), None)
            .await
            .map(Some)
            .map_err(slack_failure)
    }
}
