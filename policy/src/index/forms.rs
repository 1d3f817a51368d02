//! What the request forms need, folded at load: the forms ask about every statement that admits
//! a requester, and for the statements open to everyone the answer is the same for every
//! requester, so it is computed once.

use std::collections::BTreeSet;

use crate::evaluate::rule::Rule;
use crate::rules::{GroupStatement, ResourceType, Scope, Statement};

#[derive(Debug, Clone)]
pub(crate) struct FormIndex {
    /// The accounts the open statements with a non-empty `PermissionSet` offer.
    pub(crate) open_accounts: Scope,
    /// Restricted statements with a non-empty `PermissionSet`, ascending.
    pub(crate) restricted_account_statements: Box<[usize]>,
    /// The permission sets the open statements with `Resource: "*"` offer on any account.
    pub(crate) any_account_open_sets: Scope,
    /// Restricted statements with `Resource: "*"`, ascending.
    pub(crate) any_account_restricted: Box<[usize]>,
    /// The groups the open group statements offer.
    pub(crate) open_groups: BTreeSet<String>,
    /// Restricted group statements, ascending.
    pub(crate) restricted_group_statements: Box<[usize]>,
}

impl Default for FormIndex {
    fn default() -> Self {
        FormIndex {
            open_accounts: Scope::empty(),
            restricted_account_statements: Box::default(),
            any_account_open_sets: Scope::empty(),
            any_account_restricted: Box::default(),
            open_groups: BTreeSet::new(),
            restricted_group_statements: Box::default(),
        }
    }
}

/// Adds `scope` to `into`; `Any` absorbs everything.
pub(crate) fn extend(into: &mut Scope, scope: &Scope) {
    match (&mut *into, scope) {
        (Scope::Any, _) => {}
        (_, Scope::Any) => *into = Scope::Any,
        (Scope::Only(names), Scope::Only(more)) => names.extend(more.iter().cloned()),
    }
}

/// The accounts a statement offers on a form (an OU statement offers every account).
pub(crate) fn offered_accounts(statement: &Statement) -> &Scope {
    if statement.resource_type == ResourceType::Ou {
        &Scope::Any
    } else {
        &statement.resource
    }
}

impl FormIndex {
    pub(crate) fn build(statements: &[Statement], group_statements: &[GroupStatement]) -> Self {
        let mut index = FormIndex::default();
        let mut restricted_accounts = Vec::new();
        let mut any_account_restricted = Vec::new();
        for (at, statement) in statements.iter().enumerate() {
            let restricted = Rule::of_statement(at, statement).is_restricted();
            if statement.permission_set != Scope::empty() {
                if restricted {
                    restricted_accounts.push(at);
                } else {
                    extend(&mut index.open_accounts, offered_accounts(statement));
                }
            }
            if statement.resource.is_any() {
                if restricted {
                    any_account_restricted.push(at);
                } else {
                    extend(&mut index.any_account_open_sets, &statement.permission_set);
                }
            }
        }
        let mut restricted_groups = Vec::new();
        for (at, statement) in group_statements.iter().enumerate() {
            if Rule::of_group_statement(at, statement).is_restricted() {
                restricted_groups.push(at);
            } else {
                index.open_groups.extend(statement.resource.iter().cloned());
            }
        }
        index.restricted_account_statements = restricted_accounts.into_boxed_slice();
        index.any_account_restricted = any_account_restricted.into_boxed_slice();
        index.restricted_group_statements = restricted_groups.into_boxed_slice();
        index
    }
}
