//! The Slack channel as the composition root sees it: built from `slack` settings and the
//! workflow, it contributes routes, a notifier and (in Socket Mode) a connection to run.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use liftgate_gateway::channel::ChannelAdapter;
use liftgate_gateway::config::SlackSettings;
use liftgate_gateway::http::RouteProvider;
use liftgate_gateway::ports::{InboxHandler, Notifier};
use liftgate_gateway::workflow::AccessService;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiConfig, RetryPolicy, SlackApi, TokenOwner};
use crate::http::SlackRoutes;
use crate::inbox::SlackInbox;
use crate::installation::Installation;
use crate::notifier::SlackNotifier;
use crate::people::{Membership, People};
use crate::sessions::FormSessions;

/// The adapter's configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("slack.{key}: {problem}")]
    Config { key: &'static str, problem: String },
}

/// Tunables that are not part of the config file: timeouts and retry pacing. Tests shorten them.
#[derive(Debug, Clone)]
pub struct SlackOptions {
    pub retry: RetryPolicy,
    /// Longest one Web API call may take.
    pub http_timeout: Duration,
    /// How long a Slack user's email (and an email's Slack user) is trusted without asking again.
    pub identity_cache_ttl: Duration,
    /// How long the Slack user found for an email is reused for mentions and direct messages.
    pub lookup_cache_ttl: Duration,
    /// Time allowed to compute an answer that must go back inside Slack's 3-second ack
    /// (option loads); past it, an empty answer is sent.
    pub ack_budget: Duration,
    /// First wait before reconnecting a dropped Socket Mode connection; doubles up to a minute.
    pub reconnect_delay: Duration,
    /// How often the Socket Mode connection is pinged to notice a dead link.
    pub ping_interval: Duration,
    /// How long `run` waits for handlers still working after shutdown is asked.
    pub drain_timeout: Duration,
}

impl Default for SlackOptions {
    fn default() -> Self {
        SlackOptions {
            retry: RetryPolicy::default(),
            http_timeout: Duration::from_secs(10),
            identity_cache_ttl: Duration::from_secs(60),
            lookup_cache_ttl: Duration::from_secs(600),
            ack_budget: Duration::from_millis(2500),
            reconnect_delay: Duration::from_secs(1),
            ping_interval: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Where to tell a person something that is only for them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reply {
    /// An ephemeral message in the conversation they acted in, falling back to a DM.
    Ephemeral(String),
    /// A direct message from the bot.
    Direct,
}

/// Handler work still running after its ack: bounded in concurrency and in number (see
/// `slack.work_concurrency`, `slack.work_queue`), counted so tests and shutdown can wait for
/// it, and abortable as a crash would.
///
/// The tasks are detached and cancelled through a token rather than kept in a `JoinSet`: a
/// set keeps every finished task's allocation (as large as its whole future, tens of KiB for
/// a form) until it is joined, so after a burst up to `slack.work_queue` finished tasks stayed
/// resident until the next piece of work reaped them (README "Performance", "Under load").
#[derive(Debug)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
    permits: Arc<tokio::sync::Semaphore>,
    limit: usize,
    /// Cancelled by [`SlackAdapter::abandon_in_flight`], then replaced, so later work runs.
    abandon: Mutex<CancellationToken>,
}

impl InFlight {
    fn new(concurrency: u32, queue: u32) -> InFlight {
        InFlight {
            count: AtomicUsize::new(0),
            idle: Notify::new(),
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1) as usize)),
            limit: queue.max(concurrency).max(1) as usize,
            abandon: Mutex::new(CancellationToken::new()),
        }
    }
}

/// How long after-ack work may wait for its turn: a `views.open` trigger is worthless 3 s
/// after Slack sent it, so such work is dropped rather than run late.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expiry {
    Never,
    WithTrigger,
}

/// Slack's trigger ids expire 3 s after the interaction.
const TRIGGER_LIFETIME: Duration = Duration::from_secs(3);

/// The Slack channel.
pub struct SlackAdapter {
    pub(crate) settings: SlackSettings,
    pub(crate) service: AccessService,
    pub(crate) api: Arc<SlackApi>,
    pub(crate) people: People,
    pub(crate) forms: FormSessions,
    pub(crate) options: SlackOptions,
    pub(crate) installation: Installation,
    in_flight: InFlight,
    recent_envelopes: Mutex<VecDeque<String>>,
}

impl std::fmt::Debug for SlackAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackAdapter")
            .field("channel_id", &self.settings.channel_id)
            .field("socket_mode", &self.settings.socket_mode)
            .finish_non_exhaustive()
    }
}

fn config_error(key: &'static str, problem: impl Into<String>) -> SlackError {
    SlackError::Config {
        key,
        problem: problem.into(),
    }
}

/// Who may act: `slack.team_id` / `slack.enterprise_id` when set (each must look like Slack's
/// `T…` / `E…` ids), else the bot token's workspace.
fn membership(settings: &SlackSettings) -> Result<Membership, SlackError> {
    let id = |key: &'static str, value: &Option<String>, prefix: char| {
        let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
        match value {
            Some(v) if !v.starts_with(prefix) || !v.chars().all(|c| c.is_ascii_alphanumeric()) => {
                Err(config_error(
                    key,
                    format!("{v:?} is not a Slack id (it starts with {prefix})"),
                ))
            }
            other => Ok(other.map(str::to_owned)),
        }
    };
    let team_id = id("team_id", &settings.team_id, 'T')?;
    let enterprise_id = id("enterprise_id", &settings.enterprise_id, 'E')?;
    let configured = (team_id.is_some() || enterprise_id.is_some()).then_some(TokenOwner {
        team_id,
        enterprise_id,
    });
    Ok(Membership {
        configured,
        allow_guests: settings.allow_guests,
        allow_unconfirmed_emails: settings.allow_unconfirmed_emails,
    })
}

impl SlackAdapter {
    /// Builds the adapter with default timeouts.
    ///
    /// # Errors
    /// When a required setting is empty or malformed (see [`SlackError`]).
    pub fn new(
        settings: SlackSettings,
        service: AccessService,
    ) -> Result<Arc<SlackAdapter>, SlackError> {
        SlackAdapter::with_options(settings, service, SlackOptions::default())
    }

    /// Builds the adapter with explicit timeouts and retry pacing.
    ///
    /// # Errors
    /// When a required setting is empty or malformed (see [`SlackError`]).
    pub fn with_options(
        settings: SlackSettings,
        service: AccessService,
        options: SlackOptions,
    ) -> Result<Arc<SlackAdapter>, SlackError> {
        if settings.bot_token.is_empty() {
            return Err(config_error("bot_token", "is empty"));
        }
        if settings.channel_id.trim().is_empty() {
            return Err(config_error("channel_id", "is empty"));
        }
        if settings.signing_secret.is_empty() && !settings.socket_mode {
            return Err(config_error(
                "signing_secret",
                "is empty; it is needed to verify Slack's requests",
            ));
        }
        let app_token = settings.app_token.clone().filter(|token| !token.is_empty());
        if let Some(token) = &app_token
            && !token.expose().starts_with("xapp-")
        {
            return Err(config_error(
                "app_token",
                "must be an app-level token (xapp-…)",
            ));
        }
        if settings.socket_mode && app_token.is_none() {
            return Err(config_error(
                "app_token",
                "is required with socket_mode: true",
            ));
        }
        let clock = Arc::clone(service.clock());
        let api = SlackApi::new(ApiConfig {
            base_url: settings.api_base_url.clone(),
            bot_token: settings.bot_token.clone(),
            app_token,
            clock: Arc::clone(&clock),
            retry: options.retry.clone(),
            timeout: options.http_timeout,
            metrics: Arc::clone(service.metrics()),
        })
        .map_err(|problem| config_error("api_base_url", problem))?;
        let api = Arc::new(api);
        let people = People::new(
            Arc::clone(&api),
            clock,
            options.identity_cache_ttl,
            options.lookup_cache_ttl,
            membership(&settings)?,
        );
        let form_session_ttl = time::Duration::try_from(settings.form_session_ttl.to_std())
            .unwrap_or(time::Duration::HOUR);
        let forms = FormSessions::new(form_session_ttl, settings.form_sessions as usize);
        let in_flight = InFlight::new(settings.work_concurrency, settings.work_queue);
        let installation =
            Installation::new(Arc::clone(service.clock()), Arc::clone(service.metrics()));
        Ok(Arc::new(SlackAdapter {
            settings,
            service,
            api,
            people,
            forms,
            installation,
            options,
            in_flight,
            recent_envelopes: Mutex::new(VecDeque::new()),
        }))
    }

    pub fn settings(&self) -> &SlackSettings {
        &self.settings
    }

    /// Waits until every piece of work a handler started after its ack has finished. For
    /// tests, and for draining at shutdown.
    pub async fn wait_idle(&self) {
        loop {
            let idle = self.in_flight.idle.notified();
            if self.in_flight.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Runs slow work after the ack, counted in [`SlackAdapter::wait_idle`].
    pub(crate) fn spawn<F>(self: &Arc<Self>, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn_expiring(Expiry::Never, work);
    }

    /// Runs `work` after the ack once one of `slack.work_concurrency` slots is free; drops it
    /// (log line, `liftgate_chat_work_dropped_total`) when `slack.work_queue` pieces of work
    /// are already waiting or running, or when it would start after its trigger expired.
    pub(crate) fn spawn_expiring<F>(self: &Arc<Self>, expiry: Expiry, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let metrics = Arc::clone(self.service.metrics());
        let dropped = move |reason: &'static str| {
            metrics.inc(
                "liftgate_chat_work_dropped_total",
                &[("channel", "slack"), ("reason", reason)],
            );
        };
        let queued = self.in_flight.count.fetch_add(1, Ordering::SeqCst);
        let done = Finished(Arc::clone(self));
        if queued >= self.in_flight.limit {
            drop(done);
            dropped("queue_full");
            tracing::warn!(
                limit = self.in_flight.limit,
                "Dropped Slack work after its ack: the work queue is full (recorded decisions and submissions resume from the inbox)."
            );
            return;
        }
        let permits = Arc::clone(&self.in_flight.permits);
        let deadline = match expiry {
            Expiry::Never => None,
            Expiry::WithTrigger => Some(tokio::time::Instant::now() + TRIGGER_LIFETIME),
        };
        let run = async move {
            let _done = done;
            let permit = match deadline {
                None => permits.acquire_owned().await.ok(),
                Some(deadline) => tokio::time::timeout_at(deadline, permits.acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok),
            };
            let Some(_permit) = permit else {
                dropped("trigger_expired");
                tracing::warn!(
                    "Dropped a form that could not open before its Slack trigger expired."
                );
                return;
            };
            work.await;
        };
        let abandon = self
            .in_flight
            .abandon
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        tokio::spawn(abandon.run_until_cancelled_owned(run));
    }

    /// Abandons the work still running after its ack, as a crash would. What was recorded in
    /// the inbox is resumed later by whichever replica finds it due.
    pub fn abandon_in_flight(&self) {
        let mut abandon = self
            .in_flight
            .abandon
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *abandon).cancel();
    }

    /// Whether this Socket Mode envelope was seen before (Slack delivers at least once).
    pub(crate) fn seen_envelope(&self, envelope_id: &str) -> bool {
        let mut recent = self
            .recent_envelopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if recent.iter().any(|seen| seen == envelope_id) {
            return true;
        }
        if recent.len() >= 512 {
            recent.pop_front();
        }
        recent.push_back(envelope_id.to_owned());
        false
    }

    /// Tells one person something only they see.
    pub(crate) async fn tell(&self, user_id: &str, reply: &Reply, text: &str) {
        if let Reply::Ephemeral(channel) = reply {
            match self.api.post_ephemeral(channel, user_id, text).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::debug!(%error, "Could not answer ephemerally; sending a direct message instead.");
                }
            }
        }
        let sent = match self.people.direct_message(user_id).await {
            Ok(channel) => self
                .api
                .post_message(&channel, text, None, None)
                .await
                .map(drop),
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            tracing::warn!(slack_user = %user_id, %error, "Could not tell a Slack user about a problem.");
        }
    }

    async fn drain(&self) {
        if tokio::time::timeout(self.options.drain_timeout, self.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(
                "Slack handlers still running at shutdown were abandoned; recorded work resumes on the next start."
            );
            self.abandon_in_flight();
        }
    }
}

/// Decrements the in-flight count when a spawned task ends, however it ends.
struct Finished(Arc<SlackAdapter>);

impl Drop for Finished {
    fn drop(&mut self) {
        if self.0.in_flight.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.in_flight.idle.notify_waiters();
        }
    }
}

#[async_trait]
impl ChannelAdapter for SlackAdapter {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn routes(self: Arc<Self>) -> Option<Arc<dyn RouteProvider>> {
        Some(Arc::new(SlackRoutes::new(self)))
    }

    fn notifier(self: Arc<Self>) -> Option<Arc<dyn Notifier>> {
        Some(Arc::new(SlackNotifier::new(self)))
    }

    fn inbox(self: Arc<Self>) -> Option<Arc<dyn InboxHandler>> {
        Some(Arc::new(SlackInbox(self)))
    }

    async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        // Expired form sessions go even when no new form comes to push them out.
        let sweeper = Arc::downgrade(&self);
        let every = self
            .forms
            .ttl()
            .unsigned_abs()
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(adapter) = sweeper.upgrade() else {
                    return;
                };
                adapter.forms.sweep(adapter.service.clock().now());
            }
        });
        // Learn the bound workspace now, so the first click does not wait for `auth.test`;
        // until it is known, every payload is refused (see `People::workspace`).
        let learner = Arc::clone(&self);
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            while let Err(error) = learner.people.workspace().await {
                tracing::warn!(%error, "Could not learn the Slack workspace from auth.test; Slack users are refused until it answers.");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        });
        if self.settings.socket_mode {
            crate::socket::run(Arc::clone(&self), shutdown).await;
        } else {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        }
        self.drain().await;
    }
}
