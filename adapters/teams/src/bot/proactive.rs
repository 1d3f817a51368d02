//! Messages the bot sends on its own: the approval card in the approvals conversation (posted
//! once, then updated in place at every change), reminders in its thread, and the requester's
//! status card in their personal chat (a new message at each step, so they are notified).

use liftgate_gateway::domain::{AccessRequest, Channel, Grant};
use liftgate_gateway::ports::{NotifyError, StoreError};
use serde_json::{Value, json};

use super::Bot;
use crate::cards::{approval_card, card_message, requester_card, state_key, summary, text_message};
use crate::connector::ConnectorError;
use crate::references::{CardReference, UserReference};

pub(crate) fn notify_error(error: ConnectorError) -> NotifyError {
    if error.is_retryable() {
        NotifyError::Retryable(error.to_string())
    } else {
        NotifyError::Permanent(error.to_string())
    }
}

pub(crate) fn store_error(error: StoreError) -> NotifyError {
    NotifyError::Retryable(format!("state store: {error}"))
}

/// Team channels get a new thread per request; group chats get a message.
fn is_channel(conversation_id: &str) -> bool {
    !conversation_id.contains(';')
        && (conversation_id.ends_with("@thread.tacv2")
            || conversation_id.ends_with("@thread.skype"))
}

impl Bot {
    fn bot_account(&self) -> Value {
        json!({ "id": format!("28:{}", self.app_id) })
    }

    /// Posts the approval card, or updates the one already posted, to show the request now.
    pub(crate) async fn show_approval_card(
        &self,
        request: &AccessRequest,
        grant: Option<&Grant>,
    ) -> Result<(), NotifyError> {
        let card = approval_card(request, grant, None);
        let message = card_message(&card, &summary(request));
        if let Some(reference) = self
            .refs
            .approval_card(&request.id)
            .await
            .map_err(store_error)?
        {
            match self
                .connector
                .update_activity(
                    &reference.service_url,
                    &reference.conversation_id,
                    &reference.activity_id,
                    &message,
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(error) if error.is_not_found() => {
                    tracing::warn!(request_id = %request.id, "The approval card is gone; posting it again.");
                }
                Err(error) => return Err(notify_error(error)),
            }
        }
        let reference = self
            .post_to_approvals(&message)
            .await
            .map_err(notify_error)?;
        tracing::info!(request_id = %request.id, conversation_id = %reference.conversation_id, "Posted the Teams approval card.");
        self.refs
            .put_approval_card(&request.id, &reference)
            .await
            .map_err(store_error)
    }

    pub(crate) async fn post_to_approvals(
        &self,
        message: &Value,
    ) -> Result<CardReference, ConnectorError> {
        let conversation = self.approvals_conversation_id.as_str();
        let base = conversation.split(';').next().unwrap_or(conversation);
        let service_url = match self.refs.conversation(base).await {
            Ok(Some(known)) => known.service_url,
            _ => self.default_service_url.clone(),
        };
        if is_channel(conversation) {
            let parameters = json!({
                "isGroup": true,
                "bot": self.bot_account(),
                "tenantId": self.tenant_id,
                "channelData": { "channel": { "id": conversation }, "tenant": { "id": self.tenant_id } },
                "activity": message,
            });
            let created = self
                .connector
                .create_conversation(&service_url, &parameters)
                .await?;
            let activity_id = created.activity_id.ok_or_else(|| {
                ConnectorError::Decode("the new thread has no activityId".to_owned())
            })?;
            Ok(CardReference {
                service_url,
                conversation_id: created.id,
                activity_id,
                state: None,
                reminders: 0,
            })
        } else {
            let activity_id = self
                .connector
                .send_to_conversation(&service_url, conversation, message)
                .await?;
            Ok(CardReference {
                service_url,
                conversation_id: conversation.to_owned(),
                activity_id,
                state: None,
                reminders: 0,
            })
        }
    }

    /// A reminder in the approval card's thread, once per reminder the workflow counted.
    pub(crate) async fn remind_approvers(
        &self,
        request: &AccessRequest,
    ) -> Result<(), NotifyError> {
        let Some(mut reference) = self
            .refs
            .approval_card(&request.id)
            .await
            .map_err(store_error)?
        else {
            return Ok(());
        };
        if reference.reminders >= request.reminders_sent.max(1) {
            return Ok(());
        }
        let approvers: Vec<&str> = request
            .approvers
            .iter()
            .map(|email| email.as_str())
            .collect();
        let text = format!(
            "Reminder: {} is still waiting for approval (approvers: {}).",
            summary(request),
            approvers.join(", ")
        );
        self.connector
            .send_to_conversation(
                &reference.service_url,
                &reference.conversation_id,
                &text_message(&text),
            )
            .await
            .map_err(notify_error)?;
        reference.reminders = request.reminders_sent.max(1);
        self.refs
            .put_approval_card(&request.id, &reference)
            .await
            .map_err(store_error)
    }

    /// Tells the requester in their personal chat, if Teams knows them. Requests made in Slack
    /// are followed in Slack.
    pub(crate) async fn tell_requester(
        &self,
        request: &AccessRequest,
        grant: Option<&Grant>,
    ) -> Result<(), NotifyError> {
        if request.channel == Channel::Slack {
            return Ok(());
        }
        let state = state_key(request);
        let card = requester_card(request, grant, None);
        let headline = format!(
            "Your request for {}: {}",
            request.target.describe(),
            request.status().as_str()
        );
        let message = card_message(&card, &headline);
        let existing = self
            .refs
            .requester_card(&request.id)
            .await
            .map_err(store_error)?;
        if let Some(reference) = &existing
            && reference.state.as_deref() == Some(state.as_str())
        {
            // Same step delivered again: refresh the card, nothing new to announce.
            return match self
                .connector
                .update_activity(
                    &reference.service_url,
                    &reference.conversation_id,
                    &reference.activity_id,
                    &message,
                )
                .await
            {
                Ok(()) => Ok(()),
                Err(error) if error.is_not_found() => Ok(()),
                Err(error) => Err(notify_error(error)),
            };
        }
        let (service_url, conversation_id) = match &existing {
            Some(reference) => (
                reference.service_url.clone(),
                reference.conversation_id.clone(),
            ),
            None => {
                let Some(user) = self
                    .refs
                    .user(request.requester.email.as_str())
                    .await
                    .map_err(store_error)?
                else {
                    tracing::debug!(request_id = %request.id, "The requester has no Teams conversation; not telling them.");
                    return Ok(());
                };
                self.personal_conversation(&user)
                    .await
                    .map_err(notify_error)?
            }
        };
        let activity_id = self
            .connector
            .send_to_conversation(&service_url, &conversation_id, &message)
            .await
            .map_err(notify_error)?;
        let reference = CardReference {
            service_url: service_url.clone(),
            conversation_id: conversation_id.clone(),
            activity_id,
            state: Some(state),
            reminders: 0,
        };
        self.refs
            .put_requester_card(&request.id, &reference)
            .await
            .map_err(store_error)?;
        if let Some(previous) = existing {
            // The earlier card shows the same truth, so its buttons never mislead.
            if let Err(error) = self
                .connector
                .update_activity(
                    &service_url,
                    &conversation_id,
                    &previous.activity_id,
                    &message,
                )
                .await
            {
                tracing::debug!(%error, "Could not refresh an earlier requester card.");
            }
        }
        Ok(())
    }

    /// The person's chat with the bot: the one recorded, or a new one (Teams allows it once
    /// the app is installed for them or in one of their teams).
    async fn personal_conversation(
        &self,
        user: &UserReference,
    ) -> Result<(String, String), ConnectorError> {
        if let Some(id) = &user.personal_conversation_id {
            return Ok((user.service_url.clone(), id.clone()));
        }
        let parameters = json!({
            "isGroup": false,
            "bot": self.bot_account(),
            "members": [{ "id": user.user_id }],
            "tenantId": self.tenant_id,
            "channelData": { "tenant": { "id": self.tenant_id } },
        });
        let created = self
            .connector
            .create_conversation(&user.service_url, &parameters)
            .await?;
        let mut updated = user.clone();
        updated.personal_conversation_id = Some(created.id.clone());
        if let Err(error) = self.refs.remember_user(updated).await {
            tracing::warn!(%error, "Could not record a personal Teams chat.");
        }
        Ok((user.service_url.clone(), created.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_get_threads_and_chats_get_messages() {
        assert!(is_channel("19:abc@thread.tacv2"));
        assert!(is_channel("19:abc@thread.skype"));
        assert!(!is_channel("19:abc@thread.tacv2;messageid=1"));
        assert!(!is_channel("19:abc@thread.v2"));
    }
}
