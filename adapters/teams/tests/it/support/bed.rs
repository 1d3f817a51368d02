//! A complete Teams deployment on fakes: the gateway's `Harness` (workflow on SQLite, fake
//! Identity Center, manual clock), the fake Microsoft services, the real `TeamsAdapter`, its
//! route mounted in an actix `App`, and an outbox dispatcher that delivers to its notifier.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, test};
use async_trait::async_trait;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::{Secret, TeamsSettings};
use liftgate_gateway::domain::{AccessRequest, RequestId};
use liftgate_gateway::http::RouteProvider;
use liftgate_gateway::ports::{Clock, DriftNotice, Notice, Notifier, NotifyError};
use liftgate_gateway::testing::{Harness, HarnessOptions, OPS_GROUP};
use liftgate_gateway::workflow::OutboxDispatcher;
use liftgate_teams::{Pause, TeamsAdapter, TeamsOptions};
use serde_json::{Value, json};

use super::fake_microsoft::{FakeMicrosoft, StoredActivity};
use super::{keys, tokens};

pub(crate) const APP_ID: &str = "0a1b2c3d-0000-4000-8000-00000000a77e";
pub(crate) const APP_SECRET: &str = "fake-client-secret";
pub(crate) const TENANT: &str = "7e57e57e-0000-4000-8000-000000000001";
pub(crate) const APPROVALS: &str = "19:approvals@thread.tacv2";
pub(crate) const TEAM: &str = "19:team-general@thread.tacv2";

/// The people of the fake tenant: Teams id `29:<name>`, personal chat `a:chat-<name>`.
pub(crate) const PEOPLE: [&str; 5] = ["requester", "alice", "bob", "carol", "dave"];

pub(crate) fn user_id(name: &str) -> String {
    format!("29:{name}")
}

pub(crate) fn personal_chat(name: &str) -> String {
    format!("a:chat-{name}")
}

/// Rules for most tests: Prod (Admin, ReadOnly) approved by alice or bob; Dev (ReadOnly only,
/// at most 2h) approved by alice; group Ops approved by alice. carol approves nothing.
pub(crate) fn default_options() -> HarnessOptions {
    HarnessOptions {
        statements: json!([
            { "ResourceType": "Account", "Resource": ["111111111111"], "PermissionSet": ["Admin", "ReadOnly"],
              "Approvers": ["alice@corp.com", "bob@corp.com"] },
            { "ResourceType": "Account", "Resource": ["222222222222"], "PermissionSet": "ReadOnly",
              "Approvers": ["alice@corp.com"], "MaxDuration": "2h" }
        ]),
        group_statements: json!([{ "Resource": [OPS_GROUP], "Approvers": ["alice@corp.com"] }]),
        ..HarnessOptions::default()
    }
}

/// Records the waits the Connector client asked for instead of sleeping.
#[derive(Debug, Default)]
pub(crate) struct RecordingPause {
    pub(crate) waits: Mutex<Vec<Duration>>,
}

#[async_trait]
impl Pause for RecordingPause {
    async fn pause(&self, duration: Duration) {
        self.waits.lock().unwrap().push(duration);
    }
}

/// The harness's service sends notices to the topic `notify:recording`; this delivers them to
/// the Teams notifier.
#[derive(Debug)]
struct AsRecording(Arc<dyn Notifier>);

#[async_trait]
impl Notifier for AsRecording {
    fn name(&self) -> &'static str {
        "recording"
    }

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        self.0.notify(notice).await
    }

    async fn drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        self.0.drift(notice).await
    }
}

pub(crate) struct Bed {
    pub(crate) h: Harness,
    pub(crate) fake: FakeMicrosoft,
    pub(crate) notifier: Arc<dyn Notifier>,
    pub(crate) pause: Arc<RecordingPause>,
    pub(crate) routes: Arc<dyn RouteProvider>,
    dispatcher: OutboxDispatcher,
    next_activity: Mutex<u64>,
}

pub(crate) fn settings_for(fake: &FakeMicrosoft) -> TeamsSettings {
    TeamsSettings {
        app_id: APP_ID.to_owned(),
        app_password: Secret::new(APP_SECRET),
        tenant_id: TENANT.to_owned(),
        service_url: fake.service_url(),
        approvals_conversation_id: APPROVALS.to_owned(),
        openid_metadata_url: fake.metadata_url(),
        token_url: Some(fake.token_url(TENANT)),
        allowed_service_url_hosts: vec!["127.0.0.1".to_owned()],
        allow_guests: false,
    }
}

pub(crate) fn member(name: &str) -> Value {
    json!({
        "id": user_id(name),
        "name": name,
        "givenName": name,
        "surname": "Test",
        "email": format!("{name}@corp.com"),
        "userPrincipalName": format!("{name}@corp.onmicrosoft.com"),
        "objectId": format!("aad-{name}"),
        "aadObjectId": format!("aad-{name}"),
        "tenantId": TENANT,
        "userRole": "user",
    })
}

impl Bed {
    pub(crate) async fn new() -> Bed {
        Bed::with(default_options(), |_, _| {}).await
    }

    pub(crate) async fn with(
        options: HarnessOptions,
        configure: impl FnOnce(&mut TeamsSettings, &mut TeamsOptions),
    ) -> Bed {
        let h = Harness::new(options);
        let fake = FakeMicrosoft::start(h.clock.clone(), TENANT, APP_ID, APP_SECRET).await;
        for name in PEOPLE {
            fake.add_member(member(name));
        }
        let pause = Arc::new(RecordingPause::default());
        let mut settings = settings_for(&fake);
        let mut options = TeamsOptions {
            pause: pause.clone(),
            ..TeamsOptions::default()
        };
        configure(&mut settings, &mut options);
        let adapter =
            TeamsAdapter::with_options(settings.clone(), h.service.clone(), options).unwrap();
        let routes = adapter.clone().routes().unwrap();
        let notifier = adapter.clone().notifier().unwrap();
        let dispatcher = OutboxDispatcher::new(
            h.store.clone(),
            h.clock.clone(),
            vec![h.audit.clone()],
            vec![Arc::new(AsRecording(notifier.clone()))],
            h.metrics.clone(),
        )
        .with_inbox(vec![adapter.clone().inbox().unwrap()])
        .with_reviews(h.service.clone());
        Bed {
            h,
            fake,
            notifier,
            pause,
            routes,
            dispatcher,
            next_activity: Mutex::new(0),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.h.clock.now().unix_timestamp()
    }

    pub(crate) fn service_url(&self) -> String {
        self.fake.service_url()
    }

    /// A good token for activities naming the fake Connector.
    pub(crate) fn token(&self) -> String {
        tokens::rs256(
            keys::botframework_k1(),
            "k1",
            &tokens::claims(APP_ID, &self.service_url(), self.now()),
        )
    }

    /// POSTs an activity to `/teams/messages` with this Authorization header.
    pub(crate) async fn post(
        &self,
        activity: &Value,
        authorization: Option<&str>,
    ) -> (StatusCode, Value) {
        let routes = self.routes.clone();
        let app =
            test::init_service(App::new().configure(move |config| routes.configure(config))).await;
        let mut request = test::TestRequest::post()
            .uri("/teams/messages")
            .set_json(activity);
        if let Some(authorization) = authorization {
            request = request.insert_header(("Authorization", authorization.to_owned()));
        }
        let response = test::call_service(&app, request.to_request()).await;
        let status = response.status();
        let body = test::read_body(response).await;
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        (status, body)
    }

    /// POSTs an activity with a good token.
    pub(crate) async fn send(&self, activity: &Value) -> (StatusCode, Value) {
        let token = format!("Bearer {}", self.token());
        self.post(activity, Some(&token)).await
    }

    /// Delivers every due outbox message (audit records and Teams notices).
    pub(crate) async fn deliver(&self) {
        while self.dispatcher.dispatch_once().await.unwrap() > 0 {}
    }

    fn next_id(&self) -> String {
        let mut next = self.next_activity.lock().unwrap();
        *next += 1;
        format!("act-{next}")
    }

    fn base_activity(
        &self,
        kind: &str,
        from: &str,
        conversation: Value,
        channel_data: Value,
    ) -> Value {
        json!({
            "type": kind,
            "id": self.next_id(),
            "timestamp": "2027-01-15T08:00:00.000Z",
            "channelId": "msteams",
            "serviceUrl": self.service_url(),
            "from": { "id": user_id(from), "name": from, "aadObjectId": format!("aad-{from}") },
            "recipient": { "id": format!("28:{APP_ID}"), "name": "Liftgate" },
            "conversation": conversation,
            "channelData": channel_data,
            "locale": "en-US",
        })
    }

    fn personal(&self, kind: &str, from: &str) -> Value {
        self.base_activity(
            kind,
            from,
            json!({ "id": personal_chat(from), "conversationType": "personal", "tenantId": TENANT }),
            json!({ "tenant": { "id": TENANT } }),
        )
    }

    /// A text message in `from`'s personal chat with the bot.
    pub(crate) fn message(&self, from: &str, text: &str) -> Value {
        let mut activity = self.personal("message", from);
        activity["text"] = json!(text);
        activity["textFormat"] = json!("plain");
        activity
    }

    /// A click on an `Action.Execute` button in `from`'s personal chat.
    pub(crate) fn personal_action(&self, from: &str, verb: &str, data: Value) -> Value {
        let mut activity = self.personal("invoke", from);
        activity["name"] = json!("adaptiveCard/action");
        activity["value"] = json!({ "action": { "type": "Action.Execute", "verb": verb, "data": data }, "trigger": "manual" });
        activity
    }

    /// A click on the approval card of `request` in the approvals channel.
    pub(crate) async fn approval_action(
        &self,
        from: &str,
        verb: &str,
        request: &RequestId,
    ) -> Value {
        let card = self.approval_reference(request).await;
        let mut activity = self.base_activity(
            "invoke",
            from,
            json!({ "id": card["conversation_id"], "conversationType": "channel", "tenantId": TENANT, "isGroup": true }),
            json!({ "tenant": { "id": TENANT }, "team": { "id": TEAM }, "channel": { "id": APPROVALS } }),
        );
        activity["name"] = json!("adaptiveCard/action");
        activity["replyToId"] = card["activity_id"].clone();
        activity["value"] = json!({
            "action": { "type": "Action.Execute", "verb": verb, "data": { "request_id": request.as_str() } },
            "trigger": "manual",
        });
        activity
    }

    /// A typeahead search from `from`'s personal chat.
    pub(crate) fn search(&self, from: &str, dataset: &str, query: &str) -> Value {
        let mut activity = self.personal("invoke", from);
        activity["name"] = json!("application/search");
        activity["value"] = json!({ "queryText": query, "dataset": dataset, "queryOptions": { "skip": 0, "top": 15 } });
        activity
    }

    /// The bot installed in `from`'s personal scope.
    pub(crate) fn install(&self, from: &str) -> Value {
        let mut activity = self.personal("conversationUpdate", from);
        activity["membersAdded"] = json!([{ "id": format!("28:{APP_ID}") }]);
        activity
    }

    /// Submits the account form from `from`'s personal chat; returns the answer.
    pub(crate) async fn submit_access(
        &self,
        from: &str,
        account: &str,
        permission_set: &str,
        duration: &str,
        reason: &str,
    ) -> (StatusCode, Value) {
        let data = json!({
            "form_id": uuid::Uuid::new_v4().to_string(),
            "account": account, "permission_set": permission_set, "duration": duration, "reason": reason,
        });
        self.send(&self.personal_action(from, "access_submit", data))
            .await
    }

    /// Requests access through the form and delivers the notices; returns the new request.
    pub(crate) async fn request_access(
        &self,
        from: &str,
        account: &str,
        permission_set: &str,
        duration: &str,
    ) -> AccessRequest {
        let before: Vec<RequestId> = self
            .all_requests()
            .await
            .into_iter()
            .map(|r| r.id)
            .collect();
        let (status, body) = self
            .submit_access(from, account, permission_set, duration, "deploy the hotfix")
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["type"], "application/vnd.microsoft.card.adaptive",
            "{body}"
        );
        self.deliver().await;
        let mut new: Vec<AccessRequest> = self
            .all_requests()
            .await
            .into_iter()
            .filter(|r| !before.contains(&r.id))
            .collect();
        assert_eq!(new.len(), 1, "the form made {} requests: {body}", new.len());
        new.pop().unwrap()
    }

    /// The bot added to the team that holds the approvals channel, by `from`.
    pub(crate) fn team_install(&self, from: &str) -> Value {
        let mut activity = self.base_activity(
            "conversationUpdate",
            from,
            json!({ "id": APPROVALS, "conversationType": "channel", "tenantId": TENANT, "isGroup": true }),
            json!({ "tenant": { "id": TENANT }, "team": { "id": TEAM }, "channel": { "id": APPROVALS },
                    "eventType": "teamMemberAdded" }),
        );
        activity["membersAdded"] = json!([{ "id": format!("28:{APP_ID}") }]);
        activity
    }

    /// The adapter's stored reference to a request's approval card.
    pub(crate) async fn approval_reference(&self, request: &RequestId) -> Value {
        self.h
            .store
            .get_document_value("teams.approval_cards", request.as_str())
            .await
            .unwrap_or_else(|| panic!("request {request} has no approval card"))
    }

    /// The approval card of a request as everyone sees it now.
    pub(crate) async fn approval_card(&self, request: &RequestId) -> StoredActivity {
        let reference = self.approval_reference(request).await;
        self.fake
            .activity(reference["activity_id"].as_str().unwrap())
    }

    /// Cards posted in `name`'s personal chat, oldest first.
    pub(crate) fn personal_cards(&self, name: &str) -> Vec<StoredActivity> {
        self.fake.posted_in(&personal_chat(name))
    }

    pub(crate) async fn only_request(&self) -> AccessRequest {
        let requests = self.all_requests().await;
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests.into_iter().next().unwrap()
    }

    pub(crate) async fn all_requests(&self) -> Vec<AccessRequest> {
        use liftgate_gateway::domain::RequestStatus;
        use liftgate_gateway::ports::{RequestQuery, StateStore};
        let mut all = Vec::new();
        for status in [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Active,
            RequestStatus::Ended,
            RequestStatus::Denied,
            RequestStatus::Expired,
            RequestStatus::Cancelled,
            RequestStatus::Failed,
        ] {
            all.extend(
                self.h
                    .store
                    .query_requests(RequestQuery::Status { status, limit: 100 })
                    .await
                    .unwrap(),
            );
        }
        all
    }
}

/// Reading documents as JSON from the harness's store.
#[async_trait]
pub(crate) trait DocumentRead {
    async fn get_document_value(&self, namespace: &str, key: &str) -> Option<Value>;
}

#[async_trait]
impl DocumentRead for liftgate_gateway::store::SqliteStore {
    async fn get_document_value(&self, namespace: &str, key: &str) -> Option<Value> {
        use liftgate_gateway::ports::StateStore;
        self.get_document(namespace, key).await.unwrap()
    }
}
