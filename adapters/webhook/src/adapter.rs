//! The webhook channel as the composition root sees it.

use std::sync::Arc;

use actix_web::web;
use async_trait::async_trait;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::WebhookSettings;
use liftgate_gateway::http::RouteProvider;
use liftgate_gateway::ports::Notifier;
use liftgate_gateway::workflow::AccessService;

use crate::auth::Clients;
use crate::routes::{ApiState, WebhookRoutes};
use crate::setup::WebhookSetupError;
use crate::subscribers::SubscriberNotifier;

/// How long one delivery to a subscriber may take before it counts as an outage.
pub const DEFAULT_DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The signed webhook API (routes under `/api/v1`) and, when subscribers are configured, the
/// notifier that sends them every lifecycle event.
#[derive(Debug)]
pub struct WebhookAdapter {
    routes: WebhookRoutes,
    notifier: Option<Arc<SubscriberNotifier>>,
}

impl WebhookAdapter {
    /// Builds the channel from `webhook` settings, with [`DEFAULT_DELIVERY_TIMEOUT`].
    ///
    /// # Errors
    /// When a client or subscriber is misconfigured (see [`WebhookSetupError`]).
    pub fn new(
        settings: &WebhookSettings,
        service: AccessService,
    ) -> Result<WebhookAdapter, WebhookSetupError> {
        WebhookAdapter::with_delivery_timeout(settings, service, DEFAULT_DELIVERY_TIMEOUT)
    }

    /// As [`WebhookAdapter::new`], with another bound on each outbound delivery.
    ///
    /// # Errors
    /// When a client or subscriber is misconfigured (see [`WebhookSetupError`]).
    pub fn with_delivery_timeout(
        settings: &WebhookSettings,
        service: AccessService,
        delivery_timeout: std::time::Duration,
    ) -> Result<WebhookAdapter, WebhookSetupError> {
        let clients = Clients::new(&settings.clients)?;
        let notifier = if settings.subscribers.is_empty() {
            None
        } else {
            let clock = Arc::clone(service.clock());
            Some(Arc::new(SubscriberNotifier::new(
                &settings.subscribers,
                clock,
                delivery_timeout,
            )?))
        };
        let state = web::Data::new(ApiState { service, clients });
        Ok(WebhookAdapter {
            routes: WebhookRoutes::new(state),
            notifier,
        })
    }

    /// Whether [`ChannelAdapter::notifier`] gives a notifier; the composition root lists the
    /// `webhook` outbox topic in the workflow's notifiers exactly then.
    pub fn has_subscribers(&self) -> bool {
        self.notifier.is_some()
    }
}

#[async_trait]
impl ChannelAdapter for WebhookAdapter {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn routes(self: Arc<Self>) -> Option<Arc<dyn RouteProvider>> {
        Some(Arc::new(self.routes.clone()))
    }

    fn notifier(self: Arc<Self>) -> Option<Arc<dyn Notifier>> {
        self.notifier
            .clone()
            .map(|notifier| notifier as Arc<dyn Notifier>)
    }
}
