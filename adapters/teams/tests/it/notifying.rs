//! The `teams` notifier: approval cards for requests from any channel, idempotent delivery,
//! reminders, group chats, reposting a lost card, and reaching requesters proactively.

use std::time::Duration;

use liftgate_gateway::domain::{AccessRequest, Channel};
use liftgate_gateway::ports::{Notice, NoticeKind, NotifyError, StateStore};
use liftgate_gateway::testing::{PROD, person};
use liftgate_gateway::workflow::{NewRequest, TargetInput};
use liftgate_policy::Duration as PolicyDuration;
use serde_json::json;

use crate::support::{Bed, Injected, button_titles, card_text, personal_chat};

async fn create(bed: &Bed, channel: Channel) -> AccessRequest {
    bed.h
        .service
        .create(NewRequest {
            requester: person("requester@corp.com"),
            target: TargetInput::Account {
                account_id: PROD.to_owned(),
                permission_set: "Admin".to_owned(),
            },
            duration: PolicyDuration::from_hours(1),
            reason: "made elsewhere".to_owned(),
            channel,
            start_at: None,
            extends: None,
            idempotency_key: None,
            break_glass: false,
        })
        .await
        .unwrap()
}

fn notice(kind: NoticeKind, request: &AccessRequest) -> Notice {
    Notice {
        kind,
        request: request.clone(),
        grant: None,
    }
}

#[actix_web::test]
async fn requests_from_any_channel_get_an_approval_card_and_can_be_approved_in_teams() {
    let bed = Bed::new().await;
    let request = create(&bed, Channel::Webhook).await;
    bed.deliver().await;
    let card = bed.approval_card(&request.id).await;
    assert_eq!(button_titles(card.card().unwrap()), ["Approve", "Deny"]);
    assert!(card_text(card.card().unwrap()).contains("Requester: requester@corp.com"));
    // The requester has never talked to the bot: nobody to tell, nothing else sent.
    assert_eq!(bed.fake.created_conversations().len(), 1);
    assert!(bed.personal_cards("requester").is_empty());

    // Once they install the app, they hear of the next step.
    bed.send(&bed.install("requester")).await;
    let (status, _) = bed
        .send(&bed.approval_action("alice", "approve", &request.id).await)
        .await;
    assert!(status.is_success());
    bed.deliver().await;
    let cards: Vec<_> = bed
        .personal_cards("requester")
        .into_iter()
        .filter(|a| a.card().is_some())
        .collect();
    assert_eq!(cards.len(), 1);
    assert!(card_text(cards[0].card().unwrap()).contains("Granted by alice@corp.com"));
}

#[actix_web::test]
async fn delivering_a_notice_twice_changes_nothing_visible() {
    let bed = Bed::new().await;
    bed.send(&bed.install("requester")).await;
    let request = create(&bed, Channel::Teams).await;
    bed.notifier
        .notify(&notice(NoticeKind::Created, &request))
        .await
        .unwrap();
    bed.notifier
        .notify(&notice(NoticeKind::Created, &request))
        .await
        .unwrap();
    bed.notifier
        .notify(&notice(NoticeKind::Updated, &request))
        .await
        .unwrap();
    assert_eq!(
        bed.fake.created_conversations().len(),
        1,
        "one approval card"
    );
    assert_eq!(
        bed.approval_card(&request.id).await.versions.len(),
        3,
        "then updated in place"
    );
    let personal: Vec<_> = bed
        .personal_cards("requester")
        .into_iter()
        .filter(|a| a.card().is_some())
        .collect();
    assert_eq!(personal.len(), 1, "one status message for one step");
    assert_eq!(personal[0].versions.len(), 3);
}

#[actix_web::test]
async fn an_update_with_no_card_yet_posts_it() {
    let bed = Bed::new().await;
    let request = create(&bed, Channel::Webhook).await;
    // The Created notice never reached Teams (e.g. Teams was enabled after the request).
    bed.notifier
        .notify(&notice(NoticeKind::Updated, &request))
        .await
        .unwrap();
    assert_eq!(bed.fake.created_conversations().len(), 1);
    assert_eq!(
        button_titles(bed.approval_card(&request.id).await.card().unwrap()),
        ["Approve", "Deny"]
    );
}

#[actix_web::test]
async fn a_card_deleted_in_teams_is_posted_again() {
    let bed = Bed::new().await;
    let request = create(&bed, Channel::Webhook).await;
    bed.deliver().await;
    let mut reference = bed.approval_reference(&request.id).await;
    reference["activity_id"] = json!("deleted-activity");
    bed.h
        .store
        .put_document("teams.approval_cards", request.id.as_str(), &reference)
        .await
        .unwrap();
    bed.notifier
        .notify(&notice(NoticeKind::Updated, &request))
        .await
        .unwrap();
    assert_eq!(bed.fake.created_conversations().len(), 2);
    assert_ne!(
        bed.approval_reference(&request.id).await["activity_id"],
        "deleted-activity"
    );
}

#[actix_web::test]
async fn reminders_are_posted_once_in_the_cards_thread() {
    let bed = Bed::new().await;
    let request = create(&bed, Channel::Teams).await;
    bed.deliver().await;
    bed.h.advance(Duration::from_secs(16 * 60));
    let report = bed.h.sweep().await;
    assert_eq!(report.reminded, 1);
    bed.deliver().await;
    let thread = bed.approval_reference(&request.id).await["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reminders: Vec<_> = bed
        .fake
        .posted_in(&thread)
        .into_iter()
        .filter(|a| a.latest()["text"].is_string())
        .collect();
    assert_eq!(reminders.len(), 1);
    let text = reminders[0].latest()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("Reminder: requester@corp.com asks for Admin on Prod (111111111111)"),
        "{text}"
    );
    assert!(
        text.contains("(0 of 1; awaited: alice@corp.com, bob@corp.com)"),
        "{text}"
    );

    // The same reminder delivered again is not posted again.
    let reminded = bed.h.request(&request.id).await;
    bed.notifier
        .notify(&notice(NoticeKind::Reminder, &reminded))
        .await
        .unwrap();
    let again: Vec<_> = bed
        .fake
        .posted_in(&thread)
        .into_iter()
        .filter(|a| a.latest()["text"].is_string())
        .collect();
    assert_eq!(again.len(), 1);
}

#[actix_web::test]
async fn requests_made_in_slack_are_not_followed_up_in_teams() {
    let bed = Bed::new().await;
    bed.send(&bed.install("requester")).await;
    let request = create(&bed, Channel::Slack).await;
    bed.deliver().await;
    bed.approval_card(&request.id).await;
    assert!(
        bed.personal_cards("requester")
            .iter()
            .all(|a| a.card().is_none()),
        "only the greeting"
    );
}

#[actix_web::test]
async fn a_group_chat_gets_the_card_as_a_message() {
    let bed = Bed::with(crate::support::default_options(), |settings, _| {
        settings.approvals_conversation_id = "19:ops-chat@thread.v2".to_owned();
    })
    .await;
    let request = create(&bed, Channel::Webhook).await;
    bed.deliver().await;
    assert!(bed.fake.created_conversations().is_empty());
    let posted = bed.fake.posted_in("19:ops-chat@thread.v2");
    assert_eq!(posted.len(), 1);
    assert!(
        bed.fake.calls()[0]
            .raw_path
            .contains("/v3/conversations/19%3Aops-chat%40thread.v2/activities")
    );
    bed.h
        .service
        .approve(
            &request.id,
            &person("alice@corp.com"),
            Channel::Webhook,
            None,
        )
        .await
        .unwrap();
    bed.deliver().await;
    let card = &bed.fake.posted_in("19:ops-chat@thread.v2")[0];
    assert_eq!(
        card.versions.len(),
        3,
        "updated in place: approved, then granted"
    );
    assert!(button_titles(card.card().unwrap()).is_empty());
}

#[actix_web::test]
async fn a_known_person_without_a_chat_gets_a_new_one() {
    let bed = Bed::new().await;
    // Seen in a channel only: their id is known, their personal chat is not.
    let reference = json!({ "email": "requester@corp.com", "user_id": "29:requester", "service_url": bed.service_url() });
    bed.h
        .store
        .put_document("teams.users", "requester@corp.com", &reference)
        .await
        .unwrap();
    create(&bed, Channel::Webhook).await;
    bed.deliver().await;
    let one_to_one = bed
        .fake
        .created_conversations()
        .into_iter()
        .find(|c| c["isGroup"] == false)
        .unwrap();
    assert_eq!(one_to_one["members"], json!([{ "id": "29:requester" }]));
    assert_eq!(
        one_to_one["bot"]["id"],
        format!("28:{}", crate::support::APP_ID)
    );
    assert_eq!(one_to_one["tenantId"], crate::support::TENANT);
    let chat = "a:personal-29:requester";
    assert_eq!(bed.fake.posted_in(chat).len(), 1);
    let stored = bed
        .h
        .store
        .get_document("teams.users", "requester@corp.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored["personal_conversation_id"], chat,
        "the new chat is remembered"
    );
}

#[actix_web::test]
async fn a_requester_who_blocked_the_bot_does_not_hold_up_the_approval_card() {
    let bed = Bed::new().await;
    bed.send(&bed.install("requester")).await;
    let request = create(&bed, Channel::Teams).await;
    bed.fake.inject(Injected {
        method: Some("POST"),
        path_contains: Some("a%3Achat-requester"),
        status: 403,
        retry_after: None,
    });
    bed.notifier
        .notify(&notice(NoticeKind::Created, &request))
        .await
        .unwrap();
    bed.approval_card(&request.id).await;
    let blocked = bed
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.segments.get(2) == Some(&personal_chat("requester")))
        .count();
    assert_eq!(
        blocked, 2,
        "the greeting, then the refused status card (403 is not retried)"
    );
    assert!(
        bed.h
            .store
            .get_document("teams.requester_cards", request.id.as_str())
            .await
            .unwrap()
            .is_none()
    );
}

#[actix_web::test]
async fn a_teams_outage_is_retried_later_through_the_outbox() {
    let bed = Bed::new().await;
    let request = create(&bed, Channel::Webhook).await;
    for _ in 0..4 {
        bed.fake.inject(Injected {
            method: None,
            path_contains: None,
            status: 502,
            retry_after: None,
        });
    }
    let result = bed
        .notifier
        .notify(&notice(NoticeKind::Created, &request))
        .await;
    assert!(
        matches!(result, Err(NotifyError::Retryable(_))),
        "{result:?}"
    );
    assert_eq!(
        bed.pause.waits.lock().unwrap().len(),
        3,
        "three retries after the first attempt"
    );
    bed.notifier
        .notify(&notice(NoticeKind::Created, &request))
        .await
        .unwrap();
    assert_eq!(
        button_titles(bed.approval_card(&request.id).await.card().unwrap()),
        ["Approve", "Deny"]
    );
}

#[actix_web::test]
async fn requests_the_rules_refuse_are_shown_to_the_approvers_and_told_to_the_requester() {
    let bed = Bed::new().await;
    bed.send(&bed.install("requester")).await;
    // No rule covers Admin on Dev.
    let request = bed
        .h
        .service
        .create(NewRequest {
            requester: person("requester@corp.com"),
            target: TargetInput::Account {
                account_id: "222222222222".to_owned(),
                permission_set: "Admin".to_owned(),
            },
            duration: PolicyDuration::from_hours(1),
            reason: "no rule".to_owned(),
            channel: Channel::Teams,
            start_at: None,
            extends: None,
            idempotency_key: None,
            break_glass: false,
        })
        .await
        .unwrap();
    bed.deliver().await;
    // Attempts are visible where the approvers are (the same on every chat platform).
    let card = bed.approval_card(&request.id).await;
    let card = card.card().unwrap();
    assert!(button_titles(card).is_empty(), "nothing to approve");
    assert!(card_text(card).contains("no rule covers this account and permission set"));
    let told: Vec<_> = bed
        .personal_cards("requester")
        .into_iter()
        .filter_map(|a| a.card().cloned())
        .collect();
    assert_eq!(told.len(), 1);
    assert!(
        card_text(&told[0]).contains("Denied: no rule covers this account and permission set."),
        "{}",
        told[0]
    );
    assert!(button_titles(&told[0]).is_empty());
}

#[actix_web::test]
async fn approval_cards_use_the_service_url_teams_gave_for_the_team() {
    // The configured default points nowhere; only what Teams told us can work.
    let bed = Bed::with(crate::support::default_options(), |settings, _| {
        settings.service_url = "http://127.0.0.1:9/teams/".to_owned();
    })
    .await;
    let request = create(&bed, Channel::Webhook).await;
    let failed = bed
        .notifier
        .notify(&notice(NoticeKind::Created, &request))
        .await;
    assert!(
        matches!(failed, Err(NotifyError::Retryable(_))),
        "{failed:?}"
    );

    let (status, _) = bed.send(&bed.team_install("alice")).await;
    assert!(status.is_success());
    let known = bed
        .h
        .store
        .get_document("teams.conversations", "19:approvals@thread.tacv2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(known["service_url"], bed.service_url());
    bed.notifier
        .notify(&notice(NoticeKind::Created, &request))
        .await
        .unwrap();
    assert_eq!(
        bed.approval_reference(&request.id).await["service_url"],
        bed.service_url()
    );
}
