//! The decision at request time and the checks at approval time (docs/reference.md §3).

mod break_glass;
mod explain;
mod forms;
pub(crate) mod rule;
mod sessions;

use std::collections::BTreeSet;

use crate::rules::Rules;
use crate::{Duration, Email};
use rule::Affected;

pub use break_glass::{
    BreakGlassOffer, break_glass_offer, break_glass_reviewer_permitted, evaluate_break_glass,
};
pub use forms::{accounts_for_requester, groups_for_requester, permission_sets_for_account};
pub use sessions::revokes_sessions;

/// What is being requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Account {
        account_id: &'a str,
        permission_set: &'a str,
    },
    Group {
        group_id: &'a str,
    },
}

/// The requester and the facts about them the engine cannot look up itself.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub email: &'a Email,
    /// Identity Center group ids the requester belongs to, for `AllowedGroups`.
    pub groups: &'a BTreeSet<String>,
}

/// The outcome of a request; the names are the stable `explain` / API strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    ApprovalNotRequired,
    SelfApproval,
    RequiresApproval,
    NoApprovers,
    NoStatements,
    RequesterNotAllowed,
    /// A break-glass request an admitting `BreakGlass` statement grants at once, for a review
    /// afterwards ([`evaluate_break_glass`]).
    BreakGlass,
}

impl Decision {
    /// Whether access is granted without anyone else's approval.
    pub fn granted(self) -> bool {
        matches!(
            self,
            Decision::ApprovalNotRequired | Decision::SelfApproval | Decision::BreakGlass
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::ApprovalNotRequired => "approval_not_required",
            Decision::SelfApproval => "self_approval",
            Decision::RequiresApproval => "requires_approval",
            Decision::NoApprovers => "no_approvers",
            Decision::NoStatements => "no_statements",
            Decision::RequesterNotAllowed => "requester_not_allowed",
            Decision::BreakGlass => "break_glass",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision and what it rests on (docs/reference.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// Sorted, de-duplicated, lower-case; never the requester; empty for a grant.
    pub approvers: Vec<Email>,
    /// Distinct approvals needed; meaningful with `RequiresApproval`, 1 otherwise.
    pub required_approvals: u32,
    /// For a grant, the granting statement; otherwise every affected statement, ascending.
    pub statements: Vec<usize>,
    /// The effective cap; `Some` whenever some statement affects the request.
    pub max_duration: Option<Duration>,
}

impl Evaluation {
    pub fn granted(&self) -> bool {
        self.decision.granted()
    }

    fn refused(decision: Decision) -> Evaluation {
        Evaluation {
            decision,
            approvers: Vec::new(),
            required_approvals: 1,
            statements: Vec::new(),
            max_duration: None,
        }
    }
}

/// Decides a request (docs/reference.md §3). `max_duration` is the global `requests.max_duration`.
pub fn evaluate(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    max_duration: Duration,
) -> Evaluation {
    let affected = Affected::find(rules, target, requester);
    if affected.is_empty() {
        return Evaluation::refused(if affected.any_matched {
            Decision::RequesterNotAllowed
        } else {
            Decision::NoStatements
        });
    }
    let max_duration = affected.max_duration(max_duration);
    let grant = |decision, index| Evaluation {
        decision,
        approvers: Vec::new(),
        required_approvals: 1,
        statements: vec![index],
        max_duration: Some(max_duration),
    };
    // Rule 2 before rule 3, so the reason never depends on anything but the file.
    if let Some(index) = affected.approval_not_required() {
        return grant(Decision::ApprovalNotRequired, index);
    }
    if let Some(index) = affected.self_approval(requester.email) {
        return grant(Decision::SelfApproval, index);
    }
    let approvers = affected.approvers_except(requester.email);
    let statements = affected.statements();
    if approvers.is_empty() {
        return Evaluation {
            decision: Decision::NoApprovers,
            approvers,
            required_approvals: 1,
            statements,
            max_duration: Some(max_duration),
        };
    }
    Evaluation {
        decision: Decision::RequiresApproval,
        approvers,
        required_approvals: affected.required_approvals(),
        statements,
        max_duration: Some(max_duration),
    }
}

/// Whether `approver`'s approval counts for this request: any listed approver of an affected
/// statement other than the requester; the requester only where rule 3 would grant. Explicit
/// denies hold here exactly as at request time, so self-approval denied by one statement cannot
/// be regained through another (the upstream bypass, sso-elevator.md §2.4).
pub fn approver_permitted(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    approver: &Email,
) -> bool {
    let affected = Affected::find(rules, target, requester);
    if approver == requester.email {
        affected.self_approval(approver).is_some()
    } else {
        affected.lists(approver)
    }
}

/// Whether `actor` may deny, discard or cancel this request: a listed approver of an affected
/// statement, or the requester withdrawing their own request. Upstream let anyone discard.
pub fn may_deny(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    actor: &Email,
) -> bool {
    actor == requester.email || Affected::find(rules, target, requester).lists(actor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_names_are_the_serde_names() {
        for decision in [
            Decision::ApprovalNotRequired,
            Decision::SelfApproval,
            Decision::RequiresApproval,
            Decision::NoApprovers,
            Decision::NoStatements,
            Decision::RequesterNotAllowed,
            Decision::BreakGlass,
        ] {
            assert_eq!(serde_json::to_value(decision).unwrap(), decision.as_str());
            assert_eq!(decision.to_string(), decision.as_str());
            let granted = matches!(
                decision,
                Decision::ApprovalNotRequired | Decision::SelfApproval | Decision::BreakGlass
            );
            assert_eq!(decision.granted(), granted);
        }
    }
}
