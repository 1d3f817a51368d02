//! Many people clicking at once through the API: one grant, no lost approval, no 5xx.

use futures_util::future::join_all;
use liftgate_gateway::testing::{DEV, PROD};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simultaneous_approvals_make_exactly_one_grant() {
    let api = TestApi::start().await;
    let created = api.create(dev_readonly()).await;
    assert_eq!(created.body["required_approvals"], 2);
    let id = created.id();

    let path = format!("/api/v1/requests/{id}/approve");
    let calls: Vec<Call> = [ALICE, BOB, CAROL]
        .iter()
        .cycle()
        .take(20)
        .enumerate()
        // Distinct comments make every call a distinct signed body.
        .map(|(n, approver)| {
            api.post_call(
                &path,
                &json!({"approver": approver, "comment": format!("click {n}")}),
            )
        })
        .collect();
    let replies = join_all(calls.iter().map(|call| api.send(call))).await;

    for reply in &replies {
        assert!(
            matches!(reply.status, 200 | 409),
            "{}: {}",
            reply.status,
            reply.body
        );
        if reply.status == 409 {
            assert_eq!(reply.error_code(), "not_pending");
        }
    }
    let stored = api.stored(&id).await;
    assert_eq!(stored.status().as_str(), "active");
    assert_eq!(stored.approvals.len(), 2, "{:?}", stored.approvals);
    assert_ne!(
        stored.approvals[0].approver.email,
        stored.approvals[1].approver.email
    );
    assert_eq!(
        api.harness
            .identity
            .assignment_count(DEV, "ReadOnly", "u-requester"),
        1
    );
    assert_eq!(api.harness.identity.calls("create_assignment"), 1);
    assert_eq!(api.harness.scheduler.timers().len(), 1);
    assert_eq!(
        api.get("/api/v1/grants?active=true").await.body["grants"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    api.harness.deliver_outbox().await;
    let audit = api.harness.audit.events_for(&id);
    assert_eq!(
        audit.iter().filter(|e| *e == "approved").count(),
        2,
        "{audit:?}"
    );
    assert_eq!(
        audit.iter().filter(|e| *e == "granted").count(),
        1,
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_approvals_and_denials_settle_on_one_outcome() {
    let api = TestApi::start().await;
    let id = api.create_prod_admin().await;
    let approve = format!("/api/v1/requests/{id}/approve");
    let deny = format!("/api/v1/requests/{id}/deny");
    let mut calls = Vec::new();
    for n in 0..8 {
        calls.push(api.post_call(
            &approve,
            &json!({"approver": ALICE, "comment": format!("yes {n}")}),
        ));
        calls.push(api.post_call(
            &deny,
            &json!({"approver": BOB, "comment": format!("no {n}")}),
        ));
    }
    let replies = join_all(calls.iter().map(|call| api.send(call))).await;
    assert!(
        replies
            .iter()
            .all(|reply| matches!(reply.status, 200 | 409)),
        "{replies:?}"
    );

    let stored = api.stored(&id).await;
    let assignments = api
        .harness
        .identity
        .assignment_count(PROD, "Admin", "u-requester");
    match stored.status().as_str() {
        "active" => assert_eq!(assignments, 1),
        "denied" => assert_eq!(assignments, 0),
        other => panic!("unexpected final status {other}"),
    }
    assert!(api.harness.identity.calls("create_assignment") <= 1);
}
