//! Socket Mode: the same handlers over Slack's WebSocket, acks by envelope id, and
//! reconnection on `disconnect` and on a dropped connection.

use std::sync::Arc;

use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::testing::PROD;
use serde_json::json;

use crate::support::driver::{
    command_fields, shortcut_payload, submission_payload, suggestion_payload,
};
use crate::support::fake_slack::{APP_TOKEN, eventually};
use crate::support::{Setup, TestApp};

struct Running {
    app: TestApp,
    stop: tokio::sync::watch::Sender<bool>,
    run: tokio::task::JoinHandle<()>,
}

async fn start_socket_mode() -> Running {
    let app = TestApp::start(Setup {
        socket_mode: true,
        ..Setup::default()
    })
    .await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(Arc::clone(&app.adapter).run(shutdown));
    let fake = app.fake.clone();
    eventually("the adapter connects", || fake.open_connections() == 1).await;
    Running { app, stop, run }
}

async fn ack_of(app: &TestApp, envelope_id: &str) -> serde_json::Value {
    let fake = app.fake.clone();
    eventually("the envelope is acked", || fake.ack(envelope_id).is_some()).await;
    app.fake.ack(envelope_id).unwrap()
}

#[tokio::test]
async fn socket_mode_handles_envelopes_acks_them_and_reconnects() {
    let Running { app, stop, run } = start_socket_mode().await;
    let opened = app.fake.calls("apps.connections.open");
    assert_eq!(opened.len(), 1);
    assert!(
        opened[0].args.get("token").is_none(),
        "the app token goes in the Authorization header"
    );
    let _ = APP_TOKEN;

    // A shortcut: a plain ack, then the form opens.
    let trigger = app.fake.issue_trigger("UREQ", time::Duration::ZERO);
    let envelope = app.fake.push_envelope(
        "interactive",
        shortcut_payload("UREQ", "request_for_access", &trigger),
        false,
    );
    assert_eq!(
        ack_of(&app, &envelope).await,
        json!({ "envelope_id": envelope })
    );
    app.adapter.wait_idle().await;
    let view = app.fake.open_view("UREQ").unwrap();
    assert_eq!(view.view["callback_id"], "liftgate_access_request");

    // Inline errors travel in the ack's payload.
    app.driver
        .choose("UREQ", &view.id, "permission_set", "Admin")
        .await;
    let refresh = app.fake.view(&view.id);
    let submission = submission_payload("UREQ", &refresh);
    let envelope = app.fake.push_envelope("interactive", submission, true);
    let ack = ack_of(&app, &envelope).await;
    assert_eq!(ack["payload"]["response_action"], "errors");
    assert!(ack["payload"]["errors"]["reason"].is_string());

    // Options for a type-ahead select too.
    let envelope = app.fake.push_envelope(
        "interactive",
        suggestion_payload("UREQ", &refresh, "account", "prod"),
        true,
    );
    let ack = ack_of(&app, &envelope).await;
    assert_eq!(ack["payload"]["options"][0]["value"], PROD);

    // Slack recycles the connection: the adapter opens a new one.
    app.fake.send_disconnect("refresh_requested");
    let fake = app.fake.clone();
    eventually("the adapter reconnects", || {
        fake.accepted_connections() == 2 && fake.open_connections() == 1
    })
    .await;
    assert_eq!(app.fake.connections_opened(), 2);

    // A valid submission on the new connection becomes a request.
    app.driver
        .choose("UREQ", &view.id, "reason", "socket mode works")
        .await;
    let envelope = app.fake.push_envelope(
        "interactive",
        submission_payload("UREQ", &app.fake.view(&view.id)),
        true,
    );
    assert_eq!(
        ack_of(&app, &envelope).await,
        json!({ "envelope_id": envelope })
    );
    app.settle().await;
    assert_eq!(app.only_request().await.reason, "socket mode works");
    assert_eq!(app.fake.messages_in("CAPPROVALS").len(), 1);

    // The connection drops without a word: the adapter comes back.
    app.fake.drop_connection();
    let fake = app.fake.clone();
    eventually("the adapter reconnects after a drop", || {
        fake.accepted_connections() == 3 && fake.open_connections() == 1
    })
    .await;

    // A slash command and a redelivered envelope.
    let trigger = app.fake.issue_trigger("UBOB", time::Duration::ZERO);
    let fields: serde_json::Map<String, serde_json::Value> =
        command_fields("UBOB", "/group-access", "CGENERAL", &trigger)
            .into_iter()
            .map(|(key, value)| (key, json!(value)))
            .collect();
    let envelope = app
        .fake
        .push_envelope("slash_commands", json!(fields), true);
    ack_of(&app, &envelope).await;
    app.fake
        .push_envelope_with_id(&envelope, "slash_commands", json!(fields), true);
    app.adapter.wait_idle().await;
    assert_eq!(
        app.fake.open_view("UBOB").unwrap().view["callback_id"],
        "liftgate_group_request"
    );
    assert_eq!(
        app.fake.calls("views.open").len(),
        2,
        "the redelivery did not open the form again"
    );

    // Shutdown ends `run`.
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap();
    let fake = app.fake.clone();
    eventually("the connection closes", || fake.open_connections() == 0).await;
}

#[tokio::test]
async fn socket_mode_keeps_trying_when_slack_refuses_the_connection() {
    let app = TestApp::start(Setup {
        socket_mode: true,
        ..Setup::default()
    })
    .await;
    app.fake.inject(
        "apps.connections.open",
        [
            crate::support::fake_slack::Injection::Status(503),
            crate::support::fake_slack::Injection::RateLimited(0),
        ],
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(Arc::clone(&app.adapter).run(shutdown));
    let fake = app.fake.clone();
    eventually("the adapter connects in the end", || {
        fake.open_connections() == 1
    })
    .await;
    assert!(app.fake.calls("apps.connections.open").len() >= 3);
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn unusable_settings_are_refused_with_the_key_named() {
    let app = TestApp::standard().await;
    let build = |settings| liftgate_slack::SlackAdapter::new(settings, app.harness.service.clone());
    let mut settings = crate::support::settings_for(&app.fake, true);
    settings.app_token = None;
    assert_eq!(
        build(settings).unwrap_err().to_string(),
        "slack.app_token: is required with socket_mode: true"
    );
    let mut settings = crate::support::settings_for(&app.fake, false);
    settings.app_token = Some(liftgate_gateway::config::Secret::new("xoxb-wrong-kind"));
    assert!(
        build(settings)
            .unwrap_err()
            .to_string()
            .starts_with("slack.app_token")
    );
    for (url, problem) in [
        ("ftp://example.com", "must use https"),
        // The bot token must never travel in cleartext, nor to a metadata endpoint.
        ("http://slack.example.com/api/", "must use https"),
        ("https://169.254.169.254/api/", "metadata"),
    ] {
        let mut settings = crate::support::settings_for(&app.fake, false);
        settings.api_base_url = url.to_owned();
        let error = build(settings).unwrap_err().to_string();
        assert!(
            error.starts_with("slack.api_base_url") && error.contains(problem),
            "{error}"
        );
    }
    let mut settings = crate::support::settings_for(&app.fake, false);
    settings.signing_secret = liftgate_gateway::config::Secret::new("");
    assert!(
        build(settings)
            .unwrap_err()
            .to_string()
            .starts_with("slack.signing_secret")
    );
    let mut settings = crate::support::settings_for(&app.fake, false);
    settings.bot_token = liftgate_gateway::config::Secret::new("");
    assert!(
        build(settings)
            .unwrap_err()
            .to_string()
            .starts_with("slack.bot_token")
    );
    let mut settings = crate::support::settings_for(&app.fake, false);
    settings.channel_id = " ".to_owned();
    assert!(
        build(settings)
            .unwrap_err()
            .to_string()
            .starts_with("slack.channel_id")
    );
    // The Debug form names no secret.
    let adapter = build(crate::support::settings_for(&app.fake, false)).unwrap();
    let shown = format!("{adapter:?} {:?}", adapter.settings());
    assert!(
        !shown.contains(crate::support::SECRET) && !shown.contains("xoxb-test"),
        "{shown}"
    );
}
