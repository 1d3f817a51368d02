//! The statements filed under one index key, with the facts the decision needs about those
//! that affect everyone folded together at load.

use super::ids::EmailTable;
use crate::Duration;
use crate::evaluate::rule::Rule;

/// Statements sharing one key (a wildcard bucket such as "Resource `*`, this permission set", or
/// one group id). Statements without `AllowedUsers`/`AllowedGroups` ("open") affect every
/// requester the key matches, so what rules 2–4 of docs/reference.md §3 ask of them is
/// computed once here; a request then costs the same however many open statements share the
/// key. Restricted statements depend on who asks and are looked at one by one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    /// Open statements, ascending.
    pub(crate) open: Box<[usize]>,
    /// Restricted statements, ascending.
    pub(crate) restricted: Box<[usize]>,
    pub(crate) summary: Summary,
}

/// What the open statements of a bucket add up to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    /// Some open statement says `ApprovalIsNotRequired: false`.
    pub(crate) approval_not_required_denied: bool,
    /// The first open statement saying `ApprovalIsNotRequired: true`.
    pub(crate) first_approval_not_required: Option<usize>,
    /// Some open statement asks for two approvals or more.
    pub(crate) multi_party: bool,
    /// The most approvals an open statement asks for (0 when there is none).
    pub(crate) required_approvals: u32,
    /// The smallest `MaxDuration` of the open statements.
    pub(crate) max_duration: Option<Duration>,
    /// The approvers of the open statements, as ascending email ids.
    pub(crate) approvers: Box<[usize]>,
    /// Approvers listed by an open statement with `AllowSelfApproval: false`, ascending ids.
    pub(crate) self_approval_denied: Box<[usize]>,
    /// For each approver listed by an open statement with `AllowSelfApproval: true`, the first
    /// such statement; ascending by email id.
    pub(crate) self_approval: Box<[(usize, usize)]>,
}

impl Bucket {
    /// Files `statements` (ascending) under one key; `rule` gives the view of a statement.
    pub(crate) fn new<'r>(
        statements: &[usize],
        rule: impl Fn(usize) -> Rule<'r>,
        emails: &EmailTable,
    ) -> Bucket {
        let (open, restricted): (Vec<usize>, Vec<usize>) = statements
            .iter()
            .partition(|&&index| !rule(index).is_restricted());
        let mut summary = Summary::default();
        let mut approvers = Vec::new();
        let mut denied = Vec::new();
        let mut allowed: Vec<(usize, usize)> = Vec::new();
        for &index in &open {
            let rule = rule(index);
            match rule.approval_is_not_required {
                Some(false) => summary.approval_not_required_denied = true,
                Some(true) if summary.first_approval_not_required.is_none() => {
                    summary.first_approval_not_required = Some(index);
                }
                _ => {}
            }
            summary.multi_party |= rule.is_multi_party();
            summary.required_approvals = summary.required_approvals.max(rule.required_approvals);
            summary.max_duration = match (summary.max_duration, rule.max_duration) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let ids = emails.ids_of(rule.approvers);
            match rule.allow_self_approval {
                Some(false) => denied.extend_from_slice(&ids),
                Some(true) => allowed.extend(ids.iter().map(|&id| (id, index))),
                None => {}
            }
            approvers.extend_from_slice(&ids);
        }
        approvers.sort_unstable();
        approvers.dedup();
        denied.sort_unstable();
        denied.dedup();
        // Statements are visited in ascending order, so after a stable sort by email the first
        // entry of each email is its first statement.
        allowed.sort_by_key(|&(id, _)| id);
        allowed.dedup_by_key(|&mut (id, _)| id);
        summary.approvers = approvers.into_boxed_slice();
        summary.self_approval_denied = denied.into_boxed_slice();
        summary.self_approval = allowed.into_boxed_slice();
        Bucket {
            open: open.into_boxed_slice(),
            restricted: restricted.into_boxed_slice(),
            summary,
        }
    }

    /// Whether no statement at all is filed here.
    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_empty() && self.restricted.is_empty()
    }

    /// Whether an open statement lists the approver with this email id.
    pub(crate) fn lists(&self, email: usize) -> bool {
        self.summary.approvers.binary_search(&email).is_ok()
    }

    /// Whether an open statement lists this approver with `AllowSelfApproval: false`.
    pub(crate) fn denies_self_approval(&self, email: usize) -> bool {
        self.summary
            .self_approval_denied
            .binary_search(&email)
            .is_ok()
    }

    /// The first open statement listing this approver with `AllowSelfApproval: true`.
    pub(crate) fn self_approval(&self, email: usize) -> Option<usize> {
        let allowed = &self.summary.self_approval;
        allowed
            .binary_search_by_key(&email, |&(id, _)| id)
            .ok()
            .map(|at| allowed[at].1)
    }
}
