//! Teams work is recorded in the gateway's inbox before it runs: an invoke that outlasts its
//! timeout is answered "in progress" while the work goes on, and a replica killed meanwhile
//! must not lose it. Another replica (or this one, restarted) runs it again. See
//! `liftgate_gateway::workflow::AccessService::record_acked`.

use async_trait::async_trait;
use liftgate_gateway::domain::{AccessRequest, Channel, Person, RequestId};
use liftgate_gateway::ports::{InboxError, InboxHandler};
use liftgate_gateway::workflow::{AccessService, Action, NewRequest, WorkflowError};

pub(crate) const CHANNEL: &str = "teams";

/// A decision verb on a Teams card.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verb {
    Approve,
    Deny,
    Revoke,
    Cancel,
    /// A reviewer's acknowledgement of a break-glass use.
    Acknowledge,
    /// A reviewer's flag of a break-glass use.
    Flag,
}

/// One piece of recorded work. The person is the verified caller (token-checked sender,
/// email from the Connector's member lookup) at the time of the click.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum TeamsWork {
    Decide {
        verb: Verb,
        request_id: RequestId,
        person: Person,
    },
    Create {
        new: NewRequest,
    },
}

pub(crate) enum WorkOutcome {
    Decided(Result<AccessRequest, WorkflowError>),
    Created(Result<AccessRequest, WorkflowError>),
}

impl TeamsWork {
    pub(crate) async fn perform(self, service: &AccessService) -> WorkOutcome {
        match self {
            TeamsWork::Decide {
                verb,
                request_id,
                person,
            } => {
                let action = match verb {
                    Verb::Approve => Action::Approve { comment: None },
                    Verb::Deny => Action::Deny { comment: None },
                    Verb::Revoke => Action::Revoke,
                    Verb::Cancel => Action::Cancel,
                    Verb::Acknowledge => Action::Acknowledge { comment: None },
                    Verb::Flag => Action::Flag { comment: None },
                };
                WorkOutcome::Decided(
                    service
                        .act(&request_id, &person, Channel::Teams, action)
                        .await,
                )
            }
            TeamsWork::Create { new } => WorkOutcome::Created(service.create(new).await),
        }
    }
}

/// Resumes Teams work a stopped replica left unfinished. Its outcome reaches people the way
/// every state change does: the notifier updates the cards.
#[derive(Debug)]
pub(crate) struct TeamsInbox {
    service: AccessService,
}

impl TeamsInbox {
    pub(crate) fn new(service: AccessService) -> TeamsInbox {
        TeamsInbox { service }
    }
}

#[async_trait]
impl InboxHandler for TeamsInbox {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    async fn resume(&self, work: serde_json::Value) -> Result<(), InboxError> {
        let work: TeamsWork = serde_json::from_value(work)
            .map_err(|error| InboxError::Unreadable(format!("Teams work: {error}")))?;
        match work.perform(&self.service).await {
            WorkOutcome::Decided(Err(error)) | WorkOutcome::Created(Err(error))
                if error.is_retryable() =>
            {
                Err(InboxError::Retryable(error.to_string()))
            }
            WorkOutcome::Decided(Err(error)) | WorkOutcome::Created(Err(error)) => {
                tracing::info!(code = error.code(), %error, "Resumed Teams work was refused.");
                Ok(())
            }
            WorkOutcome::Decided(Ok(_)) | WorkOutcome::Created(Ok(_)) => Ok(()),
        }
    }
}
