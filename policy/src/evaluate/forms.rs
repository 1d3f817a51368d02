//! What a request form may offer this requester. Upstream offered every configured account
//! times every configured permission set, so most choices ended in `no_statements`; these narrow
//! the choices to what some statement admitting the requester covers. They only shape the form:
//! [`super::evaluate`] still decides every request.

use std::collections::BTreeSet;

use super::Requester;
use super::rule::Rule;
use crate::rules::{ResourceType, Rules, Scope};

/// The accounts this requester may ask for: `Scope::Any` when an admitting statement has
/// Resource `"*"` or is an OU statement. A statement with an empty `PermissionSet` offers no
/// account, since nothing could be asked for there.
pub fn accounts_for_requester(rules: &Rules, requester: &Requester<'_>) -> Scope {
    rules
        .statements
        .iter()
        .enumerate()
        .filter(|(_, statement)| statement.permission_set != Scope::empty())
        .filter(|(index, statement)| Rule::of_statement(*index, statement).admits(requester))
        .fold(Scope::empty(), |accounts, (_, statement)| {
            if statement.resource_type == ResourceType::Ou {
                Scope::Any
            } else {
                accounts.union(&statement.resource)
            }
        })
}

/// The permission sets some statement admitting this requester covers on `account_id`.
pub fn permission_sets_for_account(
    rules: &Rules,
    account_id: &str,
    requester: &Requester<'_>,
) -> Scope {
    rules
        .statements
        .iter()
        .enumerate()
        .filter(|(_, statement)| statement.resource.contains(account_id))
        .filter(|(index, statement)| Rule::of_statement(*index, statement).admits(requester))
        .fold(Scope::empty(), |sets, (_, statement)| {
            sets.union(&statement.permission_set)
        })
}

/// The group ids some group statement admitting this requester covers.
pub fn groups_for_requester(rules: &Rules, requester: &Requester<'_>) -> BTreeSet<String> {
    rules
        .group_statements
        .iter()
        .enumerate()
        .filter(|(index, statement)| Rule::of_group_statement(*index, statement).admits(requester))
        .flat_map(|(_, statement)| statement.resource.iter().cloned())
        .collect()
}
