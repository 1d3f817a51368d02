//! A fast Slack Web API double served by the harness itself: it answers every method the
//! gateway calls at once (no checks beyond what the gateway needs to carry on), counts the
//! connections the gateway holds open to it, and notes when each `views.open` arrives so the
//! harness can measure ack → `views.open`. The faithful fake (Block Kit limits, scopes, trigger
//! lifetimes) lives with the Slack adapter's tests; this one must cost the gateway nothing, so
//! the measurements are the gateway's. Written on hyper directly because a mock server crate
//! records every request, which would grow without bound under a flood.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The workspace `auth.test` reports; payloads carry the same id so the gateway admits them.
pub(crate) const TEAM_ID: &str = "TBENCH";
/// The bot token the gateway is configured with.
pub(crate) const BOT_TOKEN: &str = "xoxb-bench-token";
/// Every trigger id the harness sends starts with this, followed by the request's number.
pub(crate) const TRIGGER_PREFIX: &str = "bench.";

/// The Slack user id of bench user `index` and the email Identity Center knows them by.
pub(crate) fn user_id(index: usize) -> String {
    format!("UBENCH{index}")
}

pub(crate) fn user_email(index: usize) -> String {
    format!("user{index}@example.com")
}

fn index_of(user_id: &str) -> Option<usize> {
    user_id.strip_prefix("UBENCH")?.parse().ok()
}

/// What the double saw; shared with its connection tasks.
#[derive(Debug, Default)]
struct Observed {
    open_connections: AtomicU64,
    max_open_connections: AtomicU64,
    accepted_connections: AtomicU64,
    /// Request number (from the trigger id) → when its `views.open` arrived. Bounded by the
    /// number of requests a run sends.
    views_opened: Mutex<HashMap<u64, Instant>>,
    calls: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
}

/// A running double; it stops with the harness's runtime.
#[derive(Debug, Clone)]
pub(crate) struct SlackDouble {
    address: SocketAddr,
    observed: Arc<Observed>,
}

impl SlackDouble {
    pub(crate) async fn start() -> anyhow::Result<SlackDouble> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let observed = Arc::new(Observed::default());
        let shared = Arc::clone(&observed);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let observed = Arc::clone(&shared);
                observed
                    .accepted_connections
                    .fetch_add(1, Ordering::Relaxed);
                let open = observed.open_connections.fetch_add(1, Ordering::Relaxed) + 1;
                observed
                    .max_open_connections
                    .fetch_max(open, Ordering::Relaxed);
                tokio::spawn(async move {
                    let service_state = Arc::clone(&observed);
                    let service = hyper::service::service_fn(move |request| {
                        let observed = Arc::clone(&service_state);
                        async move { Ok::<_, hyper::Error>(answer(&observed, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    observed.open_connections.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        Ok(SlackDouble { address, observed })
    }

    /// The gateway's `slack.api_base_url`.
    pub(crate) fn api_base_url(&self) -> String {
        format!("http://{}/api/", self.address)
    }

    /// Connections open now, the most open at once since the last reset, and accepted in all.
    pub(crate) fn connections(&self) -> Connections {
        Connections {
            open: self.observed.open_connections.load(Ordering::Relaxed),
            max_open: self.observed.max_open_connections.load(Ordering::Relaxed),
            accepted: self.observed.accepted_connections.load(Ordering::Relaxed),
        }
    }

    /// Starts a new measurement: forgets the peak of open connections, the count of accepted
    /// ones, the `views.open` arrivals and the call counts.
    pub(crate) fn reset(&self) {
        let open = self.observed.open_connections.load(Ordering::Relaxed);
        self.observed
            .max_open_connections
            .store(open, Ordering::Relaxed);
        self.observed
            .accepted_connections
            .store(0, Ordering::Relaxed);
        lock(&self.observed.views_opened).clear();
        lock(&self.observed.calls).clear();
    }

    /// When the `views.open` for request `number` arrived, if it did.
    pub(crate) fn view_opened(&self, number: u64) -> Option<Instant> {
        lock(&self.observed.views_opened).get(&number).copied()
    }

    /// How many calls of each method arrived since the last reset.
    pub(crate) fn calls(&self) -> HashMap<String, u64> {
        lock(&self.observed.calls).clone()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Connections {
    pub(crate) open: u64,
    pub(crate) max_open: u64,
    pub(crate) accepted: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn answer(observed: &Observed, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts
        .uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let authorized = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        == Some(&format!("Bearer {BOT_TOKEN}"));
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    *lock(&observed.calls).entry(method.clone()).or_default() += 1;
    let reply = if authorized {
        reply(observed, &method, parts.uri.query(), &body, arrived)
    } else {
        json!({ "ok": false, "error": "invalid_auth" })
    };
    let mut response = Response::new(Full::new(Bytes::from(reply.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The arguments of a call: the JSON body, or the form body, or the query.
fn arguments(query: Option<&str>, body: &[u8]) -> HashMap<String, Value> {
    if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) {
        return fields.into_iter().collect();
    }
    let form = url::form_urlencoded::parse(body);
    let query = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes());
    form.chain(query)
        .map(|(key, value)| (key.into_owned(), Value::String(value.into_owned())))
        .collect()
}

fn reply(
    observed: &Observed,
    method: &str,
    query: Option<&str>,
    body: &[u8],
    arrived: Instant,
) -> Value {
    let args = arguments(query, body);
    let text = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default();
    let next_id = || observed.next_id.fetch_add(1, Ordering::Relaxed);
    match method {
        "auth.test" => {
            json!({ "ok": true, "team_id": TEAM_ID, "user_id": "UBENCHBOT", "bot_id": "BBENCH" })
        }
        "users.info" => match index_of(text("user")) {
            Some(index) => json!({ "ok": true, "user": user_json(index) }),
            None => json!({ "ok": false, "error": "user_not_found" }),
        },
        "users.lookupByEmail" => {
            let index = text("email")
                .strip_prefix("user")
                .and_then(|rest| rest.strip_suffix("@example.com"))
                .and_then(|number| number.parse().ok());
            match index {
                Some(index) => json!({ "ok": true, "user": user_json(index) }),
                None => json!({ "ok": false, "error": "users_not_found" }),
            }
        }
        "views.open" => {
            if let Some(number) = text("trigger_id")
                .strip_prefix(TRIGGER_PREFIX)
                .and_then(|number| number.parse::<u64>().ok())
            {
                lock(&observed.views_opened).insert(number, arrived);
            }
            json!({ "ok": true, "view": { "id": format!("VBENCH{}", next_id()), "hash": "h1" } })
        }
        "views.update" | "views.push" => {
            let id = args
                .get("view_id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("VBENCH{}", next_id()), str::to_owned);
            json!({ "ok": true, "view": { "id": id, "hash": "h2" } })
        }
        "chat.postMessage" => json!({
            "ok": true,
            "channel": text("channel"),
            "ts": format!("1800000000.{:06}", next_id() % 1_000_000),
        }),
        "chat.update" | "chat.postEphemeral" => json!({ "ok": true, "ts": "1800000000.000001" }),
        "conversations.open" => {
            json!({ "ok": true, "channel": { "id": format!("D{}", text("users")) } })
        }
        _ => json!({ "ok": false, "error": "unknown_method" }),
    }
}

fn user_json(index: usize) -> Value {
    json!({
        "id": user_id(index),
        "team_id": TEAM_ID,
        "name": format!("user{index}"),
        "deleted": false,
        "is_bot": false,
        "is_restricted": false,
        "is_ultra_restricted": false,
        "is_email_confirmed": true,
        "profile": { "email": user_email(index), "real_name": format!("Bench User {index}") },
    })
}
