//! Teams as the conversation core's [`ChatSurface`]: Adaptive Card rendering of the neutral
//! request view, and the Bot Connector's send / update / reply / personal chat as transport.
//! What is shown, to whom and when is decided by the core's notice driver.

use async_trait::async_trait;
use liftgate_gateway::conversation::{ChatSurface, Namespaces, RequestView, Updated};
use liftgate_gateway::domain::{ActivitySummary, Channel, Person};
use liftgate_gateway::ports::{DriftNotice, DriftTarget, NotifyError};
use serde_json::Value;

use crate::bot::Bot;
use crate::bot::proactive::{notify_error, store_error};
use crate::cards::{
    approval_card, card, card_message, facts, format_time, plain, requester_card, summary, text,
    text_message, title,
};
use crate::references::ActivityAt;

/// Where each request's approval card is: `{service_url, conversation_id, activity_id,
/// reminders}` by request id.
pub const APPROVAL_CARDS_NAMESPACE: &str = "teams.approval_cards";
/// What the requester was last told: `{step, at, message}` by request id.
pub const REQUESTER_NAMESPACE: &str = "teams.requester";
/// Drift warnings already posted, by notice id.
pub const DRIFT_NAMESPACE: &str = "teams.drift";
/// Activity summaries already posted, by summary id.
pub const ACTIVITY_NAMESPACE: &str = "teams.activity";

/// The drift warning: what was found and what was done, without buttons.
fn drift_card(notice: &DriftNotice) -> Value {
    let mut list = match &notice.target {
        DriftTarget::Account {
            account_id,
            account_name,
            permission_set,
            ..
        } => vec![
            (
                "Account",
                match account_name {
                    Some(name) if name != account_id => {
                        format!("{} ({})", plain(name), plain(account_id))
                    }
                    _ => plain(account_id),
                },
            ),
            ("Permission set", plain(permission_set)),
        ],
        DriftTarget::Group {
            group_id,
            group_name,
            ..
        } => vec![(
            "Group",
            match group_name {
                Some(name) if name != group_id => format!("{} ({})", plain(name), plain(group_id)),
                _ => plain(group_id),
            },
        )],
    };
    list.insert(0, ("Held by", plain(&notice.user_label())));
    card(
        vec![
            title("Access no Liftgate grant explains"),
            facts(&list),
            text(&notice.summary()),
        ],
        Vec::new(),
    )
}

#[async_trait]
impl ChatSurface for Bot {
    type Reference = ActivityAt;
    type Message = Value;
    type Audience = ();

    fn platform(&self) -> Channel {
        Channel::Teams
    }

    fn namespaces(&self) -> Namespaces {
        Namespaces {
            approvals: APPROVAL_CARDS_NAMESPACE,
            requester: REQUESTER_NAMESPACE,
            drift: DRIFT_NAMESPACE,
            activity: ACTIVITY_NAMESPACE,
        }
    }

    /// Cards name people by email: nothing to look up.
    async fn audience(&self, _view: &RequestView<'_>) -> Result<(), NotifyError> {
        Ok(())
    }

    fn approval_message(&self, view: &RequestView<'_>, _audience: &()) -> Value {
        card_message(&approval_card(view, None), &summary(view.request))
    }

    fn requester_message(&self, view: &RequestView<'_>, _audience: &()) -> Value {
        let request = view.request;
        let headline = format!(
            "Your request for {}: {}",
            request.target.describe(),
            request.status().as_str()
        );
        card_message(&requester_card(view, None), &headline)
    }

    fn retired(&self, earlier: &Value) -> Value {
        let mut retired = earlier.clone();
        if let Some(attachments) = retired["attachments"].as_array_mut() {
            for attachment in attachments {
                if let Some(content) = attachment["content"].as_object_mut() {
                    content.remove("actions");
                }
            }
        }
        retired
    }

    fn reminder(&self, view: &RequestView<'_>, _audience: &()) -> Value {
        let request = view.request;
        if let Some(review) = view.review().filter(|_| view.awaits_review()) {
            let reviewers: Vec<&str> = request
                .approvers
                .iter()
                .map(|email| email.as_str())
                .collect();
            return text_message(&format!(
                "\u{1F6A8} Break glass: the use of {} by {} is still unreviewed; the review is overdue (escalation {}). Reviewers ({}): acknowledge or flag it on the approval card; the next escalation is at {}.",
                request.target.describe(),
                request.requester.email,
                review.escalations,
                reviewers.join(", "),
                format_time(review.due_at)
            ));
        }
        let awaited: Vec<&str> = view.awaited().iter().map(|email| email.as_str()).collect();
        let progress = view.progress();
        text_message(&format!(
            "Reminder: {} is still waiting for approval ({} of {}; awaited: {}).",
            summary(request),
            progress.approved,
            progress.required,
            awaited.join(", ")
        ))
    }

    async fn drift_message(&self, notice: &DriftNotice) -> Result<Value, NotifyError> {
        Ok(card_message(&drift_card(notice), &notice.summary()))
    }

    fn activity_message(&self, summary: &ActivitySummary) -> Value {
        // Plain text: nothing a user typed or an AWS field holds is rendered as markdown.
        text_message(&summary.text())
    }

    fn routed<'r>(&self, routing: &'r liftgate_policy::Routing) -> Option<&'r str> {
        routing.teams_conversation.as_deref()
    }

    async fn post(&self, to: Option<&str>, message: &Value) -> Result<ActivityAt, NotifyError> {
        self.post_to_conversation(to.unwrap_or(&self.approvals_conversation_id), message)
            .await
            .map_err(notify_error)
    }

    async fn update(&self, at: &ActivityAt, message: &Value) -> Result<Updated, NotifyError> {
        match self
            .connector
            .update_activity(
                &at.service_url,
                &at.conversation_id,
                &at.activity_id,
                message,
            )
            .await
        {
            Ok(()) => Ok(Updated::Done),
            Err(error) if error.is_not_found() => Ok(Updated::Gone),
            Err(error) => Err(notify_error(error)),
        }
    }

    /// The approval card's conversation is its thread in a team channel.
    async fn reply_in_thread(
        &self,
        at: &ActivityAt,
        message: &Value,
    ) -> Result<ActivityAt, NotifyError> {
        let activity_id = self
            .connector
            .send_to_conversation(&at.service_url, &at.conversation_id, message)
            .await
            .map_err(notify_error)?;
        Ok(ActivityAt {
            service_url: at.service_url.clone(),
            conversation_id: at.conversation_id.clone(),
            activity_id,
        })
    }

    async fn direct_message(
        &self,
        person: &Person,
        message: &Value,
    ) -> Result<Option<ActivityAt>, NotifyError> {
        let Some(user) = self
            .refs
            .user(person.email.as_str())
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let (service_url, conversation_id) = self
            .personal_conversation(&user)
            .await
            .map_err(notify_error)?;
        let activity_id = self
            .connector
            .send_to_conversation(&service_url, &conversation_id, message)
            .await
            .map_err(notify_error)?;
        Ok(Some(ActivityAt {
            service_url,
            conversation_id,
            activity_id,
        }))
    }
}
