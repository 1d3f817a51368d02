//! Break-glass reviews (docs/reference.md §6): an approver acknowledges or flags a use, and a
//! use nobody reviewed in time escalates.
//!
//! The deadline is an outbox row due at it ([`REVIEW_TOPIC`]), written in the commit that
//! granted the use (and by each escalation for the next), so a restart or a lost replica never
//! loses it; the row's id follows from the request and the round, so a redelivered row or two
//! replicas escalate once.

use serde::Deserialize;
use time::OffsetDateTime;

use super::commit::Outcome;
use super::{AccessService, REVOKE_SETTLE_WAIT, WorkflowError};
use crate::domain::{
    AccessRequest, Channel, GrantEnd, Person, RequestId, RequestStatus, ReviewOutcome, ReviewTimer,
    Reviewer, Transition,
};
use crate::ports::OutboxMessage;

/// Outbox rows of review deadlines; the payload is a [`ReviewTimer`].
pub const REVIEW_TOPIC: &str = "break-glass:review";

/// What a deadline row came to, for the dispatcher.
#[derive(Debug)]
pub(crate) enum ReviewStep {
    Done,
    Retry(String),
    Unreadable(String),
}

impl AccessService {
    /// A reviewer's acknowledgement or flag of a break-glass use. Only an approver of a
    /// break-glass statement admitting the requester may review (decided on the rules in force
    /// and the reviewer's Identity Center user, never on what a client sent), and never the
    /// requester under any email. A flag also ends the access if it is still held.
    #[tracing::instrument(skip_all, fields(request_id = %id, reviewer = %reviewer.email, outcome = outcome.as_str()))]
    pub async fn review(
        &self,
        id: &RequestId,
        reviewer: &Person,
        channel: Channel,
        outcome: ReviewOutcome,
        comment: Option<String>,
    ) -> Result<AccessRequest, WorkflowError> {
        self.check_comment(comment.as_deref())?;
        let request = self.get(id).await?;
        if request.break_glass.is_none() {
            return Err(WorkflowError::conflict(
                "not_break_glass",
                "this request did not break the glass; there is nothing to review",
            ));
        }
        let requester = Self::requester_of(&request.requester.email, &request.requester_groups);
        let user_id = self.user_of(reviewer).await?;
        let permitted = user_id
            .as_deref()
            .is_some_and(|user| user != request.principal_id)
            && liftgate_policy::break_glass_reviewer_permitted(
                &self.deps.rules,
                &request.target.policy_target(),
                &requester,
                &reviewer.email,
            );
        if !permitted {
            return Err(WorkflowError::forbidden(
                "not_a_reviewer",
                "only an approver of the break-glass rule, other than the requester, can review this use",
            ));
        }
        let (request, recorded) = self
            .transact(
                None,
                || self.read_one(id),
                |snapshot, now| {
                    let current = snapshot
                        .request(id)
                        .ok_or_else(|| WorkflowError::NotFound {
                            message: format!("there is no request {id}"),
                        })?;
                    let review = Reviewer {
                        person: reviewer,
                        channel,
                        outcome,
                        comment: comment.clone(),
                    };
                    Ok(match current.review_break_glass(review, now)? {
                        None => Outcome::Done((current.clone(), false)),
                        Some(transition) => {
                            let updated = stored(&transition, id, current);
                            Outcome::Write(transition, (updated, true))
                        }
                    })
                },
            )
            .await?;
        if recorded {
            self.deps.metrics.inc(
                "liftgate_break_glass_reviews_total",
                &[("outcome", outcome.as_str())],
            );
            tracing::info!(request_id = %id, reviewer = %reviewer.email, outcome = outcome.as_str(), "Break-glass use reviewed.");
        }
        if outcome == ReviewOutcome::Flagged
            && matches!(
                request.status(),
                RequestStatus::Active | RequestStatus::Approved
            )
            && let Some(grant_id) = request.grant_id.clone()
        {
            tracing::warn!(request_id = %id, reviewer = %reviewer.email, "Break-glass use flagged; its access ends now.");
            let end = GrantEnd {
                channel,
                actor: Some(reviewer.clone()),
                reason: format!("break-glass use flagged by {}", reviewer.email),
                abandoned: false,
                failed: false,
            };
            self.end(&grant_id, end, REVOKE_SETTLE_WAIT).await?;
        }
        self.get(id).await
    }

    /// The outbox rows of the review deadlines a transition sets.
    pub(crate) fn review_rows(
        &self,
        transition: &Transition,
        now: OffsetDateTime,
    ) -> Vec<OutboxMessage> {
        transition
            .review_timers
            .iter()
            .map(|timer| OutboxMessage {
                id: timer_id(timer),
                topic: REVIEW_TOPIC.to_owned(),
                payload: serde_json::to_value(timer).unwrap_or_else(
                    |error| serde_json::json!({ "unserialisable": error.to_string() }),
                ),
                created_at: now,
                attempts: 0,
                not_before: Some(timer.due_at),
            })
            .collect()
    }

    /// Carries out a deadline row: escalates the use if it is still unreviewed.
    pub(crate) async fn check_review(&self, message: &OutboxMessage) -> ReviewStep {
        let timer = match ReviewTimer::deserialize(&message.payload) {
            Ok(timer) => timer,
            Err(error) => return ReviewStep::Unreadable(error.to_string()),
        };
        let within = self.deps.requests.break_glass_review;
        let id = timer.request_id.clone();
        let escalated = self
            .transact(
                None,
                || self.read_one(&id),
                |snapshot, now| {
                    let Some(current) = snapshot.request(&id) else {
                        return Ok(Outcome::Done(None));
                    };
                    Ok(match current.escalate_review(&timer, now, within) {
                        None => Outcome::Done(None),
                        Some(transition) => {
                            let escalations = transition
                                .request(&id)
                                .and_then(|request| request.break_glass.as_ref())
                                .map_or(0, |review| review.escalations);
                            Outcome::Write(transition, Some(escalations))
                        }
                    })
                },
            )
            .await;
        match escalated {
            Ok(Some(escalations)) => {
                self.deps
                    .metrics
                    .inc("liftgate_break_glass_review_overdue_total", &[]);
                tracing::warn!(request_id = %id, escalations, "Break-glass use not reviewed in time; escalated.");
                ReviewStep::Done
            }
            Ok(None) | Err(WorkflowError::NotFound { .. }) => ReviewStep::Done,
            Err(error) => ReviewStep::Retry(error.to_string()),
        }
    }
}

/// The request as stored after `transition`, or `current` if it does not write it.
fn stored(transition: &Transition, id: &RequestId, current: &AccessRequest) -> AccessRequest {
    transition
        .request(id)
        .map(super::commit::as_stored)
        .unwrap_or_else(|| current.clone())
}

/// One row per request and round, whoever writes it: a second write of it conflicts.
fn timer_id(timer: &ReviewTimer) -> uuid::Uuid {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(REVIEW_TOPIC.as_bytes());
    context.update(timer.request_id.as_str().as_bytes());
    context.update(&timer.round.to_be_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&context.finish().as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
