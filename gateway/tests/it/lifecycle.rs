//! The request lifecycle (docs/reference.md §6) on fakes: every transition, quorum, concurrency, expiry,
//! reminders, early revoke, extension, deferred start, overlap, failures and crash recovery.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use liftgate_gateway::domain::{Channel, GrantStatus, RequestStatus};
use liftgate_gateway::ports::{Clock, NoticeKind, SchedulerError, StateStore};
use liftgate_gateway::testing::{
    DEV, FakeFailure, Harness, HarnessOptions, OPS_GROUP, PROD, person,
};
use liftgate_gateway::workflow::{NewRequest, TargetInput, WorkflowError};
use liftgate_policy::Duration;
use serde_json::json;

fn harness(statements: serde_json::Value) -> Harness {
    Harness::new(HarnessOptions {
        statements,
        ..HarnessOptions::default()
    })
}

fn approvers_rule() -> serde_json::Value {
    json!([{
        "ResourceType": "Account", "Resource": [PROD, DEV], "PermissionSet": ["Admin", "ReadOnly"],
        "Approvers": ["alice@corp.com", "bob@corp.com", "carol@corp.com"]
    }])
}

fn account_request(requester: &str, account: &str, permission_set: &str, hours: u64) -> NewRequest {
    NewRequest {
        requester: person(requester),
        target: TargetInput::Account {
            account_id: account.to_owned(),
            permission_set: permission_set.to_owned(),
        },
        duration: Duration::from_hours(hours),
        reason: "incident: db down".to_owned(),
        channel: Channel::Webhook,
        start_at: None,
        extends: None,
        idempotency_key: None,
        break_glass: false,
    }
}

const HOUR: StdDuration = StdDuration::from_secs(3600);

#[tokio::test]
async fn approval_grants_and_the_end_revokes_on_time_with_a_full_audit_trail() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 2))
        .await
        .unwrap();
    assert_eq!(request.status(), RequestStatus::Pending);
    assert_eq!(request.approvers.len(), 3);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);

    let approved = h
        .service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(approved.status(), RequestStatus::Active);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 1);
    let grant = h.grant_of(&request.id).await;
    assert_eq!(grant.status(), GrantStatus::Active);
    assert_eq!(grant.ends_at - grant.starts_at, time::Duration::hours(2));
    assert_eq!(
        h.scheduler.timers().get(&grant.access_key()),
        Some(&grant.ends_at)
    );

    // Just before the end nothing happens; at the end the sweeper revokes.
    h.advance(2 * HOUR - StdDuration::from_secs(1));
    assert_eq!(h.sweep().await.revoked, 0);
    h.advance(StdDuration::from_secs(1));
    assert_eq!(h.sweep().await.revoked, 1);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);
    let ended = h.request(&request.id).await;
    assert_eq!(ended.status(), RequestStatus::Ended);
    assert!(h.scheduler.timers().is_empty());

    h.deliver_outbox().await;
    assert_eq!(
        h.audit.events_for(&request.id),
        ["requested", "approved", "granted", "revoked"]
    );
    let records = h.audit.records();
    let revoked = records
        .iter()
        .find(|r| r.fields.event.as_str() == "revoked")
        .unwrap();
    assert_eq!(revoked.fields.channel, Channel::Scheduler);
    assert_eq!(revoked.fields.reason, "scheduled_revocation");
    assert_eq!(revoked.fields.operation_type, "revoke");
    let granted = records
        .iter()
        .find(|r| r.fields.event.as_str() == "granted")
        .unwrap();
    assert_eq!(granted.fields.approver_email, "alice@corp.com");
    assert_eq!(granted.fields.permission_duration, "7200");
    assert_eq!(
        granted.fields.reason, "incident: db down",
        "reasons are never truncated"
    );
    assert!(granted.fields.request_id.starts_with("create-"));
    let kinds: Vec<_> = h
        .notifier
        .notices()
        .iter()
        .map(|(kind, _, _)| *kind)
        .collect();
    assert_eq!(kinds.first(), Some(&NoticeKind::Created));
    assert!(
        kinds
            .iter()
            .skip(1)
            .all(|kind| *kind == NoticeKind::Updated)
    );
}

#[tokio::test]
async fn self_approval_and_approval_not_required_grant_at_once() {
    let h = harness(json!([
        {"ResourceType": "Account", "Resource": PROD, "PermissionSet": "Admin", "Approvers": ["requester@corp.com"], "AllowSelfApproval": true},
        {"ResourceType": "Account", "Resource": DEV, "PermissionSet": "ReadOnly", "ApprovalIsNotRequired": true}
    ]));
    let own = h
        .service
        .create(account_request("Requester@Corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    assert_eq!(own.decision.as_str(), "self_approval");
    assert_eq!(own.status(), RequestStatus::Active);
    let anyone = h
        .service
        .create(account_request("dave@corp.com", DEV, "ReadOnly", 1))
        .await
        .unwrap();
    assert_eq!(anyone.decision.as_str(), "approval_not_required");
    assert_eq!(anyone.status(), RequestStatus::Active);
    assert_eq!(h.identity.assignment_count(DEV, "ReadOnly", "u-dave"), 1);
    h.deliver_outbox().await;
    assert_eq!(
        h.audit.events_for(&own.id),
        ["requested", "approved", "granted"]
    );
}

#[tokio::test]
async fn refusals_by_rule_are_recorded_as_denied_and_grant_nothing() {
    let h = harness(json!([
        {"ResourceType": "Account", "Resource": PROD, "PermissionSet": "Admin", "Approvers": ["requester@corp.com"]}
    ]));
    let nobody = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    assert_eq!(nobody.decision.as_str(), "no_approvers");
    assert_eq!(nobody.status(), RequestStatus::Denied);
    assert_eq!(
        nobody.status_reason.as_deref(),
        Some("nobody can approve this request")
    );
    let uncovered = h
        .service
        .create(account_request("requester@corp.com", DEV, "Admin", 1))
        .await
        .unwrap();
    assert_eq!(uncovered.decision.as_str(), "no_statements");
    assert_eq!(uncovered.status(), RequestStatus::Denied);
    assert_eq!(h.identity.calls("create_assignment"), 0);
    h.deliver_outbox().await;
    assert_eq!(h.audit.events_for(&uncovered.id), ["requested", "denied"]);
}

#[tokio::test]
async fn quorum_needs_distinct_approvers_and_never_counts_the_requester() {
    let h = harness(json!([{
        "ResourceType": "Account", "Resource": PROD, "PermissionSet": "Admin",
        "Approvers": ["alice@corp.com", "bob@corp.com", "requester@corp.com"],
        "AllowSelfApproval": true, "RequiredApprovals": 2
    }]));
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    assert_eq!(
        request.status(),
        RequestStatus::Pending,
        "multi-party control disables self-approval"
    );
    assert_eq!(request.required_approvals, 2);

    let own = h
        .service
        .approve(
            &request.id,
            &person("requester@corp.com"),
            Channel::Webhook,
            None,
        )
        .await;
    assert!(
        matches!(
            own,
            Err(WorkflowError::Forbidden {
                code: "not_an_approver",
                ..
            })
        ),
        "{own:?}"
    );

    let once = h
        .service
        .approve(
            &request.id,
            &person("alice@corp.com"),
            Channel::Webhook,
            None,
        )
        .await
        .unwrap();
    assert_eq!(once.status(), RequestStatus::Pending);
    let twice = h
        .service
        .approve(
            &request.id,
            &person("ALICE@corp.com"),
            Channel::Webhook,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        twice.status(),
        RequestStatus::Pending,
        "the same person twice counts once"
    );
    assert_eq!(twice.approvals.len(), 1);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);

    let done = h
        .service
        .approve(&request.id, &person("bob@corp.com"), Channel::Teams, None)
        .await
        .unwrap();
    assert_eq!(done.status(), RequestStatus::Active);
    assert_eq!(done.approvals.len(), 2);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 1);
    h.deliver_outbox().await;
    let records = h.audit.records();
    let granted = records
        .iter()
        .find(|r| r.fields.event.as_str() == "granted")
        .unwrap();
    assert_eq!(granted.fields.approvers, ["alice@corp.com", "bob@corp.com"]);
    assert_eq!(granted.fields.channel, Channel::Teams);
}

#[tokio::test]
async fn concurrent_approvals_grant_exactly_once_and_lose_no_approval() {
    let h = Arc::new(harness(json!([{
        "ResourceType": "Account", "Resource": PROD, "PermissionSet": "Admin",
        "Approvers": ["alice@corp.com", "bob@corp.com", "carol@corp.com", "dave@corp.com"], "RequiredApprovals": 3
    }])));
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for round in 0..8 {
        for approver in ["alice", "bob", "carol"] {
            let h = Arc::clone(&h);
            let id = request.id.clone();
            tasks.push(tokio::spawn(async move {
                let _ = round;
                h.service
                    .approve(
                        &id,
                        &person(&format!("{approver}@corp.com")),
                        Channel::Slack,
                        None,
                    )
                    .await
            }));
        }
    }
    for task in tasks {
        // Late duplicates may see the request already approved: a duplicate of a counted
        // approval is answered with the request, never an error.
        let result = task.await.unwrap();
        assert!(result.is_ok(), "{result:?}");
    }
    let done = h.request(&request.id).await;
    assert_eq!(done.status(), RequestStatus::Active);
    assert_eq!(
        done.approvals.len(),
        3,
        "three distinct approvals, none lost, none doubled"
    );
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 1);
    assert_eq!(h.identity.calls("create_assignment"), 1);
    assert_eq!(h.scheduler.schedule_calls(), 1);
}

#[tokio::test]
async fn deny_and_cancel_are_limited_to_approvers_and_the_requester() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    let stranger = h
        .service
        .deny(&request.id, &person("dave@corp.com"), Channel::Slack, None)
        .await;
    assert!(matches!(stranger, Err(WorkflowError::Forbidden { .. })));
    assert_eq!(
        h.request(&request.id).await.status(),
        RequestStatus::Pending
    );

    let denied = h
        .service
        .deny(
            &request.id,
            &person("bob@corp.com"),
            Channel::Slack,
            Some("not during the freeze".to_owned()),
        )
        .await
        .unwrap();
    assert_eq!(denied.status(), RequestStatus::Denied);
    assert_eq!(
        denied.status_reason.as_deref(),
        Some("denied by bob@corp.com: not during the freeze")
    );
    let again = h
        .service
        .deny(&request.id, &person("bob@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(
        again.version, denied.version,
        "a redelivered deny changes nothing"
    );
    let late = h
        .service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await;
    assert!(matches!(
        late,
        Err(WorkflowError::Conflict {
            code: "not_pending",
            ..
        })
    ));

    let second = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    let cancelled = h
        .service
        .cancel(&second.id, &person("requester@corp.com"), Channel::Webhook)
        .await
        .unwrap();
    assert_eq!(cancelled.status(), RequestStatus::Cancelled);
    h.deliver_outbox().await;
    assert_eq!(h.audit.events_for(&second.id), ["requested", "cancelled"]);
}

#[tokio::test]
async fn pending_requests_expire_and_remind_with_backoff() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    let reminders = || {
        h.notifier
            .notices()
            .iter()
            .filter(|(kind, _, _)| *kind == NoticeKind::Reminder)
            .count()
    };
    h.deliver_outbox().await;
    h.advance(StdDuration::from_secs(15 * 60));
    assert_eq!(h.sweep().await.reminded, 1);
    h.deliver_outbox().await;
    assert_eq!(reminders(), 1);
    // Backoff ×2: the next one comes 30 minutes later, not 15.
    h.advance(StdDuration::from_secs(15 * 60));
    assert_eq!(h.sweep().await.reminded, 0);
    h.advance(StdDuration::from_secs(15 * 60));
    assert_eq!(h.sweep().await.reminded, 1);

    h.advance(8 * HOUR);
    let report = h.sweep().await;
    assert_eq!(report.expired, 1);
    let expired = h.request(&request.id).await;
    assert_eq!(expired.status(), RequestStatus::Expired);
    let late = h
        .service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await;
    assert!(matches!(late, Err(WorkflowError::Conflict { .. })));
    h.deliver_outbox().await;
    assert_eq!(h.audit.events_for(&request.id), ["requested", "expired"]);
}

#[tokio::test]
async fn early_revoke_by_the_requester_or_an_approver_only() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 4))
        .await
        .unwrap();
    h.service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    let stranger = h
        .service
        .revoke(&request.id, &person("dave@corp.com"), Channel::Slack)
        .await;
    assert!(matches!(stranger, Err(WorkflowError::Forbidden { .. })));
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 1);

    h.advance(HOUR);
    let ended = h
        .service
        .revoke(&request.id, &person("requester@corp.com"), Channel::Slack)
        .await
        .unwrap();
    assert_eq!(ended.status(), RequestStatus::Ended);
    assert_eq!(
        ended.status_reason.as_deref(),
        Some("revoked early by requester@corp.com")
    );
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);
    let again = h
        .service
        .revoke(&request.id, &person("requester@corp.com"), Channel::Slack)
        .await
        .unwrap();
    assert_eq!(again.status(), RequestStatus::Ended);
    h.deliver_outbox().await;
    let records = h.audit.records();
    let revoked = records
        .iter()
        .find(|r| r.fields.event.as_str() == "revoked")
        .unwrap();
    assert_eq!(revoked.fields.channel, Channel::Slack);
    assert_eq!(revoked.fields.approver_email, "requester@corp.com");
    // Nothing more happens at the original end.
    h.advance(4 * HOUR);
    assert_eq!(h.sweep().await, Default::default());
}

#[tokio::test]
async fn revoking_one_of_two_overlapping_grants_keeps_the_access() {
    let h = harness(approvers_rule());
    let first = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    h.service
        .approve(&first.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    h.advance(StdDuration::from_secs(600));
    let second = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 2))
        .await
        .unwrap();
    h.service
        .approve(&second.id, &person("bob@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(
        h.identity.assignment_count(PROD, "Admin", "u-requester"),
        1,
        "the second grant shares the assignment"
    );
    let second_grant = h.grant_of(&second.id).await;
    assert!(!second_grant.preexisting);
    let first_grant = h.grant_of(&first.id).await;
    assert_eq!(
        h.scheduler.timers().into_iter().collect::<Vec<_>>(),
        [(first_grant.access_key(), second_grant.ends_at)],
        "one timer for the access, at the latest end"
    );

    h.advance(HOUR);
    assert_eq!(h.sweep().await.revoked, 1);
    assert_eq!(h.request(&first.id).await.status(), RequestStatus::Ended);
    assert_eq!(
        h.identity.assignment_count(PROD, "Admin", "u-requester"),
        1,
        "still covered by the second grant"
    );

    h.advance(2 * HOUR);
    assert_eq!(h.sweep().await.revoked, 1);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);
}

#[tokio::test]
async fn access_that_predates_liftgate_is_never_removed() {
    let h = Harness::new(HarnessOptions {
        statements: approvers_rule(),
        group_statements: json!([{ "Resource": OPS_GROUP, "Approvers": ["alice@corp.com"] }]),
        ..HarnessOptions::default()
    });
    h.identity.add_assignment(PROD, "Admin", "u-requester");
    let membership = h.identity.add_membership(OPS_GROUP, "u-requester");

    let account = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    h.service
        .approve(&account.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    let mut group = account_request("requester@corp.com", PROD, "Admin", 1);
    group.target = TargetInput::Group {
        group_id: OPS_GROUP.to_owned(),
    };
    let group = h.service.create(group).await.unwrap();
    h.service
        .approve(&group.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert!(h.grant_of(&account.id).await.preexisting);
    assert!(h.grant_of(&group.id).await.preexisting);
    assert_eq!(h.identity.calls("create_assignment"), 0);
    assert_eq!(h.identity.calls("add_membership"), 0);

    h.advance(HOUR);
    assert_eq!(h.sweep().await.revoked, 2);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 1);
    assert!(h.identity.is_member(OPS_GROUP, "u-requester"));
    assert_eq!(
        h.identity.membership_id(OPS_GROUP, "u-requester"),
        Some(membership)
    );
}

#[tokio::test]
async fn group_membership_is_added_and_removed() {
    let h = Harness::new(HarnessOptions {
        group_statements: json!([{ "Resource": OPS_GROUP, "Approvers": ["alice@corp.com"] }]),
        ..HarnessOptions::default()
    });
    let mut input = account_request("requester@corp.com", PROD, "Admin", 1);
    input.target = TargetInput::Group {
        group_id: OPS_GROUP.to_owned(),
    };
    let request = h.service.create(input).await.unwrap();
    h.service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(h.identity.membership_count(OPS_GROUP, "u-requester"), 1);
    h.advance(HOUR);
    h.sweep().await;
    assert_eq!(h.identity.membership_count(OPS_GROUP, "u-requester"), 0);
    h.deliver_outbox().await;
    let records = h.audit.records();
    let granted = records
        .iter()
        .find(|r| r.fields.event.as_str() == "granted")
        .unwrap();
    assert_eq!(granted.fields.audit_entry_type, "group");
    assert_eq!(granted.fields.group_name, "Ops");
    assert!(
        granted
            .fields
            .group_membership_id
            .starts_with("membership-")
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_stores_nothing() {
    let h = harness(approvers_rule());
    let cases = [
        (
            account_request("requester@corp.com", "999999999999", "Admin", 1),
            "unknown_account",
        ),
        (
            account_request("requester@corp.com", "12345", "Admin", 1),
            "unknown_account",
        ),
        (
            account_request("requester@corp.com", PROD, "NoSuchSet", 1),
            "unknown_permission_set",
        ),
        (
            account_request("nobody@corp.com", PROD, "Admin", 1),
            "unknown_user",
        ),
        (
            account_request("requester@corp.com", PROD, "Admin", 13),
            "duration_too_long",
        ),
        (
            NewRequest {
                target: TargetInput::Group {
                    group_id: "aaaaaaaa-2222-3333-4444-555555555555".to_owned(),
                },
                ..account_request("requester@corp.com", PROD, "Admin", 1)
            },
            "unknown_group",
        ),
        (
            NewRequest {
                reason: "   ".to_owned(),
                ..account_request("requester@corp.com", PROD, "Admin", 1)
            },
            "missing_reason",
        ),
    ];
    for (input, code) in cases {
        let error = h.service.create(input).await.unwrap_err();
        assert_eq!(error.code(), code, "{error}");
    }
    assert_eq!(
        h.store.outbox_len().await.unwrap(),
        0,
        "nothing was recorded"
    );
    let pending = h
        .store
        .query_requests(liftgate_gateway::ports::RequestQuery::Status {
            status: RequestStatus::Pending,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(pending.is_empty());
}

#[tokio::test]
async fn statement_max_duration_caps_requests() {
    let h = harness(json!([{
        "ResourceType": "Account", "Resource": PROD, "PermissionSet": "Admin", "Approvers": "alice@corp.com", "MaxDuration": "2h"
    }]));
    let error = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 3))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "duration_too_long");
    assert!(error.to_string().contains("2h"), "{error}");
    assert!(
        h.service
            .create(account_request("requester@corp.com", PROD, "Admin", 2))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_idempotency_key_makes_retries_return_the_first_request() {
    let h = harness(approvers_rule());
    let mut input = account_request("requester@corp.com", PROD, "Admin", 1);
    input.idempotency_key = Some("client-1:abc".to_owned());
    let first = h.service.create(input.clone()).await.unwrap();
    let retry = h.service.create(input.clone()).await.unwrap();
    assert_eq!(first.id, retry.id);
    // Concurrent retries too.
    input.idempotency_key = Some("client-1:def".to_owned());
    let service = h.service.clone();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let service = service.clone();
            let input = input.clone();
            tokio::spawn(async move { service.create(input).await.unwrap().id })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn an_extension_moves_the_end_without_a_gap() {
    let h = harness(approvers_rule());
    let original = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 2))
        .await
        .unwrap();
    h.service
        .approve(
            &original.id,
            &person("alice@corp.com"),
            Channel::Slack,
            None,
        )
        .await
        .unwrap();
    let grant = h.grant_of(&original.id).await;
    h.advance(HOUR + HOUR / 2);

    let stranger = NewRequest {
        extends: Some(grant.id.clone()),
        ..account_request("dave@corp.com", PROD, "Admin", 1)
    };
    assert_eq!(
        h.service.create(stranger).await.unwrap_err().code(),
        "cannot_extend"
    );
    let other_target = NewRequest {
        extends: Some(grant.id.clone()),
        ..account_request("requester@corp.com", DEV, "Admin", 1)
    };
    assert_eq!(
        h.service.create(other_target).await.unwrap_err().code(),
        "cannot_extend"
    );

    let extension = NewRequest {
        extends: Some(grant.id.clone()),
        ..account_request("requester@corp.com", PROD, "Admin", 1)
    };
    let extension = h.service.create(extension).await.unwrap();
    assert_eq!(extension.status(), RequestStatus::Pending);
    let extended = h
        .service
        .approve(&extension.id, &person("bob@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(extended.status(), RequestStatus::Active);
    let moved = h.grant_of(&original.id).await;
    assert_eq!(moved.id, grant.id, "the same grant, no second assignment");
    assert_eq!(moved.ends_at, grant.ends_at + time::Duration::hours(1));
    assert_eq!(
        h.scheduler.timers().get(&grant.access_key()),
        Some(&moved.ends_at)
    );
    assert_eq!(h.identity.calls("create_assignment"), 1);
    assert_eq!(h.request(&original.id).await.ends_at, Some(moved.ends_at));

    h.advance(HOUR);
    assert_eq!(
        h.sweep().await.revoked,
        0,
        "the old end has passed but the grant goes on"
    );
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 1);
    h.advance(HOUR);
    assert_eq!(h.sweep().await.revoked, 1);
    assert_eq!(h.request(&original.id).await.status(), RequestStatus::Ended);
    assert_eq!(
        h.request(&extension.id).await.status(),
        RequestStatus::Ended
    );
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);
}

#[tokio::test]
async fn a_deferred_start_grants_at_the_start() {
    let h = harness(approvers_rule());
    let start = h.service.clock().now() + time::Duration::hours(3);
    let input = NewRequest {
        start_at: Some(start),
        ..account_request("requester@corp.com", PROD, "Admin", 1)
    };
    let request = h.service.create(input).await.unwrap();
    let approved = h
        .service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(approved.status(), RequestStatus::Approved);
    assert_eq!(
        h.grant_of(&request.id).await.status(),
        GrantStatus::Scheduled
    );
    assert_eq!(h.identity.calls("create_assignment"), 0);
    h.advance(2 * HOUR);
    assert_eq!(h.sweep().await.provisioned, 0);
    h.advance(HOUR);
    assert_eq!(h.sweep().await.provisioned, 1);
    assert_eq!(h.request(&request.id).await.status(), RequestStatus::Active);
    assert_eq!(
        h.grant_of(&request.id).await.ends_at,
        start + time::Duration::hours(1)
    );
    h.advance(HOUR);
    assert_eq!(h.sweep().await.revoked, 1);
}

#[tokio::test]
async fn an_aws_outage_while_granting_is_retried_until_it_works() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    h.identity
        .fail_next("create_assignment", FakeFailure::Throttled);
    let approved = h
        .service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(
        approved.status(),
        RequestStatus::Approved,
        "approved, grant still to come"
    );
    let grant = h.grant_of(&request.id).await;
    assert_eq!(grant.status(), GrantStatus::Provisioning);
    let record = h
        .store
        .get_access(&grant.access_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.retry().map(|retry| retry.attempts), Some(1));
    assert_eq!(h.sweep().await.provisioned, 0, "backing off");
    h.advance(StdDuration::from_secs(11));
    assert_eq!(h.sweep().await.provisioned, 1);
    assert_eq!(h.request(&request.id).await.status(), RequestStatus::Active);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 1);
}

#[tokio::test]
async fn a_failed_grant_fails_the_request_and_leaves_nothing_behind() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    h.identity.fail_next(
        "create_assignment",
        FakeFailure::Failed("ACCOUNT_ASSIGNMENT_FAILED: quota".to_owned()),
    );
    let approved = h
        .service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(approved.status(), RequestStatus::Failed);
    assert!(approved.status_reason.as_deref().unwrap().contains("quota"));
    let grant = h.grant_of(&request.id).await;
    assert_eq!(grant.status(), GrantStatus::Failed);
    assert!(h.scheduler.timers().is_empty(), "its timer is gone too");
    h.deliver_outbox().await;
    assert_eq!(
        h.audit.events_for(&request.id),
        ["requested", "approved", "failed"]
    );
}

#[tokio::test]
async fn a_timer_that_cannot_be_created_means_no_grant() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    h.scheduler.fail_next(SchedulerError::Failed(
        "AccessDenied on CreateSchedule".to_owned(),
    ));
    let approved = h
        .service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    assert_eq!(approved.status(), RequestStatus::Failed);
    assert_eq!(
        h.identity.calls("create_assignment"),
        0,
        "never granted without an end"
    );
}

#[tokio::test]
async fn a_revocation_that_fails_is_retried_until_the_access_is_gone() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    h.service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    h.identity
        .fail_next("delete_assignment", FakeFailure::Unavailable);
    h.identity
        .fail_next("delete_assignment", FakeFailure::Throttled);
    h.advance(HOUR);
    let report = h.sweep().await;
    assert_eq!((report.revoked, report.deferred), (0, 1));
    assert_eq!(
        h.grant_of(&request.id).await.status(),
        GrantStatus::Revoking
    );
    // Backing off: 10 s after the first failure, 20 s after the second.
    h.advance(StdDuration::from_secs(9));
    assert_eq!(h.sweep().await, Default::default());
    h.advance(StdDuration::from_secs(2));
    assert_eq!(h.sweep().await.deferred, 1);
    h.advance(StdDuration::from_secs(21));
    assert_eq!(h.sweep().await.revoked, 1);
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);
    assert_eq!(h.request(&request.id).await.status(), RequestStatus::Ended);
}

#[tokio::test]
async fn an_audit_sink_outage_delays_records_but_loses_none() {
    let h = harness(approvers_rule());
    h.audit.set_down(true);
    h.notifier.set_down(true);
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    h.service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    h.deliver_outbox().await;
    assert!(h.audit.records().is_empty());
    assert_eq!(
        h.request(&request.id).await.status(),
        RequestStatus::Active,
        "the grant did not wait for the sink"
    );
    h.audit.set_down(false);
    h.notifier.set_down(false);
    h.advance(StdDuration::from_secs(600));
    h.deliver_outbox().await;
    assert_eq!(
        h.audit.events_for(&request.id),
        ["requested", "approved", "granted"]
    );
    assert_eq!(h.store.outbox_len().await.unwrap(), 0);
}

#[tokio::test]
async fn a_restart_on_the_same_store_finishes_what_the_first_process_started() {
    let first = harness(approvers_rule());
    let request = first
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    // The first process dies between approval and grant: make the grant fail transiently, then
    // drop the process and start a new one on the same database file.
    first
        .identity
        .fail_next("create_assignment", FakeFailure::Unavailable);
    first
        .service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    let Harness {
        store,
        directory,
        clock,
        ..
    } = first;
    let second = Harness::with_store(
        HarnessOptions {
            statements: approvers_rule(),
            ..HarnessOptions::default()
        },
        store,
        directory,
    );
    second.clock.set(clock.now() + time::Duration::minutes(5));
    assert_eq!(second.sweep().await.provisioned, 1);
    assert_eq!(
        second
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );
    second.advance(HOUR);
    assert_eq!(second.sweep().await.revoked, 1);
    assert_eq!(
        second
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );
}

#[tokio::test]
async fn a_grant_whose_end_passed_during_an_outage_is_never_made() {
    let h = harness(approvers_rule());
    let request = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    h.identity
        .fail_next("create_assignment", FakeFailure::Unavailable);
    h.service
        .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    h.advance(2 * HOUR);
    h.sweep().await;
    assert_eq!(h.identity.assignment_count(PROD, "Admin", "u-requester"), 0);
    let failed = h.request(&request.id).await;
    assert_eq!(failed.status(), RequestStatus::Failed);
}

#[tokio::test]
async fn allowed_groups_are_checked_with_the_requesters_memberships() {
    let h = harness(json!([{
        "ResourceType": "Account", "Resource": PROD, "PermissionSet": "Admin", "Approvers": "alice@corp.com",
        "AllowedGroups": OPS_GROUP
    }]));
    let outsider = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    assert_eq!(outsider.decision.as_str(), "requester_not_allowed");
    h.identity.add_membership(OPS_GROUP, "u-bob");
    let member = h
        .service
        .create(account_request("bob@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    assert_eq!(member.decision.as_str(), "requires_approval");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_sweeping_one_store_at_once_revoke_each_grant_exactly_once() {
    let h = Arc::new(harness(approvers_rule()));
    let mut requests = Vec::new();
    for index in 0..12 {
        let email = format!("user{index}@corp.com");
        h.identity.add_user(&email, &format!("u-user{index}"));
        let request = h
            .service
            .create(account_request(&email, PROD, "Admin", 1))
            .await
            .unwrap();
        h.service
            .approve(&request.id, &person("alice@corp.com"), Channel::Slack, None)
            .await
            .unwrap();
        requests.push(request.id);
    }
    assert_eq!(h.identity.calls("create_assignment"), 12);
    h.advance(HOUR);
    let replicas: Vec<_> = (0..4).map(|_| h.replica()).collect();
    let sweeps: Vec<_> = replicas
        .into_iter()
        .map(|replica| tokio::spawn(async move { replica.sweep().await.unwrap() }))
        .collect();
    let mut revoked = 0;
    for sweep in sweeps {
        revoked += sweep.await.unwrap().revoked;
    }
    // Whatever a replica left (a lease held by another) the next pass finishes; a replica that
    // finds a grant taken by another reports nothing for it.
    revoked += h.sweep().await.revoked;
    assert_eq!(
        revoked, 12,
        "the passes together report each revocation once"
    );
    assert_eq!(
        h.identity.calls("delete_assignment"),
        12,
        "each assignment deleted exactly once"
    );
    for (index, id) in requests.iter().enumerate() {
        assert_eq!(h.request(id).await.status(), RequestStatus::Ended);
        assert_eq!(
            h.identity
                .assignment_count(PROD, "Admin", &format!("u-user{index}")),
            0
        );
    }
    h.deliver_outbox().await;
    let revocations = h
        .audit
        .records()
        .iter()
        .filter(|r| r.fields.event.as_str() == "revoked")
        .count();
    assert_eq!(revocations, 12, "one revoked record per grant");
}

#[tokio::test]
async fn gauges_follow_the_backlog_and_active_grants_without_recounting_every_pass() {
    let h = harness(approvers_rule());
    let gauge = |name: &str| h.metrics.gauge_value(name);
    let first = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 4))
        .await
        .unwrap();
    h.service
        .approve(&first.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    h.sweep().await;
    assert_eq!(gauge("liftgate_grants_active"), Some(1.0));

    // Within the minute the count is not redone, so a second grant shows only after it.
    let second = h
        .service
        .create(account_request("requester@corp.com", DEV, "Admin", 4))
        .await
        .unwrap();
    h.service
        .approve(&second.id, &person("alice@corp.com"), Channel::Slack, None)
        .await
        .unwrap();
    h.advance(StdDuration::from_secs(30));
    h.sweep().await;
    assert_eq!(gauge("liftgate_grants_active"), Some(1.0));
    h.advance(StdDuration::from_secs(30));
    h.sweep().await;
    assert_eq!(gauge("liftgate_grants_active"), Some(2.0));

    // The backlog gauge: messages stuck behind a sink outage, then none once it recovers.
    h.audit.set_down(true);
    h.deliver_outbox().await;
    let stuck = gauge("liftgate_outbox_pending").unwrap();
    assert!(stuck > 0.0, "{stuck}");
    h.audit.set_down(false);
    h.advance(StdDuration::from_secs(600));
    h.deliver_outbox().await;
    assert_eq!(gauge("liftgate_outbox_pending"), Some(0.0));
}

#[tokio::test]
async fn creates_over_the_hourly_limit_are_refused_across_replicas_and_change_nothing() {
    let h = Harness::new(HarnessOptions {
        statements: approvers_rule(),
        requests: liftgate_gateway::config::RequestSettings {
            rate_limit: 3,
            ..Default::default()
        },
        ..HarnessOptions::default()
    });
    let other = h.replica();
    for service in [&h.service, &other, &h.service] {
        service
            .create(account_request("requester@corp.com", PROD, "ReadOnly", 1))
            .await
            .unwrap();
    }
    let outbox = h.store.outbox_len().await.unwrap();
    for service in [&h.service, &other] {
        let error = service
            .create(account_request("requester@corp.com", PROD, "ReadOnly", 1))
            .await
            .unwrap_err();
        let WorkflowError::RateLimited { retry_after, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(*retry_after <= HOUR && !retry_after.is_zero());
        assert_eq!(error.code(), "rate_limited");
        assert!(
            error.to_string().contains("3 requests this hour"),
            "{error}"
        );
    }
    assert_eq!(
        h.store.outbox_len().await.unwrap(),
        outbox,
        "a refused create records nothing"
    );
    assert_eq!(
        h.metrics.counter_value(
            "liftgate_requests_rate_limited_total",
            &[("channel", "webhook")]
        ),
        2.0
    );
    // Someone else is not limited by the requester's allowance; the next hour starts afresh.
    h.service
        .create(account_request("alice@corp.com", PROD, "ReadOnly", 1))
        .await
        .unwrap();
    h.advance(HOUR);
    h.service
        .create(account_request("requester@corp.com", PROD, "ReadOnly", 1))
        .await
        .unwrap();
}

#[tokio::test]
async fn only_the_first_refused_request_of_the_hour_is_for_the_approvals_channel() {
    // Prod needs approval; nothing covers Dev, so requests for it are refused by the rules.
    let h = harness(json!([{
        "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
        "Approvers": ["alice@corp.com"]
    }]));
    let mut quiet = Vec::new();
    for _ in 0..3 {
        let refused = h
            .service
            .create(account_request("requester@corp.com", DEV, "Admin", 1))
            .await
            .unwrap();
        assert_eq!(refused.status(), RequestStatus::Denied);
        quiet.push(refused.quiet);
    }
    assert_eq!(quiet, [false, true, true]);
    let pending = h
        .service
        .create(account_request("requester@corp.com", PROD, "Admin", 1))
        .await
        .unwrap();
    assert!(
        !pending.quiet,
        "requests that wait for approval are always shown"
    );
    h.deliver_outbox().await;
    assert_eq!(
        h.audit
            .records()
            .iter()
            .filter(|record| record.fields.event.as_str() == "denied")
            .count(),
        3,
        "every refusal is audited"
    );
    h.advance(HOUR);
    let refused = h
        .service
        .create(account_request("requester@corp.com", DEV, "Admin", 1))
        .await
        .unwrap();
    assert!(!refused.quiet, "a new hour shows the first refusal again");
}
