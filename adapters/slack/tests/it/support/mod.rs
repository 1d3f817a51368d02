//! The test app: the workflow on the gateway's harness, the fake Slack, the adapter wired to
//! both (its routes on a real actix server, its notifier on the harness outbox), and the
//! driver that plays Slack.

pub mod driver;
pub mod fake_slack;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::{RequestSettings, Secret, SlackSettings};
use liftgate_gateway::domain::{AccessRequest, RequestStatus};
use liftgate_gateway::http::{ServerState, start_server};
use liftgate_gateway::ports::{
    DriftNotice, Notice, Notifier, NotifyError, RequestQuery, StateStore,
};
use liftgate_gateway::testing::{Harness, HarnessOptions, OPS_GROUP, PROD};
use liftgate_gateway::workflow::OutboxDispatcher;
use liftgate_slack::{RetryPolicy, SlackAdapter, SlackOptions};
use serde_json::{Value, json};

use driver::Driver;
use fake_slack::{APP_TOKEN, APPROVALS, BOT_TOKEN, FakeSlack, StoredMessage};

pub const SECRET: &str = "test-signing-secret";

/// Prod: Admin and ReadOnly, approved by alice or bob.
pub fn standard_statements() -> Value {
    json!([{
        "ResourceType": "Account",
        "Resource": [PROD],
        "PermissionSet": ["Admin", "ReadOnly"],
        "Approvers": ["alice@corp.com", "bob@corp.com"],
    }])
}

pub fn standard_group_statements() -> Value {
    json!([{ "Resource": [OPS_GROUP], "Approvers": ["alice@corp.com"] }])
}

pub struct Setup {
    pub statements: Value,
    pub group_statements: Value,
    pub requests: RequestSettings,
    pub socket_mode: bool,
    /// Changes to the Slack settings the test app starts with.
    pub slack: fn(&mut SlackSettings),
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            statements: standard_statements(),
            group_statements: standard_group_statements(),
            requests: RequestSettings::default(),
            socket_mode: false,
            slack: |_| {},
        }
    }
}

/// The harness's outbox delivers notices for a notifier named `recording`; this hands them to
/// the Slack notifier.
#[derive(Debug)]
struct ToSlack(Arc<dyn Notifier>);

#[async_trait]
impl Notifier for ToSlack {
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

pub struct TestApp {
    pub harness: Harness,
    pub fake: FakeSlack,
    pub adapter: Arc<SlackAdapter>,
    pub notifier: Arc<dyn Notifier>,
    pub driver: Driver,
}

pub fn test_options() -> SlackOptions {
    SlackOptions {
        retry: RetryPolicy {
            attempts: 3,
            base_backoff: Duration::from_millis(5),
            max_inline_wait: Duration::from_secs(1),
        },
        http_timeout: Duration::from_secs(5),
        reconnect_delay: Duration::from_millis(20),
        ..SlackOptions::default()
    }
}

pub fn settings_for(fake: &FakeSlack, socket_mode: bool) -> SlackSettings {
    SlackSettings {
        signing_secret: Secret::new(SECRET),
        bot_token: Secret::new(BOT_TOKEN),
        channel_id: APPROVALS.to_owned(),
        app_token: Some(Secret::new(APP_TOKEN)),
        socket_mode,
        api_base_url: fake.base_url.clone(),
        team_id: None,
        enterprise_id: None,
        allow_guests: false,
        allow_unconfirmed_emails: false,
        work_concurrency: 32,
        work_queue: 1024,
        form_sessions: 1000,
        form_session_ttl: liftgate_policy::Duration::from_mins(15),
    }
}

impl TestApp {
    pub async fn start(setup: Setup) -> TestApp {
        let mut harness = Harness::new(HarnessOptions {
            statements: setup.statements,
            group_statements: setup.group_statements,
            requests: setup.requests,
        });
        let fake = FakeSlack::start(Arc::clone(&harness.clock)).await;
        let mut settings = settings_for(&fake, setup.socket_mode);
        (setup.slack)(&mut settings);
        let adapter =
            SlackAdapter::with_options(settings, harness.service.clone(), test_options()).unwrap();
        let notifier = Arc::clone(&adapter).notifier().unwrap();
        harness.dispatcher = OutboxDispatcher::new(
            harness.store.clone(),
            harness.clock.clone(),
            vec![harness.audit.clone()],
            vec![Arc::new(ToSlack(Arc::clone(&notifier)))],
            harness.metrics.clone(),
        )
        .with_inbox(vec![Arc::clone(&adapter).inbox().unwrap()])
        .with_reviews(harness.service.clone());
        let routes = Arc::clone(&adapter).routes().unwrap();
        let state = ServerState {
            store: harness.store.clone(),
            metrics: harness.metrics.clone(),
            limits: Default::default(),
        };
        let server = start_server(
            "127.0.0.1:0",
            state,
            vec![routes],
            1,
            Duration::from_secs(1),
        )
        .unwrap();
        let base = format!("http://{}", server.address);
        tokio::spawn(server.server);
        let driver = Driver::new(base, SECRET, Arc::clone(&harness.clock), fake.clone());
        TestApp {
            harness,
            fake,
            adapter,
            notifier,
            driver,
        }
    }

    pub async fn standard() -> TestApp {
        TestApp::start(Setup::default()).await
    }

    /// Lets the work started by handlers finish, then delivers the notices it produced.
    pub async fn settle(&self) {
        self.adapter.wait_idle().await;
        self.harness.deliver_outbox().await;
    }

    /// Every stored request, oldest first.
    pub async fn requests(&self) -> Vec<AccessRequest> {
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
                self.harness
                    .store
                    .query_requests(RequestQuery::Status { status, limit: 100 })
                    .await
                    .unwrap(),
            );
        }
        all.sort_by_key(|request| request.created_at);
        all
    }

    /// The one request there is.
    pub async fn only_request(&self) -> AccessRequest {
        let requests = self.requests().await;
        assert_eq!(
            requests.len(),
            1,
            "expected exactly one request, found {requests:?}"
        );
        requests.into_iter().next().unwrap()
    }

    /// The one approval message in the approvals channel.
    pub fn approval_message(&self) -> StoredMessage {
        let messages = self.fake.messages_in(APPROVALS);
        assert_eq!(
            messages.len(),
            1,
            "expected one approval message, found {messages:?}"
        );
        messages.into_iter().next().unwrap()
    }

    /// Opens the account form with the shortcut and returns its view id.
    pub async fn open_account_form(&self, user: &str) -> String {
        let (reply, _) = self.driver.shortcut(user, "request_for_access").await;
        assert_eq!(reply.status, 200);
        assert!(reply.body.is_empty());
        self.adapter.wait_idle().await;
        self.fake.open_view(user).expect("no view was opened").id
    }

    /// Shortcut, form, answers and submit: a request for `permission_set` on Prod.
    pub async fn request_access(
        &self,
        user: &str,
        permission_set: &str,
        duration: &str,
        reason: &str,
    ) -> AccessRequest {
        let view = self.open_account_form(user).await;
        self.driver.choose(user, &view, "account", PROD).await;
        self.adapter.wait_idle().await;
        self.driver
            .choose(user, &view, "permission_set", permission_set)
            .await;
        self.adapter.wait_idle().await;
        self.driver.choose(user, &view, "duration", duration).await;
        self.driver.choose(user, &view, "reason", reason).await;
        let reply = self.driver.submit(user, &view).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(
            reply.body.is_empty(),
            "the submission was refused: {}",
            reply.body
        );
        self.settle().await;
        self.requests().await.pop().expect("no request was created")
    }

    pub fn dm_texts(&self, user: &str) -> Vec<String> {
        self.fake
            .dms_to(user)
            .into_iter()
            .map(|message| message.text)
            .collect()
    }
}

/// Text of every block of a message, joined, for assertions on what people read.
pub fn rendered(blocks: &Value) -> String {
    let mut out = String::new();
    collect_text(blocks, &mut out);
    out
}

fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(text)) = fields.get("text") {
                out.push_str(text);
                out.push('\n');
            }
            for (key, child) in fields {
                if key != "text" || !child.is_string() {
                    collect_text(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_text(item, out)),
        _ => {}
    }
}

/// Replaces random UUIDs (request ids) with `[uuid]`, so snapshots do not change from run to run.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(redact_text(text)),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, child)| (key.clone(), redact(child)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub fn redact_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && is_uuid(&bytes[i..i + 36]) {
            out.push_str("[uuid]");
            i += 36;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// A random (version 4) UUID, as request ids are; fixed ids such as the test group's stay.
fn is_uuid(candidate: &[u8]) -> bool {
    candidate
        .iter()
        .enumerate()
        .all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            14 => *byte == b'4',
            19 => matches!(byte, b'8' | b'9' | b'a' | b'b'),
            _ => byte.is_ascii_hexdigit(),
        })
}
