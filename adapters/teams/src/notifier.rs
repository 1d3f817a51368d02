//! The `teams` notifier: the core's notice driver over Teams' surface (`surface.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::conversation::NoticeDriver;
use liftgate_gateway::domain::ActivitySummary;
use liftgate_gateway::ports::{DriftNotice, Notice, Notifier, NotifyError};

use crate::bot::Bot;

#[derive(Debug)]
pub(crate) struct TeamsNotifier {
    driver: NoticeDriver<Bot>,
}

impl TeamsNotifier {
    pub(crate) fn new(bot: Arc<Bot>) -> TeamsNotifier {
        let service = bot.service.clone();
        TeamsNotifier {
            driver: NoticeDriver::new(bot, service),
        }
    }
}

#[async_trait]
impl Notifier for TeamsNotifier {
    fn name(&self) -> &'static str {
        "teams"
    }

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        self.driver.deliver(notice).await
    }

    async fn drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        self.driver.drift(notice).await
    }

    async fn activity_summary(&self, summary: &ActivitySummary) -> Result<(), NotifyError> {
        self.driver.activity_summary(summary).await
    }
}
