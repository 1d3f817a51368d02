//! Asking for access in a personal chat: the forms, what they offer, how a submission is
//! checked and turned into one request for the verified requester, typeahead, installs.

use actix_web::http::StatusCode;
use liftgate_gateway::domain::{Channel, RequestStatus, RequestTarget};
use liftgate_gateway::testing::{DEV, HarnessOptions, OPS_GROUP, PROD};
use serde_json::{Value, json};

use crate::support::{
    Bed, DocumentRead, button_titles, card_text, choice_values, default_options, find, input,
    personal_chat, redacted,
};

const CARD: &str = "application/vnd.microsoft.card.adaptive";

/// The one card the bot posted in `name`'s personal chat.
fn last_personal_card(bed: &Bed, name: &str) -> Value {
    let posted = bed.personal_cards(name);
    let last = posted
        .last()
        .unwrap_or_else(|| panic!("nothing posted to {name}"));
    last.card()
        .unwrap_or_else(|| panic!("not a card: {}", last.latest()))
        .clone()
}

fn labels(card: &Value) -> Vec<String> {
    card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|element| {
            element["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("Input."))
        })
        .map(|element| element["label"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn access_in_a_personal_chat_answers_with_the_form() {
    let bed = Bed::new().await;
    let (status, body) = bed.send(&bed.message("requester", "access")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::Null, "messages get an empty 200");

    let card = last_personal_card(&bed, "requester");
    assert_eq!(card["version"], "1.5");
    assert_eq!(
        labels(&card),
        [
            "Account",
            "Permission set",
            "Duration",
            "Reason",
            "Start date (UTC, optional)",
            "Start time (UTC, optional)"
        ]
    );
    // Accounts by name, none chosen yet; no permission sets before an account is picked (they
    // follow the account picked on the card, through a dependent search); any duration.
    assert_eq!(choice_values(input(&card, "account")), [DEV, PROD]);
    assert!(input(&card, "account").get("value").is_none());
    assert!(choice_values(input(&card, "permission_set")).is_empty());
    assert_eq!(
        input(&card, "permission_set")["choices.data"],
        json!({ "type": "Data.Query", "dataset": "permission_sets", "associatedInputs": "auto" })
    );
    assert_eq!(
        input(&card, "account")["valueChangedAction"]["targetInputIds"],
        json!(["permission_set"])
    );
    assert_eq!(
        choice_values(input(&card, "duration")),
        ["30m", "1h", "2h", "4h", "8h", "12h"]
    );
    assert_eq!(card["actions"][0]["type"], "Action.Execute");
    assert_eq!(card["actions"][0]["verb"], "access_submit");
    insta::assert_json_snapshot!("access_form", redacted(&card));

    // Who asked came from the member lookup of the verified sender, with encoded ids.
    assert_eq!(
        bed.fake.member_lookups(),
        [(personal_chat("requester"), "29:requester".to_owned())]
    );
    let lookup = bed
        .fake
        .calls()
        .into_iter()
        .find(|call| call.method == "GET")
        .unwrap();
    assert!(
        lookup
            .raw_path
            .ends_with("/v3/conversations/a%3Achat-requester/members/29%3Arequester"),
        "{}",
        lookup.raw_path
    );
    let reference = bed
        .h
        .store
        .get_document_value("teams.users", "requester@corp.com")
        .await
        .unwrap();
    assert_eq!(reference["user_id"], "29:requester");
    assert_eq!(
        reference["personal_conversation_id"],
        personal_chat("requester")
    );
    assert_eq!(reference["aad_object_id"], "aad-requester");
}

#[actix_web::test]
async fn submitting_the_form_creates_one_request_for_the_verified_requester() {
    let bed = Bed::new().await;
    let form_id = uuid::Uuid::new_v4().to_string();
    let submit = bed.personal_action(
        "requester",
        "access_submit",
        json!({
            "form_id": form_id, "account": PROD, "permission_set": "Admin", "duration": "1h",
            "reason": "deploy the hotfix",
            // Card data is the client's: a requester field in it must change nothing.
            "requester": "alice@corp.com", "email": "alice@corp.com",
        }),
    );
    let (status, body) = bed.send(&submit).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["type"], CARD);
    assert!(
        card_text(&body["value"]).contains("Waiting for approval."),
        "{body}"
    );
    insta::assert_json_snapshot!("submitted", redacted(&body["value"]));

    let request = bed.only_request().await;
    assert_eq!(request.requester.email.as_str(), "requester@corp.com");
    assert_eq!(request.requester.teams_id.as_deref(), Some("29:requester"));
    assert_eq!(request.channel, Channel::Teams);
    assert_eq!(request.status(), RequestStatus::Pending);
    assert!(
        matches!(&request.target, RequestTarget::Account { account_id, permission_set, .. }
        if account_id == PROD && permission_set == "Admin")
    );

    // Teams redelivers the same submission: still one request.
    let (status, again) = bed.send(&submit).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["type"], CARD);
    bed.only_request().await;

    bed.deliver().await;
    // The approval card went to the approvals channel as a new thread.
    let created = bed.fake.created_conversations();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["isGroup"], true);
    assert_eq!(
        created[0]["channelData"]["channel"]["id"],
        "19:approvals@thread.tacv2"
    );
    assert_eq!(
        created[0]["channelData"]["tenant"]["id"],
        crate::support::TENANT
    );
    let approval = bed.approval_card(&request.id).await;
    assert_eq!(button_titles(approval.card().unwrap()), ["Approve", "Deny"]);
    // The requester was told in their chat, with a way to withdraw.
    let status_card = last_personal_card(&bed, "requester");
    assert_eq!(button_titles(&status_card), ["Cancel request"]);
    assert!(card_text(&status_card).contains("Approvers: alice@corp.com, bob@corp.com"));
}

#[actix_web::test]
async fn an_account_change_narrows_the_permission_sets() {
    let bed = Bed::new().await;
    let refresh = |account: &str| {
        bed.personal_action(
            "requester",
            "access_refresh",
            json!({ "form_id": uuid::Uuid::new_v4().to_string(), "account": account, "reason": "kept" }),
        )
    };
    let (status, body) = bed.send(&refresh(PROD)).await;
    assert_eq!(status, StatusCode::OK);
    let card = &body["value"];
    assert_eq!(input(card, "account")["value"], PROD);
    assert_eq!(
        choice_values(input(card, "permission_set")),
        ["Admin", "ReadOnly"]
    );
    assert_eq!(
        choice_values(input(card, "duration")),
        ["30m", "1h", "2h", "4h", "8h", "12h"]
    );
    assert_eq!(
        input(card, "reason")["value"],
        "kept",
        "what was typed survives the refresh"
    );

    let (_, body) = bed.send(&refresh(DEV)).await;
    assert_eq!(
        choice_values(input(&body["value"], "permission_set")),
        ["ReadOnly"]
    );
    assert!(bed.all_requests().await.is_empty());
}

/// Submits the form with these fields and returns the card that came back.
async fn submit(bed: &Bed, fields: Value) -> Value {
    let mut data = json!({ "form_id": uuid::Uuid::new_v4().to_string() });
    for (key, value) in fields.as_object().unwrap() {
        data[key] = value.clone();
    }
    let (status, body) = bed
        .send(&bed.personal_action("requester", "access_submit", data))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], CARD, "{body}");
    body["value"].clone()
}

fn field_error(card: &Value, field: &str) -> String {
    let id = format!("{field}_error");
    find(card, &|v| v["id"] == id.as_str())
        .and_then(|block| block["text"].as_str())
        .unwrap_or_else(|| panic!("no error under {field}: {card}"))
        .to_owned()
}

#[actix_web::test]
async fn validation_errors_come_back_on_the_card_and_nothing_is_created() {
    let bed = Bed::new().await;

    let card = submit(
        &bed,
        json!({ "account": PROD, "permission_set": "Admin", "duration": "1h", "reason": "  " }),
    )
    .await;
    assert_eq!(
        field_error(&card, "reason"),
        "Give a reason: it goes to the approvers and the audit log."
    );
    assert_eq!(
        input(&card, "permission_set")["value"],
        "Admin",
        "valid choices are kept"
    );
    insta::assert_json_snapshot!("access_form_with_error", redacted(&card));

    let card = submit(
        &bed,
        json!({ "account": DEV, "permission_set": "Admin", "duration": "1h", "reason": "x" }),
    )
    .await;
    assert_eq!(
        field_error(&card, "permission_set"),
        "Admin cannot be requested on Dev; choose one of: ReadOnly."
    );
    assert_eq!(choice_values(input(&card, "permission_set")), ["ReadOnly"]);

    let card = submit(
        &bed,
        json!({ "account": DEV, "permission_set": "ReadOnly", "duration": "4h", "reason": "x" }),
    )
    .await;
    assert_eq!(
        field_error(&card, "duration"),
        "At most 2 hours for this access."
    );

    let card = submit(&bed, json!({ "account": "333333333333", "permission_set": "ReadOnly", "duration": "1h", "reason": "x" })).await;
    assert_eq!(
        field_error(&card, "account"),
        "You cannot request access to account 333333333333."
    );

    let card = submit(
        &bed,
        json!({ "account": PROD, "permission_set": "Admin", "duration": "forever", "reason": "x" }),
    )
    .await;
    assert_eq!(
        field_error(&card, "duration"),
        "Choose one of the durations offered."
    );

    let card = submit(&bed, json!({ "account": PROD, "permission_set": "Admin", "duration": "1h", "reason": "x", "start_time": "09:00" })).await;
    assert_eq!(
        field_error(&card, "start_date"),
        "Choose a start date for the start time."
    );

    let card = submit(&bed, json!({})).await;
    assert_eq!(field_error(&card, "account"), "Choose an account.");
    assert_eq!(
        field_error(&card, "reason"),
        "Give a reason: it goes to the approvers and the audit log."
    );

    assert!(bed.all_requests().await.is_empty());
    bed.deliver().await;
    assert!(
        bed.fake.created_conversations().is_empty(),
        "no approval card for a refused form"
    );
}

#[actix_web::test]
async fn a_deferred_start_is_passed_to_the_workflow() {
    let bed = Bed::new().await;
    let card = submit(
        &bed,
        json!({ "account": PROD, "permission_set": "ReadOnly", "duration": "1h", "reason": "tomorrow's change",
                "start_date": "2027-01-16", "start_time": "09:30" }),
    )
    .await;
    assert!(
        card_text(&card).contains("Start: 2027-01-16 09:30 UTC"),
        "{card}"
    );
    let request = bed.only_request().await;
    assert_eq!(request.start_at.unwrap().unix_timestamp(), 1_800_091_800);
}

#[actix_web::test]
async fn group_access_offers_the_group_form_and_requests_membership() {
    let bed = Bed::new().await;
    bed.send(&bed.message("requester", "group access")).await;
    let card = last_personal_card(&bed, "requester");
    assert_eq!(labels(&card)[..3], ["Group", "Duration", "Reason"]);
    assert_eq!(choice_values(input(&card, "group")), [OPS_GROUP]);
    insta::assert_json_snapshot!("group_form", redacted(&card));

    let data = json!({ "form_id": uuid::Uuid::new_v4().to_string(), "group": OPS_GROUP, "duration": "2h", "reason": "on call" });
    let (status, body) = bed
        .send(&bed.personal_action("requester", "group_submit", data))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        card_text(&body["value"]).contains("Group: Ops (11111111-2222-3333-4444-555555555555)"),
        "{body}"
    );
    let request = bed.only_request().await;
    assert!(
        matches!(&request.target, RequestTarget::Group { group_id, .. } if group_id == OPS_GROUP)
    );

    let wrong = json!({ "form_id": uuid::Uuid::new_v4().to_string(), "group": "99999999-9999-9999-9999-999999999999",
                        "duration": "2h", "reason": "x" });
    let (_, body) = bed
        .send(&bed.personal_action("requester", "group_submit", wrong))
        .await;
    assert_eq!(
        field_error(&body["value"], "group"),
        "You cannot request membership of group 99999999-9999-9999-9999-999999999999."
    );
    bed.only_request().await;
}

#[actix_web::test]
async fn many_accounts_switch_the_form_to_typeahead() {
    let options = HarnessOptions {
        statements: json!([{ "ResourceType": "Account", "Resource": "*", "PermissionSet": "ReadOnly",
                             "Approvers": ["alice@corp.com"], "AllowedUsers": ["requester@corp.com"] }]),
        ..default_options()
    };
    let bed = Bed::with(options, |_, _| {}).await;
    for n in 0..20 {
        bed.h
            .identity
            .add_account(&format!("3000000000{n:02}"), &format!("Sandbox {n:02}"));
    }
    bed.send(&bed.message("requester", "access")).await;
    let card = last_personal_card(&bed, "requester");
    let account = input(&card, "account");
    assert_eq!(
        account["choices.data"],
        json!({ "type": "Data.Query", "dataset": "accounts" })
    );
    assert_eq!(account["style"], "filtered");
    assert!(account["choices"].as_array().unwrap().len() <= 15);

    let (status, body) = bed
        .send(&bed.search("requester", "accounts", "sandbox 1"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["type"],
        "application/vnd.microsoft.search.searchResponse"
    );
    let results = body["value"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 10, "Sandbox 10 to 19: {body}");
    assert!(
        results
            .iter()
            .all(|r| r["title"].as_str().unwrap().starts_with("Sandbox 1"))
    );
    assert_eq!(
        results[0],
        json!({ "title": "Sandbox 10 (300000000010)", "value": "300000000010" })
    );

    let (_, body) = bed.send(&bed.search("requester", "accounts", "")).await;
    assert_eq!(
        body["value"]["results"].as_array().unwrap().len(),
        15,
        "never more than 15"
    );

    let (_, body) = bed.send(&bed.search("requester", "accounts", "prod")).await;
    assert_eq!(
        body["value"]["results"],
        json!([{ "title": "Prod (111111111111)", "value": PROD }])
    );

    // Someone no rule lets ask finds nothing.
    let (_, body) = bed.send(&bed.search("carol", "accounts", "sandbox")).await;
    assert_eq!(body["value"]["results"], json!([]));
}

#[actix_web::test]
async fn people_the_bot_cannot_place_are_told_why() {
    let bed = Bed::new().await;
    let mut stranger = crate::support::bed::member("stranger");
    stranger["email"] = json!("stranger@corp.com");
    bed.fake.add_member(stranger);
    bed.send(&bed.message("stranger", "access")).await;
    let answer = bed.fake.posted_in(&personal_chat("stranger"));
    assert_eq!(
        answer[0].latest()["text"],
        "Sorry, there is no AWS Identity Center user with your email (stranger@corp.com)."
    );

    let mut anonymous = crate::support::bed::member("anon");
    anonymous["userRole"] = json!("anonymous");
    anonymous.as_object_mut().unwrap().remove("email");
    anonymous
        .as_object_mut()
        .unwrap()
        .remove("userPrincipalName");
    bed.fake.add_member(anonymous);
    bed.send(&bed.message("anon", "access")).await;
    let answer = bed.fake.posted_in(&personal_chat("anon"));
    assert!(
        answer[0].latest()["text"]
            .as_str()
            .unwrap()
            .contains("no email address")
    );

    // Someone Teams does not know at all.
    bed.send(&bed.message("ghost", "access")).await;
    let answer = bed.fake.posted_in(&personal_chat("ghost"));
    assert_eq!(
        answer[0].latest()["text"],
        "Sorry, I could not look you up in Teams."
    );
    assert!(bed.all_requests().await.is_empty());
}

#[actix_web::test]
async fn the_principal_name_serves_when_teams_has_no_email() {
    let bed = Bed::new().await;
    let mut dave = crate::support::bed::member("dave-upn");
    dave.as_object_mut().unwrap().remove("email");
    dave["userPrincipalName"] = json!("Dave@Corp.com");
    bed.fake.add_member(dave);
    bed.send(&bed.message("dave-upn", "access")).await;
    assert!(last_personal_card(&bed, "dave-upn")["body"].is_array());
    let reference = bed
        .h
        .store
        .get_document_value("teams.users", "dave@corp.com")
        .await
        .unwrap();
    assert_eq!(reference["user_id"], "29:dave-upn");
}

#[actix_web::test]
async fn channel_messages_point_to_the_personal_chat_and_others_get_help() {
    let bed = Bed::new().await;
    let mut mention = bed.message("requester", "<at>Liftgate</at> access");
    mention["conversation"] = json!({ "id": "19:approvals@thread.tacv2;messageid=1", "conversationType": "channel",
                                      "tenantId": crate::support::TENANT });
    bed.send(&mention).await;
    let answers = bed.fake.posted_in("19:approvals@thread.tacv2;messageid=1");
    assert!(
        answers[0].latest()["text"]
            .as_str()
            .unwrap()
            .starts_with("Requests are made in a personal chat")
    );
    assert!(
        bed.fake.member_lookups().is_empty(),
        "nobody is looked up for a pointer"
    );

    bed.send(&bed.message("requester", "what can you do?"))
        .await;
    let answers = bed.fake.posted_in(&personal_chat("requester"));
    assert!(
        answers[0].latest()["text"]
            .as_str()
            .unwrap()
            .starts_with("Write \"access\"")
    );
}

#[actix_web::test]
async fn installing_the_app_records_the_person_and_greets_them() {
    let bed = Bed::new().await;
    let (status, _) = bed.send(&bed.install("requester")).await;
    assert_eq!(status, StatusCode::OK);
    let reference = bed
        .h
        .store
        .get_document_value("teams.users", "requester@corp.com")
        .await
        .unwrap();
    assert_eq!(
        reference["personal_conversation_id"],
        personal_chat("requester")
    );
    assert_eq!(reference["service_url"], bed.service_url());
    let greeting = bed.fake.posted_in(&personal_chat("requester"));
    assert!(
        greeting[0].latest()["text"]
            .as_str()
            .unwrap()
            .starts_with("Hi!")
    );

    // Someone else joining a chat the bot is in is not an install.
    let mut other = bed.install("alice");
    other["membersAdded"] = json!([{ "id": "29:carol" }]);
    bed.send(&other).await;
    assert!(
        bed.h
            .store
            .get_document_value("teams.users", "alice@corp.com")
            .await
            .is_none()
    );
}

#[actix_web::test]
async fn malformed_and_unknown_invokes_are_answered_like_the_sdk() {
    let bed = Bed::new().await;
    let mut no_action = bed.personal_action("requester", "approve", json!({}));
    no_action["value"] = json!({ "trigger": "manual" });
    let (status, body) = bed.send(&no_action).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "application/vnd.microsoft.error");

    let (status, body) = bed
        .send(&bed.personal_action("requester", "make_me_admin", json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["value"]["message"], "unknown action \"make_me_admin\"");

    let (status, _) = bed
        .send(&bed.personal_action("requester", "approve", json!({ "request_id": "../etc" })))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let mut other = bed.personal_action("requester", "approve", json!({}));
    other["name"] = json!("composeExtension/query");
    let (status, _) = bed.send(&other).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(bed.all_requests().await.is_empty());
}
