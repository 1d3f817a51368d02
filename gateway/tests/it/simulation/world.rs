//! The simulated world: the real workflow on in-memory ports whose every call parks at a
//! point of the deterministic executor, so the executor decides the interleaving and injects
//! faults (refused calls, lost answers) at every AWS and store step.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::domain::{AccessKey, AccessRecord, AccessRequest, Grant, GrantId, RequestId};
use liftgate_gateway::ports::{
    AccessQuery, AccountInfo, Clock, DirectoryUser, GrantQuery, GroupInfo, IdentityCenter,
    IdentityError, LeaseSighting, LeaseState, OutboxMessage, ProvisionReceipt, RequestQuery,
    RevocationScheduler, SchedulerError, StateStore, StoreError, WriteBatch,
};
use liftgate_gateway::testing::{FakeIdentityCenter, MemoryStore, RecordingScheduler};
use liftgate_policy::Email;
use parking_lot::Mutex;
use time::OffsetDateTime;

use super::executor::{Fault, Gate, Kind};

fn lost(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what}: the answer was lost"))
}

fn refused(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what}: unavailable"))
}

/// The clock: moves only when the executor moves it.
#[derive(Debug)]
pub(super) struct SimClock {
    now: Mutex<OffsetDateTime>,
    gate: Arc<Gate>,
}

impl SimClock {
    pub(super) fn new(start: OffsetDateTime, gate: Arc<Gate>) -> SimClock {
        SimClock {
            now: Mutex::new(start),
            gate,
        }
    }

    pub(super) fn advance_to(&self, at: OffsetDateTime) {
        let mut now = self.now.lock();
        if at > *now {
            *now = at;
        }
    }

    pub(super) fn advance(&self, by: time::Duration) {
        *self.now.lock() += by;
    }
}

#[async_trait]
impl Clock for SimClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock()
    }

    async fn sleep(&self, duration: std::time::Duration) {
        let wake = self.now() + duration;
        self.gate.point("clock.sleep", Kind::Sleep(wake)).await;
    }

    async fn pause(&self, duration: std::time::Duration) {
        let wake = self.now() + duration;
        self.gate.point("clock.pause", Kind::Sleep(wake)).await;
    }
}

/// The state store in memory, every call a point.
#[derive(Debug)]
pub(super) struct SimStore {
    pub(super) inner: MemoryStore,
    gate: Arc<Gate>,
}

impl SimStore {
    pub(super) fn new(gate: Arc<Gate>) -> SimStore {
        SimStore {
            inner: MemoryStore::new(),
            gate,
        }
    }

    async fn read(&self, label: &'static str) -> Result<(), StoreError> {
        match self.gate.point(label, Kind::StoreRead).await {
            Fault::Go => Ok(()),
            Fault::Refuse | Fault::LoseAnswer => Err(refused(label)),
        }
    }

    /// `Ok(true)`: do it and answer; `Ok(false)`: do it and lose the answer.
    async fn write(&self, label: &'static str) -> Result<bool, StoreError> {
        match self.gate.point(label, Kind::StoreWrite).await {
            Fault::Go => Ok(true),
            Fault::Refuse => Err(refused(label)),
            Fault::LoseAnswer => Ok(false),
        }
    }
}

macro_rules! written {
    ($self:ident, $label:literal, $call:expr) => {{
        let answer = $self.write($label).await?;
        let result = $call;
        if answer { result } else { Err(lost($label)) }
    }};
}

#[async_trait]
impl StateStore for SimStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        written!(self, "store.commit", self.inner.commit(batch).await)
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequest>, StoreError> {
        self.read("store.get_request").await?;
        self.inner.get_request(id).await
    }

    async fn query_requests(&self, query: RequestQuery) -> Result<Vec<AccessRequest>, StoreError> {
        self.read("store.query_requests").await?;
        self.inner.query_requests(query).await
    }

    async fn get_grant(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        self.read("store.get_grant").await?;
        self.inner.get_grant(id).await
    }

    async fn query_grants(&self, query: GrantQuery) -> Result<Vec<Grant>, StoreError> {
        self.read("store.query_grants").await?;
        self.inner.query_grants(query).await
    }

    async fn get_access(&self, key: &AccessKey) -> Result<Option<AccessRecord>, StoreError> {
        self.read("store.get_access").await?;
        self.inner.get_access(key).await
    }

    async fn query_access(&self, query: AccessQuery) -> Result<Vec<AccessRecord>, StoreError> {
        self.read("store.query_access").await?;
        self.inner.query_access(query).await
    }

    async fn claim_outbox(
        &self,
        topic_prefix: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.inner
            .claim_outbox(topic_prefix, now, lease_until, limit)
            .await
    }

    async fn audit_chain_head(&self) -> Result<liftgate_gateway::audit::ChainHead, StoreError> {
        self.read("store.audit_chain_head").await?;
        self.inner.audit_chain_head().await
    }

    async fn complete_outbox(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        self.inner.complete_outbox(id).await
    }

    async fn retry_outbox(
        &self,
        id: uuid::Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner.retry_outbox(id, retry_at, error).await
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        self.inner.outbox_len().await
    }

    async fn remember_once(
        &self,
        key: &str,
        value: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        written!(
            self,
            "store.remember_once",
            self.inner.remember_once(key, value, now, expires_at).await
        )
    }

    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        stale: Option<&LeaseSighting>,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<LeaseState, StoreError> {
        let answer = self.write("store.acquire_lease").await?;
        let result = self.inner.acquire_lease(name, owner, stale, now, ttl).await;
        if std::env::var_os("LIFTGATE_SIM_TRACE").is_some() {
            eprintln!("    acquire {name} by {owner} stale {stale:?} -> {result:?}");
        }
        if answer {
            result
        } else {
            Err(lost("store.acquire_lease"))
        }
    }

    async fn renew_lease(
        &self,
        name: &str,
        owner: &str,
        token: u64,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<Option<u64>, StoreError> {
        let answer = self.write("store.renew_lease").await?;
        let result = self.inner.renew_lease(name, owner, token, now, ttl).await;
        if std::env::var_os("LIFTGATE_SIM_TRACE").is_some() {
            eprintln!("    renew {name} by {owner} at {token} -> {result:?}");
        }
        if answer {
            result
        } else {
            Err(lost("store.renew_lease"))
        }
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let answer = self.write("store.release_lease").await?;
        let result = self.inner.release_lease(name, owner).await;
        if std::env::var_os("LIFTGATE_SIM_TRACE").is_some() {
            eprintln!("    release {name} by {owner}");
        }
        if answer {
            result
        } else {
            Err(lost("store.release_lease"))
        }
    }

    async fn put_document(
        &self,
        namespace: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.inner.put_document(namespace, key, value).await
    }

    async fn get_document(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.inner.get_document(namespace, key).await
    }

    async fn delete_document(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        self.inner.delete_document(namespace, key).await
    }
}

/// How long an AWS call may wait to be sent before the SDK gives up on it (its operation
/// timeout): a call parked longer than this fails without taking effect.
const AWS_TIMEOUT: time::Duration = time::Duration::seconds(60);

/// Identity Center in memory, every call a point: reads may be refused, changes refused or
/// made with their answer lost. Like Identity Center (and unlike moto), creating an assignment
/// that exists changes nothing.
#[derive(Debug)]
pub(super) struct SimIdentity {
    pub(super) inner: FakeIdentityCenter,
    gate: Arc<Gate>,
    clock: Arc<SimClock>,
}

impl SimIdentity {
    pub(super) fn new(gate: Arc<Gate>, clock: Arc<SimClock>) -> SimIdentity {
        SimIdentity {
            inner: FakeIdentityCenter::new(),
            gate,
            clock,
        }
    }

    async fn read(&self, label: &'static str) -> Result<(), IdentityError> {
        match self.gate.point(label, Kind::AwsRead).await {
            Fault::Go => Ok(()),
            Fault::Refuse => Err(IdentityError::Throttled(format!("{label}: rate exceeded"))),
            Fault::LoseAnswer => Err(IdentityError::Unavailable(format!("{label}: timeout"))),
        }
    }

    async fn write(&self, label: &'static str) -> Result<bool, IdentityError> {
        let sent = self.clock.now();
        let fault = self.gate.point(label, Kind::AwsWrite).await;
        if self.clock.now() - sent > AWS_TIMEOUT {
            return Err(IdentityError::Unavailable(format!("{label}: timed out")));
        }
        match fault {
            Fault::Go => Ok(true),
            Fault::Refuse => Err(IdentityError::Throttled(format!("{label}: rate exceeded"))),
            Fault::LoseAnswer => Ok(false),
        }
    }
}

fn lost_aws(label: &str) -> IdentityError {
    IdentityError::Unavailable(format!("{label}: the connection reset before the answer"))
}

#[async_trait]
impl IdentityCenter for SimIdentity {
    async fn find_user(&self, email: &Email) -> Result<Option<DirectoryUser>, IdentityError> {
        self.read("aws.find_user").await?;
        self.inner.find_user(email).await
    }

    async fn member_groups(
        &self,
        user_id: &str,
        candidates: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, IdentityError> {
        self.read("aws.member_groups").await?;
        self.inner.member_groups(user_id, candidates).await
    }

    async fn describe_account(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountInfo>, IdentityError> {
        self.read("aws.describe_account").await?;
        self.inner.describe_account(account_id).await
    }

    async fn list_accounts(&self) -> Result<Vec<AccountInfo>, IdentityError> {
        self.inner.list_accounts().await
    }

    async fn permission_set_arn(&self, name: &str) -> Result<Option<String>, IdentityError> {
        self.read("aws.permission_set_arn").await?;
        self.inner.permission_set_arn(name).await
    }

    async fn list_permission_sets(&self) -> Result<Vec<String>, IdentityError> {
        self.inner.list_permission_sets().await
    }

    async fn describe_group(&self, group_id: &str) -> Result<Option<GroupInfo>, IdentityError> {
        self.read("aws.describe_group").await?;
        self.inner.describe_group(group_id).await
    }

    async fn assignment_exists(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<bool, IdentityError> {
        self.read("aws.assignment_exists").await?;
        self.inner
            .assignment_exists(account_id, permission_set_arn, user_id)
            .await
    }

    async fn create_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        let answer = self.write("aws.create_assignment").await?;
        let exists = self
            .inner
            .assignment_rows()
            .iter()
            .any(|(account, arn, user)| {
                account == account_id && arn == permission_set_arn && user == user_id
            });
        let result = if exists {
            Ok(ProvisionReceipt::default())
        } else {
            self.inner
                .create_assignment(account_id, permission_set_arn, user_id)
                .await
        };
        if answer {
            result
        } else {
            Err(lost_aws("CreateAccountAssignment"))
        }
    }

    async fn delete_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        let answer = self.write("aws.delete_assignment").await?;
        let result = self
            .inner
            .delete_assignment(account_id, permission_set_arn, user_id)
            .await;
        if answer {
            result
        } else {
            Err(lost_aws("DeleteAccountAssignment"))
        }
    }

    async fn find_membership(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, IdentityError> {
        self.read("aws.find_membership").await?;
        self.inner.find_membership(group_id, user_id).await
    }

    async fn add_membership(&self, group_id: &str, user_id: &str) -> Result<String, IdentityError> {
        let answer = self.write("aws.add_membership").await?;
        let result = IdentityCenter::add_membership(&self.inner, group_id, user_id).await;
        if answer {
            result
        } else {
            Err(lost_aws("CreateGroupMembership"))
        }
    }

    async fn delete_membership(&self, membership_id: &str) -> Result<(), IdentityError> {
        let answer = self.write("aws.delete_membership").await?;
        let result = self.inner.delete_membership(membership_id).await;
        if answer {
            result
        } else {
            Err(lost_aws("DeleteGroupMembership"))
        }
    }
}

/// EventBridge Scheduler in memory: one timer per access key, every change a point.
#[derive(Debug)]
pub(super) struct SimScheduler {
    pub(super) inner: RecordingScheduler,
    gate: Arc<Gate>,
    clock: Arc<SimClock>,
}

impl SimScheduler {
    pub(super) fn new(gate: Arc<Gate>, clock: Arc<SimClock>) -> SimScheduler {
        SimScheduler {
            inner: RecordingScheduler::new(),
            gate,
            clock,
        }
    }

    async fn write(&self, label: &'static str) -> Result<bool, SchedulerError> {
        let sent = self.clock.now();
        let fault = self.gate.point(label, Kind::AwsWrite).await;
        if self.clock.now() - sent > AWS_TIMEOUT {
            return Err(SchedulerError::Throttled(format!("{label}: timed out")));
        }
        match fault {
            Fault::Go => Ok(true),
            Fault::Refuse => Err(SchedulerError::Throttled(format!("{label}: throttled"))),
            Fault::LoseAnswer => Ok(false),
        }
    }
}

#[async_trait]
impl RevocationScheduler for SimScheduler {
    fn name(&self) -> &'static str {
        "simulated-eventbridge"
    }

    async fn set(&self, record: &AccessRecord, at: OffsetDateTime) -> Result<(), SchedulerError> {
        let answer = self.write("scheduler.set").await?;
        let result = self.inner.set(record, at).await;
        if answer {
            result
        } else {
            Err(SchedulerError::Throttled("the answer was lost".to_owned()))
        }
    }

    async fn cancel(&self, key: &AccessKey) -> Result<(), SchedulerError> {
        let answer = self.write("scheduler.cancel").await?;
        let result = self.inner.cancel(key).await;
        if answer {
            result
        } else {
            Err(SchedulerError::Throttled("the answer was lost".to_owned()))
        }
    }
}
