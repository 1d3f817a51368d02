//! The post-access activity summary is posted once, as a reply in the approval message's
//! thread, with counts, the first events and errors marked.

use liftgate_gateway::domain::{
    ActivityEvent, ActivityFound, ActivityOutcome, ActivityScope, ActivitySummary, EventCount,
};
use liftgate_gateway::testing::PROD;

use crate::support::fake_slack::APPROVALS;
use crate::support::{TestApp, rendered};

fn summary(
    request: &liftgate_gateway::domain::AccessRequest,
    outcome: ActivityOutcome,
) -> ActivitySummary {
    ActivitySummary {
        id: uuid::Uuid::new_v4(),
        request_id: request.id.clone(),
        grant_id: liftgate_gateway::domain::GrantId::generate(),
        requester_email: "requester@corp.com".to_owned(),
        user_name: "requester".to_owned(),
        scope: ActivityScope::Account {
            account_id: PROD.to_owned(),
            permission_set: "Admin".to_owned(),
        },
        window_start: time::macros::datetime!(2027-01-15 08:00 UTC),
        window_end: time::macros::datetime!(2027-01-15 10:00 UTC),
        outcome,
    }
}

#[tokio::test]
async fn the_summary_is_a_reply_in_the_approval_thread_posted_once() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "deploy").await;
    let message = app.approval_message();
    let approved = app.harness.request(&request.id).await;
    let found = ActivityFound {
        counts: vec![EventCount {
            event_source: "ec2.amazonaws.com".to_owned(),
            event_name: "TerminateInstances".to_owned(),
            count: 2,
            errors: 1,
        }],
        events: vec![ActivityEvent {
            at: time::macros::datetime!(2027-01-15 08:10 UTC),
            event_source: "ec2.amazonaws.com".to_owned(),
            event_name: "TerminateInstances".to_owned(),
            resource: Some("arn:aws:ec2:us-east-1:111111111111:instance/i-1".to_owned()),
            source_ip: Some("198.51.100.7".to_owned()),
            error_code: Some("UnauthorizedOperation".to_owned()),
            account_id: None,
        }],
    };
    let summary = summary(&approved, ActivityOutcome::Found(found));

    app.notifier.activity_summary(&summary).await.unwrap();
    app.notifier.activity_summary(&summary).await.unwrap();

    let replies = app.fake.thread_replies(APPROVALS, &message.ts);
    assert_eq!(
        replies.len(),
        1,
        "a redelivered summary is not posted twice"
    );
    let reply = &replies[0];
    assert_eq!(reply.text, summary.headline());
    let text = rendered(&reply.blocks);
    assert!(text.contains("*Activity summary*"), "{text}");
    assert!(
        text.contains("`ec2.amazonaws.com` TerminateInstances: 2 :warning: 1 failed"),
        "{text}"
    );
    assert!(
        text.contains(
            ":warning: *ERROR UnauthorizedOperation: 2027-01-15T08:10:00Z TerminateInstances"
        ),
        "{text}"
    );
    assert!(text.contains("from 198.51.100.7"), "{text}");
}

#[tokio::test]
async fn no_changes_is_said_in_the_thread() {
    let app = TestApp::standard().await;
    let request = app.request_access("UREQ", "Admin", "1h", "deploy").await;
    let message = app.approval_message();
    let approved = app.harness.request(&request.id).await;
    let summary = summary(&approved, ActivityOutcome::Found(ActivityFound::default()));
    app.notifier.activity_summary(&summary).await.unwrap();
    let replies = app.fake.thread_replies(APPROVALS, &message.ts);
    assert_eq!(replies.len(), 1);
    assert!(rendered(&replies[0].blocks).contains(": no changes."));
}
