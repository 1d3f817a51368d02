//! What the request forms need, folded at load: the forms ask about every statement that admits
//! a requester, and for the statements open to everyone the answer is the same for every
//! requester, so it is computed once. Account ids and permission-set names are numbered (in
//! sort order), so a form's choices are unions of bit sets, turned into names once at the end.

use std::collections::BTreeSet;

use super::ids::{IdSet, NameTable};
use crate::evaluate::Requester;
use crate::evaluate::rule::Rule;
use crate::rules::{GroupStatement, ResourceType, Scope, Statement};

/// Names by id, or everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choices {
    Any,
    Only(IdSet),
}

impl Default for Choices {
    /// No name at all.
    fn default() -> Self {
        Choices::Only(IdSet::default())
    }
}

impl Choices {
    pub(crate) fn is_any(&self) -> bool {
        matches!(self, Choices::Any)
    }

    /// Adds the names `ids` stands for; `None` stands for every name.
    pub(crate) fn add(&mut self, ids: Option<&[usize]>) {
        match (&mut *self, ids) {
            (Choices::Any, _) => {}
            (_, None) => *self = Choices::Any,
            (Choices::Only(set), Some(ids)) => set.extend(ids),
        }
    }

    pub(crate) fn to_scope(&self, names: &NameTable) -> Scope {
        match self {
            Choices::Any => Scope::Any,
            Choices::Only(ids) => {
                Scope::Only(ids.iter().map(|id| names.name(id).clone()).collect())
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct FormIndex {
    pub(crate) accounts: NameTable,
    pub(crate) permission_sets: NameTable,
    /// Each statement's accounts on a form as ids; `None` for every account (`"*"`, OU).
    statement_accounts: Box<[Option<Box<[usize]>>]>,
    /// Each statement's permission sets as ids; `None` for `"*"`.
    statement_sets: Box<[Option<Box<[usize]>>]>,
    /// The accounts the open statements with a non-empty `PermissionSet` offer.
    pub(crate) open_accounts: Choices,
    /// Restricted statements with a non-empty `PermissionSet`, ascending.
    pub(crate) restricted_account_statements: Box<[usize]>,
    /// The permission sets the open statements with `Resource: "*"` offer on any account.
    pub(crate) any_account_open_sets: Choices,
    /// Restricted statements with `Resource: "*"`, ascending.
    pub(crate) any_account_restricted: Box<[usize]>,
    /// The groups the open group statements offer.
    pub(crate) open_groups: BTreeSet<String>,
    /// Restricted group statements, ascending.
    pub(crate) restricted_group_statements: Box<[usize]>,
    /// Every `AllowedGroups` entry of the account statements.
    allowed_groups: NameTable,
    /// Each account statement's `AllowedGroups` as ids.
    statement_allowed_groups: Box<[Box<[usize]>]>,
}

/// One requester, as the forms check them against every restricted statement: their groups
/// are looked up once, so each statement's check compares numbers.
pub(crate) struct Audience<'a> {
    requester: &'a Requester<'a>,
    groups: IdSet,
}

fn only(scope: &Scope) -> Option<&BTreeSet<String>> {
    match scope {
        Scope::Any => None,
        Scope::Only(values) => Some(values),
    }
}

fn ids(scope: &Scope, names: &NameTable) -> Option<Box<[usize]>> {
    match scope {
        Scope::Any => None,
        Scope::Only(values) => Some(names.ids_of(values)),
    }
}

impl FormIndex {
    pub(crate) fn build(statements: &[Statement], group_statements: &[GroupStatement]) -> Self {
        let accounts = NameTable::new(
            statements
                .iter()
                .filter_map(|s| only(&s.resource))
                .flatten(),
        );
        let permission_sets = NameTable::new(
            statements
                .iter()
                .filter_map(|s| only(&s.permission_set))
                .flatten(),
        );
        let statement_accounts: Box<[Option<Box<[usize]>>]> = statements
            .iter()
            .map(|statement| {
                // An OU statement offers every account.
                if statement.resource_type == ResourceType::Ou {
                    None
                } else {
                    ids(&statement.resource, &accounts)
                }
            })
            .collect();
        let statement_sets: Box<[Option<Box<[usize]>>]> = statements
            .iter()
            .map(|statement| ids(&statement.permission_set, &permission_sets))
            .collect();

        let mut open_accounts = Choices::Only(IdSet::with_universe(accounts.len()));
        let mut any_account_open_sets = Choices::Only(IdSet::with_universe(permission_sets.len()));
        let mut restricted_accounts = Vec::new();
        let mut any_account_restricted = Vec::new();
        for (at, statement) in statements.iter().enumerate() {
            let restricted = Rule::of_statement(at, statement).is_restricted();
            if statement.permission_set != Scope::empty() {
                if restricted {
                    restricted_accounts.push(at);
                } else {
                    open_accounts.add(statement_accounts[at].as_deref());
                }
            }
            if statement.resource.is_any() {
                if restricted {
                    any_account_restricted.push(at);
                } else {
                    any_account_open_sets.add(statement_sets[at].as_deref());
                }
            }
        }
        let mut open_groups = BTreeSet::new();
        let mut restricted_groups = Vec::new();
        for (at, statement) in group_statements.iter().enumerate() {
            if Rule::of_group_statement(at, statement).is_restricted() {
                restricted_groups.push(at);
            } else {
                open_groups.extend(statement.resource.iter().cloned());
            }
        }
        let allowed_groups = NameTable::new(statements.iter().flat_map(|s| &s.allowed_groups));
        let statement_allowed_groups = statements
            .iter()
            .map(|statement| allowed_groups.ids_of(&statement.allowed_groups))
            .collect();
        FormIndex {
            allowed_groups,
            statement_allowed_groups,
            accounts,
            permission_sets,
            statement_accounts,
            statement_sets,
            open_accounts,
            restricted_account_statements: restricted_accounts.into_boxed_slice(),
            any_account_open_sets,
            any_account_restricted: any_account_restricted.into_boxed_slice(),
            open_groups,
            restricted_group_statements: restricted_groups.into_boxed_slice(),
        }
    }

    /// The accounts statement `at` offers, as ids; `None` for every account.
    pub(crate) fn accounts_of(&self, at: usize) -> Option<&[usize]> {
        self.statement_accounts[at].as_deref()
    }

    /// The permission sets statement `at` covers, as ids; `None` for `"*"`.
    pub(crate) fn sets_of(&self, at: usize) -> Option<&[usize]> {
        self.statement_sets[at].as_deref()
    }
}

impl FormIndex {
    pub(crate) fn audience<'a>(&self, requester: &'a Requester<'a>) -> Audience<'a> {
        let mut groups = IdSet::default();
        for group in requester.groups {
            if let Some(id) = self.allowed_groups.id(group) {
                groups.insert(id);
            }
        }
        Audience { requester, groups }
    }

    /// Whether account statement `at` admits the audience (`Rule::admits`, with group ids).
    pub(crate) fn admits(&self, statement: &Statement, at: usize, audience: &Audience<'_>) -> bool {
        let groups = &self.statement_allowed_groups[at];
        (statement.allowed_users.is_empty() && groups.is_empty())
            || statement.allowed_users.contains(audience.requester.email)
            || groups.iter().any(|&group| audience.groups.contains(group))
    }
}
