//! Warnings about rules that are valid but probably not what the operator meant: statements
//! nobody can ever approve, reconciliation scopes wider than expected, and people who can grant
//! themselves anything. `check-config` prints them and still succeeds.

use crate::Problem;
use crate::evaluate::rule::Rule;
use crate::rules::{ResourceType, Rules, Scope, Statement};

/// Warnings about valid rules, each with its location and one readable sentence. Order is
/// deterministic: statements, then group statements, in file order; within one statement,
/// warnings about the whole statement first, then by key in docs/reference.md §3 order.
pub fn lint(rules: &Rules) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for (index, statement) in rules.statements.iter().enumerate() {
        let path = format!("statements[{index}]");
        if let Some(first) = rules.statements[..index]
            .iter()
            .position(|s| s == statement)
        {
            warnings.push(Problem::new(
                &path,
                format!("is identical to statements[{first}]"),
            ));
        }
        // A statement that applies to no request gets only that warning: whatever else is odd
        // about it cannot matter until its lists are filled in.
        if !matches_anything(&path, statement, &mut warnings) {
            continue;
        }
        let rule = Rule::of_statement(index, statement);
        lock_out_without_approvers(&path, &rule, &mut warnings);
        whole_organization(&path, statement, &mut warnings);
        lock_out_by_approvers(&path, &rule, &mut warnings);
        self_service_everywhere(&path, statement, &rule, &mut warnings);
        flags_without_effect(&path, &rule, &mut warnings);
        lock_out_by_quorum(&path, &rule, &mut warnings);
    }
    for (index, statement) in rules.group_statements.iter().enumerate() {
        let path = format!("group_statements[{index}]");
        if let Some(first) = rules.group_statements[..index]
            .iter()
            .position(|s| s == statement)
        {
            warnings.push(Problem::new(
                &path,
                format!("is identical to group_statements[{first}]"),
            ));
        }
        if statement.resource.is_empty() {
            warnings.push(empty_list(&path, "Resource"));
            continue;
        }
        let rule = Rule::of_group_statement(index, statement);
        lock_out_without_approvers(&path, &rule, &mut warnings);
        lock_out_by_approvers(&path, &rule, &mut warnings);
        flags_without_effect(&path, &rule, &mut warnings);
        lock_out_by_quorum(&path, &rule, &mut warnings);
    }
    warnings
}

fn empty_list(path: &str, key: &str) -> Problem {
    Problem::new(
        format!("{path}.{key}"),
        "is an empty list, so this statement applies to no request",
    )
}

/// Warns about empty `Resource` / `PermissionSet` lists; false when either is empty.
fn matches_anything(path: &str, statement: &Statement, warnings: &mut Vec<Problem>) -> bool {
    let mut matches = true;
    for (key, scope) in [
        ("Resource", &statement.resource),
        ("PermissionSet", &statement.permission_set),
    ] {
        if *scope == Scope::empty() {
            warnings.push(empty_list(path, key));
            matches = false;
        }
    }
    matches
}

/// Wildcards widen reconciliation to the whole organization (its scope is what the statements
/// name, docs/reference.md §6), which operators should do on purpose.
fn whole_organization(path: &str, statement: &Statement, warnings: &mut Vec<Problem>) {
    let message = match (&statement.resource, statement.resource_type) {
        (Scope::Only(_), _) => return,
        (Scope::Any, ResourceType::Ou) => {
            "ResourceType \"OU\" with Resource \"*\" applies to every account: drift \
             reconciliation will cover every account in the organization"
        }
        (Scope::Any, ResourceType::Account) => {
            "Resource \"*\": drift reconciliation will cover every account in the organization"
        }
    };
    warnings.push(Problem::new(format!("{path}.Resource"), message));
}

/// A rule with nobody to approve and nothing granting without approval.
fn lock_out_without_approvers(path: &str, rule: &Rule<'_>, warnings: &mut Vec<Problem>) {
    let grants_alone = rule.approval_is_not_required == Some(true) && !rule.is_multi_party();
    if rule.approvers.is_empty() && !grants_alone {
        let reason = if rule.approval_is_not_required == Some(true) {
            "it lists no Approvers and its RequiredApprovals turns ApprovalIsNotRequired off"
        } else {
            "it lists no Approvers and ApprovalIsNotRequired is not true"
        };
        warnings.push(Problem::new(
            path,
            format!(
                "nobody can approve requests that only this statement covers: {reason}, so \
                 they end as no_approvers"
            ),
        ));
    }
}

/// A sole approver who may not approve themselves is locked out of their own requests.
fn lock_out_by_approvers(path: &str, rule: &Rule<'_>, warnings: &mut Vec<Problem>) {
    let [approver] = rule.approvers else { return };
    if rule.is_multi_party()
        || rule.allow_self_approval == Some(true)
        || rule.approval_is_not_required == Some(true)
    {
        return;
    }
    // Someone AllowedUsers keeps out cannot request under the rule, so cannot be locked out.
    let cannot_request = !rule.allowed_users.is_empty()
        && rule.allowed_groups.is_empty()
        && !rule.allowed_users.contains(approver);
    if cannot_request {
        return;
    }
    warnings.push(Problem::new(
        format!("{path}.Approvers"),
        format!(
            "{approver} is the only approver and AllowSelfApproval is not true, so their own \
             requests under this statement find nobody to approve them"
        ),
    ));
}

/// A quorum the listed approvers cannot reach, for anyone or for the approvers themselves.
fn lock_out_by_quorum(path: &str, rule: &Rule<'_>, warnings: &mut Vec<Problem>) {
    let required = rule.required_approvals;
    let listed = rule.approvers.len();
    if rule.approvers.is_empty() || required < 2 {
        return;
    }
    let message = match usize::try_from(required) {
        Ok(required) if required > listed => format!(
            "RequiredApprovals is {required} but only {listed} approvers are listed, so its own \
             approvers can never approve a request under this statement"
        ),
        Ok(required) if required == listed => format!(
            "RequiredApprovals is {required} and exactly {listed} approvers are listed, so an \
             approver's own request under this statement can never gather enough approvals \
             (the requester never counts)"
        ),
        _ => return,
    };
    warnings.push(Problem::new(format!("{path}.RequiredApprovals"), message));
}

/// Flags that multi-party control overrides; the operator probably expects them to work.
fn flags_without_effect(path: &str, rule: &Rule<'_>, warnings: &mut Vec<Problem>) {
    if !rule.is_multi_party() {
        return;
    }
    let required = rule.required_approvals;
    if rule.allow_self_approval == Some(true) {
        warnings.push(Problem::new(
            format!("{path}.AllowSelfApproval"),
            format!(
                "has no effect: with RequiredApprovals {required} (multi-party control) a \
                 requester's own approval never counts"
            ),
        ));
    }
    if rule.approval_is_not_required == Some(true) {
        warnings.push(Problem::new(
            format!("{path}.ApprovalIsNotRequired"),
            format!(
                "has no effect: with RequiredApprovals {required} (multi-party control) every \
                 request waits for approvals"
            ),
        ));
    }
}

/// Statements on every account and permission set that let people skip approval.
fn self_service_everywhere(
    path: &str,
    statement: &Statement,
    rule: &Rule<'_>,
    warnings: &mut Vec<Problem>,
) {
    if !statement.resource.is_any() || !statement.permission_set.is_any() || rule.is_multi_party() {
        return;
    }
    if statement.allow_self_approval == Some(true) && !statement.approvers.is_empty() {
        let names: Vec<&str> = statement
            .approvers
            .iter()
            .map(|email| email.as_str())
            .collect();
        let (who, verb) = match names.as_slice() {
            [one] => ((*one).to_owned(), "can"),
            [init @ .., last] => (format!("{} and {last}", init.join(", ")), "can each"),
            [] => return,
        };
        warnings.push(Problem::new(
            format!("{path}.AllowSelfApproval"),
            format!(
                "{who} {verb} approve their own requests for every permission set on every \
                 account"
            ),
        ));
    }
    if statement.approval_is_not_required == Some(true) {
        let who = if statement.allowed_users.is_empty() && statement.allowed_groups.is_empty() {
            "everyone"
        } else {
            "everyone AllowedUsers and AllowedGroups admit"
        };
        warnings.push(Problem::new(
            format!("{path}.ApprovalIsNotRequired"),
            format!("{who} can get every permission set on every account without approval"),
        ));
    }
}
