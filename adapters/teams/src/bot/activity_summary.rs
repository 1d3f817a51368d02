//! The post-access activity summary in Teams (docs/reference.md §6): a plain-text message in
//! the approval card's conversation (its thread in a team channel), or in the approvals
//! conversation when the card is unknown; posted once per summary.

use liftgate_gateway::domain::ActivitySummary;
use liftgate_gateway::ports::NotifyError;
use serde_json::json;

use super::Bot;
use super::proactive::{notify_error, store_error};
use crate::cards::text_message;

/// Summaries already posted: `{conversation_id, activity_id}` by summary id.
pub(crate) const ACTIVITY_NAMESPACE: &str = "teams.activity";

impl Bot {
    pub(crate) async fn post_activity_summary(
        &self,
        summary: &ActivitySummary,
    ) -> Result<(), NotifyError> {
        let store = self.service.store();
        let key = summary.id.to_string();
        if store
            .get_document(ACTIVITY_NAMESPACE, &key)
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Ok(());
        }
        // Plain text: nothing a user typed or an AWS field holds is rendered as markdown.
        let message = text_message(&summary.text());
        let card = self
            .refs
            .approval_card(&summary.request_id)
            .await
            .map_err(store_error)?;
        let (conversation_id, activity_id) = match card {
            Some(card) => {
                let activity_id = self
                    .connector
                    .send_to_conversation(&card.service_url, &card.conversation_id, &message)
                    .await
                    .map_err(notify_error)?;
                (card.conversation_id, activity_id)
            }
            None => {
                let posted = self
                    .post_to_approvals(&message)
                    .await
                    .map_err(notify_error)?;
                (posted.conversation_id, posted.activity_id)
            }
        };
        store
            .put_document(
                ACTIVITY_NAMESPACE,
                &key,
                &json!({ "conversation_id": conversation_id, "activity_id": activity_id }),
            )
            .await
            .map_err(store_error)?;
        tracing::info!(request_id = %summary.request_id, "Activity summary posted in Teams.");
        Ok(())
    }
}
