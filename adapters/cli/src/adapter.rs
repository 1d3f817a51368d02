//! The CLI channel as the composition root sees it.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::web;
use async_trait::async_trait;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::CliSettings;
use liftgate_gateway::http::{RouteProvider, check_outbound_url};
use liftgate_gateway::ports::Notifier;
use liftgate_gateway::workflow::AccessService;

use crate::auth::Authenticator;
use crate::proof::StsTarget;
use crate::routes::{CliRoutes, CliState};
use crate::sts::Sts;

/// Why the channel could not be built (check-config reports the same problems by key).
#[derive(Debug, thiserror::Error)]
pub enum CliSetupError {
    #[error("cli.sts_endpoint {endpoint:?} {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("cli.server_id must be set")]
    NoServerId,
    #[error("the HTTP client for STS could not be built: {0}")]
    Client(String),
}

/// `liftgate request` from a terminal: routes under `/cli/v1`, no notifier (the person at the
/// terminal asks for the status; approvers are told through the chat channels as always).
#[derive(Debug)]
pub struct CliAdapter {
    routes: CliRoutes,
}

impl CliAdapter {
    /// Builds the channel from the `cli` settings; `aws_region` gives the default STS
    /// endpoint and signing region.
    ///
    /// # Errors
    /// When the endpoint is not an allowed outbound URL or the server id is empty.
    pub fn new(
        settings: &CliSettings,
        aws_region: &str,
        service: AccessService,
    ) -> Result<CliAdapter, CliSetupError> {
        let endpoint = settings.effective_sts_endpoint(aws_region);
        let url = check_outbound_url(&endpoint).map_err(|error| CliSetupError::Endpoint {
            endpoint: endpoint.clone(),
            reason: error.to_string(),
        })?;
        if url.path() != "/" || url.query().is_some() {
            return Err(CliSetupError::Endpoint {
                endpoint,
                reason: "must be a bare scheme, host and port".to_owned(),
            });
        }
        let server_id = settings.server_id.trim();
        if server_id.is_empty() {
            return Err(CliSetupError::NoServerId);
        }
        let sts = Sts::new(StsTarget {
            endpoint: url,
            region: settings.effective_sts_region(aws_region),
        })
        .map_err(|error| CliSetupError::Client(error.to_string()))?;
        let auth = Authenticator {
            sts,
            server_id: server_id.to_owned(),
            allowed_accounts: settings
                .allowed_accounts
                .iter()
                .map(|account| account.trim().to_owned())
                .collect::<BTreeSet<_>>(),
            attribute: settings.user_attribute,
        };
        let state = web::Data::new(CliState { service, auth });
        Ok(CliAdapter {
            routes: CliRoutes::new(state),
        })
    }
}

#[async_trait]
impl ChannelAdapter for CliAdapter {
    fn name(&self) -> &'static str {
        "cli"
    }

    fn routes(self: Arc<Self>) -> Option<Arc<dyn RouteProvider>> {
        Some(Arc::new(self.routes.clone()))
    }

    fn notifier(self: Arc<Self>) -> Option<Arc<dyn Notifier>> {
        None
    }
}
