//! Why the webhook channel could not be built from its settings. The config check reports
//! most of these earlier; the adapter refuses them again so it can never run half-configured.

#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    #[error("webhook.clients: a client has an empty id")]
    EmptyClientId,
    #[error("webhook.clients: the id {client:?} may use only letters, digits, '_', '.' and '-'")]
    BadClientId { client: String },
    #[error("webhook.clients: the id {client:?} is used by more than one client")]
    DuplicateClient { client: String },
    #[error("webhook.clients: client {client:?} has an empty secret")]
    EmptySecret { client: String },
    #[error(
        "webhook.clients: client {client:?} has act_for entry {entry:?}, which is not an email or \"*\""
    )]
    BadActFor { client: String, entry: String },
    #[error("webhook.subscribers[{index}].url {problem}")]
    BadSubscriberUrl {
        index: usize,
        problem: liftgate_gateway::http::OutboundUrlError,
    },
    #[error("webhook.subscribers[{index}].secret is empty")]
    EmptySubscriberSecret { index: usize },
    #[error("webhook.subscribers[{index}].events: {event:?} is not an event name")]
    UnknownEvent { index: usize, event: String },
    #[error("could not build the HTTP client for subscribers: {0}")]
    HttpClient(String),
}
