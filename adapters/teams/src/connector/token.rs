//! The bot's own access token for the Connector: OAuth client credentials against the
//! tenant's Entra token endpoint (single-tenant bot), cached until shortly before it expires.

use std::sync::Arc;

use liftgate_gateway::config::Secret;
use liftgate_gateway::ports::Clock;
use serde::Deserialize;
use time::OffsetDateTime;

use super::ConnectorError;

/// The scope every Bot Framework token asks for.
pub(crate) const BOT_FRAMEWORK_SCOPE: &str = "https://api.botframework.com/.default";

/// Refresh this long before the token expires, so a token never expires in flight.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

#[derive(Debug)]
struct CachedToken {
    value: Secret,
    refresh_at: OffsetDateTime,
}

#[derive(Debug)]
pub(crate) struct TokenClient {
    http: reqwest::Client,
    token_url: String,
    app_id: String,
    app_password: Secret,
    clock: Arc<dyn Clock>,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TokenErrorResponse {
    #[serde(default)]
    error: String,
}

impl TokenClient {
    pub(crate) fn new(
        http: reqwest::Client,
        token_url: String,
        app_id: String,
        app_password: Secret,
        clock: Arc<dyn Clock>,
    ) -> TokenClient {
        TokenClient {
            http,
            token_url,
            app_id,
            app_password,
            clock,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A valid token, from the cache or fresh. Concurrent callers wait for one fetch.
    pub(crate) async fn token(&self) -> Result<Secret, ConnectorError> {
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some(token) = cached.as_ref()
            && now < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch(now).await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets the cached token (the Connector refused it).
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self, now: OffsetDateTime) -> Result<CachedToken, ConnectorError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.app_id.as_str()),
            ("client_secret", self.app_password.expose()),
            ("scope", BOT_FRAMEWORK_SCOPE),
        ];
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|error| {
                ConnectorError::Transport(format!("token endpoint: {}", error.without_url()))
            })?;
        let status = response.status();
        if !status.is_success() {
            let body: Option<TokenErrorResponse> = response.json().await.ok();
            let code = body.map(|body| body.error).unwrap_or_default();
            // 4xx means the app id, secret or tenant is wrong: retrying cannot help.
            return Err(if status.is_client_error() {
                ConnectorError::TokenRefused(format!("token endpoint answered {status} {code}"))
            } else {
                ConnectorError::Transport(format!("token endpoint answered {status}"))
            });
        }
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|error| ConnectorError::Decode(format!("token response: {error}")))?;
        if body.access_token.is_empty() {
            return Err(ConnectorError::Decode(
                "token response has no access_token".to_owned(),
            ));
        }
        let lifetime = body
            .expires_in
            .as_ref()
            .and_then(|value| value.as_i64().or_else(|| value.as_str()?.parse().ok()))
            .filter(|seconds| *seconds > 0)
            .unwrap_or(3600);
        let lifetime = time::Duration::seconds(lifetime);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        tracing::debug!(
            expires_in = lifetime.whole_seconds(),
            "Fetched a Bot Framework access token."
        );
        Ok(CachedToken {
            value: Secret::new(body.access_token),
            refresh_at: now + lifetime - margin,
        })
    }
}
