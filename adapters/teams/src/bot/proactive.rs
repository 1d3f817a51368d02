//! Proactive messaging: posting to the approvals conversation (a new thread per message in a
//! team channel) and finding or opening a person's chat with the bot.

use liftgate_gateway::ports::{NotifyError, StoreError};
use serde_json::{Value, json};

use super::Bot;
use crate::connector::ConnectorError;
use crate::references::{ActivityAt, UserReference};

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

    /// Posts to a channel (a new thread) or a chat: the approvals conversation, or the one the
    /// rules route a request's approvals to.
    pub(crate) async fn post_to_conversation(
        &self,
        conversation: &str,
        message: &Value,
    ) -> Result<ActivityAt, ConnectorError> {
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
            Ok(ActivityAt {
                service_url,
                conversation_id: created.id,
                activity_id,
            })
        } else {
            let activity_id = self
                .connector
                .send_to_conversation(&service_url, conversation, message)
                .await?;
            Ok(ActivityAt {
                service_url,
                conversation_id: conversation.to_owned(),
                activity_id,
            })
        }
    }

    /// The person's chat with the bot: the one recorded, or a new one (Teams allows it once
    /// the app is installed for them or in one of their teams).
    pub(crate) async fn personal_conversation(
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
