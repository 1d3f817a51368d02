//! Deny, cancel, quorum and refused decisions, each reflected in the approval message and
//! told to the people concerned.

use std::sync::Arc;

use liftgate_gateway::domain::RequestStatus;
use liftgate_gateway::ports::{Clock, StateStore};
use liftgate_gateway::testing::PROD;
use serde_json::json;
use tokio::sync::Notify;

use crate::support::driver::buttons;
use crate::support::fake_slack::{Injection, eventually};
use crate::support::{Setup, TestApp, redact, rendered};

#[tokio::test]
async fn a_deny_updates_the_message_without_buttons_and_tells_the_requester() {
    let app = TestApp::standard().await;
    let request = app
        .request_access("UREQ", "ReadOnly", "30m", "look at billing")
        .await;
    let reply = app
        .driver
        .click("UBOB", &app.approval_message(), "deny")
        .await;
    assert_eq!(reply.status, 200);
    app.settle().await;

    let request = app.harness.request(&request.id).await;
    assert_eq!(request.status(), RequestStatus::Denied);
    let message = app.approval_message();
    assert!(buttons(&message).is_empty());
    assert!(
        rendered(&message.blocks).contains("Denied by <@UBOB>"),
        "{}",
        message.blocks
    );
    insta::assert_json_snapshot!("approval_denied", redact(&message.blocks));
    let last = app.fake.dms_to("UREQ").pop().unwrap();
    assert!(
        rendered(&last.blocks).contains("Denied by <@UBOB>"),
        "{}",
        last.blocks
    );
    assert_eq!(
        app.harness
            .identity
            .assignment_count(PROD, "ReadOnly", "u-requester"),
        0
    );
}

#[tokio::test]
async fn the_requester_can_cancel_from_the_message_or_their_dm() {
    let app = TestApp::standard().await;
    let first = app.request_access("UREQ", "ReadOnly", "30m", "first").await;
    let dm = app.fake.dms_to("UREQ").pop().unwrap();
    app.driver.click("UREQ", &dm, "cancel").await;
    app.settle().await;
    assert_eq!(
        app.harness.request(&first.id).await.status(),
        RequestStatus::Cancelled
    );
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("Cancelled by <@UREQ>"),
        "{}",
        message.blocks
    );
    assert!(buttons(&message).is_empty());
    assert!(
        buttons(&dm).len() == 1 && buttons(&app.fake.dms_to("UREQ")[0]).is_empty(),
        "the DM's Cancel button is gone"
    );
}

#[tokio::test]
async fn quorum_needs_two_approvers_and_the_message_counts_them() {
    let statements = json!([{
        "ResourceType": "Account",
        "Resource": [PROD],
        "PermissionSet": "*",
        "Approvers": ["alice@corp.com", "bob@corp.com", "carol@corp.com"],
        "RequiredApprovals": 2,
    }]);
    let app = TestApp::start(Setup {
        statements,
        ..Setup::default()
    })
    .await;
    let request = app
        .request_access("UREQ", "Admin", "2h", "incident 42")
        .await;

    app.driver
        .click("UALICE", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    let message = app.approval_message();
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert!(
        rendered(&message.blocks).contains("Waiting for approval: 1 of 2 (approved by <@UALICE>)"),
        "{}",
        message.blocks
    );
    assert!(
        rendered(&message.blocks).contains("Can approve: <@UBOB>, <@UCAROL>."),
        "{}",
        message.blocks
    );
    insta::assert_json_snapshot!("approval_one_of_two", redact(&message.blocks));
    let progress = app.fake.dms_to("UREQ").pop().unwrap();
    assert!(
        progress.text.contains("Waiting for approval"),
        "{}",
        progress.text
    );

    // Alice clicking again counts once.
    app.driver.click("UALICE", &message, "approve").await;
    app.settle().await;
    assert_eq!(app.harness.request(&request.id).await.approvals.len(), 1);

    app.driver
        .click("UCAROL", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    let request = app.harness.request(&request.id).await;
    assert_eq!(request.status(), RequestStatus::Active);
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("approved by <@UALICE>, <@UCAROL>"),
        "{}",
        message.blocks
    );
    assert!(buttons(&message).is_empty());
    assert_eq!(
        app.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );
}

#[tokio::test]
async fn self_approval_is_refused_and_the_clicker_is_told_privately() {
    let statements = json!([{
        "ResourceType": "Account",
        "Resource": [PROD],
        "PermissionSet": "*",
        "Approvers": ["requester@corp.com", "alice@corp.com"],
        "AllowSelfApproval": false,
    }]);
    let app = TestApp::start(Setup {
        statements,
        ..Setup::default()
    })
    .await;
    let request = app.request_access("UREQ", "Admin", "1h", "my own").await;
    app.driver
        .click("UREQ", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert!(app.harness.request(&request.id).await.approvals.is_empty());
    let told = app.fake.ephemerals_to("UREQ");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].channel, "CAPPROVALS");
    assert_eq!(
        told[0].text,
        ":warning: You could not approve this request. You may not approve your own request."
    );
    // The message still offers the decision to the others.
    assert_eq!(buttons(&app.approval_message()).len(), 2);
}

#[tokio::test]
async fn someone_who_is_not_an_approver_cannot_approve_or_deny() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    app.driver
        .click("UDAVE", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    app.driver
        .click("UDAVE", &app.approval_message(), "deny")
        .await;
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    let told: Vec<String> = app
        .fake
        .ephemerals_to("UDAVE")
        .into_iter()
        .map(|message| message.text)
        .collect();
    assert_eq!(told.len(), 2);
    assert!(
        told[0].contains("You are not an approver of this request"),
        "{told:?}"
    );
    assert!(
        told[1].contains("Only an approver of this request"),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_click_on_a_decided_request_is_refused_politely() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    let stale = app.approval_message();
    app.driver.click("UALICE", &stale, "deny").await;
    app.settle().await;
    // Bob's client still shows the old message with its buttons.
    app.driver.click("UBOB", &stale, "approve").await;
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Denied
    );
    let told = app.fake.ephemerals_to("UBOB");
    assert!(
        told[0].text.contains("The request is denied, not pending"),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_button_value_that_is_not_a_request_id_is_ignored() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    let mut message = app.approval_message();
    message.blocks = json!([{ "type": "actions", "elements": [{ "type": "button", "action_id": "approve", "text": { "type": "plain_text", "text": "Approve" }, "value": "approve; DROP TABLE" }] }]);
    assert_eq!(
        app.driver.click("UALICE", &message, "approve").await.status,
        200
    );
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert_eq!(
        app.fake
            .calls("users.info")
            .iter()
            .filter(|call| call.args["user"] == "UALICE")
            .count(),
        0
    );
}

/// Inbox rows (acked work not yet finished) in the store.
async fn unfinished_work(app: &TestApp) -> usize {
    let far = app.harness.clock.now() + time::Duration::days(2);
    let rows = app
        .harness
        .store
        .claim_outbox("inbox:", far, far, 100)
        .await
        .unwrap();
    for row in &rows {
        // Put back as found: claiming only looked.
        app.harness
            .store
            .retry_outbox(row.id, row.first_due(), "looked")
            .await
            .unwrap();
    }
    rows.len()
}

#[tokio::test]
async fn an_approval_acked_just_before_a_crash_is_resumed_from_the_inbox() {
    let app = TestApp::standard().await;
    let request = app
        .request_access("UREQ", "ReadOnly", "30m", "crash right after the ack")
        .await;
    assert_eq!(
        unfinished_work(&app).await,
        0,
        "finished work leaves no row"
    );

    // Bob clicks; Slack gets its ack, but the replica dies while looking Bob up.
    let release = Arc::new(Notify::new());
    app.fake
        .inject("users.info", [Injection::Stall(Arc::clone(&release))]);
    let reply = app
        .driver
        .click("UBOB", &app.approval_message(), "approve")
        .await;
    assert_eq!(reply.status, 200);
    eventually("the lookup is stalled", || app.fake.state().stalled == 1).await;
    app.adapter.abandon_in_flight();
    release.notify_waiters();
    assert_eq!(unfinished_work(&app).await, 1, "the click is recorded");

    // Within the grace period nothing resumes it (its runner might still be alive).
    app.harness.deliver_outbox().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );

    // After it, the next outbox pass (any replica) runs the click again, as Bob's.
    app.harness.advance(std::time::Duration::from_secs(31));
    app.harness.deliver_outbox().await;
    app.settle().await;
    let request = app.harness.request(&request.id).await;
    assert_eq!(request.status(), RequestStatus::Active);
    assert_eq!(request.approvals[0].approver.email.as_str(), "bob@corp.com");
    assert!(
        rendered(&app.approval_message().blocks).contains("<@UBOB>"),
        "{}",
        app.approval_message().blocks
    );
    assert_eq!(
        app.harness
            .identity
            .assignment_count(PROD, "ReadOnly", "u-requester"),
        1
    );
    assert_eq!(unfinished_work(&app).await, 0);
    assert_eq!(
        app.harness
            .metrics
            .counter_value("liftgate_inbox_resumed_total", &[("channel", "slack")]),
        1.0
    );
}
