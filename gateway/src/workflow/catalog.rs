//! What a requester may ask for, for request forms: the accounts, permission sets and groups
//! some rule lets them request, with names from AWS, and the durations on offer.

use std::collections::BTreeSet;

use liftgate_policy::{Duration, Email, Scope};

use super::{AccessService, WorkflowError};
use crate::ports::{AccountInfo, GroupInfo};

/// The facts about a requester that rules depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequesterFacts {
    pub email: Email,
    pub user_id: String,
    /// The user was found through a configured fallback domain.
    pub secondary_domain_used: bool,
    pub groups: BTreeSet<String>,
}

impl AccessService {
    /// Looks the requester up in Identity Center (and the groups rules ask about). A person
    /// without an Identity Center user gets `unknown_user`.
    pub async fn requester_facts(&self, email: &Email) -> Result<RequesterFacts, WorkflowError> {
        let user = self.deps.identity.find_user(email).await?.ok_or_else(|| {
            WorkflowError::unprocessable(
                "unknown_user",
                format!("no Identity Center user has the email {email}"),
            )
        })?;
        let candidates: BTreeSet<String> = self
            .deps
            .rules
            .statements
            .iter()
            .flat_map(|s| s.allowed_groups.iter())
            .chain(
                self.deps
                    .rules
                    .group_statements
                    .iter()
                    .flat_map(|s| s.allowed_groups.iter()),
            )
            .cloned()
            .collect();
        let groups = if candidates.is_empty() {
            BTreeSet::new()
        } else {
            self.deps
                .identity
                .member_groups(&user.user_id, &candidates)
                .await?
        };
        Ok(RequesterFacts {
            email: email.clone(),
            user_id: user.user_id,
            secondary_domain_used: user.secondary_domain_used,
            groups,
        })
    }

    /// Accounts some statement lets this requester ask for, with their names, sorted by name.
    pub async fn requestable_accounts(
        &self,
        facts: &RequesterFacts,
    ) -> Result<Vec<AccountInfo>, WorkflowError> {
        let requester = Self::requester_of(&facts.email, &facts.groups);
        let scope = liftgate_policy::accounts_for_requester(&self.deps.rules, &requester);
        if scope == Scope::empty() {
            return Ok(Vec::new());
        }
        let mut accounts: Vec<AccountInfo> = self
            .deps
            .identity
            .list_accounts()
            .await?
            .into_iter()
            .filter(|account| scope.contains(&account.id))
            .collect();
        accounts.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        Ok(accounts)
    }

    /// Permission sets some statement lets this requester ask for on this account, sorted.
    pub async fn requestable_permission_sets(
        &self,
        facts: &RequesterFacts,
        account_id: &str,
    ) -> Result<Vec<String>, WorkflowError> {
        let requester = Self::requester_of(&facts.email, &facts.groups);
        let names = match liftgate_policy::permission_sets_for_account(
            &self.deps.rules,
            account_id,
            &requester,
        ) {
            Scope::Any => self.deps.identity.list_permission_sets().await?,
            Scope::Only(names) => names.into_iter().collect(),
        };
        let mut names: Vec<String> = names
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        names.sort_by_key(|name| name.to_lowercase());
        Ok(names)
    }

    /// Groups some group statement lets this requester ask for, with names, sorted by name.
    /// Groups that no longer exist are left out.
    pub async fn requestable_groups(
        &self,
        facts: &RequesterFacts,
    ) -> Result<Vec<GroupInfo>, WorkflowError> {
        let requester = Self::requester_of(&facts.email, &facts.groups);
        let mut groups = Vec::new();
        for group_id in liftgate_policy::groups_for_requester(&self.deps.rules, &requester) {
            if let Some(group) = self.deps.identity.describe_group(&group_id).await? {
                groups.push(group);
            }
        }
        groups.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        Ok(groups)
    }

    /// The configured duration choices up to `max` (the effective maximum of a request);
    /// `max` itself is offered when no configured choice reaches it exactly.
    pub fn duration_choices(&self, max: Option<Duration>) -> Vec<Duration> {
        let max = max
            .unwrap_or(self.deps.requests.max_duration)
            .min(self.deps.requests.max_duration);
        let mut choices: Vec<Duration> = self
            .deps
            .requests
            .durations
            .iter()
            .copied()
            .filter(|choice| *choice <= max)
            .collect();
        choices.sort();
        choices.dedup();
        if choices.is_empty() {
            choices.push(max);
        }
        choices
    }

    /// The effective maximum duration for this requester and target (docs/reference.md §3): what the form
    /// should cap durations at.
    pub fn max_duration_for(
        &self,
        facts: &RequesterFacts,
        target: &liftgate_policy::Target<'_>,
    ) -> Duration {
        let requester = Self::requester_of(&facts.email, &facts.groups);
        liftgate_policy::evaluate(
            &self.deps.rules,
            target,
            &requester,
            self.deps.requests.max_duration,
        )
        .max_duration
        .unwrap_or(self.deps.requests.max_duration)
    }

    /// Why `reason` would be refused for this requester and target by a statement's
    /// `ReasonPattern` (its `ReasonHint`, else the pattern), if it would be.
    pub fn reason_refusal(
        &self,
        facts: &RequesterFacts,
        target: &liftgate_policy::Target<'_>,
        reason: &str,
    ) -> Option<String> {
        let requester = Self::requester_of(&facts.email, &facts.groups);
        let evaluation = liftgate_policy::evaluate(
            &self.deps.rules,
            target,
            &requester,
            self.deps.requests.max_duration,
        );
        self.deps
            .rules
            .check_reason(target, &evaluation, reason.trim())
            .err()
            .map(|refusal| refusal.message())
    }

    /// The `Warning`s of the statements naming an account, for a form once it is picked.
    pub fn account_warnings(&self, account_id: &str) -> Vec<String> {
        self.deps.rules.account_warnings(account_id)
    }
}
