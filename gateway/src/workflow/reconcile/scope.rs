//! What a pass looks at (docs/reference.md §6): the (account, permission set) pairs that each statement
//! names — per statement, never the cross product across statements (upstream's bug) — and the
//! groups that the group statements name. Plus the pruning plan that skips pairs where the
//! permission set is not even provisioned.

use std::collections::{BTreeMap, BTreeSet};

use liftgate_policy::{Rules, Scope as RuleScope};
use serde::Serialize;

/// An (account id, permission-set name) pair.
pub(crate) type Pair = (String, String);

/// The expanded scope of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) pairs: BTreeSet<Pair>,
    /// Permission-set name → ARN, for every name in `pairs`.
    pub(crate) arns: BTreeMap<String, String>,
    pub(crate) groups: BTreeSet<String>,
    /// Names the statements use that the instance does not have (nothing to scan there).
    pub(crate) unknown_permission_sets: BTreeSet<String>,
}

/// What the statements need from the directory before they can be expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Some statement names every account (`"*"`, or an `OU` statement).
    pub(crate) all_accounts: bool,
    /// Some statement names every permission set.
    pub(crate) all_permission_sets: bool,
    /// The permission sets named explicitly.
    pub(crate) permission_sets: BTreeSet<String>,
}

pub(crate) fn needs(rules: &Rules) -> Needs {
    let mut needs = Needs::default();
    for statement in &rules.statements {
        match &statement.resource {
            RuleScope::Any => needs.all_accounts = true,
            RuleScope::Only(_) => {}
        }
        match &statement.permission_set {
            RuleScope::Any => needs.all_permission_sets = true,
            RuleScope::Only(names) => needs.permission_sets.extend(names.iter().cloned()),
        }
    }
    needs
}

/// Expands the statements. `organization` is every account id (used for `"*"` resources);
/// `catalog` maps permission-set names to ARNs (every set when some statement says `"*"`,
/// otherwise at least the named ones; a name missing from it does not exist).
pub(crate) fn expand(
    rules: &Rules,
    organization: &[String],
    catalog: &BTreeMap<String, String>,
) -> Scope {
    let mut scope = Scope::default();
    for statement in &rules.statements {
        let accounts: Vec<&String> = match &statement.resource {
            RuleScope::Any => organization.iter().collect(),
            RuleScope::Only(ids) => ids.iter().collect(),
        };
        let permission_sets: Vec<&String> = match &statement.permission_set {
            RuleScope::Any => catalog.keys().collect(),
            RuleScope::Only(names) => {
                for name in names.iter().filter(|name| !catalog.contains_key(*name)) {
                    scope.unknown_permission_sets.insert(name.clone());
                }
                names
                    .iter()
                    .filter(|name| catalog.contains_key(*name))
                    .collect()
            }
        };
        for permission_set in permission_sets {
            if let Some(arn) = catalog.get(permission_set) {
                scope.arns.insert(permission_set.clone(), arn.clone());
            }
            for account in &accounts {
                scope
                    .pairs
                    .insert(((*account).clone(), permission_set.clone()));
            }
        }
    }
    for statement in &rules.group_statements {
        scope.groups.extend(statement.resource.iter().cloned());
    }
    scope
}

/// How a pass narrows the pairs it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PruningStrategy {
    /// Every pair is listed: pruning is switched off, or the inventory cannot answer the
    /// provisioning queries reliably (emulators).
    Disabled,
    /// Every pair is listed: asking where permission sets are provisioned would cost as many
    /// calls as it could save.
    NotUseful,
    /// One `ListAccountsForProvisionedPermissionSet` per permission set in scope.
    ByPermissionSet,
    /// One `ListPermissionSetsProvisionedToAccount` per account in scope.
    ByAccount,
}

impl PruningStrategy {
    pub fn describe(self) -> &'static str {
        match self {
            PruningStrategy::Disabled => "off",
            PruningStrategy::NotUseful => "not useful for this scope",
            PruningStrategy::ByPermissionSet => "by permission set",
            PruningStrategy::ByAccount => "by account",
        }
    }
}

/// The cheaper way to prune `pairs`: one query per permission set or one per account,
/// whichever is fewer, and only when that is fewer than the pairs themselves.
pub(crate) fn choose_pruning(pairs: &BTreeSet<Pair>) -> PruningStrategy {
    let accounts: BTreeSet<&String> = pairs.iter().map(|(account, _)| account).collect();
    let sets: BTreeSet<&String> = pairs.iter().map(|(_, set)| set).collect();
    let cheapest = accounts.len().min(sets.len());
    if pairs.is_empty() || cheapest >= pairs.len() {
        PruningStrategy::NotUseful
    } else if sets.len() <= accounts.len() {
        PruningStrategy::ByPermissionSet
    } else {
        PruningStrategy::ByAccount
    }
}

/// The pairs still worth listing after the provisioning queries. `answers` is keyed by
/// permission-set name ([`PruningStrategy::ByPermissionSet`]: the accounts it is provisioned
/// to) or by account ([`PruningStrategy::ByAccount`]: the permission-set names provisioned to
/// it). A key without an answer (its query failed) keeps all of its pairs: pruning may only
/// ever skip what provably holds nothing.
pub(crate) fn prune(
    pairs: &BTreeSet<Pair>,
    strategy: PruningStrategy,
    answers: &BTreeMap<String, Option<BTreeSet<String>>>,
) -> BTreeSet<Pair> {
    let provisioned = |key: &String, value: &String| match answers.get(key) {
        Some(Some(found)) => found.contains(value),
        Some(None) | None => true,
    };
    pairs
        .iter()
        .filter(|(account, set)| match strategy {
            PruningStrategy::ByPermissionSet => provisioned(set, account),
            PruningStrategy::ByAccount => provisioned(account, set),
            PruningStrategy::Disabled | PruningStrategy::NotUseful => true,
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(statements: serde_json::Value, groups: serde_json::Value) -> Rules {
        liftgate_policy::parse_rules(Some(&statements), Some(&groups)).unwrap()
    }

    fn pair(account: &str, set: &str) -> Pair {
        (account.to_owned(), set.to_owned())
    }

    fn catalog(names: &[&str]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|name| ((*name).to_owned(), format!("arn:ps-{name}")))
            .collect()
    }

    #[test]
    fn each_statement_contributes_only_its_own_pairs() {
        let rules = rules(
            json!([
                {"ResourceType": "Account", "Resource": ["111111111111", "222222222222"],
                 "PermissionSet": "Admin", "Approvers": "a@corp.com"},
                {"ResourceType": "Account", "Resource": "333333333333",
                 "PermissionSet": ["ReadOnly", "Billing"], "Approvers": "a@corp.com"},
            ]),
            json!([]),
        );
        let scope = expand(
            &rules,
            &[],
            &catalog(&["Admin", "ReadOnly", "Billing", "Other"]),
        );
        assert_eq!(
            scope.pairs,
            BTreeSet::from([
                pair("111111111111", "Admin"),
                pair("222222222222", "Admin"),
                pair("333333333333", "Billing"),
                pair("333333333333", "ReadOnly"),
            ]),
            "no 111/ReadOnly or 333/Admin: that would be upstream's cross product"
        );
        assert_eq!(scope.arns.len(), 3);
        assert!(!scope.arns.contains_key("Other"));
    }

    #[test]
    fn wildcards_expand_to_the_organization_and_the_catalog() {
        let rules = rules(
            json!([
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "ReadOnly",
                 "Approvers": "a@corp.com"},
                {"ResourceType": "Account", "Resource": "111111111111", "PermissionSet": "*",
                 "Approvers": "a@corp.com"},
            ]),
            json!([]),
        );
        let organization = ["111111111111".to_owned(), "222222222222".to_owned()];
        let scope = expand(&rules, &organization, &catalog(&["Admin", "ReadOnly"]));
        assert_eq!(
            scope.pairs,
            BTreeSet::from([
                pair("111111111111", "Admin"),
                pair("111111111111", "ReadOnly"),
                pair("222222222222", "ReadOnly"),
            ])
        );
        let needs = needs(&rules);
        assert!(needs.all_accounts && needs.all_permission_sets);
    }

    #[test]
    fn unknown_permission_sets_are_reported_not_scanned() {
        let rules = rules(
            json!([{"ResourceType": "Account", "Resource": "111111111111",
                    "PermissionSet": ["Admin", "Gone"], "Approvers": "a@corp.com"}]),
            json!([]),
        );
        let scope = expand(&rules, &[], &catalog(&["Admin"]));
        assert_eq!(scope.pairs, BTreeSet::from([pair("111111111111", "Admin")]));
        assert_eq!(
            scope.unknown_permission_sets,
            BTreeSet::from(["Gone".to_owned()])
        );
        assert_eq!(
            needs(&rules).permission_sets,
            BTreeSet::from(["Admin".to_owned(), "Gone".to_owned()])
        );
    }

    #[test]
    fn groups_are_the_union_of_the_group_statements() {
        let rules = rules(
            json!([]),
            json!([
                {"Resource": ["11111111-2222-3333-4444-555555555555"], "Approvers": "a@corp.com"},
                {"Resource": ["11111111-2222-3333-4444-555555555555",
                              "99999999-8888-7777-6666-555555555555"], "Approvers": "b@corp.com"},
            ]),
        );
        let scope = expand(&rules, &[], &BTreeMap::new());
        assert!(scope.pairs.is_empty());
        assert_eq!(scope.groups.len(), 2);
    }

    #[test]
    fn pruning_picks_the_dimension_with_fewer_calls_and_only_when_it_pays() {
        let wide: BTreeSet<Pair> = (0..10)
            .flat_map(|a| ["Admin", "ReadOnly"].map(|s| pair(&format!("{a:012}"), s)))
            .collect();
        assert_eq!(choose_pruning(&wide), PruningStrategy::ByPermissionSet);
        let tall: BTreeSet<Pair> = (0..10)
            .map(|s| pair("111111111111", &format!("Set{s}")))
            .chain((0..10).map(|s| pair("222222222222", &format!("Set{s}"))))
            .collect();
        assert_eq!(choose_pruning(&tall), PruningStrategy::ByAccount);
        let single = BTreeSet::from([pair("111111111111", "Admin")]);
        assert_eq!(choose_pruning(&single), PruningStrategy::NotUseful);
        let diagonal = BTreeSet::from([pair("1", "A"), pair("2", "B")]);
        assert_eq!(choose_pruning(&diagonal), PruningStrategy::NotUseful);
        assert_eq!(choose_pruning(&BTreeSet::new()), PruningStrategy::NotUseful);
    }

    #[test]
    fn pruning_keeps_provisioned_pairs_and_everything_it_could_not_ask_about() {
        let pairs = BTreeSet::from([
            pair("1", "Admin"),
            pair("2", "Admin"),
            pair("1", "ReadOnly"),
            pair("2", "ReadOnly"),
        ]);
        let answers = BTreeMap::from([
            ("Admin".to_owned(), Some(BTreeSet::from(["2".to_owned()]))),
            // The query for ReadOnly failed: both of its pairs stay.
            ("ReadOnly".to_owned(), None),
        ]);
        assert_eq!(
            prune(&pairs, PruningStrategy::ByPermissionSet, &answers),
            BTreeSet::from([
                pair("2", "Admin"),
                pair("1", "ReadOnly"),
                pair("2", "ReadOnly")
            ])
        );
        let by_account = BTreeMap::from([("1".to_owned(), Some(BTreeSet::new()))]);
        assert_eq!(
            prune(&pairs, PruningStrategy::ByAccount, &by_account),
            BTreeSet::from([pair("2", "Admin"), pair("2", "ReadOnly")]),
            "account 2 has no answer, so it is kept whole"
        );
        assert_eq!(
            prune(&pairs, PruningStrategy::Disabled, &BTreeMap::new()),
            pairs
        );
    }
}
