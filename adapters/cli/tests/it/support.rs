//! A gateway with the CLI routes on the workflow harness (fakes, manual clock), whose STS is a
//! private moto server that checks SigV4 signatures: roles are made and assumed with moto's
//! IAM and STS, then moto is told to authenticate every call, as real STS does.

use std::sync::Arc;
use std::time::SystemTime;

use actix_web::dev::ServerHandle;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_xml::decode::{Document, try_data};
use liftgate_cli_channel::CliAdapter;
use liftgate_cli_channel::client::CliClient;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::{CliSettings, SessionNameAttribute};
use liftgate_gateway::domain::{AccessRequest, RequestStatus};
use liftgate_gateway::http::{ServerState, start_server};
use liftgate_gateway::ports::{RequestQuery, StateStore};
use liftgate_gateway::testing::{Harness, HarnessOptions, ManualClock};
use liftgate_testkit::moto::{MANAGEMENT_ACCOUNT_ID, MotoServer, REGION};
use serde_json::json;

pub(crate) const SERVER_ID: &str = "liftgate.test";
pub(crate) const SSO_ROLE: &str = "AWSReservedSSO_Admin_0123456789abcdef";
/// The account moto's roles live in by default; the tests add it to the organization.
pub(crate) const TOOLING: &str = MANAGEMENT_ACCOUNT_ID;
pub(crate) const OUTSIDE: &str = "333333333333";
pub(crate) const REQUESTER: &str = "requester@corp.com";
pub(crate) const ALICE: &str = "alice@corp.com";

/// STS on moto: roles, sessions, then signature checks on.
pub(crate) struct Sts {
    pub(crate) moto: MotoServer,
    http: reqwest::Client,
}

fn find_text(xml: &str, element: &str) -> Option<String> {
    let mut doc = Document::new(xml);
    while let Some(start) = doc.next_start_element() {
        if start.matches(element) {
            let mut scoped = doc.scoped_to(start);
            return try_data(&mut scoped)
                .ok()
                .map(|text| text.trim().to_owned());
        }
    }
    None
}

impl Sts {
    pub(crate) fn start() -> Sts {
        Sts {
            moto: MotoServer::start(),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("{}/", self.moto.endpoint().trim_end_matches('/'))
    }

    /// One query-protocol call, signed with the test credentials (moto does not check them
    /// until [`Sts::check_signatures`]).
    async fn query(&self, service: &str, version: &str, params: &[(&str, &str)]) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in params {
            form.append_pair(key, value);
        }
        form.append_pair("Version", version);
        let body = form.finish();
        let url = self.endpoint();
        let host = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let headers = [
            ("host", host.as_str()),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ];
        let identity = Credentials::new("testing", "testing", None, None, "tests").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = self.http.post(&url).body(body.clone());
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            if name != "host" {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_success(),
            "moto {service} {params:?}: {status} {text}",
            params = params
        );
        text
    }

    /// An IAM role anyone may assume, in moto's default account.
    pub(crate) async fn create_role(&self, name: &str) {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
        .to_string();
        self.query(
            "iam",
            "2010-05-08",
            &[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", &trust),
            ],
        )
        .await;
    }

    /// Credentials of a session of `role` in `account`, named `session_name`.
    pub(crate) async fn assume(
        &self,
        account: &str,
        role: &str,
        session_name: &str,
    ) -> Credentials {
        let arn = format!("arn:aws:iam::{account}:role/{role}");
        let xml = self
            .query(
                "sts",
                "2011-06-15",
                &[
                    ("Action", "AssumeRole"),
                    ("RoleArn", &arn),
                    ("RoleSessionName", session_name),
                ],
            )
            .await;
        Credentials::new(
            find_text(&xml, "AccessKeyId").unwrap(),
            find_text(&xml, "SecretAccessKey").unwrap(),
            find_text(&xml, "SessionToken"),
            None,
            "moto-assume-role",
        )
    }

    /// From now on moto verifies every signature and refuses unknown keys.
    pub(crate) async fn check_signatures(&self) {
        let response = self
            .http
            .post(format!("{}moto-api/reset-auth", self.endpoint()))
            .body("0")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
}

pub(crate) struct Options {
    pub(crate) sts_endpoint: String,
    pub(crate) allowed_accounts: Vec<String>,
    pub(crate) user_attribute: SessionNameAttribute,
}

impl Options {
    pub(crate) fn new(sts: &Sts) -> Options {
        Options {
            sts_endpoint: sts.endpoint(),
            allowed_accounts: Vec::new(),
            user_attribute: SessionNameAttribute::UserName,
        }
    }
}

/// The gateway: Prod (111111111111) needs alice, bob or carol; Dev ReadOnly (222222222222)
/// is granted outright. The tooling account where the roles live is in the organization;
/// requester@corp.com has the user name `requester`.
pub(crate) struct TestGateway {
    pub(crate) harness: Harness,
    pub(crate) base: String,
    server: ServerHandle,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

impl TestGateway {
    pub(crate) async fn start(options: Options) -> TestGateway {
        let harness = Harness::new(HarnessOptions {
            statements: json!([
                {"ResourceType": "Account", "Resource": ["111111111111"], "PermissionSet": "*",
                 "Approvers": ["alice@corp.com", "bob@corp.com", "carol@corp.com"], "MaxDuration": "4h"},
                {"ResourceType": "Account", "Resource": ["222222222222"], "PermissionSet": "ReadOnly",
                 "ApprovalIsNotRequired": true},
            ]),
            ..HarnessOptions::default()
        });
        harness.identity.add_account(TOOLING, "Tooling");
        harness.identity.set_user_name("u-requester", "requester");
        let settings = CliSettings {
            enabled: true,
            sts_endpoint: Some(options.sts_endpoint),
            sts_region: None,
            user_attribute: options.user_attribute,
            server_id: SERVER_ID.to_owned(),
            allowed_accounts: options.allowed_accounts,
        };
        let adapter =
            Arc::new(CliAdapter::new(&settings, REGION, harness.service.clone()).unwrap());
        assert!(adapter.clone().notifier().is_none());
        let routes = adapter.routes().unwrap();
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
        TestGateway {
            harness,
            base: format!("http://{}", server.address),
            server: server.handle,
        }
    }

    /// The real client, signing at the harness clock's time with `credentials`.
    pub(crate) async fn client(&self, credentials: Credentials) -> CliClient {
        self.client_at(credentials, self.harness.clock.clone())
            .await
    }

    pub(crate) async fn client_at(
        &self,
        credentials: Credentials,
        clock: Arc<ManualClock>,
    ) -> CliClient {
        CliClient::connect(&self.base, Some(SERVER_ID.to_owned()), credentials)
            .await
            .unwrap()
            .with_clock(clock)
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

    /// A refusal left nothing: no request, no outbox row, no audit record.
    pub(crate) async fn assert_nothing_happened(&self) {
        assert!(self.all_requests().await.is_empty(), "a request was stored");
        assert_eq!(self.harness.store.outbox_len().await.unwrap(), 0);
        self.harness.deliver_outbox().await;
        assert!(self.harness.audit.records().is_empty());
    }

    /// The metric of refused callers, by reason.
    pub(crate) fn auth_failures(&self, reason: &str) -> f64 {
        self.harness.metrics.counter_value(
            "liftgate_auth_failures_total",
            &[("channel", "cli"), ("reason", reason)],
        )
    }
}

/// A gateway and STS where requester@ holds an Identity Center session (`requester`) of the
/// Admin permission set in the tooling account.
pub(crate) async fn genuine_setup() -> (Sts, TestGateway, Credentials) {
    let sts = Sts::start();
    sts.create_role(SSO_ROLE).await;
    let credentials = sts.assume(TOOLING, SSO_ROLE, "requester").await;
    sts.check_signatures().await;
    let gateway = TestGateway::start(Options::new(&sts)).await;
    (sts, gateway, credentials)
}

pub(crate) fn prod_admin() -> liftgate_cli_channel::client::CreateRequest {
    liftgate_cli_channel::client::CreateRequest {
        target: liftgate_cli_channel::client::RequestTarget::Account {
            account_id: "111111111111".into(),
            permission_set: "Admin".into(),
        },
        duration: "1h".into(),
        reason: "deploy hotfix".into(),
    }
}
