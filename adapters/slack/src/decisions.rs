//! Button clicks on requests: approve, deny, cancel, ending one's own access early, and a
//! reviewer's acknowledgement or flag of a break-glass use. The
//! button carries only the request id; who clicked comes from Slack's `users.info`, and
//! whether they may is the workflow's decision.

use std::sync::Arc;

use liftgate_gateway::domain::{Channel, RequestId};
use liftgate_gateway::workflow::Action;

use crate::adapter::{Reply, SlackAdapter};
use crate::dispatch::Decision;
use crate::forms::workflow_text;

impl Decision {
    fn verb(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
            Decision::Cancel => "cancel",
            Decision::Revoke => "end",
            Decision::Acknowledge => "acknowledge",
            Decision::Flag => "flag",
        }
    }
}

impl SlackAdapter {
    pub(crate) async fn decide(
        self: Arc<Self>,
        decision: Decision,
        value: String,
        user_id: String,
        reply: Reply,
    ) {
        let Some(request_id) = RequestId::parse(value.trim()) else {
            tracing::warn!(slack_user = %user_id, "Ignored a decision click without a request id.");
            return;
        };
        let person = match self.people.person(&user_id).await {
            Ok(person) => person,
            Err(error) => {
                tracing::warn!(slack_user = %user_id, request_id = %request_id, %error, "Could not identify the Slack user who clicked.");
                self.tell(
                    &user_id,
                    &reply,
                    &format!(":warning: {}", error.for_people()),
                )
                .await;
                return;
            }
        };
        let action = match decision {
            Decision::Approve => Action::Approve { comment: None },
            Decision::Deny => Action::Deny { comment: None },
            Decision::Cancel => Action::Cancel,
            Decision::Revoke => Action::Revoke,
            Decision::Acknowledge => Action::Acknowledge { comment: None },
            Decision::Flag => Action::Flag { comment: None },
        };
        let outcome = self
            .service
            .act(&request_id, &person, Channel::Slack, action)
            .await;
        match outcome {
            Ok(request) => {
                tracing::info!(
                    request_id = %request.id,
                    actor = %person.email,
                    decision = decision.verb(),
                    status = request.status().as_str(),
                    "Decision taken in Slack."
                );
            }
            Err(error) => {
                tracing::info!(request_id = %request_id, actor = %person.email, code = error.code(), "Decision refused.");
                let text = format!(
                    ":warning: You could not {} this request. {}",
                    decision.verb(),
                    workflow_text(&error)
                );
                self.tell(&user_id, &reply, &text).await;
            }
        }
    }
}
