//! The inbox: work a channel acked to its platform before doing it (Slack wants an answer
//! within 3 seconds; Teams a few more). The channel records the work as an outbox row on the
//! `inbox:<channel>` topic, due only after a grace period, acks, and runs the work at once,
//! keeping the row's due time ahead of it while it runs and deleting the row when done. If
//! the replica dies first, the row falls due and the outbox dispatcher of any replica hands
//! it back to the channel's [`InboxHandler`]. Recorded work is therefore done at least once;
//! the channels make it idempotent (decisions are, and creates carry an idempotency key).

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use super::AccessService;
use crate::ports::{Clock, OutboxMessage, StateStore};

pub const INBOX_TOPIC_PREFIX: &str = "inbox:";

/// How long recorded work waits for its runner before another replica may resume it. A kill
/// -9 delays the work by about this much; a live runner renews it well before.
pub const INBOX_GRACE: time::Duration = time::Duration::seconds(30);

/// How often a runner pushes its row's due time ahead while the work runs.
const INBOX_RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Work this old is abandoned: a click from yesterday means nothing to its author any more.
pub const INBOX_MAX_AGE: time::Duration = time::Duration::days(1);

/// A recorded piece of acked work; [`AccessService::run_acked`] finishes it.
#[derive(Debug)]
#[must_use = "recorded work must be run, or it is resumed by another replica"]
pub struct AckedWork {
    id: uuid::Uuid,
    channel: &'static str,
}

impl AccessService {
    /// Records work `channel` is about to ack. `None` when the store refused: the work still
    /// runs, but a crash before it finishes loses it (logged and counted).
    pub async fn record_acked(
        &self,
        channel: &'static str,
        work: &impl Serialize,
    ) -> Option<AckedWork> {
        let payload = match serde_json::to_value(work) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(channel, %error, "Acked work could not be recorded: it does not serialise.");
                return None;
            }
        };
        let now = self.now();
        let message = OutboxMessage {
            id: uuid::Uuid::new_v4(),
            topic: format!("{INBOX_TOPIC_PREFIX}{channel}"),
            payload,
            created_at: now,
            attempts: 0,
            not_before: Some(now + INBOX_GRACE),
        };
        let id = message.id;
        let batch = crate::ports::WriteBatch {
            outbox: vec![message],
            ..crate::ports::WriteBatch::default()
        };
        match self.deps.store.commit(batch).await {
            Ok(()) => Some(AckedWork { id, channel }),
            Err(error) => {
                self.deps
                    .metrics
                    .inc("liftgate_inbox_unrecorded_total", &[("channel", channel)]);
                tracing::error!(channel, %error, "Acked work could not be recorded; running it without a safety net.");
                None
            }
        }
    }

    /// Runs recorded work, holding its inbox row off other replicas meanwhile, then deletes
    /// the row. Without a record, just runs it.
    pub async fn run_acked<F: Future>(&self, recorded: Option<AckedWork>, work: F) -> F::Output {
        let Some(recorded) = recorded else {
            return work.await;
        };
        let output = hold_row(&self.deps.store, &self.deps.clock, recorded.id, work).await;
        if let Err(error) = self.deps.store.complete_outbox(recorded.id).await {
            // The row falls due later and the work runs again; it is idempotent.
            tracing::warn!(channel = recorded.channel, %error, "Could not clear finished acked work; it will run again.");
        }
        output
    }
}

/// Runs `work`, pushing the due time of outbox row `id` ahead every few seconds so no other
/// replica takes it while this one is still at it.
pub(crate) async fn hold_row<F: Future>(
    store: &Arc<dyn StateStore>,
    clock: &Arc<dyn Clock>,
    id: uuid::Uuid,
    work: F,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    let mut renew = tokio::time::interval(INBOX_RENEW_EVERY);
    renew.tick().await;
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = renew.tick() => {
                let due = clock.now() + INBOX_GRACE;
                if let Err(error) = store.retry_outbox(id, due, "still running").await {
                    tracing::warn!(%error, "Could not extend running acked work; another replica may run it too.");
                }
            }
        }
    }
}
