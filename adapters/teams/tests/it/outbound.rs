//! Calls to Microsoft: the bot's token (client credentials, cached per lifetime, refreshed
//! before expiry, refused credentials), Connector retries (429 with and without Retry-After,
//! 412, 502, 504; bounded), errors that are not retried, and the service-URL allow-list.

use std::time::Duration;

use liftgate_gateway::domain::{AccessRequest, Channel};
use liftgate_gateway::ports::{Notice, NoticeKind, NotifyError, StateStore};
use liftgate_gateway::testing::{Harness, PROD, person};
use liftgate_gateway::workflow::{NewRequest, TargetInput};
use liftgate_teams::{TeamsAdapter, TeamsError};
use serde_json::json;

use crate::support::bed::settings_for;
use crate::support::fake_microsoft::FakeMicrosoft;
use crate::support::{Bed, Injected, TENANT, button_titles, default_options};

async fn pending_request(bed: &Bed) -> AccessRequest {
    bed.h
        .service
        .create(NewRequest {
            requester: person("requester@corp.com"),
            target: TargetInput::Account {
                account_id: PROD.to_owned(),
                permission_set: "ReadOnly".to_owned(),
            },
            duration: liftgate_policy::Duration::from_hours(1),
            reason: "outbound".to_owned(),
            channel: Channel::Webhook,
            start_at: None,
            extends: None,
            idempotency_key: None,
            break_glass: false,
        })
        .await
        .unwrap()
}

async fn notify(bed: &Bed, request: &AccessRequest) -> Result<(), NotifyError> {
    bed.notifier
        .notify(&Notice {
            kind: NoticeKind::Updated,
            request: request.clone(),
            grant: None,
        })
        .await
}

fn inject(bed: &Bed, status: u16, retry_after: Option<u64>) {
    bed.fake.inject(Injected {
        method: None,
        path_contains: None,
        status,
        retry_after,
    });
}

#[actix_web::test]
async fn the_token_is_fetched_once_per_lifetime_and_refreshed_before_expiry() {
    let bed = Bed::new().await;
    bed.fake.set_token_lifetime(600);
    let request = pending_request(&bed).await;
    for _ in 0..3 {
        notify(&bed, &request).await.unwrap();
        bed.send(&bed.message("requester", "help")).await;
    }
    assert!(bed.fake.calls().len() >= 9);
    assert_eq!(bed.fake.token_calls(), 1, "one token for all calls");

    // Refreshed five minutes before it expires (600 s lifetime → after 300 s).
    bed.h.advance(Duration::from_secs(240));
    notify(&bed, &request).await.unwrap();
    assert_eq!(bed.fake.token_calls(), 1);
    bed.h.advance(Duration::from_secs(61));
    notify(&bed, &request).await.unwrap();
    assert_eq!(bed.fake.token_calls(), 2);

    // Past the whole lifetime the fake Connector would refuse the old token; the new one works.
    bed.h.advance(Duration::from_secs(3600));
    notify(&bed, &request).await.unwrap();
    assert_eq!(bed.fake.token_calls(), 3);
}

#[actix_web::test]
async fn a_refused_token_is_replaced_once() {
    let bed = Bed::new().await;
    let request = pending_request(&bed).await;
    notify(&bed, &request).await.unwrap();
    inject(&bed, 401, None);
    notify(&bed, &request).await.unwrap();
    assert_eq!(bed.fake.token_calls(), 2);
}

#[actix_web::test]
async fn a_wrong_secret_is_refused_and_nothing_reaches_teams() {
    let bed = Bed::with(default_options(), |settings, _| {
        settings.app_password = liftgate_gateway::config::Secret::new("wrong secret");
    })
    .await;
    let request = pending_request(&bed).await;
    let result = notify(&bed, &request).await;
    assert!(
        matches!(&result, Err(NotifyError::Permanent(message)) if message.contains("invalid_client")),
        "{result:?}"
    );
    assert_eq!(bed.fake.token_calls(), 1);
    assert!(bed.fake.calls().is_empty());
}

#[actix_web::test]
async fn a_token_url_for_another_tenant_fails() {
    let bed = Bed::with(default_options(), |settings, _| {
        let url = settings
            .token_url
            .clone()
            .unwrap()
            .replace(TENANT, "botframework.com");
        settings.token_url = Some(url);
    })
    .await;
    let request = pending_request(&bed).await;
    assert!(matches!(
        notify(&bed, &request).await,
        Err(NotifyError::Permanent(_))
    ));
    assert!(bed.fake.calls().is_empty());
}

#[actix_web::test]
async fn throttling_honours_retry_after() {
    let bed = Bed::new().await;
    let request = pending_request(&bed).await;
    inject(&bed, 429, Some(3));
    notify(&bed, &request).await.unwrap();
    assert_eq!(*bed.pause.waits.lock().unwrap(), [Duration::from_secs(3)]);
    assert_eq!(bed.fake.calls().len(), 2);
    assert_eq!(
        button_titles(bed.approval_card(&request.id).await.card().unwrap()),
        ["Approve", "Deny"]
    );
}

#[actix_web::test]
async fn throttling_without_retry_after_backs_off_exponentially() {
    let bed = Bed::new().await;
    let request = pending_request(&bed).await;
    inject(&bed, 429, None);
    inject(&bed, 412, None);
    inject(&bed, 504, None);
    notify(&bed, &request).await.unwrap();
    let waits = bed.pause.waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 3);
    for (wait, base) in waits.iter().zip([500u64, 1000, 2000]) {
        let base = Duration::from_millis(base);
        assert!(
            *wait >= base && *wait <= base.mul_f64(1.25),
            "{wait:?} for base {base:?}"
        );
    }
}

#[actix_web::test]
async fn retries_are_bounded_and_long_waits_are_left_to_the_outbox() {
    let bed = Bed::new().await;
    let request = pending_request(&bed).await;
    for _ in 0..4 {
        inject(&bed, 502, None);
    }
    assert!(matches!(
        notify(&bed, &request).await,
        Err(NotifyError::Retryable(_))
    ));
    assert_eq!(bed.fake.calls().len(), 4);

    inject(&bed, 429, Some(3600));
    let waits_before = bed.pause.waits.lock().unwrap().len();
    assert!(matches!(
        notify(&bed, &request).await,
        Err(NotifyError::Retryable(_))
    ));
    assert_eq!(
        bed.pause.waits.lock().unwrap().len(),
        waits_before,
        "no hour-long wait inline"
    );

    notify(&bed, &request).await.unwrap();
}

#[actix_web::test]
async fn forbidden_is_not_retried() {
    let bed = Bed::new().await;
    let request = pending_request(&bed).await;
    inject(&bed, 403, None);
    assert!(matches!(
        notify(&bed, &request).await,
        Err(NotifyError::Permanent(_))
    ));
    assert_eq!(bed.fake.calls().len(), 1);
    assert!(bed.pause.waits.lock().unwrap().is_empty());
}

#[actix_web::test]
async fn conversation_ids_travel_percent_encoded() {
    let bed = Bed::new().await;
    let request = pending_request(&bed).await;
    notify(&bed, &request).await.unwrap();
    notify(&bed, &request).await.unwrap();
    let put = bed
        .fake
        .calls()
        .into_iter()
        .find(|c| c.method == "PUT")
        .unwrap();
    assert!(
        put.raw_path
            .starts_with("/teams/v3/conversations/19%3Aapprovals%40thread.tacv2%3Bmessageid%3D"),
        "{}",
        put.raw_path
    );
    let reference = bed.approval_reference(&request.id).await;
    assert_eq!(put.segments[2], reference["conversation_id"]);
    // A full replacement activity carrying its own id and the card.
    assert_eq!(put.body["type"], "message");
    assert_eq!(put.body["id"], reference["activity_id"]);
    assert_eq!(
        put.body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
}

#[actix_web::test]
async fn stored_service_urls_outside_the_allow_list_are_never_called() {
    let bed = Bed::new().await;
    let reference = json!({ "email": "requester@corp.com", "user_id": "29:requester",
                            "service_url": "https://evil.example.com/teams/", "personal_conversation_id": "a:chat-requester" });
    bed.h
        .store
        .put_document("teams.users", "requester@corp.com", &reference)
        .await
        .unwrap();
    let request = pending_request(&bed).await;
    // The approval card goes out; the requester's stored URL is refused, so they are not told.
    notify(&bed, &request).await.unwrap();
    assert!(
        bed.fake
            .calls()
            .iter()
            .all(|c| c.segments.get(2).map(String::as_str) != Some("a:chat-requester"))
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
async fn settings_that_cannot_work_are_refused_at_startup() {
    let h = Harness::new(default_options());
    let fake = FakeMicrosoft::start(h.clock.clone(), TENANT, "app", "secret").await;
    type Change = Box<dyn Fn(&mut liftgate_gateway::config::TeamsSettings)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "service_url",
            Box::new(|s| s.service_url = "https://evil.example.com/teams/".to_owned()),
        ),
        (
            "service_url",
            Box::new(|s| {
                s.service_url = "http://smba.trafficmanager.net/teams/".to_owned();
                s.allowed_service_url_hosts = vec!["smba.trafficmanager.net".to_owned()];
            }),
        ),
        ("app_id", Box::new(|s| s.app_id = " ".to_owned())),
        (
            "app_password",
            Box::new(|s| s.app_password = liftgate_gateway::config::Secret::new("")),
        ),
        (
            "approvals_conversation_id",
            Box::new(|s| s.approvals_conversation_id = String::new()),
        ),
        (
            "token_url",
            Box::new(|s| s.token_url = Some("not a url".to_owned())),
        ),
        (
            "token_url",
            // The client secret never travels in clear text to another machine.
            Box::new(|s| {
                s.token_url = Some("http://login.example.com/t/oauth2/v2.0/token".to_owned())
            }),
        ),
        (
            "openid_metadata_url",
            Box::new(|s| s.openid_metadata_url = "ftp://example.com/".to_owned()),
        ),
    ];
    for (key, change) in cases {
        let mut settings = settings_for(&fake);
        change(&mut settings);
        match TeamsAdapter::new(settings, h.service.clone()) {
            Err(TeamsError::Config { key: found, .. }) => assert_eq!(found, key),
            other => panic!("{key}: expected a config error, got {other:?}"),
        }
    }
    let mut defaults = settings_for(&fake);
    defaults.token_url = None;
    defaults.service_url = "https://smba.trafficmanager.net/teams/".to_owned();
    defaults.allowed_service_url_hosts = vec!["smba.trafficmanager.net".to_owned()];
    let adapter = TeamsAdapter::new(defaults, h.service.clone()).unwrap();
    assert_eq!(
        liftgate_gateway::channel::ChannelAdapter::name(adapter.as_ref()),
        "teams"
    );
    fake.stop().await;
}
