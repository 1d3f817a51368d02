//! Deciding in Teams: Approve and Deny on the approval card (with quorum), refusals shown to
//! the clicker only, and the shared card and the requester's chat following every change:
//! granted, denied, expired, ended (early or on time), failed, cancelled, extended.

use std::time::Duration;

use actix_web::http::StatusCode;
use liftgate_gateway::domain::{RequestId, RequestStatus};
use liftgate_gateway::testing::{FakeFailure, HarnessOptions, OPS_GROUP, PROD};
use serde_json::{Value, json};

use crate::support::{Bed, button_titles, card_text, default_options, redacted};

const CARD: &str = "application/vnd.microsoft.card.adaptive";

/// Clicks a button on the approval card; returns the card the clicker gets back.
async fn click(bed: &Bed, who: &str, verb: &str, request: &RequestId) -> Value {
    let (status, body) = bed
        .send(&bed.approval_action(who, verb, request).await)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["type"], CARD, "{body}");
    body["value"].clone()
}

/// Clicks a button on a card in the requester's personal chat.
async fn click_personal(bed: &Bed, who: &str, verb: &str, request: &RequestId) -> Value {
    let action = bed.personal_action(who, verb, json!({ "request_id": request.as_str() }));
    let (status, body) = bed.send(&action).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"].clone()
}

fn requester_cards(bed: &Bed) -> Vec<Value> {
    bed.personal_cards("requester")
        .iter()
        .filter_map(|a| a.card().cloned())
        .collect()
}

#[actix_web::test]
async fn an_approval_grants_and_every_card_shows_it() {
    let bed = Bed::new().await;
    let request = bed.request_access("requester", PROD, "Admin", "1h").await;
    let shared = bed.approval_card(&request.id).await;
    insta::assert_json_snapshot!("approval_pending", redacted(shared.card().unwrap()));
    let reference = bed.approval_reference(&request.id).await;
    assert_eq!(
        reference["conversation_id"],
        format!("19:approvals@thread.tacv2;messageid={}", shared.id)
    );

    let answer = click(&bed, "alice", "approve", &request.id).await;
    let text = card_text(&answer);
    assert!(text.contains("You approved this request."), "{text}");
    assert!(
        text.contains("Granted by alice@corp.com. Access until 2027-01-15 09:00 UTC."),
        "{text}"
    );
    assert!(
        button_titles(&answer).is_empty(),
        "no Approve after a decision"
    );

    let stored = bed.h.request(&request.id).await;
    assert_eq!(stored.status(), RequestStatus::Active);
    assert_eq!(
        stored.approvals[0].approver.email.as_str(),
        "alice@corp.com"
    );
    assert_eq!(
        stored.approvals[0].approver.teams_id.as_deref(),
        Some("29:alice")
    );
    assert_eq!(
        bed.h
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );

    bed.deliver().await;
    let shared = bed.approval_card(&request.id).await;
    assert_eq!(
        shared.versions.len(),
        3,
        "updated in place: approved, then granted"
    );
    let card = shared.card().unwrap();
    assert!(button_titles(card).is_empty());
    assert!(card_text(card).contains("Granted by alice@corp.com"));
    insta::assert_json_snapshot!("approval_granted", redacted(card));

    // The requester heard of both steps, and can end or extend the grant.
    let cards = requester_cards(&bed);
    assert_eq!(cards.len(), 2, "one message per step");
    let active = cards.last().unwrap();
    assert_eq!(button_titles(active), ["I'm done", "Extend"]);
    insta::assert_json_snapshot!("requester_active", redacted(active));
    // The earlier card keeps its words but loses its buttons: no stale Cancel.
    let first = &bed.personal_cards("requester")[0];
    assert!(button_titles(first.card().unwrap()).is_empty());
}

#[actix_web::test]
async fn a_denial_closes_the_request_for_everyone() {
    let bed = Bed::new().await;
    let request = bed
        .request_access("requester", PROD, "ReadOnly", "2h")
        .await;
    let answer = click(&bed, "bob", "deny", &request.id).await;
    assert!(
        card_text(&answer).contains("Denied by bob@corp.com."),
        "{answer}"
    );
    bed.deliver().await;
    let shared = bed.approval_card(&request.id).await;
    let card = shared.card().unwrap();
    assert!(button_titles(card).is_empty());
    insta::assert_json_snapshot!("approval_denied", redacted(card));
    assert!(card_text(requester_cards(&bed).last().unwrap()).contains("Denied by bob@corp.com."));
    assert_eq!(
        bed.h
            .identity
            .assignment_count(PROD, "ReadOnly", "u-requester"),
        0
    );
}

#[actix_web::test]
async fn refusals_are_shown_to_the_clicker_and_change_nothing() {
    let bed = Bed::new().await;
    let request = bed.request_access("requester", PROD, "Admin", "1h").await;
    let events_before = bed.h.audit.events_for(&request.id);

    for (who, verb, message) in [
        (
            "carol",
            "approve",
            "You are not an approver of this request.",
        ),
        (
            "requester",
            "approve",
            "You may not approve your own request.",
        ),
        (
            "carol",
            "deny",
            "Only an approver of this request, or its requester, can deny or cancel it.",
        ),
    ] {
        let answer = click(&bed, who, verb, &request.id).await;
        let text = card_text(&answer);
        assert!(text.contains(message), "{who} {verb}: {text}");
        assert_eq!(button_titles(&answer), ["Approve", "Deny"], "still pending");
    }
    let answer = click(&bed, "carol", "approve", &request.id).await;
    insta::assert_json_snapshot!("approval_refused", redacted(&answer));

    let stored = bed.h.request(&request.id).await;
    assert_eq!(stored.status(), RequestStatus::Pending);
    assert!(stored.approvals.is_empty());
    bed.deliver().await;
    assert_eq!(
        bed.approval_card(&request.id).await.versions.len(),
        1,
        "nothing to update"
    );
    assert_eq!(bed.h.audit.events_for(&request.id), events_before);
}

#[actix_web::test]
async fn a_quorum_shows_its_progress_until_it_is_met() {
    let options = HarnessOptions {
        statements: json!([{ "ResourceType": "Account", "Resource": [PROD], "PermissionSet": "*",
                             "Approvers": ["alice@corp.com", "bob@corp.com", "carol@corp.com"], "RequiredApprovals": 2 }]),
        ..default_options()
    };
    let bed = Bed::with(options, |_, _| {}).await;
    let request = bed.request_access("requester", PROD, "Admin", "1h").await;
    assert!(
        card_text(bed.approval_card(&request.id).await.card().unwrap())
            .contains("Waiting for approval: 0 of 2 approvals so far.")
    );

    let answer = click(&bed, "alice", "approve", &request.id).await;
    assert!(card_text(&answer).contains("Waiting for approval: 1 of 2 approvals so far."));
    assert_eq!(button_titles(&answer), ["Approve", "Deny"]);
    bed.deliver().await;
    let card = bed.approval_card(&request.id).await.card().unwrap().clone();
    assert!(card_text(&card).contains("Approvals: 1 of 2: alice@corp.com"));
    insta::assert_json_snapshot!("approval_quorum_progress", redacted(&card));

    // The same approver again counts once.
    click(&bed, "alice", "approve", &request.id).await;
    assert_eq!(bed.h.request(&request.id).await.approvals.len(), 1);

    let answer = click(&bed, "bob", "approve", &request.id).await;
    assert!(
        card_text(&answer).contains("Granted by alice@corp.com, bob@corp.com."),
        "{answer}"
    );
    bed.deliver().await;
    let card = bed.approval_card(&request.id).await.card().unwrap().clone();
    assert!(button_titles(&card).is_empty());
    assert!(card_text(&card).contains("Approvals: 2 of 2: alice@corp.com, bob@corp.com"));
}

#[actix_web::test]
async fn an_unanswered_request_expires_on_its_card() {
    let bed = Bed::new().await;
    let request = bed.request_access("requester", PROD, "Admin", "1h").await;
    bed.h.advance(Duration::from_secs(9 * 3600));
    bed.h.sweep().await;
    bed.deliver().await;
    let card = bed.approval_card(&request.id).await.card().unwrap().clone();
    assert!(button_titles(&card).is_empty());
    assert!(card_text(&card).contains("Expired: nobody approved it in time."));
    insta::assert_json_snapshot!("approval_expired", redacted(&card));
    assert!(card_text(requester_cards(&bed).last().unwrap()).contains("Expired"));

    // A late click is refused on the card.
    let answer = click(&bed, "alice", "approve", &request.id).await;
    assert!(
        card_text(&answer).contains("The request is expired, not pending."),
        "{answer}"
    );
}

#[actix_web::test]
async fn a_failed_grant_is_reported_on_the_card() {
    let bed = Bed::new().await;
    let request = bed.request_access("requester", PROD, "Admin", "1h").await;
    bed.h.identity.fail_next(
        "create_assignment",
        FakeFailure::Failed("permission set is not provisioned".to_owned()),
    );
    click(&bed, "alice", "approve", &request.id).await;
    bed.deliver().await;
    assert_eq!(
        bed.h.request(&request.id).await.status(),
        RequestStatus::Failed
    );
    let card = bed.approval_card(&request.id).await.card().unwrap().clone();
    assert!(button_titles(&card).is_empty());
    assert!(card_text(&card).contains("Failed"), "{card}");
    insta::assert_json_snapshot!("approval_failed", redacted(&card));
}

#[actix_web::test]
async fn the_requester_ends_their_access_early() {
    let bed = Bed::new().await;
    let request = bed.request_access("requester", PROD, "Admin", "4h").await;
    click(&bed, "alice", "approve", &request.id).await;
    bed.deliver().await;
    bed.h.advance(Duration::from_secs(600));

    // Someone else cannot end it.
    let answer = click_personal(&bed, "carol", "revoke", &request.id).await;
    assert!(
        card_text(&answer)
            .contains("Only the requester or an approver of this request can revoke it.")
    );
    assert_eq!(
        bed.h.request(&request.id).await.status(),
        RequestStatus::Active
    );

    let answer = click_personal(&bed, "requester", "revoke", &request.id).await;
    let text = card_text(&answer);
    assert!(text.contains("Your access has ended."), "{text}");
    assert!(
        text.contains("Ended early by requester@corp.com at 2027-01-15 08:10 UTC."),
        "{text}"
    );
    assert_eq!(
        bed.h
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        0
    );

    bed.deliver().await;
    let card = bed.approval_card(&request.id).await.card().unwrap().clone();
    assert!(card_text(&card).contains("Ended early by requester@corp.com"));
    insta::assert_json_snapshot!("approval_ended_early", redacted(&card));
    let last = requester_cards(&bed).last().unwrap().clone();
    assert!(button_titles(&last).is_empty(), "nothing left to do");
}

#[actix_web::test]
async fn access_ends_on_schedule_and_the_card_says_so() {
    let bed = Bed::new().await;
    let request = bed
        .request_access("requester", PROD, "ReadOnly", "1h")
        .await;
    click(&bed, "bob", "approve", &request.id).await;
    bed.h.advance(Duration::from_secs(3601));
    bed.h.sweep().await;
    bed.deliver().await;
    assert_eq!(
        bed.h.request(&request.id).await.status(),
        RequestStatus::Ended
    );
    let card = bed.approval_card(&request.id).await.card().unwrap().clone();
    assert!(
        card_text(&card).contains("Ended at 2027-01-15 09:00 UTC."),
        "{card}"
    );
}

#[actix_web::test]
async fn the_requester_cancels_a_pending_request() {
    let bed = Bed::new().await;
    let request = bed
        .request_access("requester", PROD, "ReadOnly", "1h")
        .await;
    let answer = click_personal(&bed, "requester", "cancel", &request.id).await;
    assert!(
        card_text(&answer).contains("Cancelled by requester@corp.com."),
        "{answer}"
    );
    bed.deliver().await;
    let card = bed.approval_card(&request.id).await.card().unwrap().clone();
    assert!(button_titles(&card).is_empty());
    assert!(card_text(&card).contains("Cancelled by requester@corp.com."));
}

#[actix_web::test]
async fn an_active_grant_is_extended_through_a_new_request() {
    let bed = Bed::new().await;
    let original = bed.request_access("requester", PROD, "Admin", "1h").await;
    click(&bed, "alice", "approve", &original.id).await;
    bed.deliver().await;
    let grant = bed.h.grant_of(&original.id).await;

    // Only the holder gets the form.
    let (_, body) = bed
        .send(&bed.personal_action(
            "bob",
            "extend",
            json!({ "request_id": original.id.as_str() }),
        ))
        .await;
    assert_eq!(body["type"], "application/vnd.microsoft.activity.message");

    let form = click_personal(&bed, "requester", "extend", &original.id).await;
    assert_eq!(form["actions"][0]["verb"], "extend_submit");
    insta::assert_json_snapshot!("extend_form", redacted(&form));
    let form_id = form["actions"][0]["data"]["form_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let data = json!({ "form_id": form_id, "request_id": original.id.as_str(), "duration": "1h", "reason": "the fix needs longer",
                       // Card data cannot widen the extension.
                       "account": "222222222222", "permission_set": "ReadOnly" });
    let (status, body) = bed
        .send(&bed.personal_action("requester", "extend_submit", data))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        card_text(&body["value"]).contains("Waiting for approval."),
        "{body}"
    );
    let extension = bed
        .all_requests()
        .await
        .into_iter()
        .find(|r| r.id != original.id)
        .expect("an extension request");
    assert_eq!(extension.extends, Some(grant.id.clone()));
    assert_eq!(extension.target, original.target);

    bed.deliver().await;
    let card = bed
        .approval_card(&extension.id)
        .await
        .card()
        .unwrap()
        .clone();
    assert!(card_text(&card).contains("AWS access extension request"));
    click(&bed, "alice", "approve", &extension.id).await;
    bed.deliver().await;
    let moved = bed.h.grant_of(&original.id).await;
    assert_eq!(moved.ends_at, grant.ends_at + time::Duration::hours(1));
    assert!(
        card_text(bed.approval_card(&original.id).await.card().unwrap())
            .contains("Access until 2027-01-15 10:00 UTC")
    );
}

#[actix_web::test]
async fn group_requests_are_approved_the_same_way() {
    let bed = Bed::new().await;
    let data = json!({ "form_id": uuid::Uuid::new_v4().to_string(), "group": OPS_GROUP, "duration": "1h", "reason": "on call" });
    bed.send(&bed.personal_action("requester", "group_submit", data))
        .await;
    bed.deliver().await;
    let request = bed.only_request().await;
    let answer = click(&bed, "alice", "approve", &request.id).await;
    assert!(card_text(&answer).contains("Group: Ops"), "{answer}");
    assert!(bed.h.identity.is_member(OPS_GROUP, "u-requester"));
}

/// Inbox rows (acked work not yet finished) in the store.
async fn unfinished_work(bed: &Bed) -> usize {
    use liftgate_gateway::ports::{Clock, StateStore};
    let far = bed.h.clock.now() + time::Duration::days(2);
    let rows = bed
        .h
        .store
        .claim_outbox("inbox:", far, far, 100)
        .await
        .unwrap();
    for row in &rows {
        bed.h
            .store
            .retry_outbox(row.id, row.first_due(), "looked")
            .await
            .unwrap();
    }
    rows.len()
}

#[actix_web::test]
async fn an_approval_that_outlasts_the_invoke_and_its_replica_is_resumed_from_the_inbox() {
    let bed = Bed::with(default_options(), |_, options| {
        options.invoke_timeout = Duration::from_millis(100);
    })
    .await;
    let request = bed.request_access("requester", PROD, "Admin", "1h").await;
    assert_eq!(
        unfinished_work(&bed).await,
        0,
        "finished work leaves no row"
    );

    // Alice approves; the approval's directory lookup hangs (the replica is dying), so the
    // invoke is answered "in progress".
    let hung = std::sync::Arc::new(tokio::sync::Notify::new());
    bed.h.identity.stall_next("find_user", hung.clone());
    let (status, body) = bed
        .send(&bed.approval_action("alice", "approve", &request.id).await)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["value"]
            .as_str()
            .unwrap_or_default()
            .contains("Working on it"),
        "{body}"
    );
    assert_eq!(bed.h.identity.stalled("find_user"), 1);
    assert_eq!(unfinished_work(&bed).await, 1, "the click is recorded");

    // Another replica's outbox pass, after the grace period, runs the approval again.
    bed.deliver().await;
    assert_eq!(
        bed.h.request(&request.id).await.status(),
        RequestStatus::Pending,
        "not within the grace period"
    );
    bed.h.advance(Duration::from_secs(31));
    bed.deliver().await;
    let stored = bed.h.request(&request.id).await;
    assert_eq!(stored.status(), RequestStatus::Active);
    assert_eq!(stored.approvals.len(), 1);
    assert_eq!(
        stored.approvals[0].approver.email.as_str(),
        "alice@corp.com"
    );
    assert_eq!(unfinished_work(&bed).await, 0);

    // The first runner wakes late: its approval is refused, nothing is granted twice.
    hung.notify_one();
    for _ in 0..200 {
        if bed.h.identity.calls("find_user") > 0 && unfinished_work(&bed).await == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stored = bed.h.request(&request.id).await;
    assert_eq!(stored.approvals.len(), 1);
    assert_eq!(
        bed.h
            .identity
            .assignment_count(PROD, "Admin", "u-requester"),
        1
    );
}

#[actix_web::test]
async fn a_reason_cannot_plant_links_or_status_lines_on_the_approval_card() {
    let bed = Bed::new().await;
    let planted = "hotfix\n\n**Approved by the CISO** [runbook](https://evil.example/login)";
    let (status, body) = bed
        .submit_access("requester", PROD, "Admin", "1h", planted)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bed.deliver().await;
    let request = bed.only_request().await;
    assert_eq!(request.reason, planted, "the request keeps what was typed");
    let card = bed.approval_card(&request.id).await;
    let card = card.card().unwrap().to_string();
    assert!(
        card.contains(
            r"hotfix \\*\\*Approved by the CISO\\*\\* \\[runbook\\](https://evil.example/login)"
        ),
        "{card}"
    );
    assert!(!card.contains("**Approved"), "{card}");
}

#[actix_web::test]
async fn guests_cannot_approve_and_records_carry_the_verified_teams_identity() {
    let bed = Bed::new().await;
    let request = bed.request_access("requester", PROD, "Admin", "1h").await;
    // Alice is an approver, but her account here is a B2B guest's.
    let mut guest = crate::support::member("alice");
    guest["userRole"] = json!("guest");
    bed.fake.add_member(guest);
    let (status, body) = bed
        .send(&bed.approval_action("alice", "approve", &request.id).await)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["value"],
        "Sorry, guests of this organization cannot use Liftgate."
    );
    assert_eq!(
        bed.h.request(&request.id).await.status(),
        RequestStatus::Pending
    );

    bed.fake.add_member(crate::support::member("alice"));
    click(&bed, "alice", "approve", &request.id).await;
    bed.deliver().await;
    assert_eq!(
        bed.h.request(&request.id).await.status(),
        RequestStatus::Active
    );
    let records = bed.h.audit.records();
    let caller_of = |event: &str| {
        let record = records
            .iter()
            .find(|record| record.fields.event.as_str() == event)
            .unwrap();
        assert_eq!(record.fields.request_source, "teams");
        serde_json::to_value(&record.fields.verified_caller).unwrap()
    };
    assert_eq!(caller_of("requested")["aad_object_id"], "aad-requester");
    assert_eq!(caller_of("approved")["aad_object_id"], "aad-alice");
    assert_eq!(caller_of("approved")["platform"], "teams");
    assert!(caller_of("approved")["tenant_id"].is_string());
}
