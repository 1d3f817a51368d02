//! One view over account statements and group statements: everything the decision needs
//! besides what the statement names. Keeping a single view means the decision rules (docs/reference.md §3)
//! are written once and cannot drift between account and group requests.

use super::{Requester, Target};
use crate::rules::{GroupStatement, Rules, Statement};
use crate::{Duration, Email};

/// The decision-relevant part of a statement, with its index in its own list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule<'r> {
    pub(crate) index: usize,
    pub(crate) approvers: &'r [Email],
    pub(crate) allow_self_approval: Option<bool>,
    pub(crate) approval_is_not_required: Option<bool>,
    pub(crate) allowed_users: &'r [Email],
    pub(crate) allowed_groups: &'r [String],
    pub(crate) required_approvals: u32,
    pub(crate) max_duration: Option<Duration>,
}

impl<'r> Rule<'r> {
    pub(crate) fn of_statement(index: usize, statement: &'r Statement) -> Rule<'r> {
        Rule {
            index,
            approvers: &statement.approvers,
            allow_self_approval: statement.allow_self_approval,
            approval_is_not_required: statement.approval_is_not_required,
            allowed_users: &statement.allowed_users,
            allowed_groups: &statement.allowed_groups,
            required_approvals: statement.required_approvals,
            max_duration: statement.max_duration,
        }
    }

    pub(crate) fn of_group_statement(index: usize, statement: &'r GroupStatement) -> Rule<'r> {
        Rule {
            index,
            approvers: &statement.approvers,
            allow_self_approval: statement.allow_self_approval,
            approval_is_not_required: statement.approval_is_not_required,
            allowed_users: &statement.allowed_users,
            allowed_groups: &statement.allowed_groups,
            required_approvals: statement.required_approvals,
            max_duration: statement.max_duration,
        }
    }

    /// Whether the requester may request under this rule. With both lists set, being in either
    /// suffices (docs/reference.md §3); with neither set, everyone may.
    pub(crate) fn admits(&self, requester: &Requester<'_>) -> bool {
        if self.allowed_users.is_empty() && self.allowed_groups.is_empty() {
            return true;
        }
        self.allowed_users.contains(requester.email)
            || self
                .allowed_groups
                .iter()
                .any(|group| requester.groups.contains(group))
    }

    pub(crate) fn lists(&self, email: &Email) -> bool {
        self.approvers.contains(email)
    }

    /// Multi-party control: such a rule never grants by itself (docs/reference.md §3).
    pub(crate) fn is_multi_party(&self) -> bool {
        self.required_approvals >= 2
    }
}

/// The rules whose resource (and permission set) cover the target, in file order, before the
/// requester is considered.
pub(crate) fn matching<'r>(rules: &'r Rules, target: &Target<'_>) -> Vec<Rule<'r>> {
    match *target {
        Target::Account {
            account_id,
            permission_set,
        } => rules
            .statements
            .iter()
            .enumerate()
            // ResourceType is deliberately ignored, as upstream: an OU statement only ever has
            // Resource "*", which matches every account.
            .filter(|(_, s)| {
                s.resource.contains(account_id) && s.permission_set.contains(permission_set)
            })
            .map(|(index, statement)| Rule::of_statement(index, statement))
            .collect(),
        Target::Group { group_id } => rules
            .group_statements
            .iter()
            .enumerate()
            .filter(|(_, statement)| statement.resource.contains(group_id))
            .map(|(index, statement)| Rule::of_group_statement(index, statement))
            .collect(),
    }
}

/// What the decision rests on: whether anything matched, and what affects this requester.
#[derive(Debug)]
pub(crate) struct Affected<'r> {
    pub(crate) any_matched: bool,
    pub(crate) rules: Vec<Rule<'r>>,
}

impl<'r> Affected<'r> {
    pub(crate) fn find(rules: &'r Rules, target: &Target<'_>, requester: &Requester<'_>) -> Self {
        let matched = matching(rules, target);
        let any_matched = !matched.is_empty();
        let rules = matched
            .into_iter()
            .filter(|rule| rule.admits(requester))
            .collect();
        Affected { any_matched, rules }
    }

    pub(crate) fn is_multi_party(&self) -> bool {
        self.rules.iter().any(Rule::is_multi_party)
    }

    /// Rule 2: the first rule granting without approval, unless an explicit `false` anywhere
    /// (or multi-party control) forbids it.
    pub(crate) fn approval_not_required(&self) -> Option<usize> {
        if self.is_multi_party()
            || self
                .rules
                .iter()
                .any(|rule| rule.approval_is_not_required == Some(false))
        {
            return None;
        }
        self.rules
            .iter()
            .find(|rule| rule.approval_is_not_required == Some(true))
            .map(|rule| rule.index)
    }

    /// Rule 3: the first rule letting `requester` approve their own request, unless a rule
    /// listing them says `AllowSelfApproval: false` (or multi-party control forbids it). This
    /// is also the only way a requester's own approval ever counts, so the approve-time check
    /// uses it too and the upstream bypass (sso-elevator.md §2.4) cannot happen.
    pub(crate) fn self_approval(&self, requester: &Email) -> Option<usize> {
        let denied = self
            .rules
            .iter()
            .any(|rule| rule.allow_self_approval == Some(false) && rule.lists(requester));
        if denied || self.is_multi_party() {
            return None;
        }
        self.rules
            .iter()
            .find(|rule| rule.allow_self_approval == Some(true) && rule.lists(requester))
            .map(|rule| rule.index)
    }

    /// Whether `email` is a listed approver of some affected rule.
    pub(crate) fn lists(&self, email: &Email) -> bool {
        self.rules.iter().any(|rule| rule.lists(email))
    }
}
