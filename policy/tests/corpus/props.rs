//! Property tests: `parse_rules` is total on any JSON, and on random valid rules `evaluate`
//! keeps its invariants and agrees with the naive model of docs/reference.md §3 in `model.rs`.

use std::collections::BTreeSet;

use liftgate_policy::{
    Duration, Email, Requester, Rules, Target, accounts_for_requester, approver_permitted,
    evaluate, groups_for_requester, lint, may_deny, parse_rules, permission_sets_for_account,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use serde_json::{Map, Value, json};

use crate::{invariants, model};

const ACCOUNTS: &[&str] = &["111111111111", "222222222222", "333333333333"];
const PERMISSION_SETS: &[&str] = &["Admin", "ReadOnly", "admin"];
const EMAILS: &[&str] = &[
    "alice@corp.com",
    "Bob@Corp.com",
    "carol@corp.com",
    "dave@corp.com",
];
const GROUPS: &[&str] = &[
    "11111111-2222-3333-4444-555555555555",
    "aaaaaaaaaa-66666666-7777-8888-9999-000000000000",
    "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
];
const KEYS: &[&str] = &[
    "ResourceType",
    "Resource",
    "PermissionSet",
    "Approvers",
    "AllowSelfApproval",
    "ApprovalIsNotRequired",
    "AllowedUsers",
    "AllowedGroups",
    "RequiredApprovals",
    "MaxDuration",
    "AllowSelfAprovals",
];
/// Strings that reach the deeper validation paths, mixed with arbitrary text.
const TEXTS: &[&str] = &[
    "*",
    "Account",
    "OU",
    "account",
    "111111111111",
    "1111*",
    "Admin",
    "Admin*",
    "true",
    "FALSE",
    "yes",
    "2",
    "0",
    "-1",
    "4h",
    "0m",
    "1h30m",
    "bob@",
    "alice@corp.com",
    "",
    "11111111-2222-3333-4444-555555555555",
    "d-1234567890",
    "ou-ab12-34567890",
];

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|number| json!(number)),
        select(TEXTS).prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 96, 8, |inner| {
        let key = prop_oneof![select(KEYS).prop_map(String::from), "\\PC{0,12}"];
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key, inner, 0..8).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

pub(crate) fn optional<T: std::fmt::Debug + Clone + 'static>(
    strategy: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![Just(None), strategy.prop_map(Some)]
}

/// A single name, a list of names (possibly empty) or the wildcard, as a config may write it.
pub(crate) fn names(pool: &'static [&'static str], wildcard: bool) -> BoxedStrategy<Value> {
    let list = subsequence(pool, 0..=pool.len()).prop_map(|names| json!(names));
    let single = select(pool).prop_map(|name| json!(name));
    if wildcard {
        prop_oneof![list, single, Just(json!("*"))].boxed()
    } else {
        prop_oneof![list, single].boxed()
    }
}

fn common_keys() -> impl Strategy<Value = Map<String, Value>> {
    (
        optional(names(EMAILS, false)),
        optional(any::<bool>()),
        optional(any::<bool>()),
        optional(names(EMAILS, false)),
        optional(names(GROUPS, false)),
        optional(prop_oneof![3 => Just(1u32), 1 => Just(2), 1 => Just(3)]),
        optional(select(&["30m", "1h", "4h", "24h"][..])),
    )
        .prop_map(
            |(approvers, self_approval, not_required, users, groups, quorum, cap)| {
                let mut map = Map::new();
                let mut put = |key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        map.insert(key.to_owned(), value);
                    }
                };
                put("Approvers", approvers);
                put("AllowSelfApproval", self_approval.map(Value::Bool));
                put("ApprovalIsNotRequired", not_required.map(Value::Bool));
                put("AllowedUsers", users);
                put("AllowedGroups", groups);
                put("RequiredApprovals", quorum.map(Value::from));
                put("MaxDuration", cap.map(Value::from));
                map
            },
        )
}

fn statement() -> impl Strategy<Value = Value> {
    let resource = prop_oneof![
        4 => names(ACCOUNTS, true).prop_map(|resource| ("Account", resource)),
        1 => Just(("OU", json!("*"))),
    ];
    (resource, names(PERMISSION_SETS, true), common_keys()).prop_map(
        |((resource_type, resource), permission_set, mut map)| {
            map.insert("ResourceType".into(), json!(resource_type));
            map.insert("Resource".into(), resource);
            map.insert("PermissionSet".into(), permission_set);
            Value::Object(map)
        },
    )
}

fn group_statement() -> impl Strategy<Value = Value> {
    (names(GROUPS, false), common_keys()).prop_map(|(resource, mut map)| {
        map.insert("Resource".into(), resource);
        Value::Object(map)
    })
}

fn valid_rules() -> impl Strategy<Value = Rules> {
    (vec(statement(), 0..5), vec(group_statement(), 0..4)).prop_map(|(statements, groups)| {
        parse_rules(Some(&Value::Array(statements)), Some(&Value::Array(groups)))
            .unwrap_or_else(|problems| panic!("generated rules do not parse: {problems:?}"))
    })
}

/// A requester drawn from the pool, in any letter case (emails compare case-insensitively).
fn requester() -> impl Strategy<Value = (Email, BTreeSet<String>)> {
    let email =
        (select(EMAILS), any::<bool>()).prop_filter_map("pool emails parse", |(email, upper)| {
            let text = if upper {
                email.to_uppercase()
            } else {
                email.to_owned()
            };
            Email::parse(&text).ok()
        });
    let groups = subsequence(GROUPS, 0..=GROUPS.len())
        .prop_map(|groups| groups.into_iter().map(String::from).collect());
    (email, groups)
}

fn targets() -> Vec<Target<'static>> {
    let mut targets: Vec<Target<'static>> = ACCOUNTS
        .iter()
        .flat_map(|account_id| {
            PERMISSION_SETS
                .iter()
                .map(move |permission_set| Target::Account {
                    account_id,
                    permission_set,
                })
        })
        .collect();
    targets.extend(GROUPS.iter().map(|group_id| Target::Group { group_id }));
    targets
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_rules_never_panics(statements in arbitrary_json(), groups in arbitrary_json()) {
        let absent_or = |value: &Value, absent: bool| if absent { None } else { Some(value.clone()) };
        for (a, b) in [(false, false), (true, false), (false, true)] {
            let (statements, groups) = (absent_or(&statements, a), absent_or(&groups, b));
            match parse_rules(statements.as_ref(), groups.as_ref()) {
                Ok(rules) => { let _ = lint(&rules); }
                Err(problems) => prop_assert!(!problems.is_empty()),
            }
        }
    }

    #[test]
    fn parse_rules_never_panics_on_statement_shaped_values(
        statements in vec(btree_map(select(KEYS).prop_map(String::from), arbitrary_json(), 0..10), 0..4),
    ) {
        let value = Value::Array(
            statements.into_iter().map(|map| Value::Object(map.into_iter().collect())).collect(),
        );
        if let Ok(rules) = parse_rules(Some(&value), Some(&value)) {
            let _ = lint(&rules);
        }
    }

    #[test]
    fn evaluate_keeps_its_invariants_and_agrees_with_the_model(
        rules in valid_rules(),
        (email, groups) in requester(),
        global in select(vec![Duration::from_hours(2), Duration::from_hours(12)]),
    ) {
        let requester = Requester { email: &email, groups: &groups };
        let others: Vec<Email> = EMAILS.iter().map(|text| Email::parse(text).unwrap()).collect();
        for target in targets() {
            let evaluation = evaluate(&rules, &target, &requester, global);
            let broken = invariants::check(&rules, &target, &requester, global, &evaluation);
            prop_assert!(broken.is_empty(), "{target:?}: {broken:#?}");
            prop_assert_eq!(&evaluation, &model::evaluate(&rules, &target, &requester, global));
            for person in &others {
                prop_assert_eq!(
                    approver_permitted(&rules, &target, &requester, person),
                    model::approver_permitted(&rules, &target, &requester, person),
                    "approver_permitted({}) for {:?}", person, target
                );
                prop_assert_eq!(
                    may_deny(&rules, &target, &requester, person),
                    model::may_deny(&rules, &target, &requester, person),
                    "may_deny({}) for {:?}", person, target
                );
            }
        }
    }

    #[test]
    fn forms_offer_exactly_what_some_statement_admits(
        rules in valid_rules(),
        (email, groups) in requester(),
    ) {
        let requester = Requester { email: &email, groups: &groups };
        let accounts = accounts_for_requester(&rules, &requester);
        let offered_groups = groups_for_requester(&rules, &requester);
        for target in targets() {
            let decision = evaluate(&rules, &target, &requester, Duration::from_hours(1)).decision;
            let reachable = !matches!(
                decision,
                liftgate_policy::Decision::NoStatements | liftgate_policy::Decision::RequesterNotAllowed
            );
            match target {
                Target::Account { account_id, permission_set } => {
                    let sets = permission_sets_for_account(&rules, account_id, &requester);
                    // Offered on the form exactly when the request could get past rule 1.
                    prop_assert_eq!(sets.contains(permission_set), reachable, "{:?}", target);
                    if reachable {
                        prop_assert!(accounts.contains(account_id), "{:?}", target);
                    }
                }
                Target::Group { group_id } => {
                    prop_assert_eq!(offered_groups.contains(group_id), reachable, "{:?}", target);
                }
            }
        }
    }
}
