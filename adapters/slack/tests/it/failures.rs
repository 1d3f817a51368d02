//! Slack failing: rate limits, server errors, expired triggers, a missing scope. None of them
//! loses a notice or touches a grant.

use liftgate_gateway::domain::{Channel, RequestStatus};
use liftgate_gateway::testing::{PROD, person};
use std::time::Duration;

use crate::support::driver::buttons;
use crate::support::fake_slack::{APPROVALS, Injection};
use crate::support::{Setup, TestApp, redact, rendered};

#[tokio::test]
async fn a_rate_limited_post_waits_for_retry_after_and_is_delivered_once() {
    let app = TestApp::standard().await;
    app.fake
        .inject("chat.postMessage", [Injection::RateLimited(30)]);
    let view_id = app.open_account_form("UREQ").await;
    app.driver
        .choose("UREQ", &view_id, "permission_set", "Admin")
        .await;
    app.adapter.wait_idle().await;
    app.driver.choose("UREQ", &view_id, "reason", "work").await;
    app.driver.submit("UREQ", &view_id).await;
    app.settle().await;
    assert!(app.fake.messages_in(APPROVALS).is_empty());
    assert_eq!(app.fake.calls("chat.postMessage").len(), 1);
    assert_eq!(app.fake.calls("chat.postMessage")[0].status, 429);

    // The outbox retries after its own backoff, but Slack asked for 30 s: no call before that.
    app.harness.advance(Duration::from_secs(10));
    app.harness.deliver_outbox().await;
    assert_eq!(app.fake.calls("chat.postMessage").len(), 1);

    app.harness.advance(Duration::from_secs(25));
    app.harness.deliver_outbox().await;
    assert_eq!(app.fake.messages_in(APPROVALS).len(), 1);
    assert_eq!(app.dm_texts("UREQ").len(), 1);
    app.harness.advance(Duration::from_secs(600));
    app.harness.deliver_outbox().await;
    assert_eq!(
        app.fake.messages_in(APPROVALS).len(),
        1,
        "delivered exactly once"
    );
}

#[tokio::test]
async fn a_short_retry_after_is_waited_for_in_place() {
    let app = TestApp::standard().await;
    app.fake
        .inject("chat.postMessage", [Injection::RateLimited(0)]);
    app.request_access("UREQ", "Admin", "1h", "work").await;
    assert_eq!(app.fake.messages_in(APPROVALS).len(), 1);
    assert_eq!(
        app.fake
            .calls("chat.postMessage")
            .iter()
            .filter(|call| call.status == 429)
            .count(),
        1
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let app = TestApp::standard().await;
    app.fake.inject(
        "chat.postMessage",
        [Injection::Status(503), Injection::Status(500)],
    );
    app.request_access("UREQ", "Admin", "1h", "work").await;
    assert_eq!(app.fake.messages_in(APPROVALS).len(), 1);
    assert_eq!(
        app.fake.calls("chat.postMessage").len(),
        4,
        "two failures, the message, the DM"
    );
}

#[tokio::test]
async fn a_slack_outage_neither_blocks_nor_loses_a_grant_or_a_revocation() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    // Slack goes down; the approval comes through the webhook API meanwhile.
    let outage = || (0..20).map(|_| Injection::Status(503));
    app.fake.inject("chat.update", outage());
    app.fake.inject("chat.postMessage", outage());
    app.harness
        .service
        .approve(
            &request.id,
            &person("alice@corp.com"),
            Channel::Webhook,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Active
    );
    assert_eq!(
        app.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );
    app.harness.deliver_outbox().await;
    assert!(
        rendered(&app.approval_message().blocks).contains("Waiting for approval"),
        "still the old state"
    );

    app.harness.advance(Duration::from_secs(3601));
    assert_eq!(app.harness.sweep().await.revoked, 1);
    assert_eq!(
        app.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );

    // Slack is back: the next deliveries bring the message up to date.
    app.fake.state().injections.clear();
    for _ in 0..5 {
        app.harness.advance(Duration::from_secs(300));
        app.harness.deliver_outbox().await;
    }
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("the time was up"),
        "{}",
        message.blocks
    );
    assert!(buttons(&message).is_empty());
}

#[tokio::test]
async fn an_expired_trigger_tells_the_person_to_try_again() {
    let app = TestApp::standard().await;
    let trigger = app.fake.issue_trigger("UREQ", time::Duration::seconds(4));
    let payload = crate::support::driver::shortcut_payload("UREQ", "request_for_access", &trigger);
    assert_eq!(app.driver.interaction(&payload).await.status, 200);
    app.adapter.wait_idle().await;
    assert!(!app.fake.calls("views.open")[0].ok);
    assert!(app.fake.open_view("UREQ").is_none());
    assert_eq!(
        app.dm_texts("UREQ"),
        ["Slack took too long to open the form. Please try again."]
    );
}

#[tokio::test]
async fn a_redelivered_shortcut_opens_one_form_and_explains_the_second() {
    let app = TestApp::standard().await;
    let trigger = app.fake.issue_trigger("UREQ", time::Duration::ZERO);
    let payload = crate::support::driver::shortcut_payload("UREQ", "request_for_access", &trigger);
    app.driver.interaction(&payload).await;
    app.adapter.wait_idle().await;
    app.driver.interaction(&payload).await;
    app.adapter.wait_idle().await;
    assert_eq!(app.fake.ok_calls("views.open"), 1);
    assert_eq!(app.fake.state().views.len(), 1);
    assert_eq!(
        app.dm_texts("UREQ"),
        ["Slack took too long to open the form. Please try again."]
    );
}

#[tokio::test]
async fn a_command_with_a_used_trigger_answers_ephemerally_in_its_channel() {
    let app = TestApp::standard().await;
    app.fake.inject(
        "views.open",
        [Injection::Error("exchanged_trigger_id".to_owned())],
    );
    app.driver.command("UREQ", "/access", "CAPPROVALS").await;
    app.adapter.wait_idle().await;
    let told = app.fake.ephemerals_to("UREQ");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].channel, "CAPPROVALS");
    assert_eq!(
        told[0].text,
        "Slack took too long to open the form. Please try again."
    );
}

#[tokio::test]
async fn without_the_email_scope_people_are_told_and_nothing_is_decided() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    app.fake.set_email_scope(false);
    app.driver
        .click("UALICE", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    let told = app.fake.ephemerals_to("UALICE");
    assert_eq!(told.len(), 1);
    assert!(
        told[0].text.contains("users:read.email"),
        "{}",
        told[0].text
    );

    let view_id = app.open_account_form("UBOB").await;
    let view = app.fake.view(&view_id);
    assert!(rendered(&view.view).contains("users:read.email"));
    insta::assert_json_snapshot!("note_missing_email_scope", redact(&view.view));
}

#[tokio::test]
async fn a_deactivated_slack_user_cannot_decide() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    app.fake.state().users.get_mut("UALICE").unwrap().deleted = true;
    app.driver
        .click("UALICE", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert!(
        app.fake.ephemerals_to("UALICE")[0]
            .text
            .contains("Deactivated users and bots")
    );
}

#[tokio::test]
async fn a_bad_channel_is_a_permanent_failure_and_does_not_block_the_outbox() {
    let app = TestApp::standard().await;
    app.fake.inject(
        "chat.postMessage",
        [Injection::Error("channel_not_found".to_owned())],
    );
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    assert!(app.fake.messages_in(APPROVALS).is_empty());
    assert_eq!(
        app.dm_texts("UREQ").len(),
        1,
        "the requester is told all the same"
    );
    // The notice was dropped (logged); the next change posts the message.
    app.harness
        .service
        .approve(
            &request.id,
            &person("alice@corp.com"),
            Channel::Webhook,
            None,
        )
        .await
        .unwrap();
    app.harness.deliver_outbox().await;
    assert_eq!(app.fake.messages_in(APPROVALS).len(), 1);
}

#[tokio::test]
async fn after_ack_work_is_bounded_and_a_form_that_cannot_open_in_time_is_dropped() {
    let app = TestApp::start(Setup {
        slack: |settings| {
            settings.work_concurrency = 1;
            settings.work_queue = 2;
        },
        ..Setup::default()
    })
    .await;
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    app.fake.inject(
        "views.open",
        [crate::support::fake_slack::Injection::Stall(
            std::sync::Arc::clone(&release),
        )],
    );
    // The first form holds the only slot; the second waits; the third finds the queue full.
    for user in ["UREQ", "UALICE", "UBOB"] {
        let (reply, _) = app.driver.shortcut(user, "request_for_access").await;
        assert_eq!(reply.status, 200, "every shortcut is acked at once");
    }
    crate::support::fake_slack::eventually("the first views.open is held", || {
        app.fake.state().stalled == 1
    })
    .await;
    let dropped = |reason: &str| {
        app.harness.metrics.counter_value(
            "liftgate_chat_work_dropped_total",
            &[("channel", "slack"), ("reason", reason)],
        )
    };
    assert_eq!(dropped("queue_full"), 1.0);
    // The waiting form's trigger runs out before the slot frees: it is dropped, not opened late.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    assert_eq!(dropped("trigger_expired"), 1.0);
    release.notify_waiters();
    app.settle().await;
    assert!(app.fake.open_view("UREQ").is_some());
    assert!(app.fake.open_view("UALICE").is_none());
    assert!(app.fake.open_view("UBOB").is_none());
}
