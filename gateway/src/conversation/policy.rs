//! Who hears what, and when: decided once for every chat platform (docs/reference.md §9,
//! "Who is told what").
//!
//! - Every request, including one the rules refused outright (`no_statements`,
//!   `requester_not_allowed`, `no_approvers`), is shown on an approval message in the
//!   approvals channel, so attempts are visible where the approvers are. A repeated refusal
//!   within the hour (`quiet`) is told to the requester only.
//! - The requester hears of each new step on the platform they asked from; requests from the
//!   webhook API or a terminal are followed on every chat platform that knows the requester.
//! - Reminders go in the approval message's thread while the request is pending.
//! - A break-glass use is loud: its approval message goes to the channel and to every
//!   reviewer directly (with Acknowledge / Flag), and each escalation of an unreviewed use is
//!   a reminder in the thread and a direct message to every reviewer again.
//! - Drift findings and activity summaries go to the approvals channel (the summary in the
//!   approval message's thread when there is one).

use crate::domain::{Channel, RequestStatus};
use crate::ports::{Notice, NoticeKind};

/// What one notice makes a platform do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticePlan {
    /// Post or update the approval message.
    pub approval_message: bool,
    /// Post a reminder in the approval message's thread.
    pub reminder: bool,
    /// Tell the requester (a new message when the step changed, else a refresh).
    pub requester: bool,
}

/// The plan for `notice` on the chat platform `platform`.
pub fn plan(notice: &Notice, platform: Channel) -> NoticePlan {
    let request = &notice.request;
    let requester = requester_follows_on(request.channel, platform)
        && matches!(notice.kind, NoticeKind::Created | NoticeKind::Updated);
    if request.quiet {
        return NoticePlan {
            approval_message: false,
            reminder: false,
            requester,
        };
    }
    NoticePlan {
        approval_message: true,
        reminder: match notice.kind {
            NoticeKind::Reminder => request.status() == RequestStatus::Pending,
            NoticeKind::ReviewOverdue => request
                .break_glass
                .as_ref()
                .is_some_and(|review| review.is_pending()),
            NoticeKind::Created | NoticeKind::Updated => false,
        },
        requester,
    }
}

/// Whether a requester who asked on `asked_on` is told about their request on `platform`.
pub fn requester_follows_on(asked_on: Channel, platform: Channel) -> bool {
    match asked_on {
        Channel::Slack | Channel::Teams => asked_on == platform,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requesters_follow_their_request_where_they_asked() {
        assert!(requester_follows_on(Channel::Slack, Channel::Slack));
        assert!(!requester_follows_on(Channel::Slack, Channel::Teams));
        assert!(!requester_follows_on(Channel::Teams, Channel::Slack));
        assert!(requester_follows_on(Channel::Webhook, Channel::Teams));
        assert!(requester_follows_on(Channel::Webhook, Channel::Slack));
    }
}
