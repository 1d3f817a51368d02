//! Break-glass (docs/reference.md §3): a request that asks to skip approval in an emergency.
//!
//! It is decided over the `BreakGlass: true` statements alone, never over the ordinary ones
//! (which do not see it: the decision index leaves break-glass statements out). Such a statement
//! always names who may use it (`AllowedUsers` / `AllowedGroups`) and who reviews each use
//! (`Approvers`), which the parser enforces. Break-glass requests are rare, so the few
//! break-glass statements are read one by one rather than indexed.

use super::rule::Rule;
use super::{Decision, Evaluation, Requester, Target};
use crate::rules::Rules;
use crate::{Duration, Email};

/// The break-glass statements covering `target`, as rules with their index in their own list.
fn covering<'r>(rules: &'r Rules, target: &Target<'_>) -> Vec<Rule<'r>> {
    match *target {
        Target::Account {
            account_id,
            permission_set,
        } => rules
            .statements
            .iter()
            .enumerate()
            .filter(|(_, statement)| {
                statement.break_glass
                    && statement.resource.contains(account_id)
                    && statement.permission_set.contains(permission_set)
            })
            .map(|(index, statement)| Rule::of_statement(index, statement))
            .collect(),
        Target::Group { group_id } => rules
            .group_statements
            .iter()
            .enumerate()
            .filter(|(_, statement)| statement.break_glass && statement.resource.contains(group_id))
            .map(|(index, statement)| Rule::of_group_statement(index, statement))
            .collect(),
    }
}

/// Whether any break-glass statement covering this account access ends its sessions at
/// removal (`RevokeSessions`, or `default` without the key), for [`super::revokes_sessions`].
pub(super) fn revokes_sessions(
    rules: &Rules,
    account_id: &str,
    permission_set: &str,
    default: bool,
) -> Option<bool> {
    let target = Target::Account {
        account_id,
        permission_set,
    };
    let covering = covering(rules, &target);
    if covering.is_empty() {
        return None;
    }
    Some(covering.iter().any(|rule| {
        rules.statements[rule.index]
            .revoke_sessions
            .unwrap_or(default)
    }))
}

/// Decides a break-glass request: `break_glass` (granted at once) when a break-glass statement
/// covering the target admits the requester; otherwise `no_statements` or
/// `requester_not_allowed`, exactly as an ordinary request over those statements alone, and
/// `no_approvers` when the requester is the only reviewer (a use nobody else can review is not
/// allowed).
///
/// For `break_glass`, `approvers` are the reviewers (every admitting statement's `Approvers`,
/// minus the requester) and `statements` every admitting statement: the `ReasonPattern` of each
/// applies, and the largest `MaxDuration` allowed is the smallest of theirs.
pub fn evaluate_break_glass(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    max_duration: Duration,
) -> Evaluation {
    let covering = covering(rules, target);
    let admitting: Vec<&Rule<'_>> = covering
        .iter()
        .filter(|rule| rule.admits(requester))
        .collect();
    if admitting.is_empty() {
        return Evaluation::refused(if covering.is_empty() {
            Decision::NoStatements
        } else {
            Decision::RequesterNotAllowed
        });
    }
    let max_duration = admitting
        .iter()
        .filter_map(|rule| rule.max_duration)
        .fold(max_duration, std::cmp::min);
    let mut reviewers: Vec<Email> = admitting
        .iter()
        .flat_map(|rule| rule.approvers.iter())
        .filter(|email| *email != requester.email)
        .cloned()
        .collect();
    reviewers.sort();
    reviewers.dedup();
    let statements = admitting.iter().map(|rule| rule.index).collect();
    Evaluation {
        decision: if reviewers.is_empty() {
            Decision::NoApprovers
        } else {
            Decision::BreakGlass
        },
        approvers: reviewers,
        required_approvals: 1,
        statements,
        max_duration: Some(max_duration),
    }
}

/// Whether `reviewer` may review (acknowledge or flag) a break-glass use of `target` by
/// `requester`: a listed approver of a break-glass statement admitting that requester, never
/// the requester themself. Decided on the rules in force now, like approvals.
pub fn break_glass_reviewer_permitted(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    reviewer: &Email,
) -> bool {
    reviewer != requester.email
        && covering(rules, target)
            .iter()
            .any(|rule| rule.admits(requester) && rule.lists(reviewer))
}

/// What a request form may offer `requester` as break-glass: whether some break-glass
/// statement admits them for accounts, and for groups (the form's checkbox is shown then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BreakGlassOffer {
    pub accounts: bool,
    pub groups: bool,
}

/// Where `requester` could break the glass at all (docs/reference.md §3).
pub fn break_glass_offer(rules: &Rules, requester: &Requester<'_>) -> BreakGlassOffer {
    BreakGlassOffer {
        accounts: rules
            .statements
            .iter()
            .enumerate()
            .any(|(index, statement)| {
                statement.break_glass && Rule::of_statement(index, statement).admits(requester)
            }),
        groups: rules
            .group_statements
            .iter()
            .enumerate()
            .any(|(index, statement)| {
                statement.break_glass
                    && Rule::of_group_statement(index, statement).admits(requester)
            }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::{evaluate, parse_rules};

    const ACCOUNT: &str = "111111111111";
    const ONCALL: &str = "11111111-2222-3333-4444-555555555555";
    const ADMINS: &str = "99999999-8888-7777-6666-555555555555";

    fn rules() -> Rules {
        parse_rules(
            Some(&json!([
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "ReadOnly",
                 "Approvers": "boss@corp.com"},
                {"ResourceType": "Account", "Resource": ACCOUNT, "PermissionSet": "Admin",
                 "BreakGlass": true, "AllowedGroups": ONCALL,
                 "Approvers": ["sec@corp.com", "oncall-lead@corp.com"], "MaxDuration": "2h",
                 "ReasonPattern": "^INC-[0-9]+"},
            ])),
            Some(&json!([
                {"Resource": ADMINS, "BreakGlass": true, "AllowedUsers": "alice@corp.com",
                 "Approvers": "sec@corp.com"},
            ])),
        )
        .unwrap()
    }

    fn email(text: &str) -> Email {
        Email::parse(text).unwrap()
    }

    const ADMIN: Target<'static> = Target::Account {
        account_id: ACCOUNT,
        permission_set: "Admin",
    };

    #[test]
    fn an_allowed_requester_gets_break_glass_and_the_reviewers() {
        let rules = rules();
        let alice = email("alice@corp.com");
        let oncall: BTreeSet<String> = [ONCALL.to_owned()].into();
        let requester = Requester {
            email: &alice,
            groups: &oncall,
        };
        let evaluation = evaluate_break_glass(&rules, &ADMIN, &requester, Duration::from_hours(12));
        assert_eq!(evaluation.decision, Decision::BreakGlass);
        assert!(evaluation.granted());
        assert_eq!(
            evaluation.approvers,
            vec![email("oncall-lead@corp.com"), email("sec@corp.com")]
        );
        assert_eq!(evaluation.statements, vec![1]);
        assert_eq!(evaluation.max_duration, Some(Duration::from_hours(2)));
        assert!(break_glass_reviewer_permitted(
            &rules,
            &ADMIN,
            &requester,
            &email("sec@corp.com")
        ));
        assert!(!break_glass_reviewer_permitted(
            &rules,
            &ADMIN,
            &requester,
            &email("boss@corp.com")
        ));
        let group = Target::Group { group_id: ADMINS };
        let none = BTreeSet::new();
        let by_user = Requester {
            email: &alice,
            groups: &none,
        };
        assert_eq!(
            evaluate_break_glass(&rules, &group, &by_user, Duration::from_hours(12)).decision,
            Decision::BreakGlass
        );
    }

    #[test]
    fn the_form_offers_break_glass_where_a_statement_admits_the_requester() {
        let rules = rules();
        let alice = email("alice@corp.com");
        let none = BTreeSet::new();
        let alice_offer = break_glass_offer(
            &rules,
            &Requester {
                email: &alice,
                groups: &none,
            },
        );
        assert_eq!(
            alice_offer,
            BreakGlassOffer {
                accounts: false,
                groups: true
            }
        );
        let bob = email("bob@corp.com");
        let oncall: BTreeSet<String> = [ONCALL.to_owned()].into();
        let member = Requester {
            email: &bob,
            groups: &oncall,
        };
        assert!(break_glass_offer(&rules, &member).accounts);
        let outsider = Requester {
            email: &bob,
            groups: &none,
        };
        assert_eq!(
            break_glass_offer(&rules, &outsider),
            BreakGlassOffer::default()
        );
    }

    #[test]
    fn anyone_else_never_gets_it_and_ordinary_requests_never_see_it() {
        let rules = rules();
        let bob = email("bob@corp.com");
        let none = BTreeSet::new();
        let outsider = Requester {
            email: &bob,
            groups: &none,
        };
        let max = Duration::from_hours(12);
        assert_eq!(
            evaluate_break_glass(&rules, &ADMIN, &outsider, max).decision,
            Decision::RequesterNotAllowed
        );
        let read_only = Target::Account {
            account_id: ACCOUNT,
            permission_set: "ReadOnly",
        };
        assert_eq!(
            evaluate_break_glass(&rules, &read_only, &outsider, max).decision,
            Decision::NoStatements
        );
        // The break-glass statement is invisible to an ordinary request, even for its users.
        let alice = email("alice@corp.com");
        let oncall: BTreeSet<String> = [ONCALL.to_owned()].into();
        let member = Requester {
            email: &alice,
            groups: &oncall,
        };
        assert_eq!(
            evaluate(&rules, &ADMIN, &member, max).decision,
            Decision::NoStatements
        );
        assert!(evaluate(&rules, &read_only, &member, max).decision == Decision::RequiresApproval);
    }

    #[test]
    fn a_requester_who_is_the_only_reviewer_cannot_use_it() {
        let rules = parse_rules(
            Some(&json!([
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                 "BreakGlass": true, "AllowedUsers": "sec@corp.com", "Approvers": "sec@corp.com"},
            ])),
            None,
        )
        .unwrap();
        let sec = email("sec@corp.com");
        let none = BTreeSet::new();
        let requester = Requester {
            email: &sec,
            groups: &none,
        };
        let evaluation = evaluate_break_glass(&rules, &ADMIN, &requester, Duration::from_hours(1));
        assert_eq!(evaluation.decision, Decision::NoApprovers);
        assert!(!evaluation.granted());
    }

    #[test]
    fn a_break_glass_statement_must_name_its_users_and_reviewers_and_nothing_of_approval() {
        let problems = parse_rules(
            Some(&json!([
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                 "BreakGlass": true},
                {"ResourceType": "Account", "Resource": "*", "PermissionSet": "*",
                 "BreakGlass": true, "AllowedUsers": "a@corp.com", "Approvers": "b@corp.com",
                 "ApprovalIsNotRequired": true, "RequiredApprovals": 2},
            ])),
            None,
        )
        .unwrap_err();
        let found: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let joined = found.join("\n");
        assert!(
            joined.contains("statements[0].BreakGlass")
                && joined.contains("AllowedUsers or AllowedGroups"),
            "{joined}"
        );
        assert!(joined.contains("needs Approvers"), "{joined}");
        assert!(
            joined.contains("statements[1].ApprovalIsNotRequired"),
            "{joined}"
        );
        assert!(
            joined.contains("statements[1].RequiredApprovals"),
            "{joined}"
        );
        assert_eq!(found.len(), 4, "{joined}");
    }
}
