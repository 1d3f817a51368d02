//! The request forms: slash commands, group requests, choices that depend on earlier answers,
//! type-ahead options, inline errors, and refusals after the ack.

use liftgate_gateway::domain::{RequestStatus, RequestTarget};
use liftgate_gateway::testing::{DEV, OPS_GROUP, PROD};
use serde_json::{Value, json};

use crate::support::driver::input_block;
use crate::support::{Setup, TestApp, redact, rendered};

fn options_of(view: &Value, block: &str) -> Vec<String> {
    input_block(view, block).unwrap()["element"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["value"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_access_command_opens_the_form_in_the_same_way() {
    let app = TestApp::standard().await;
    let reply = app.driver.command("UREQ", "/access", "CGENERAL").await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    app.adapter.wait_idle().await;
    let view = app.fake.open_view("UREQ").unwrap();
    assert_eq!(view.view["callback_id"], "liftgate_access_request");
    assert_eq!(view.versions, 2, "a loading view first, then the form");
    let labels: Vec<&str> = view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|block| block["type"] == "input")
        .map(|block| block["label"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Account",
            "Permission set",
            "Duration",
            "Reason",
            "Start time"
        ]
    );

    let reply = app.driver.command("UREQ", "/aws", "CGENERAL").await;
    assert_eq!(reply.json()["response_type"], "ephemeral");
}

#[tokio::test]
async fn a_group_request_goes_through_the_group_form() {
    let app = TestApp::standard().await;
    let reply = app
        .driver
        .command("UREQ", "/group-access", "CGENERAL")
        .await;
    assert_eq!(reply.status, 200);
    app.adapter.wait_idle().await;
    let view = app.fake.open_view("UREQ").unwrap();
    assert_eq!(view.view["callback_id"], "liftgate_group_request");
    insta::assert_json_snapshot!("group_form", redact(&view.view));
    assert_eq!(options_of(&view.view, "group"), [OPS_GROUP]);
    app.driver.choose("UREQ", &view.id, "duration", "2h").await;
    app.driver
        .choose("UREQ", &view.id, "reason", "on call this week")
        .await;
    let reply = app.driver.submit("UREQ", &view.id).await;
    assert!(reply.body.is_empty(), "{}", reply.body);
    app.settle().await;

    let request = app.only_request().await;
    assert!(
        matches!(&request.target, RequestTarget::Group { group_id, .. } if group_id == OPS_GROUP)
    );
    let message = app.approval_message();
    let text = rendered(&message.blocks);
    assert!(
        text.contains("AWS group access request")
            && text.contains("*Group*\nOps (11111111-2222-3333-4444-555555555555)"),
        "{text}"
    );
    app.driver.click("UALICE", &message, "approve").await;
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Active
    );
    assert!(app.harness.identity.is_member(OPS_GROUP, "u-requester"));
}

#[tokio::test]
async fn permission_sets_and_durations_follow_the_chosen_account() {
    let statements = json!([
        { "ResourceType": "Account", "Resource": [PROD], "PermissionSet": "Admin", "Approvers": "alice@corp.com", "MaxDuration": "1h" },
        { "ResourceType": "Account", "Resource": [DEV], "PermissionSet": "ReadOnly", "Approvers": "alice@corp.com" },
    ]);
    let app = TestApp::start(Setup {
        statements,
        ..Setup::default()
    })
    .await;
    let view_id = app.open_account_form("UREQ").await;
    let view = app.fake.view(&view_id);
    assert_eq!(
        options_of(&view.view, "account"),
        [DEV, PROD],
        "sorted by name"
    );
    assert!(
        input_block(&view.view, "permission_set").is_none(),
        "no permission sets before an account"
    );

    app.driver
        .choose("UREQ", &view_id, "account", DEV)
        .await
        .unwrap();
    app.adapter.wait_idle().await;
    let view = app.fake.view(&view_id);
    assert_eq!(options_of(&view.view, "permission_set"), ["ReadOnly"]);
    assert_eq!(
        options_of(&view.view, "duration"),
        ["30m", "1h", "2h", "4h", "8h", "12h"]
    );

    app.driver
        .choose("UREQ", &view_id, "account", PROD)
        .await
        .unwrap();
    app.adapter.wait_idle().await;
    let view = app.fake.view(&view_id);
    assert_eq!(options_of(&view.view, "permission_set"), ["Admin"]);
    assert_eq!(
        options_of(&view.view, "duration"),
        ["30m", "1h"],
        "capped by the statement's MaxDuration"
    );
}

#[tokio::test]
async fn more_than_a_hundred_accounts_use_type_ahead_options() {
    let statements = json!([{ "ResourceType": "Account", "Resource": "*", "PermissionSet": "*", "Approvers": "alice@corp.com" }]);
    let app = TestApp::start(Setup {
        statements,
        ..Setup::default()
    })
    .await;
    for n in 0..130 {
        app.harness
            .identity
            .add_account(&format!("3000000{n:05}"), &format!("team-{n:03}"));
        app.harness
            .identity
            .add_permission_set(&format!("Set{n:03}"));
    }
    let view_id = app.open_account_form("UREQ").await;
    let view = app.fake.view(&view_id);
    let account = input_block(&view.view, "account").unwrap();
    assert_eq!(account["element"]["type"], "external_select");

    let all = app
        .driver
        .suggest("UREQ", &view_id, "account", "")
        .await
        .json();
    assert_eq!(
        all["options"].as_array().unwrap().len(),
        100,
        "at most 100 options"
    );
    let some = app
        .driver
        .suggest("UREQ", &view_id, "account", "TEAM-12")
        .await
        .json();
    let labels: Vec<&str> = some["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 10, "{labels:?}");
    assert!(labels.iter().all(|label| label.starts_with("team-12")));
    let by_id = app
        .driver
        .suggest("UREQ", &view_id, "account", PROD)
        .await
        .json();
    assert_eq!(by_id["options"][0]["value"], PROD);

    // The permission sets offered are those of the chosen account, with type-ahead too.
    app.driver
        .choose("UREQ", &view_id, "account", PROD)
        .await
        .unwrap();
    app.adapter.wait_idle().await;
    let view = app.fake.view(&view_id);
    assert_eq!(
        input_block(&view.view, "permission_set").unwrap()["element"]["type"],
        "external_select"
    );
    let sets = app
        .driver
        .suggest("UREQ", &view_id, "permission_set", "read")
        .await
        .json();
    assert_eq!(
        sets["options"],
        json!([{ "text": { "type": "plain_text", "text": "ReadOnly", "emoji": true }, "value": "ReadOnly" }])
    );

    app.driver
        .choose("UREQ", &view_id, "permission_set", "ReadOnly")
        .await;
    app.driver.choose("UREQ", &view_id, "reason", "audit").await;
    assert!(app.driver.submit("UREQ", &view_id).await.body.is_empty());
    app.settle().await;
    assert!(
        matches!(app.only_request().await.target, RequestTarget::Account { ref permission_set, .. } if permission_set == "ReadOnly")
    );
}

#[tokio::test]
async fn options_are_those_of_the_person_asking_not_of_the_views_owner() {
    let statements = json!([{
        "ResourceType": "Account",
        "Resource": [PROD],
        "PermissionSet": "*",
        "Approvers": "alice@corp.com",
        "AllowedUsers": "requester@corp.com",
    }]);
    let app = TestApp::start(Setup {
        statements,
        ..Setup::default()
    })
    .await;
    let view_id = app.open_account_form("UREQ").await;
    let mine = app
        .driver
        .suggest("UREQ", &view_id, "account", "")
        .await
        .json();
    assert_eq!(mine["options"][0]["value"], PROD);
    // Dave may request nothing; asking with the requester's view id gives him nothing either.
    let reply = app.driver.suggest("UDAVE", &view_id, "account", "").await;
    assert_eq!(reply.json(), json!({ "options": [] }));
    // Without the email scope nobody can be identified, so nothing is offered.
    app.fake.set_email_scope(false);
    let reply = app.driver.suggest("UBOB", &view_id, "account", "").await;
    assert_eq!(reply.json(), json!({ "options": [] }));
}

#[tokio::test]
async fn invalid_answers_get_inline_errors_under_the_right_field() {
    let app = TestApp::standard().await;
    let view_id = app.open_account_form("UREQ").await;
    app.driver
        .choose("UREQ", &view_id, "permission_set", "Admin")
        .await;
    app.adapter.wait_idle().await;
    app.driver.choose("UREQ", &view_id, "reason", "   ").await;
    let reply = app.driver.submit("UREQ", &view_id).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({ "response_action": "errors", "errors": { "reason": "Give a reason: it goes to the approvers and the audit log." } })
    );

    // A duration the form never offered (a replayed or edited payload) and a start in the past.
    app.driver.choose("UREQ", &view_id, "reason", "ok").await;
    let mut forged = app.fake.view(&view_id);
    let duration_block = input_block(&forged.view, "duration").unwrap()["block_id"]
        .as_str()
        .unwrap()
        .to_owned();
    forged.answers.insert(
        duration_block.clone(),
        json!({ "type": "static_select", "selected_option": { "text": { "type": "plain_text", "text": "2 days" }, "value": "2d" } }),
    );
    forged.answers.insert(
        "start_at".to_owned(),
        json!({ "type": "datetimepicker", "selected_date_time": 1_800_000_000 - 3600 }),
    );
    let payload = crate::support::driver::submission_payload("UREQ", &forged);
    let reply = app.driver.interaction(&payload).await;
    let errors = &reply.json()["errors"];
    assert_eq!(errors[&duration_block], "At most 12 hours for this access.");
    assert_eq!(errors["start_at"], "The start time is in the past.");
    app.settle().await;
    assert!(app.requests().await.is_empty(), "nothing was created");
}

#[tokio::test]
async fn a_start_time_is_passed_to_the_workflow() {
    let app = TestApp::standard().await;
    let view_id = app.open_account_form("UREQ").await;
    app.driver
        .choose("UREQ", &view_id, "permission_set", "Admin")
        .await;
    app.adapter.wait_idle().await;
    app.driver
        .choose("UREQ", &view_id, "reason", "maintenance window")
        .await;
    app.driver
        .choose(
            "UREQ",
            &view_id,
            "start_at",
            &(1_800_000_000 + 7200).to_string(),
        )
        .await;
    assert!(app.driver.submit("UREQ", &view_id).await.body.is_empty());
    app.settle().await;
    let request = app.only_request().await;
    assert_eq!(
        request.start_at.map(|at| at.unix_timestamp()),
        Some(1_800_007_200)
    );
    assert!(rendered(&app.approval_message().blocks).contains("*Starts*"));
}

#[tokio::test]
async fn a_redelivered_submission_creates_one_request() {
    let app = TestApp::standard().await;
    let view_id = app.open_account_form("UREQ").await;
    app.driver
        .choose("UREQ", &view_id, "permission_set", "Admin")
        .await;
    app.adapter.wait_idle().await;
    app.driver.choose("UREQ", &view_id, "reason", "once").await;
    let first = app.driver.submit("UREQ", &view_id).await;
    let second = app.driver.submit("UREQ", &view_id).await;
    assert!(first.body.is_empty() && second.body.is_empty());
    app.settle().await;
    assert_eq!(app.requests().await.len(), 1);
    assert_eq!(app.fake.messages_in("CAPPROVALS").len(), 1);
}

#[tokio::test]
async fn a_person_without_an_identity_center_user_is_told_why() {
    let app = TestApp::standard().await;
    let view_id = app.open_account_form("UEVE").await;
    let view = app.fake.view(&view_id);
    assert_eq!(view.view["callback_id"], "liftgate_note");
    let text = rendered(&view.view);
    assert!(
        text.contains("No Identity Center user has the email eve@corp.com"),
        "{text}"
    );
    assert!(
        text.contains("AWS email differs from your chat email"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refusal_after_the_ack_reaches_the_requester_by_direct_message() {
    let app = TestApp::standard().await;
    let view_id = app.open_account_form("UREQ").await;
    app.driver
        .choose("UREQ", &view_id, "permission_set", "ReadOnly")
        .await;
    app.adapter.wait_idle().await;
    app.driver
        .choose("UREQ", &view_id, "reason", "reports")
        .await;
    // The permission set disappears from Identity Center while the form is open.
    app.harness.identity.remove_permission_set("ReadOnly");
    assert!(app.driver.submit("UREQ", &view_id).await.body.is_empty());
    app.settle().await;
    assert!(app.requests().await.is_empty());
    assert_eq!(
        app.dm_texts("UREQ"),
        [":warning: Your request was not created. There is no permission set named \"ReadOnly\"."]
    );
}

#[tokio::test]
async fn someone_no_rule_covers_sees_a_note_instead_of_a_form() {
    let app = TestApp::start(Setup {
        statements: json!([]),
        group_statements: json!([]),
        ..Setup::default()
    })
    .await;
    let view_id = app.open_account_form("UREQ").await;
    let text = rendered(&app.fake.view(&view_id).view);
    assert!(
        text.contains("No rule lets you request access to an AWS account"),
        "{text}"
    );
}

#[tokio::test]
async fn the_upstream_shortcut_callback_ids_open_the_forms() {
    let app = TestApp::standard().await;
    let (reply, _) = app
        .driver
        .shortcut("UREQ", "request_for_group_membership")
        .await;
    assert_eq!(reply.status, 200);
    app.adapter.wait_idle().await;
    let view = app.fake.open_view("UREQ").unwrap();
    assert_eq!(view.view["callback_id"], "liftgate_group_request");
    let group = input_block(&view.view, "group").unwrap();
    assert_eq!(group["label"]["text"], "Group");

    let (reply, _) = app.driver.shortcut("UBOB", "request_for_access").await;
    assert_eq!(reply.status, 200);
    app.adapter.wait_idle().await;
    assert_eq!(
        app.fake.open_view("UBOB").unwrap().view["callback_id"],
        "liftgate_access_request"
    );

    let (reply, _) = app.driver.shortcut("UDAVE", "some_other_shortcut").await;
    assert_eq!(reply.status, 200);
    app.adapter.wait_idle().await;
    assert!(app.fake.open_view("UDAVE").is_none());
}
