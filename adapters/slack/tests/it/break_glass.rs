//! Break-glass from Slack (docs/reference.md §3, §6): the form's option, the loud approval
//! message with Acknowledge / Flag for the reviewers, their clicks, and the escalation of an
//! unreviewed use.

use std::time::Duration;

use liftgate_gateway::domain::{AccessRequest, RequestStatus, ReviewOutcome};
use liftgate_gateway::ports::Clock;
use liftgate_gateway::testing::PROD;
use liftgate_policy::Decision;
use serde_json::{Value, json};

use crate::support::driver::{buttons, input_block};
use crate::support::fake_slack::APPROVALS;
use crate::support::{Setup, TestApp, rendered};

/// The standard rule (Admin or ReadOnly on Prod, approved by alice or bob), plus break-glass
/// Admin on Prod for the requester, reviewed by alice and bob.
fn break_glass_statements() -> Value {
    json!([
        {
            "ResourceType": "Account",
            "Resource": [PROD],
            "PermissionSet": ["Admin", "ReadOnly"],
            "Approvers": ["alice@corp.com", "bob@corp.com"],
        },
        {
            "ResourceType": "Account",
            "Resource": [PROD],
            "PermissionSet": ["Admin"],
            "BreakGlass": true,
            "AllowedUsers": ["requester@corp.com"],
            "Approvers": ["alice@corp.com", "bob@corp.com"],
        },
    ])
}

async fn app() -> TestApp {
    TestApp::start(Setup {
        statements: break_glass_statements(),
        ..Setup::default()
    })
    .await
}

/// The requester fills the form with "Break glass" ticked and submits it.
async fn break_glass(app: &TestApp) -> AccessRequest {
    let view = app.open_account_form("UREQ").await;
    app.driver.choose("UREQ", &view, "account", PROD).await;
    app.adapter.wait_idle().await;
    app.driver
        .choose("UREQ", &view, "permission_set", "Admin")
        .await;
    app.adapter.wait_idle().await;
    app.driver.choose("UREQ", &view, "duration", "1h").await;
    app.driver
        .choose("UREQ", &view, "reason", "INC-7 database down")
        .await;
    app.driver
        .choose("UREQ", &view, "break_glass", "break_glass")
        .await;
    let reply = app.driver.submit("UREQ", &view).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.is_empty(), "refused: {}", reply.body);
    app.settle().await;
    app.only_request().await
}

fn admin_assignments(app: &TestApp) -> u32 {
    app.harness
        .identity
        .assignment_count(PROD, "Admin", "u-requester")
}

fn action_ids(blocks: &Value) -> Vec<String> {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|button| button["action_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_break_glass_request_is_granted_at_once_loudly_and_every_reviewer_is_told() {
    let app = app().await;
    let request = break_glass(&app).await;
    assert_eq!(request.status(), RequestStatus::Active);
    assert_eq!(request.decision, Decision::BreakGlass);
    assert!(request.break_glass.as_ref().unwrap().is_pending());
    assert_eq!(admin_assignments(&app), 1);

    let message = app.approval_message();
    let shown = rendered(&message.blocks);
    assert!(
        shown.contains("*BREAK GLASS* — access granted without approval; review required by"),
        "{shown}"
    );
    assert!(shown.contains("Reviewers: <@UALICE>, <@UBOB>."), "{shown}");
    assert!(!shown.contains("Can approve"), "{shown}");
    assert!(message.text.starts_with("BREAK GLASS"), "{}", message.text);
    assert_eq!(action_ids(&message.blocks), ["acknowledge", "flag"]);
    let flag = buttons(&message)
        .into_iter()
        .find(|button| button["action_id"] == "flag")
        .unwrap();
    assert_eq!(flag["style"], "danger");
    assert!(
        flag["confirm"]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("ends the access now if it is still held"),
        "{flag}"
    );
    for reviewer in ["UALICE", "UBOB"] {
        let copies = app.fake.dms_to(reviewer);
        assert_eq!(copies.len(), 1, "{reviewer}: {copies:?}");
        assert_eq!(action_ids(&copies[0].blocks), ["acknowledge", "flag"]);
        assert!(rendered(&copies[0].blocks).contains("BREAK GLASS"));
    }
    let told = app.fake.dms_to("UREQ").pop().unwrap();
    let told_text = rendered(&told.blocks);
    assert!(told_text.contains("BREAK GLASS"), "{told_text}");
    assert!(
        !action_ids(&told.blocks).contains(&"acknowledge".to_owned()),
        "the requester cannot review their own use"
    );
}

#[tokio::test]
async fn a_reviewer_flags_the_use_and_the_access_ends() {
    let app = app().await;
    let request = break_glass(&app).await;
    let reply = app
        .driver
        .click("UALICE", &app.approval_message(), "flag")
        .await;
    assert_eq!(reply.status, 200);
    app.settle().await;

    let request = app.harness.request(&request.id).await;
    let review = request
        .break_glass
        .as_ref()
        .unwrap()
        .reviewed
        .clone()
        .unwrap();
    assert_eq!(review.outcome, ReviewOutcome::Flagged);
    assert_eq!(review.by.email.as_str(), "alice@corp.com");
    assert!(
        request.status() == RequestStatus::Ended || request.is_ending(),
        "{:?}",
        request.status()
    );
    assert_eq!(admin_assignments(&app), 0);
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("Flagged by <@UALICE>."),
        "{}",
        message.blocks
    );
    assert!(buttons(&message).is_empty(), "{}", message.blocks);
    assert!(app.fake.ephemerals_to("UALICE").is_empty());
}

#[tokio::test]
async fn a_reviewer_acknowledges_the_use_and_the_access_stays() {
    let app = app().await;
    let request = break_glass(&app).await;
    let dm = app.fake.dms_to("UBOB").pop().unwrap();
    app.driver.click("UBOB", &dm, "acknowledge").await;
    app.settle().await;
    let request = app.harness.request(&request.id).await;
    let review = request
        .break_glass
        .as_ref()
        .unwrap()
        .reviewed
        .clone()
        .unwrap();
    assert_eq!(review.outcome, ReviewOutcome::Acknowledged);
    assert_eq!(request.status(), RequestStatus::Active);
    assert_eq!(admin_assignments(&app), 1);
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("Acknowledged by <@UBOB>."),
        "{}",
        message.blocks
    );
    assert!(buttons(&message).is_empty(), "{}", message.blocks);
}

#[tokio::test]
async fn the_requester_and_non_reviewers_cannot_review_and_nothing_changes() {
    let app = app().await;
    let request = break_glass(&app).await;
    let before = app.approval_message().blocks;
    for clicker in ["UREQ", "UCAROL"] {
        app.driver
            .click(clicker, &app.approval_message(), "acknowledge")
            .await;
        app.settle().await;
        let told = app.fake.ephemerals_to(clicker);
        assert_eq!(told.len(), 1, "{clicker}: {told:?}");
        assert!(
            told[0]
                .text
                .starts_with(":warning: You could not acknowledge this request."),
            "{told:?}"
        );
    }
    let after = app.harness.request(&request.id).await;
    assert!(after.break_glass.as_ref().unwrap().is_pending());
    assert_eq!(after.status(), RequestStatus::Active);
    assert_eq!(admin_assignments(&app), 1);
    assert_eq!(app.approval_message().blocks, before);
}

#[tokio::test]
async fn the_break_glass_option_is_offered_only_to_someone_who_may_use_it() {
    let app = app().await;
    let offered = app.open_account_form("UREQ").await;
    assert!(input_block(&app.fake.view(&offered).view, "break_glass").is_some());
    let view = app.open_account_form("UDAVE").await;
    let form = app.fake.view(&view).view;
    assert!(input_block(&form, "account").is_some(), "{form}");
    assert!(input_block(&form, "break_glass").is_none(), "{form}");
}

#[tokio::test]
async fn ordinary_requests_show_no_break_glass_and_a_start_time_is_refused_under_its_field() {
    let app = app().await;
    let request = app
        .request_access("UREQ", "ReadOnly", "30m", "look at billing")
        .await;
    assert_eq!(request.status(), RequestStatus::Pending);
    let shown = rendered(&app.approval_message().blocks);
    assert!(!shown.contains("BREAK GLASS"), "{shown}");
    assert!(
        shown.contains("Can approve: <@UALICE>, <@UBOB>."),
        "{shown}"
    );

    let view = app.open_account_form("UREQ").await;
    app.driver.choose("UREQ", &view, "account", PROD).await;
    app.adapter.wait_idle().await;
    app.driver
        .choose("UREQ", &view, "permission_set", "Admin")
        .await;
    app.adapter.wait_idle().await;
    app.driver.choose("UREQ", &view, "reason", "INC-8").await;
    app.driver
        .choose("UREQ", &view, "break_glass", "break_glass")
        .await;
    let later = app.harness.clock.now() + time::Duration::hours(2);
    app.driver
        .choose(
            "UREQ",
            &view,
            "start_at",
            &later.unix_timestamp().to_string(),
        )
        .await;
    let reply = app.driver.submit("UREQ", &view).await;
    let errors = &reply.json()["errors"];
    assert!(
        errors["start_at"]
            .as_str()
            .is_some_and(|text| text.contains("Break-glass access starts now")),
        "{errors}"
    );
    assert_eq!(app.requests().await.len(), 1, "nothing new was created");
}

#[tokio::test]
async fn an_unreviewed_use_escalates_in_the_thread_and_to_every_reviewer() {
    let app = app().await;
    let request = break_glass(&app).await;
    let due = request.break_glass.as_ref().unwrap().due_at;
    let wait = u64::try_from((due - app.harness.clock.now()).whole_seconds()).unwrap() + 1;
    app.harness.advance(Duration::from_secs(wait));
    app.settle().await;
    let escalated = app.harness.request(&request.id).await;
    assert_eq!(escalated.break_glass.as_ref().unwrap().escalations, 1);

    let message = app.approval_message();
    let replies = app.fake.thread_replies(APPROVALS, &message.ts);
    assert_eq!(replies.len(), 1, "{replies:?}");
    let reminder = &replies[0].text;
    assert!(
        reminder.contains("is still unreviewed: the review is overdue (escalation 1)"),
        "{reminder}"
    );
    assert!(!reminder.contains("waiting for approval"), "{reminder}");
    for reviewer in ["UALICE", "UBOB"] {
        let texts = app.dm_texts(reviewer);
        assert!(
            texts.iter().any(|text| text.contains("escalation 1")),
            "{reviewer}: {texts:?}"
        );
    }
    assert!(
        rendered(&app.approval_message().blocks).contains("the review is overdue (escalation 1)"),
        "{}",
        app.approval_message().blocks
    );
}
