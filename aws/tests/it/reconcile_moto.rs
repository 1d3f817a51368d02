//! Drift reconciliation end to end on moto: the real executor and inventory, SQLite state,
//! assignments and memberships seeded directly (access made outside Liftgate) next to grants
//! made by the workflow.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};
use liftgate_aws::{AwsAccessInventory, AwsClients, InventoryConfig};
use liftgate_gateway::config::{
    AwsSettings, ReconciliationMode, ReconciliationSettings, UserAttribute,
};
use liftgate_gateway::domain::{Channel, RequestStatus};
use liftgate_gateway::ports::{AccessInventory, DriftAction};
use liftgate_gateway::scheduler::LocalScheduler;
use liftgate_gateway::store::SqliteStore;
use liftgate_gateway::testing::{
    ManualClock, MemoryAuditSink, RecordingNotifier, Rig, RigParts, person,
};
use liftgate_gateway::workflow::{
    AccessService, FindingOutcome, NewRequest, OutboxDispatcher, PruningStrategy, ReconcileReport,
    Reconciler, ReconcilerTuning, TargetInput,
};
use liftgate_policy::Duration;
use liftgate_testkit::moto::{MotoServer, REGION, Seed};
use serde_json::json;

use crate::support::identity_on;

struct World {
    _moto: MotoServer,
    seed: Seed,
    service: AccessService,
    audit: Arc<MemoryAuditSink>,
    notifier: Arc<RecordingNotifier>,
    dispatcher: OutboxDispatcher,
    clients: AwsClients,
    settings: AwsSettings,
    prod: String,
    dev: String,
    audit_account: String,
    admin: String,
    read_only: String,
    ops: String,
    users: BTreeMap<&'static str, String>,
    _directory: tempfile::TempDir,
}

/// Organization: the management account, Prod, Dev and Audit; permission sets Admin and
/// ReadOnly; group Ops. Rules: ReadOnly anywhere (`"*"`), Admin in Prod only (self-service),
/// Ops (self-service). So the scope is 4 × ReadOnly + Prod/Admin, and Ops.
async fn world() -> World {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let accounts = seed.organization(&["Prod", "Dev", "Audit"]).await;
    let admin = seed.permission_set("Admin").await;
    let read_only = seed.permission_set("ReadOnly").await;
    let ops = seed.group("Ops").await;
    let mut users = BTreeMap::new();
    for name in ["requester", "alice", "bob", "carol", "dave"] {
        let id = seed
            .user(
                name,
                &format!("{name}@corp.com"),
                &format!("{name} Example"),
            )
            .await;
        users.insert(name, id);
    }
    let (prod, dev, audit_account) = (
        accounts[0].id.clone(),
        accounts[1].id.clone(),
        accounts[2].id.clone(),
    );
    let statements = json!([
        {"ResourceType": "Account", "Resource": "*", "PermissionSet": "ReadOnly",
         "Approvers": "alice@corp.com"},
        {"ResourceType": "Account", "Resource": [prod], "PermissionSet": "Admin",
         "Approvers": "alice@corp.com", "ApprovalIsNotRequired": true},
    ]);
    let group_statements = json!([{"Resource": [ops], "Approvers": "alice@corp.com",
                                   "ApprovalIsNotRequired": true}]);
    let identity = Arc::new(identity_on(&moto, &seed, |_, _| {}).await);
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(directory.path().join("state.db")).unwrap());
    let Rig {
        service,
        audit,
        notifier,
        dispatcher,
        ..
    } = Rig::new(RigParts {
        store,
        identity,
        scheduler: Arc::new(LocalScheduler),
        clock: Arc::new(ManualClock::at_epoch_seconds(1_800_000_000)),
        statements,
        group_statements,
        requests: Default::default(),
        extra_sinks: Vec::new(),
    });
    let settings = AwsSettings {
        region: REGION.to_owned(),
        sso_instance_arn: seed.instance_arn.clone(),
        identity_store_id: seed.identity_store_id.clone(),
        endpoint_url: Some(moto.endpoint().to_owned()),
        user_attribute: UserAttribute::Email,
        fallback_email_domains: Vec::new(),
        provisioning_timeout: Duration::from_secs(5),
    };
    let clients = AwsClients::for_test_endpoint(moto.endpoint(), REGION).await;
    World {
        _moto: moto,
        seed,
        service,
        audit,
        notifier,
        dispatcher,
        clients,
        settings,
        prod,
        dev,
        audit_account,
        admin,
        read_only,
        ops,
        users,
        _directory: directory,
    }
}

fn reconciliation(mode: ReconciliationMode) -> ReconciliationSettings {
    ReconciliationSettings {
        enabled: true,
        mode,
        interval: Duration::from_hours(1),
        max_calls_per_second: 200,
    }
}

impl World {
    fn user(&self, name: &str) -> &str {
        &self.users[name]
    }

    /// The production inventory as the composition root builds it.
    fn inventory(&self) -> AwsAccessInventory {
        AwsAccessInventory::new(&self.clients, &self.settings)
    }

    fn reconciler(&self, inventory: AwsAccessInventory, mode: ReconciliationMode) -> Reconciler {
        Reconciler::new(&self.service, Arc::new(inventory), reconciliation(mode)).with_tuning(
            ReconcilerTuning {
                retry_base_delay: std::time::Duration::from_millis(1),
                retry_max_delay: std::time::Duration::from_millis(5),
                ..ReconcilerTuning::default()
            },
        )
    }

    async fn pass(&self, mode: ReconciliationMode) -> ReconcileReport {
        let report = self
            .reconciler(self.inventory(), mode)
            .run_once(false)
            .await
            .unwrap();
        while self.dispatcher.dispatch_once().await.unwrap() > 0 {}
        report
    }

    async fn self_service(&self, requester: &str, target: TargetInput) {
        let request = self
            .service
            .create(NewRequest {
                requester: person(requester),
                target,
                duration: Duration::from_hours(1),
                reason: "incident 42".to_owned(),
                channel: Channel::Webhook,
                start_at: None,
                extends: None,
                idempotency_key: None,
                break_glass: false,
            })
            .await
            .unwrap();
        assert_eq!(request.status(), RequestStatus::Active);
    }

    async fn group_assignment(&self, account: &str, permission_set_arn: &str, group: &str) {
        self.seed
            .sso_admin
            .create_account_assignment()
            .instance_arn(&self.seed.instance_arn)
            .target_type(TargetType::AwsAccount)
            .target_id(account)
            .permission_set_arn(permission_set_arn)
            .principal_type(PrincipalType::Group)
            .principal_id(group)
            .send()
            .await
            .unwrap();
    }

    /// Liftgate grants for the requester (Prod/Admin, Ops), and access made outside Liftgate:
    /// bob Prod/Admin and dave Audit/ReadOnly (in scope), carol Dev/Admin (out of scope: no
    /// statement names Dev/Admin), carol in Ops (in scope), and Ops assigned Prod/Admin as a
    /// group (never reconciled).
    async fn seed_drift(&self) {
        self.self_service(
            "requester@corp.com",
            TargetInput::Account {
                account_id: self.prod.clone(),
                permission_set: "Admin".to_owned(),
            },
        )
        .await;
        self.self_service(
            "requester@corp.com",
            TargetInput::Group {
                group_id: self.ops.clone(),
            },
        )
        .await;
        self.seed
            .assignment(&self.prod, &self.admin, self.user("bob"))
            .await;
        self.seed
            .assignment(&self.audit_account, &self.read_only, self.user("dave"))
            .await;
        self.seed
            .assignment(&self.dev, &self.admin, self.user("carol"))
            .await;
        self.seed.membership(&self.ops, self.user("carol")).await;
        self.group_assignment(&self.prod, &self.admin, &self.ops)
            .await;
    }

    fn expected_findings(&self) -> BTreeSet<String> {
        BTreeSet::from([
            format!("account:{}:Admin:{}", self.prod, self.user("bob")),
            format!(
                "account:{}:ReadOnly:{}",
                self.audit_account,
                self.user("dave")
            ),
            format!("group:{}:{}", self.ops, self.user("carol")),
        ])
    }

    fn reconciler_events(&self) -> Vec<(String, String)> {
        let mut events: Vec<(String, String)> = self
            .audit
            .records()
            .iter()
            .filter(|record| record.fields.channel == Channel::Reconciler)
            .map(|record| {
                (
                    record.fields.event.as_str().to_owned(),
                    record.fields.requester_email.clone(),
                )
            })
            .collect();
        events.sort();
        events
    }
}

fn finding_keys(report: &ReconcileReport) -> BTreeSet<String> {
    report
        .findings
        .iter()
        .map(|finding| finding.access_key.clone())
        .collect()
}

#[tokio::test]
async fn revoke_mode_on_moto_removes_exactly_the_unexplained_access_in_scope() {
    let w = world().await;
    w.seed_drift().await;

    let report = w.pass(ReconciliationMode::Revoke).await;

    assert_eq!(finding_keys(&report), w.expected_findings());
    assert!(
        report
            .findings
            .iter()
            .all(|finding| finding.outcome == FindingOutcome::Revoked),
        "{report}"
    );
    // The management account counts as an organization account for `"*"`.
    assert_eq!(report.scope.pairs, 5, "4 accounts × ReadOnly + Prod/Admin");
    assert_eq!(report.scope.groups, 1);
    assert_eq!(
        report.scope.pruning,
        Some(PruningStrategy::Disabled),
        "moto's provisioning answers are not trusted"
    );
    assert_eq!(report.access_seen, 5);
    assert_eq!(report.explained, 2);
    assert_eq!(report.api_calls["ListAccountAssignments"], 5);
    assert_eq!(report.api_calls["ListGroupMemberships"], 1);
    assert_eq!(report.api_calls["DescribeUser"], 3);
    assert_eq!(report.api_calls["DeleteAccountAssignment"], 2);
    assert_eq!(report.api_calls["DeleteGroupMembership"], 1);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let bob = report
        .findings
        .iter()
        .find(|finding| finding.user_id == w.user("bob"))
        .unwrap();
    assert_eq!(
        bob.user.as_ref().and_then(|user| user.email.as_deref()),
        Some("bob@corp.com")
    );

    let rows = |account: &str, arn: &str, user: &str| {
        let (account, arn, user) = (account.to_owned(), arn.to_owned(), w.user(user).to_owned());
        let seed = w.seed.clone();
        async move { seed.user_assignment_count(&account, &arn, &user).await }
    };
    assert_eq!(rows(&w.prod, &w.admin, "bob").await, 0);
    assert_eq!(rows(&w.audit_account, &w.read_only, "dave").await, 0);
    assert_eq!(rows(&w.dev, &w.admin, "carol").await, 1, "out of scope");
    assert_eq!(rows(&w.prod, &w.admin, "requester").await, 1, "granted");
    assert_eq!(w.seed.membership_count(&w.ops, w.user("carol")).await, 0);
    assert_eq!(
        w.seed.membership_count(&w.ops, w.user("requester")).await,
        1
    );

    assert_eq!(
        w.reconciler_events(),
        [
            ("drift_detected".to_owned(), "bob@corp.com".to_owned()),
            ("drift_detected".to_owned(), "carol@corp.com".to_owned()),
            ("drift_detected".to_owned(), "dave@corp.com".to_owned()),
            ("revoked".to_owned(), "bob@corp.com".to_owned()),
            ("revoked".to_owned(), "carol@corp.com".to_owned()),
            ("revoked".to_owned(), "dave@corp.com".to_owned()),
        ]
    );
    assert!(
        w.notifier
            .drift_notices()
            .iter()
            .all(|notice| notice.action == DriftAction::Revoked)
    );
    assert_eq!(w.notifier.drift_notices().len(), 3);

    // Clean now: the next pass sees only Liftgate's own access.
    let again = w.pass(ReconciliationMode::Revoke).await;
    assert!(again.findings.is_empty(), "{again}");
    assert_eq!(again.access_seen, 2);
    assert_eq!(again.explained, 2);
}

#[tokio::test]
async fn warn_mode_on_moto_reports_once_and_removes_nothing() {
    let w = world().await;
    w.seed_drift().await;

    let first = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(finding_keys(&first), w.expected_findings());
    let second = w.pass(ReconciliationMode::Warn).await;
    assert_eq!(finding_keys(&second), w.expected_findings());
    assert!(
        second
            .findings
            .iter()
            .all(|finding| finding.outcome == FindingOutcome::AlreadyReported)
    );
    assert_eq!(
        w.reconciler_events(),
        [
            ("drift_detected".to_owned(), "bob@corp.com".to_owned()),
            ("drift_detected".to_owned(), "carol@corp.com".to_owned()),
            ("drift_detected".to_owned(), "dave@corp.com".to_owned()),
        ]
    );
    assert_eq!(w.notifier.drift_notices().len(), 3);
    assert_eq!(
        w.seed
            .user_assignment_count(&w.prod, &w.admin, w.user("bob"))
            .await,
        1
    );
    assert_eq!(w.seed.membership_count(&w.ops, w.user("carol")).await, 1);
}

#[tokio::test]
async fn trusting_motos_provisioning_answers_would_hide_drift_so_they_are_not_trusted() {
    let w = world().await;
    w.seed_drift().await;
    let inventory = w.inventory();
    assert!(
        !inventory.provisioning_is_reliable(),
        "an endpoint override switches pruning off"
    );
    let real_aws = InventoryConfig::from_settings(&AwsSettings {
        endpoint_url: None,
        ..w.settings.clone()
    });
    assert!(
        real_aws.trust_provisioning_queries,
        "real AWS (no override) is trusted"
    );

    let outbox_before = w.service.store().outbox_len().await.unwrap();
    let safe = w
        .reconciler(inventory, ReconciliationMode::Warn)
        .run_once(true)
        .await
        .unwrap();
    assert_eq!(finding_keys(&safe), w.expected_findings());

    // What would happen if moto's answers were trusted: it says no permission set is
    // provisioned anywhere, every pair is pruned, and the account drift goes unseen.
    let trusting = w
        .reconciler(
            w.inventory().with_provisioning_queries(true),
            ReconciliationMode::Warn,
        )
        .run_once(true)
        .await
        .unwrap();
    assert_eq!(
        trusting.scope.pruning,
        Some(PruningStrategy::ByPermissionSet)
    );
    assert_eq!(trusting.scope.pairs_listed, 0);
    assert_eq!(
        finding_keys(&trusting),
        BTreeSet::from([format!("group:{}:{}", w.ops, w.user("carol"))])
    );
    assert_eq!(
        w.service.store().outbox_len().await.unwrap(),
        outbox_before,
        "dry runs write nothing"
    );
}

#[tokio::test]
async fn pages_of_one_are_followed_to_the_end_on_moto() {
    let w = world().await;
    for name in ["bob", "carol", "dave"] {
        w.seed.assignment(&w.prod, &w.admin, w.user(name)).await;
        w.seed.membership(&w.ops, w.user(name)).await;
    }
    let inventory = AwsAccessInventory::from_parts(
        w.clients.sso_admin.clone(),
        w.clients.identity_store.clone(),
        InventoryConfig {
            page_size: Some(1),
            ..InventoryConfig::from_settings(&w.settings)
        },
    );
    let report = w
        .reconciler(inventory, ReconciliationMode::Warn)
        .run_once(true)
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 6, "{report}");
    // Prod/Admin holds 3 rows in pages of one; the other four pairs answer one empty page.
    assert_eq!(report.api_calls["ListAccountAssignments"], 3 + 4);
    assert_eq!(report.api_calls["ListGroupMemberships"], 3);
    assert!(report.findings.iter().all(|finding| {
        finding
            .user
            .as_ref()
            .and_then(|u| u.email.as_ref())
            .is_some()
    }));
}
