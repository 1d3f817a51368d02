//! Whether the Slack app is still installed. Slack's `app_uninstalled` and `tokens_revoked`
//! events say it is not: Liftgate then alerts (error log, `liftgate_slack_installed` 0) and
//! stops calling Slack with the dead token; notices wait in the outbox. Reinstalling may keep
//! the same bot token, so while uninstalled `auth.test` is asked at most once a minute and a
//! success resumes the work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use liftgate_gateway::metrics::Metrics;
use liftgate_gateway::ports::{Clock, NotifyError};
use time::OffsetDateTime;

use crate::api::SlackApi;

const PROBE_INTERVAL: Duration = Duration::from_secs(60);
const GAUGE: &str = "liftgate_slack_installed";

#[derive(Debug)]
pub(crate) struct Installation {
    uninstalled: AtomicBool,
    last_probe: std::sync::Mutex<Option<OffsetDateTime>>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl Installation {
    pub(crate) fn new(clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Installation {
        metrics.set_gauge(GAUGE, 1.0);
        Installation {
            uninstalled: AtomicBool::new(false),
            last_probe: std::sync::Mutex::new(None),
            clock,
            metrics,
        }
    }

    /// Slack said the app was uninstalled or its bot token revoked.
    pub(crate) fn lost(&self, event: &str) {
        self.uninstalled.store(true, Ordering::SeqCst);
        *self
            .last_probe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.clock.now());
        self.metrics.set_gauge(GAUGE, 0.0);
        tracing::error!(
            event,
            "The Slack app was uninstalled or its bot token revoked: Slack notices wait in the outbox until it is reinstalled (or slack.bot_token is replaced)."
        );
    }

    /// Fails fast while the app is uninstalled, asking Slack again at most once a minute.
    pub(crate) async fn check(&self, api: &SlackApi) -> Result<(), NotifyError> {
        if !self.uninstalled.load(Ordering::SeqCst) {
            return Ok(());
        }
        let now = self.clock.now();
        {
            let mut last = self
                .last_probe
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| now - at < PROBE_INTERVAL && at <= now) {
                return Err(NotifyError::Retryable(
                    "the Slack app is uninstalled; waiting for it to be reinstalled".to_owned(),
                ));
            }
            *last = Some(now);
        }
        match api.auth_test().await {
            Ok(_) => {
                self.uninstalled.store(false, Ordering::SeqCst);
                self.metrics.set_gauge(GAUGE, 1.0);
                tracing::info!("The Slack app works again; delivering the notices that waited.");
                Ok(())
            }
            Err(error) => Err(NotifyError::Retryable(format!(
                "the Slack app is still uninstalled: {error}"
            ))),
        }
    }
}
