//! What a message about a request shows, decided once for every chat platform: the step the
//! requester was last told about, the approval progress, who is still awaited, and which
//! buttons apply to whom. Renderers turn this into Block Kit or Adaptive Cards; they never
//! decide which buttons a request offers.

use liftgate_policy::Email;

use crate::domain::{AccessRequest, BreakGlassReview, Grant, GrantStatus, RequestStatus};

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The approval message in the approvals channel.
    Approvers,
    /// The requester's own message.
    Requester,
}

/// A button on a request message. A click names only the request; who clicked and whether
/// they may is decided by the workflow from the verified identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Approve,
    Deny,
    /// The requester withdraws a pending request.
    Cancel,
    /// The holder ends an active grant early ("I'm done").
    EndAccess,
    /// The holder calls off an approved grant whose deferred start has not come.
    CallOff,
    /// Opens the extension form (holder only: `AccessService::extension`).
    Extend,
    /// A reviewer says a break-glass use was justified.
    Acknowledge,
    /// A reviewer says it was not (its access ends if still held).
    Flag,
}

/// A request as every platform shows it.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub request: &'a AccessRequest,
    pub grant: Option<&'a Grant>,
}

/// Approvals counted against approvals needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub approved: usize,
    pub required: u32,
}

impl<'a> RequestView<'a> {
    pub fn new(request: &'a AccessRequest, grant: Option<&'a Grant>) -> RequestView<'a> {
        RequestView { request, grant }
    }

    /// The step a requester is told about; a notice that does not change it tells them
    /// nothing new (their message is refreshed in place instead).
    pub fn step(&self) -> String {
        let request = self.request;
        let ends = request
            .ends_at
            .map(|at| at.unix_timestamp().to_string())
            .unwrap_or_default();
        let reviewed = self
            .review()
            .and_then(|review| review.reviewed.as_ref())
            .map_or("", |review| review.outcome.as_str());
        format!(
            "{}:{}:{ends}:{}:{reviewed}",
            request.status().as_str(),
            request.approvals.len(),
            request.is_ending()
        )
    }

    /// The review of a break-glass use, if this request is one.
    pub fn review(&self) -> Option<&'a BreakGlassReview> {
        self.request.break_glass.as_ref()
    }

    /// A break-glass use still waiting for its review.
    pub fn awaits_review(&self) -> bool {
        self.review().is_some_and(BreakGlassReview::is_pending)
    }

    /// Whether the named approvers (or, for a break-glass use, its reviewers) still have
    /// something to do: they get direct copies of the approval message then.
    pub fn awaits_approvers(&self) -> bool {
        self.request.status() == RequestStatus::Pending || self.awaits_review()
    }

    /// How many threaded reminders the workflow has asked for so far: approval reminders,
    /// and escalations of an unreviewed break-glass use.
    pub fn reminders_due(&self) -> u32 {
        self.request.reminders_sent + self.review().map_or(0, |review| review.escalations)
    }

    pub fn progress(&self) -> Progress {
        Progress {
            approved: self.request.approvals.len(),
            required: self.request.required_approvals.max(1),
        }
    }

    /// Whether the approval message shows progress (`1 of 2`): when more than one approval
    /// is needed or some were given.
    pub fn shows_progress(&self) -> bool {
        self.request.required_approvals > 1 || !self.request.approvals.is_empty()
    }

    /// The approvers who have not approved yet.
    pub fn awaited(&self) -> Vec<&'a Email> {
        let request = self.request;
        request
            .approvers
            .iter()
            .filter(|email| !request.has_approval_from(email))
            .collect()
    }

    /// The buttons `reader` gets now.
    pub fn controls(&self, reader: Reader) -> &'static [Control] {
        let status = self.request.status();
        match reader {
            Reader::Approvers if self.awaits_review() => &[Control::Acknowledge, Control::Flag],
            Reader::Approvers => match status {
                RequestStatus::Pending => &[Control::Approve, Control::Deny],
                _ => &[],
            },
            Reader::Requester => match status {
                RequestStatus::Pending => &[Control::Cancel],
                RequestStatus::Active if self.request.is_ending() => &[],
                RequestStatus::Active => &[Control::EndAccess, Control::Extend],
                RequestStatus::Approved
                    if self
                        .grant
                        .is_some_and(|grant| grant.status() == GrantStatus::Scheduled) =>
                {
                    &[Control::CallOff]
                }
                _ => &[],
            },
        }
    }
}
