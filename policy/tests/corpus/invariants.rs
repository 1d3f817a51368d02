//! Properties every evaluation must have, whatever the rules. Checked after every corpus case
//! and on random rules in `props.rs`.

use liftgate_policy::{
    Decision, Duration, Evaluation, Requester, Rules, Target, approver_permitted, may_deny,
};

/// Every invariant `evaluation` breaks, as readable sentences.
pub(crate) fn check(
    rules: &Rules,
    target: &Target<'_>,
    requester: &Requester<'_>,
    max_duration: Duration,
    evaluation: &Evaluation,
) -> Vec<String> {
    let mut broken = Vec::new();
    let mut require = |holds: bool, what: &str| {
        if !holds {
            broken.push(format!("invariant broken: {what} ({evaluation:?})"));
        }
    };
    let decision = evaluation.decision;
    let refused = matches!(
        decision,
        Decision::NoStatements | Decision::RequesterNotAllowed
    );
    let listed = match target {
        Target::Account { .. } => rules.statements.len(),
        Target::Group { .. } => rules.group_statements.len(),
    };

    require(
        evaluation.granted() == decision.granted(),
        "granted() agrees with the decision",
    );
    if decision.granted() {
        require(evaluation.approvers.is_empty(), "a grant has no approvers");
        require(
            evaluation.statements.len() == 1,
            "a grant rests on exactly one statement",
        );
    }
    if decision == Decision::RequiresApproval {
        require(
            !evaluation.approvers.is_empty(),
            "requires_approval names approvers",
        );
    } else {
        require(
            evaluation.required_approvals == 1,
            "required_approvals is 1 unless requiring",
        );
    }
    if decision == Decision::NoApprovers {
        require(evaluation.approvers.is_empty(), "no_approvers names nobody");
    }
    require(
        evaluation.required_approvals >= 1,
        "required_approvals is at least 1",
    );
    require(
        !evaluation.approvers.contains(requester.email),
        "the requester is never an approver",
    );
    require(
        evaluation
            .approvers
            .windows(2)
            .all(|pair| pair[0] < pair[1]),
        "approvers are sorted and distinct",
    );
    require(
        evaluation
            .statements
            .windows(2)
            .all(|pair| pair[0] < pair[1]),
        "statements are ascending and distinct",
    );
    require(
        evaluation.statements.iter().all(|&index| index < listed),
        "statement indexes exist",
    );
    require(
        refused == evaluation.statements.is_empty(),
        "only refusals rest on no statement",
    );
    require(
        refused == evaluation.max_duration.is_none(),
        "max_duration is set iff affected",
    );
    require(
        evaluation
            .max_duration
            .is_none_or(|cap| cap <= max_duration),
        "max_duration never exceeds the global maximum",
    );
    // The approve-time bypass (sso-elevator.md §2.4): a request that needs approval can never
    // be approved by its own requester.
    if !decision.granted() {
        require(
            !approver_permitted(rules, target, requester, requester.email),
            "a requester whose request was not granted cannot approve it themselves",
        );
    }
    for approver in &evaluation.approvers {
        require(
            approver_permitted(rules, target, requester, approver),
            "every listed approver's approval counts",
        );
        require(
            may_deny(rules, target, requester, approver),
            "every listed approver may deny",
        );
    }
    require(
        may_deny(rules, target, requester, requester.email),
        "the requester may withdraw",
    );
    broken
}
