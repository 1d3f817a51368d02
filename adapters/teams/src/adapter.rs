//! The adapter the composition root builds: it checks the `teams` settings, wires the
//! authenticator, the Connector client and the bot, and hands out the route and notifier.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use async_trait::async_trait;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::TeamsSettings;
use liftgate_gateway::http::RouteProvider;
use liftgate_gateway::ports::{InboxHandler, Notifier};
use liftgate_gateway::workflow::AccessService;

use crate::TeamsError;
use crate::auth::{BotAuthenticator, KeyCache};
use crate::bot::Bot;
use crate::bot::inbox::TeamsInbox;
use crate::connector::{Connector, RetryPolicy, ServiceUrlPolicy, TokenClient, is_loopback};
use crate::notifier::TeamsNotifier;
use crate::references::References;

/// Waits between retries of a throttled Connector call. Tests inject one that records the
/// wait and returns at once.
#[async_trait]
pub trait Pause: Send + Sync + std::fmt::Debug {
    async fn pause(&self, duration: Duration);
}

/// Sleeps on the Tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioPause;

#[async_trait]
impl Pause for TokioPause {
    async fn pause(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Tuning that is not configuration: the defaults suit production.
#[derive(Debug, Clone)]
pub struct TeamsOptions {
    /// How long a card click waits for the workflow before answering "working on it"
    /// (Teams allows an invoke about five seconds).
    pub invoke_timeout: Duration,
    /// Timeout of every outbound HTTP call.
    pub http_timeout: Duration,
    /// Attempts per Connector call on 429/412/502/504, the first included.
    pub retry_attempts: u32,
    /// First backoff without `Retry-After`; doubles per attempt, with jitter.
    pub base_backoff: Duration,
    /// Longest `Retry-After` honoured inline; longer ones fail the call (the outbox retries).
    pub max_retry_after: Duration,
    pub pause: Arc<dyn Pause>,
}

impl Default for TeamsOptions {
    fn default() -> Self {
        TeamsOptions {
            invoke_timeout: Duration::from_secs(4),
            http_timeout: Duration::from_secs(10),
            retry_attempts: 4,
            base_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
            pause: Arc::new(TokioPause),
        }
    }
}

/// The Teams channel: `POST /teams/messages` and the `teams` notifier.
#[derive(Debug)]
pub struct TeamsAdapter {
    bot: Arc<Bot>,
}

fn config_error(key: &'static str, message: impl Into<String>) -> TeamsError {
    TeamsError::Config {
        key,
        message: message.into(),
    }
}

/// An endpoint the secret or trust depends on: `https`, or `http` only to this machine.
fn check_endpoint(key: &'static str, value: &str) -> Result<(), TeamsError> {
    let url = url::Url::parse(value)
        .map_err(|error| config_error(key, format!("{value:?} is not a URL: {error}")))?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.scheme() {
        _ if host.is_empty() => Err(config_error(key, format!("{value:?} has no host"))),
        "https" => Ok(()),
        "http" if is_loopback(&host) => Ok(()),
        _ => Err(config_error(key, format!("{value:?} must be an https URL"))),
    }
}

impl TeamsAdapter {
    pub fn new(
        settings: TeamsSettings,
        service: AccessService,
    ) -> Result<Arc<TeamsAdapter>, TeamsError> {
        TeamsAdapter::with_options(settings, service, TeamsOptions::default())
    }

    pub fn with_options(
        settings: TeamsSettings,
        service: AccessService,
        options: TeamsOptions,
    ) -> Result<Arc<TeamsAdapter>, TeamsError> {
        for (key, value) in [
            ("app_id", &settings.app_id),
            ("tenant_id", &settings.tenant_id),
            (
                "approvals_conversation_id",
                &settings.approvals_conversation_id,
            ),
        ] {
            if value.trim().is_empty() {
                return Err(config_error(key, "must not be empty"));
            }
        }
        if settings.app_password.is_empty() {
            return Err(config_error("app_password", "must not be empty"));
        }
        let token_url = settings.effective_token_url();
        check_endpoint("token_url", &token_url)?;
        check_endpoint("openid_metadata_url", &settings.openid_metadata_url)?;
        let service_urls = ServiceUrlPolicy::new(&settings.allowed_service_url_hosts);
        service_urls
            .check(&settings.service_url)
            .map_err(|message| config_error("service_url", message))?;

        // No redirects: a bearer token must never follow one to another host.
        let http = reqwest::Client::builder()
            .timeout(options.http_timeout)
            .connect_timeout(options.http_timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| TeamsError::HttpClient(error.to_string()))?;
        let clock = service.clock().clone();
        let keys = KeyCache::new(
            http.clone(),
            settings.openid_metadata_url.clone(),
            clock.clone(),
        );
        let auth = BotAuthenticator::new(
            keys,
            settings.app_id.clone(),
            settings.tenant_id.clone(),
            clock.clone(),
            service_urls.clone(),
        );
        let tokens = TokenClient::new(
            http.clone(),
            token_url,
            settings.app_id.clone(),
            settings.app_password.clone(),
            clock,
        );
        let retry = RetryPolicy {
            max_attempts: options.retry_attempts.max(1),
            base_backoff: options.base_backoff,
            max_retry_after: options.max_retry_after,
        };
        let connector = Connector::new(http, tokens, service_urls, retry, options.pause.clone());
        let bot = Bot {
            refs: References::new(service.documents()),
            service,
            connector,
            auth,
            app_id: settings.app_id,
            tenant_id: settings.tenant_id,
            allow_guests: settings.allow_guests,
            approvals_conversation_id: settings.approvals_conversation_id,
            default_service_url: settings.service_url,
            invoke_timeout: options.invoke_timeout,
        };
        Ok(Arc::new(TeamsAdapter { bot: Arc::new(bot) }))
    }
}

#[async_trait]
impl ChannelAdapter for TeamsAdapter {
    fn name(&self) -> &'static str {
        "teams"
    }

    fn routes(self: Arc<Self>) -> Option<Arc<dyn RouteProvider>> {
        Some(Arc::new(TeamsRoutes {
            bot: self.bot.clone(),
        }))
    }

    fn notifier(self: Arc<Self>) -> Option<Arc<dyn Notifier>> {
        Some(Arc::new(TeamsNotifier::new(self.bot.clone())))
    }

    fn inbox(self: Arc<Self>) -> Option<Arc<dyn InboxHandler>> {
        Some(Arc::new(TeamsInbox::new(self.bot.service.clone())))
    }
}

/// `POST /teams/messages`, the Azure Bot's messaging endpoint, and the privacy and terms
/// pages the app manifest links to.
struct TeamsRoutes {
    bot: Arc<Bot>,
}

impl RouteProvider for TeamsRoutes {
    fn configure(&self, config: &mut web::ServiceConfig) {
        config.service(
            web::resource("/teams/messages")
                .app_data(web::Data::new(self.bot.clone()))
                .route(web::post().to(messages)),
        );
        config.service(web::resource("/teams/privacy").route(web::get().to(crate::pages::privacy)));
        config.service(web::resource("/teams/terms").route(web::get().to(crate::pages::terms)));
    }
}

async fn messages(
    bot: web::Data<Arc<Bot>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let authorization = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    bot.handle(authorization, &body).await
}
