use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::{FakeFailure, FakeIdentityCenter};
use crate::ports::{
    AccessInventory, AssignedPrincipal, GroupMember, IdentityError, Page, UserDetails,
};

/// [`AccessInventory`] over a [`FakeIdentityCenter`]: it lists exactly the assignments and
/// memberships the fake holds (so grants made by the workflow show up, and removals by the
/// reconciler disappear), in pages of a configurable size, with call counting, error injection
/// and a pause point for race tests. Operation names are AWS's (`ListAccountAssignments`,
/// `ListGroupMemberships`, `ListAccountsForProvisionedPermissionSet`,
/// `ListPermissionSetsProvisionedToAccount`, `DescribeUser`).
///
/// Provisioning answers like AWS: a permission set is provisioned to an account where it is
/// assigned (to a user or a group) or where [`Self::provision`] put it.
#[derive(Debug)]
pub struct FakeAccessInventory {
    identity: Arc<FakeIdentityCenter>,
    state: Mutex<State>,
    pause: Mutex<Option<PausePoint>>,
}

#[derive(Debug)]
struct State {
    page_size: usize,
    reliable: bool,
    /// (account, permission-set ARN) provisioned without an assignment.
    provisioned: BTreeSet<(String, String)>,
    /// (account, permission-set ARN, group id).
    group_assignments: BTreeSet<(String, String, String)>,
    failures: BTreeMap<String, VecDeque<FakeFailure>>,
    calls: BTreeMap<String, u32>,
}

#[derive(Debug)]
struct PausePoint {
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// Holds the next listing call until released (see [`FakeAccessInventory::pause_next_listing`]).
#[derive(Debug)]
pub struct ListingPause {
    reached: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

impl ListingPause {
    /// Waits until a listing call is waiting at the pause point.
    pub async fn reached(&mut self) {
        (&mut self.reached)
            .await
            .expect("the inventory was dropped before a listing call arrived");
    }

    /// Lets the held call go on; it then reads the fake's state as it is now.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl FakeAccessInventory {
    pub fn new(identity: Arc<FakeIdentityCenter>) -> FakeAccessInventory {
        FakeAccessInventory {
            identity,
            state: Mutex::new(State {
                page_size: 100,
                reliable: true,
                provisioned: BTreeSet::new(),
                group_assignments: BTreeSet::new(),
                failures: BTreeMap::new(),
                calls: BTreeMap::new(),
            }),
            pause: Mutex::new(None),
        }
    }

    pub fn set_page_size(&self, size: usize) {
        self.state.lock().unwrap().page_size = size.max(1);
    }

    /// Whether the provisioning queries may be used for pruning (false: like an emulator).
    pub fn set_provisioning_reliable(&self, reliable: bool) {
        self.state.lock().unwrap().reliable = reliable;
    }

    /// Provisions a permission set (by name) to an account without assigning it.
    pub fn provision(&self, account_id: &str, permission_set: &str) {
        let arn = self.arn(permission_set);
        self.state
            .lock()
            .unwrap()
            .provisioned
            .insert((account_id.to_owned(), arn));
    }

    /// A GROUP-principal assignment (never reconciled).
    pub fn add_group_assignment(&self, account_id: &str, permission_set: &str, group_id: &str) {
        let arn = self.arn(permission_set);
        self.state.lock().unwrap().group_assignments.insert((
            account_id.to_owned(),
            arn,
            group_id.to_owned(),
        ));
    }

    /// Makes the next call of `operation` (an AWS operation name) fail.
    pub fn fail_next(&self, operation: &str, failure: FakeFailure) {
        self.state
            .lock()
            .unwrap()
            .failures
            .entry(operation.to_owned())
            .or_default()
            .push_back(failure);
    }

    /// Calls of an operation so far (failed ones included).
    pub fn calls(&self, operation: &str) -> u32 {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Every call so far by operation.
    pub fn all_calls(&self) -> BTreeMap<String, u32> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Holds the next `ListAccountAssignments` or `ListGroupMemberships` call before it reads
    /// anything, until the returned pause is released.
    pub fn pause_next_listing(&self) -> ListingPause {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.pause.lock().unwrap() = Some(PausePoint {
            reached: reached_tx,
            release: release_rx,
        });
        ListingPause {
            reached: reached_rx,
            release: release_tx,
        }
    }

    fn arn(&self, permission_set: &str) -> String {
        self.identity
            .arn_of(permission_set)
            .unwrap_or_else(|| panic!("no permission set {permission_set} in the fake"))
    }

    fn enter(&self, operation: &str) -> Result<usize, IdentityError> {
        let mut state = self.state.lock().unwrap();
        *state.calls.entry(operation.to_owned()).or_insert(0) += 1;
        if let Some(failure) = state
            .failures
            .get_mut(operation)
            .and_then(VecDeque::pop_front)
        {
            return Err(failure.to_identity_error(operation));
        }
        Ok(state.page_size)
    }

    async fn maybe_pause(&self) {
        let point = self.pause.lock().unwrap().take();
        if let Some(point) = point {
            let _ = point.reached.send(());
            let _ = point.release.await;
        }
    }

    fn provisioned_pairs(&self) -> BTreeSet<(String, String)> {
        let state = self.state.lock().unwrap();
        let mut pairs = state.provisioned.clone();
        pairs.extend(
            state
                .group_assignments
                .iter()
                .map(|(account, arn, _)| (account.clone(), arn.clone())),
        );
        drop(state);
        pairs.extend(
            self.identity
                .assignment_rows()
                .into_iter()
                .map(|(account, arn, _)| (account, arn)),
        );
        pairs
    }
}

/// The page of `items` that `token` (an offset) points at.
fn page<T>(items: Vec<T>, token: Option<String>, size: usize) -> Result<Page<T>, IdentityError> {
    let start = match token {
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| IdentityError::Failed(format!("bad page token {token}")))?,
        None => 0,
    };
    let end = (start + size).min(items.len());
    let next_token = (end < items.len()).then(|| end.to_string());
    Ok(Page {
        items: items.into_iter().skip(start).take(size).collect(),
        next_token,
    })
}

#[async_trait]
impl AccessInventory for FakeAccessInventory {
    fn provisioning_is_reliable(&self) -> bool {
        self.state.lock().unwrap().reliable
    }

    async fn account_assignments(
        &self,
        account_id: &str,
        permission_set_arn: &str,
        next_token: Option<String>,
    ) -> Result<Page<AssignedPrincipal>, IdentityError> {
        let size = self.enter("ListAccountAssignments")?;
        self.maybe_pause().await;
        let mut items: Vec<AssignedPrincipal> = self
            .identity
            .assignment_rows()
            .into_iter()
            .filter(|(account, arn, _)| account == account_id && arn == permission_set_arn)
            .map(|(_, _, user)| AssignedPrincipal::User(user))
            .collect();
        items.extend(
            self.state
                .lock()
                .unwrap()
                .group_assignments
                .iter()
                .filter(|(account, arn, _)| account == account_id && arn == permission_set_arn)
                .map(|(_, _, group)| AssignedPrincipal::Group(group.clone())),
        );
        page(items, next_token, size)
    }

    async fn group_members(
        &self,
        group_id: &str,
        next_token: Option<String>,
    ) -> Result<Page<GroupMember>, IdentityError> {
        let size = self.enter("ListGroupMemberships")?;
        self.maybe_pause().await;
        let items = self
            .identity
            .membership_rows()
            .into_iter()
            .filter(|(_, group, _)| group == group_id)
            .map(|(membership_id, _, user_id)| GroupMember {
                membership_id,
                user_id,
            })
            .collect();
        page(items, next_token, size)
    }

    async fn accounts_for_provisioned_permission_set(
        &self,
        permission_set_arn: &str,
        next_token: Option<String>,
    ) -> Result<Page<String>, IdentityError> {
        let size = self.enter("ListAccountsForProvisionedPermissionSet")?;
        let accounts: BTreeSet<String> = self
            .provisioned_pairs()
            .into_iter()
            .filter(|(_, arn)| arn == permission_set_arn)
            .map(|(account, _)| account)
            .collect();
        page(accounts.into_iter().collect(), next_token, size)
    }

    async fn permission_sets_provisioned_to_account(
        &self,
        account_id: &str,
        next_token: Option<String>,
    ) -> Result<Page<String>, IdentityError> {
        let size = self.enter("ListPermissionSetsProvisionedToAccount")?;
        let arns: BTreeSet<String> = self
            .provisioned_pairs()
            .into_iter()
            .filter(|(account, _)| account == account_id)
            .map(|(_, arn)| arn)
            .collect();
        page(arns.into_iter().collect(), next_token, size)
    }

    async fn describe_user(&self, user_id: &str) -> Result<Option<UserDetails>, IdentityError> {
        self.enter("DescribeUser")?;
        Ok(self.identity.email_of(user_id).map(|email| UserDetails {
            user_id: user_id.to_owned(),
            user_name: email.split('@').next().map(str::to_owned),
            display_name: None,
            email: Some(email),
        }))
    }
}
