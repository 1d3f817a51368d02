//! The `teams` notifier: shows every request (from any channel) on its approval card and
//! tells its requester, rendering the request's current state each time, so a notice
//! delivered twice changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::domain::RequestStatus;
use liftgate_gateway::ports::{Notice, NoticeKind, Notifier, NotifyError};
use liftgate_policy::Decision;

use crate::bot::Bot;

/// One delivery at a time posts a request's cards (renewed while it runs).
const CARD_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct TeamsNotifier {
    bot: Arc<Bot>,
}

impl TeamsNotifier {
    pub(crate) fn new(bot: Arc<Bot>) -> TeamsNotifier {
        TeamsNotifier { bot }
    }

    async fn deliver(&self, notice: &Notice) -> Result<(), NotifyError> {
        let request = &notice.request;
        let grant = notice.grant.as_ref();
        // A request the rules refused outright never needed an approver: only its requester
        // hears of it. Everything else, granted at once or not, is shown to the approvers.
        let refused_by_rules = matches!(
            request.decision,
            Decision::NoStatements | Decision::RequesterNotAllowed | Decision::NoApprovers
        );
        let approval = if refused_by_rules {
            Ok(())
        } else {
            self.bot.show_approval_card(request, grant).await
        };
        let reminder = match (&approval, notice.kind) {
            (Ok(()), NoticeKind::Reminder) if request.status() == RequestStatus::Pending => {
                self.bot.remind_approvers(request).await
            }
            _ => Ok(()),
        };
        let requester = match notice.kind {
            NoticeKind::Created | NoticeKind::Updated => {
                self.bot.tell_requester(request, grant).await
            }
            NoticeKind::Reminder => Ok(()),
        };
        let results = [approval, reminder];
        if let Some(retry) = results
            .iter()
            .chain(std::iter::once(&requester))
            .find_map(|result| match result {
                Err(NotifyError::Retryable(message)) => Some(message.clone()),
                _ => None,
            })
        {
            return Err(NotifyError::Retryable(retry));
        }
        for result in results {
            result?;
        }
        if let Err(error) = requester {
            // The requester blocked the bot or left: the approval card still did its job.
            tracing::warn!(request_id = %request.id, %error, "Could not tell the requester in Teams.");
        }
        Ok(())
    }
}

#[async_trait]
impl Notifier for TeamsNotifier {
    fn name(&self) -> &'static str {
        "teams"
    }

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        let lease = format!("teams.cards:{}", notice.request.id);
        let delivered = self
            .bot
            .service
            .leases()
            .with_lease(&lease, CARD_LEASE, std::time::Duration::ZERO, |_| {
                self.deliver(notice)
            })
            .await
            .map_err(|error| NotifyError::Retryable(error.to_string()))?;
        delivered.unwrap_or_else(|| {
            Err(NotifyError::Retryable(
                "another delivery is updating this request's Teams cards".to_owned(),
            ))
        })
    }

    async fn activity_summary(
        &self,
        summary: &liftgate_gateway::domain::ActivitySummary,
    ) -> Result<(), NotifyError> {
        self.bot.post_activity_summary(summary).await
    }
}
