use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use liftgate_policy::Email;
use time::OffsetDateTime;

use crate::audit::{AuditRecord, Checkpoint};
use crate::domain::{AccessKey, AccessRecord, GrantTarget, RequestId, RequestStatus};
use crate::ports::{
    AccountInfo, AuditError, AuditSink, DirectoryUser, DriftNotice, GroupInfo, IdentityCenter,
    IdentityError, NamedUser, Notice, NoticeKind, Notifier, NotifyError, ProvisionReceipt,
    RevocationScheduler, SchedulerError,
};

/// An error to inject into the next call of an operation.
#[derive(Debug, Clone)]
pub enum FakeFailure {
    Throttled,
    Conflict,
    AccessDenied,
    Failed(String),
    Unavailable,
}

impl FakeFailure {
    pub(crate) fn to_identity_error(&self, operation: &str) -> IdentityError {
        match self {
            FakeFailure::Throttled => {
                IdentityError::Throttled(format!("{operation}: rate exceeded"))
            }
            FakeFailure::Conflict => IdentityError::Conflict(format!("{operation}: conflict")),
            FakeFailure::AccessDenied => {
                IdentityError::AccessDenied(format!("{operation}: denied"))
            }
            FakeFailure::Failed(message) => IdentityError::Failed(message.clone()),
            FakeFailure::Unavailable => IdentityError::Unavailable(format!("{operation}: timeout")),
        }
    }
}

#[derive(Debug, Default)]
struct Directory {
    users: BTreeMap<String, String>,
    /// `UserName` → user id, for the users a test gave one.
    user_names: BTreeMap<String, String>,
    accounts: BTreeMap<String, String>,
    permission_sets: BTreeMap<String, String>,
    /// `SessionDuration` by permission-set ARN, where a test set one.
    session_durations: BTreeMap<String, std::time::Duration>,
    groups: BTreeMap<String, String>,
    /// (account, permission set ARN, user) → how many times created; more than one is a bug
    /// the tests look for (AWS would hold one, moto holds duplicates).
    assignments: BTreeMap<(String, String, String), u32>,
    /// membership id → (group, user).
    memberships: BTreeMap<String, (String, String)>,
    failures: BTreeMap<String, VecDeque<FakeFailure>>,
    /// Calls held until the test releases them (`Notify::notify_one`).
    stalls: BTreeMap<String, VecDeque<std::sync::Arc<tokio::sync::Notify>>>,
    stalled: BTreeMap<String, u32>,
    calls: BTreeMap<String, u32>,
    next_id: u64,
}

/// Identity Center in memory, with call counting and error injection.
#[derive(Debug, Default)]
pub struct FakeIdentityCenter {
    directory: Mutex<Directory>,
}

impl FakeIdentityCenter {
    pub fn new() -> FakeIdentityCenter {
        FakeIdentityCenter::default()
    }

    pub fn add_user(&self, email: &str, user_id: &str) {
        self.directory
            .lock()
            .unwrap()
            .users
            .insert(email.to_lowercase(), user_id.to_owned());
    }

    /// Gives an existing user (by id) a `UserName`, for lookups by role session name.
    pub fn set_user_name(&self, user_id: &str, user_name: &str) {
        self.directory
            .lock()
            .unwrap()
            .user_names
            .insert(user_name.to_owned(), user_id.to_owned());
    }

    pub fn add_account(&self, id: &str, name: &str) {
        self.directory
            .lock()
            .unwrap()
            .accounts
            .insert(id.to_owned(), name.to_owned());
    }

    /// Returns the permission set's ARN.
    pub fn add_permission_set(&self, name: &str) -> String {
        let arn = format!(
            "arn:aws:sso:::permissionSet/ssoins-fake/ps-{}",
            name.to_lowercase()
        );
        self.directory
            .lock()
            .unwrap()
            .permission_sets
            .insert(name.to_owned(), arn.clone());
        arn
    }

    /// Sets the `SessionDuration` Identity Center reports for a permission set's ARN.
    pub fn set_session_duration(&self, permission_set_arn: &str, duration: std::time::Duration) {
        self.directory
            .lock()
            .unwrap()
            .session_durations
            .insert(permission_set_arn.to_owned(), duration);
    }

    pub fn remove_permission_set(&self, name: &str) {
        self.directory.lock().unwrap().permission_sets.remove(name);
    }

    pub fn add_group(&self, id: &str, name: &str) {
        self.directory
            .lock()
            .unwrap()
            .groups
            .insert(id.to_owned(), name.to_owned());
    }

    /// A membership that exists outside Liftgate (a permanent one). Returns its id.
    pub fn add_membership(&self, group_id: &str, user_id: &str) -> String {
        let mut directory = self.directory.lock().unwrap();
        directory.next_id += 1;
        let id = format!("membership-{}", directory.next_id);
        directory
            .memberships
            .insert(id.clone(), (group_id.to_owned(), user_id.to_owned()));
        id
    }

    /// An assignment that exists outside Liftgate.
    pub fn add_assignment(&self, account_id: &str, permission_set: &str, user_id: &str) {
        let mut directory = self.directory.lock().unwrap();
        let arn = directory
            .permission_sets
            .get(permission_set)
            .cloned()
            .unwrap_or_default();
        *directory
            .assignments
            .entry((account_id.to_owned(), arn, user_id.to_owned()))
            .or_insert(0) += 1;
    }

    /// Removes an assignment behind Liftgate's back (an EventBridge timer firing, or a
    /// deletion whose answer was lost).
    pub fn remove_assignment(&self, account_id: &str, permission_set: &str, user_id: &str) {
        let mut directory = self.directory.lock().unwrap();
        let arn = directory
            .permission_sets
            .get(permission_set)
            .cloned()
            .unwrap_or_default();
        directory
            .assignments
            .remove(&(account_id.to_owned(), arn, user_id.to_owned()));
    }

    pub fn assignment_count(&self, account_id: &str, permission_set: &str, user_id: &str) -> u32 {
        let directory = self.directory.lock().unwrap();
        let arn = directory
            .permission_sets
            .get(permission_set)
            .cloned()
            .unwrap_or_default();
        directory
            .assignments
            .get(&(account_id.to_owned(), arn, user_id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    pub fn is_member(&self, group_id: &str, user_id: &str) -> bool {
        let directory = self.directory.lock().unwrap();
        directory
            .memberships
            .values()
            .any(|(group, user)| group == group_id && user == user_id)
    }

    pub fn membership_id(&self, group_id: &str, user_id: &str) -> Option<String> {
        let directory = self.directory.lock().unwrap();
        directory
            .memberships
            .iter()
            .find(|(_, (group, user))| group == group_id && user == user_id)
            .map(|(id, _)| id.clone())
    }

    pub fn membership_count(&self, group_id: &str, user_id: &str) -> usize {
        let directory = self.directory.lock().unwrap();
        directory
            .memberships
            .values()
            .filter(|(group, user)| group == group_id && user == user_id)
            .count()
    }

    /// Every assignment row: (account, permission-set ARN, user), repeated per duplicate.
    pub fn assignment_rows(&self) -> Vec<(String, String, String)> {
        let directory = self.directory.lock().unwrap();
        directory
            .assignments
            .iter()
            .flat_map(|(key, count)| std::iter::repeat_n(key.clone(), *count as usize))
            .collect()
    }

    /// Every membership: (membership id, group, user).
    pub fn membership_rows(&self) -> Vec<(String, String, String)> {
        let directory = self.directory.lock().unwrap();
        directory
            .memberships
            .iter()
            .map(|(id, (group, user))| (id.clone(), group.clone(), user.clone()))
            .collect()
    }

    /// The email of a user id, if the user exists.
    pub fn email_of(&self, user_id: &str) -> Option<String> {
        let directory = self.directory.lock().unwrap();
        directory
            .users
            .iter()
            .find(|(_, id)| id.as_str() == user_id)
            .map(|(email, _)| email.clone())
    }

    /// The ARN of a permission set by name.
    pub fn arn_of(&self, permission_set: &str) -> Option<String> {
        let directory = self.directory.lock().unwrap();
        directory.permission_sets.get(permission_set).cloned()
    }

    /// Makes the next call of `operation` (e.g. `create_assignment`) fail.
    pub fn fail_next(&self, operation: &str, failure: FakeFailure) {
        self.directory
            .lock()
            .unwrap()
            .failures
            .entry(operation.to_owned())
            .or_default()
            .push_back(failure);
    }

    pub fn calls(&self, operation: &str) -> u32 {
        self.directory
            .lock()
            .unwrap()
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Holds the next call of `operation` until `release.notify_one()`: a slow AWS call, or
    /// (never released) a process that died in the middle of one.
    pub fn stall_next(&self, operation: &str, release: std::sync::Arc<tokio::sync::Notify>) {
        self.directory
            .lock()
            .unwrap()
            .stalls
            .entry(operation.to_owned())
            .or_default()
            .push_back(release);
    }

    /// How many calls of `operation` have been held by [`FakeIdentityCenter::stall_next`].
    pub fn stalled(&self, operation: &str) -> u32 {
        self.directory
            .lock()
            .unwrap()
            .stalled
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    async fn enter(
        &self,
        operation: &str,
    ) -> Result<std::sync::MutexGuard<'_, Directory>, IdentityError> {
        let stall = {
            let mut directory = self.directory.lock().unwrap();
            let stall = directory
                .stalls
                .get_mut(operation)
                .and_then(VecDeque::pop_front);
            if stall.is_some() {
                *directory.stalled.entry(operation.to_owned()).or_insert(0) += 1;
            }
            stall
        };
        if let Some(release) = stall {
            release.notified().await;
        }
        let mut directory = self.directory.lock().unwrap();
        *directory.calls.entry(operation.to_owned()).or_insert(0) += 1;
        if let Some(failure) = directory
            .failures
            .get_mut(operation)
            .and_then(VecDeque::pop_front)
        {
            return Err(failure.to_identity_error(operation));
        }
        Ok(directory)
    }
}

#[async_trait]
impl IdentityCenter for FakeIdentityCenter {
    async fn find_user(&self, email: &Email) -> Result<Option<DirectoryUser>, IdentityError> {
        let directory = self.enter("find_user").await?;
        Ok(directory
            .users
            .get(email.as_str())
            .map(|user_id| DirectoryUser {
                user_id: user_id.clone(),
                secondary_domain_used: false,
            }))
    }

    async fn find_user_by_user_name(
        &self,
        user_name: &str,
    ) -> Result<Option<NamedUser>, IdentityError> {
        let directory = self.enter("find_user_by_user_name").await?;
        Ok(directory.user_names.get(user_name).map(|user_id| {
            let email = directory
                .users
                .iter()
                .find(|(_, id)| *id == user_id)
                .and_then(|(email, _)| Email::parse(email).ok());
            NamedUser {
                user_id: user_id.clone(),
                email,
            }
        }))
    }

    async fn member_groups(
        &self,
        user_id: &str,
        candidates: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, IdentityError> {
        let directory = self.enter("member_groups").await?;
        Ok(directory
            .memberships
            .values()
            .filter(|(group, user)| user == user_id && candidates.contains(group))
            .map(|(group, _)| group.clone())
            .collect())
    }

    async fn describe_account(
        &self,
        account_id: &str,
    ) -> Result<Option<AccountInfo>, IdentityError> {
        let directory = self.enter("describe_account").await?;
        Ok(directory.accounts.get(account_id).map(|name| AccountInfo {
            id: account_id.into(),
            name: name.as_str().into(),
        }))
    }

    async fn list_accounts(&self) -> Result<Vec<AccountInfo>, IdentityError> {
        let directory = self.enter("list_accounts").await?;
        Ok(directory
            .accounts
            .iter()
            .map(|(id, name)| AccountInfo {
                id: id.as_str().into(),
                name: name.as_str().into(),
            })
            .collect())
    }

    async fn permission_set_arn(&self, name: &str) -> Result<Option<String>, IdentityError> {
        let directory = self.enter("permission_set_arn").await?;
        Ok(directory.permission_sets.get(name).cloned())
    }

    async fn list_permission_sets(&self) -> Result<Vec<String>, IdentityError> {
        let directory = self.enter("list_permission_sets").await?;
        Ok(directory.permission_sets.keys().cloned().collect())
    }

    async fn session_duration(
        &self,
        permission_set_arn: &str,
    ) -> Result<Option<std::time::Duration>, IdentityError> {
        let directory = self.enter("session_duration").await?;
        Ok(directory.session_durations.get(permission_set_arn).copied())
    }

    async fn describe_group(&self, group_id: &str) -> Result<Option<GroupInfo>, IdentityError> {
        let directory = self.enter("describe_group").await?;
        Ok(directory.groups.get(group_id).map(|name| GroupInfo {
            id: group_id.to_owned(),
            name: name.clone(),
        }))
    }

    async fn assignment_exists(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<bool, IdentityError> {
        let directory = self.enter("assignment_exists").await?;
        let key = (
            account_id.to_owned(),
            permission_set_arn.to_owned(),
            user_id.to_owned(),
        );
        Ok(directory
            .assignments
            .get(&key)
            .is_some_and(|count| *count > 0))
    }

    async fn create_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        let mut directory = self.enter("create_assignment").await?;
        let key = (
            account_id.to_owned(),
            permission_set_arn.to_owned(),
            user_id.to_owned(),
        );
        *directory.assignments.entry(key).or_insert(0) += 1;
        directory.next_id += 1;
        Ok(ProvisionReceipt {
            request_id: Some(format!("create-{}", directory.next_id)),
        })
    }

    async fn delete_assignment(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        user_id: &str,
    ) -> Result<ProvisionReceipt, IdentityError> {
        let mut directory = self.enter("delete_assignment").await?;
        let key = (
            account_id.to_owned(),
            permission_set_arn.to_owned(),
            user_id.to_owned(),
        );
        if let Some(count) = directory.assignments.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                directory.assignments.remove(&key);
            }
            directory.next_id += 1;
            return Ok(ProvisionReceipt {
                request_id: Some(format!("delete-{}", directory.next_id)),
            });
        }
        Ok(ProvisionReceipt::default())
    }

    async fn find_membership(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, IdentityError> {
        let directory = self.enter("find_membership").await?;
        Ok(directory
            .memberships
            .iter()
            .find(|(_, (group, user))| group == group_id && user == user_id)
            .map(|(id, _)| id.clone()))
    }

    async fn add_membership(&self, group_id: &str, user_id: &str) -> Result<String, IdentityError> {
        let mut directory = self.enter("add_membership").await?;
        directory.next_id += 1;
        let id = format!("membership-{}", directory.next_id);
        directory
            .memberships
            .insert(id.clone(), (group_id.to_owned(), user_id.to_owned()));
        Ok(id)
    }

    async fn delete_membership(&self, membership_id: &str) -> Result<(), IdentityError> {
        let mut directory = self.enter("delete_membership").await?;
        directory.memberships.remove(membership_id);
        Ok(())
    }
}

/// One recorded revocation timer: when it fires and what it removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTimer {
    pub at: OffsetDateTime,
    pub principal_id: String,
    pub target: GrantTarget,
}

/// Records revocation timers (one per access key) instead of creating them.
#[derive(Debug, Default)]
pub struct RecordingScheduler {
    timers: Mutex<BTreeMap<AccessKey, RecordedTimer>>,
    failures: Mutex<VecDeque<SchedulerError>>,
    schedule_calls: Mutex<u32>,
}

impl RecordingScheduler {
    pub fn new() -> RecordingScheduler {
        RecordingScheduler::default()
    }

    /// Access key → when its timer fires.
    pub fn timers(&self) -> BTreeMap<AccessKey, OffsetDateTime> {
        self.timers
            .lock()
            .unwrap()
            .iter()
            .map(|(key, timer)| (key.clone(), timer.at))
            .collect()
    }

    pub fn timer(&self, key: &AccessKey) -> Option<RecordedTimer> {
        self.timers.lock().unwrap().get(key).cloned()
    }

    /// Removes and returns the timers due at `now`, as EventBridge Scheduler would fire them
    /// (a fired one-time schedule deletes itself).
    pub fn take_due(&self, now: OffsetDateTime) -> Vec<(AccessKey, RecordedTimer)> {
        let mut timers = self.timers.lock().unwrap();
        let due: Vec<AccessKey> = timers
            .iter()
            .filter(|(_, timer)| timer.at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        due.into_iter()
            .filter_map(|key| timers.remove(&key).map(|timer| (key, timer)))
            .collect()
    }

    pub fn fail_next(&self, error: SchedulerError) {
        self.failures.lock().unwrap().push_back(error);
    }

    pub fn schedule_calls(&self) -> u32 {
        *self.schedule_calls.lock().unwrap()
    }
}

#[async_trait]
impl RevocationScheduler for RecordingScheduler {
    fn name(&self) -> &'static str {
        "recording"
    }

    async fn set(&self, record: &AccessRecord, at: OffsetDateTime) -> Result<(), SchedulerError> {
        *self.schedule_calls.lock().unwrap() += 1;
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        self.timers.lock().unwrap().insert(
            record.key.clone(),
            RecordedTimer {
                at,
                principal_id: record.principal_id.clone(),
                target: record.target.clone(),
            },
        );
        Ok(())
    }

    async fn cancel(&self, key: &AccessKey) -> Result<(), SchedulerError> {
        self.timers.lock().unwrap().remove(key);
        Ok(())
    }
}

/// Keeps audit records in memory; can be switched off to simulate an outage.
#[derive(Debug)]
pub struct MemoryAuditSink {
    name: String,
    records: Mutex<Vec<AuditRecord>>,
    checkpoints: Mutex<Vec<Checkpoint>>,
    down: AtomicBool,
}

impl MemoryAuditSink {
    pub fn new(name: &str) -> MemoryAuditSink {
        MemoryAuditSink {
            name: name.to_owned(),
            records: Mutex::new(Vec::new()),
            checkpoints: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
        }
    }

    /// The checkpoints delivered, in delivery order.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.checkpoints.lock().unwrap().clone()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().unwrap().clone()
    }

    /// The `event` names of the records about one request, in delivery order.
    pub fn events_for(&self, request_id: &RequestId) -> Vec<String> {
        self.records()
            .iter()
            .filter(|record| record.fields.liftgate_request_id == request_id.as_str())
            .map(|record| record.fields.event.as_str().to_owned())
            .collect()
    }
}

#[async_trait]
impl AuditSink for MemoryAuditSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn write(&self, record: &AuditRecord) -> Result<(), AuditError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(AuditError {
                sink: self.name.clone(),
                message: "simulated outage".to_owned(),
            });
        }
        let mut records = self.records.lock().unwrap();
        // Same id twice replaces, like an object key.
        records.retain(|existing| existing.id != record.id);
        records.push(record.clone());
        Ok(())
    }

    async fn write_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), AuditError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(AuditError {
                sink: self.name.clone(),
                message: "simulated outage".to_owned(),
            });
        }
        let mut checkpoints = self.checkpoints.lock().unwrap();
        checkpoints.retain(|existing| existing.number != checkpoint.number);
        checkpoints.push(checkpoint.clone());
        Ok(())
    }
}

/// Records what chat notifiers were asked to show.
#[derive(Debug)]
pub struct RecordingNotifier {
    name: &'static str,
    notices: Mutex<Vec<(NoticeKind, RequestId, RequestStatus)>>,
    drifts: Mutex<Vec<DriftNotice>>,
    summaries: Mutex<Vec<crate::domain::ActivitySummary>>,
    down: AtomicBool,
}

impl RecordingNotifier {
    pub fn new(name: &'static str) -> RecordingNotifier {
        RecordingNotifier {
            name,
            notices: Mutex::new(Vec::new()),
            drifts: Mutex::new(Vec::new()),
            summaries: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
        }
    }

    pub fn notices(&self) -> Vec<(NoticeKind, RequestId, RequestStatus)> {
        self.notices.lock().unwrap().clone()
    }

    /// The activity summaries delivered, in order.
    pub fn activity_summaries(&self) -> Vec<crate::domain::ActivitySummary> {
        self.summaries.lock().unwrap().clone()
    }

    /// The drift warnings delivered, in order.
    pub fn drift_notices(&self) -> Vec<DriftNotice> {
        self.drifts.lock().unwrap().clone()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(NotifyError::Retryable("simulated chat outage".to_owned()));
        }
        self.notices.lock().unwrap().push((
            notice.kind,
            notice.request.id.clone(),
            notice.request.status(),
        ));
        Ok(())
    }

    async fn drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(NotifyError::Retryable("simulated chat outage".to_owned()));
        }
        self.drifts.lock().unwrap().push(notice.clone());
        Ok(())
    }

    async fn activity_summary(
        &self,
        summary: &crate::domain::ActivitySummary,
    ) -> Result<(), NotifyError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(NotifyError::Retryable("simulated chat outage".to_owned()));
        }
        let mut summaries = self.summaries.lock().unwrap();
        // Delivery is at least once; the id says it is the same summary.
        if !summaries.iter().any(|known| known.id == summary.id) {
            summaries.push(summary.clone());
        }
        Ok(())
    }
}
