//! Clicks that decide: Approve and Deny on the approval card, Acknowledge and Flag on the
//! approval card of a break-glass use, "I'm done" and "Cancel request" on the requester's card. The workflow decides whether the verified clicker may; its
//! refusal is shown on the card the clicker gets back, and nothing changes.

use actix_web::HttpResponse;
use liftgate_gateway::conversation::RequestView;
use liftgate_gateway::domain::{AccessRequest, RequestId, RequestStatus};
use liftgate_gateway::workflow::WorkflowError;

use super::forms::explain;
use super::inbox::{CHANNEL, TeamsWork, Verb, WorkOutcome};
use super::{Bot, Caller, bounded, responses};
use crate::cards::{Note, approval_card, requester_card};

/// Which card the clicker gets back.
#[derive(Clone, Copy)]
enum Shown {
    Approval,
    Requester,
}

const IN_PROGRESS: &str = "Working on it: the card updates when it is done.";

impl Bot {
    pub(crate) async fn decide(
        &self,
        caller: &Caller,
        id: &RequestId,
        approve: bool,
    ) -> HttpResponse {
        let verb = if approve { Verb::Approve } else { Verb::Deny };
        let outcome = self.decide_recorded(verb, caller, id).await;
        let done = if approve {
            "You approved this request."
        } else {
            "You denied this request."
        };
        self.answer(id, outcome, done, Shown::Approval).await
    }

    /// A reviewer's Acknowledge (or, with `flag`, Flag) of a break-glass use.
    pub(crate) async fn review(&self, caller: &Caller, id: &RequestId, flag: bool) -> HttpResponse {
        let verb = if flag { Verb::Flag } else { Verb::Acknowledge };
        let outcome = self.decide_recorded(verb, caller, id).await;
        let done = if flag {
            "You flagged this break-glass use: it is on record, and the access ends if it is still held."
        } else {
            "You acknowledged this break-glass use."
        };
        self.answer(id, outcome, done, Shown::Approval).await
    }

    pub(crate) async fn end_access(&self, caller: &Caller, id: &RequestId) -> HttpResponse {
        let outcome = self.decide_recorded(Verb::Revoke, caller, id).await;
        // Only what the store recorded: ended, called off, or still being removed.
        let done = match &outcome {
            Some(Ok(request)) if request.is_ending() => {
                "Your access is being removed; this card updates when it is gone."
            }
            Some(Ok(request)) if request.status() == RequestStatus::Cancelled => {
                "The grant was called off before it started."
            }
            _ => "Your access has ended.",
        };
        self.answer(id, outcome, done, Shown::Requester).await
    }

    pub(crate) async fn cancel_request(&self, caller: &Caller, id: &RequestId) -> HttpResponse {
        let outcome = self.decide_recorded(Verb::Cancel, caller, id).await;
        self.answer(id, outcome, "The request is cancelled.", Shown::Requester)
            .await
    }

    /// Records the decision in the inbox, then runs it, waiting at most the invoke timeout.
    async fn decide_recorded(
        &self,
        verb: Verb,
        caller: &Caller,
        id: &RequestId,
    ) -> Option<Result<AccessRequest, WorkflowError>> {
        let work = TeamsWork::Decide {
            verb,
            request_id: id.clone(),
            person: caller.person.clone(),
        };
        let recorded = self.service.record_acked(CHANNEL, &work).await;
        let service = self.service.clone();
        bounded(self.invoke_timeout, async move {
            let runner = service.clone();
            runner.run_acked(recorded, work.perform(&service)).await
        })
        .await
        .and_then(|outcome| match outcome {
            WorkOutcome::Decided(result) => Some(result),
            WorkOutcome::Created(_) => None,
        })
    }

    async fn answer(
        &self,
        id: &RequestId,
        outcome: Option<Result<AccessRequest, WorkflowError>>,
        done: &str,
        shown: Shown,
    ) -> HttpResponse {
        let (request, note) = match outcome {
            None => return responses::message(IN_PROGRESS),
            Some(Ok(request)) => (request, Note::Info(done.to_owned())),
            Some(Err(error)) => {
                tracing::info!(request_id = %id, code = error.code(), %error, "A Teams decision was refused.");
                match self.service.get(id).await {
                    Ok(request) => (request, Note::Error(explain(&error))),
                    Err(_) => return responses::message(&explain(&error)),
                }
            }
        };
        let grant = self.grant_of(&request).await;
        let card = match shown {
            Shown::Approval => {
                approval_card(&RequestView::new(&request, grant.as_ref()), Some(&note))
            }
            Shown::Requester => {
                requester_card(&RequestView::new(&request, grant.as_ref()), Some(&note))
            }
        };
        responses::card(card)
    }
}
