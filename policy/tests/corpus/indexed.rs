//! The indexed engine against the scan. `props.rs` checks the decision rules on small rule sets;
//! this draws larger ones (up to 48 statements over more accounts, permission sets, approvers
//! and groups, so that buckets hold many statements, several buckets match one request and
//! restricted statements sit among open ones) and asks every question of the engine, on names
//! the rules use and names they do not, comparing each answer with `model.rs`, which scans
//! every statement.

use std::collections::BTreeSet;

use liftgate_policy::{
    Email, Requester, Rules, Target, accounts_for_requester, approver_permitted, evaluate,
    groups_for_requester, may_deny, parse_rules, permission_sets_for_account,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use serde_json::{Map, Value, json};

use crate::model;
use crate::props::{names, optional};

const ACCOUNTS: &[&str] = &[
    "111111111111",
    "222222222222",
    "333333333333",
    "444444444444",
    "555555555555",
    "666666666666",
];
/// Requested but never named by a rule.
const OTHER_ACCOUNT: &str = "999999999999";
const PERMISSION_SETS: &[&str] = &["Admin", "ReadOnly", "admin", "Billing", "Network"];
const OTHER_PERMISSION_SET: &str = "Unlisted";
const EMAILS: &[&str] = &[
    "alice@corp.com",
    "bob@corp.com",
    "carol@corp.com",
    "dave@corp.com",
    "erin@corp.com",
    "frank@corp.com",
    "grace@corp.com",
];
/// Requests and approves, but no rule names them.
const OUTSIDER: &str = "mallory@corp.com";
const GROUPS: &[&str] = &[
    "11111111-2222-3333-4444-555555555555",
    "aaaaaaaaaa-66666666-7777-8888-9999-000000000000",
    "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
    "01234567-89ab-cdef-0123-456789abcdef",
];
const OTHER_GROUP: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";

fn common_keys() -> impl Strategy<Value = Map<String, Value>> {
    (
        optional(names(EMAILS, false)),
        optional(any::<bool>()),
        optional(any::<bool>()),
        // Mostly open statements, as configurations have them.
        prop_oneof![3 => Just(None), 1 => names(EMAILS, false).prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => names(GROUPS, false).prop_map(Some)],
        optional(prop_oneof![4 => Just(1u32), 1 => Just(2)]),
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
        6 => names(ACCOUNTS, true).prop_map(|resource| ("Account", resource)),
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

fn larger_rules() -> impl Strategy<Value = Rules> {
    (vec(statement(), 0..48), vec(group_statement(), 0..12)).prop_map(|(statements, groups)| {
        parse_rules(Some(&Value::Array(statements)), Some(&Value::Array(groups)))
            .unwrap_or_else(|problems| panic!("generated rules do not parse: {problems:?}"))
    })
}

fn people() -> Vec<Email> {
    EMAILS
        .iter()
        .chain(&[OUTSIDER])
        .map(|text| Email::parse(text).unwrap_or_else(|error| panic!("{error}")))
        .collect()
}

fn requester() -> impl Strategy<Value = (Email, BTreeSet<String>)> {
    (
        select(people()),
        subsequence(GROUPS, 0..=GROUPS.len())
            .prop_map(|groups| groups.into_iter().map(String::from).collect()),
    )
}

fn targets() -> Vec<Target<'static>> {
    let accounts = ACCOUNTS.iter().chain(&[OTHER_ACCOUNT]);
    let mut targets: Vec<Target<'static>> = accounts
        .flat_map(|account_id| {
            PERMISSION_SETS
                .iter()
                .chain(&[OTHER_PERMISSION_SET])
                .map(move |permission_set| Target::Account {
                    account_id,
                    permission_set,
                })
        })
        .collect();
    targets.extend(
        GROUPS
            .iter()
            .chain(&[OTHER_GROUP])
            .map(|group_id| Target::Group { group_id }),
    );
    targets
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_indexed_engine_answers_as_the_scan_does(
        rules in larger_rules(),
        (email, groups) in requester(),
        global in select(vec![liftgate_policy::Duration::from_hours(2), liftgate_policy::Duration::from_hours(12)]),
    ) {
        let requester = Requester { email: &email, groups: &groups };
        let people = people();
        for target in targets() {
            prop_assert_eq!(
                evaluate(&rules, &target, &requester, global),
                model::evaluate(&rules, &target, &requester, global),
                "evaluate {:?}", target
            );
            for person in &people {
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
        prop_assert_eq!(
            accounts_for_requester(&rules, &requester),
            model::accounts_for_requester(&rules, &requester)
        );
        for account_id in ACCOUNTS.iter().chain(&[OTHER_ACCOUNT]) {
            prop_assert_eq!(
                permission_sets_for_account(&rules, account_id, &requester),
                model::permission_sets_for_account(&rules, account_id, &requester),
                "permission sets on {}", account_id
            );
        }
        prop_assert_eq!(
            groups_for_requester(&rules, &requester),
            model::groups_for_requester(&rules, &requester)
        );
    }
}
