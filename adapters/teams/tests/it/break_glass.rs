//! Break-glass from Teams (docs/reference.md §3, §6): the form's toggle, the loud approval
//! card with Acknowledge / Flag for the reviewers, their clicks, and the escalation of an
//! unreviewed use.

use std::time::Duration;

use actix_web::http::StatusCode;
use liftgate_gateway::domain::{AccessRequest, RequestId, RequestStatus, ReviewOutcome};
use liftgate_gateway::ports::Clock;
use liftgate_gateway::testing::{HarnessOptions, PROD};
use liftgate_policy::Decision;
use serde_json::{Value, json};

use crate::support::{Bed, button_titles, card_text, default_options, find};

const CARD: &str = "application/vnd.microsoft.card.adaptive";

/// The default rules, plus break-glass Admin on Prod for the requester, reviewed by alice
/// and bob.
fn options() -> HarnessOptions {
    let mut options = default_options();
    options.statements.as_array_mut().unwrap().push(json!({
        "ResourceType": "Account", "Resource": [PROD], "PermissionSet": ["Admin"],
        "BreakGlass": true, "AllowedUsers": ["requester@corp.com"],
        "Approvers": ["alice@corp.com", "bob@corp.com"],
    }));
    options
}

/// The reviewers installed the app, so the bot can write to them directly.
async fn bed() -> Bed {
    let bed = Bed::with(options(), |_, _| {}).await;
    for reviewer in ["alice", "bob"] {
        let (status, _) = bed.send(&bed.install(reviewer)).await;
        assert_eq!(status, StatusCode::OK);
    }
    bed
}

fn submission(extra: Value) -> Value {
    let mut data = json!({
        "form_id": uuid::Uuid::new_v4().to_string(),
        "account": PROD, "permission_set": "Admin", "duration": "1h",
        "reason": "INC-7 database down", "break_glass": "true",
    });
    for (key, value) in extra.as_object().unwrap() {
        data[key] = value.clone();
    }
    data
}

/// The requester submits the form with "Break glass" on.
async fn break_glass(bed: &Bed) -> AccessRequest {
    let (status, body) = bed
        .send(&bed.personal_action("requester", "access_submit", submission(json!({}))))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], CARD, "{body}");
    bed.deliver().await;
    bed.only_request().await
}

async fn click(bed: &Bed, who: &str, verb: &str, request: &RequestId) -> Value {
    let (status, body) = bed
        .send(&bed.approval_action(who, verb, request).await)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], CARD, "{body}");
    body["value"].clone()
}

fn admin_assignments(bed: &Bed) -> u32 {
    bed.h
        .identity
        .assignment_count(PROD, "Admin", "u-requester")
}

fn last_personal_card(bed: &Bed, name: &str) -> Value {
    bed.personal_cards(name)
        .iter()
        .filter_map(|activity| activity.card().cloned())
        .next_back()
        .unwrap_or_else(|| panic!("no card in {name}'s chat"))
}

fn has_input(card: &Value, id: &str) -> bool {
    find(card, &|value| value["id"] == id).is_some()
}

#[actix_web::test]
async fn a_break_glass_request_is_granted_at_once_loudly_and_every_reviewer_is_told() {
    let bed = bed().await;
    let request = break_glass(&bed).await;
    assert_eq!(request.status(), RequestStatus::Active);
    assert_eq!(request.decision, Decision::BreakGlass);
    assert_eq!(admin_assignments(&bed), 1);

    let shared = bed.approval_card(&request.id).await;
    let card = shared.card().unwrap();
    let text = card_text(card);
    assert!(
        text.contains("BREAK GLASS: access granted without approval; review required by"),
        "{text}"
    );
    let banner = find(card, &|value| value["type"] == "Container").unwrap();
    assert_eq!(banner["style"], "attention");
    assert!(
        card.to_string().contains(r#""title":"Reviewers""#),
        "{card}"
    );
    assert!(
        !card.to_string().contains(r#""title":"Approvers""#),
        "{card}"
    );
    assert_eq!(button_titles(card), ["Acknowledge", "Flag"]);
    assert_eq!(card["actions"][1]["style"], "destructive");
    for reviewer in ["alice", "bob"] {
        let copy = last_personal_card(&bed, reviewer);
        assert_eq!(button_titles(&copy), ["Acknowledge", "Flag"], "{reviewer}");
    }
    let told = last_personal_card(&bed, "requester");
    assert!(card_text(&told).contains("BREAK GLASS"), "{told}");
    assert!(!button_titles(&told).contains(&"Acknowledge".to_owned()));
}

#[actix_web::test]
async fn a_reviewer_flags_the_use_and_the_access_ends() {
    let bed = bed().await;
    let request = break_glass(&bed).await;
    let answer = click(&bed, "alice", "flag", &request.id).await;
    let text = card_text(&answer);
    assert!(text.contains("You flagged this break-glass use"), "{text}");
    assert!(text.contains("Flagged by alice@corp.com."), "{text}");
    assert!(button_titles(&answer).is_empty(), "{answer}");
    bed.deliver().await;

    let stored = bed.h.request(&request.id).await;
    let review = stored.break_glass.clone().unwrap().reviewed.unwrap();
    assert_eq!(review.outcome, ReviewOutcome::Flagged);
    assert!(
        stored.status() == RequestStatus::Ended || stored.is_ending(),
        "{:?}",
        stored.status()
    );
    assert_eq!(admin_assignments(&bed), 0);
    let shared = bed.approval_card(&request.id).await;
    let card = shared.card().unwrap();
    assert!(card_text(card).contains("Flagged by alice@corp.com."));
    assert!(button_titles(card).is_empty());
}

#[actix_web::test]
async fn the_requester_and_non_reviewers_cannot_review_and_nothing_changes() {
    let bed = bed().await;
    let request = break_glass(&bed).await;
    for clicker in ["requester", "carol"] {
        let answer = click(&bed, clicker, "acknowledge", &request.id).await;
        let text = card_text(&answer);
        assert!(!text.contains("You acknowledged"), "{clicker}: {text}");
        assert!(text.contains("review"), "{clicker}: {text}");
        let error = find(&answer, &|value| {
            value["color"] == "Attention" && value["type"] == "TextBlock"
        });
        assert!(error.is_some(), "{clicker}: {answer}");
    }
    bed.deliver().await;
    let stored = bed.h.request(&request.id).await;
    assert!(stored.break_glass.as_ref().unwrap().is_pending());
    assert_eq!(stored.status(), RequestStatus::Active);
    assert_eq!(admin_assignments(&bed), 1);
    let card = bed.approval_card(&request.id).await;
    assert_eq!(button_titles(card.card().unwrap()), ["Acknowledge", "Flag"]);
}

#[actix_web::test]
async fn the_break_glass_toggle_is_offered_only_to_someone_who_may_use_it() {
    let bed = bed().await;
    bed.send(&bed.message("requester", "access")).await;
    let offered = last_personal_card(&bed, "requester");
    let toggle = find(&offered, &|value| value["id"] == "break_glass").unwrap();
    assert_eq!(toggle["type"], "Input.Toggle");
    bed.send(&bed.message("dave", "access")).await;
    let form = last_personal_card(&bed, "dave");
    assert!(has_input(&form, "account"), "{form}");
    assert!(!has_input(&form, "break_glass"), "{form}");
}

#[actix_web::test]
async fn a_deferred_break_glass_is_refused_under_the_start_and_ordinary_cards_are_unchanged() {
    let bed = bed().await;
    let data = submission(json!({ "start_date": "2027-01-16", "start_time": "09:00" }));
    let (status, body) = bed
        .send(&bed.personal_action("requester", "access_submit", data))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let error = find(&body["value"], &|value| value["id"] == "start_date_error").unwrap();
    assert!(
        error["text"]
            .as_str()
            .unwrap()
            .contains("Break-glass access starts now"),
        "{error}"
    );
    assert!(bed.all_requests().await.is_empty());

    let request = bed
        .request_access("requester", PROD, "ReadOnly", "1h")
        .await;
    let shared = bed.approval_card(&request.id).await;
    let card = shared.card().unwrap();
    assert!(!card_text(card).contains("BREAK GLASS"));
    assert!(card.to_string().contains(r#""title":"Approvers""#));
    assert_eq!(button_titles(card), ["Approve", "Deny"]);
}

#[actix_web::test]
async fn an_unreviewed_use_escalates_in_the_thread_and_to_every_reviewer() {
    let bed = bed().await;
    let request = break_glass(&bed).await;
    let due = request.break_glass.as_ref().unwrap().due_at;
    let wait = u64::try_from((due - bed.h.clock.now()).whole_seconds()).unwrap() + 1;
    bed.h.advance(Duration::from_secs(wait));
    bed.deliver().await;
    assert_eq!(
        bed.h
            .request(&request.id)
            .await
            .break_glass
            .unwrap()
            .escalations,
        1
    );
    let texts: Vec<String> = bed
        .fake
        .activities()
        .iter()
        .filter_map(|activity| activity.latest()["text"].as_str().map(str::to_owned))
        .filter(|text| text.contains("still unreviewed"))
        .collect();
    // One in the approval card's thread, one to each reviewer.
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(
        texts[0].contains("the review is overdue (escalation 1)"),
        "{texts:?}"
    );
    assert!(!texts[0].contains("waiting for approval"), "{texts:?}");
}
