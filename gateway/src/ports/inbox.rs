use async_trait::async_trait;

/// Work a channel acked to its platform (a click, a submitted form) and recorded in the
/// store's inbox before running it. A replica that finds such a row still there after its
/// runner's grace period (the runner died) hands it back to the channel here.
#[async_trait]
pub trait InboxHandler: Send + Sync + std::fmt::Debug {
    /// The channel whose work this handler resumes: `slack`, `teams`.
    fn channel(&self) -> &'static str;

    /// Runs the recorded work again. It must be idempotent: the first runner may have done
    /// part or all of it before dying.
    async fn resume(&self, work: serde_json::Value) -> Result<(), InboxError>;
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// Try again later (an outage, a rate limit).
    #[error("acked work could not run now: {0}")]
    Retryable(String),
    /// This version cannot read the recorded work; it is kept for one that can.
    #[error("acked work is unreadable: {0}")]
    Unreadable(String),
}
