//! Reconciliation findings (access no grant explains) are posted once in the approvals channel.

use liftgate_gateway::ports::DriftNotice;
use serde_json::json;

use crate::support::driver::buttons;
use crate::support::fake_slack::{APPROVALS, Injection};
use crate::support::{TestApp, redact, rendered};

fn finding(action: serde_json::Value, email: Option<&str>) -> DriftNotice {
    serde_json::from_value(json!({
        "id": "6f1b7a52-3c1e-4d7b-9a55-0c8f2b1e9d10",
        "detected_at": "2027-01-15T08:00:00Z",
        "access_key": "account:111111111111:Admin:u-dave",
        "target": {
            "kind": "account",
            "account_id": "111111111111",
            "account_name": "Prod",
            "permission_set": "Admin",
            "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-fake/ps-admin",
        },
        "user_id": "u-dave",
        "user_email": email,
        "user_name": "Dave",
        "mode": "warn",
        "action": action,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_drift_finding_is_posted_once_with_the_holder_mentioned() {
    let app = TestApp::standard().await;
    let notice = finding(json!({ "kind": "warned" }), Some("dave@corp.com"));
    app.notifier.drift(&notice).await.unwrap();
    app.notifier.drift(&notice).await.unwrap();
    let messages = app.fake.messages_in(APPROVALS);
    assert_eq!(
        messages.len(),
        1,
        "a redelivered finding is not posted twice"
    );
    let message = &messages[0];
    assert!(buttons(message).is_empty(), "nothing to approve");
    assert_eq!(message.text, notice.summary());
    assert!(
        rendered(&message.blocks).contains("<@UDAVE> (dave@corp.com)"),
        "{}",
        message.blocks
    );
    insta::assert_json_snapshot!("drift_warned", redact(&message.blocks));
}

#[tokio::test]
async fn a_failed_revocation_says_so_and_an_outage_is_retried() {
    let app = TestApp::standard().await;
    let mut notice = finding(
        json!({ "kind": "revocation_failed", "error": "AccessDenied" }),
        None,
    );
    app.fake
        .inject("chat.postMessage", (0..3).map(|_| Injection::Status(503)));
    let error = app.notifier.drift(&notice).await.unwrap_err();
    assert!(
        matches!(error, liftgate_gateway::ports::NotifyError::Retryable(_)),
        "{error}"
    );
    app.notifier.drift(&notice).await.unwrap();
    let text = rendered(&app.fake.messages_in(APPROVALS)[0].blocks);
    assert!(
        text.contains("Revoking it failed (AccessDenied)") && text.contains("Dave (u-dave)"),
        "{text}"
    );

    notice.id = "0d7c3a7e-5b8a-4f3e-8c1d-2a9b6e4f1c30".parse().unwrap();
    notice.action = serde_json::from_value(json!({ "kind": "revoked" })).unwrap();
    app.notifier.drift(&notice).await.unwrap();
    assert_eq!(
        app.fake.messages_in(APPROVALS).len(),
        2,
        "a new finding is a new message"
    );
}
