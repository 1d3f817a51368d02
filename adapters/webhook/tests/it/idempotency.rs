//! Retried and concurrent calls never make two of anything.

use futures_util::future::join_all;
use liftgate_gateway::testing::PROD;
use serde_json::json;

use crate::support::*;

const CREATE: &str = "/api/v1/requests";

#[tokio::test]
async fn a_create_resent_byte_for_byte_is_a_replay_and_makes_nothing() {
    let api = TestApi::start().await;
    let call = api.post_call(CREATE, &prod_admin());
    let first = api.send(&call).await;
    assert_eq!(first.status, 201, "{}", first.body);
    api.send(&call).await.assert_refused(401, "replayed");
    assert_eq!(api.all_requests().await.len(), 1);
    api.harness.deliver_outbox().await;
    let requested = api
        .harness
        .audit
        .events_for(&first.id())
        .iter()
        .filter(|e| *e == "requested")
        .count();
    assert_eq!(requested, 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_make_one_request() {
    let api = TestApi::start().await;
    let calls: Vec<Call> = (0..12)
        .map(|_| {
            api.post_call(CREATE, &prod_admin())
                .header("Idempotency-Key", "retry-storm")
        })
        .collect();
    let replies = join_all(calls.iter().map(|call| api.send(call))).await;
    let first = replies[0].id();
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.id(), first);
    }
    assert_eq!(api.all_requests().await.len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_survives_re_signing() {
    let api = TestApi::start().await;
    let first = api
        .send(
            &api.post_call(CREATE, &prod_admin())
                .header("Idempotency-Key", "deploy-42"),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    // A client that re-signs its retry (new timestamp, same key) still gets the first request.
    api.harness.advance(std::time::Duration::from_secs(5));
    let retry = api
        .send(
            &api.post_call(CREATE, &prod_admin())
                .header("Idempotency-Key", "deploy-42"),
        )
        .await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(retry.id(), first.id());
    assert_eq!(api.all_requests().await.len(), 1);

    // The same key for a different request is refused rather than answered with the first.
    let mut other = prod_admin();
    other["duration"] = json!("2h");
    api.send(
        &api.post_call(CREATE, &other)
            .header("Idempotency-Key", "deploy-42"),
    )
    .await
    .assert_refused(422, "idempotency_key_reused");
    assert_eq!(api.all_requests().await.len(), 1);

    // Another key is another request; so is the same key from another client.
    let second = api
        .send(
            &api.post_call(CREATE, &prod_admin())
                .header("Idempotency-Key", "deploy-43"),
        )
        .await;
    assert_ne!(second.id(), first.id());
    let limited = api
        .signed_by(
            LIMITED,
            LIMITED_SECRET,
            reqwest::Method::POST,
            CREATE,
            prod_admin().to_string().as_bytes(),
        )
        .header("Idempotency-Key", "deploy-42");
    let third = api.send(&limited).await;
    assert_eq!(third.status, 201, "{}", third.body);
    assert_ne!(third.id(), first.id());
    assert_eq!(api.all_requests().await.len(), 3);
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_request() {
    let api = TestApi::start().await;
    // Each call is signed at a different second, so only the key ties them together.
    let mut calls = Vec::new();
    for _ in 0..8 {
        calls.push(
            api.post_call(CREATE, &prod_admin())
                .header("Idempotency-Key", "batch-7"),
        );
        api.harness.advance(std::time::Duration::from_secs(1));
    }
    let replies = join_all(calls.iter().map(|call| api.send(call))).await;
    let first = replies[0].id();
    assert!(
        replies
            .iter()
            .all(|reply| reply.status == 201 && reply.id() == first)
    );
    assert_eq!(api.all_requests().await.len(), 1);
}

#[tokio::test]
async fn a_re_signed_call_without_a_key_is_a_new_request() {
    let api = TestApi::start().await;
    let first = api.create(prod_admin()).await;
    api.harness.advance(std::time::Duration::from_secs(1));
    let second = api.create(prod_admin()).await;
    assert_ne!(first.id(), second.id());
    assert_eq!(api.all_requests().await.len(), 2);
}

#[tokio::test]
async fn bad_idempotency_keys_are_400() {
    let api = TestApi::start().await;
    for key in ["", "has space", &"k".repeat(256)] {
        let call = api
            .post_call(CREATE, &prod_admin())
            .header("Idempotency-Key", key);
        api.send(&call)
            .await
            .assert_refused(400, "invalid_idempotency_key");
    }
    api.assert_nothing_happened().await;
}

#[tokio::test]
async fn a_refused_create_can_be_retried_with_the_same_key() {
    let api = TestApi::start().await;
    let mut wrong = prod_admin();
    wrong["permission_set"] = json!("Admn");
    api.send(
        &api.post_call(CREATE, &wrong)
            .header("Idempotency-Key", "fix-1"),
    )
    .await
    .assert_refused(422, "unknown_permission_set");
    api.assert_nothing_happened().await;
    let fixed = api
        .send(
            &api.post_call(CREATE, &prod_admin())
                .header("Idempotency-Key", "fix-1"),
        )
        .await;
    assert_eq!(fixed.status, 201, "{}", fixed.body);
    assert_eq!(api.all_requests().await.len(), 1);
}

#[tokio::test]
async fn retried_decisions_are_answered_with_the_current_state() {
    let api = TestApi::start().await;
    let id = api.create_prod_admin().await;
    // Retries are signed again (a new nonce each), as a client must.
    let approves: Vec<Call> = (0..6)
        .map(|_| {
            api.post_call(
                &format!("/api/v1/requests/{id}/approve"),
                &json!({"approver": ALICE}),
            )
        })
        .collect();
    let replies = join_all(approves.iter().map(|call| api.send(call))).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.body);
        // Counted either way; a repeat may answer while the first call is still granting.
        assert!(
            matches!(reply.body["status"].as_str(), Some("approved" | "active")),
            "{}",
            reply.body
        );
        assert_eq!(reply.body["approvals"].as_array().unwrap().len(), 1);
    }
    assert_eq!(api.stored(&id).await.status().as_str(), "active");
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );
    assert_eq!(api.harness.scheduler.timers().len(), 1);

    let revokes: Vec<Call> = (0..6)
        .map(|_| {
            api.post_call(
                &format!("/api/v1/requests/{id}/revoke"),
                &json!({"requester": REQUESTER}),
            )
        })
        .collect();
    let replies = join_all(revokes.iter().map(|call| api.send(call))).await;
    for reply in &replies {
        assert!(reply.status < 500, "{}", reply.body);
    }
    assert!(replies.iter().any(|reply| reply.status == 200));
    assert_eq!(api.stored(&id).await.status().as_str(), "ended");
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );
}
