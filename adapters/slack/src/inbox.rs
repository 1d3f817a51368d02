//! Slack work acked before it is done (decision clicks, submitted forms) is recorded in the
//! gateway's inbox first, so a replica killed after the ack does not lose it: another replica
//! (or this one, restarted) runs it again. See `liftgate_gateway::workflow::AccessService::record_acked`.

use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::ports::{InboxError, InboxHandler};

use crate::adapter::{Reply, SlackAdapter};
use crate::dispatch::Decision;
use crate::forms::Draft;

const CHANNEL: &str = "slack";

/// One piece of acked work, as recorded. Identities are Slack user ids, looked up again with
/// `users.info` when the work runs, so a resumed click is judged like a fresh one.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum SlackWork {
    Decide {
        decision: Decision,
        /// The button's value: the request id.
        value: String,
        user_id: String,
        reply: Reply,
    },
    Create {
        user_id: String,
        draft: Draft,
    },
}

impl SlackAdapter {
    /// Records `work`, then runs it after the ack.
    pub(crate) async fn run_recorded(self: &Arc<Self>, work: SlackWork) {
        let recorded = self.service.record_acked(CHANNEL, &work).await;
        let adapter = Arc::clone(self);
        self.spawn(async move {
            let service = adapter.service.clone();
            service.run_acked(recorded, adapter.perform(work)).await;
        });
    }

    async fn perform(self: Arc<Self>, work: SlackWork) {
        match work {
            SlackWork::Decide {
                decision,
                value,
                user_id,
                reply,
            } => self.decide(decision, value, user_id, reply).await,
            SlackWork::Create { user_id, draft } => self.create_request(user_id, draft).await,
        }
    }
}

/// Resumes Slack work a stopped replica left unfinished.
#[derive(Debug)]
pub(crate) struct SlackInbox(pub(crate) Arc<SlackAdapter>);

#[async_trait]
impl InboxHandler for SlackInbox {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    async fn resume(&self, work: serde_json::Value) -> Result<(), InboxError> {
        let work: SlackWork = serde_json::from_value(work)
            .map_err(|error| InboxError::Unreadable(format!("Slack work: {error}")))?;
        Arc::clone(&self.0).perform(work).await;
        Ok(())
    }
}
