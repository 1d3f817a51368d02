//! The Bot Connector REST client: the calls the adapter makes to Teams (send, update, create a
//! conversation, look a member up), authenticated with the bot's token, retried on the
//! statuses Teams asks bots to retry, and only ever sent to allowed service URLs.

mod service_url;
mod token;

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::adapter::Pause;
pub(crate) use service_url::{ServiceUrlPolicy, is_loopback};
pub(crate) use token::TokenClient;

/// Everything but RFC 3986 unreserved characters is encoded in a path segment, so ids such as
/// `19:abc@thread.tacv2;messageid=1` travel as one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectorError {
    #[error("{0}")]
    HostNotAllowed(String),
    /// The token endpoint refused the app's credentials: a configuration problem.
    #[error("the bot's credentials were refused: {0}")]
    TokenRefused(String),
    #[error("could not reach Teams: {0}")]
    Transport(String),
    /// Still throttled (429) or failing (412, 502, 504) after the retries.
    #[error("Teams answered {status} after {attempts} attempts")]
    Exhausted { status: u16, attempts: u32 },
    #[error("Teams answered {status} {code}: {message}")]
    Status {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from Teams: {0}")]
    Decode(String),
}

impl ConnectorError {
    /// Whether trying again later may succeed.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            ConnectorError::Transport(_)
            | ConnectorError::Exhausted { .. }
            | ConnectorError::Decode(_) => true,
            ConnectorError::Status { status, .. } => *status >= 500 || *status == 429,
            ConnectorError::HostNotAllowed(_) | ConnectorError::TokenRefused(_) => false,
        }
    }

    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, ConnectorError::Status { status: 404, .. })
    }
}

/// A Teams member as `GET /v3/conversations/{id}/members/{memberId}` returns it. The REST docs
/// name the Entra id `objectId`, the SDK `aadObjectId`; both are read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Member {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default)]
    pub(crate) user_principal_name: Option<String>,
    #[serde(default)]
    pub(crate) object_id: Option<String>,
    #[serde(default)]
    pub(crate) aad_object_id: Option<String>,
    #[serde(default)]
    pub(crate) tenant_id: Option<String>,
    #[serde(default)]
    pub(crate) user_role: Option<String>,
}

impl Member {
    pub(crate) fn entra_id(&self) -> Option<&str> {
        self.aad_object_id
            .as_deref()
            .or(self.object_id.as_deref())
            .filter(|id| !id.is_empty())
    }
}

/// `POST /v3/conversations` answers the new conversation (for a channel post: the thread) and
/// the id of the activity it started with.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationResource {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) activity_id: Option<String>,
}

#[derive(Deserialize)]
struct ResourceResponse {
    #[serde(default)]
    id: Option<String>,
}

/// How the client retries.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    /// Attempts per call, the first included.
    pub(crate) max_attempts: u32,
    /// Backoff before the second attempt without `Retry-After`; doubles each time.
    pub(crate) base_backoff: Duration,
    /// A longer `Retry-After` ends the call instead (the outbox retries later).
    pub(crate) max_retry_after: Duration,
}

#[derive(Debug)]
pub(crate) struct Connector {
    http: reqwest::Client,
    tokens: TokenClient,
    policy: ServiceUrlPolicy,
    retry: RetryPolicy,
    pause: Arc<dyn Pause>,
}

fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn is_retried(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 412 | 502 | 504)
}

impl Connector {
    pub(crate) fn new(
        http: reqwest::Client,
        tokens: TokenClient,
        policy: ServiceUrlPolicy,
        retry: RetryPolicy,
        pause: Arc<dyn Pause>,
    ) -> Connector {
        Connector {
            http,
            tokens,
            policy,
            retry,
            pause,
        }
    }

    /// `POST /v3/conversations/{id}/activities`: returns the new activity's id.
    pub(crate) async fn send_to_conversation(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Value,
    ) -> Result<String, ConnectorError> {
        let path = format!("v3/conversations/{}/activities", encode(conversation_id));
        let body = self
            .call(Method::POST, service_url, &path, Some(activity))
            .await?;
        let response: ResourceResponse = serde_json::from_value(body)
            .map_err(|error| ConnectorError::Decode(error.to_string()))?;
        response
            .id
            .ok_or_else(|| ConnectorError::Decode("the sent activity has no id".to_owned()))
    }

    /// `PUT /v3/conversations/{id}/activities/{activityId}`: replaces a message for everyone.
    pub(crate) async fn update_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> Result<(), ConnectorError> {
        let path = format!(
            "v3/conversations/{}/activities/{}",
            encode(conversation_id),
            encode(activity_id)
        );
        let mut activity = activity.clone();
        if let Some(object) = activity.as_object_mut() {
            object.insert("id".to_owned(), Value::String(activity_id.to_owned()));
        }
        self.call(Method::PUT, service_url, &path, Some(&activity))
            .await
            .map(drop)
    }

    /// `POST /v3/conversations`: a new channel thread or a one-to-one chat.
    pub(crate) async fn create_conversation(
        &self,
        service_url: &str,
        parameters: &Value,
    ) -> Result<ConversationResource, ConnectorError> {
        let body = self
            .call(
                Method::POST,
                service_url,
                "v3/conversations",
                Some(parameters),
            )
            .await?;
        serde_json::from_value(body)
            .map_err(|error| ConnectorError::Decode(format!("conversation: {error}")))
    }

    /// `GET /v3/conversations/{id}/members/{memberId}`.
    pub(crate) async fn get_member(
        &self,
        service_url: &str,
        conversation_id: &str,
        member_id: &str,
    ) -> Result<Member, ConnectorError> {
        let path = format!(
            "v3/conversations/{}/members/{}",
            encode(conversation_id),
            encode(member_id)
        );
        let body = self.call(Method::GET, service_url, &path, None).await?;
        serde_json::from_value(body)
            .map_err(|error| ConnectorError::Decode(format!("member: {error}")))
    }

    async fn call(
        &self,
        method: Method,
        service_url: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        let base = self
            .policy
            .check(service_url)
            .map_err(ConnectorError::HostNotAllowed)?;
        let url = base
            .join(path)
            .map_err(|error| ConnectorError::HostNotAllowed(error.to_string()))?;
        let mut token_refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.tokens.token().await?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|error| ConnectorError::Transport(error.without_url().to_string()))?;
            let status = response.status();
            if status.is_success() {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|error| ConnectorError::Transport(error.without_url().to_string()))?;
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Value::Null);
                }
                return serde_json::from_slice(&bytes)
                    .map_err(|error| ConnectorError::Decode(error.to_string()));
            }
            if status == StatusCode::UNAUTHORIZED && !token_refreshed {
                // The cached token may have been revoked early: fetch a new one, once.
                token_refreshed = true;
                self.tokens.invalidate().await;
                continue;
            }
            if is_retried(status) && attempt < self.retry.max_attempts {
                let wait = match retry_after(&response) {
                    Some(wait) if wait > self.retry.max_retry_after => {
                        tracing::warn!(
                            status = status.as_u16(),
                            wait_secs = wait.as_secs(),
                            "Teams asks to wait longer than allowed; giving up for now."
                        );
                        return Err(ConnectorError::Exhausted {
                            status: status.as_u16(),
                            attempts: attempt,
                        });
                    }
                    Some(wait) => wait,
                    None => self.backoff(attempt),
                };
                tracing::debug!(
                    status = status.as_u16(),
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "Retrying a Connector call."
                );
                self.pause.pause(wait).await;
                continue;
            }
            if is_retried(status) {
                return Err(ConnectorError::Exhausted {
                    status: status.as_u16(),
                    attempts: attempt,
                });
            }
            return Err(error_from(status, response).await);
        }
    }

    /// The core's backoff: exponential with up to 25 % jitter (`retry_backoff`).
    fn backoff(&self, attempt: u32) -> Duration {
        liftgate_gateway::http::retry_backoff(self.retry.base_backoff, attempt)
    }
}

/// The Connector's `ErrorResponse` (`{"error":{"code","message"}}`), or Teams' other shape
/// (`{"errorCode":209,"message":"…"}`), made readable.
async fn error_from(status: StatusCode, response: reqwest::Response) -> ConnectorError {
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let (code, message) = match body.get("error") {
        Some(error) => (
            error
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        None => (
            body.get("errorCode")
                .map(|code| code.to_string())
                .unwrap_or_default(),
            body.get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
    };
    ConnectorError::Status {
        status: status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_are_one_encoded_segment() {
        assert_eq!(
            encode("19:abc@thread.tacv2;messageid=1"),
            "19%3Aabc%40thread.tacv2%3Bmessageid%3D1"
        );
        assert_eq!(encode("a:1-2_3.4~5/6"), "a%3A1-2_3.4~5%2F6");
    }
}
