//! Break-glass (docs/reference.md §3, §6) through the workflow on fakes: an allowed requester
//! gets access at once with a loud notice; anyone else never does, and the attempt is on
//! record; only a reviewer (never the requester) may acknowledge or flag; a flag ends the
//! access; an unreviewed use escalates once per period until reviewed, from outbox rows that
//! survive a restart.

use std::time::Duration as StdDuration;

use liftgate_gateway::config::RequestSettings;
use liftgate_gateway::domain::{
    AccessRequest, Channel, NoticeKind, RequestEvent, RequestStatus, ReviewOutcome,
};
use liftgate_gateway::ports::Clock;
use liftgate_gateway::testing::{DEV, Harness, HarnessOptions, OPS_GROUP, PROD, person};
use liftgate_gateway::workflow::{Action, NewRequest, TargetInput, WorkflowError};
use liftgate_policy::{Decision, Duration};
use serde_json::json;

const HOUR: StdDuration = StdDuration::from_secs(3600);

/// Ordinary requests for ReadOnly anywhere; break-glass Admin on Prod for alice (by name) and
/// the Ops group, reviewed by carol and dave.
fn harness() -> Harness {
    let h = Harness::new(HarnessOptions {
        statements: json!([
            {"ResourceType": "Account", "Resource": "*", "PermissionSet": "ReadOnly",
             "Approvers": "bob@corp.com"},
            {"ResourceType": "Account", "Resource": PROD, "PermissionSet": "Admin",
             "BreakGlass": true, "AllowedUsers": "alice@corp.com", "AllowedGroups": OPS_GROUP,
             "Approvers": ["carol@corp.com", "dave@corp.com"], "MaxDuration": "4h",
             "ReasonPattern": "INC-[0-9]+", "ReasonHint": "Name the incident, e.g. INC-42."},
        ]),
        requests: RequestSettings {
            break_glass_review: Duration::from_hours(24),
            ..RequestSettings::default()
        },
        ..HarnessOptions::default()
    });
    h.identity.add_membership(OPS_GROUP, "u-bob");
    h
}

fn admin_on(account: &str, requester: &str, break_glass: bool) -> NewRequest {
    NewRequest {
        requester: person(requester),
        target: TargetInput::Account {
            account_id: account.to_owned(),
            permission_set: "Admin".to_owned(),
        },
        duration: Duration::from_hours(1),
        reason: "INC-7 database down".to_owned(),
        channel: Channel::Webhook,
        start_at: None,
        extends: None,
        idempotency_key: None,
        break_glass,
    }
}

async fn broken(h: &Harness, requester: &str) -> AccessRequest {
    let request = h
        .service
        .create(admin_on(PROD, requester, true))
        .await
        .unwrap();
    h.deliver_outbox().await;
    request
}

fn metric(h: &Harness, line: &str) -> bool {
    h.metrics.render().lines().any(|rendered| rendered == line)
}

fn events(h: &Harness, request: &AccessRequest) -> Vec<String> {
    h.audit.events_for(&request.id)
}

#[tokio::test]
async fn an_allowed_requester_gets_access_at_once_and_it_is_loud() {
    let h = harness();
    let request = broken(&h, "alice@corp.com").await;
    assert_eq!(request.status(), RequestStatus::Active);
    assert_eq!(request.decision, Decision::BreakGlass);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-alice"), 1);
    let review = request.break_glass.clone().unwrap();
    assert_eq!(
        review.due_at,
        request.created_at + time::Duration::hours(24)
    );
    assert!(review.reviewed.is_none());
    // The reviewers are the statement's approvers, and every one hears of it directly.
    let reviewers: Vec<&str> = request
        .approvers
        .iter()
        .map(|email| email.as_str())
        .collect();
    assert_eq!(reviewers, ["carol@corp.com", "dave@corp.com"]);
    assert!(request.routing.direct);
    assert_eq!(
        events(&h, &request),
        ["requested", "approved", "break_glass_used", "granted"]
    );
    let used = h
        .audit
        .records()
        .into_iter()
        .find(|record| record.fields.event == RequestEvent::BreakGlassUsed)
        .unwrap();
    assert!(used.fields.break_glass);
    assert_eq!(used.fields.approver_email, "alice@corp.com");
    assert!(metric(&h, "liftgate_break_glass_total{outcome=\"used\"} 1"));
    assert!(
        h.notifier
            .notices()
            .iter()
            .any(|(kind, id, _)| *kind == NoticeKind::Created && id == &request.id)
    );
    // A member of an allowed group may too.
    assert_eq!(
        broken(&h, "bob@corp.com").await.decision,
        Decision::BreakGlass
    );
}

#[tokio::test]
async fn nobody_else_ever_gets_it_and_the_attempt_is_on_record() {
    let h = harness();
    let refused = broken(&h, "requester@corp.com").await;
    assert_eq!(refused.status(), RequestStatus::Denied);
    assert_eq!(refused.decision, Decision::RequesterNotAllowed);
    assert!(refused.break_glass.is_none() && refused.break_glass_requested);
    assert!(
        refused
            .status_reason
            .as_deref()
            .unwrap()
            .starts_with("break-glass refused"),
        "{:?}",
        refused.status_reason
    );
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);
    assert!(metric(
        &h,
        "liftgate_break_glass_total{outcome=\"refused\"} 1"
    ));
    let records = h.audit.records();
    assert!(records.iter().all(|record| record.fields.break_glass));
    assert!(
        records
            .iter()
            .any(|record| record.fields.event == RequestEvent::Denied)
    );

    // No break-glass statement covers Dev; and an ordinary request never sees the
    // break-glass statement, even from someone it names.
    let dev = h
        .service
        .create(admin_on(DEV, "alice@corp.com", true))
        .await
        .unwrap();
    assert_eq!(dev.decision, Decision::NoStatements);
    let ordinary = h
        .service
        .create(admin_on(PROD, "alice@corp.com", false))
        .await
        .unwrap();
    assert_eq!(ordinary.decision, Decision::NoStatements);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-alice"), 0);
}

#[tokio::test]
async fn bad_break_glass_input_is_refused_and_changes_nothing() {
    let h = harness();
    let mut later = admin_on(PROD, "alice@corp.com", true);
    later.start_at = Some(h.clock.now() + time::Duration::hours(1));
    let refused = h.service.create(later).await.unwrap_err();
    assert_eq!(refused.code(), "break_glass_now_only");
    let mut no_incident = admin_on(PROD, "alice@corp.com", true);
    no_incident.reason = "just because".to_owned();
    let refused = h.service.create(no_incident).await.unwrap_err();
    assert_eq!(refused.code(), "reason_mismatch");
    assert!(refused.to_string().contains("INC-42"), "{refused}");
    let mut too_long = admin_on(PROD, "alice@corp.com", true);
    too_long.duration = Duration::from_hours(5);
    assert_eq!(
        h.service.create(too_long).await.unwrap_err().code(),
        "duration_too_long"
    );
    assert!(h.all_requests().await.is_empty());
    assert!(h.audit.records().is_empty());
}

#[tokio::test]
async fn only_a_reviewer_other_than_the_requester_reviews_and_once() {
    let h = harness();
    let request = broken(&h, "alice@corp.com").await;
    let acknowledge = || Action::Acknowledge {
        comment: Some("INC-7 was real".to_owned()),
    };
    for stranger in ["alice@corp.com", "bob@corp.com", "requester@corp.com"] {
        let refused = h
            .service
            .act(
                &request.id,
                &person(stranger),
                Channel::Slack,
                acknowledge(),
            )
            .await;
        assert!(
            matches!(
                refused,
                Err(WorkflowError::Forbidden {
                    code: "not_a_reviewer",
                    ..
                })
            ),
            "{stranger}: {refused:?}"
        );
    }
    let reviewed = h
        .service
        .act(
            &request.id,
            &person("carol@corp.com"),
            Channel::Slack,
            acknowledge(),
        )
        .await
        .unwrap();
    let done = reviewed
        .break_glass
        .as_ref()
        .unwrap()
        .reviewed
        .clone()
        .unwrap();
    assert_eq!(done.outcome, ReviewOutcome::Acknowledged);
    assert_eq!(done.by.email.as_str(), "carol@corp.com");
    assert_eq!(
        reviewed.status(),
        RequestStatus::Active,
        "acknowledging keeps the access"
    );
    // A repeated click is the same answer; a second reviewer is refused.
    h.service
        .act(
            &request.id,
            &person("carol@corp.com"),
            Channel::Slack,
            acknowledge(),
        )
        .await
        .unwrap();
    let second = h
        .service
        .act(
            &request.id,
            &person("dave@corp.com"),
            Channel::Teams,
            Action::Flag { comment: None },
        )
        .await;
    assert!(matches!(
        second,
        Err(WorkflowError::Conflict {
            code: "already_reviewed",
            ..
        })
    ));
    h.deliver_outbox().await;
    let record = h
        .audit
        .records()
        .into_iter()
        .find(|record| record.fields.event == RequestEvent::BreakGlassReviewed)
        .unwrap();
    assert_eq!(
        record.fields.review_outcome,
        Some(ReviewOutcome::Acknowledged)
    );
    assert_eq!(record.fields.approver_email, "carol@corp.com");
    assert_eq!(
        events(&h, &request)
            .iter()
            .filter(|event| *event == "break_glass_reviewed")
            .count(),
        1
    );
    assert!(metric(
        &h,
        "liftgate_break_glass_reviews_total{outcome=\"acknowledged\"} 1"
    ));
    // An ordinary request has nothing to review.
    let ordinary = h
        .service
        .create(NewRequest {
            target: TargetInput::Account {
                account_id: DEV.to_owned(),
                permission_set: "ReadOnly".to_owned(),
            },
            ..admin_on(DEV, "alice@corp.com", false)
        })
        .await
        .unwrap();
    let nothing = h
        .service
        .act(
            &ordinary.id,
            &person("bob@corp.com"),
            Channel::Slack,
            acknowledge(),
        )
        .await;
    assert_eq!(nothing.unwrap_err().code(), "not_break_glass");
}

#[tokio::test]
async fn a_flag_ends_the_access_now_and_is_on_record() {
    let h = harness();
    let request = broken(&h, "alice@corp.com").await;
    let flagged = h
        .service
        .act(
            &request.id,
            &person("dave@corp.com"),
            Channel::Teams,
            Action::Flag {
                comment: Some("no incident INC-7 exists".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(flagged.status(), RequestStatus::Ended);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-alice"), 0);
    h.deliver_outbox().await;
    let events = events(&h, &request);
    assert!(
        events.ends_with(&["break_glass_reviewed".to_owned(), "revoked".to_owned()]),
        "{events:?}"
    );
    assert!(metric(
        &h,
        "liftgate_break_glass_reviews_total{outcome=\"flagged\"} 1"
    ));
    // A reviewer may also end a use early without reviewing it.
    let other = broken(&h, "bob@corp.com").await;
    let ended = h
        .service
        .act(
            &other.id,
            &person("carol@corp.com"),
            Channel::Slack,
            Action::Revoke,
        )
        .await
        .unwrap();
    assert_eq!(ended.status(), RequestStatus::Ended);
    assert!(
        ended.break_glass.unwrap().is_pending(),
        "ending is not a review"
    );
}

#[tokio::test]
async fn an_unreviewed_use_escalates_once_per_period_until_reviewed_even_across_a_restart() {
    let h = harness();
    let request = broken(&h, "alice@corp.com").await;
    let overdue = |h: &Harness| {
        h.audit
            .records()
            .into_iter()
            .filter(|record| record.fields.event == RequestEvent::BreakGlassReviewOverdue)
            .count()
    };
    let reminders = |h: &Harness| {
        h.notifier
            .notices()
            .iter()
            .filter(|(kind, _, _)| *kind == NoticeKind::ReviewOverdue)
            .count()
    };
    // The grant ends after its hour; the review is still owed.
    h.advance(2 * HOUR);
    h.sweep().await;
    h.deliver_outbox().await;
    assert_eq!(h.request(&request.id).await.status(), RequestStatus::Ended);
    assert_eq!(overdue(&h), 0);

    h.advance(22 * HOUR);
    h.deliver_outbox().await;
    assert_eq!((overdue(&h), reminders(&h)), (1, 1));
    assert!(metric(&h, "liftgate_break_glass_review_overdue_total 1"));
    let escalated = h.request(&request.id).await;
    let review = escalated.break_glass.clone().unwrap();
    assert_eq!(review.escalations, 1);
    assert_eq!(
        review.due_at,
        request.created_at + time::Duration::hours(48)
    );
    // Delivering again (a redelivery, another replica) escalates nothing more.
    h.deliver_outbox().await;
    let replica = h.replica();
    h.dispatcher_for(&replica).dispatch_once().await.unwrap();
    assert_eq!(overdue(&h), 1);

    // A restart: a fresh replica's dispatcher finds the next deadline in the store.
    h.advance(24 * HOUR);
    let restarted = h.dispatcher_for(&h.replica());
    while restarted.dispatch_once().await.unwrap() > 0 {}
    assert_eq!(overdue(&h), 2);
    assert_eq!(
        h.request(&request.id)
            .await
            .break_glass
            .unwrap()
            .escalations,
        2
    );

    // Reviewed at last (of an ended grant): no more escalations.
    h.service
        .act(
            &request.id,
            &person("carol@corp.com"),
            Channel::Slack,
            Action::Acknowledge { comment: None },
        )
        .await
        .unwrap();
    h.advance(72 * HOUR);
    h.deliver_outbox().await;
    assert_eq!(overdue(&h), 2);
    assert_eq!(h.dispatcher.dispatch_once().await.unwrap(), 0);
}
