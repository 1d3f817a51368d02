//! Timers and later steps: expiry, reminders, the end on time, extensions, and requests made
//! in other channels.

use std::time::Duration;

use liftgate_gateway::domain::{Channel, RequestStatus};
use liftgate_gateway::ports::{Notice, NoticeKind, StateStore};
use liftgate_gateway::testing::{FakeFailure, PROD, person};
use liftgate_gateway::workflow::{NewRequest, TargetInput};
use liftgate_policy::Duration as Span;
use serde_json::json;

use crate::support::driver::buttons;
use crate::support::fake_slack::APPROVALS;
use crate::support::{Setup, TestApp, redact, rendered};

#[tokio::test]
async fn an_unanswered_request_expires_and_the_message_says_so() {
    let app = TestApp::standard().await;
    let request = app
        .request_access("UREQ", "Admin", "1h", "late night")
        .await;
    app.harness.advance(Duration::from_secs(8 * 3600 + 1));
    let report = app.harness.sweep().await;
    assert_eq!(report.expired, 1);
    app.settle().await;

    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Expired
    );
    let message = app.approval_message();
    assert!(buttons(&message).is_empty());
    assert!(
        rendered(&message.blocks).contains("Expired: expired after 8h without enough approvals."),
        "{}",
        message.blocks
    );
    insta::assert_json_snapshot!("approval_expired", redact(&message.blocks));
    let last = app.fake.dms_to("UREQ").pop().unwrap();
    assert!(
        rendered(&last.blocks).contains("Expired"),
        "{}",
        last.blocks
    );
    assert!(buttons(&last).is_empty());
}

#[tokio::test]
async fn reminders_go_to_the_thread_and_mention_the_approvers_still_needed() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "waiting").await;
    let message = app.approval_message();
    app.harness.advance(Duration::from_secs(15 * 60));
    assert_eq!(app.harness.sweep().await.reminded, 1);
    app.settle().await;
    let replies = app.fake.thread_replies(APPROVALS, &message.ts);
    assert_eq!(replies.len(), 1);
    assert_eq!(
        replies[0].text,
        "<@UALICE>, <@UBOB> :bell: This request is still waiting for approval (0 of 1). It expires <!date^1800028800^{date_short_pretty} at {time}|2027-01-15 16:00 UTC>."
    );

    // Delivering the same reminder again posts nothing; the next one (after the backoff) does.
    let reminder = Notice {
        kind: NoticeKind::Reminder,
        request: app.harness.request(&request.id).await,
        grant: None,
    };
    app.notifier.notify(&reminder).await.unwrap();
    assert_eq!(app.fake.thread_replies(APPROVALS, &message.ts).len(), 1);
    app.harness.advance(Duration::from_secs(30 * 60));
    assert_eq!(app.harness.sweep().await.reminded, 1);
    app.settle().await;
    assert_eq!(app.fake.thread_replies(APPROVALS, &message.ts).len(), 2);
    assert_eq!(
        app.fake.messages_in(APPROVALS).len(),
        1,
        "reminders are replies, not new messages"
    );
}

#[tokio::test]
async fn a_grant_that_runs_out_is_shown_as_ended() {
    let app = TestApp::standard().await;
    let request = app
        .request_access("UREQ", "ReadOnly", "30m", "quick look")
        .await;
    app.driver
        .click("UALICE", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    app.harness.advance(Duration::from_secs(31 * 60));
    assert_eq!(app.harness.sweep().await.revoked, 1);
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Ended
    );
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("the time was up"),
        "{}",
        message.blocks
    );
    let dms = app.fake.dms_to("UREQ");
    assert!(rendered(&dms.last().unwrap().blocks).contains("the time was up"));
    assert!(
        dms.iter().all(|dm| buttons(dm).is_empty()),
        "no DM keeps I'm done / Extend after the end"
    );
}

#[tokio::test]
async fn extend_opens_a_small_form_and_the_approved_extension_moves_the_end() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "migration").await;
    app.driver
        .click("UALICE", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    let grant = app.harness.grant_of(&request.id).await;
    let original_end = grant.ends_at;

    let granted_dm = app.fake.dms_to("UREQ").pop().unwrap();
    app.driver.click("UREQ", &granted_dm, "extend").await;
    app.adapter.wait_idle().await;
    let view = app.fake.open_view("UREQ").unwrap();
    assert_eq!(view.view["callback_id"], "liftgate_extend");
    insta::assert_json_snapshot!("extend_form", redact(&view.view));
    app.driver.choose("UREQ", &view.id, "duration", "2h").await;
    app.driver
        .choose("UREQ", &view.id, "reason", "migration takes longer")
        .await;
    let reply = app.driver.submit("UREQ", &view.id).await;
    assert!(reply.body.is_empty(), "{}", reply.body);
    app.settle().await;

    let requests = app.requests().await;
    assert_eq!(requests.len(), 2);
    let extension = requests
        .into_iter()
        .find(|candidate| candidate.id != request.id)
        .unwrap();
    assert_eq!(extension.extends.as_ref(), Some(&grant.id));
    assert_eq!(extension.status(), RequestStatus::Pending);
    let messages = app.fake.messages_in(APPROVALS);
    assert_eq!(messages.len(), 2);
    let extension_message = messages.last().unwrap().clone();
    assert!(rendered(&extension_message.blocks).contains("AWS access extension"));

    app.driver
        .click("UBOB", &extension_message, "approve")
        .await;
    app.settle().await;
    let grant = app.harness.grant_of(&request.id).await;
    assert_eq!(grant.ends_at, original_end + time::Duration::hours(2));
    assert_eq!(
        app.harness.request(&extension.id).await.status(),
        RequestStatus::Active
    );
    // The requester hears that the original access now lasts longer.
    let told = app.dm_texts("UREQ");
    assert!(
        told.iter().filter(|text| text.contains("Granted")).count() >= 2,
        "{told:?}"
    );
    let original_message = app.fake.messages_in(APPROVALS)[0].clone();
    assert!(
        rendered(&original_message.blocks).contains("2027-01-15 11:00 UTC"),
        "{}",
        original_message.blocks
    );
}

#[tokio::test]
async fn requests_from_other_channels_are_shown_and_the_requester_found_by_email() {
    let app = TestApp::standard().await;
    let request = app
        .harness
        .service
        .create(NewRequest {
            requester: person("requester@corp.com"),
            target: TargetInput::Account {
                account_id: PROD.to_owned(),
                permission_set: "Admin".to_owned(),
            },
            duration: Span::from_hours(1),
            reason: "from the CI pipeline".to_owned(),
            channel: Channel::Webhook,
            start_at: None,
            extends: None,
            idempotency_key: None,
            break_glass: false,
        })
        .await
        .unwrap();
    app.harness.deliver_outbox().await;
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("<@UREQ> (requester@corp.com)"),
        "{}",
        message.blocks
    );
    assert!(rendered(&message.blocks).contains("from webhook"));
    assert_eq!(app.fake.dms_to("UREQ").len(), 1);

    // Approved through the webhook API, shown in Slack all the same.
    app.harness
        .service
        .approve(&request.id, &person("bob@corp.com"), Channel::Webhook, None)
        .await
        .unwrap();
    app.harness.deliver_outbox().await;
    assert!(rendered(&app.approval_message().blocks).contains("approved by <@UBOB>"));
}

#[tokio::test]
async fn an_update_for_a_request_without_a_message_posts_it() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    // Someone deleted the message and its record is gone too.
    app.harness
        .store
        .delete_document(liftgate_slack::MESSAGES_NAMESPACE, request.id.as_str())
        .await
        .unwrap();
    app.fake
        .state()
        .messages
        .retain(|message| message.channel != APPROVALS);
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
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("Granted"),
        "{}",
        message.blocks
    );
}

#[tokio::test]
async fn a_deleted_approval_message_is_posted_again() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    app.fake
        .state()
        .messages
        .retain(|message| message.channel != APPROVALS);
    app.harness
        .service
        .deny(
            &request.id,
            &person("alice@corp.com"),
            Channel::Webhook,
            Some("not today".to_owned()),
        )
        .await
        .unwrap();
    app.harness.deliver_outbox().await;
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("Denied by <@UALICE>: not today"),
        "{}",
        message.blocks
    );
    assert!(
        app.fake.calls("chat.update").iter().any(|call| !call.ok),
        "the update failed first"
    );
}

#[tokio::test]
async fn approvers_missing_in_slack_are_named_in_the_message() {
    let statements = json!([{
        "ResourceType": "Account",
        "Resource": [PROD],
        "PermissionSet": "*",
        "Approvers": ["alice@corp.com", "zed@corp.com"],
    }]);
    let app = TestApp::start(Setup {
        statements,
        ..Setup::default()
    })
    .await;
    app.request_access("UREQ", "Admin", "1h", "work").await;
    let text = rendered(&app.approval_message().blocks);
    assert!(text.contains("Can approve: <@UALICE>."), "{text}");
    assert!(text.contains("Not found in Slack: zed@corp.com"), "{text}");
}

#[tokio::test]
async fn an_automatically_granted_request_is_shown_as_granted() {
    let statements = json!([{
        "ResourceType": "Account",
        "Resource": [PROD],
        "PermissionSet": "ReadOnly",
        "ApprovalIsNotRequired": true,
    }]);
    let app = TestApp::start(Setup {
        statements,
        ..Setup::default()
    })
    .await;
    let request = app
        .request_access("UREQ", "ReadOnly", "1h", "read the dashboards")
        .await;
    assert_eq!(request.status(), RequestStatus::Active);
    let message = app.approval_message();
    assert!(buttons(&message).is_empty());
    assert!(
        rendered(&message.blocks).contains("approved automatically: this access needs no approval"),
        "{}",
        message.blocks
    );
}

#[tokio::test]
async fn the_stored_message_reference_is_kept_per_request() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    let stored = app
        .harness
        .store
        .get_document(liftgate_slack::MESSAGES_NAMESPACE, request.id.as_str())
        .await
        .unwrap()
        .unwrap();
    let message = app.approval_message();
    assert_eq!(stored["channel"], APPROVALS);
    assert_eq!(stored["ts"], message.ts.as_str());
}

#[tokio::test]
async fn a_failed_grant_shows_the_reason_in_the_channel_and_the_dm() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "work").await;
    app.harness.identity.fail_next(
        "create_assignment",
        FakeFailure::Failed("the permission set is not provisioned to this account".to_owned()),
    );
    app.driver
        .click("UALICE", &app.approval_message(), "approve")
        .await;
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Failed
    );
    let message = app.approval_message();
    let text = rendered(&message.blocks);
    assert!(
        text.contains(":warning: Failed:") && text.contains("not provisioned to this account"),
        "{text}"
    );
    assert!(buttons(&message).is_empty());
    insta::assert_json_snapshot!("approval_failed", redact(&message.blocks));
    let last = app.fake.dms_to("UREQ").pop().unwrap();
    assert!(rendered(&last.blocks).contains("not provisioned to this account"));
}

#[tokio::test]
async fn repeated_refusals_within_the_hour_reach_the_channel_once_and_the_requester_each_time() {
    let app = TestApp::standard().await;
    // Nothing covers Dev: every request for it is refused by the rules.
    let refused = || NewRequest {
        requester: person("requester@corp.com"),
        target: TargetInput::Account {
            account_id: liftgate_gateway::testing::DEV.to_owned(),
            permission_set: "Admin".to_owned(),
        },
        duration: Span::from_hours(1),
        reason: "again".to_owned(),
        channel: Channel::Webhook,
        start_at: None,
        extends: None,
        idempotency_key: None,
        break_glass: false,
    };
    for _ in 0..3 {
        let request = app.harness.service.create(refused()).await.unwrap();
        assert_eq!(request.status(), RequestStatus::Denied);
    }
    app.settle().await;
    assert_eq!(app.fake.messages_in(APPROVALS).len(), 1);
    assert_eq!(app.dm_texts("UREQ").len(), 3, "{:?}", app.dm_texts("UREQ"));
}

fn webhook_request() -> NewRequest {
    NewRequest {
        requester: person("requester@corp.com"),
        target: TargetInput::Account {
            account_id: PROD.to_owned(),
            permission_set: "Admin".to_owned(),
        },
        duration: Span::from_hours(1),
        reason: "while uninstalled".to_owned(),
        channel: Channel::Webhook,
        start_at: None,
        extends: None,
        idempotency_key: None,
        break_glass: false,
    }
}

#[tokio::test]
async fn while_the_app_is_uninstalled_notices_wait_and_go_out_once_it_is_back() {
    let app = TestApp::standard().await;
    let event = json!({
        "type": "event_callback", "team_id": "T1",
        "event": { "type": "tokens_revoked", "tokens": { "oauth": [], "bot": ["UBOT"] } }
    })
    .to_string();
    let reply = app
        .driver
        .post_signed("/slack/events", "application/json", &event)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        app.harness.metrics.gauge_value("liftgate_slack_installed"),
        Some(0.0)
    );
    // Still refused when Slack is asked a minute later.
    app.fake.inject(
        "auth.test",
        [crate::support::fake_slack::Injection::Error(
            "invalid_auth".to_owned(),
        )],
    );
    app.harness.service.create(webhook_request()).await.unwrap();
    app.settle().await;
    assert!(app.fake.messages_in(APPROVALS).is_empty());
    assert_eq!(
        app.fake.ok_calls("chat.postMessage"),
        0,
        "the dead token is not used"
    );
    assert!(
        app.harness.store.outbox_len().await.unwrap() > 0,
        "the notice waits"
    );
    app.harness.advance(Duration::from_secs(61));
    app.settle().await;
    assert!(app.fake.messages_in(APPROVALS).is_empty());

    // Reinstalled with the same token: the next probe succeeds and the notice goes out.
    app.harness.advance(Duration::from_secs(3600));
    app.settle().await;
    assert_eq!(app.fake.messages_in(APPROVALS).len(), 1);
    assert_eq!(
        app.harness.metrics.gauge_value("liftgate_slack_installed"),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_revoked_token_keeps_the_notice_instead_of_dropping_it() {
    let app = TestApp::standard().await;
    app.fake.inject(
        "chat.postMessage",
        [crate::support::fake_slack::Injection::Error(
            "token_revoked".to_owned(),
        )],
    );
    app.harness.service.create(webhook_request()).await.unwrap();
    app.settle().await;
    assert!(app.fake.messages_in(APPROVALS).is_empty());
    app.harness.advance(Duration::from_secs(3600));
    app.settle().await;
    assert_eq!(app.fake.messages_in(APPROVALS).len(), 1);
}
