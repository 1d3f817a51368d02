//! What a request form may offer this requester. Upstream offered every configured account
//! times every configured permission set, so most choices ended in `no_statements`; these narrow
//! the choices to what some statement admitting the requester covers. They only shape the form:
//! [`super::evaluate`] still decides every request.
//!
//! What the statements open to everyone offer is folded at load (`index/forms.rs`); only the
//! restricted statements, and for one account the statements naming it, are looked at here.

use std::collections::BTreeSet;

use super::Requester;
use super::rule::Rule;
use crate::rules::{Rules, Scope};

/// The accounts this requester may ask for: `Scope::Any` when an admitting statement has
/// Resource `"*"` or is an OU statement. A statement with an empty `PermissionSet` offers no
/// account, since nothing could be asked for there.
pub fn accounts_for_requester(rules: &Rules, requester: &Requester<'_>) -> Scope {
    let forms = &rules.index().forms;
    let audience = forms.audience(requester);
    let mut accounts = forms.open_accounts.clone();
    for &at in &forms.restricted_account_statements {
        if accounts.is_any() {
            break;
        }
        if forms.admits(&rules.statements[at], at, &audience) {
            accounts.add(forms.accounts_of(at));
        }
    }
    accounts.to_scope(&forms.accounts)
}

/// The permission sets some statement admitting this requester covers on `account_id`.
pub fn permission_sets_for_account(
    rules: &Rules,
    account_id: &str,
    requester: &Requester<'_>,
) -> Scope {
    let index = rules.index();
    let forms = &index.forms;
    let audience = forms.audience(requester);
    let mut sets = forms.any_account_open_sets.clone();
    let naming = forms
        .any_account_restricted
        .iter()
        .copied()
        .chain(index.naming_account(account_id));
    for at in naming {
        if sets.is_any() {
            break;
        }
        if forms.admits(&rules.statements[at], at, &audience) {
            sets.add(forms.sets_of(at));
        }
    }
    sets.to_scope(&forms.permission_sets)
}

/// The group ids some group statement admitting this requester covers.
pub fn groups_for_requester(rules: &Rules, requester: &Requester<'_>) -> BTreeSet<String> {
    let forms = &rules.index().forms;
    let mut groups = forms.open_groups.clone();
    for &at in &forms.restricted_group_statements {
        let statement = &rules.group_statements[at];
        if Rule::of_group_statement(at, statement).admits(requester) {
            groups.extend(statement.resource.iter().cloned());
        }
    }
    groups
}
