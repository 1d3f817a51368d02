//! Identities are bound to the installing workspace (or its Enterprise Grid organisation):
//! Slack Connect members, strangers, guests and unconfirmed emails are refused, with a clear
//! message, and nothing changes.

use liftgate_gateway::config::SlackSettings;
use liftgate_gateway::domain::RequestStatus;
use liftgate_gateway::testing::PROD;
use liftgate_slack::SlackAdapter;

use crate::support::driver::{button_payload, command_fields, find_button, form_body};
use crate::support::fake_slack::{APPROVALS, FakeUser};
use crate::support::{Setup, TestApp, settings_for};

/// An outsider whose own organisation asserts the email of an approver.
fn outsider(id: &str) -> FakeUser {
    FakeUser {
        team_id: "T_OTHER".to_owned(),
        ..FakeUser::member(id, "alice-elsewhere", "alice@corp.com")
    }
}

/// What `user` was told, ephemerally or by DM.
fn told(app: &TestApp, user: &str) -> String {
    let mut texts: Vec<String> = app
        .fake
        .ephemerals_to(user)
        .into_iter()
        .map(|ephemeral| ephemeral.text)
        .collect();
    texts.extend(app.dm_texts(user));
    texts.join("\n")
}

/// Clicks Approve on the approval message as `user`, the payload saying `payload_team`.
async fn approve_as(app: &TestApp, user: &str, payload_team: &str) {
    approve_in(app, user, payload_team, None).await;
}

/// [`approve_as`], the payload also naming an Enterprise Grid organisation.
async fn approve_in(app: &TestApp, user: &str, payload_team: &str, enterprise: Option<&str>) {
    let message = app.approval_message();
    let button = find_button(&message, "approve");
    let trigger = app.fake.issue_trigger(user, time::Duration::ZERO);
    let mut payload = button_payload(user, &message, &button, &trigger);
    payload["user"]["team_id"] = serde_json::json!(payload_team);
    if let Some(enterprise) = enterprise {
        payload["enterprise"] = serde_json::json!({ "id": enterprise, "name": "Corp" });
    }
    let reply = app.driver.interaction(&payload).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.settle().await;
}

#[tokio::test]
async fn a_slack_connect_member_with_an_approvers_email_cannot_approve() {
    let app = TestApp::standard().await;
    let request = app
        .request_access("UREQ", "ReadOnly", "30m", "look at billing")
        .await;
    app.fake.add_user(outsider("WEXT"));

    // The payload tells the truth: refused before Slack is even asked who this is.
    approve_as(&app, "WEXT", "T_OTHER").await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert!(
        app.fake
            .calls("users.info")
            .iter()
            .all(|call| call.args["user"] != "WEXT"),
        "a payload from another workspace is refused on its face"
    );
    assert!(
        told(&app, "WEXT").contains("other organisations"),
        "{}",
        told(&app, "WEXT")
    );

    // The payload claims our workspace: Slack's own record of the user still says otherwise.
    approve_as(&app, "WEXT", "T1").await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert_eq!(
        app.harness
            .identity
            .assignment_count(PROD, "ReadOnly", "u-requester"),
        0
    );
    assert_eq!(
        app.harness.metrics.counter_value(
            "liftgate_auth_failures_total",
            &[("channel", "slack"), ("reason", "foreign_workspace")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_stranger_is_refused_even_with_our_team_id() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "ReadOnly", "30m", "x").await;
    app.fake.add_user(FakeUser {
        is_stranger: true,
        ..FakeUser::member("WSTR", "stranger", "bob@corp.com")
    });
    approve_as(&app, "WSTR", "T1").await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert!(told(&app, "WSTR").contains("other organisations"));
}

#[tokio::test]
async fn guests_are_refused_unless_allowed() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "ReadOnly", "30m", "x").await;
    app.fake.add_user(FakeUser {
        is_ultra_restricted: true,
        ..FakeUser::member("UGUEST", "bob-guest", "bob@corp.com")
    });
    approve_as(&app, "UGUEST", "T1").await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    assert!(
        told(&app, "UGUEST").contains("Guests"),
        "{}",
        told(&app, "UGUEST")
    );

    let app = TestApp::start(Setup {
        slack: |settings| settings.allow_guests = true,
        ..Setup::default()
    })
    .await;
    let request = app.request_access("UREQ", "ReadOnly", "30m", "x").await;
    app.fake.add_user(FakeUser {
        is_restricted: true,
        ..FakeUser::member("UGUEST", "bob-guest", "bob@corp.com")
    });
    approve_as(&app, "UGUEST", "T1").await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Active
    );
}

#[tokio::test]
async fn an_unconfirmed_email_is_refused_unless_allowed() {
    for allowed in [false, true] {
        let app = TestApp::start(Setup {
            slack: if allowed {
                |settings: &mut SlackSettings| settings.allow_unconfirmed_emails = true
            } else {
                |_: &mut SlackSettings| {}
            },
            ..Setup::default()
        })
        .await;
        let request = app.request_access("UREQ", "ReadOnly", "30m", "x").await;
        app.fake.add_user(FakeUser {
            is_email_confirmed: false,
            ..FakeUser::member("UNEW", "bob-new", "bob@corp.com")
        });
        approve_as(&app, "UNEW", "T1").await;
        let status = app.harness.request(&request.id).await.status();
        if allowed {
            assert_eq!(status, RequestStatus::Active);
        } else {
            assert_eq!(status, RequestStatus::Pending);
            assert!(told(&app, "UNEW").contains("confirm"));
        }
    }
}

#[tokio::test]
async fn an_enterprise_grid_member_of_another_workspace_in_the_org_may_act() {
    let app = TestApp::start(Setup {
        // A workspace-level install in a Grid organisation, as auth.test would report it.
        slack: |settings| {
            settings.team_id = Some("T1".to_owned());
            settings.enterprise_id = Some("E1".to_owned());
        },
        ..Setup::default()
    })
    .await;
    app.fake.state().enterprise_id = Some("E1".to_owned());
    for id in ["UREQ", "UBOB"] {
        let mut user = app.fake.state().users[id].clone();
        user.enterprise_id = Some("E1".to_owned());
        app.fake.add_user(user);
    }
    let request = app.request_access("UREQ", "ReadOnly", "30m", "x").await;
    // Bob's home workspace is another one of the organisation's.
    app.fake.add_user(FakeUser {
        team_id: "T2".to_owned(),
        enterprise_id: Some("E1".to_owned()),
        ..FakeUser::member("WBOB2", "bob", "bob@corp.com")
    });
    // Someone of another organisation is not.
    app.fake.add_user(FakeUser {
        team_id: "T9".to_owned(),
        enterprise_id: Some("E9".to_owned()),
        ..FakeUser::member("WOUT", "alice", "alice@corp.com")
    });
    approve_in(&app, "WOUT", "T1", Some("E1")).await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Pending
    );
    approve_in(&app, "WBOB2", "T2", Some("E1")).await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Active
    );
}

#[tokio::test]
async fn a_slash_command_from_another_workspace_opens_nothing() {
    let app = TestApp::standard().await;
    let trigger = app.fake.issue_trigger("UREQ", time::Duration::ZERO);
    let mut fields = command_fields("UREQ", "/access", APPROVALS, &trigger);
    for (key, value) in &mut fields {
        if key == "team_id" {
            *value = "T_OTHER".to_owned();
        }
    }
    let reply = app
        .driver
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &form_body(&fields),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("other organisations"), "{}", reply.body);
    app.settle().await;
    assert!(app.fake.open_view("UREQ").is_none());
}

#[tokio::test]
async fn a_configured_workspace_that_is_not_the_tokens_admits_nobody_else() {
    let app = TestApp::start(Setup {
        slack: |settings| settings.team_id = Some("T5".to_owned()),
        ..Setup::default()
    })
    .await;
    let (reply, _) = app.driver.shortcut("UREQ", "request_for_access").await;
    assert_eq!(reply.status, 200);
    app.settle().await;
    assert!(app.fake.open_view("UREQ").is_none());
    assert!(told(&app, "UREQ").contains("other organisations"));
}

#[tokio::test]
async fn malformed_workspace_ids_are_refused_at_startup() {
    let harness = liftgate_gateway::testing::Harness::new(Default::default());
    let fake = crate::support::fake_slack::FakeSlack::start(harness.clock.clone()).await;
    for (team, enterprise, key) in [
        (Some("X1"), None, "team_id"),
        (None, Some("T1"), "enterprise_id"),
        (Some("T1 "), Some("E-1"), "enterprise_id"),
    ] {
        let mut settings = settings_for(&fake, false);
        settings.team_id = team.map(str::to_owned);
        settings.enterprise_id = enterprise.map(str::to_owned);
        let error = SlackAdapter::new(settings, harness.service.clone()).unwrap_err();
        assert!(error.to_string().contains(key), "{error}");
    }
}

#[tokio::test]
async fn audit_records_carry_the_verified_slack_identities() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "ReadOnly", "30m", "x").await;
    approve_as(&app, "UBOB", "T1").await;
    assert_eq!(
        app.harness.request(&request.id).await.status(),
        RequestStatus::Active
    );
    let records = app.harness.audit.records();
    let caller_of = |event: &str| {
        let record = records
            .iter()
            .find(|record| record.fields.event.as_str() == event)
            .unwrap_or_else(|| panic!("no {event} record"));
        assert_eq!(record.fields.request_source, "slack");
        serde_json::to_value(&record.fields.verified_caller).unwrap()
    };
    assert_eq!(
        caller_of("requested"),
        serde_json::json!({"platform": "slack", "user_id": "UREQ", "team_id": "T1"})
    );
    assert_eq!(
        caller_of("approved"),
        serde_json::json!({"platform": "slack", "user_id": "UBOB", "team_id": "T1"})
    );
}
