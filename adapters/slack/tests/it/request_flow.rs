//! The main path: a shortcut opens the form, the submission becomes a request, the approval
//! message and DMs follow it through approval, grant and "I'm done".

use liftgate_gateway::domain::{GrantStatus, RequestStatus};
use liftgate_gateway::testing::PROD;

use crate::support::driver::buttons;
use crate::support::fake_slack::APPROVALS;
use crate::support::{TestApp, redact, rendered};

#[tokio::test]
async fn a_shortcut_request_is_approved_granted_and_ended_early_with_messages_at_each_step() {
    let app = TestApp::standard().await;

    let view_id = app.open_account_form("UREQ").await;
    // The modal opens at once with a loading view, then gets its choices.
    let opened = app.fake.calls("views.open");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].args["view"]["callback_id"], "liftgate_note");
    let form = app.fake.view(&view_id);
    insta::assert_json_snapshot!("account_form_initial", redact(&form.view));

    app.driver
        .choose("UREQ", &view_id, "account", PROD)
        .await
        .unwrap();
    app.adapter.wait_idle().await;
    app.driver
        .choose("UREQ", &view_id, "permission_set", "Admin")
        .await
        .unwrap();
    app.adapter.wait_idle().await;
    let form = app.fake.view(&view_id);
    insta::assert_json_snapshot!("account_form_with_choices", redact(&form.view));
    app.driver.choose("UREQ", &view_id, "duration", "1h").await;
    app.driver
        .choose(
            "UREQ",
            &view_id,
            "reason",
            "Deploy the <hotfix> & check logs",
        )
        .await;
    let reply = app.driver.submit("UREQ", &view_id).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty(), "{}", reply.body);
    app.settle().await;

    let request = app.only_request().await;
    assert_eq!(request.status(), RequestStatus::Pending);
    assert_eq!(request.requester.email.as_str(), "requester@corp.com");
    assert_eq!(request.requester.slack_id.as_deref(), Some("UREQ"));
    assert_eq!(request.reason, "Deploy the <hotfix> & check logs");
    assert_eq!(request.duration.to_string(), "1h");

    let message = app.approval_message();
    insta::assert_json_snapshot!("approval_pending", redact(&message.blocks));
    let labels: Vec<String> = buttons(&message)
        .iter()
        .map(|button| button["text"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(labels, ["Approve", "Deny"]);
    for button in buttons(&message) {
        assert_eq!(
            button["value"],
            request.id.as_str(),
            "buttons carry the request id and nothing else"
        );
    }
    let dms = app.fake.dms_to("UREQ");
    assert_eq!(dms.len(), 1);
    assert!(
        rendered(&dms[0].blocks).contains("waiting for approval by <@UALICE>, <@UBOB>"),
        "{}",
        dms[0].blocks
    );

    let reply = app.driver.click("UALICE", &message, "approve").await;
    assert_eq!(reply.status, 200);
    app.settle().await;

    let request = app.harness.request(&request.id).await;
    assert_eq!(request.status(), RequestStatus::Active);
    assert_eq!(
        request.approvals[0].approver.slack_id.as_deref(),
        Some("UALICE")
    );
    assert_eq!(
        app.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );
    let message = app.approval_message();
    assert!(
        buttons(&message).is_empty(),
        "no buttons after the decision"
    );
    insta::assert_json_snapshot!("approval_granted", redact(&message.blocks));
    let dms = app.fake.dms_to("UREQ");
    assert_eq!(dms.len(), 2, "one DM per step: {dms:?}");
    let granted_dm = dms.last().unwrap().clone();
    insta::assert_json_snapshot!("requester_dm_granted", redact(&granted_dm.blocks));
    // The earlier DM lost its Cancel button.
    assert!(buttons(&dms[0]).is_empty());

    let reply = app.driver.click("UREQ", &granted_dm, "revoke").await;
    assert_eq!(reply.status, 200);
    app.settle().await;

    let request = app.harness.request(&request.id).await;
    assert_eq!(request.status(), RequestStatus::Ended);
    assert_eq!(
        app.harness.grant_of(&request.id).await.status(),
        GrantStatus::Revoked
    );
    assert_eq!(
        app.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );
    let message = app.approval_message();
    assert!(
        rendered(&message.blocks).contains("Ended early"),
        "{}",
        message.blocks
    );
    assert!(
        rendered(&message.blocks).contains("by <@UREQ>"),
        "{}",
        message.blocks
    );
    insta::assert_json_snapshot!("approval_ended_early", redact(&message.blocks));
    let dms = app.fake.dms_to("UREQ");
    assert_eq!(dms.len(), 3);
    assert!(
        buttons(&dms[1]).is_empty(),
        "the granted DM lost its buttons once the access ended"
    );

    // The calls were made the way Slack's own SDK makes them.
    let info = &app.fake.calls("users.info")[0];
    assert_eq!(
        (info.http_method.as_str(), info.args["user"].as_str()),
        ("GET", Some("UREQ"))
    );
    let post = &app.fake.calls("chat.postMessage")[0];
    assert_eq!(
        (post.http_method.as_str(), post.content_type.as_str()),
        ("POST", "application/json; charset=utf-8")
    );
    let open = &app.fake.calls("conversations.open")[0];
    assert_eq!(open.content_type, "application/x-www-form-urlencoded");

    // Redelivering every notice changes nothing.
    let before = app.fake.state().messages.len();
    app.harness.deliver_outbox().await;
    assert_eq!(app.fake.state().messages.len(), before);
    assert_eq!(app.fake.messages_in(APPROVALS).len(), 1);
    assert_eq!(
        app.harness.audit.events_for(&request.id),
        ["requested", "approved", "granted", "revoked"],
    );
}
