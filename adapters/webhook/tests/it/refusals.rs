//! Every refusal of docs/reference.md §5: the status, the error code, and no change of state.

use serde_json::{Value, json};

use crate::support::*;

const CREATE: &str = "/api/v1/requests";

async fn refused_create(api: &TestApi, call: Call, status: u16, code: &str) {
    api.send(&call).await.assert_refused(status, code);
    api.assert_nothing_happened().await;
}

#[tokio::test]
async fn authentication_failures_are_401_and_change_nothing() {
    let api = TestApi::start().await;
    let body = prod_admin().to_string();
    let good = api.post_call(CREATE, &prod_admin());
    let now = api.now();

    let cases: Vec<(&str, Call, &str)> = vec![
        (
            "wrong secret",
            good.clone().replace(
                "X-Liftgate-Signature",
                liftgate_webhook::sign("guess", now, body.as_bytes()),
            ),
            "bad_signature",
        ),
        (
            "another client's secret",
            good.clone().replace(
                "X-Liftgate-Signature",
                liftgate_webhook::sign(LIMITED_SECRET, now, body.as_bytes()),
            ),
            "bad_signature",
        ),
        (
            "signature for another timestamp",
            good.clone()
                .replace("X-Liftgate-Timestamp", (now - 1).to_string()),
            "bad_signature",
        ),
        (
            "no client header",
            good.clone().without("X-Liftgate-Client"),
            "missing_header",
        ),
        (
            "no timestamp header",
            good.clone().without("X-Liftgate-Timestamp"),
            "missing_header",
        ),
        (
            "no signature header",
            good.clone().without("X-Liftgate-Signature"),
            "missing_header",
        ),
        (
            "signature without scheme",
            good.clone().replace(
                "X-Liftgate-Signature",
                liftgate_webhook::sign(CI_SECRET, now, body.as_bytes())[3..].to_owned(),
            ),
            "malformed_header",
        ),
        (
            "signature of another scheme",
            good.clone().replace("X-Liftgate-Signature", "v2=00"),
            "malformed_header",
        ),
        (
            "timestamp not a number",
            good.clone().replace("X-Liftgate-Timestamp", "yesterday"),
            "malformed_header",
        ),
        (
            "timestamp in milliseconds",
            good.clone()
                .replace("X-Liftgate-Timestamp", format!("{now}000")),
            "malformed_header",
        ),
        (
            "unknown client",
            good.clone().replace("X-Liftgate-Client", "stranger"),
            "unknown_client",
        ),
        (
            "client id in another case",
            good.clone().replace("X-Liftgate-Client", "CI-BOT"),
            "unknown_client",
        ),
    ];
    for (name, call, code) in cases {
        let reply = api.send(&call).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.body);
        assert_eq!(reply.error_code(), code, "{name}");
    }
    api.assert_nothing_happened().await;
    // The unchanged original still works: the refusals above were about the headers alone.
    assert_eq!(api.send(&good).await.status, 201);
}

#[tokio::test]
async fn a_tampered_body_is_401() {
    let api = TestApi::start().await;
    let mut call = api.post_call(CREATE, &prod_admin());
    let mut tampered = prod_admin();
    tampered["requester"] = json!(BOB);
    call.body = tampered.to_string().into_bytes();
    refused_create(&api, call, 401, "bad_signature").await;

    // A single changed byte of whitespace is a different body too.
    let mut call = api.post_call(CREATE, &prod_admin());
    call.body.push(b' ');
    refused_create(&api, call, 401, "bad_signature").await;
}

#[tokio::test]
async fn timestamps_more_than_300_seconds_off_either_way_are_401() {
    let api = TestApi::start().await;
    let body = prod_admin().to_string();
    let at = |timestamp: i64| {
        api.post_call(CREATE, &prod_admin())
            .replace("X-Liftgate-Timestamp", timestamp.to_string())
            .replace(
                "X-Liftgate-Signature",
                liftgate_webhook::sign(CI_SECRET, timestamp, body.as_bytes()),
            )
    };
    let now = api.now();
    refused_create(&api, at(now - 301), 401, "stale_timestamp").await;
    refused_create(&api, at(now + 301), 401, "stale_timestamp").await;
    refused_create(&api, at(0), 401, "stale_timestamp").await;

    // Exactly 300 s off is inside the window, both ways.
    assert_eq!(api.send(&at(now - 300)).await.status, 201);
    let mut other = prod_admin();
    other["reason"] = json!("second");
    let other_body = other.to_string();
    let future = api
        .post_call(CREATE, &other)
        .replace("X-Liftgate-Timestamp", (now + 300).to_string())
        .replace(
            "X-Liftgate-Signature",
            liftgate_webhook::sign(CI_SECRET, now + 300, other_body.as_bytes()),
        );
    assert_eq!(api.send(&future).await.status, 201);
}

#[tokio::test]
async fn the_window_follows_the_gateway_clock() {
    let api = TestApi::start().await;
    let call = api.post_call(CREATE, &prod_admin());
    // The same signed call, replayed ten minutes later, is refused.
    api.harness.advance(std::time::Duration::from_secs(600));
    refused_create(&api, call, 401, "stale_timestamp").await;
}

#[tokio::test]
async fn decisions_and_reads_are_authenticated_too() {
    let api = TestApi::start().await;
    let id = api.create_prod_admin().await;
    api.settle().await;
    let before = api.stored(&id).await;

    let approve = api.post_call(
        &format!("/api/v1/requests/{id}/approve"),
        &json!({"approver": ALICE}),
    );
    let forged = approve.clone().replace(
        "X-Liftgate-Signature",
        liftgate_webhook::sign("guess", api.now(), &approve.body),
    );
    api.send(&forged).await.assert_refused(401, "bad_signature");
    api.send(&approve.clone().without("X-Liftgate-Client"))
        .await
        .assert_refused(401, "missing_header");
    api.assert_unchanged(&before).await;

    // A GET is signed over the empty body; a signature over anything else does not match.
    let read = api.get_call(&format!("/api/v1/requests/{id}"));
    let wrong = read.clone().replace(
        "X-Liftgate-Signature",
        liftgate_webhook::sign(CI_SECRET, api.now(), b"{}"),
    );
    api.send(&wrong).await.assert_refused(401, "bad_signature");
    api.send(&read.clone().replace("X-Liftgate-Client", "stranger"))
        .await
        .assert_refused(401, "unknown_client");
    let grants = api
        .get_call("/api/v1/grants?active=true")
        .without("X-Liftgate-Signature");
    api.send(&grants)
        .await
        .assert_refused(401, "missing_header");
    // Authentication comes before anything else, even an id that cannot exist.
    let unknown = api
        .get_call("/api/v1/requests/not-a-uuid")
        .without("X-Liftgate-Timestamp");
    api.send(&unknown)
        .await
        .assert_refused(401, "missing_header");
    assert_eq!(api.send(&read).await.status, 200);
}

#[tokio::test]
async fn acting_for_someone_outside_act_for_is_403() {
    let api = TestApi::start().await;
    let limited = |path: &str, body: Value| {
        api.signed_by(
            LIMITED,
            LIMITED_SECRET,
            reqwest::Method::POST,
            path,
            body.to_string().as_bytes(),
        )
    };
    let mut for_bob = prod_admin();
    for_bob["requester"] = json!(BOB);
    refused_create(&api, limited(CREATE, for_bob), 403, "act_for_not_allowed").await;

    // The client may act for requester@, and for alice@ whatever the case in the config.
    let created = api.send(&limited(CREATE, prod_admin())).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.id();
    api.settle().await;
    let before = api.stored(&id).await;
    let approve_path = format!("/api/v1/requests/{id}/approve");
    api.send(&limited(&approve_path, json!({"approver": BOB})))
        .await
        .assert_refused(403, "act_for_not_allowed");
    api.send(&limited(
        &format!("/api/v1/requests/{id}/deny"),
        json!({"approver": CAROL}),
    ))
    .await
    .assert_refused(403, "act_for_not_allowed");
    api.send(&limited(
        &format!("/api/v1/requests/{id}/revoke"),
        json!({"approver": BOB}),
    ))
    .await
    .assert_refused(403, "act_for_not_allowed");
    api.assert_unchanged(&before).await;

    let approved = api
        .send(&limited(
            &approve_path,
            json!({"approver": "ALICE@corp.com"}),
        ))
        .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["status"], "active");
}

#[tokio::test]
async fn someone_who_may_not_approve_is_403() {
    let api = TestApi::start().await;
    let id = api.create_prod_admin().await;
    api.settle().await;
    let before = api.stored(&id).await;
    api.decide(&id, "approve", json!({"approver": DAVE}))
        .await
        .assert_refused(403, "not_an_approver");
    api.decide(&id, "deny", json!({"approver": DAVE}))
        .await
        .assert_refused(403, "not_an_approver");
    api.decide(&id, "cancel", json!({"requester": DAVE}))
        .await
        .assert_refused(403, "not_an_approver");
    // The requester is not an approver of this rule: approving their own request is refused.
    api.decide(&id, "approve", json!({"approver": REQUESTER}))
        .await
        .assert_refused(403, "not_an_approver");
    api.assert_unchanged(&before).await;
    assert_eq!(api.harness.identity.calls("create_assignment"), 0);
}

#[tokio::test]
async fn a_requester_denied_self_approval_is_403() {
    let api = TestApi::start().await;
    let created = api.create(dev_admin()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    // The requester is a listed approver, but AllowSelfApproval is false.
    assert_eq!(created.body["decision"], "requires_approval");
    assert_eq!(created.body["approvers"], json!([ALICE]));
    let id = created.id();
    api.settle().await;
    let before = api.stored(&id).await;
    let refused = api
        .decide(&id, "approve", json!({"approver": REQUESTER}))
        .await;
    refused.assert_refused(403, "not_an_approver");
    assert_eq!(
        refused.body["error"]["message"],
        "you may not approve your own request"
    );
    api.assert_unchanged(&before).await;
    assert_eq!(api.harness.identity.calls("create_assignment"), 0);
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let api = TestApi::start().await;
    let raw = |body: &[u8]| api.signed_by(CI, CI_SECRET, reqwest::Method::POST, CREATE, body);
    let with = |key: &str, value: Value| {
        let mut body = prod_admin();
        body[key] = value;
        api.post_call(CREATE, &body)
    };
    let without = |key: &str| {
        let mut body = prod_admin();
        body.as_object_mut().unwrap().remove(key);
        api.post_call(CREATE, &body)
    };
    let cases: Vec<(&str, Call, &str)> = vec![
        ("not JSON", raw(b"requester=alice"), "invalid_json"),
        ("truncated JSON", raw(br#"{"requester": "#), "invalid_json"),
        ("empty body", raw(b""), "invalid_json"),
        ("an array", raw(b"[]"), "invalid_json"),
        ("no requester", without("requester"), "missing_field"),
        ("no duration", without("duration"), "missing_field"),
        ("no reason", without("reason"), "missing_field"),
        (
            "no permission set",
            without("permission_set"),
            "missing_field",
        ),
        (
            "no target",
            raw(
                json!({"requester": REQUESTER, "duration": "1h", "reason": "r"})
                    .to_string()
                    .as_bytes(),
            ),
            "missing_field",
        ),
        (
            "null requester",
            with("requester", json!(null)),
            "missing_field",
        ),
        (
            "bad email",
            with("requester", json!("requester@")),
            "invalid_email",
        ),
        (
            "bad duration",
            with("duration", json!("an hour")),
            "invalid_duration",
        ),
        (
            "zero duration",
            with("duration", json!("0m")),
            "invalid_duration",
        ),
        (
            "numeric duration",
            with("duration", json!(3600)),
            "invalid_field",
        ),
        (
            "numeric account",
            with("account_id", json!(111111111111u64)),
            "invalid_field",
        ),
        (
            "both targets",
            with("group_id", json!("11111111-2222-3333-4444-555555555555")),
            "ambiguous_target",
        ),
        (
            "misspelt field",
            with("coment", json!("x")),
            "unknown_field",
        ),
        (
            "bad start",
            with("start_at", json!("tomorrow")),
            "invalid_field",
        ),
        (
            "bad grant id",
            with("extends", json!("grant-1")),
            "invalid_field",
        ),
        (
            "blank reason",
            with("reason", json!("   ")),
            "missing_reason",
        ),
    ];
    for (name, call, code) in cases {
        let reply = api.send(&call).await;
        assert_eq!(reply.status, 400, "{name}: {}", reply.body);
        assert_eq!(reply.error_code(), code, "{name}");
    }
    api.assert_nothing_happened().await;
}

#[tokio::test]
async fn malformed_decision_bodies_are_400() {
    let api = TestApi::start().await;
    let id = api.create_prod_admin().await;
    api.settle().await;
    let before = api.stored(&id).await;
    let cases = [
        ("approve", json!({}), "missing_field"),
        ("approve", json!({"requester": ALICE}), "missing_field"),
        (
            "approve",
            json!({"approver": ALICE, "requester": REQUESTER}),
            "unknown_field",
        ),
        ("approve", json!({"approver": "alice"}), "invalid_email"),
        (
            "deny",
            json!({"approver": ALICE, "comment": 5}),
            "invalid_field",
        ),
        ("cancel", json!({"approver": REQUESTER}), "missing_field"),
        (
            "cancel",
            json!({"requester": REQUESTER, "approver": ALICE}),
            "unknown_field",
        ),
        ("cancel", json!({}), "missing_field"),
        ("revoke", json!({}), "missing_field"),
        (
            "revoke",
            json!({"approver": ALICE, "requester": REQUESTER}),
            "ambiguous_actor",
        ),
    ];
    for (action, body, code) in cases {
        let reply = api.decide(&id, action, body.clone()).await;
        assert_eq!(reply.status, 400, "{action} {body}: {}", reply.body);
        assert_eq!(reply.error_code(), code, "{action} {body}");
    }
    let raw = api.signed_by(
        CI,
        CI_SECRET,
        reqwest::Method::POST,
        &format!("/api/v1/requests/{id}/approve"),
        b"{oops",
    );
    api.send(&raw).await.assert_refused(400, "invalid_json");
    api.assert_unchanged(&before).await;
}

#[tokio::test]
async fn unknown_targets_users_and_long_durations_are_422() {
    let api = TestApi::start().await;
    let with = |key: &str, value: Value| {
        let mut body = prod_admin();
        body[key] = value;
        api.post_call(CREATE, &body)
    };
    let group = |group_id: &str| {
        api.post_call(
            CREATE,
            &json!({"requester": REQUESTER, "group_id": group_id, "duration": "1h", "reason": "r"}),
        )
    };
    let cases: Vec<(&str, Call, &str)> = vec![
        (
            "account outside the organization",
            with("account_id", json!("333333333333")),
            "unknown_account",
        ),
        (
            "not an account id",
            with("account_id", json!("prod")),
            "unknown_account",
        ),
        (
            "unknown permission set",
            with("permission_set", json!("GodMode")),
            "unknown_permission_set",
        ),
        (
            "unknown group",
            group("99999999-8888-7777-6666-555555555555"),
            "unknown_group",
        ),
        ("not a group id", group("ops"), "unknown_group"),
        (
            "unknown user",
            with("requester", json!("nobody@corp.com")),
            "unknown_user",
        ),
        (
            "longer than the rule's MaxDuration",
            with("duration", json!("4h1m")),
            "duration_too_long",
        ),
        (
            "longer than requests.max_duration",
            group_with_duration(&api, "13h"),
            "duration_too_long",
        ),
    ];
    for (name, call, code) in cases {
        let reply = api.send(&call).await;
        assert_eq!(reply.status, 422, "{name}: {}", reply.body);
        assert_eq!(reply.error_code(), code, "{name}");
    }
    api.assert_nothing_happened().await;
    // The maximum itself is fine.
    assert_eq!(api.send(&with("duration", json!("4h"))).await.status, 201);
}

fn group_with_duration(api: &TestApi, duration: &str) -> Call {
    api.post_call(
        CREATE,
        &json!({"requester": REQUESTER, "group_id": "11111111-2222-3333-4444-555555555555", "duration": duration, "reason": "r"}),
    )
}

#[tokio::test]
async fn decisions_on_a_request_no_longer_pending_are_409() {
    let api = TestApi::start().await;
    let denied = api.create_prod_admin().await;
    assert_eq!(
        api.decide(&denied, "deny", json!({"approver": BOB}))
            .await
            .status,
        200
    );
    let active = api.create_prod_admin().await;
    assert_eq!(
        api.decide(&active, "approve", json!({"approver": ALICE}))
            .await
            .status,
        200
    );
    let pending = api.create_prod_admin().await;
    api.settle().await;
    let snapshots = [
        api.stored(&denied).await,
        api.stored(&active).await,
        api.stored(&pending).await,
    ];

    api.decide(&denied, "approve", json!({"approver": ALICE}))
        .await
        .assert_refused(409, "not_pending");
    api.decide(&denied, "deny", json!({"approver": CAROL}))
        .await
        .assert_refused(409, "not_pending");
    api.decide(&denied, "cancel", json!({"requester": REQUESTER}))
        .await
        .assert_refused(409, "not_pending");
    api.decide(&denied, "revoke", json!({"approver": ALICE}))
        .await
        .assert_refused(409, "not_active");
    api.decide(&active, "approve", json!({"approver": BOB}))
        .await
        .assert_refused(409, "not_pending");
    api.decide(&active, "deny", json!({"approver": BOB}))
        .await
        .assert_refused(409, "not_pending");
    api.decide(&active, "cancel", json!({"requester": REQUESTER}))
        .await
        .assert_refused(409, "not_pending");
    api.decide(&pending, "revoke", json!({"requester": REQUESTER}))
        .await
        .assert_refused(409, "not_active");
    for before in &snapshots {
        api.assert_unchanged(before).await;
    }
    assert_eq!(
        api.harness.identity.assignment_count(
            liftgate_gateway::testing::PROD,
            "Admin",
            "u-requester"
        ),
        1
    );
}

#[tokio::test]
async fn unknown_requests_and_routes_are_404() {
    let api = TestApi::start().await;
    let missing = "00000000-0000-4000-8000-000000000000";
    api.get(&format!("/api/v1/requests/{missing}"))
        .await
        .assert_refused(404, "not_found");
    api.get("/api/v1/requests/not-a-uuid")
        .await
        .assert_refused(404, "not_found");
    api.post(
        &format!("/api/v1/requests/{missing}/approve"),
        json!({"approver": ALICE}),
    )
    .await
    .assert_refused(404, "not_found");
    api.post("/api/v1/requests/x/approve", json!({"approver": ALICE}))
        .await
        .assert_refused(404, "not_found");
    api.get("/api/v1/nothing")
        .await
        .assert_refused(404, "not_found");
    api.get("/api/v1/grants?active=maybe")
        .await
        .assert_refused(400, "invalid_field");
    api.assert_nothing_happened().await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let api = TestApi::start().await;
    let mut body = prod_admin();
    body["reason"] = json!("x".repeat(70 * 1024));
    api.send(&api.post_call(CREATE, &body))
        .await
        .assert_refused(413, "body_too_large");
    api.assert_nothing_happened().await;
}
