//! Every endpoint refuses what Slack did not sign, before doing anything.

use liftgate_gateway::domain::RequestStatus;
use serde_json::json;

use crate::support::TestApp;
use crate::support::driver::{
    FORM, JSON, button_payload, find_button, form_body, payload_body, shortcut_payload,
};

async fn shortcut_body(app: &TestApp) -> String {
    let trigger = app.fake.issue_trigger("UREQ", time::Duration::ZERO);
    payload_body(&shortcut_payload("UREQ", "request_for_access", &trigger))
}

/// Nothing reached Slack and nothing was stored.
async fn assert_nothing_happened(app: &TestApp) {
    app.adapter.wait_idle().await;
    assert!(
        app.fake.state().calls.is_empty(),
        "Slack was called: {:?}",
        app.fake.state().calls
    );
    assert!(app.requests().await.is_empty());
}

#[tokio::test]
async fn a_wrong_signature_is_refused_with_401_and_nothing_happens() {
    let app = TestApp::standard().await;
    let body = shortcut_body(&app).await;
    let mut headers = app.driver.signed_headers(&body, 0);
    headers[1].1 = liftgate_slack::sign("not-the-secret", &headers[0].1, body.as_bytes());
    let reply = app
        .driver
        .post_raw("/slack/interactions", FORM, &body, &headers)
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["code"], "invalid_signature");
    assert_nothing_happened(&app).await;
    assert_eq!(
        app.harness.metrics.counter_value(
            "liftgate_auth_failures_total",
            &[("channel", "slack"), ("reason", "bad_signature")]
        ),
        1.0
    );
}

#[tokio::test]
async fn missing_signature_headers_are_refused() {
    let app = TestApp::standard().await;
    let body = shortcut_body(&app).await;
    let headers = app.driver.signed_headers(&body, 0);
    for kept in [vec![], vec![headers[0].clone()], vec![headers[1].clone()]] {
        let reply = app
            .driver
            .post_raw("/slack/interactions", FORM, &body, &kept)
            .await;
        assert_eq!(reply.status, 401, "with headers {kept:?}");
    }
    assert_nothing_happened(&app).await;
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused_and_the_window_is_five_minutes() {
    let app = TestApp::standard().await;
    let body = shortcut_body(&app).await;
    for offset in [-301, 301, -3600, 86_400] {
        let headers = app.driver.signed_headers(&body, offset);
        let reply = app
            .driver
            .post_raw("/slack/interactions", FORM, &body, &headers)
            .await;
        assert_eq!(reply.status, 401, "offset {offset}");
    }
    let headers = [
        ("x-slack-request-timestamp", "soon".to_owned()),
        app.driver.signed_headers(&body, 0)[1].clone(),
    ];
    assert_eq!(
        app.driver
            .post_raw("/slack/interactions", FORM, &body, &headers)
            .await
            .status,
        401
    );
    assert_nothing_happened(&app).await;

    // Inside the window either way the request is taken.
    let headers = app.driver.signed_headers(&body, -299);
    assert_eq!(
        app.driver
            .post_raw("/slack/interactions", FORM, &body, &headers)
            .await
            .status,
        200
    );
    let body = shortcut_body(&app).await;
    let headers = app.driver.signed_headers(&body, 299);
    assert_eq!(
        app.driver
            .post_raw("/slack/interactions", FORM, &body, &headers)
            .await
            .status,
        200
    );
    app.adapter.wait_idle().await;
    assert_eq!(app.fake.ok_calls("views.open"), 2);
}

#[tokio::test]
async fn a_tampered_body_is_refused() {
    let app = TestApp::standard().await;
    let body = shortcut_body(&app).await;
    let headers = app.driver.signed_headers(&body, 0);
    let tampered = body.replace("UREQ", "UALICE");
    assert_ne!(tampered, body);
    let reply = app
        .driver
        .post_raw("/slack/interactions", FORM, &tampered, &headers)
        .await;
    assert_eq!(reply.status, 401);
    assert_nothing_happened(&app).await;
}

#[tokio::test]
async fn every_endpoint_refuses_unsigned_bodies() {
    let app = TestApp::standard().await;
    let trigger = app.fake.issue_trigger("UREQ", time::Duration::ZERO);
    let command = form_body(&crate::support::driver::command_fields(
        "UREQ", "/access", "CGENERAL", &trigger,
    ));
    let challenge =
        json!({ "type": "url_verification", "challenge": "abc", "token": "x" }).to_string();
    let cases = [
        ("/slack/interactions", FORM, shortcut_body(&app).await),
        ("/slack/commands", FORM, command),
        (
            "/slack/options",
            FORM,
            payload_body(&json!({ "type": "block_suggestion", "user": { "id": "UREQ" } })),
        ),
        ("/slack/events", JSON, challenge),
    ];
    for (path, content_type, body) in cases {
        let reply = app.driver.post_raw(path, content_type, &body, &[]).await;
        assert_eq!(reply.status, 401, "{path}");
        let mut headers = app.driver.signed_headers(&body, 0);
        headers[1].1 = format!("v0={}", "0".repeat(64));
        assert_eq!(
            app.driver
                .post_raw(path, content_type, &body, &headers)
                .await
                .status,
            401,
            "{path}"
        );
    }
    assert_nothing_happened(&app).await;
}

#[tokio::test]
async fn a_forged_approval_changes_nothing() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "debugging").await;
    let message = app.approval_message();
    let trigger = app.fake.issue_trigger("UALICE", time::Duration::ZERO);
    let body = payload_body(&button_payload(
        "UALICE",
        &message,
        &find_button(&message, "approve"),
        &trigger,
    ));
    let mut headers = app.driver.signed_headers(&body, 0);
    headers[1].1 = liftgate_slack::sign("guessed", &headers[0].1, body.as_bytes());
    assert_eq!(
        app.driver
            .post_raw("/slack/interactions", FORM, &body, &headers)
            .await
            .status,
        401
    );
    app.settle().await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert!(app.harness.request(&request.id).await.approvals.is_empty());
}

#[tokio::test]
async fn url_verification_answers_the_challenge_and_ssl_check_answers_empty() {
    let app = TestApp::standard().await;
    let body = json!({ "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification" })
        .to_string();
    let reply = app.driver.post_signed("/slack/events", JSON, &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({ "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" })
    );

    let ssl_check = "ssl_check=1&token=x";
    let reply = app
        .driver
        .post_raw("/slack/commands", FORM, ssl_check, &[])
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    let event =
        json!({ "type": "event_callback", "event": { "type": "app_home_opened", "user": "UREQ" } })
            .to_string();
    assert_eq!(
        app.driver
            .post_signed("/slack/events", JSON, &event)
            .await
            .status,
        200
    );
    assert_nothing_happened(&app).await;
}

#[tokio::test]
async fn a_signed_body_slack_would_never_send_is_a_400() {
    let app = TestApp::standard().await;
    let reply = app
        .driver
        .post_signed("/slack/interactions", FORM, "payload=%7Bnot-json")
        .await;
    assert_eq!(reply.status, 400);
    let reply = app
        .driver
        .post_signed("/slack/events", JSON, "{\"type\":\"url_verification\"}")
        .await;
    assert_eq!(reply.status, 400);
    assert_nothing_happened(&app).await;
}
