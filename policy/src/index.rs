//! The index built when rules are loaded: from an account id and a permission set (or a group
//! id) to the statements that can affect a request for them, so that deciding a request looks
//! at those statements only, never at the whole configuration.
//!
//! An account statement is filed by the shape of its `Resource` and `PermissionSet`:
//!
//! | Resource | PermissionSet | filed under |
//! |---|---|---|
//! | `*` (and OU statements) | `*` | one bucket |
//! | `*` | names | a bucket per permission set |
//! | account ids | `*` | a bucket per account |
//! | account ids | names | a list per account and a list per permission set |
//!
//! The three wildcard shapes are [`Bucket`]s, which fold their statements together at load.
//! Statements naming both accounts and permission sets are found by walking the shorter of the
//! two lists for the request, which keeps the index linear in the size of the configuration
//! (filing them by every account × set pair would not be). `ResourceType` plays no part, as in
//! the decision itself (an OU statement only ever has `Resource: "*"`).

mod bucket;
pub(crate) mod forms;
pub(crate) mod ids;

use std::collections::HashMap as StdHashMap;

use crate::evaluate::rule::Rule;
use crate::rules::{GroupStatement, Scope, Statement};
pub(crate) use bucket::Bucket;
use ids::EmailTable;

type Map<V> = foldhash::HashMap<Box<str>, V>;

/// Everything the engine precomputes from one configuration. Built by [`crate::Rules::new`].
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleIndex {
    pub(crate) emails: EmailTable,
    /// Each statement's approvers as ascending email ids.
    pub(crate) statement_approvers: Box<[Box<[usize]>]>,
    /// Each group statement's approvers as ascending email ids.
    pub(crate) group_statement_approvers: Box<[Box<[usize]>]>,
    any_account_any_set: Bucket,
    any_account_by_set: Map<Bucket>,
    by_account: Map<NamedAccount>,
    /// Statements naming both accounts and permission sets, by permission set, ascending.
    exact_by_set: Map<Box<[usize]>>,
    by_group: Map<Bucket>,
    /// Break-glass statements naming an account id, which the decision buckets leave out but
    /// the form catalog offers.
    break_glass_by_account: Map<Box<[usize]>>,
    pub(crate) forms: forms::FormIndex,
}

/// The statements naming one account id.
#[derive(Debug, Clone, Default)]
struct NamedAccount {
    /// With `PermissionSet: "*"`.
    any_set: Bucket,
    /// With a list of permission sets, ascending.
    exact: Box<[usize]>,
}

/// The statements that can affect a request, as the index finds them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Candidates<'i> {
    /// The non-empty buckets whose key matches the target: at most three for an account (one
    /// for each wildcard shape), one for a group.
    pub(crate) buckets: [Option<&'i Bucket>; 3],
    /// Statements naming both the account and the permission set, ascending.
    pub(crate) exact: Vec<usize>,
}

impl<'i> Candidates<'i> {
    fn push(&mut self, bucket: Option<&'i Bucket>) {
        if let Some(bucket) = bucket.filter(|bucket| !bucket.is_empty())
            && let Some(slot) = self.buckets.iter_mut().find(|slot| slot.is_none())
        {
            *slot = Some(bucket);
        }
    }

    pub(crate) fn buckets(&self) -> impl Iterator<Item = &'i Bucket> + '_ {
        self.buckets.iter().flatten().copied()
    }
}

impl RuleIndex {
    pub(crate) fn build(statements: &[Statement], group_statements: &[GroupStatement]) -> Self {
        let emails = EmailTable::new(
            statements
                .iter()
                .flat_map(|statement| &statement.approvers)
                .chain(
                    group_statements
                        .iter()
                        .flat_map(|statement| &statement.approvers),
                ),
        );
        let statement_approvers = statements
            .iter()
            .map(|statement| emails.ids_of(&statement.approvers))
            .collect();
        let group_statement_approvers = group_statements
            .iter()
            .map(|statement| emails.ids_of(&statement.approvers))
            .collect();

        let mut any_any = Vec::new();
        let mut any_by_set: StdHashMap<&str, Vec<usize>> = StdHashMap::new();
        let mut by_account: StdHashMap<&str, (Vec<usize>, Vec<usize>)> = StdHashMap::new();
        let mut exact_by_set: StdHashMap<&str, Vec<usize>> = StdHashMap::new();
        // Break-glass statements decide only break-glass requests (`evaluate_break_glass`), so
        // the decision index never sees them; the form catalog does (`forms`).
        let decided = |statement: &&Statement| !statement.break_glass;
        for (index, statement) in statements
            .iter()
            .enumerate()
            .filter(|(_, statement)| decided(statement))
        {
            match (&statement.resource, &statement.permission_set) {
                (Scope::Any, Scope::Any) => any_any.push(index),
                (Scope::Any, Scope::Only(sets)) => {
                    for set in sets {
                        any_by_set.entry(set).or_default().push(index);
                    }
                }
                (Scope::Only(accounts), Scope::Any) => {
                    for account in accounts {
                        by_account.entry(account).or_default().0.push(index);
                    }
                }
                (Scope::Only(accounts), Scope::Only(sets)) => {
                    // An empty list on either side matches nothing.
                    if sets.is_empty() {
                        continue;
                    }
                    for account in accounts {
                        by_account.entry(account).or_default().1.push(index);
                    }
                    if !accounts.is_empty() {
                        for set in sets {
                            exact_by_set.entry(set).or_default().push(index);
                        }
                    }
                }
            }
        }
        let mut break_glass_by_account: StdHashMap<&str, Vec<usize>> = StdHashMap::new();
        for (index, statement) in statements.iter().enumerate() {
            if let (true, Scope::Only(accounts)) = (statement.break_glass, &statement.resource) {
                for account in accounts {
                    break_glass_by_account
                        .entry(account)
                        .or_default()
                        .push(index);
                }
            }
        }
        let rule = |index: usize| Rule::of_statement(index, &statements[index]);
        let group_rule = |index: usize| Rule::of_group_statement(index, &group_statements[index]);

        let mut by_group: StdHashMap<&str, Vec<usize>> = StdHashMap::new();
        for (index, statement) in group_statements
            .iter()
            .enumerate()
            .filter(|(_, statement)| !statement.break_glass)
        {
            for group in &statement.resource {
                by_group.entry(group).or_default().push(index);
            }
        }

        RuleIndex {
            any_account_any_set: Bucket::new(&any_any, rule, &emails),
            any_account_by_set: any_by_set
                .into_iter()
                .map(|(set, list)| (set.into(), Bucket::new(&list, rule, &emails)))
                .collect(),
            by_account: by_account
                .into_iter()
                .map(|(account, (any_set, exact))| {
                    let entry = NamedAccount {
                        any_set: Bucket::new(&any_set, rule, &emails),
                        exact: exact.into_boxed_slice(),
                    };
                    (account.into(), entry)
                })
                .collect(),
            exact_by_set: exact_by_set
                .into_iter()
                .map(|(set, list)| (set.into(), list.into_boxed_slice()))
                .collect(),
            by_group: by_group
                .into_iter()
                .map(|(group, list)| (group.into(), Bucket::new(&list, group_rule, &emails)))
                .collect(),
            break_glass_by_account: break_glass_by_account
                .into_iter()
                .map(|(account, list)| (account.into(), list.into_boxed_slice()))
                .collect(),
            forms: forms::FormIndex::build(statements, group_statements),
            emails,
            statement_approvers,
            group_statement_approvers,
        }
    }

    /// The statements that can affect a request for this account and permission set.
    pub(crate) fn account_candidates(
        &self,
        statements: &[Statement],
        account_id: &str,
        permission_set: &str,
    ) -> Candidates<'_> {
        let mut candidates = Candidates::default();
        let named = self.by_account.get(account_id);
        candidates.push(Some(&self.any_account_any_set));
        candidates.push(self.any_account_by_set.get(permission_set));
        candidates.push(named.map(|account| &account.any_set));
        if let (Some(account), Some(by_set)) = (named, self.exact_by_set.get(permission_set)) {
            candidates.exact = if account.exact.len() <= by_set.len() {
                account
                    .exact
                    .iter()
                    .copied()
                    .filter(|&index| statements[index].permission_set.contains(permission_set))
                    .collect()
            } else {
                by_set
                    .iter()
                    .copied()
                    .filter(|&index| statements[index].resource.contains(account_id))
                    .collect()
            };
        }
        candidates
    }

    /// The group statements that can affect a request for this group.
    pub(crate) fn group_candidates(&self, group_id: &str) -> Candidates<'_> {
        let mut candidates = Candidates::default();
        candidates.push(self.by_group.get(group_id));
        candidates
    }

    /// Every statement whose `Resource` names this account id (not `"*"`), break-glass ones
    /// included, in no set order.
    pub(crate) fn naming_account(&self, account_id: &str) -> impl Iterator<Item = usize> + '_ {
        self.by_account
            .get(account_id)
            .into_iter()
            .flat_map(|account| {
                let bucket = &account.any_set;
                bucket
                    .open
                    .iter()
                    .chain(&bucket.restricted)
                    .chain(&account.exact)
            })
            .chain(
                self.break_glass_by_account
                    .get(account_id)
                    .into_iter()
                    .flatten(),
            )
            .copied()
    }
}
