//! Break-glass (docs/reference.md §3, §6): access granted at once in an emergency, reviewed
//! afterwards by the statement's `Approvers`. The review is the request's own state, apart
//! from its status: a use is reviewed whether its grant is still active or long ended.
//!
//! Every use is reviewed within `requests.break_glass_review`; one that is not escalates (a
//! repeated notice to the channel and to every reviewer, an audit record, a metric), and again
//! every further period until someone reviews it. Flagging a use also ends its access if it is
//! still held: an approver who says the use was not justified is not overruled by the clock.

use liftgate_policy::Duration;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::lifecycle::{AuditNote, Refusal, Transition, TransitionKind};
use super::{AccessRequest, Channel, NoticeKind, Person, RequestEvent, RequestId};

/// What a reviewer said about a break-glass use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// The use was justified.
    Acknowledged,
    /// It was not: the access ends now if it is still held, and the flag is on record.
    Flagged,
}

impl ReviewOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewOutcome::Acknowledged => "acknowledged",
            ReviewOutcome::Flagged => "flagged",
        }
    }
}

/// The review of one break-glass use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassReview {
    /// When the use must have been reviewed by; moved on by each escalation.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// How many times it escalated unreviewed.
    #[serde(default)]
    pub escalations: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed: Option<Review>,
}

/// A review given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub outcome: ReviewOutcome,
    pub by: Person,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A review deadline to be checked: the store keeps it as an outbox row due at `due_at`, so a
/// restart never loses it. `round` is the number of escalations before it, which makes the row
/// and its escalation happen once each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewTimer {
    pub request_id: RequestId,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub round: u32,
}

impl BreakGlassReview {
    pub fn new(now: OffsetDateTime, within: Duration) -> BreakGlassReview {
        BreakGlassReview {
            due_at: now + within.to_std(),
            escalations: 0,
            reviewed: None,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.reviewed.is_none()
    }

    /// Whether the review is late at `now`.
    pub fn is_overdue(&self, now: OffsetDateTime) -> bool {
        self.is_pending() && now >= self.due_at
    }
}

/// Who reviews, and what they say, as the workflow checked it (the reviewer is permitted by
/// the rules in force, and is not the requester).
#[derive(Debug, Clone)]
pub struct Reviewer<'a> {
    pub person: &'a Person,
    pub channel: Channel,
    pub outcome: ReviewOutcome,
    pub comment: Option<String>,
}

impl AccessRequest {
    /// Records a review of this break-glass use. `None` when the same review is already on
    /// record (a repeated click); a conflict when someone else reviewed it first or it is not a
    /// break-glass use. The workflow ends the access of a flagged use that is still held.
    pub fn review_break_glass(
        &self,
        reviewer: Reviewer<'_>,
        now: OffsetDateTime,
    ) -> Result<Option<Transition>, Refusal> {
        let Some(review) = &self.break_glass else {
            return Err(Refusal::conflict(
                "not_break_glass",
                "this request did not break the glass; there is nothing to review",
            ));
        };
        if let Some(done) = &review.reviewed {
            if done.by.email == reviewer.person.email && done.outcome == reviewer.outcome {
                return Ok(None);
            }
            return Err(Refusal::conflict(
                "already_reviewed",
                format!(
                    "{} already {} this use",
                    done.by.email,
                    done.outcome.as_str()
                ),
            ));
        }
        let mut request = self.clone();
        let comment = reviewer
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|comment| !comment.is_empty())
            .map(str::to_owned);
        if let Some(pending) = request.break_glass.as_mut() {
            pending.reviewed = Some(Review {
                outcome: reviewer.outcome,
                by: reviewer.person.clone(),
                at: now,
                channel: reviewer.channel,
                comment: comment.clone(),
            });
        }
        let detail = match &comment {
            Some(comment) => format!("{}: {comment}", reviewer.outcome.as_str()),
            None => reviewer.outcome.as_str().to_owned(),
        };
        request.push_history(
            now,
            RequestEvent::BreakGlassReviewed,
            reviewer.channel,
            Some(&reviewer.person.email),
            Some(detail.clone()),
        );
        let mut transition = Transition::of(TransitionKind::Reviewed);
        transition.note(AuditNote {
            request_id: request.id.clone(),
            grant_id: None,
            event: RequestEvent::BreakGlassReviewed,
            channel: reviewer.channel,
            actor: Some(reviewer.person.clone()),
            reason: Some(detail),
        });
        transition.notify(&request.id, NoticeKind::Updated);
        transition.put_request(request);
        Ok(Some(transition))
    }

    /// The escalation of an unreviewed use whose deadline `timer` has come: on record, notices
    /// again, and the next deadline one more period on. `None` when there is nothing to do
    /// (reviewed meanwhile, or this round already escalated).
    pub fn escalate_review(
        &self,
        timer: &ReviewTimer,
        now: OffsetDateTime,
        within: Duration,
    ) -> Option<Transition> {
        let review = self.break_glass.as_ref()?;
        if !review.is_pending() || review.escalations != timer.round || now < review.due_at {
            return None;
        }
        let mut request = self.clone();
        let next = now + within.to_std();
        let escalations = review.escalations + 1;
        if let Some(pending) = request.break_glass.as_mut() {
            pending.escalations = escalations;
            pending.due_at = next;
        }
        let detail = format!(
            "not reviewed in time (escalation {escalations}); next escalation at {}",
            next.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        );
        request.push_history(
            now,
            RequestEvent::BreakGlassReviewOverdue,
            Channel::Scheduler,
            None,
            Some(detail.clone()),
        );
        let mut transition = Transition::of(TransitionKind::ReviewEscalated);
        transition.note(AuditNote {
            request_id: request.id.clone(),
            grant_id: None,
            event: RequestEvent::BreakGlassReviewOverdue,
            channel: Channel::Scheduler,
            actor: None,
            reason: Some(detail),
        });
        transition.notify(&request.id, NoticeKind::ReviewOverdue);
        transition.review_timers.push(ReviewTimer {
            request_id: request.id.clone(),
            due_at: next,
            round: escalations,
        });
        transition.put_request(request);
        Some(transition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RequestStatus;
    use liftgate_policy::Email;

    fn used(now: OffsetDateTime) -> AccessRequest {
        let mut request = AccessRequest::for_tests(RequestStatus::Active, now);
        request.decision = liftgate_policy::Decision::BreakGlass;
        request.break_glass = Some(BreakGlassReview::new(now, Duration::from_hours(24)));
        request
    }

    fn person(email: &str) -> Person {
        Person::from_email(Email::parse(email).unwrap())
    }

    #[test]
    fn a_review_is_recorded_once_and_a_second_reviewer_is_refused() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let request = used(now);
        let sec = person("sec@corp.com");
        fn review(who: &Person, outcome: ReviewOutcome) -> Reviewer<'_> {
            Reviewer {
                person: who,
                channel: Channel::Slack,
                outcome,
                comment: Some("  INC-1 confirmed ".to_owned()),
            }
        }
        let transition = request
            .review_break_glass(review(&sec, ReviewOutcome::Acknowledged), now)
            .unwrap()
            .unwrap();
        let reviewed = transition.request(&request.id).unwrap();
        let done = reviewed
            .break_glass
            .as_ref()
            .unwrap()
            .reviewed
            .as_ref()
            .unwrap();
        assert_eq!(done.outcome, ReviewOutcome::Acknowledged);
        assert_eq!(done.comment.as_deref(), Some("INC-1 confirmed"));
        assert_eq!(transition.audit[0].event, RequestEvent::BreakGlassReviewed);
        assert!(
            reviewed
                .review_break_glass(review(&sec, ReviewOutcome::Acknowledged), now)
                .unwrap()
                .is_none()
        );
        let other = person("lead@corp.com");
        let refusal = reviewed
            .review_break_glass(review(&other, ReviewOutcome::Flagged), now)
            .unwrap_err();
        assert_eq!(refusal.code, "already_reviewed");
        let ordinary = AccessRequest::for_tests(RequestStatus::Active, now);
        assert_eq!(
            ordinary
                .review_break_glass(review(&sec, ReviewOutcome::Flagged), now)
                .unwrap_err()
                .code,
            "not_break_glass"
        );
    }

    #[test]
    fn an_unreviewed_use_escalates_once_per_round_until_reviewed() {
        let start = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let day = Duration::from_hours(24);
        let request = used(start);
        let first = ReviewTimer {
            request_id: request.id.clone(),
            due_at: start + time::Duration::hours(24),
            round: 0,
        };
        assert!(
            request.escalate_review(&first, start, day).is_none(),
            "not due yet"
        );
        let due = start + time::Duration::hours(24);
        let transition = request.escalate_review(&first, due, day).unwrap();
        let escalated = transition.request(&request.id).unwrap().clone();
        assert_eq!(escalated.break_glass.as_ref().unwrap().escalations, 1);
        assert_eq!(
            transition.notices,
            vec![(request.id.clone(), NoticeKind::ReviewOverdue)]
        );
        let next = transition.review_timers[0].clone();
        assert_eq!(
            (next.round, next.due_at),
            (1, due + time::Duration::hours(24))
        );
        // The same row again (a redelivery) does nothing; the next round does.
        assert!(escalated.escalate_review(&first, due, day).is_none());
        assert!(escalated.escalate_review(&next, next.due_at, day).is_some());
        let sec = person("sec@corp.com");
        let reviewed = escalated
            .review_break_glass(
                Reviewer {
                    person: &sec,
                    channel: Channel::Teams,
                    outcome: ReviewOutcome::Flagged,
                    comment: None,
                },
                due,
            )
            .unwrap()
            .unwrap();
        let reviewed = reviewed.request(&request.id).unwrap();
        assert!(reviewed.escalate_review(&next, next.due_at, day).is_none());
    }
}
