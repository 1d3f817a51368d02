//! The Slack channel's [`Notifier`]: the core's notice driver over Slack's surface
//! (`surface.rs`), after checking the app is still installed.

use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::conversation::NoticeDriver;
use liftgate_gateway::domain::ActivitySummary;
use liftgate_gateway::ports::{DriftNotice, Notice, Notifier, NotifyError};

use crate::adapter::SlackAdapter;

/// The Slack channel's [`Notifier`].
#[derive(Debug)]
pub struct SlackNotifier {
    driver: NoticeDriver<SlackAdapter>,
}

impl SlackNotifier {
    pub fn new(adapter: Arc<SlackAdapter>) -> SlackNotifier {
        let service = adapter.service.clone();
        SlackNotifier {
            driver: NoticeDriver::new(adapter, service),
        }
    }

    async fn installed(&self) -> Result<(), NotifyError> {
        let adapter = self.driver.surface();
        adapter.installation.check(&adapter.api).await
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    fn name(&self) -> &'static str {
        "slack"
    }

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        self.installed().await?;
        self.driver.deliver(notice).await
    }

    async fn drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        self.installed().await?;
        self.driver.drift(notice).await
    }

    async fn activity_summary(&self, summary: &ActivitySummary) -> Result<(), NotifyError> {
        self.installed().await?;
        self.driver.activity_summary(summary).await
    }
}
