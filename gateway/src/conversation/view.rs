//! What a message about a request shows, decided once for every chat platform: the step the
//! requester was last told about, the approval progress, who is still awaited, and which
//! buttons apply to whom. Renderers turn this into Block Kit or Adaptive Cards; they never
//! decide which buttons a request offers.

use liftgate_policy::Email;

use crate::domain::{AccessRequest, Grant, GrantStatus, RequestStatus};

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
        format!(
            "{}:{}:{ends}:{}",
            request.status().as_str(),
            request.approvals.len(),
            request.is_ending()
        )
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
