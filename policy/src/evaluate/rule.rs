//! One view over account statements and group statements: everything the decision needs
//! besides what the statement names. Keeping a single view means the decision rules (docs/reference.md §3)
//! are written once and cannot drift between account and group requests.
//!
//! [`Affected`] is what a request's decision rests on, found through the index (`index.rs`):
//! the wildcard buckets whose key matches (their open statements already folded together) and
//! the few statements that must be looked at one by one.

use super::{Requester, Target};
use crate::index::{Bucket, RuleIndex, ids};
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

    /// Whether the rule limits who may request under it (`AllowedUsers`, `AllowedGroups`).
    pub(crate) fn is_restricted(&self) -> bool {
        !self.allowed_users.is_empty() || !self.allowed_groups.is_empty()
    }

    pub(crate) fn lists(&self, email: &Email) -> bool {
        self.approvers.contains(email)
    }

    /// Multi-party control: such a rule never grants by itself (docs/reference.md §3).
    pub(crate) fn is_multi_party(&self) -> bool {
        self.required_approvals >= 2
    }
}

/// What the decision rests on: whether anything matched, and what affects this requester.
#[derive(Debug)]
pub(crate) struct Affected<'r> {
    /// Some statement covers the target, whether or not it admits the requester.
    pub(crate) any_matched: bool,
    /// Buckets whose key matches the target: each of their open statements is affected.
    buckets: [Option<&'r Bucket>; 3],
    /// The other affected statements (those naming both the account and the permission set,
    /// and the restricted statements of the buckets that admit the requester), ascending.
    singles: Vec<Rule<'r>>,
    index: &'r RuleIndex,
    /// The approvers of each statement of the target's kind, as email ids.
    approver_ids: &'r [Box<[usize]>],
    /// How many statements of the target's kind there are.
    universe: usize,
    /// The requester's email and its id.
    requester: (&'r Email, Option<usize>),
}

impl<'r> Affected<'r> {
    pub(crate) fn find(rules: &'r Rules, target: &Target<'_>, requester: &Requester<'r>) -> Self {
        let index = rules.index();
        let rule = |at: usize| match target {
            Target::Account { .. } => Rule::of_statement(at, &rules.statements[at]),
            Target::Group { .. } => Rule::of_group_statement(at, &rules.group_statements[at]),
        };
        let (candidates, approver_ids, universe) = match *target {
            Target::Account {
                account_id,
                permission_set,
            } => (
                index.account_candidates(&rules.statements, account_id, permission_set),
                &*index.statement_approvers,
                rules.statements.len(),
            ),
            Target::Group { group_id } => (
                index.group_candidates(group_id),
                &*index.group_statement_approvers,
                rules.group_statements.len(),
            ),
        };
        let any_matched = candidates.buckets().next().is_some() || !candidates.exact.is_empty();
        let mut singles: Vec<Rule<'r>> = candidates
            .exact
            .iter()
            .map(|&at| rule(at))
            .filter(|rule| rule.admits(requester))
            .collect();
        let exact = singles.len();
        for bucket in candidates.buckets() {
            singles.extend(
                bucket
                    .restricted
                    .iter()
                    .map(|&at| rule(at))
                    .filter(|rule| rule.admits(requester)),
            );
        }
        if singles.len() > exact {
            singles.sort_unstable_by_key(|rule| rule.index);
        }
        Affected {
            any_matched,
            buckets: candidates.buckets,
            singles,
            index,
            approver_ids,
            universe,
            requester: (requester.email, index.emails.id(requester.email)),
        }
    }

    fn buckets(&self) -> impl Iterator<Item = &'r Bucket> + '_ {
        self.buckets.iter().flatten().copied()
    }

    /// Whether no statement affects the request.
    pub(crate) fn is_empty(&self) -> bool {
        self.singles.is_empty() && self.buckets().all(|bucket| bucket.open.is_empty())
    }

    pub(crate) fn is_multi_party(&self) -> bool {
        self.buckets().any(|bucket| bucket.summary.multi_party)
            || self.singles.iter().any(Rule::is_multi_party)
    }

    /// The effective cap: the global one, lowered by any affected statement's `MaxDuration`.
    pub(crate) fn max_duration(&self, global: Duration) -> Duration {
        self.buckets()
            .filter_map(|bucket| bucket.summary.max_duration)
            .chain(self.singles.iter().filter_map(|rule| rule.max_duration))
            .fold(global, Duration::min)
    }

    /// The most approvals an affected statement asks for.
    pub(crate) fn required_approvals(&self) -> u32 {
        self.buckets()
            .map(|bucket| bucket.summary.required_approvals)
            .chain(self.singles.iter().map(|rule| rule.required_approvals))
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// Rule 2: the first rule granting without approval, unless an explicit `false` anywhere
    /// (or multi-party control) forbids it.
    pub(crate) fn approval_not_required(&self) -> Option<usize> {
        let denied = self
            .buckets()
            .any(|bucket| bucket.summary.approval_not_required_denied)
            || self
                .singles
                .iter()
                .any(|rule| rule.approval_is_not_required == Some(false));
        if denied || self.is_multi_party() {
            return None;
        }
        self.buckets()
            .filter_map(|bucket| bucket.summary.first_approval_not_required)
            .chain(
                self.singles
                    .iter()
                    .find(|rule| rule.approval_is_not_required == Some(true))
                    .map(|rule| rule.index),
            )
            .min()
    }

    /// Rule 3: the first rule letting `requester` approve their own request, unless a rule
    /// listing them says `AllowSelfApproval: false` (or multi-party control forbids it). This
    /// is also the only way a requester's own approval ever counts, so the approve-time check
    /// uses it too and the upstream bypass (sso-elevator.md §2.4) cannot happen.
    pub(crate) fn self_approval(&self, requester: &Email) -> Option<usize> {
        // An email no statement lists can neither be denied nor allowed self-approval.
        let id = self.email_id(requester)?;
        let denied = self.buckets().any(|bucket| bucket.denies_self_approval(id))
            || self
                .singles
                .iter()
                .any(|rule| rule.allow_self_approval == Some(false) && rule.lists(requester));
        if denied || self.is_multi_party() {
            return None;
        }
        self.buckets()
            .filter_map(|bucket| bucket.self_approval(id))
            .chain(
                self.singles
                    .iter()
                    .find(|rule| rule.allow_self_approval == Some(true) && rule.lists(requester))
                    .map(|rule| rule.index),
            )
            .min()
    }

    /// Whether `email` is a listed approver of some affected rule.
    pub(crate) fn lists(&self, email: &Email) -> bool {
        let Some(id) = self.email_id(email) else {
            return false;
        };
        self.buckets().any(|bucket| bucket.lists(id))
            || self.singles.iter().any(|rule| rule.lists(email))
    }

    /// Every approver of an affected rule but `requester`, sorted and distinct.
    pub(crate) fn approvers_except(&self, requester: &Email) -> Vec<Email> {
        let (lists, count) = self.bucket_lists(|bucket| &bucket.summary.approvers);
        let extra = self
            .singles
            .iter()
            .flat_map(|rule| self.approver_ids[rule.index].iter().copied());
        let emails = &self.index.emails;
        let mut approvers = Vec::with_capacity(count);
        ids::union(
            &lists,
            extra,
            emails.len(),
            self.email_id(requester),
            |id| {
                approvers.push(emails.email(id).clone());
            },
        );
        approvers
    }

    /// The indexes of every affected rule, ascending.
    pub(crate) fn statements(&self) -> Vec<usize> {
        let (lists, count) = self.bucket_lists(|bucket| &bucket.open);
        let extra = self.singles.iter().map(|rule| rule.index);
        let mut statements = Vec::with_capacity(count + self.singles.len());
        ids::union(&lists, extra, self.universe, None, |index| {
            statements.push(index);
        });
        statements
    }

    /// One id list of each matching bucket, and how many ids they hold together.
    fn bucket_lists(&self, list: impl Fn(&'r Bucket) -> &'r [usize]) -> ([&'r [usize]; 3], usize) {
        let mut lists: [&[usize]; 3] = [&[]; 3];
        for (slot, bucket) in lists.iter_mut().zip(self.buckets()) {
            *slot = list(bucket);
        }
        let count = lists.iter().map(|ids| ids.len()).sum();
        (lists, count)
    }

    /// The email id of `email`; the requester's is looked up once, in [`Affected::find`].
    fn email_id(&self, email: &Email) -> Option<usize> {
        if email == self.requester.0 {
            self.requester.1
        } else {
            self.index.emails.id(email)
        }
    }
}
