//! The happy paths through the real routes: create, approve, grant, revoke; quorum; groups;
//! deny and cancel; deferred starts and extensions; reads.

use liftgate_gateway::testing::{DEV, FakeFailure, OPS_GROUP, PROD};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn create_approve_grant_and_revoke() {
    let api = TestApi::start().await;

    let created = api.create(prod_admin()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let body = &created.body;
    assert_eq!(body["status"], "pending");
    assert_eq!(body["decision"], "requires_approval");
    assert_eq!(body["approvers"], json!([ALICE, BOB, CAROL]));
    assert_eq!(body["required_approvals"], 1);
    assert_eq!(body["approvals"], json!([]));
    assert_eq!(body["requester"], REQUESTER);
    assert_eq!(body["account_id"], PROD);
    assert_eq!(body["account_name"], "Prod");
    assert_eq!(body["permission_set"], "Admin");
    assert!(body.get("group_id").is_none());
    assert_eq!(body["duration"], "1h");
    assert_eq!(body["reason"], "deploy hotfix");
    assert_eq!(body["channel"], "webhook");
    assert_eq!(body["created_at"], "2027-01-15T08:00:00Z");
    assert_eq!(body["expires_at"], "2027-01-15T16:00:00Z");
    assert_eq!(body["ends_at"], json!(null));
    assert_eq!(body["grant_id"], json!(null));
    assert_eq!(body["status_reason"], json!(null));
    assert_eq!(body["history"][0]["event"], "requested");
    assert_eq!(body["history"][0]["actor"], REQUESTER);
    let id = created.id();

    let approved = api
        .decide(
            &id,
            "approve",
            json!({"approver": ALICE, "comment": "go ahead"}),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["status"], "active");
    assert_eq!(approved.body["ends_at"], "2027-01-15T09:00:00Z");
    assert_eq!(
        approved.body["approvals"],
        json!([{"approver": ALICE, "at": "2027-01-15T08:00:00Z", "channel": "webhook", "comment": "go ahead"}])
    );
    let grant_id = approved.body["grant_id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );
    assert_eq!(api.harness.scheduler.timers().len(), 1);

    let read = api.get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(read.status, 200);
    let events: Vec<&str> = read.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["requested", "approved", "granted"]);

    let active = api.get("/api/v1/grants?active=true").await;
    assert_eq!(active.status, 200);
    assert_eq!(active.body["grants"].as_array().unwrap().len(), 1);
    let grant = &active.body["grants"][0];
    assert_eq!(grant["id"], grant_id.as_str());
    assert_eq!(grant["request_id"], id.as_str());
    assert_eq!(grant["status"], "active");
    assert_eq!(grant["account_id"], PROD);
    assert_eq!(grant["permission_set"], "Admin");
    assert_eq!(grant["ends_at"], "2027-01-15T09:00:00Z");

    let revoked = api
        .decide(&id, "revoke", json!({"requester": REQUESTER}))
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["status"], "ended");
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );
    // Revoking again is a repeat, not an error.
    let again = api
        .decide(&id, "revoke", json!({"requester": REQUESTER}))
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["status"], "ended");

    assert_eq!(
        api.get("/api/v1/grants?active=true").await.body["grants"],
        json!([])
    );
    let all = api.get("/api/v1/grants").await;
    assert_eq!(all.body["grants"].as_array().unwrap().len(), 1);
    assert_eq!(all.body["grants"][0]["status"], "revoked");

    api.harness.deliver_outbox().await;
    let audit = api.harness.audit.events_for(&id);
    for event in ["requested", "approved", "granted", "revoked"] {
        assert!(
            audit.iter().any(|e| e == event),
            "no {event} record in {audit:?}"
        );
    }
    assert!(
        api.harness
            .audit
            .records()
            .iter()
            .all(|record| record.fields.channel.as_str() == "webhook")
    );
}

#[tokio::test]
async fn an_approver_may_revoke_an_active_grant() {
    let api = TestApi::start().await;
    let id = api.create_prod_admin().await;
    assert_eq!(
        api.decide(&id, "approve", json!({"approver": ALICE}))
            .await
            .status,
        200
    );

    let revoked = api.decide(&id, "revoke", json!({"approver": BOB})).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["status"], "ended");
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );
}

#[tokio::test]
async fn a_revoke_that_cannot_finish_now_answers_202_in_progress_never_ended() {
    let api = TestApi::start().await;
    let id = api.create_prod_admin().await;
    api.decide(&id, "approve", json!({"approver": ALICE})).await;
    api.harness
        .identity
        .fail_next("delete_assignment", FakeFailure::Unavailable);

    let answer = api
        .decide(&id, "revoke", json!({"requester": REQUESTER}))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(
        answer.body["status"], "active",
        "what the store holds: not ended yet"
    );
    assert_eq!(answer.body["revocation"]["state"], "in_progress");
    assert_eq!(answer.body["revocation"]["by"], REQUESTER);
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );

    // The sweeper completes it; the request then says ended, with no revocation pending.
    api.harness.advance(std::time::Duration::from_secs(30));
    api.harness.sweep().await;
    let done = api.get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(done.body["status"], "ended", "{}", done.body);
    assert!(done.body["revocation"].is_null());
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );
}

#[tokio::test]
async fn a_quorum_needs_two_distinct_approvers() {
    let api = TestApi::start().await;
    let created = api.create(dev_readonly()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["required_approvals"], 2);
    let id = created.id();

    let first = api.decide(&id, "approve", json!({"approver": ALICE})).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["status"], "pending");
    // The same person twice counts once, and the repeat is not an error.
    let repeat = api
        .decide(&id, "approve", json!({"approver": "ALICE@corp.com"}))
        .await;
    assert_eq!(repeat.status, 200, "{}", repeat.body);
    assert_eq!(repeat.body["status"], "pending");
    assert_eq!(repeat.body["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.harness
            .identity
            .assignment_count(DEV, "ReadOnly", "u-requester"),
        0
    );

    let second = api.decide(&id, "approve", json!({"approver": BOB})).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["status"], "active");
    assert_eq!(second.body["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(
        api.harness
            .identity
            .assignment_count(DEV, "ReadOnly", "u-requester"),
        1
    );

    // Too late for a third approver; still fine for one who already approved.
    api.decide(&id, "approve", json!({"approver": CAROL}))
        .await
        .assert_refused(409, "not_pending");
    assert_eq!(
        api.decide(&id, "approve", json!({"approver": BOB}))
            .await
            .status,
        200
    );
    assert_eq!(
        api.harness
            .identity
            .assignment_count(DEV, "ReadOnly", "u-requester"),
        1
    );
}

#[tokio::test]
async fn a_group_request_becomes_a_membership() {
    let api = TestApi::start().await;
    let created = api
        .create(json!({"requester": REQUESTER, "group_id": OPS_GROUP, "duration": "30m", "reason": "on call"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["group_id"], OPS_GROUP);
    assert_eq!(created.body["group_name"], "Ops");
    assert!(created.body.get("account_id").is_none());
    assert!(created.body.get("permission_set").is_none());
    assert_eq!(created.body["duration"], "30m");

    let approved = api
        .decide(&created.id(), "approve", json!({"approver": ALICE}))
        .await;
    assert_eq!(approved.body["status"], "active", "{}", approved.body);
    assert!(api.harness.identity.is_member(OPS_GROUP, "u-requester"));
    let grants = api.get("/api/v1/grants?active=true").await;
    assert_eq!(grants.body["grants"][0]["group_id"], OPS_GROUP);
    assert_eq!(grants.body["grants"][0]["group_name"], "Ops");
}

#[tokio::test]
async fn deny_and_cancel_answer_repeats_with_the_same_state() {
    let api = TestApi::start().await;
    let denied_id = api.create_prod_admin().await;
    let denied = api
        .decide(
            &denied_id,
            "deny",
            json!({"approver": BOB, "comment": "not now"}),
        )
        .await;
    assert_eq!(denied.status, 200, "{}", denied.body);
    assert_eq!(denied.body["status"], "denied");
    assert_eq!(
        denied.body["status_reason"],
        "denied by bob@corp.com: not now"
    );
    let again = api
        .decide(&denied_id, "deny", json!({"approver": BOB}))
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["status"], "denied");

    let cancelled_id = api.create_prod_admin().await;
    let cancelled = api
        .decide(&cancelled_id, "cancel", json!({"requester": REQUESTER}))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    let again = api
        .decide(&cancelled_id, "cancel", json!({"requester": REQUESTER}))
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["status"], "cancelled");
    assert_eq!(api.harness.identity.calls("create_assignment"), 0);
}

#[tokio::test]
async fn a_deferred_start_waits_for_its_time() {
    let api = TestApi::start().await;
    let mut body = prod_admin();
    body["start_at"] = json!("2027-01-15T10:00:00Z");
    let created = api.create(body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["start_at"], "2027-01-15T10:00:00Z");

    let approved = api
        .decide(&created.id(), "approve", json!({"approver": ALICE}))
        .await;
    assert_eq!(approved.body["status"], "approved", "{}", approved.body);
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );

    api.harness
        .advance(std::time::Duration::from_secs(2 * 3600));
    api.harness.sweep().await;
    let read = api.get(&format!("/api/v1/requests/{}", created.id())).await;
    assert_eq!(read.body["status"], "active", "{}", read.body);
    assert_eq!(read.body["ends_at"], "2027-01-15T11:00:00Z");
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );
}

#[tokio::test]
async fn an_extension_moves_the_end_of_an_active_grant() {
    let api = TestApi::start().await;
    let first = api.create_prod_admin().await;
    let granted = api
        .decide(&first, "approve", json!({"approver": ALICE}))
        .await;
    let grant_id = granted.body["grant_id"].as_str().unwrap().to_owned();

    let mut body = prod_admin();
    body["duration"] = json!("2h");
    body["extends"] = json!(grant_id);
    let extension = api.create(body).await;
    assert_eq!(extension.status, 201, "{}", extension.body);
    assert_eq!(extension.body["extends"], grant_id.as_str());
    let extended = api
        .decide(&extension.id(), "approve", json!({"approver": BOB}))
        .await;
    assert_eq!(extended.body["status"], "active", "{}", extended.body);
    assert_eq!(extended.body["ends_at"], "2027-01-15T11:00:00Z");
    assert_eq!(
        api.harness
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );

    // Only the holder of a grant can extend it.
    let mut foreign = prod_admin();
    foreign["requester"] = json!(DAVE);
    foreign["extends"] = json!(grant_id);
    api.create(foreign)
        .await
        .assert_refused(403, "cannot_extend");
}

#[tokio::test]
async fn a_limited_client_reads_only_what_concerns_its_people() {
    let statements = json!([
        {"ResourceType": "Account", "Resource": ["111111111111"], "PermissionSet": "*", "Approvers": [ALICE]},
        {"ResourceType": "Account", "Resource": ["222222222222"], "PermissionSet": "*", "Approvers": [BOB]},
    ]);
    let api = TestApi::with(Options {
        statements,
        ..Options::default()
    })
    .await;
    // dave's request for Dev involves neither requester@ nor alice@.
    let mut hidden = dev_admin();
    hidden["requester"] = json!(DAVE);
    let hidden = api.create(hidden).await.id();
    assert_eq!(
        api.decide(&hidden, "approve", json!({"approver": BOB}))
            .await
            .status,
        200
    );
    // requester@'s own request, and dave's request that alice approves, are visible.
    let own = api.create_prod_admin().await;
    let mut approved_by_alice = prod_admin();
    approved_by_alice["requester"] = json!(DAVE);
    let approved_by_alice = api.create(approved_by_alice).await.id();
    assert_eq!(
        api.decide(&approved_by_alice, "approve", json!({"approver": ALICE}))
            .await
            .status,
        200
    );

    let limited_get =
        |path: String| api.signed_by(LIMITED, LIMITED_SECRET, reqwest::Method::GET, &path, b"");
    assert_eq!(
        api.send(&limited_get(format!("/api/v1/requests/{own}")))
            .await
            .status,
        200
    );
    assert_eq!(
        api.send(&limited_get(format!(
            "/api/v1/requests/{approved_by_alice}"
        )))
        .await
        .status,
        200
    );
    api.send(&limited_get(format!("/api/v1/requests/{hidden}")))
        .await
        .assert_refused(404, "not_found");
    assert_eq!(
        api.get(&format!("/api/v1/requests/{hidden}")).await.status,
        200
    );

    // Grants are listed for the people the client acts for: dave's two are not.
    let grants = api
        .send(&limited_get("/api/v1/grants?active=true".to_owned()))
        .await;
    assert_eq!(grants.body["grants"], json!([]), "{}", grants.body);
    let everything = api.get("/api/v1/grants?active=true").await;
    assert_eq!(everything.body["grants"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_rule_refusal_is_a_recorded_denial() {
    let api = TestApi::start().await;
    // The permission set exists, but no statement covers it on Dev.
    api.harness.identity.add_permission_set("PowerUser");
    let mut body = dev_admin();
    body["permission_set"] = json!("PowerUser");
    let created = api.create(body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "denied");
    assert_eq!(created.body["decision"], "no_statements");
    assert_eq!(
        created.body["status_reason"],
        "no rule covers this account and permission set"
    );
}

#[tokio::test]
async fn audit_records_say_where_the_request_came_from_and_who_was_verified() {
    let api = TestApi::start().await;
    let id = api.create_prod_admin().await;
    let approved = api.decide(&id, "approve", json!({"approver": ALICE})).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    api.settle().await;
    let records = api.harness.audit.records();
    let of = |event: &str| {
        let record = records
            .iter()
            .find(|record| record.fields.event.as_str() == event)
            .unwrap_or_else(|| panic!("no {event} record"));
        serde_json::to_value(&record.fields).unwrap()
    };
    for event in ["requested", "approved", "granted"] {
        assert_eq!(
            of(event)["request_source"],
            format!("webhook:{CI}"),
            "{event}"
        );
    }
    let caller = json!({"platform": "webhook", "client_id": CI});
    assert_eq!(of("requested")["verified_caller"], caller);
    assert_eq!(of("approved")["verified_caller"], caller);
    assert_eq!(of("approved")["approver_email"], ALICE.to_lowercase());
    // The request keeps who was verified for it and for each approval.
    let stored = api.stored(&id).await;
    assert_eq!(
        stored
            .requester
            .caller
            .as_ref()
            .map(|caller| caller.source()),
        Some(format!("webhook:{CI}"))
    );
}

#[tokio::test]
async fn break_glass_grants_at_once_and_a_reviewer_acknowledges_or_flags_it() {
    let mut statements = statements();
    statements.as_array_mut().unwrap().push(json!(
        {"ResourceType": "Account", "Resource": [DEV], "PermissionSet": "Admin",
         "BreakGlass": true, "AllowedUsers": [REQUESTER], "Approvers": [CAROL]}
    ));
    let api = TestApi::with(Options {
        statements,
        ..Options::default()
    })
    .await;
    let emergency = || {
        json!({"requester": REQUESTER, "account_id": DEV, "permission_set": "Admin",
               "duration": "1h", "reason": "INC-9 outage", "break_glass": true})
    };
    let created = api.create(emergency()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["decision"], "break_glass");
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["break_glass"], true);
    assert_eq!(created.body["approvers"], json!([CAROL]));
    assert_eq!(created.body["review"]["state"], "pending");
    assert_eq!(created.body["review"]["due_at"], "2027-01-16T08:00:00Z");
    let id = created.id();

    // Malformed: break_glass must be a boolean; reviewing needs a reviewer.
    let mut bad = emergency();
    bad["break_glass"] = json!("yes");
    api.create(bad).await.assert_refused(400, "invalid_field");
    api.decide(&id, "acknowledge", json!({"approver": CAROL}))
        .await
        .assert_refused(400, "missing_field");
    // The requester may not review their own use; an approver of other rules neither.
    api.decide(&id, "acknowledge", json!({"reviewer": REQUESTER}))
        .await
        .assert_refused(403, "not_a_reviewer");
    api.decide(&id, "flag", json!({"reviewer": ALICE}))
        .await
        .assert_refused(403, "not_a_reviewer");

    let flagged = api
        .decide(
            &id,
            "flag",
            json!({"reviewer": CAROL, "comment": "no such incident"}),
        )
        .await;
    assert_eq!(flagged.status, 200, "{}", flagged.body);
    assert_eq!(flagged.body["review"]["state"], "flagged");
    assert_eq!(flagged.body["review"]["by"], CAROL);
    assert_eq!(flagged.body["review"]["comment"], "no such incident");
    assert_eq!(flagged.body["status"], "ended");
    api.decide(&id, "acknowledge", json!({"reviewer": CAROL}))
        .await
        .assert_refused(409, "already_reviewed");

    // Someone the rule does not name is refused, and the attempt is stored denied.
    let mut outsider = emergency();
    outsider["requester"] = json!(ALICE);
    let refused = api.create(outsider).await;
    assert_eq!(refused.status, 201, "{}", refused.body);
    assert_eq!(refused.body["decision"], "requester_not_allowed");
    assert_eq!(refused.body["status"], "denied");
    assert_eq!(refused.body["break_glass"], true);
    assert_eq!(refused.body["review"], json!(null));
}
