//! Outbound events: every lifecycle change of a request is POSTed to the configured
//! subscribers as `{"event": ..., "request": <request view>}`, signed with the `v2` scheme
//! and the subscriber's own secret.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use liftgate_gateway::config::{Secret, WebhookSubscriber};
use liftgate_gateway::ports::{Clock, DriftNotice, Notice, NoticeKind, Notifier, NotifyError};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use crate::setup::WebhookSetupError;
use crate::signature::{
    EVENT_HEADER, NONCE_HEADER, SIGNATURE_HEADER, Signed, TIMESTAMP_HEADER, new_nonce, sign,
};
use crate::view::RequestView;

/// Every event name a subscriber may filter on (the history events of docs/reference.md §7).
pub const EVENT_NAMES: [&str; 14] = [
    "requested",
    "approved",
    "denied",
    "granted",
    "revoked",
    "expired",
    "cancelled",
    "failed",
    "drift_detected",
    "extended",
    "activity_summary",
    "break_glass_used",
    "break_glass_reviewed",
    "break_glass_review_overdue",
];

#[derive(Debug)]
struct Subscriber {
    url: reqwest::Url,
    secret: Secret,
    /// Empty means every event.
    events: BTreeSet<String>,
}

impl Subscriber {
    fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.contains(event)
    }

    /// The URL without path or query, which may carry tokens: safe for logs.
    fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// The webhook channel's [`Notifier`]: delivers each notice to every subscriber whose event
/// filter matches. A notice renders the request's current state, so a redelivery after a
/// partial failure repeats the same truth and subscribers can treat it as idempotent.
#[derive(Debug)]
pub struct SubscriberNotifier {
    subscribers: Vec<Subscriber>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

enum Failure {
    Retryable(String),
    Permanent(String),
}

impl SubscriberNotifier {
    pub(crate) fn new(
        configured: &[WebhookSubscriber],
        clock: Arc<dyn Clock>,
        timeout: std::time::Duration,
    ) -> Result<SubscriberNotifier, WebhookSetupError> {
        let mut subscribers = Vec::new();
        for (index, subscriber) in configured.iter().enumerate() {
            // Events carry who got access to what: https only, never a metadata address.
            let url = liftgate_gateway::http::check_outbound_url(&subscriber.url)
                .map_err(|problem| WebhookSetupError::BadSubscriberUrl { index, problem })?;
            if subscriber.secret.is_empty() {
                return Err(WebhookSetupError::EmptySubscriberSecret { index });
            }
            let mut events = BTreeSet::new();
            for event in &subscriber.events {
                let event = event.trim();
                if !EVENT_NAMES.contains(&event) {
                    return Err(WebhookSetupError::UnknownEvent {
                        index,
                        event: event.to_owned(),
                    });
                }
                events.insert(event.to_owned());
            }
            subscribers.push(Subscriber {
                url,
                secret: subscriber.secret.clone(),
                events,
            });
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A subscriber that moved must be reconfigured; following redirects would send
            // signed events wherever a compromised endpoint points.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(crate::resolver::NoMetadataResolver))
            .build()
            .map_err(|error| WebhookSetupError::HttpClient(error.without_url().to_string()))?;
        Ok(SubscriberNotifier {
            subscribers,
            client,
            clock,
        })
    }

    async fn deliver(
        &self,
        subscriber: &Subscriber,
        event: &str,
        body: &[u8],
    ) -> Result<(), Failure> {
        let timestamp = self.clock.now().unix_timestamp().to_string();
        let nonce = new_nonce();
        let path_and_query = match subscriber.url.query() {
            Some(query) => format!("{}?{query}", subscriber.url.path()),
            None => subscriber.url.path().to_owned(),
        };
        let signed = Signed {
            timestamp: &timestamp,
            nonce: &nonce,
            method: "POST",
            path_and_query: &path_and_query,
        };
        let signature = sign(subscriber.secret.expose(), &signed, body);
        let response = self
            .client
            .post(subscriber.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(NONCE_HEADER, &nonce)
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_HEADER, event)
            .body(body.to_vec())
            .send()
            .await
            // Timeouts, refused connections and resets are outages: try again later.
            .map_err(|error| Failure::Retryable(error.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message = format!("{} answered {status}", subscriber.origin());
        let retryable = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        if retryable {
            Err(Failure::Retryable(message))
        } else {
            Err(Failure::Permanent(message))
        }
    }
}

#[async_trait]
impl Notifier for SubscriberNotifier {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        // Reminders nag approvers in chat; they are not lifecycle changes.
        if notice.kind == NoticeKind::Reminder {
            return Ok(());
        }
        let Some(latest) = notice.request.history.last() else {
            return Ok(());
        };
        let event = latest.event.as_str();
        self.publish(
            event,
            || serde_json::json!({ "event": event, "request": RequestView::from(&notice.request) }),
        )
        .await
    }

    /// Drift findings reach subscribers as event `drift_detected`, with the finding as the
    /// chat channels get it (docs/reference.md §9).
    async fn drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        let event = "drift_detected";
        self.publish(
            event,
            || serde_json::json!({ "event": event, "drift": notice, "summary": notice.summary() }),
        )
        .await
    }

    async fn activity_summary(
        &self,
        summary: &liftgate_gateway::domain::ActivitySummary,
    ) -> Result<(), NotifyError> {
        let event = "activity_summary";
        self.publish(
            event,
            || serde_json::json!({ "event": event, "activity_summary": summary }),
        )
        .await
    }
}

impl SubscriberNotifier {
    /// Sends `event` to every subscriber whose filter wants it; the body is built only when
    /// someone does.
    async fn publish(
        &self,
        event: &str,
        body: impl FnOnce() -> serde_json::Value,
    ) -> Result<(), NotifyError> {
        let targets: Vec<&Subscriber> =
            self.subscribers.iter().filter(|s| s.wants(event)).collect();
        if targets.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_vec(&body()).map_err(|error| {
            NotifyError::Permanent(format!("could not encode the event: {error}"))
        })?;
        self.send_all(&targets, event, &body).await
    }

    /// Posts `body` as `event` to every target; any outage makes the whole notice retryable.
    async fn send_all(
        &self,
        targets: &[&Subscriber],
        event: &str,
        body: &[u8],
    ) -> Result<(), NotifyError> {
        let outcomes = futures_util::future::join_all(
            targets
                .iter()
                .map(|subscriber| self.deliver(subscriber, event, body)),
        )
        .await;

        let mut retryable = Vec::new();
        let mut permanent = Vec::new();
        for (subscriber, outcome) in targets.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    tracing::debug!(event, subscriber = %subscriber.origin(), "Event delivered.");
                }
                Err(Failure::Retryable(message)) => retryable.push(message),
                Err(Failure::Permanent(message)) => permanent.push(message),
            }
        }
        // Any outage means another attempt; the ones that succeeded see the same state again.
        if !retryable.is_empty() {
            retryable.extend(permanent);
            return Err(NotifyError::Retryable(retryable.join("; ")));
        }
        if !permanent.is_empty() {
            return Err(NotifyError::Permanent(permanent.join("; ")));
        }
        Ok(())
    }
}
