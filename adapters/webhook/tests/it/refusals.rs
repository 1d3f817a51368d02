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
    let by = |client: &str, secret: &str| {
        api.signed_by(
            client,
            secret,
            reqwest::Method::POST,
            CREATE,
            body.as_bytes(),
        )
    };
    let signature = |call: &Call| {
        call.headers
            .iter()
            .find(|(name, _)| name == "X-Liftgate-Signature")
            .map(|(_, value)| value.clone())
            .unwrap()
    };

    let cases: Vec<(&str, Call, &str)> = vec![
        ("wrong secret", by(CI, "guess"), "bad_signature"),
        (
            "another client's secret",
            by(CI, LIMITED_SECRET),
            "bad_signature",
        ),
        (
            "signature for another timestamp",
            good.clone()
                .replace("X-Liftgate-Timestamp", (now - 1).to_string()),
            "bad_signature",
        ),
        (
            "signature for another nonce",
            good.clone()
                .replace("X-Liftgate-Nonce", "another-nonce-123"),
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
            "no nonce header",
            good.clone().without("X-Liftgate-Nonce"),
            "missing_header",
        ),
        (
            "no signature header",
            good.clone().without("X-Liftgate-Signature"),
            "missing_header",
        ),
        (
            "a nonce too short",
            good.clone().replace("X-Liftgate-Nonce", "abc"),
            "malformed_header",
        ),
        (
            "a nonce with a colon",
            good.clone().replace("X-Liftgate-Nonce", "abc:defgh"),
            "malformed_header",
        ),
        (
            "signature without scheme",
            good.clone()
                .replace("X-Liftgate-Signature", signature(&good)[3..].to_owned()),
            "malformed_header",
        ),
        (
            "the retired v1 scheme",
            good.clone().replace(
                "X-Liftgate-Signature",
                format!("v1={}", &signature(&good)[3..]),
            ),
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
async fn a_captured_call_can_be_neither_replayed_nor_aimed_elsewhere() {
    let api = TestApi::start().await;
    let first = api.create_prod_admin().await;
    let second = api.create_prod_admin().await;
    api.settle().await;
    let before = api.stored(&second).await;

    let approve_first = api.post_call(
        &format!("/api/v1/requests/{first}/approve"),
        &json!({"approver": ALICE}),
    );
    // Aimed at another request, another verb, or the same path with a query: the signature
    // covers the method, the path and the query.
    for path in [
        format!("/api/v1/requests/{second}/approve"),
        format!("/api/v1/requests/{second}/deny"),
        format!("/api/v1/requests/{second}/revoke"),
        format!("/api/v1/requests/{first}/approve?x=1"),
    ] {
        let mut retargeted = approve_first.clone();
        retargeted.path = path.clone();
        api.send(&retargeted)
            .await
            .assert_refused(401, "bad_signature");
    }
    let mut as_get = approve_first.clone();
    as_get.method = reqwest::Method::GET;
    as_get.path = format!("/api/v1/requests/{first}");
    api.send(&as_get).await.assert_refused(401, "bad_signature");
    api.assert_unchanged(&before).await;

    // The genuine call works once; the same bytes again are a replay, whatever they ask.
    assert_eq!(api.send(&approve_first).await.status, 200);
    api.send(&approve_first)
        .await
        .assert_refused(401, "replayed");
    let read = api.get_call(&format!("/api/v1/requests/{first}"));
    assert_eq!(api.send(&read).await.status, 200);
    api.send(&read).await.assert_refused(401, "replayed");

    // Nonces are per client: another client may use the same one.
    let nonce = approve_first
        .headers
        .iter()
        .find(|(name, _)| name == "X-Liftgate-Nonce")
        .map(|(_, value)| value.clone())
        .unwrap();
    let limited = api.signed_with_nonce(
        LIMITED,
        LIMITED_SECRET,
        reqwest::Method::GET,
        &format!("/api/v1/requests/{first}"),
        b"",
        &nonce,
    );
    assert_eq!(api.send(&limited).await.status, 200);
}

#[tokio::test]
async fn a_replica_refuses_a_nonce_another_replica_saw() {
    let api = TestApi::start().await;
    let other = api.second_replica().await;
    let call = api.post_call(CREATE, &prod_admin());
    assert_eq!(api.send(&call).await.status, 201);
    let reply = other.send(&call).await;
    reply.assert_refused(401, "replayed");
    assert_eq!(api.all_requests().await.len(), 1);
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
    let at = |timestamp: i64, reason: &str| {
        let mut body = prod_admin();
        body["reason"] = json!(reason);
        api.signed_at(
            CI,
            CI_SECRET,
            reqwest::Method::POST,
            CREATE,
            body.to_string().as_bytes(),
            timestamp,
        )
    };
    let now = api.now();
    refused_create(&api, at(now - 301, "a"), 401, "stale_timestamp").await;
    refused_create(&api, at(now + 301, "b"), 401, "stale_timestamp").await;
    refused_create(&api, at(0, "c"), 401, "stale_timestamp").await;

    // Exactly 300 s off is inside the window, both ways.
    assert_eq!(api.send(&at(now - 300, "d")).await.status, 201);
    assert_eq!(api.send(&at(now + 300, "e")).await.status, 201);
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

    let path = format!("/api/v1/requests/{id}/approve");
    let body = json!({"approver": ALICE}).to_string();
    let forged = api.signed_by(CI, "guess", reqwest::Method::POST, &path, body.as_bytes());
    api.send(&forged).await.assert_refused(401, "bad_signature");
    let approve = api.post_call(&path, &json!({"approver": ALICE}));
    api.send(&approve.clone().without("X-Liftgate-Client"))
        .await
        .assert_refused(401, "missing_header");
    api.assert_unchanged(&before).await;

    // A GET is signed over the empty body; a signature over anything else does not match.
    let read_path = format!("/api/v1/requests/{id}");
    let mut wrong = api.signed_by(CI, CI_SECRET, reqwest::Method::GET, &read_path, b"{}");
    wrong.body = Vec::new();
    api.send(&wrong).await.assert_refused(401, "bad_signature");
    let read = api.get_call(&read_path);
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
        // Comments are capped by requests.max_comment_length (1000 by default).
        (
            "approve",
            json!({"approver": ALICE, "comment": "x".repeat(1001)}),
            "comment_too_long",
        ),
        (
            "deny",
            json!({"approver": ALICE, "comment": "y".repeat(64 * 1000)}),
            "comment_too_long",
        ),
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

/// The README's `curl` + `openssl` example, run as written against a live gateway: the
/// documented base string is the one the gateway checks.
#[tokio::test]
async fn the_readme_shell_example_signs_a_call_the_gateway_accepts() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let signing = &readme[readme.find("## Signing").unwrap()..];
    let start = signing.find("```sh\n").unwrap() + "```sh\n".len();
    let script = &signing[start..start + signing[start..].find("```").unwrap()];

    let api = TestApi::start().await;
    // The snippet signs with the real time; the gateway's clock must agree.
    api.harness.clock.set(time::OffsetDateTime::now_utc());
    api.harness.identity.add_user("amy@example.com", "u-amy");
    let mut command = std::process::Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", script])
        .env("LIFTGATE_URL", &api.base)
        .env("CLIENT", CI)
        .env("SECRET", CI_SECRET);
    // Off the runtime: the gateway answering the snippet runs on it.
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(answer["requester"], "amy@example.com", "{answer}");
    assert_eq!(api.all_requests().await.len(), 1);
}

/// One person under two emails (a fallback domain, a renamed address, a Teams UPN) is one
/// Identity Center user: they can neither approve their own request nor count twice.
#[tokio::test]
async fn aliases_of_one_person_neither_self_approve_nor_count_twice() {
    let api = TestApi::with(Options {
        statements: json!([
            {"ResourceType": "Account", "Resource": ["111111111111"], "PermissionSet": "*",
             "Approvers": [ALICE, BOB]},
            {"ResourceType": "Account", "Resource": ["222222222222"], "PermissionSet": "ReadOnly",
             "Approvers": [ALICE, BOB, "bob@old.io", CAROL], "RequiredApprovals": 2},
        ]),
        ..Options::default()
    })
    .await;
    api.harness.identity.add_user("alice@old.io", "u-alice");
    api.harness.identity.add_user("bob@old.io", "u-bob");

    // Alice asks under her old address; her corp address is an approver of the rule.
    let mut body = prod_admin();
    body["requester"] = json!("alice@old.io");
    let created = api.create(body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "pending");
    let id = created.id();
    api.settle().await;
    let before = api.stored(&id).await;
    api.post(
        &format!("/api/v1/requests/{id}/approve"),
        json!({"approver": ALICE}),
    )
    .await
    .assert_refused(403, "not_an_approver");
    api.assert_unchanged(&before).await;

    // Two approvals needed: Bob under both his addresses counts once.
    let quorum = api.create(dev_readonly()).await;
    let quorum_id = quorum.id();
    let path = format!("/api/v1/requests/{quorum_id}/approve");
    let first = api.post(&path, json!({"approver": BOB})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    // Listed under both addresses, so only the user id can tell it is the same person.
    let again = api.post(&path, json!({"approver": "bob@old.io"})).await;
    assert!(again.status < 500, "{}", again.body);
    let stored = api.stored(&quorum_id).await;
    assert_eq!(stored.approvals.len(), 1, "one person, one approval");
    assert_eq!(stored.status().as_str(), "pending");
    assert_eq!(stored.approvals[0].user_id.as_deref(), Some("u-bob"));
}

/// A dependency failure answers a stable code and a correlation id; what failed, and how,
/// stays in the log.
#[tokio::test]
async fn an_outage_answers_503_with_a_correlation_id_and_no_detail() {
    let api = TestApi::start().await;
    for _ in 0..5 {
        api.harness.identity.fail_next(
            "describe_account",
            liftgate_gateway::testing::FakeFailure::Unavailable,
        );
    }
    let reply = api.create(prod_admin()).await;
    reply.assert_refused(503, "unavailable");
    let text = reply.body.to_string();
    assert!(!text.contains("describe_account"), "{text}");
    assert!(!text.contains("timeout"), "{text}");
    let correlation = reply.body["error"]["correlation_id"].as_str().unwrap();
    assert_eq!(correlation.len(), 32);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(correlation)
    );
    api.assert_nothing_happened().await;
}

#[tokio::test]
async fn creates_over_the_hourly_limit_are_429_with_retry_after_and_change_nothing() {
    let api = TestApi::with(Options {
        requests: liftgate_gateway::config::RequestSettings {
            rate_limit: 2,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    api.create_prod_admin().await;
    api.create_prod_admin().await;
    let before = api.all_requests().await.len();
    let reply = api.create(prod_admin()).await;
    reply.assert_refused(429, "rate_limited");
    let seconds: u64 = reply.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&seconds), "{seconds}");
    assert_eq!(api.all_requests().await.len(), before);
}

#[tokio::test]
async fn a_reason_that_misses_the_statements_pattern_is_422_with_its_hint() {
    let api = TestApi::with(Options {
        statements: json!([{
            "ResourceType": "Account", "Resource": ["111111111111"], "PermissionSet": ["Admin"],
            "Approvers": ["alice@corp.com"], "ReasonPattern": "^(OPS|INC)-[0-9]+",
            "ReasonHint": "Start with a ticket id such as OPS-123.",
            "Warning": "Production account: every change is reviewed.",
        }]),
        ..Options::default()
    })
    .await;
    let reply = api.create(prod_admin()).await;
    reply.assert_refused(422, "reason_mismatch");
    assert!(
        reply
            .body
            .to_string()
            .contains("Start with a ticket id such as OPS-123."),
        "{:?}",
        reply.body
    );
    api.assert_nothing_happened().await;

    let mut body = prod_admin();
    body["reason"] = json!("INC-7 deploy hotfix");
    let reply = api.create(body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let stored = api.stored(&reply.id()).await;
    assert_eq!(
        stored.warnings,
        ["Production account: every change is reviewed."]
    );
}
