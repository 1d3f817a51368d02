//! A running webhook API on the gateway's real HTTP server, on top of the workflow harness
//! (fakes, manual clock), with a client that signs like an integration would.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::{Secret, WebhookClient, WebhookSettings, WebhookSubscriber};
use liftgate_gateway::domain::{AccessRequest, RequestId, RequestStatus};
use liftgate_gateway::http::{ServerState, start_server};
use liftgate_gateway::ports::{RequestQuery, StateStore};
use liftgate_gateway::testing::{Harness, HarnessOptions};
use liftgate_gateway::workflow::{AccessService, Dependencies, OutboxDispatcher};
use liftgate_webhook::{Signed, WebhookAdapter, sign, signed_headers};
use serde_json::{Value, json};

pub(crate) const CI: &str = "ci-bot";
pub(crate) const CI_SECRET: &str = "ci-secret-0123456789abcdef";
/// A client that may act only for requester@ and alice@.
pub(crate) const LIMITED: &str = "limited-bot";
pub(crate) const LIMITED_SECRET: &str = "limited-secret-0123456789abcdef";

pub(crate) const REQUESTER: &str = "requester@corp.com";
pub(crate) const ALICE: &str = "alice@corp.com";
pub(crate) const BOB: &str = "bob@corp.com";
pub(crate) const CAROL: &str = "carol@corp.com";
pub(crate) const DAVE: &str = "dave@corp.com";

/// Rules most tests share:
/// 0. Prod, any permission set: alice, bob or carol approve; at most 4h.
/// 1. Dev ReadOnly: two of alice, bob, carol must approve.
/// 2. Dev Admin: the requester is an approver but may not approve their own request.
///
/// Group statement: alice approves Ops.
pub(crate) fn statements() -> Value {
    json!([
        {"ResourceType": "Account", "Resource": ["111111111111"], "PermissionSet": "*",
         "Approvers": [ALICE, BOB, CAROL], "MaxDuration": "4h"},
        {"ResourceType": "Account", "Resource": ["222222222222"], "PermissionSet": "ReadOnly",
         "Approvers": [ALICE, BOB, CAROL], "RequiredApprovals": 2},
        {"ResourceType": "Account", "Resource": ["222222222222"], "PermissionSet": "Admin",
         "Approvers": [REQUESTER, ALICE], "AllowSelfApproval": false},
    ])
}

pub(crate) fn group_statements() -> Value {
    json!([{"Resource": ["11111111-2222-3333-4444-555555555555"], "Approvers": [ALICE]}])
}

pub(crate) fn clients() -> Vec<WebhookClient> {
    vec![
        WebhookClient {
            id: CI.to_owned(),
            secret: Secret::new(CI_SECRET),
            act_for: vec!["*".to_owned()],
        },
        WebhookClient {
            id: LIMITED.to_owned(),
            secret: Secret::new(LIMITED_SECRET),
            act_for: vec![REQUESTER.to_owned(), "Alice@Corp.com".to_owned()],
        },
    ]
}

/// What came back: the status and the JSON body (`Null` when there was none).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) retry_after: Option<String>,
}

impl Reply {
    pub(crate) fn error_code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.body))
    }

    /// Asserts a refusal with this status and code, and a message for people.
    #[track_caller]
    pub(crate) fn assert_refused(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.error_code(), code, "body: {}", self.body);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty()),
            "no message: {}",
            self.body
        );
    }

    pub(crate) fn id(&self) -> RequestId {
        RequestId::parse(
            self.body["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no id: {}", self.body)),
        )
        .unwrap()
    }
}

/// One HTTP call, with every header under the test's control.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: reqwest::Method,
    pub(crate) path: String,
    pub(crate) body: Vec<u8>,
    pub(crate) headers: Vec<(String, String)>,
}

impl Call {
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Call {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn without(mut self, name: &str) -> Call {
        self.headers
            .retain(|(header, _)| !header.eq_ignore_ascii_case(name));
        self
    }

    pub(crate) fn replace(self, name: &str, value: impl Into<String>) -> Call {
        self.without(name).header(name, value)
    }
}

/// Another replica's webhook server.
pub(crate) struct Replica {
    base: String,
    http: reqwest::Client,
    _server: ServerHandle,
}

impl Replica {
    pub(crate) async fn send(&self, call: &Call) -> Reply {
        send_to(&self.http, &self.base, call).await
    }
}

async fn send_to(http: &reqwest::Client, base: &str, call: &Call) -> Reply {
    let mut builder = http.request(call.method.clone(), format!("{base}{}", call.path));
    for (name, value) in &call.headers {
        builder = builder.header(name, value);
    }
    let response = builder.body(call.body.clone()).send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply {
        status,
        body,
        retry_after,
    }
}

pub(crate) struct TestApi {
    pub(crate) harness: Harness,
    /// Delivers the outbox to the audit sink, the recording notifier and the subscribers.
    pub(crate) dispatcher: Option<OutboxDispatcher>,
    pub(crate) server: ServerHandle,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    created: std::sync::atomic::AtomicUsize,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        // Sends the stop command at once; the workers wind down on their own.
        drop(self.server.stop(false));
    }
}

pub(crate) struct Options {
    pub(crate) statements: Value,
    pub(crate) group_statements: Value,
    pub(crate) subscribers: Vec<WebhookSubscriber>,
    pub(crate) delivery_timeout: std::time::Duration,
    pub(crate) requests: liftgate_gateway::config::RequestSettings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            statements: statements(),
            group_statements: group_statements(),
            subscribers: Vec::new(),
            delivery_timeout: std::time::Duration::from_secs(5),
            requests: Default::default(),
        }
    }
}

impl TestApi {
    pub(crate) async fn start() -> TestApi {
        TestApi::with(Options::default()).await
    }

    pub(crate) async fn with(options: Options) -> TestApi {
        let harness = Harness::new(HarnessOptions {
            statements: options.statements,
            group_statements: options.group_statements,
            requests: options.requests,
        });
        let with_subscribers = !options.subscribers.is_empty();
        // With subscribers, the workflow also writes notices for the `webhook` topic.
        let service = if with_subscribers {
            AccessService::new(Dependencies {
                store: harness.store.clone(),
                identity: harness.identity.clone(),
                scheduler: harness.scheduler.clone(),
                clock: harness.clock.clone(),
                rules: Arc::new(harness.service.rules().clone()),
                requests: harness.service.settings().clone(),
                audit_sinks: vec!["memory".to_owned()],
                notifiers: vec!["recording".to_owned(), "webhook".to_owned()],
                metrics: harness.metrics.clone(),
            })
        } else {
            harness.service.clone()
        };
        let settings = WebhookSettings {
            clients: clients(),
            subscribers: options.subscribers,
        };
        let adapter = Arc::new(
            WebhookAdapter::with_delivery_timeout(
                &settings,
                service.clone(),
                options.delivery_timeout,
            )
            .unwrap(),
        );
        assert_eq!(adapter.has_subscribers(), with_subscribers);
        let dispatcher = adapter.clone().notifier().map(|notifier| {
            OutboxDispatcher::new(
                harness.store.clone(),
                harness.clock.clone(),
                vec![harness.audit.clone()],
                vec![harness.notifier.clone(), notifier],
                harness.metrics.clone(),
            )
        });
        let routes = adapter.routes().expect("the webhook adapter has routes");
        let state = ServerState {
            store: harness.store.clone(),
            metrics: harness.metrics.clone(),
            limits: Default::default(),
        };
        let server = start_server(
            "127.0.0.1:0",
            state,
            vec![routes],
            2,
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        tokio::spawn(server.server);
        let base = format!("http://{}", server.address);
        TestApi {
            harness,
            dispatcher,
            server: server.handle,
            base,
            http: reqwest::Client::new(),
            created: Default::default(),
        }
    }

    /// Runs the subscriber-aware dispatcher until the outbox is empty or only holds retries.
    pub(crate) async fn deliver(&self) {
        let dispatcher = self.dispatcher.as_ref().expect("no subscribers configured");
        while dispatcher.dispatch_once().await.unwrap() > 0 {}
    }

    pub(crate) fn now(&self) -> i64 {
        self.harness.service.clock().now().unix_timestamp()
    }

    /// A call signed by `client` with `secret` at the harness clock's now, with a new nonce.
    pub(crate) fn signed_by(
        &self,
        client: &str,
        secret: &str,
        method: reqwest::Method,
        path: &str,
        body: &[u8],
    ) -> Call {
        self.signed_at(client, secret, method, path, body, self.now())
    }

    /// Like [`TestApi::signed_by`], at another time.
    pub(crate) fn signed_at(
        &self,
        client: &str,
        secret: &str,
        method: reqwest::Method,
        path: &str,
        body: &[u8],
        timestamp: i64,
    ) -> Call {
        let mut headers: Vec<(String, String)> =
            signed_headers(client, secret, method.as_str(), path, body, timestamp)
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        Call {
            method,
            path: path.to_owned(),
            body: body.to_vec(),
            headers,
        }
    }

    /// A call signed with a chosen nonce.
    pub(crate) fn signed_with_nonce(
        &self,
        client: &str,
        secret: &str,
        method: reqwest::Method,
        path: &str,
        body: &[u8],
        nonce: &str,
    ) -> Call {
        let timestamp = self.now().to_string();
        let signature = sign(
            secret,
            &Signed {
                timestamp: &timestamp,
                nonce,
                method: method.as_str(),
                path_and_query: path,
            },
            body,
        );
        self.signed_by(client, secret, method, path, body)
            .replace("X-Liftgate-Timestamp", timestamp)
            .replace("X-Liftgate-Nonce", nonce)
            .replace("X-Liftgate-Signature", signature)
    }

    pub(crate) fn post_call(&self, path: &str, body: &Value) -> Call {
        self.signed_by(
            CI,
            CI_SECRET,
            reqwest::Method::POST,
            path,
            body.to_string().as_bytes(),
        )
    }

    pub(crate) fn get_call(&self, path: &str) -> Call {
        self.signed_by(CI, CI_SECRET, reqwest::Method::GET, path, b"")
    }

    pub(crate) async fn send(&self, call: &Call) -> Reply {
        send_to(&self.http, &self.base, call).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(&self.post_call(path, &body)).await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(&self.get_call(path)).await
    }

    pub(crate) async fn create(&self, body: Value) -> Reply {
        self.post("/api/v1/requests", body).await
    }

    /// Creates a pending request on Prod for requester@ and returns its id. Each has its own
    /// reason, so a reader of the store can tell them apart.
    pub(crate) async fn create_prod_admin(&self) -> RequestId {
        let mut body = prod_admin();
        let n = self
            .created
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        body["reason"] = json!(format!("deploy hotfix #{n}"));
        let reply = self.create(body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.id()
    }

    pub(crate) async fn decide(&self, id: &RequestId, action: &str, body: Value) -> Reply {
        self.post(&format!("/api/v1/requests/{id}/{action}"), body)
            .await
    }

    pub(crate) async fn stored(&self, id: &RequestId) -> AccessRequest {
        self.harness.request(id).await
    }

    /// Every request in the store, whatever its status.
    /// The same API served by a second replica (its own service and adapter) on the same
    /// store.
    pub(crate) async fn second_replica(&self) -> Replica {
        let settings = WebhookSettings {
            clients: clients(),
            subscribers: Vec::new(),
        };
        let adapter = Arc::new(WebhookAdapter::new(&settings, self.harness.replica()).unwrap());
        let routes = adapter.routes().expect("the webhook adapter has routes");
        let state = ServerState {
            store: self.harness.store.clone(),
            metrics: self.harness.metrics.clone(),
            limits: Default::default(),
        };
        let server = start_server(
            "127.0.0.1:0",
            state,
            vec![routes],
            1,
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        let base = format!("http://{}", server.address);
        tokio::spawn(server.server);
        Replica {
            base,
            http: self.http.clone(),
            _server: server.handle,
        }
    }

    pub(crate) async fn all_requests(&self) -> Vec<AccessRequest> {
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
            let query = RequestQuery::Status {
                status,
                limit: 1000,
            };
            all.extend(self.harness.store.query_requests(query).await.unwrap());
        }
        all
    }

    /// Delivers what the outbox holds, so later checks see only what comes after.
    pub(crate) async fn settle(&self) {
        self.harness.deliver_outbox().await;
        assert_eq!(self.harness.store.outbox_len().await.unwrap(), 0);
    }

    /// The refusal left nothing behind: no request at all, nothing in the outbox, no audit
    /// record even after delivery.
    pub(crate) async fn assert_nothing_happened(&self) {
        assert!(self.all_requests().await.is_empty(), "a request was stored");
        assert_eq!(
            self.harness.store.outbox_len().await.unwrap(),
            0,
            "the outbox has messages"
        );
        self.harness.deliver_outbox().await;
        assert!(
            self.harness.audit.records().is_empty(),
            "an audit record was written"
        );
        assert_eq!(self.harness.identity.calls("create_assignment"), 0);
    }

    /// A refusal on an existing request left it exactly as it was and wrote nothing.
    pub(crate) async fn assert_unchanged(&self, before: &AccessRequest) {
        assert_eq!(
            &self.stored(&before.id).await,
            before,
            "the request changed"
        );
        assert_eq!(
            self.harness.store.outbox_len().await.unwrap(),
            0,
            "the outbox has messages"
        );
    }
}

pub(crate) fn prod_admin() -> Value {
    json!({"requester": REQUESTER, "account_id": "111111111111", "permission_set": "Admin",
           "duration": "1h", "reason": "deploy hotfix"})
}

pub(crate) fn dev_readonly() -> Value {
    json!({"requester": REQUESTER, "account_id": "222222222222", "permission_set": "ReadOnly",
           "duration": "2h", "reason": "look at logs"})
}

pub(crate) fn dev_admin() -> Value {
    json!({"requester": REQUESTER, "account_id": "222222222222", "permission_set": "Admin",
           "duration": "1h", "reason": "fix config"})
}
