//! The `teams` notifier: shows every request (from any channel) on its approval card and
//! tells its requester, rendering the request's current state each time, so a notice
//! delivered twice changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::domain::RequestStatus;
use liftgate_gateway::ports::{Notice, NoticeKind, Notifier, NotifyError};
use liftgate_policy::Decision;

use crate::bot::Bot;
use crate::bot::proactive::store_error;

/// One replica at a time posts a request's cards; a lease left by a crashed replica expires.
const CARD_LEASE: time::Duration = time::Duration::seconds(60);

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
            (Ok(()), NoticeKind::Reminder) if request.status == RequestStatus::Pending => {
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
        let store = self.bot.service.store();
        let lease = format!("teams.cards:{}", notice.request.id);
        let now = self.bot.service.clock().now();
        if !store
            .try_lease(&lease, &self.bot.owner, now, now + CARD_LEASE)
            .await
            .map_err(store_error)?
        {
            return Err(NotifyError::Retryable(
                "another replica is updating this request's Teams cards".to_owned(),
            ));
        }
        let result = self.deliver(notice).await;
        if let Err(error) = store.release_lease(&lease, &self.bot.owner).await {
            tracing::warn!(%error, "Could not release a Teams card lease.");
        }
        result
    }
}
