//! Outbound events to subscribers: signed, filtered, and classified when they fail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::{Secret, WebhookSettings, WebhookSubscriber};
use liftgate_gateway::ports::{Notice, NoticeKind, Notifier, NotifyError, StateStore};
use liftgate_gateway::testing::{Harness, HarnessOptions};
use liftgate_webhook::{Signed, WebhookAdapter, WebhookSetupError, sign, valid_nonce};
use serde_json::{Value, json};

use crate::support::*;

const ALL_SECRET: &str = "subscriber-all-secret";
const GRANTED_SECRET: &str = "subscriber-granted-secret";

#[derive(Debug, Clone)]
struct Hit {
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks the signature the way a subscriber would: v2, over its own path, the nonce and
    /// the raw body.
    fn assert_signed_with(&self, secret: &str) {
        let nonce = &self.headers["x-liftgate-nonce"];
        assert!(valid_nonce(nonce), "{nonce}");
        let signed = Signed {
            timestamp: &self.headers["x-liftgate-timestamp"],
            nonce,
            method: "POST",
            path_and_query: &self.target,
        };
        assert_eq!(
            self.headers["x-liftgate-signature"],
            sign(secret, &signed, &self.body)
        );
        assert_eq!(self.headers["content-type"], "application/json");
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<AtomicU16>,
}

/// A tiny HTTP receiver that records what it is sent and answers with a chosen status.
struct Receiver {
    url: String,
    state: ReceiverState,
    handle: ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    state.hits.lock().unwrap().push(Hit {
        target: request.uri().to_string(),
        headers,
        body: body.to_vec(),
    });
    let status =
        actix_web::http::StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap();
    HttpResponse::build(status).finish()
}

impl Receiver {
    fn start() -> Receiver {
        let state = ReceiverState {
            status: Arc::new(AtomicU16::new(200)),
            ..ReceiverState::default()
        };
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://{address}/hooks/liftgate?token=t0ps3cret"),
            state,
            handle,
        }
    }

    fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<String> {
        self.hits()
            .iter()
            .map(|hit| hit.json()["event"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn subscriber(url: &str, secret: &str, events: &[&str]) -> WebhookSubscriber {
    WebhookSubscriber {
        url: url.to_owned(),
        secret: Secret::new(secret),
        events: events.iter().map(|event| (*event).to_owned()).collect(),
    }
}

#[tokio::test]
async fn lifecycle_events_reach_matching_subscribers_signed() {
    let everything = Receiver::start();
    let grants_only = Receiver::start();
    let api = TestApi::with(Options {
        subscribers: vec![
            subscriber(&everything.url, ALL_SECRET, &[]),
            subscriber(&grants_only.url, GRANTED_SECRET, &["granted", "revoked"]),
        ],
        ..Options::default()
    })
    .await;

    let id = api.create_prod_admin().await;
    api.deliver().await;
    assert_eq!(everything.events(), ["requested"]);
    assert!(grants_only.hits().is_empty());

    assert_eq!(
        api.decide(&id, "approve", json!({"approver": ALICE}))
            .await
            .status,
        200
    );
    api.deliver().await;
    // The approval and the grant are separate notices; each renders the current state, whose
    // latest event is the grant by the time they are delivered.
    let events = everything.events();
    assert!(
        events.len() >= 2 && events[1..].iter().all(|event| event == "granted"),
        "{events:?}"
    );
    assert!(!grants_only.events().is_empty());
    assert!(grants_only.events().iter().all(|event| event == "granted"));

    assert_eq!(
        api.decide(&id, "revoke", json!({"requester": REQUESTER}))
            .await
            .status,
        200
    );
    api.deliver().await;
    assert_eq!(everything.events().last().unwrap(), "revoked");
    assert_eq!(grants_only.events().last().unwrap(), "revoked");

    for hit in everything.hits() {
        hit.assert_signed_with(ALL_SECRET);
        assert_eq!(
            hit.headers["x-liftgate-event"],
            hit.json()["event"].as_str().unwrap()
        );
        assert_eq!(hit.json()["request"]["id"], id.as_str());
    }
    for hit in grants_only.hits() {
        hit.assert_signed_with(GRANTED_SECRET);
    }
    // The body is the same request view the API answers with.
    let last = everything.hits().last().unwrap().json();
    let read = api.get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(last["request"], read.body);
    assert_eq!(last["request"]["status"], "ended");
    // The receiver is called on its full URL, query included.
    assert_eq!(
        everything.hits()[0].target,
        "/hooks/liftgate?token=t0ps3cret"
    );
    assert_eq!(api.harness.store.outbox_len().await.unwrap(), 0);
}

async fn notifier_for(
    harness: &Harness,
    subscribers: Vec<WebhookSubscriber>,
    timeout_ms: u64,
) -> Arc<dyn Notifier> {
    let settings = WebhookSettings {
        clients: clients(),
        subscribers,
    };
    let adapter = Arc::new(
        WebhookAdapter::with_delivery_timeout(
            &settings,
            harness.service.clone(),
            std::time::Duration::from_millis(timeout_ms),
        )
        .unwrap(),
    );
    let notifier = adapter
        .clone()
        .notifier()
        .expect("subscribers give a notifier");
    assert_eq!(notifier.name(), "webhook");
    notifier
}

async fn pending_notice(harness: &Harness, kind: NoticeKind) -> Notice {
    let request = harness
        .service
        .create(liftgate_gateway::workflow::NewRequest {
            requester: liftgate_gateway::testing::person(REQUESTER),
            target: liftgate_gateway::workflow::TargetInput::Account {
                account_id: "111111111111".to_owned(),
                permission_set: "Admin".to_owned(),
            },
            duration: liftgate_policy::Duration::from_hours(1),
            reason: "notify test".to_owned(),
            channel: liftgate_gateway::domain::Channel::Webhook,
            start_at: None,
            extends: None,
            idempotency_key: None,
            break_glass: false,
        })
        .await
        .unwrap();
    Notice {
        kind,
        request,
        grant: None,
    }
}

fn harness() -> Harness {
    Harness::new(HarnessOptions {
        statements: statements(),
        ..HarnessOptions::default()
    })
}

#[tokio::test]
async fn failures_are_retryable_or_permanent_by_status() {
    let harness = harness();
    let receiver = Receiver::start();
    let notifier = notifier_for(
        &harness,
        vec![subscriber(&receiver.url, ALL_SECRET, &[])],
        2_000,
    )
    .await;
    let notice = pending_notice(&harness, NoticeKind::Created).await;

    for (status, retryable) in [
        (500, true),
        (503, true),
        (429, true),
        (408, true),
        (400, false),
        (404, false),
        (410, false),
        (301, false),
    ] {
        receiver.answer(status);
        let outcome = notifier.notify(&notice).await;
        match (outcome, retryable) {
            (Err(NotifyError::Retryable(message)), true)
            | (Err(NotifyError::Permanent(message)), false) => {
                assert!(message.contains(&status.to_string()), "{message}");
                // The log-safe message names the receiver's origin, never its query token.
                assert!(!message.contains("t0ps3cret"), "{message}");
            }
            (other, _) => panic!("status {status}: unexpected {other:?}"),
        }
    }
    receiver.answer(204);
    notifier.notify(&notice).await.unwrap();
    assert_eq!(receiver.hits().len(), 9);
}

#[tokio::test]
async fn unreachable_and_silent_subscribers_are_retried() {
    let harness = harness();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    // A server that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });

    for url in [closed_url, silent_url] {
        let notifier = notifier_for(&harness, vec![subscriber(&url, ALL_SECRET, &[])], 200).await;
        let notice = pending_notice(&harness, NoticeKind::Created).await;
        let outcome = notifier.notify(&notice).await;
        assert!(
            matches!(outcome, Err(NotifyError::Retryable(_))),
            "{url}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn one_failing_subscriber_retries_the_notice_while_others_still_get_it() {
    let harness = harness();
    let healthy = Receiver::start();
    let broken = Receiver::start();
    broken.answer(502);
    let notifier = notifier_for(
        &harness,
        vec![
            subscriber(&healthy.url, ALL_SECRET, &[]),
            subscriber(&broken.url, GRANTED_SECRET, &[]),
        ],
        2_000,
    )
    .await;
    let notice = pending_notice(&harness, NoticeKind::Created).await;
    assert!(matches!(
        notifier.notify(&notice).await,
        Err(NotifyError::Retryable(_))
    ));
    assert_eq!(healthy.hits().len(), 1);
    assert_eq!(broken.hits().len(), 1);

    // Only permanent failures left: the notice is dropped rather than retried for ever.
    broken.answer(401);
    assert!(matches!(
        notifier.notify(&notice).await,
        Err(NotifyError::Permanent(_))
    ));
}

#[tokio::test]
async fn reminders_and_filtered_events_send_nothing() {
    let harness = harness();
    let receiver = Receiver::start();
    let notifier = notifier_for(
        &harness,
        vec![subscriber(&receiver.url, ALL_SECRET, &["denied"])],
        2_000,
    )
    .await;
    notifier
        .notify(&pending_notice(&harness, NoticeKind::Created).await)
        .await
        .unwrap();
    let all = notifier_for(
        &harness,
        vec![subscriber(&receiver.url, ALL_SECRET, &[])],
        2_000,
    )
    .await;
    all.notify(&pending_notice(&harness, NoticeKind::Reminder).await)
        .await
        .unwrap();
    assert!(receiver.hits().is_empty());
}

#[tokio::test]
async fn a_retried_notice_reaches_the_subscriber_through_the_outbox() {
    let receiver = Receiver::start();
    receiver.answer(503);
    let api = TestApi::with(Options {
        subscribers: vec![subscriber(&receiver.url, ALL_SECRET, &[])],
        ..Options::default()
    })
    .await;
    let id = api.create_prod_admin().await;
    api.deliver().await;
    assert_eq!(receiver.hits().len(), 1);
    assert_eq!(
        api.harness.store.outbox_len().await.unwrap(),
        1,
        "the notice waits for a retry"
    );

    receiver.answer(200);
    api.harness.advance(std::time::Duration::from_secs(60));
    api.deliver().await;
    assert_eq!(receiver.hits().len(), 2);
    assert_eq!(receiver.hits()[1].json()["request"]["id"], id.as_str());
    assert_eq!(api.harness.store.outbox_len().await.unwrap(), 0);
}

#[tokio::test]
async fn no_subscribers_means_no_notifier_and_bad_settings_are_refused() {
    let harness = harness();
    let adapter = Arc::new(
        WebhookAdapter::new(
            &WebhookSettings {
                clients: clients(),
                subscribers: vec![],
            },
            harness.service.clone(),
        )
        .unwrap(),
    );
    assert_eq!(adapter.name(), "webhook");
    assert!(!adapter.has_subscribers());
    assert!(adapter.clone().notifier().is_none());
    assert!(adapter.clone().routes().is_some());

    let build = |settings: WebhookSettings| {
        WebhookAdapter::new(&settings, harness.service.clone()).map(|_| ())
    };
    let client =
        |id: &str, secret: &str, act_for: &[&str]| liftgate_gateway::config::WebhookClient {
            id: id.to_owned(),
            secret: Secret::new(secret),
            act_for: act_for.iter().map(|entry| (*entry).to_owned()).collect(),
        };
    let cases = [
        (
            vec![client("a", "s", &["*"]), client("a", "t", &["*"])],
            vec![],
            "DuplicateClient",
        ),
        (vec![client(" ", "s", &["*"])], vec![], "EmptyClientId"),
        (vec![client("a", "", &["*"])], vec![], "EmptySecret"),
        (vec![client("a", "s", &["bob"])], vec![], "BadActFor"),
        (
            vec![],
            vec![subscriber("ftp://example.com/", "s", &[])],
            "BadSubscriberUrl",
        ),
        (
            vec![],
            vec![subscriber("not a url", "s", &[])],
            "BadSubscriberUrl",
        ),
        // Cleartext off loopback, and metadata endpoints under any scheme.
        (
            vec![],
            vec![subscriber("http://hooks.example.com/", "s", &[])],
            "BadSubscriberUrl",
        ),
        (
            vec![],
            vec![subscriber("https://169.254.169.254/latest/", "s", &[])],
            "BadSubscriberUrl",
        ),
        (
            vec![],
            vec![subscriber("https://[fd00:ec2::254]/", "s", &[])],
            "BadSubscriberUrl",
        ),
        (
            vec![],
            vec![subscriber("https://example.com/", "", &[])],
            "EmptySubscriberSecret",
        ),
        (
            vec![],
            vec![subscriber("https://example.com/", "s", &["grantd"])],
            "UnknownEvent",
        ),
    ];
    for (clients, subscribers, expected) in cases {
        let error: WebhookSetupError = build(WebhookSettings {
            clients,
            subscribers,
        })
        .unwrap_err();
        assert!(format!("{error:?}").starts_with(expected), "{error:?}");
        assert!(!error.to_string().contains("\"s\""), "a secret in {error}");
    }
}

#[tokio::test]
async fn drift_findings_reach_subscribers_of_drift_detected_signed() {
    use liftgate_gateway::ports::{DriftAction, DriftMode, DriftNotice, DriftTarget};
    let harness = harness();
    let drift = Receiver::start();
    let granted_only = Receiver::start();
    let notifier = notifier_for(
        &harness,
        vec![
            subscriber(&drift.url, ALL_SECRET, &["drift_detected"]),
            subscriber(&granted_only.url, GRANTED_SECRET, &["granted"]),
        ],
        2_000,
    )
    .await;
    let notice = DriftNotice {
        id: uuid::Uuid::new_v4(),
        detected_at: time::OffsetDateTime::UNIX_EPOCH,
        access_key: "group:g-1:u-carol".to_owned(),
        target: DriftTarget::Group {
            group_id: "g-1".to_owned(),
            group_name: Some("Ops".to_owned()),
            membership_ids: vec!["m-1".to_owned()],
        },
        user_id: "u-carol".to_owned(),
        user_email: Some("carol@corp.com".to_owned()),
        user_name: None,
        mode: DriftMode::Warn,
        action: DriftAction::Warned,
        routing: Default::default(),
    };
    notifier.drift(&notice).await.unwrap();
    assert_eq!(drift.events(), ["drift_detected"]);
    let hit = &drift.hits()[0];
    hit.assert_signed_with(ALL_SECRET);
    assert_eq!(hit.json()["drift"]["id"], notice.id.to_string());
    assert_eq!(hit.json()["drift"]["user_email"], "carol@corp.com");
    assert!(
        hit.json()["summary"]
            .as_str()
            .unwrap()
            .contains("Ops (g-1)")
    );
    assert!(granted_only.hits().is_empty(), "filtered out");
}
