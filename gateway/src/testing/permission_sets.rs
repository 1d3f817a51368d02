//! Permission-set inline policies and provisioning in memory: what Identity Center holds for
//! the set, and what each account's role got at its last provisioning.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::FakeFailure;
use crate::domain::sessions::InlinePolicy;
use crate::ports::{IdentityError, PermissionSetPolicies, Provisioned};

#[derive(Debug, Default)]
struct State {
    /// The permission set's inline policy, by ARN.
    policies: BTreeMap<String, String>,
    /// Accounts each permission set is provisioned to.
    provisioned: BTreeMap<String, BTreeSet<String>>,
    /// The inline policy each account's role got at its last provisioning.
    roles: BTreeMap<(String, String), Option<String>>,
    failures: BTreeMap<String, VecDeque<FakeFailure>>,
    stalls: BTreeMap<String, VecDeque<Arc<tokio::sync::Notify>>>,
    stalled: BTreeMap<String, u32>,
    calls: BTreeMap<String, u32>,
    next_id: u64,
}

/// [`PermissionSetPolicies`] in memory, with call counting, error injection and stalls.
#[derive(Debug, Default)]
pub struct FakePermissionSetPolicies {
    state: Mutex<State>,
}

impl FakePermissionSetPolicies {
    pub fn new() -> FakePermissionSetPolicies {
        FakePermissionSetPolicies::default()
    }

    /// The permission set is provisioned to these accounts (its role exists there).
    pub fn provision_to(&self, permission_set_arn: &str, accounts: &[&str]) {
        let mut state = self.state.lock().unwrap();
        let set = state
            .provisioned
            .entry(permission_set_arn.to_owned())
            .or_default();
        set.extend(accounts.iter().map(|account| (*account).to_owned()));
        for account in accounts {
            let document = state.policies.get(permission_set_arn).cloned();
            state.roles.insert(
                (permission_set_arn.to_owned(), (*account).to_owned()),
                document,
            );
        }
    }

    /// Sets the inline policy as someone else wrote it (not provisioned anywhere yet).
    pub fn set_policy(&self, permission_set_arn: &str, document: &str) {
        self.state
            .lock()
            .unwrap()
            .policies
            .insert(permission_set_arn.to_owned(), document.to_owned());
    }

    pub fn policy(&self, permission_set_arn: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .policies
            .get(permission_set_arn)
            .cloned()
    }

    /// The inline policy the account's role holds (as of its last provisioning).
    pub fn role_policy(&self, permission_set_arn: &str, account_id: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .roles
            .get(&(permission_set_arn.to_owned(), account_id.to_owned()))
            .cloned()
            .flatten()
    }

    /// Whether the account's role, as provisioned, denies a session of `user_id` issued at
    /// `issued_at` (Liftgate's statements only; moto cannot evaluate policies).
    pub fn denies(
        &self,
        permission_set_arn: &str,
        account_id: &str,
        user_id: &str,
        issued_at: OffsetDateTime,
    ) -> bool {
        let document = self.role_policy(permission_set_arn, account_id);
        let policy = InlinePolicy::parse(document.as_deref()).unwrap();
        policy.entries().iter().any(|entry| {
            entry.account_id == account_id
                && entry.user_id == user_id
                && issued_at < entry.issued_before
        })
    }

    pub fn fail_next(&self, operation: &str, failure: FakeFailure) {
        self.state
            .lock()
            .unwrap()
            .failures
            .entry(operation.to_owned())
            .or_default()
            .push_back(failure);
    }

    /// Holds the next call of `operation` until `release.notify_one()`.
    pub fn stall_next(&self, operation: &str, release: Arc<tokio::sync::Notify>) {
        self.state
            .lock()
            .unwrap()
            .stalls
            .entry(operation.to_owned())
            .or_default()
            .push_back(release);
    }

    /// How many calls of `operation` have been held by [`Self::stall_next`] so far.
    pub fn stalled(&self, operation: &str) -> u32 {
        self.state
            .lock()
            .unwrap()
            .stalled
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    pub fn calls(&self, operation: &str) -> u32 {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    async fn enter(
        &self,
        operation: &str,
    ) -> Result<std::sync::MutexGuard<'_, State>, IdentityError> {
        let stall = {
            let mut state = self.state.lock().unwrap();
            let stall = state
                .stalls
                .get_mut(operation)
                .and_then(VecDeque::pop_front);
            if stall.is_some() {
                *state.stalled.entry(operation.to_owned()).or_insert(0) += 1;
            }
            stall
        };
        if let Some(release) = stall {
            release.notified().await;
        }
        let mut state = self.state.lock().unwrap();
        *state.calls.entry(operation.to_owned()).or_insert(0) += 1;
        if let Some(failure) = state
            .failures
            .get_mut(operation)
            .and_then(VecDeque::pop_front)
        {
            return Err(failure.to_identity_error(operation));
        }
        Ok(state)
    }
}

#[async_trait]
impl PermissionSetPolicies for FakePermissionSetPolicies {
    async fn inline_policy(
        &self,
        permission_set_arn: &str,
    ) -> Result<Option<String>, IdentityError> {
        let state = self.enter("inline_policy").await?;
        Ok(state.policies.get(permission_set_arn).cloned())
    }

    async fn put_inline_policy(
        &self,
        permission_set_arn: &str,
        document: &str,
    ) -> Result<(), IdentityError> {
        let mut state = self.enter("put_inline_policy").await?;
        state
            .policies
            .insert(permission_set_arn.to_owned(), document.to_owned());
        Ok(())
    }

    async fn delete_inline_policy(&self, permission_set_arn: &str) -> Result<(), IdentityError> {
        let mut state = self.enter("delete_inline_policy").await?;
        state.policies.remove(permission_set_arn);
        Ok(())
    }

    async fn reprovision(
        &self,
        permission_set_arn: &str,
        accounts: &[String],
    ) -> Result<Provisioned, IdentityError> {
        let mut state = self.enter("reprovision").await?;
        let provisioned = state
            .provisioned
            .get(permission_set_arn)
            .cloned()
            .unwrap_or_default();
        let document = state.policies.get(permission_set_arn).cloned();
        let mut done = Provisioned::default();
        for account in accounts
            .iter()
            .filter(|account| provisioned.contains(*account))
        {
            state.next_id += 1;
            let id = format!("provision-{}", state.next_id);
            state.roles.insert(
                (permission_set_arn.to_owned(), account.clone()),
                document.clone(),
            );
            done.accounts.push(account.clone());
            done.request_ids.push(id);
        }
        Ok(done)
    }
}
