//! The few Slack Web API methods Liftgate uses, over reqwest with a configurable base URL.
//! Rate limits (HTTP 429 with `Retry-After`) and server errors are retried with bounded
//! backoff; a method Slack asked us to slow down on is not called again before its
//! `Retry-After` has passed (measured on the service clock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liftgate_gateway::config::Secret;
use liftgate_gateway::http::retry_backoff;
use liftgate_gateway::metrics::Metrics;
use liftgate_gateway::ports::Clock;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// How hard to try one Web API call.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Calls per operation, the first included.
    pub attempts: u32,
    /// Wait before the second attempt after a server error; doubles for each further one.
    pub base_backoff: Duration,
    /// The longest `Retry-After` worth waiting for in place. Longer ones fail the call at once
    /// (the outbox retries notices later; interactive replies are dropped with a log line).
    pub max_inline_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_backoff: Duration::from_millis(300),
            max_inline_wait: Duration::from_secs(3),
        }
    }
}

/// Why a Web API call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Slack answered `{"ok": false, "error": code}`.
    #[error("Slack refused {method}: {code}")]
    Slack {
        method: &'static str,
        code: String,
        needed: Option<String>,
    },
    #[error("Slack rate-limited {method}; retry in {retry_after:?}")]
    RateLimited {
        method: &'static str,
        retry_after: Duration,
    },
    #[error("Slack answered {method} with HTTP {status}")]
    Server { method: &'static str, status: u16 },
    #[error("could not reach Slack for {method}: {message}")]
    Transport {
        method: &'static str,
        message: String,
    },
    #[error("unexpected answer from Slack to {method}: {message}")]
    Decode {
        method: &'static str,
        message: String,
    },
}

/// Error codes with which Slack says "try again later" in an HTTP 200 body.
const TRANSIENT_CODES: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

impl ApiError {
    /// Whether the same call can succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Slack { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            ApiError::RateLimited { .. } | ApiError::Server { .. } | ApiError::Transport { .. } => {
                true
            }
            ApiError::Decode { .. } => false,
        }
    }

    /// Slack no longer accepts the token: the app was uninstalled or its token revoked.
    pub fn is_revoked_token(&self) -> bool {
        self.code().is_some_and(|code| {
            matches!(
                code,
                "invalid_auth"
                    | "not_authed"
                    | "token_revoked"
                    | "account_inactive"
                    | "token_expired"
            )
        })
    }

    /// Slack's error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Slack { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The trigger of a `views.open` was too old or already used.
    pub fn is_trigger_problem(&self) -> bool {
        self.code().is_some_and(|code| {
            matches!(
                code,
                "expired_trigger_id"
                    | "exchanged_trigger_id"
                    | "invalid_trigger_id"
                    | "trigger_expired"
                    | "trigger_exchanged"
            )
        })
    }
}

/// A view as Slack stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewRef {
    pub(crate) id: String,
    pub hash: Option<String>,
}

/// A posted message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

/// What `users.info` says about a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlackUser {
    pub(crate) id: String,
    pub email: Option<String>,
    pub deleted: bool,
    pub is_bot: bool,
    /// The user's home workspace; for a Slack Connect member, their own organisation's.
    pub team_id: Option<String>,
    /// `enterprise_user.enterprise_id`: the Enterprise Grid organisation the user belongs to.
    pub enterprise_id: Option<String>,
    /// Multi-channel (`is_restricted`) or single-channel (`is_ultra_restricted`) guest.
    pub guest: bool,
    /// `is_stranger`: a member of another organisation seen through a shared channel.
    pub stranger: bool,
    /// `is_email_confirmed`; an absent field counts as not confirmed (fail closed).
    pub email_confirmed: bool,
}

/// Who the bot token belongs to, as `auth.test` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenOwner {
    /// `None` for an organisation-wide Enterprise Grid install.
    pub team_id: Option<String>,
    pub enterprise_id: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Bot,
    App,
}

enum Body {
    Json(Value),
    Form(Vec<(&'static str, String)>),
    Query(Vec<(&'static str, String)>),
}

/// The Web API client.
#[derive(Debug)]
pub(crate) struct SlackApi {
    http: reqwest::Client,
    base: url::Url,
    bot_token: Secret,
    app_token: Option<Secret>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
    /// Per method: not before this instant, as Slack's `Retry-After` asked.
    cooldowns: Mutex<HashMap<&'static str, OffsetDateTime>>,
}

/// Builds the client; `base_url` is Slack's `https://slack.com/api/` or a fake's.
pub(crate) struct ApiConfig {
    pub base_url: String,
    pub bot_token: Secret,
    pub app_token: Option<Secret>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub metrics: Arc<Metrics>,
}

impl SlackApi {
    pub(crate) fn new(config: ApiConfig) -> Result<SlackApi, String> {
        let mut base = config.base_url.trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        // The bot token travels with every call: https only (docs/reference.md §2).
        let base = liftgate_gateway::http::check_outbound_url(&base)
            .map_err(|error| format!("{base:?} {error}"))?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("liftgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("could not build the Slack HTTP client: {error}"))?;
        Ok(SlackApi {
            http,
            base,
            bot_token: config.bot_token,
            app_token: config.app_token,
            clock: config.clock,
            retry: config.retry,
            metrics: config.metrics,
            cooldowns: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) async fn views_open(
        &self,
        trigger_id: &str,
        view: &Value,
    ) -> Result<ViewRef, ApiError> {
        let answer = self
            .call(
                "views.open",
                Token::Bot,
                Body::Json(json!({ "trigger_id": trigger_id, "view": view })),
            )
            .await?;
        view_ref("views.open", &answer)
    }

    /// Replaces a view; with `hash`, only if nobody changed it since (else `hash_conflict`).
    pub(crate) async fn views_update(
        &self,
        view_id: &str,
        hash: Option<&str>,
        view: &Value,
    ) -> Result<ViewRef, ApiError> {
        let mut body = json!({ "view_id": view_id, "view": view });
        if let Some(hash) = hash {
            body["hash"] = json!(hash);
        }
        let answer = self
            .call("views.update", Token::Bot, Body::Json(body))
            .await?;
        view_ref("views.update", &answer)
    }

    pub(crate) async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: Option<&Value>,
        thread_ts: Option<&str>,
    ) -> Result<MessageRef, ApiError> {
        let mut body = json!({ "channel": channel, "text": text, "unfurl_links": false, "unfurl_media": false });
        if let Some(blocks) = blocks {
            body["blocks"] = blocks.clone();
        }
        if let Some(thread_ts) = thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        let answer = self
            .call("chat.postMessage", Token::Bot, Body::Json(body))
            .await?;
        let channel = answer["channel"].as_str().unwrap_or(channel).to_owned();
        let ts = answer["ts"]
            .as_str()
            .ok_or_else(|| ApiError::Decode {
                method: "chat.postMessage",
                message: "no ts".to_owned(),
            })?
            .to_owned();
        Ok(MessageRef { channel, ts })
    }

    pub(crate) async fn update_message(
        &self,
        message: &MessageRef,
        text: &str,
        blocks: &Value,
    ) -> Result<(), ApiError> {
        let body =
            json!({ "channel": message.channel, "ts": message.ts, "text": text, "blocks": blocks });
        self.call("chat.update", Token::Bot, Body::Json(body))
            .await
            .map(drop)
    }

    pub(crate) async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), ApiError> {
        let body = json!({ "channel": channel, "user": user, "text": text });
        self.call("chat.postEphemeral", Token::Bot, Body::Json(body))
            .await
            .map(drop)
    }

    pub(crate) async fn user_info(&self, user_id: &str) -> Result<SlackUser, ApiError> {
        let answer = self
            .call(
                "users.info",
                Token::Bot,
                Body::Query(vec![("user", user_id.to_owned())]),
            )
            .await?;
        let user = &answer["user"];
        let email = user["profile"]["email"]
            .as_str()
            .map(str::trim)
            .filter(|email| !email.is_empty());
        let text = |value: &Value| {
            value
                .as_str()
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        let flag = |key: &str| user[key].as_bool().unwrap_or(false);
        Ok(SlackUser {
            id: user["id"].as_str().unwrap_or(user_id).to_owned(),
            email: email.map(str::to_owned),
            deleted: flag("deleted"),
            is_bot: flag("is_bot"),
            team_id: text(&user["team_id"]),
            enterprise_id: text(&user["enterprise_user"]["enterprise_id"]),
            guest: flag("is_restricted") || flag("is_ultra_restricted"),
            stranger: flag("is_stranger"),
            email_confirmed: flag("is_email_confirmed"),
        })
    }

    /// The workspace (and Enterprise Grid organisation) the bot token was issued for.
    pub(crate) async fn auth_test(&self) -> Result<TokenOwner, ApiError> {
        let answer = self
            .call("auth.test", Token::Bot, Body::Form(Vec::new()))
            .await?;
        let text = |key: &str| {
            answer[key]
                .as_str()
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        let owner = TokenOwner {
            team_id: text("team_id"),
            enterprise_id: text("enterprise_id"),
        };
        if owner.team_id.is_none() && owner.enterprise_id.is_none() {
            return Err(ApiError::Decode {
                method: "auth.test",
                message: "neither team_id nor enterprise_id".to_owned(),
            });
        }
        Ok(owner)
    }

    /// The Slack user id behind an email; `None` when no Slack user has it.
    pub(crate) async fn lookup_by_email(&self, email: &str) -> Result<Option<String>, ApiError> {
        let query = Body::Query(vec![("email", email.to_owned())]);
        match self.call("users.lookupByEmail", Token::Bot, query).await {
            Ok(answer) => Ok(answer["user"]["id"].as_str().map(str::to_owned)),
            Err(ApiError::Slack { code, .. }) if code == "users_not_found" => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The id of the bot's direct-message conversation with this user.
    pub(crate) async fn open_dm(&self, user_id: &str) -> Result<String, ApiError> {
        let answer = self
            .call(
                "conversations.open",
                Token::Bot,
                Body::Form(vec![("users", user_id.to_owned())]),
            )
            .await?;
        answer["channel"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Decode {
                method: "conversations.open",
                message: "no channel id".to_owned(),
            })
    }

    /// A fresh Socket Mode WebSocket URL (needs the app-level token).
    pub(crate) async fn connections_open(&self) -> Result<String, ApiError> {
        let answer = self
            .call("apps.connections.open", Token::App, Body::Form(Vec::new()))
            .await?;
        answer["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Decode {
                method: "apps.connections.open",
                message: "no url".to_owned(),
            })
    }

    async fn call(
        &self,
        method: &'static str,
        token: Token,
        body: Body,
    ) -> Result<Value, ApiError> {
        if let Some(wait) = self.cooldown(method) {
            if wait > self.retry.max_inline_wait {
                self.count(method, "cooldown");
                return Err(ApiError::RateLimited {
                    method,
                    retry_after: wait,
                });
            }
            tokio::time::sleep(wait).await;
        }
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            let outcome = self.call_once(method, token, &body).await;
            let wait = match &outcome {
                Ok(_) => {
                    self.count(method, "ok");
                    return outcome;
                }
                Err(ApiError::RateLimited { retry_after, .. }) => {
                    self.count(method, "rate_limited");
                    self.start_cooldown(method, *retry_after);
                    (*retry_after <= self.retry.max_inline_wait).then_some(*retry_after)
                }
                Err(error @ (ApiError::Server { .. } | ApiError::Transport { .. })) => {
                    self.count(method, "server_error");
                    tracing::warn!(method, attempt, %error, "Slack call failed.");
                    Some(retry_backoff(self.retry.base_backoff, attempt))
                }
                Err(_) => {
                    self.count(method, "refused");
                    return outcome;
                }
            };
            match wait {
                Some(wait) if attempt < attempts => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return outcome,
            }
        }
    }

    async fn call_once(
        &self,
        method: &'static str,
        token: Token,
        body: &Body,
    ) -> Result<Value, ApiError> {
        let url = self.base.join(method).map_err(|error| ApiError::Decode {
            method,
            message: error.to_string(),
        })?;
        let token = match token {
            Token::Bot => Some(&self.bot_token),
            Token::App => self.app_token.as_ref(),
        };
        let token = token.ok_or_else(|| ApiError::Slack {
            method,
            code: "not_authed".to_owned(),
            needed: None,
        })?;
        let request = match body {
            Body::Json(value) => {
                let bytes = serde_json::to_vec(value).map_err(|error| ApiError::Decode {
                    method,
                    message: error.to_string(),
                })?;
                self.http
                    .post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/json; charset=utf-8",
                    )
                    .body(bytes)
            }
            Body::Form(fields) => self.http.post(url).form(fields),
            Body::Query(fields) => self.http.get(url).query(fields),
        };
        let response = request
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|error| ApiError::Transport {
                method,
                message: without_url(&error),
            })?;
        let status = response.status();
        if status.as_u16() == 429 {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            return Err(ApiError::RateLimited {
                method,
                retry_after,
            });
        }
        if status.is_server_error() {
            return Err(ApiError::Server {
                method,
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(ApiError::Slack {
                method,
                code: format!("http_{}", status.as_u16()),
                needed: None,
            });
        }
        let answer: Value = response.json().await.map_err(|error| ApiError::Decode {
            method,
            message: without_url(&error),
        })?;
        if answer["ok"].as_bool() == Some(true) {
            return Ok(answer);
        }
        let code = answer["error"]
            .as_str()
            .unwrap_or("unknown_error")
            .to_owned();
        if code == "ratelimited" || code == "rate_limited" {
            return Err(ApiError::RateLimited {
                method,
                retry_after: Duration::from_secs(1),
            });
        }
        let needed = answer["needed"].as_str().map(str::to_owned);
        Err(ApiError::Slack {
            method,
            code,
            needed,
        })
    }

    fn cooldown(&self, method: &'static str) -> Option<Duration> {
        let now = self.clock.now();
        let cooldowns = self
            .cooldowns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = *cooldowns.get(method)?;
        let left = until - now;
        (left > time::Duration::ZERO).then(|| Duration::from_secs_f64(left.as_seconds_f64()))
    }

    fn start_cooldown(&self, method: &'static str, retry_after: Duration) {
        let until = self.clock.now() + retry_after;
        let mut cooldowns = self
            .cooldowns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cooldowns.insert(method, until);
    }

    fn count(&self, method: &'static str, outcome: &'static str) {
        self.metrics.inc(
            "liftgate_slack_api_calls_total",
            &[("method", method), ("outcome", outcome)],
        );
    }
}

fn view_ref(method: &'static str, answer: &Value) -> Result<ViewRef, ApiError> {
    let view = &answer["view"];
    let id = view["id"]
        .as_str()
        .ok_or_else(|| ApiError::Decode {
            method,
            message: "no view id".to_owned(),
        })?
        .to_owned();
    Ok(ViewRef {
        id,
        hash: view["hash"].as_str().map(str::to_owned),
    })
}

/// reqwest errors name the URL; ours carry no secrets, but keep logs short and uniform.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<slack>");
    }
    text
}
