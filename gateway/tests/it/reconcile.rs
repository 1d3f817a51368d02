//! Drift reconciliation on fakes: scope per statement, wildcards and groups; explained versus
//! unexplained access; warnings once per finding; revoke mode; dry runs; the race with a grant
//! being made; pruning; throttling and partial failures; leases; the report.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use liftgate_gateway::config::{ReconciliationMode, ReconciliationSettings};
use liftgate_gateway::domain::{Channel, GrantStatus, RequestStatus};
use liftgate_gateway::ports::{
    AccessInventory, Clock, DriftAction, DriftMode, DriftTarget, IdentityCenter, LeaseState,
    Notice, Notifier, NotifyError, StateStore,
};
use liftgate_gateway::testing::{
    DEV, FakeAccessInventory, FakeFailure, Harness, HarnessOptions, OPS_GROUP, PROD, person,
};
use liftgate_gateway::workflow::{
    FindingOutcome, NewRequest, OutboxDispatcher, PASS_LEASE, PruningStrategy, ReconcileError,
    ReconcileReport, Reconciler, ReconcilerTuning, TargetInput,
};
use liftgate_policy::Duration;
use serde_json::json;

const HOUR: StdDuration = StdDuration::from_secs(3600);

struct World {
    h: Harness,
    inventory: Arc<FakeAccessInventory>,
}

fn world(statements: serde_json::Value, group_statements: serde_json::Value) -> World {
    let h = Harness::new(HarnessOptions {
        statements,
        group_statements,
        ..HarnessOptions::default()
    });
    let inventory = Arc::new(FakeAccessInventory::new(h.identity.clone()));
    World { h, inventory }
}

fn tuning() -> ReconcilerTuning {
    ReconcilerTuning {
        retry_base_delay: StdDuration::from_millis(1),
        retry_max_delay: StdDuration::from_millis(2),
        poll_interval: StdDuration::from_millis(10),
        ..ReconcilerTuning::default()
    }
}

fn settings(mode: ReconciliationMode) -> ReconciliationSettings {
    ReconciliationSettings {
        enabled: true,
        mode,
        interval: Duration::from_hours(1),
        // Unlimited: tests never wait for tokens (the limiter has its own unit tests).
        max_calls_per_second: 0,
    }
}

impl World {
    fn reconciler(&self, mode: ReconciliationMode) -> Reconciler {
        Reconciler::new(&self.h.service, self.inventory.clone(), settings(mode))
            .with_tuning(tuning())
    }

    async fn pass(&self, mode: ReconciliationMode) -> ReconcileReport {
        let report = self.reconciler(mode).run_once(false).await.unwrap();
        self.h.deliver_outbox().await;
        report
    }

    fn drift_events(&self) -> Vec<(String, String, String)> {
        self.h
            .audit
            .records()
            .iter()
            .filter(|record| record.fields.channel == Channel::Reconciler)
            .map(|record| {
                (
                    record.fields.event.as_str().to_owned(),
                    record.fields.sso_user_principal_id.clone(),
                    record.fields.reason.clone(),
                )
            })
            .collect()
    }
}

fn keys(report: &ReconcileReport) -> Vec<&str> {
    report
        .findings
        .iter()
        .map(|finding| finding.access_key.as_str())
        .collect()
}

fn outcomes(report: &ReconcileReport) -> Vec<&FindingOutcome> {
    report
        .findings
        .iter()
        .map(|finding| &finding.outcome)
        .collect()
}

fn admin_arn(w: &World) -> String {
    w.h.identity.arn_of("Admin").unwrap()
}

fn self_service(account: &str, permission_set: &str) -> serde_json::Value {
    json!({"ResourceType": "Account", "Resource": [account], "PermissionSet": permission_set,
           "Approvers": ["alice@corp.com"], "ApprovalIsNotRequired": true})
}

fn request(requester: &str, account: &str, permission_set: &str) -> NewRequest {
    NewRequest {
        requester: person(requester),
        target: TargetInput::Account {
            account_id: account.to_owned(),
            permission_set: permission_set.to_owned(),
        },
        duration: Duration::from_hours(2),
        reason: "on call".to_owned(),
        channel: Channel::Webhook,
        start_at: None,
        extends: None,
        idempotency_key: None,
        break_glass: false,
    }
}

#[tokio::test]
async fn the_scope_is_each_statements_own_pairs_never_the_cross_product() {
    let w = world(
        json!([
            {"ResourceType": "Account", "Resource": [PROD], "PermissionSet": "Admin", "Approvers": "alice@corp.com"},
            {"ResourceType": "Account", "Resource": [DEV], "PermissionSet": "ReadOnly", "Approvers": "alice@corp.com"},
        ]),
        json!([]),
    );
    // In scope: PROD/Admin and DEV/ReadOnly. Out of scope (upstream would revoke these):
    // PROD/ReadOnly and DEV/Admin.
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.h.identity.add_assignment(DEV, "ReadOnly", "u-carol");
    w.h.identity.add_assignment(PROD, "ReadOnly", "u-dave");
    w.h.identity.add_assignment(DEV, "Admin", "u-dave");

    let report = w.pass(ReconciliationMode::Revoke).await;

    assert_eq!(report.scope.pairs, 2);
    assert_eq!(report.scope.accounts, 2);
    assert_eq!(report.scope.permission_sets, 2);
    assert_eq!(
        keys(&report),
        [
            format!("account:{PROD}:Admin:u-bob"),
            format!("account:{DEV}:ReadOnly:u-carol"),
        ]
    );
    assert_eq!(w.inventory.calls("ListAccountAssignments"), 2);
    assert_eq!(w.h.identity.assignment_count(PROD, "ReadOnly", "u-dave"), 1);
    assert_eq!(w.h.identity.assignment_count(DEV, "Admin", "u-dave"), 1);
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 0);
}

#[tokio::test]
async fn wildcards_expand_to_every_account_and_every_permission_set() {
    let w = world(
        json!([
            {"ResourceType": "Account", "Resource": "*", "PermissionSet": "ReadOnly", "Approvers": "alice@corp.com"},
            {"ResourceType": "Account", "Resource": [PROD], "PermissionSet": "*", "Approvers": "alice@corp.com"},
        ]),
        json!([]),
    );
    w.h.identity.add_account("333333333333", "Audit");
    w.h.identity
        .add_assignment("333333333333", "ReadOnly", "u-bob");
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.h.identity.add_assignment(DEV, "Admin", "u-carol");

    let report = w.pass(ReconciliationMode::Warn).await;

    // 3 accounts × ReadOnly, plus PROD × {Admin, ReadOnly} (ReadOnly counted once).
    assert_eq!(report.scope.pairs, 4);
    assert_eq!(
        keys(&report),
        [
            format!("account:{PROD}:Admin:u-bob"),
            "account:333333333333:ReadOnly:u-bob".to_owned(),
        ]
    );
}

#[tokio::test]
async fn groups_named_by_group_statements_are_reconciled_and_others_are_not() {
    let w = world(
        json!([]),
        json!([{"Resource": [OPS_GROUP], "Approvers": "alice@corp.com"}]),
    );
    let other = "99999999-8888-7777-6666-555555555555";
    w.h.identity.add_group(other, "Other");
    w.h.identity.add_membership(OPS_GROUP, "u-bob");
    w.h.identity.add_membership(other, "u-carol");

    let report = w.pass(ReconciliationMode::Revoke).await;

    assert_eq!(report.scope.groups, 1);
    assert_eq!(keys(&report), [format!("group:{OPS_GROUP}:u-bob")]);
    assert!(!w.h.identity.is_member(OPS_GROUP, "u-bob"));
    assert!(w.h.identity.is_member(other, "u-carol"));
    let finding = &report.findings[0];
    assert!(matches!(
        &finding.target,
        DriftTarget::Group { group_name: Some(name), .. } if name == "Ops"
    ));
}

#[tokio::test]
async fn access_that_a_grant_explains_is_not_drift_including_preexisting_access_while_it_lasts() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    // Liftgate's own grant.
    let granted =
        w.h.service
            .create(request("requester@corp.com", PROD, "Admin"))
            .await
            .unwrap();
    assert_eq!(granted.status(), RequestStatus::Active);
    // Carol held Admin before Liftgate; her grant finds it pre-existing and keeps it at the end.
    w.h.identity.add_assignment(PROD, "Admin", "u-carol");
    let carol =
        w.h.service
            .create(request("carol@corp.com", PROD, "Admin"))
            .await
            .unwrap();
    assert!(w.h.grant_of(&carol.id).await.preexisting);
    // Bob's assignment has no grant at all.
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");

    let report = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(report.access_seen, 3);
    assert_eq!(report.explained, 2);
    assert_eq!(keys(&report), [format!("account:{PROD}:Admin:u-bob")]);

    // When the grants end, Liftgate's assignment goes and Carol's stays: now it is drift.
    w.h.advance(3 * HOUR);
    w.h.sweep().await;
    assert_eq!(
        w.h.identity.assignment_count(PROD, "Admin", "u-requester"),
        0
    );
    let report = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(
        keys(&report),
        [
            format!("account:{PROD}:Admin:u-bob"),
            format!("account:{PROD}:Admin:u-carol"),
        ]
    );
    assert_eq!(
        outcomes(&report),
        [&FindingOutcome::AlreadyReported, &FindingOutcome::Warned]
    );
}

#[tokio::test]
async fn a_finding_is_routed_where_the_statements_covering_the_access_send_approvals() {
    let mut routed = self_service(PROD, "Admin");
    routed["ApprovalChannel"] = json!({"slack": "CPRODOWNERS", "teams": "19:prod@thread.tacv2"});
    let w = world(json!([self_service(DEV, "Admin"), routed]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.h.identity.add_assignment(DEV, "Admin", "u-bob");
    w.pass(ReconciliationMode::Warn).await;
    let notices = w.h.notifier.drift_notices();
    assert_eq!(notices.len(), 2);
    for notice in notices {
        let routing = &notice.routing;
        if notice.access_key.contains(PROD) {
            assert_eq!(routing.slack_channel.as_deref(), Some("CPRODOWNERS"));
            assert_eq!(
                routing.teams_conversation.as_deref(),
                Some("19:prod@thread.tacv2")
            );
        } else {
            assert!(routing.is_default(), "{routing:?}");
        }
    }
}

#[tokio::test]
async fn warn_mode_reports_each_finding_once_and_again_after_it_was_gone() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");

    let first = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(outcomes(&first), [&FindingOutcome::Warned]);
    assert_eq!(
        w.drift_events(),
        [(
            "drift_detected".to_owned(),
            "u-bob".to_owned(),
            "no active grant explains this access".to_owned()
        )]
    );
    let record = &w.h.audit.records()[0];
    assert_eq!(record.fields.account_id, PROD);
    assert_eq!(record.fields.role_name, "Admin");
    assert_eq!(record.fields.requester_email, "bob@corp.com");
    assert_eq!(record.fields.audit_entry_type, "account");
    let notices = w.h.notifier.drift_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].action, DriftAction::Warned);
    assert_eq!(notices[0].mode, DriftMode::Warn);
    assert_eq!(notices[0].user_email.as_deref(), Some("bob@corp.com"));
    assert!(matches!(
        &notices[0].target,
        DriftTarget::Account { account_name: Some(name), permission_set, .. }
            if name == "Prod" && permission_set == "Admin"
    ));
    assert!(
        notices[0]
            .summary()
            .contains("bob@corp.com holds Admin in Prod (111111111111)"),
        "{}",
        notices[0].summary()
    );
    // Warn mode leaves the access in place.
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 1);

    let second = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(outcomes(&second), [&FindingOutcome::AlreadyReported]);
    assert_eq!(w.drift_events().len(), 1, "no second audit record");
    assert_eq!(w.h.notifier.drift_notices().len(), 1, "no second warning");
    assert_eq!(
        w.inventory.calls("DescribeUser"),
        1,
        "known findings are not looked up again"
    );

    // The access goes away: the finding is forgotten; when it comes back, it is new.
    w.h.identity
        .delete_assignment(PROD, &admin_arn(&w), "u-bob")
        .await
        .unwrap();
    let gone = w.pass(ReconciliationMode::Warn).await;
    assert!(gone.findings.is_empty());
    assert_eq!(gone.forgotten, 1);
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let back = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(outcomes(&back), [&FindingOutcome::Warned]);
    assert_eq!(w.drift_events().len(), 2);
    assert_eq!(w.h.notifier.drift_notices().len(), 2);
}

#[tokio::test]
async fn revoke_mode_removes_the_access_and_audits_it_as_upstream_does() {
    let w = world(
        json!([self_service(PROD, "Admin")]),
        json!([{"Resource": [OPS_GROUP], "Approvers": "alice@corp.com"}]),
    );
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let membership = w.h.identity.add_membership(OPS_GROUP, "u-carol");

    let report = w.pass(ReconciliationMode::Revoke).await;

    assert_eq!(
        outcomes(&report),
        [&FindingOutcome::Revoked, &FindingOutcome::Revoked]
    );
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 0);
    assert!(!w.h.identity.is_member(OPS_GROUP, "u-carol"));
    let mut events = w.drift_events();
    events.sort();
    assert_eq!(
        events,
        [
            (
                "drift_detected".to_owned(),
                "u-bob".to_owned(),
                "no active grant explains this access".to_owned()
            ),
            (
                "drift_detected".to_owned(),
                "u-carol".to_owned(),
                "no active grant explains this access".to_owned()
            ),
            (
                "revoked".to_owned(),
                "u-bob".to_owned(),
                "automated revocation".to_owned()
            ),
            (
                "revoked".to_owned(),
                "u-carol".to_owned(),
                "automated revocation".to_owned()
            ),
        ]
    );
    let group_record =
        w.h.audit
            .records()
            .into_iter()
            .find(|record| {
                record.fields.event.as_str() == "revoked" && record.fields.group_id == OPS_GROUP
            })
            .unwrap();
    assert_eq!(group_record.fields.group_membership_id, membership);
    assert_eq!(group_record.fields.group_name, "Ops");
    assert_eq!(group_record.fields.operation_type, "revoke");
    let account_record =
        w.h.audit
            .records()
            .into_iter()
            .find(|record| {
                record.fields.event.as_str() == "revoked" && record.fields.account_id == PROD
            })
            .unwrap();
    assert!(
        account_record.fields.request_id.starts_with("delete-"),
        "the deletion's request id is recorded"
    );
    assert!(
        w.h.notifier
            .drift_notices()
            .iter()
            .all(|notice| notice.action == DriftAction::Revoked && notice.mode == DriftMode::Revoke)
    );
    assert_eq!(report.api_calls["DeleteAccountAssignment"], 1);
    assert_eq!(report.api_calls["DeleteGroupMembership"], 1);

    // Gone for good: the next pass finds nothing and remembers nothing.
    let next = w.pass(ReconciliationMode::Revoke).await;
    assert!(next.findings.is_empty());
    assert_eq!(w.drift_events().len(), 4);
}

#[tokio::test]
async fn a_failed_revocation_is_reported_once_and_retried_until_it_succeeds() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.h.identity
        .fail_next("delete_assignment", FakeFailure::AccessDenied);
    w.h.identity
        .fail_next("delete_assignment", FakeFailure::AccessDenied);

    let first = w.pass(ReconciliationMode::Revoke).await;
    assert!(matches!(
        outcomes(&first)[..],
        [FindingOutcome::RevocationFailed { .. }]
    ));
    let second = w.pass(ReconciliationMode::Revoke).await;
    assert!(matches!(
        outcomes(&second)[..],
        [FindingOutcome::RevocationFailed { .. }]
    ));
    assert_eq!(
        w.drift_events(),
        [(
            "drift_detected".to_owned(),
            "u-bob".to_owned(),
            "no active grant explains this access".to_owned()
        )],
        "reported once, not on every failed attempt"
    );
    let notices = w.h.notifier.drift_notices();
    assert_eq!(notices.len(), 1);
    assert!(matches!(
        notices[0].action,
        DriftAction::RevocationFailed { .. }
    ));

    let third = w.pass(ReconciliationMode::Revoke).await;
    assert_eq!(outcomes(&third), [&FindingOutcome::Revoked]);
    let events: Vec<String> = w
        .drift_events()
        .into_iter()
        .map(|(event, _, _)| event)
        .collect();
    assert_eq!(events, ["drift_detected", "revoked"]);
    assert_eq!(w.h.notifier.drift_notices().len(), 2);
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 0);
}

#[tokio::test]
async fn drift_removal_records_its_detection_before_it_acts() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let release = Arc::new(tokio::sync::Notify::new());
    w.h.identity
        .stall_next("delete_assignment", release.clone());
    let reconciler = Arc::new(w.reconciler(ReconciliationMode::Revoke));
    let pass = {
        let reconciler = reconciler.clone();
        tokio::spawn(async move { reconciler.run_once(false).await.unwrap() })
    };
    while w.h.identity.stalled("delete_assignment") == 0 {
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }
    // The removal is in flight: its detection is already recorded (a crash now loses
    // nothing an auditor needs), and nothing claims it was removed yet.
    w.h.deliver_outbox().await;
    assert_eq!(
        w.drift_events(),
        [(
            "drift_detected".to_owned(),
            "u-bob".to_owned(),
            "no active grant explains this access".to_owned()
        )]
    );
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 1);

    release.notify_one();
    let report = pass.await.unwrap();
    w.h.deliver_outbox().await;
    assert_eq!(outcomes(&report), [&FindingOutcome::Revoked]);
    let events: Vec<String> = w
        .drift_events()
        .into_iter()
        .map(|(event, _, _)| event)
        .collect();
    assert_eq!(events, ["drift_detected", "revoked"]);
}

#[tokio::test]
async fn a_finding_warned_about_earlier_is_revoked_without_a_second_detection_record() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.pass(ReconciliationMode::Warn).await;
    let report = w.pass(ReconciliationMode::Revoke).await;
    assert_eq!(outcomes(&report), [&FindingOutcome::Revoked]);
    let events: Vec<String> = w
        .drift_events()
        .into_iter()
        .map(|(event, _, _)| event)
        .collect();
    assert_eq!(events, ["drift_detected", "revoked"]);
}

#[tokio::test]
async fn a_dry_run_reports_without_acting_or_remembering() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");

    let reconciler = w.reconciler(ReconciliationMode::Revoke);
    let report = reconciler.run_once(true).await.unwrap();
    assert!(report.dry_run);
    assert_eq!(
        outcomes(&report),
        [&FindingOutcome::DryRun {
            would: DriftMode::Revoke,
            already_reported: false
        }]
    );
    assert_eq!(
        w.h.store.outbox_len().await.unwrap(),
        0,
        "no audit, no chat"
    );
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 1);
    assert_eq!(w.h.identity.calls("delete_assignment"), 0);
    assert!(
        report.findings[0].user.is_some(),
        "the dry run names the user"
    );
    let text = report.to_string();
    assert!(text.contains("dry run"), "{text}");
    assert!(text.contains("would revoke"), "{text}");

    // Nothing was remembered: a real pass still reports it as new.
    let real = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(outcomes(&real), [&FindingOutcome::Warned]);
    let dry_again = w
        .reconciler(ReconciliationMode::Warn)
        .run_once(true)
        .await
        .unwrap();
    assert_eq!(
        outcomes(&dry_again),
        [&FindingOutcome::DryRun {
            would: DriftMode::Warn,
            already_reported: true
        }]
    );
    assert_eq!(w.drift_events().len(), 1);
}

#[tokio::test]
async fn a_grant_made_between_the_listing_and_the_action_is_never_revoked() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    let reconciler = Arc::new(w.reconciler(ReconciliationMode::Revoke));
    let mut pause = w.inventory.pause_next_listing();
    let pass = tokio::spawn({
        let reconciler = reconciler.clone();
        async move { reconciler.run_once(false).await }
    });
    // The pass took its grant snapshot and is about to list: a grant is made right now.
    pause.reached().await;
    let granted =
        w.h.service
            .create(request("bob@corp.com", PROD, "Admin"))
            .await
            .unwrap();
    assert_eq!(granted.status(), RequestStatus::Active);
    pause.release();

    let report = pass.await.unwrap().unwrap();
    assert_eq!(outcomes(&report), [&FindingOutcome::ExplainedMeanwhile]);
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 1);
    assert_eq!(w.h.identity.calls("delete_assignment"), 0);
    assert_eq!(
        w.h.grant_of(&granted.id).await.status(),
        GrantStatus::Active
    );
    w.h.deliver_outbox().await;
    assert!(w.drift_events().is_empty());
}

#[tokio::test]
async fn access_the_workflow_is_changing_is_left_for_the_next_pass() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let key = format!("access:account:{PROD}:Admin:u-bob");
    let now = w.h.clock.now();
    assert!(matches!(
        w.h.store
            .acquire_lease(
                &key,
                "replica-workflow",
                None,
                now,
                time::Duration::minutes(2)
            )
            .await
            .unwrap(),
        LeaseState::Acquired { .. }
    ));

    let report = w.pass(ReconciliationMode::Revoke).await;
    assert!(matches!(
        outcomes(&report)[..],
        [FindingOutcome::Deferred { .. }]
    ));
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 1);

    w.h.store
        .release_lease(&key, "replica-workflow")
        .await
        .unwrap();
    let report = w.pass(ReconciliationMode::Revoke).await;
    assert_eq!(outcomes(&report), [&FindingOutcome::Revoked]);
}

#[tokio::test]
async fn group_principals_and_scheduled_grants_are_handled_as_aws_holds_them() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.inventory.add_group_assignment(PROD, "Admin", OPS_GROUP);
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let report = w.pass(ReconciliationMode::Revoke).await;
    assert_eq!(
        report.access_seen, 1,
        "group assignments are not user access"
    );
    assert_eq!(keys(&report), [format!("account:{PROD}:Admin:u-bob")]);
}

#[tokio::test]
async fn pages_are_followed_and_every_call_is_counted_in_the_report_and_metrics() {
    let w = world(
        json!([self_service(PROD, "Admin")]),
        json!([{"Resource": [OPS_GROUP], "Approvers": "alice@corp.com"}]),
    );
    w.inventory.set_page_size(2);
    for user in ["u-bob", "u-carol", "u-dave", "u-alice", "u-requester"] {
        w.h.identity.add_assignment(PROD, "Admin", user);
    }
    w.h.identity.add_membership(OPS_GROUP, "u-bob");

    let report = w.pass(ReconciliationMode::Warn).await;

    assert_eq!(report.findings.len(), 6);
    assert_eq!(
        report.api_calls["ListAccountAssignments"], 3,
        "5 rows in pages of 2"
    );
    assert_eq!(report.api_calls["ListGroupMemberships"], 1);
    assert_eq!(report.api_calls["DescribeUser"], 5, "one per distinct user");
    for (operation, count) in &report.api_calls {
        assert_eq!(
            u64::from(w.inventory.calls(operation)),
            *count,
            "{operation}"
        );
        assert_eq!(
            w.h.metrics.counter_value(
                "liftgate_reconcile_api_calls_total",
                &[("operation", operation)]
            ),
            *count as f64
        );
    }
    assert_eq!(report.api_calls_total(), 9);
    assert_eq!(
        w.h.metrics
            .counter_value("liftgate_drift_findings_total", &[("action", "warned")]),
        6.0
    );
    assert!(report.directory_lookups["permission_set_arn"] >= 1);
    assert!(report.duration > StdDuration::ZERO);
    let text = report.to_string();
    assert!(text.contains("AWS API calls: 9"), "{text}");
    assert!(text.contains("ListAccountAssignments 3"), "{text}");
    assert!(text.contains("6 findings"), "{text}");
    assert!(text.contains("bob@corp.com (u-bob)"), "{text}");
}

/// Twelve accounts and two permission sets: 24 pairs, provisioned in three.
fn wide_world() -> World {
    let w = world(
        json!([{"ResourceType": "Account", "Resource": "*", "PermissionSet": ["Admin", "ReadOnly"],
                "Approvers": "alice@corp.com"}]),
        json!([]),
    );
    for n in 3..=12 {
        w.h.identity
            .add_account(&format!("{n:012}"), &format!("Account {n}"));
    }
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.h.identity
        .add_assignment("000000000007", "ReadOnly", "u-carol");
    w.inventory.provision(DEV, "ReadOnly");
    w
}

#[tokio::test]
async fn pruning_by_permission_set_lists_only_provisioned_pairs_and_finds_the_same_drift() {
    let w = wide_world();
    let pruned = w
        .reconciler(ReconciliationMode::Warn)
        .run_once(true)
        .await
        .unwrap();
    assert_eq!(pruned.scope.pairs, 24);
    assert_eq!(pruned.scope.pruning, Some(PruningStrategy::ByPermissionSet));
    assert_eq!(pruned.scope.pairs_listed, 3);
    assert_eq!(
        pruned.api_calls["ListAccountsForProvisionedPermissionSet"],
        2
    );
    assert_eq!(pruned.api_calls["ListAccountAssignments"], 3);

    let unpruned = Reconciler::new(
        &w.h.service,
        w.inventory.clone(),
        settings(ReconciliationMode::Warn),
    )
    .with_tuning(ReconcilerTuning {
        pruning: false,
        ..tuning()
    })
    .run_once(true)
    .await
    .unwrap();
    assert_eq!(unpruned.scope.pruning, Some(PruningStrategy::Disabled));
    assert_eq!(unpruned.api_calls["ListAccountAssignments"], 24);
    assert_eq!(keys(&pruned), keys(&unpruned));
    assert_eq!(keys(&pruned).len(), 2);
}

#[tokio::test]
async fn pruning_by_account_is_chosen_when_there_are_fewer_accounts() {
    let w = world(
        json!([{"ResourceType": "Account", "Resource": [PROD, DEV], "PermissionSet": "*",
                "Approvers": "alice@corp.com"}]),
        json!([]),
    );
    for n in 0..10 {
        w.h.identity.add_permission_set(&format!("Set{n}"));
    }
    w.h.identity.add_assignment(DEV, "Set7", "u-bob");
    let report = w
        .reconciler(ReconciliationMode::Warn)
        .run_once(true)
        .await
        .unwrap();
    assert_eq!(report.scope.pairs, 24);
    assert_eq!(report.scope.pruning, Some(PruningStrategy::ByAccount));
    assert_eq!(
        report.api_calls["ListPermissionSetsProvisionedToAccount"],
        2
    );
    assert_eq!(report.api_calls["ListAccountAssignments"], 1);
    assert_eq!(keys(&report), [format!("account:{DEV}:Set7:u-bob")]);
}

#[tokio::test]
async fn an_inventory_that_cannot_answer_provisioning_reliably_is_never_pruned() {
    let w = wide_world();
    // Like moto: provisioning answers that would hide drift.
    w.inventory.set_provisioning_reliable(false);
    let report = w
        .reconciler(ReconciliationMode::Warn)
        .run_once(true)
        .await
        .unwrap();
    assert_eq!(report.scope.pruning, Some(PruningStrategy::Disabled));
    assert_eq!(
        w.inventory.calls("ListAccountsForProvisionedPermissionSet"),
        0
    );
    assert_eq!(report.api_calls["ListAccountAssignments"], 24);
    assert_eq!(keys(&report).len(), 2);
}

#[tokio::test]
async fn a_failed_pruning_query_falls_back_to_listing_its_pairs() {
    let w = wide_world();
    w.inventory.fail_next(
        "ListAccountsForProvisionedPermissionSet",
        FakeFailure::AccessDenied,
    );
    let report = w
        .reconciler(ReconciliationMode::Warn)
        .run_once(true)
        .await
        .unwrap();
    // One permission set's 12 pairs listed whole, the other's provisioned ones only.
    assert!(report.scope.pairs_listed > 3 && report.scope.pairs_listed < 24);
    assert_eq!(keys(&report).len(), 2, "no drift is missed");
    assert_eq!(report.errors.len(), 1);
}

#[tokio::test]
async fn throttling_is_retried_and_a_unit_that_fails_keeps_its_findings() {
    let w = world(
        json!([self_service(PROD, "Admin")]),
        json!([{"Resource": [OPS_GROUP], "Approvers": "alice@corp.com"}]),
    );
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.h.identity.add_membership(OPS_GROUP, "u-carol");
    let first = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(first.findings.len(), 2);

    w.inventory
        .fail_next("ListAccountAssignments", FakeFailure::Throttled);
    w.inventory
        .fail_next("ListGroupMemberships", FakeFailure::AccessDenied);
    let second = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(second.throttled, 1);
    assert_eq!(second.api_calls["ListAccountAssignments"], 2);
    assert_eq!(second.errors.len(), 1, "{:?}", second.errors);
    assert!(second.errors[0].contains(OPS_GROUP));
    assert_eq!(
        second.forgotten, 0,
        "the group could not be listed: nothing forgotten"
    );

    // Listed again: still known, so still not reported twice.
    let third = w.pass(ReconciliationMode::Warn).await;
    assert!(
        third
            .findings
            .iter()
            .all(|finding| finding.outcome == FindingOutcome::AlreadyReported)
    );
    assert_eq!(w.drift_events().len(), 2);
}

#[tokio::test]
async fn a_scope_that_cannot_be_resolved_fails_the_pass_and_changes_nothing() {
    let w = world(
        json!([{"ResourceType": "Account", "Resource": "*", "PermissionSet": "Admin",
                "Approvers": "alice@corp.com"}]),
        json!([]),
    );
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.h.identity
        .fail_next("list_accounts", FakeFailure::Unavailable);
    let error = w
        .reconciler(ReconciliationMode::Revoke)
        .run_once(false)
        .await
        .unwrap_err();
    assert!(matches!(error, ReconcileError::Scope(_)), "{error}");
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 1);
    assert_eq!(w.h.store.outbox_len().await.unwrap(), 0);
}

#[tokio::test]
async fn only_one_pass_runs_at_a_time() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let now = w.h.clock.now();
    assert!(matches!(
        w.h.store
            .acquire_lease(
                PASS_LEASE,
                "another-replica",
                None,
                now,
                time::Duration::minutes(10)
            )
            .await
            .unwrap(),
        LeaseState::Acquired { .. }
    ));
    let reconciler = w.reconciler(ReconciliationMode::Revoke);
    assert!(matches!(
        reconciler.run_once(false).await,
        Err(ReconcileError::Busy)
    ));
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 1);
    // A dry run needs no lease.
    assert_eq!(reconciler.run_once(true).await.unwrap().findings.len(), 1);
    w.h.store
        .release_lease(PASS_LEASE, "another-replica")
        .await
        .unwrap();
    assert_eq!(
        outcomes(&reconciler.run_once(false).await.unwrap()),
        [&FindingOutcome::Revoked]
    );
}

#[tokio::test]
async fn the_periodic_pass_runs_on_one_replica_only() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let replicas = [
        Arc::new(w.reconciler(ReconciliationMode::Warn)),
        Arc::new(w.reconciler(ReconciliationMode::Warn)),
    ];
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = replicas
        .iter()
        .map(|replica| {
            let replica = replica.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { replica.run_periodically(shutdown).await })
        })
        .collect();
    // Wait for the first pass to be done, then let the other replica poll a few times.
    for _ in 0..500 {
        if w.h.store.outbox_len().await.unwrap() > 0 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    stop.send(true).unwrap();
    for task in tasks {
        tokio::time::timeout(StdDuration::from_secs(5), task)
            .await
            .expect("run_periodically stops on shutdown")
            .unwrap();
    }
    assert_eq!(
        w.inventory.calls("ListAccountAssignments"),
        1,
        "one pass within the interval, on one replica"
    );
    w.h.deliver_outbox().await;
    assert_eq!(w.drift_events().len(), 1);
}

#[tokio::test]
async fn a_disabled_reconciler_does_not_run_periodically() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    let reconciler = Reconciler::new(
        &w.h.service,
        w.inventory.clone(),
        ReconciliationSettings {
            enabled: false,
            ..settings(ReconciliationMode::Warn)
        },
    );
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::time::timeout(
        StdDuration::from_secs(5),
        reconciler.run_periodically(shutdown),
    )
    .await
    .expect("returns at once");
    assert_eq!(w.inventory.calls("ListAccountAssignments"), 0);
}

/// A chat notifier that predates drift warnings: only `notify`.
#[derive(Debug)]
struct PlainNotifier;

#[async_trait::async_trait]
impl Notifier for PlainNotifier {
    fn name(&self) -> &'static str {
        "recording"
    }

    async fn notify(&self, _notice: &Notice) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[tokio::test]
async fn notifiers_without_drift_support_take_the_warning_as_a_no_op() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.reconciler(ReconciliationMode::Warn)
        .run_once(false)
        .await
        .unwrap();
    let dispatcher = OutboxDispatcher::new(
        w.h.store.clone(),
        w.h.clock.clone(),
        vec![w.h.audit.clone()],
        vec![Arc::new(PlainNotifier)],
        w.h.metrics.clone(),
    );
    while dispatcher.dispatch_once().await.unwrap() > 0 {}
    assert_eq!(w.h.store.outbox_len().await.unwrap(), 0);
    assert_eq!(
        w.h.metrics.counter_value(
            "liftgate_outbox_delivered_total",
            &[("consumer", "drift:recording")]
        ),
        1.0
    );
}

#[tokio::test]
async fn chat_outages_delay_drift_warnings_without_losing_them() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    w.h.notifier.set_down(true);
    w.pass(ReconciliationMode::Warn).await;
    assert!(w.h.notifier.drift_notices().is_empty());
    w.h.notifier.set_down(false);
    w.h.advance(StdDuration::from_secs(600));
    w.h.deliver_outbox().await;
    assert_eq!(w.h.notifier.drift_notices().len(), 1);
}

#[tokio::test]
async fn the_inventory_fake_is_an_access_inventory() {
    // The fake answers provisioning like AWS: where something is assigned or provisioned.
    let w = wide_world();
    let inventory: Arc<dyn AccessInventory> = w.inventory.clone();
    let admin = admin_arn(&w);
    let page = inventory
        .accounts_for_provisioned_permission_set(&admin, None)
        .await
        .unwrap();
    assert_eq!(page.items, [PROD]);
    assert!(inventory.provisioning_is_reliable());
}

#[tokio::test]
async fn two_passes_of_one_reconciler_never_overlap() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let reconciler = Arc::new(w.reconciler(ReconciliationMode::Warn));
    let mut pause = w.inventory.pause_next_listing();
    let first = tokio::spawn({
        let reconciler = reconciler.clone();
        async move { reconciler.run_once(false).await }
    });
    pause.reached().await;
    assert!(matches!(
        reconciler.run_once(false).await,
        Err(ReconcileError::Busy)
    ));
    pause.release();
    let report = first.await.unwrap().unwrap();
    assert_eq!(outcomes(&report), [&FindingOutcome::Warned]);
}

#[tokio::test]
async fn a_pass_interrupted_by_shutdown_frees_the_pass_lease() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    w.h.identity.add_assignment(PROD, "Admin", "u-bob");
    let periodic = Arc::new(w.reconciler(ReconciliationMode::Revoke));
    let mut pause = w.inventory.pause_next_listing();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn({
        let periodic = periodic.clone();
        async move { periodic.run_periodically(shutdown).await }
    });
    pause.reached().await;
    stop.send(true).unwrap();
    tokio::time::timeout(StdDuration::from_secs(5), task)
        .await
        .expect("shutdown interrupts the pass")
        .unwrap();
    assert_eq!(w.h.identity.assignment_count(PROD, "Admin", "u-bob"), 1);
    pause.release();

    // Another replica (or the CLI) can run a pass at once.
    let report = w.pass(ReconciliationMode::Revoke).await;
    assert_eq!(outcomes(&report), [&FindingOutcome::Revoked]);
}

#[tokio::test]
async fn many_findings_are_remembered_in_shards_that_shrink_when_access_goes() {
    let w = world(json!([self_service(PROD, "Admin")]), json!([]));
    let users: Vec<String> = (0..600).map(|n| format!("u-{n:04}")).collect();
    for user in &users {
        w.h.identity.add_assignment(PROD, "Admin", user);
    }
    let first = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(first.count(|o| *o == FindingOutcome::Warned), 600);
    assert!(
        w.h.store
            .get_document("reconciler", "reported/1")
            .await
            .unwrap()
            .is_some(),
        "600 entries take two shards"
    );
    let second = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(second.count(|o| *o == FindingOutcome::AlreadyReported), 600);

    let arn = admin_arn(&w);
    for user in &users[..550] {
        w.h.identity
            .delete_assignment(PROD, &arn, user)
            .await
            .unwrap();
    }
    let third = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(third.forgotten, 550);
    assert_eq!(third.count(|o| *o == FindingOutcome::AlreadyReported), 50);
    assert!(
        w.h.store
            .get_document("reconciler", "reported/1")
            .await
            .unwrap()
            .is_none(),
        "the second shard is gone"
    );
    assert_eq!(w.drift_events().len(), 600, "one record per finding, ever");
}
