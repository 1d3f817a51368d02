//! A gateway with the CLI routes on the workflow harness (fakes, manual clock), whose STS is a
//! private moto server that checks SigV4 signatures: roles are made and assumed with moto's
//! IAM and STS, then moto is told to authenticate every call, as real STS does.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use aws_credential_types::Credentials;
use liftgate_cli_channel::CliAdapter;
use liftgate_cli_channel::client::CliClient;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::{CliSettings, SessionNameAttribute};
use liftgate_gateway::domain::{AccessRequest, RequestStatus};
use liftgate_gateway::http::{ServerState, start_server};
use liftgate_gateway::ports::{RequestQuery, StateStore};
use liftgate_gateway::testing::{Harness, HarnessOptions, ManualClock};
use liftgate_testkit::moto::{MANAGEMENT_ACCOUNT_ID, REGION};
pub(crate) use liftgate_testkit::sts::{SSO_ROLE, Sts};
use serde_json::json;

pub(crate) const SERVER_ID: &str = "liftgate.test";
/// The account moto's roles live in by default; the tests add it to the organization.
pub(crate) const TOOLING: &str = MANAGEMENT_ACCOUNT_ID;
pub(crate) const OUTSIDE: &str = "333333333333";
pub(crate) const REQUESTER: &str = "requester@corp.com";
pub(crate) const ALICE: &str = "alice@corp.com";

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
        break_glass: false,
    }
}
