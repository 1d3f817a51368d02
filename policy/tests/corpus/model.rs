//! A deliberately naive second reading of docs/reference.md §3, written straight from its numbered rules
//! without the library's helpers. The property tests compare the two on random rules, so a
//! shortcut in the library that changes behaviour shows up as a disagreement.
//!
//! It is also the reference for the library's index (`policy/src/index.rs`): every function
//! here scans every statement, as the engine did before it had one.

use std::collections::BTreeSet;

use liftgate_policy::{
    Decision, Duration, Email, Evaluation, Requester, ResourceType, Rules, Scope, Target,
};

/// One statement of either kind, reduced to what the reference's rules talk about.
struct Entry<'r> {
    index: usize,
    approvers: &'r [Email],
    allow_self_approval: Option<bool>,
    approval_is_not_required: Option<bool>,
    allowed_users: &'r [Email],
    allowed_groups: &'r [String],
    required_approvals: u32,
    max_duration: Option<Duration>,
}

fn matched<'r>(rules: &'r Rules, target: &Target<'_>) -> Vec<Entry<'r>> {
    let mut entries = Vec::new();
    match target {
        Target::Account {
            account_id,
            permission_set,
        } => {
            for (index, s) in rules.statements.iter().enumerate() {
                // Break-glass statements decide only break-glass requests.
                if !s.break_glass
                    && s.resource.contains(account_id)
                    && s.permission_set.contains(permission_set)
                {
                    entries.push(Entry {
                        index,
                        approvers: &s.approvers,
                        allow_self_approval: s.allow_self_approval,
                        approval_is_not_required: s.approval_is_not_required,
                        allowed_users: &s.allowed_users,
                        allowed_groups: &s.allowed_groups,
                        required_approvals: s.required_approvals,
                        max_duration: s.max_duration,
                    });
                }
            }
        }
        Target::Group { group_id } => {
            for (index, s) in rules.group_statements.iter().enumerate() {
                if !s.break_glass && s.resource.contains(*group_id) {
                    entries.push(Entry {
                        index,
                        approvers: &s.approvers,
                        allow_self_approval: s.allow_self_approval,
                        approval_is_not_required: s.approval_is_not_required,
                        allowed_users: &s.allowed_users,
                        allowed_groups: &s.allowed_groups,
                        required_approvals: s.required_approvals,
                        max_duration: s.max_duration,
                    });
                }
            }
        }
    }
    entries
}

fn affected<'r>(
    rules: &'r Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
) -> Vec<Entry<'r>> {
    matched(rules, target)
        .into_iter()
        .filter(|e| {
            let users_set = !e.allowed_users.is_empty();
            let groups_set = !e.allowed_groups.is_empty();
            let in_users = e.allowed_users.iter().any(|u| u == requester.email);
            let in_groups = e
                .allowed_groups
                .iter()
                .any(|g| requester.groups.contains(g));
            (!users_set && !groups_set) || in_users || in_groups
        })
        .collect()
}

/// Rule 3 on its own: the statement that would grant self-approval, if any.
fn self_approval(entries: &[Entry<'_>], requester: &Email) -> Option<usize> {
    let multi_party = entries.iter().any(|e| e.required_approvals >= 2);
    let denied = entries
        .iter()
        .any(|e| e.approvers.contains(requester) && e.allow_self_approval == Some(false));
    if multi_party || denied {
        return None;
    }
    entries
        .iter()
        .find(|e| e.approvers.contains(requester) && e.allow_self_approval == Some(true))
        .map(|e| e.index)
}

pub(crate) fn evaluate(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    global: Duration,
) -> Evaluation {
    let refuse = |decision| Evaluation {
        decision,
        approvers: vec![],
        required_approvals: 1,
        statements: vec![],
        max_duration: None,
    };
    // Rule 1.
    if matched(rules, target).is_empty() {
        return refuse(Decision::NoStatements);
    }
    let entries = affected(rules, target, requester);
    if entries.is_empty() {
        return refuse(Decision::RequesterNotAllowed);
    }
    let mut cap = global;
    for e in &entries {
        if let Some(limit) = e.max_duration
            && limit < cap
        {
            cap = limit;
        }
    }
    let multi_party = entries.iter().any(|e| e.required_approvals >= 2);
    let grant = |decision, index| Evaluation {
        decision,
        approvers: vec![],
        required_approvals: 1,
        statements: vec![index],
        max_duration: Some(cap),
    };
    // Rule 2.
    let anr_denied = entries
        .iter()
        .any(|e| e.approval_is_not_required == Some(false));
    if !multi_party
        && !anr_denied
        && let Some(e) = entries
            .iter()
            .find(|e| e.approval_is_not_required == Some(true))
    {
        return grant(Decision::ApprovalNotRequired, e.index);
    }
    // Rule 3.
    if let Some(index) = self_approval(&entries, requester.email) {
        return grant(Decision::SelfApproval, index);
    }
    // Rule 4.
    let mut approvers = BTreeSet::new();
    for e in &entries {
        for approver in e.approvers {
            if approver != requester.email {
                approvers.insert(approver.clone());
            }
        }
    }
    let statements = entries.iter().map(|e| e.index).collect();
    if approvers.is_empty() {
        return Evaluation {
            decision: Decision::NoApprovers,
            approvers: vec![],
            required_approvals: 1,
            statements,
            max_duration: Some(cap),
        };
    }
    Evaluation {
        decision: Decision::RequiresApproval,
        approvers: approvers.into_iter().collect(),
        required_approvals: entries
            .iter()
            .map(|e| e.required_approvals)
            .max()
            .unwrap_or(1),
        statements,
        max_duration: Some(cap),
    }
}

pub(crate) fn approver_permitted(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    approver: &Email,
) -> bool {
    let entries = affected(rules, target, requester);
    if approver == requester.email {
        self_approval(&entries, approver).is_some()
    } else {
        entries.iter().any(|e| e.approvers.contains(approver))
    }
}

pub(crate) fn may_deny(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    actor: &Email,
) -> bool {
    actor == requester.email
        || affected(rules, target, requester)
            .iter()
            .any(|e| e.approvers.contains(actor))
}

fn admits(allowed_users: &[Email], allowed_groups: &[String], requester: &Requester<'_>) -> bool {
    (allowed_users.is_empty() && allowed_groups.is_empty())
        || allowed_users.contains(requester.email)
        || allowed_groups.iter().any(|g| requester.groups.contains(g))
}

fn union(a: Scope, b: &Scope) -> Scope {
    match (a, b) {
        (Scope::Only(mut a), Scope::Only(b)) => {
            a.extend(b.iter().cloned());
            Scope::Only(a)
        }
        _ => Scope::Any,
    }
}

/// The forms' accounts, by scanning: what every admitting statement with some permission set
/// names (an OU statement names every account).
pub(crate) fn accounts_for_requester(rules: &Rules, requester: &Requester<'_>) -> Scope {
    let mut accounts = Scope::Only(BTreeSet::new());
    for s in &rules.statements {
        if s.permission_set == Scope::Only(BTreeSet::new())
            || !admits(&s.allowed_users, &s.allowed_groups, requester)
        {
            continue;
        }
        let named = if s.resource_type == ResourceType::Ou {
            &Scope::Any
        } else {
            &s.resource
        };
        accounts = union(accounts, named);
    }
    accounts
}

/// The forms' permission sets on one account, by scanning.
pub(crate) fn permission_sets_for_account(
    rules: &Rules,
    account_id: &str,
    requester: &Requester<'_>,
) -> Scope {
    let mut sets = Scope::Only(BTreeSet::new());
    for s in &rules.statements {
        if s.resource.contains(account_id) && admits(&s.allowed_users, &s.allowed_groups, requester)
        {
            sets = union(sets, &s.permission_set);
        }
    }
    sets
}

/// The forms' groups, by scanning.
pub(crate) fn groups_for_requester(rules: &Rules, requester: &Requester<'_>) -> BTreeSet<String> {
    let mut groups = BTreeSet::new();
    for s in &rules.group_statements {
        if admits(&s.allowed_users, &s.allowed_groups, requester) {
            groups.extend(s.resource.iter().cloned());
        }
    }
    groups
}
