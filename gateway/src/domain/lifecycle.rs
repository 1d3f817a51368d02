//! Every legal move of a request and of a grant, in one place. Each move is a pure function
//! from the state read to a [`Transition`]: the new states, the audit events and notices the
//! move emits, and its kind for metrics. The workflow commits a transition with one
//! compare-and-set, so a move either happens whole or not at all. Nothing here does IO or
//! reads a clock; `now` is an argument.
//!
//! Requests:
//!
//! | from | move | to |
//! |---|---|---|
//! | — | [`create`]: the rules grant it | `approved` (its grant planned in the same commit) |
//! | — | [`create`]: it needs approval | `pending` |
//! | — | [`create`]: the rules refuse it | `denied` |
//! | `pending` | [`AccessRequest::approve`], quorum not yet reached | `pending` |
//! | `pending` | [`AccessRequest::approve`], quorum reached | `approved` (grant planned in the same commit) |
//! | `pending` | [`AccessRequest::close`] by an approver / by the requester | `denied` / `cancelled` |
//! | `pending` | [`AccessRequest::expire`] | `expired` |
//! | `pending` | [`AccessRequest::remind`] | `pending` |
//! | `approved` | its grant became active ([`settle`]) | `active` |
//! | `approved` | its grant ended before it was active | `cancelled`, or `failed` when it could not be made |
//! | `approved` (an extension) | the extension applied ([`settle`]) | `active` |
//! | `active` | its grant ended ([`settle`]) | `ended` |
//!
//! Grants:
//!
//! | from | move | to |
//! |---|---|---|
//! | — | [`plan_grant`], start now | `provisioning` (joins the access ledger) |
//! | — | [`plan_grant`], deferred start | `scheduled` |
//! | `scheduled` | [`start_grant`] at its start | `provisioning` (joins the ledger) |
//! | `scheduled` | [`end_grant`] (called off, or its end came first) | `failed` (it never held anything) |
//! | `provisioning` | [`settle`] after the access was verified | `active` |
//! | `provisioning` | [`end_grant`] (called off, its end came first, or it cannot be made) | `revoking` (leaves the ledger) |
//! | `active` | [`end_grant`] (on time or early) | `revoking` (leaves the ledger) |
//! | `active` | [`settle`] applies an approved extension | `active` |
//! | `revoking` | [`settle`] once the access is removed or still covered | `revoked`, or `failed` if it never became active |
//!
//! So "what can happen to a provisioning grant?": it becomes active once its access is
//! verified, or it leaves the ledger and is settled into `failed`. Only the holder of the
//! access key's lease moves grants out of `provisioning` or `revoking` (through [`settle`]);
//! anyone may ask for an end ([`end_grant`]), which the lease holder honours.

use std::collections::BTreeSet;

use liftgate_policy::{Decision, Duration, Email, Rules};
use time::OffsetDateTime;

use super::access::{AccessRecord, PendingExtension};
use super::break_glass::{BreakGlassReview, ReviewTimer};
use super::{
    AccessRequest, Approval, Channel, Ending, Grant, GrantEnd, GrantId, GrantStatus, GrantTarget,
    NoticeKind, Person, RequestEvent, RequestId, RequestStatus, RequestTarget,
};

/// The audit reason of a grant that ended on time (upstream's value).
pub const SCHEDULED_REVOCATION: &str = "scheduled_revocation";

/// How far ahead a deferred start may be.
pub const MAX_START_DELAY: time::Duration = time::Duration::days(30);

/// What kind of refusal, for the HTTP status a channel answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Malformed input (400).
    Invalid,
    /// Well-formed but impossible (422).
    Unprocessable,
    /// The acting person may not do this (403).
    Forbidden,
    /// The request is in a state that does not allow this (409).
    Conflict,
}

/// Why a move is not allowed. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(kind: RefusalKind, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Conflict, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Forbidden, code, message)
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Invalid, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Unprocessable, code, message)
    }
}

/// What a transition is, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitionKind {
    Requested,
    ApprovalCounted,
    Approved,
    Denied,
    Cancelled,
    Expired,
    Reminded,
    GrantPlanned,
    GrantStarted,
    EndRequested,
    ExtensionRequested,
    AccessChecked,
    AccessVerified,
    AccessRemoved,
    TimerSet,
    TimerCancelled,
    Activated,
    Extended,
    Ended,
    SettleDeferred,
    /// A break-glass use was reviewed.
    Reviewed,
    /// A break-glass use was not reviewed in time.
    ReviewEscalated,
}

impl TransitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Requested => "requested",
            TransitionKind::ApprovalCounted => "approval_counted",
            TransitionKind::Approved => "approved",
            TransitionKind::Denied => "denied",
            TransitionKind::Cancelled => "cancelled",
            TransitionKind::Expired => "expired",
            TransitionKind::Reminded => "reminded",
            TransitionKind::GrantPlanned => "grant_planned",
            TransitionKind::GrantStarted => "grant_started",
            TransitionKind::EndRequested => "end_requested",
            TransitionKind::ExtensionRequested => "extension_requested",
            TransitionKind::AccessChecked => "access_checked",
            TransitionKind::AccessVerified => "access_verified",
            TransitionKind::AccessRemoved => "access_removed",
            TransitionKind::TimerSet => "timer_set",
            TransitionKind::TimerCancelled => "timer_cancelled",
            TransitionKind::Activated => "activated",
            TransitionKind::Extended => "extended",
            TransitionKind::Ended => "ended",
            TransitionKind::SettleDeferred => "settle_deferred",
            TransitionKind::Reviewed => "reviewed",
            TransitionKind::ReviewEscalated => "review_escalated",
        }
    }
}

/// One audit event a transition emits; the record is built from the request's state in the
/// same transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNote {
    pub request_id: RequestId,
    pub grant_id: Option<GrantId>,
    pub event: RequestEvent,
    pub channel: Channel,
    pub actor: Option<Person>,
    /// Overrides the request's reason in the record.
    pub reason: Option<String>,
}

/// A write of the access ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessWrite {
    /// Written with the version it carries (0: a new record).
    Put(AccessRecord),
    /// Deleted, expecting the version it carries.
    Delete(AccessRecord),
}

/// The result of a move. Every item carries the version it was read at (0 for new items):
/// the commit expects exactly that version, so a concurrent change makes the whole transition
/// fail and be decided again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transition {
    pub kinds: Vec<TransitionKind>,
    pub requests: Vec<AccessRequest>,
    pub grants: Vec<Grant>,
    pub access: Option<AccessWrite>,
    pub audit: Vec<AuditNote>,
    pub notices: Vec<(RequestId, NoticeKind)>,
    /// Break-glass review deadlines to check (each an outbox row due then).
    pub review_timers: Vec<ReviewTimer>,
}

impl Transition {
    pub(in crate::domain) fn of(kind: TransitionKind) -> Transition {
        Transition {
            kinds: vec![kind],
            ..Transition::default()
        }
    }

    pub(in crate::domain) fn put_request(&mut self, request: AccessRequest) {
        match self.requests.iter_mut().find(|r| r.id == request.id) {
            Some(slot) => *slot = request,
            None => self.requests.push(request),
        }
    }

    fn put_grant(&mut self, grant: Grant) {
        match self.grants.iter_mut().find(|g| g.id == grant.id) {
            Some(slot) => *slot = grant,
            None => self.grants.push(grant),
        }
    }

    pub(in crate::domain) fn note(&mut self, note: AuditNote) {
        self.audit.push(note);
    }

    pub(in crate::domain) fn notify(&mut self, request: &RequestId, kind: NoticeKind) {
        if !self
            .notices
            .iter()
            .any(|(id, k)| id == request && *k == kind)
        {
            self.notices.push((request.clone(), kind));
        }
    }

    /// The request this transition writes with `id`, if any.
    pub fn request(&self, id: &RequestId) -> Option<&AccessRequest> {
        self.requests.iter().find(|request| &request.id == id)
    }

    pub fn grant(&self, id: &GrantId) -> Option<&Grant> {
        self.grants.iter().find(|grant| &grant.id == id)
    }

    /// The kind to report: the last, most consequential move.
    pub fn kind(&self) -> Option<TransitionKind> {
        self.kinds.last().copied()
    }
}

/// Everything a new request is made of, checked by the workflow against AWS.
#[derive(Debug, Clone)]
pub struct RequestDraft {
    pub id: RequestId,
    pub target: RequestTarget,
    pub requester: Person,
    pub principal_id: String,
    pub secondary_domain_used: bool,
    pub requester_groups: BTreeSet<String>,
    pub duration: Duration,
    pub reason: String,
    pub channel: Channel,
    pub start_at: Option<OffsetDateTime>,
    pub extends: Option<GrantId>,
    /// If the rules refuse it, keep it out of the approvals channel (see `AccessRequest::quiet`).
    pub quiet_if_refused: bool,
    /// The statements' `Warning`s for the approval message.
    pub warnings: Vec<String>,
    /// Where the approval messages go.
    pub routing: liftgate_policy::Routing,
    /// Asked as break-glass (decided over the `BreakGlass` statements).
    pub break_glass: bool,
}

/// The request settings the lifecycle needs.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub max_duration: Duration,
    pub expiration: Duration,
    pub reminders: bool,
    pub reminder_initial_wait: Duration,
    pub reminder_backoff: f64,
    /// `requests.break_glass_review`: how long a break-glass use may go unreviewed.
    pub break_glass_review: Duration,
}

fn refusal_reason(decision: Decision, target: &RequestTarget) -> String {
    let what = match target {
        RequestTarget::Account { .. } => "this account and permission set",
        RequestTarget::Group { .. } => "this group",
    };
    match decision {
        Decision::NoStatements => format!("no rule covers {what}"),
        Decision::RequesterNotAllowed => {
            format!("the rules that cover {what} do not let you request it")
        }
        Decision::NoApprovers => "nobody can approve this request".to_owned(),
        other => other.as_str().to_owned(),
    }
}

/// The grant target a request asks for.
pub fn grant_target(target: &RequestTarget) -> GrantTarget {
    match target {
        RequestTarget::Account {
            account_id,
            permission_set,
            ..
        } => GrantTarget::Account {
            account_id: account_id.clone(),
            permission_set: permission_set.clone(),
            permission_set_arn: None,
        },
        RequestTarget::Group {
            group_id,
            group_name,
        } => GrantTarget::Group {
            group_id: group_id.clone(),
            group_name: group_name.clone(),
            membership_id: None,
        },
    }
}

/// A new request, evaluated: `pending`, `denied`, or `approved` with its grant planned (and
/// joined to `ledger`, the record of its access key, when it starts now). Extension requests
/// that the rules grant are applied by [`request_extension`] instead, so the grant is not
/// planned for them here.
pub fn create(
    draft: RequestDraft,
    evaluation: &liftgate_policy::Evaluation,
    ledger: Option<AccessRecord>,
    now: OffsetDateTime,
    timing: &Timing,
) -> Transition {
    let status = match evaluation.decision {
        decision if decision.granted() => RequestStatus::Approved,
        Decision::RequiresApproval => RequestStatus::Pending,
        _ => RequestStatus::Denied,
    };
    let channel = draft.channel;
    let mut request = AccessRequest {
        id: draft.id,
        target: draft.target,
        requester: draft.requester,
        principal_id: draft.principal_id,
        secondary_domain_used: draft.secondary_domain_used,
        requester_groups: draft.requester_groups,
        duration: draft.duration,
        reason: draft.reason,
        channel,
        created_at: now,
        expires_at: now + timing.expiration.to_std(),
        start_at: draft.start_at,
        decision: evaluation.decision,
        approvers: evaluation.approvers.clone(),
        required_approvals: evaluation.required_approvals,
        statements: evaluation.statements.clone(),
        max_duration: evaluation.max_duration,
        quiet: status == RequestStatus::Denied && draft.quiet_if_refused,
        warnings: draft.warnings,
        routing: draft.routing,
        break_glass_requested: draft.break_glass,
        break_glass: (evaluation.decision == Decision::BreakGlass)
            .then(|| BreakGlassReview::new(now, timing.break_glass_review)),
        status,
        status_reason: None,
        approvals: Vec::new(),
        grant_id: None,
        ends_at: None,
        extends: draft.extends,
        next_reminder_at: (status == RequestStatus::Pending && timing.reminders)
            .then(|| now + timing.reminder_initial_wait.to_std()),
        reminders_sent: 0,
        ending: None,
        history: Vec::new(),
        version: 0,
    };
    let requester_email = request.requester.email.clone();
    request.push_history(
        now,
        RequestEvent::Requested,
        channel,
        Some(&requester_email),
        None,
    );
    let mut transition = Transition::of(TransitionKind::Requested);
    transition.note(AuditNote {
        request_id: request.id.clone(),
        grant_id: None,
        event: RequestEvent::Requested,
        channel,
        actor: None,
        reason: None,
    });
    match status {
        RequestStatus::Approved => {
            let detail = evaluation.decision.as_str().to_owned();
            request.push_history(now, RequestEvent::Approved, channel, None, Some(detail));
            let actor =
                (evaluation.decision == Decision::SelfApproval).then(|| request.requester.clone());
            transition.note(AuditNote {
                request_id: request.id.clone(),
                grant_id: None,
                event: RequestEvent::Approved,
                channel,
                actor,
                reason: None,
            });
            transition.kinds.push(TransitionKind::Approved);
            if let Some(due_at) = request.break_glass.as_ref().map(|review| review.due_at) {
                request.push_history(
                    now,
                    RequestEvent::BreakGlassUsed,
                    channel,
                    Some(&requester_email),
                    None,
                );
                transition.note(AuditNote {
                    request_id: request.id.clone(),
                    grant_id: None,
                    event: RequestEvent::BreakGlassUsed,
                    channel,
                    actor: Some(request.requester.clone()),
                    reason: None,
                });
                transition.review_timers.push(ReviewTimer {
                    request_id: request.id.clone(),
                    due_at,
                    round: 0,
                });
            }
        }
        RequestStatus::Denied => {
            let mut why = refusal_reason(evaluation.decision, &request.target);
            if request.break_glass_requested {
                why = format!("break-glass refused: {why}");
            }
            request.push_history(now, RequestEvent::Denied, channel, None, Some(why.clone()));
            request.status_reason = Some(why);
            transition.note(AuditNote {
                request_id: request.id.clone(),
                grant_id: None,
                event: RequestEvent::Denied,
                channel,
                actor: None,
                reason: None,
            });
            transition.kinds.push(TransitionKind::Denied);
        }
        _ => {}
    }
    transition.notify(&request.id, NoticeKind::Created);
    if status == RequestStatus::Approved && request.extends.is_none() {
        plan_into(&mut transition, request, ledger, now);
    } else {
        transition.put_request(request);
    }
    transition
}

/// Plans the grant of an approved request into `transition`: the grant row with its end,
/// joined to the ledger when it starts now.
fn plan_into(
    transition: &mut Transition,
    mut request: AccessRequest,
    ledger: Option<AccessRecord>,
    now: OffsetDateTime,
) {
    let starts_at = request.start_at.filter(|start| *start > now).unwrap_or(now);
    let ends_at = starts_at + request.duration.to_std();
    let deferred = starts_at > now;
    let grant = Grant {
        id: GrantId::generate(),
        request_id: request.id.clone(),
        extensions: Vec::new(),
        requester: request.requester.email.clone(),
        principal_id: request.principal_id.clone(),
        target: grant_target(&request.target),
        status: if deferred {
            GrantStatus::Scheduled
        } else {
            GrantStatus::Provisioning
        },
        starts_at,
        ends_at,
        preexisting: false,
        access_checked: false,
        activated_at: None,
        end: None,
        sso_request_id: None,
        revoked_at: None,
        activity_summarised_at: None,
        version: 0,
    };
    request.grant_id = Some(grant.id.clone());
    request.ends_at = Some(ends_at);
    if !deferred {
        let mut record = ledger.unwrap_or_else(|| {
            AccessRecord::new(
                grant.access_key(),
                grant.principal_id.clone(),
                grant.target.clone(),
            )
        });
        record.join(grant.id.clone(), ends_at);
        transition.access = Some(AccessWrite::Put(record));
    }
    transition.kinds.push(TransitionKind::GrantPlanned);
    transition.put_request(request);
    transition.put_grant(grant);
}

/// Plans the grant of an approved request that has none (written by an older version, or an
/// extension whose grant ended before it applied). `None` when there is nothing to plan.
pub fn plan_grant(
    request: &AccessRequest,
    ledger: Option<AccessRecord>,
    now: OffsetDateTime,
) -> Option<Transition> {
    if request.status != RequestStatus::Approved || request.grant_id.is_some() {
        return None;
    }
    let mut request = request.clone();
    request.extends = None;
    let mut transition = Transition::default();
    plan_into(&mut transition, request, ledger, now);
    Some(transition)
}

/// A deferred grant whose start has come joins the ledger.
pub fn start_grant(
    grant: &Grant,
    ledger: Option<AccessRecord>,
    now: OffsetDateTime,
) -> Option<Transition> {
    if grant.status != GrantStatus::Scheduled || grant.starts_at > now || grant.ends_at <= now {
        return None;
    }
    let mut started = grant.clone();
    started.status = GrantStatus::Provisioning;
    let mut record = ledger.unwrap_or_else(|| {
        AccessRecord::new(
            grant.access_key(),
            grant.principal_id.clone(),
            grant.target.clone(),
        )
    });
    record.join(grant.id.clone(), grant.ends_at);
    let mut transition = Transition::of(TransitionKind::GrantStarted);
    transition.put_grant(started);
    transition.access = Some(AccessWrite::Put(record));
    Some(transition)
}

/// Who decides on a request at approval time: the verified identities, resolved to
/// Identity Center users, so aliases of one person count as that person.
#[derive(Debug, Clone)]
pub struct Approver<'a> {
    pub person: &'a Person,
    /// The approver's Identity Center user id.
    pub user_id: &'a str,
    pub channel: Channel,
    pub comment: Option<String>,
}

/// Who denies or withdraws a request, and how.
#[derive(Debug, Clone, Copy)]
pub struct Closer<'a> {
    pub person: &'a Person,
    /// The person's Identity Center user id, when they have one.
    pub user_id: Option<&'a str>,
    pub channel: Channel,
    pub comment: Option<&'a str>,
}

impl AccessRequest {
    fn requester_facts(&self) -> liftgate_policy::Requester<'_> {
        liftgate_policy::Requester {
            email: &self.requester.email,
            groups: &self.requester_groups,
        }
    }

    /// Whether `email` acting as the Identity Center user `user_id` is the requester.
    fn is_requester(&self, email: &Email, user_id: Option<&str>) -> bool {
        email == &self.requester.email || user_id == Some(self.principal_id.as_str())
    }

    /// Counts an approval. `Ok(None)` when it changes nothing (the same person again). When
    /// the quorum is reached the request is approved and its grant planned in the same
    /// transition (joining `ledger`), unless it is an extension.
    pub fn approve(
        &self,
        approver: Approver<'_>,
        rules: &Rules,
        ledger: Option<AccessRecord>,
        now: OffsetDateTime,
        timing: &Timing,
    ) -> Result<Option<Transition>, Refusal> {
        let email = &approver.person.email;
        let repeated =
            self.has_approval_from(email) || self.has_approval_from_user(approver.user_id);
        if self.status != RequestStatus::Pending {
            if repeated {
                return Ok(None);
            }
            return Err(Refusal::conflict(
                "not_pending",
                format!("the request is {}, not pending", self.status.as_str()),
            ));
        }
        if now >= self.expires_at {
            return Err(Refusal::conflict(
                "expired",
                "the request expired before it was approved",
            ));
        }
        let requester = self.requester_facts();
        let target = self.target.policy_target();
        // The same Identity Center user as the requester is the requester, whatever email the
        // chat platform reports: only the requester's own self-approval rights count.
        let same_person = self.is_requester(email, Some(approver.user_id));
        let judged_as = if same_person {
            &self.requester.email
        } else {
            email
        };
        if !liftgate_policy::approver_permitted(rules, &target, &requester, judged_as) {
            let message = if same_person {
                "you may not approve your own request"
            } else {
                "you are not an approver of this request"
            };
            return Err(Refusal::forbidden("not_an_approver", message));
        }
        if repeated {
            return Ok(None);
        }
        let mut request = self.clone();
        // The rules may have changed since the request was made: the stricter count wins.
        let current = liftgate_policy::evaluate(rules, &target, &requester, timing.max_duration);
        let required = request.required_approvals.max(current.required_approvals);
        request.required_approvals = required;
        request.approvals.push(Approval {
            approver: approver.person.clone(),
            user_id: Some(approver.user_id.to_owned()),
            at: now,
            channel: approver.channel,
            comment: approver.comment.clone(),
        });
        let counted = request.approvals.len() as u32;
        request.push_history(
            now,
            RequestEvent::Approved,
            approver.channel,
            Some(email),
            Some(format!("{counted} of {required}")),
        );
        let mut transition = Transition::of(TransitionKind::ApprovalCounted);
        transition.note(AuditNote {
            request_id: request.id.clone(),
            grant_id: None,
            event: RequestEvent::Approved,
            channel: approver.channel,
            actor: Some(approver.person.clone()),
            reason: None,
        });
        transition.notify(&request.id, NoticeKind::Updated);
        if counted < required {
            transition.put_request(request);
            return Ok(Some(transition));
        }
        request.status = RequestStatus::Approved;
        request.next_reminder_at = None;
        transition.kinds.push(TransitionKind::Approved);
        if request.extends.is_none() {
            plan_into(&mut transition, request, ledger, now);
        } else {
            transition.put_request(request);
        }
        Ok(Some(transition))
    }

    /// Denies (an approver) or withdraws (the requester, whatever they clicked) a pending
    /// request. `Ok(None)` when the same person already did the same.
    pub fn close(
        &self,
        closer: Closer<'_>,
        wanted: RequestStatus,
        rules: &Rules,
        now: OffsetDateTime,
    ) -> Result<Option<Transition>, Refusal> {
        let Closer {
            person: actor,
            user_id: actor_user_id,
            channel,
            comment,
        } = closer;
        let email = &actor.email;
        let is_requester = self.is_requester(email, actor_user_id);
        let status = if is_requester {
            RequestStatus::Cancelled
        } else {
            wanted
        };
        if self.status != RequestStatus::Pending {
            let repeated = self.status == status
                && self
                    .history
                    .last()
                    .is_some_and(|entry| entry.actor.as_ref() == Some(email));
            if repeated {
                return Ok(None);
            }
            return Err(Refusal::conflict(
                "not_pending",
                format!("the request is {}, not pending", self.status.as_str()),
            ));
        }
        if !is_requester
            && !liftgate_policy::may_deny(
                rules,
                &self.target.policy_target(),
                &self.requester_facts(),
                email,
            )
        {
            return Err(Refusal::forbidden(
                "not_an_approver",
                "only an approver of this request, or its requester, can deny or cancel it",
            ));
        }
        let (event, verb, kind) = match status {
            RequestStatus::Cancelled => (
                RequestEvent::Cancelled,
                "cancelled",
                TransitionKind::Cancelled,
            ),
            _ => (RequestEvent::Denied, "denied", TransitionKind::Denied),
        };
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        let mut reason = format!("{verb} by {email}");
        if let Some(comment) = comment {
            reason.push_str(": ");
            reason.push_str(comment);
        }
        let mut request = self.clone();
        request.status = status;
        request.status_reason = Some(reason);
        request.next_reminder_at = None;
        request.push_history(now, event, channel, Some(email), comment.map(str::to_owned));
        let mut transition = Transition::of(kind);
        transition.note(AuditNote {
            request_id: request.id.clone(),
            grant_id: None,
            event,
            channel,
            actor: Some(actor.clone()),
            reason: None,
        });
        transition.notify(&request.id, NoticeKind::Updated);
        transition.put_request(request);
        Ok(Some(transition))
    }

    /// Expires a pending request whose time is up.
    pub fn expire(&self, now: OffsetDateTime, timing: &Timing) -> Option<Transition> {
        if self.status != RequestStatus::Pending || self.expires_at > now {
            return None;
        }
        let reason = format!(
            "expired after {} without enough approvals",
            timing.expiration
        );
        let mut request = self.clone();
        request.status = RequestStatus::Expired;
        request.status_reason = Some(reason.clone());
        request.next_reminder_at = None;
        request.push_history(
            now,
            RequestEvent::Expired,
            Channel::Scheduler,
            None,
            Some(reason),
        );
        let mut transition = Transition::of(TransitionKind::Expired);
        transition.note(AuditNote {
            request_id: request.id.clone(),
            grant_id: None,
            event: RequestEvent::Expired,
            channel: Channel::Scheduler,
            actor: None,
            reason: None,
        });
        transition.notify(&request.id, NoticeKind::Updated);
        transition.put_request(request);
        Some(transition)
    }

    /// Reminds the approvers of a pending request, backing off exponentially; the reminder
    /// notice is written in the same commit.
    pub fn remind(&self, now: OffsetDateTime, timing: &Timing) -> Option<Transition> {
        if self.status != RequestStatus::Pending || self.next_reminder_at.is_none_or(|at| at > now)
        {
            return None;
        }
        let mut request = self.clone();
        request.reminders_sent += 1;
        let factor = timing
            .reminder_backoff
            .powi(request.reminders_sent.min(30) as i32);
        let wait = timing.reminder_initial_wait.as_secs() as f64 * factor;
        let next = now + time::Duration::seconds_f64(wait.min(30.0 * 86_400.0));
        request.next_reminder_at = (next < request.expires_at).then_some(next);
        let mut transition = Transition::of(TransitionKind::Reminded);
        transition.notify(&request.id, NoticeKind::Reminder);
        transition.put_request(request);
        Some(transition)
    }
}

/// The channel a grant's `granted` record names: the approval that completed it, else the
/// channel the request came from.
fn granting_channel(request: &AccessRequest) -> Channel {
    request
        .approvals
        .last()
        .map_or(request.channel, |approval| approval.channel)
}

/// An approved extension of `grant` (active) becomes a pending extension on the ledger: the
/// timer moves first, and [`settle`] applies the new end once it has. The extension cannot go
/// past `now` plus the request's effective maximum.
pub fn request_extension(
    request: &AccessRequest,
    grant: &Grant,
    mut ledger: AccessRecord,
    now: OffsetDateTime,
    max_duration: Duration,
) -> Option<Transition> {
    if request.status != RequestStatus::Approved || grant.status != GrantStatus::Active {
        return None;
    }
    let ceiling = now + request.max_duration.unwrap_or(max_duration).to_std();
    let until = (grant.ends_at + request.duration.to_std())
        .min(ceiling)
        .max(grant.ends_at);
    let extension = PendingExtension {
        request_id: request.id.clone(),
        until,
    };
    if !ledger.request_extension(&grant.id, extension) {
        return None;
    }
    let mut updated = request.clone();
    updated.grant_id = Some(grant.id.clone());
    let mut transition = Transition::of(TransitionKind::ExtensionRequested);
    transition.put_request(updated);
    transition.access = Some(AccessWrite::Put(ledger));
    Some(transition)
}

/// Asks for the end of a grant: on time (the sweeper), early (a person), or because it cannot
/// be made. A grant that holds the ledger leaves it and waits in `revoking` for [`settle`]; a
/// scheduled grant never held anything and is final at once. `requests` are the grant's
/// request and its extension requests, as read. `None` when the grant is already ending.
pub fn end_grant(
    grant: &Grant,
    requests: &[AccessRequest],
    ledger: Option<AccessRecord>,
    end: GrantEnd,
    now: OffsetDateTime,
) -> Option<Transition> {
    let mut transition = Transition::of(TransitionKind::EndRequested);
    let mut ended = grant.clone();
    match grant.status {
        GrantStatus::Scheduled => {
            ended.end = Some(GrantEnd {
                abandoned: true,
                ..end
            });
            finish_grant(&mut transition, ended, requests, now);
            return Some(transition);
        }
        GrantStatus::Provisioning | GrantStatus::Active => {}
        GrantStatus::Revoking | GrantStatus::Revoked | GrantStatus::Failed => return None,
    }
    let abandoned = grant.activated_at.is_none();
    if end.actor.is_some() {
        ended.ends_at = ended.ends_at.min(now);
    }
    ended.end = Some(GrantEnd { abandoned, ..end });
    ended.status = GrantStatus::Revoking;
    let ending = ended.end.clone();
    if let Some(mut record) = ledger {
        for extension in record.leave(&grant.id) {
            // The grant ends before its extension applied: the extension is called off.
            if let Some(extension_request) = requests.iter().find(|r| r.id == extension.request_id)
            {
                call_off(
                    &mut transition,
                    extension_request,
                    "the grant it extends ended first",
                    now,
                );
            }
        }
        transition.access = Some(AccessWrite::Put(record));
    }
    for request in requests {
        if request.id != grant.request_id && !grant.extensions.contains(&request.id) {
            continue;
        }
        if matches!(
            request.status,
            RequestStatus::Approved | RequestStatus::Active
        ) && request.ending.is_none()
            && let Some(end) = &ending
        {
            let mut updated = request.clone();
            updated.ending = Some(Ending {
                requested_at: now,
                channel: end.channel,
                by: end.actor.as_ref().map(|actor| actor.email.clone()),
            });
            transition.put_request(updated);
            transition.notify(&request.id, NoticeKind::Updated);
        }
    }
    transition.put_grant(ended);
    Some(transition)
}

/// An approved request that will never get its grant.
fn call_off(
    transition: &mut Transition,
    request: &AccessRequest,
    reason: &str,
    now: OffsetDateTime,
) {
    if request.status != RequestStatus::Approved {
        return;
    }
    let mut updated = request.clone();
    updated.status = RequestStatus::Cancelled;
    updated.status_reason = Some(reason.to_owned());
    updated.push_history(
        now,
        RequestEvent::Cancelled,
        Channel::Scheduler,
        None,
        Some(reason.to_owned()),
    );
    transition.note(AuditNote {
        request_id: updated.id.clone(),
        grant_id: None,
        event: RequestEvent::Cancelled,
        channel: Channel::Scheduler,
        actor: None,
        reason: Some(reason.to_owned()),
    });
    transition.notify(&updated.id, NoticeKind::Updated);
    transition.kinds.push(TransitionKind::Cancelled);
    transition.put_request(updated);
}

/// Fails an approved request that has no grant of its own (an extension that cannot apply).
pub fn fail_request(
    request: &AccessRequest,
    message: &str,
    now: OffsetDateTime,
) -> Option<Transition> {
    if request.status != RequestStatus::Approved {
        return None;
    }
    let mut updated = request.clone();
    updated.status = RequestStatus::Failed;
    updated.status_reason = Some(message.to_owned());
    updated.push_history(
        now,
        RequestEvent::Failed,
        Channel::Scheduler,
        None,
        Some(message.to_owned()),
    );
    let mut transition = Transition::of(TransitionKind::Ended);
    transition.note(AuditNote {
        request_id: updated.id.clone(),
        grant_id: None,
        event: RequestEvent::Failed,
        channel: Channel::Scheduler,
        actor: None,
        reason: Some(message.to_owned()),
    });
    transition.notify(&updated.id, NoticeKind::Updated);
    transition.put_request(updated);
    Some(transition)
}

/// Makes an ended grant final with its requests: `revoked` (it was active; its requests
/// `ended`), or `failed` (it never was; its requests `cancelled`, or `failed` when it could not
/// be made).
fn finish_grant(
    transition: &mut Transition,
    mut grant: Grant,
    requests: &[AccessRequest],
    now: OffsetDateTime,
) {
    let end = grant.end.clone().unwrap_or(GrantEnd {
        channel: Channel::Scheduler,
        actor: None,
        reason: SCHEDULED_REVOCATION.to_owned(),
        abandoned: grant.activated_at.is_none(),
        failed: false,
    });
    grant.status = if end.abandoned {
        GrantStatus::Failed
    } else {
        GrantStatus::Revoked
    };
    grant.revoked_at = Some(now);
    let mut ids = vec![grant.request_id.clone()];
    ids.extend(grant.extensions.iter().cloned());
    for id in &ids {
        let Some(request) = transition
            .request(id)
            .cloned()
            .or_else(|| requests.iter().find(|r| &r.id == id).cloned())
        else {
            continue;
        };
        let (status, event) = match request.status {
            RequestStatus::Active => (RequestStatus::Ended, RequestEvent::Revoked),
            RequestStatus::Approved if end.failed => (RequestStatus::Failed, RequestEvent::Failed),
            RequestStatus::Approved => (RequestStatus::Cancelled, RequestEvent::Cancelled),
            _ => continue,
        };
        let mut updated = request;
        updated.status = status;
        updated.ending = None;
        updated.ends_at = Some(now.min(updated.ends_at.unwrap_or(now)));
        updated.status_reason = Some(end.reason.clone());
        updated.push_history(
            now,
            event,
            end.channel,
            end.actor.as_ref().map(|a| &a.email),
            Some(end.reason.clone()),
        );
        transition.note(AuditNote {
            request_id: updated.id.clone(),
            grant_id: Some(grant.id.clone()),
            event,
            channel: end.channel,
            actor: end.actor.clone(),
            reason: Some(end.reason.clone()),
        });
        transition.notify(&updated.id, NoticeKind::Updated);
        transition.put_request(updated);
    }
    transition.kinds.push(TransitionKind::Ended);
    transition.put_grant(grant);
}

/// What [`settle`] reads besides the ledger record: the grants it names and their requests.
#[derive(Debug, Clone, Default)]
pub struct Covered {
    pub grants: Vec<Grant>,
    pub requests: Vec<AccessRequest>,
}

/// Commits what the verified AWS state allows, for the holder of the access key's lease:
/// joiners become active (with their `granted` records), pending extensions whose end the
/// timer covers apply, leaving grants become final (with their `revoked` records), and a
/// record nobody holds any more is deleted. `present` is whether the access was verified
/// present during this lease tenure.
pub fn settle(
    mut record: AccessRecord,
    covered: &Covered,
    present: bool,
    now: OffsetDateTime,
) -> Transition {
    let mut transition = Transition::default();
    let grant_of = |id: &GrantId| covered.grants.iter().find(|grant| &grant.id == id);
    let request_of = |id: &RequestId| covered.requests.iter().find(|r| &r.id == id);
    let activated = if present {
        record.activate_joiners()
    } else {
        Vec::new()
    };
    let extended = record.apply_extensions(present, now);
    {
        for id in activated {
            let Some(grant) = grant_of(&id) else {
                continue;
            };
            let mut active = grant.clone();
            if active.status != GrantStatus::Provisioning {
                continue;
            }
            active.status = GrantStatus::Active;
            active.activated_at = Some(now);
            active.preexisting = record.predated();
            if record.sso_request_id.is_some() {
                active.sso_request_id = record.sso_request_id.clone();
            }
            active.target = match (&record.target, &grant.target) {
                (
                    GrantTarget::Group { membership_id, .. },
                    GrantTarget::Group {
                        group_id,
                        group_name,
                        ..
                    },
                ) => GrantTarget::Group {
                    group_id: group_id.clone(),
                    group_name: group_name.clone(),
                    membership_id: membership_id.clone(),
                },
                (ledger_target, _) => ledger_target.clone(),
            };
            if let Some(request) = request_of(&grant.request_id)
                && request.status == RequestStatus::Approved
            {
                let mut updated = request.clone();
                updated.status = RequestStatus::Active;
                updated.ends_at = Some(active.ends_at);
                updated.push_history(
                    now,
                    RequestEvent::Granted,
                    Channel::Scheduler,
                    None,
                    Some(format!("until {}", active.ends_at)),
                );
                transition.note(AuditNote {
                    request_id: updated.id.clone(),
                    grant_id: Some(active.id.clone()),
                    event: RequestEvent::Granted,
                    channel: granting_channel(&updated),
                    actor: None,
                    reason: None,
                });
                transition.notify(&updated.id, NoticeKind::Updated);
                transition.put_request(updated);
            }
            transition.kinds.push(TransitionKind::Activated);
            transition.put_grant(active);
        }
        for (id, extension) in extended {
            let Some(grant) = grant_of(&id) else {
                continue;
            };
            let mut moved = transition
                .grant(&id)
                .cloned()
                .unwrap_or_else(|| grant.clone());
            moved.ends_at = extension.until;
            if !moved.extensions.contains(&extension.request_id) {
                moved.extensions.push(extension.request_id.clone());
            }
            if let Some(request) = request_of(&extension.request_id)
                && request.status == RequestStatus::Approved
            {
                let mut updated = request.clone();
                updated.status = RequestStatus::Active;
                updated.grant_id = Some(id.clone());
                updated.ends_at = Some(extension.until);
                updated.push_history(
                    now,
                    RequestEvent::Granted,
                    Channel::Scheduler,
                    None,
                    Some(format!("extends grant {id} until {}", extension.until)),
                );
                transition.note(AuditNote {
                    request_id: updated.id.clone(),
                    grant_id: Some(id.clone()),
                    event: RequestEvent::Granted,
                    channel: granting_channel(&updated),
                    actor: None,
                    reason: None,
                });
                transition.notify(&updated.id, NoticeKind::Updated);
                let channel = granting_channel(&updated);
                let requester = updated.requester.email.clone();
                transition.put_request(updated);
                if let Some(original) = request_of(&grant.request_id) {
                    let mut original = transition
                        .request(&original.id)
                        .cloned()
                        .unwrap_or_else(|| original.clone());
                    original.ends_at = Some(extension.until);
                    original.push_history(
                        now,
                        RequestEvent::Extended,
                        channel,
                        Some(&requester),
                        Some(format!(
                            "by request {} until {}",
                            extension.request_id, extension.until
                        )),
                    );
                    transition.notify(&original.id, NoticeKind::Updated);
                    transition.put_request(original);
                }
            }
            transition.kinds.push(TransitionKind::Extended);
            transition.put_grant(moved);
        }
    }
    for id in record.take_leaving() {
        let Some(grant) = grant_of(&id) else {
            continue;
        };
        if grant.status != GrantStatus::Revoking {
            continue;
        }
        let mut ending = grant.clone();
        // The delete's request id, when this settle removed the access.
        if record.holders().is_empty() && !record.predated() && ending.activated_at.is_some() {
            ending.sso_request_id = record.sso_request_id.clone();
        }
        finish_grant(&mut transition, ending, &covered.requests, now);
    }
    record.clear_retry();
    transition.access = Some(if record.is_empty() && record.retire(now) {
        AccessWrite::Delete(record)
    } else {
        AccessWrite::Put(record)
    });
    transition
}

/// The ledger-only result of an AWS step (the record as changed by one of its `record_*`
/// methods), or of a retryable failure.
pub fn ledger_step(record: AccessRecord, kind: TransitionKind) -> Transition {
    let mut transition = Transition::of(kind);
    transition.access = Some(AccessWrite::Put(record));
    transition
}

/// Joiners that reached their end before they became active leave, with a reason saying so.
pub fn expire_joiners(
    record: AccessRecord,
    expired: &[GrantId],
    covered: &Covered,
    now: OffsetDateTime,
) -> Transition {
    let mut transition = Transition::default();
    let mut ledger = record;
    for id in expired {
        let Some(grant) = covered.grants.iter().find(|grant| &grant.id == id) else {
            // A joiner without a grant row cannot become active; it leaves the ledger.
            ledger.leave(id);
            continue;
        };
        let end = GrantEnd {
            channel: Channel::Scheduler,
            actor: None,
            reason: "its end came before the access could be granted".to_owned(),
            abandoned: true,
            failed: true,
        };
        leave_ledger(
            &mut transition,
            &mut ledger,
            grant,
            &covered.requests,
            end,
            now,
        );
    }
    transition.access = Some(AccessWrite::Put(ledger));
    transition
}

/// Ends `grant` into `transition`, taking it out of `ledger` in every case: a grant the
/// snapshot already shows ending (read after the ledger) still leaves, so the ledger never
/// keeps a holder whose grant is on its way out.
fn leave_ledger(
    transition: &mut Transition,
    ledger: &mut AccessRecord,
    grant: &Grant,
    requests: &[AccessRequest],
    end: GrantEnd,
    now: OffsetDateTime,
) {
    match end_grant(grant, requests, Some(ledger.clone()), end, now) {
        Some(mut ended) => {
            if let Some(AccessWrite::Put(record) | AccessWrite::Delete(record)) =
                ended.access.take()
            {
                *ledger = record;
            }
            merge(transition, ended);
        }
        None => {
            ledger.leave(&grant.id);
        }
    }
}

/// Joiners whose access cannot be made (a permanent AWS error) leave, failed with the error.
pub fn fail_joiners(
    record: AccessRecord,
    covered: &Covered,
    message: &str,
    now: OffsetDateTime,
) -> Transition {
    let joiners: Vec<GrantId> = record
        .holders()
        .iter()
        .filter(|(_, holding)| !holding.active)
        .map(|(id, _)| id.clone())
        .collect();
    let mut transition = Transition::default();
    let mut ledger = record;
    for id in &joiners {
        let Some(grant) = covered.grants.iter().find(|grant| &grant.id == id) else {
            ledger.leave(id);
            continue;
        };
        let end = GrantEnd {
            channel: Channel::Scheduler,
            actor: None,
            reason: message.to_owned(),
            abandoned: true,
            failed: true,
        };
        leave_ledger(
            &mut transition,
            &mut ledger,
            grant,
            &covered.requests,
            end,
            now,
        );
    }
    transition.access = Some(AccessWrite::Put(ledger));
    transition
}

/// Folds `other` into `into` (later writes of the same item win).
fn merge(into: &mut Transition, other: Transition) {
    into.kinds.extend(other.kinds);
    for request in other.requests {
        into.put_request(request);
    }
    for grant in other.grants {
        into.put_grant(grant);
    }
    if other.access.is_some() {
        into.access = other.access;
    }
    into.audit.extend(other.audit);
    for (id, kind) in other.notices {
        into.notify(&id, kind);
    }
}
