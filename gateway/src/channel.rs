//! How a channel (Slack, Teams, the webhook API) plugs into the gateway. The composition root
//! builds each enabled adapter with an [`crate::workflow::AccessService`] and collects its
//! routes, its notifier and its background work.

use std::sync::Arc;

use async_trait::async_trait;

use crate::http::RouteProvider;
use crate::ports::{InboxHandler, Notifier};

#[async_trait]
pub trait ChannelAdapter: Send + Sync {
    /// Also the notifier's outbox topic suffix: `slack`, `teams`, `webhook`.
    fn name(&self) -> &'static str;

    /// HTTP routes, if the channel receives calls over HTTP.
    fn routes(self: Arc<Self>) -> Option<Arc<dyn RouteProvider>>;

    /// The notifier, if the channel shows requests to people (or to subscribers).
    fn notifier(self: Arc<Self>) -> Option<Arc<dyn Notifier>>;

    /// What resumes this channel's acked work after a replica died running it, if the
    /// channel records any (see [`crate::workflow::AccessService::record_acked`]).
    fn inbox(self: Arc<Self>) -> Option<Arc<dyn InboxHandler>> {
        None
    }

    /// Long-running work such as a Socket Mode connection. Returns once `shutdown` is true.
    async fn run(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let _ = shutdown;
    }
}
