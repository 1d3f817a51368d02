//! A fake Slack: the Web API methods Liftgate calls, with Slack's state rules and error
//! replies (chat-protocols.md §4.1), a call log, error injection, and the Socket Mode
//! WebSocket. Everything binds to 127.0.0.1 and runs on the test's clock.

mod methods;
mod socket;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use liftgate_gateway::ports::Clock;
use liftgate_gateway::testing::ManualClock;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

pub const BOT_TOKEN: &str = "xoxb-test";
pub const APP_TOKEN: &str = "xapp-test";
pub const APPROVALS: &str = "CAPPROVALS";
pub const BOT_USER: &str = "UBOT";

/// How long a trigger id stays usable.
pub const TRIGGER_LIFETIME: time::Duration = time::Duration::seconds(3);

#[derive(Debug, Clone)]
pub struct FakeUser {
    pub id: String,
    pub name: String,
    pub email: String,
    pub deleted: bool,
    pub is_bot: bool,
    /// The user's home workspace ("T1" is the installing one).
    pub team_id: String,
    pub enterprise_id: Option<String>,
    pub is_restricted: bool,
    pub is_ultra_restricted: bool,
    pub is_stranger: bool,
    pub is_email_confirmed: bool,
}

impl FakeUser {
    /// A confirmed member of the installing workspace.
    pub fn member(id: &str, name: &str, email: &str) -> FakeUser {
        FakeUser {
            id: id.to_owned(),
            name: name.to_owned(),
            email: email.to_owned(),
            deleted: false,
            is_bot: false,
            team_id: "T1".to_owned(),
            enterprise_id: None,
            is_restricted: false,
            is_ultra_restricted: false,
            is_stranger: false,
            is_email_confirmed: true,
        }
    }
}

/// A message as the fake stores it, with every version `chat.update` made.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Value,
    pub by_bot: bool,
    /// Earlier versions, oldest first: (text, blocks).
    pub history: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Trigger {
    pub user: String,
    pub issued: OffsetDateTime,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct FakeView {
    pub id: String,
    pub root_id: String,
    pub user: String,
    pub hash: String,
    pub view: Value,
    /// What the person has entered, by block id (a value object of `view.state.values`).
    pub answers: BTreeMap<String, Value>,
    pub versions: u32,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub args: Value,
    pub http_method: String,
    pub content_type: String,
    /// The HTTP status answered.
    pub status: u16,
    /// Whether the answer was `{"ok": true}`.
    pub ok: bool,
}

/// An error to answer instead of the real reply.
#[derive(Debug, Clone)]
pub enum Injection {
    /// HTTP 429 with `Retry-After: seconds`.
    RateLimited(u64),
    /// An HTTP status (500, 503, …) with `{"ok": false, "error": "internal_error"}`.
    Status(u16),
    /// HTTP 200 with `{"ok": false, "error": code}`.
    Error(String),
    /// No answer until the test notifies; then the real reply. Counted in `State::stalled`.
    Stall(Arc<tokio::sync::Notify>),
}

#[derive(Debug, Default)]
pub struct State {
    pub scopes: BTreeSet<String>,
    pub users: BTreeMap<String, FakeUser>,
    pub channels: BTreeSet<String>,
    pub direct_messages: BTreeMap<String, String>,
    pub messages: Vec<StoredMessage>,
    pub ephemerals: Vec<Ephemeral>,
    pub triggers: HashMap<String, Trigger>,
    pub views: BTreeMap<String, FakeView>,
    pub calls: Vec<Call>,
    pub injections: HashMap<String, VecDeque<Injection>>,
    /// Calls held by [`Injection::Stall`] so far.
    pub stalled: usize,
    pub tickets: HashMap<String, bool>,
    pub socket: socket::SocketState,
    /// The Enterprise Grid organisation `auth.test` names, if the workspace is in one.
    pub enterprise_id: Option<String>,
    counter: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}

/// The fake, shared between the test and its server threads.
#[derive(Clone)]
pub struct FakeSlack {
    state: Arc<Mutex<State>>,
    clock: Arc<ManualClock>,
    pub base_url: String,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    clock: Arc<ManualClock>,
    socket_port: u16,
}

impl FakeSlack {
    /// Starts the Web API server and the Socket Mode listener.
    pub async fn start(clock: Arc<ManualClock>) -> FakeSlack {
        let mut state = State::default();
        for scope in [
            "commands",
            "chat:write",
            "users:read",
            "users:read.email",
            "im:write",
        ] {
            state.scopes.insert(scope.to_owned());
        }
        state.channels.insert(APPROVALS.to_owned());
        for (id, name) in [
            ("UREQ", "requester"),
            ("UALICE", "alice"),
            ("UBOB", "bob"),
            ("UCAROL", "carol"),
            ("UDAVE", "dave"),
            ("UEVE", "eve"),
        ] {
            state.users.insert(
                id.to_owned(),
                FakeUser::member(id, name, &format!("{name}@corp.com")),
            );
        }
        state.users.insert(
            BOT_USER.to_owned(),
            FakeUser {
                is_bot: true,
                ..FakeUser::member(BOT_USER, "liftgate", "")
            },
        );
        let state = Arc::new(Mutex::new(state));
        let socket_port = socket::start(Arc::clone(&state)).await;
        let shared = Shared {
            state: Arc::clone(&state),
            clock: Arc::clone(&clock),
            socket_port,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(shared.clone()))
                .route("/api/{method}", web::route().to(api))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let address = server.addrs()[0];
        tokio::spawn(server.run());
        FakeSlack {
            state,
            clock,
            base_url: format!("http://{address}/api/"),
        }
    }

    /// Adds (or replaces) a Slack user.
    pub fn add_user(&self, user: FakeUser) {
        self.state().users.insert(user.id.clone(), user);
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Takes `users:read.email` away (or gives it back).
    pub fn set_email_scope(&self, granted: bool) {
        let mut state = self.state();
        if granted {
            state.scopes.insert("users:read.email".to_owned());
        } else {
            state.scopes.remove("users:read.email");
        }
    }

    /// Makes the next calls of `method` fail as given, in order.
    pub fn inject(&self, method: &str, injections: impl IntoIterator<Item = Injection>) {
        self.state()
            .injections
            .entry(method.to_owned())
            .or_default()
            .extend(injections);
    }

    /// A fresh trigger id for a user, issued `age` ago.
    pub fn issue_trigger(&self, user: &str, age: time::Duration) -> String {
        let mut state = self.state();
        let n = state.next();
        let id = format!("{n}.111.trigger{n}");
        state.triggers.insert(
            id.clone(),
            Trigger {
                user: user.to_owned(),
                issued: self.clock.now() - age,
                used: false,
            },
        );
        id
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|call| call.method == method)
            .cloned()
            .collect()
    }

    /// Successful calls of a method.
    pub fn ok_calls(&self, method: &str) -> usize {
        self.calls(method).iter().filter(|call| call.ok).count()
    }

    /// Top-level messages in a channel, oldest first.
    pub fn messages_in(&self, channel: &str) -> Vec<StoredMessage> {
        self.state()
            .messages
            .iter()
            .filter(|message| message.channel == channel && message.thread_ts.is_none())
            .cloned()
            .collect()
    }

    pub fn thread_replies(&self, channel: &str, ts: &str) -> Vec<StoredMessage> {
        self.state()
            .messages
            .iter()
            .filter(|message| {
                message.channel == channel && message.thread_ts.as_deref() == Some(ts)
            })
            .cloned()
            .collect()
    }

    /// The DM conversation of a user, if the bot opened one.
    pub fn dm_of(&self, user: &str) -> Option<String> {
        self.state().direct_messages.get(user).cloned()
    }

    pub fn dms_to(&self, user: &str) -> Vec<StoredMessage> {
        match self.dm_of(user) {
            Some(channel) => self.messages_in(&channel),
            None => Vec::new(),
        }
    }

    pub fn ephemerals_to(&self, user: &str) -> Vec<Ephemeral> {
        self.state()
            .ephemerals
            .iter()
            .filter(|message| message.user == user)
            .cloned()
            .collect()
    }

    /// The user's most recently opened view.
    pub fn open_view(&self, user: &str) -> Option<FakeView> {
        let state = self.state();
        state
            .views
            .values()
            .filter(|view| view.user == user)
            .max_by_key(|view| view.id.trim_start_matches('V').parse::<u64>().unwrap_or(0))
            .cloned()
    }

    pub fn view(&self, id: &str) -> FakeView {
        self.state().views.get(id).cloned().unwrap()
    }

    /// Records what the person chose in a view (as Slack keeps it in `view.state`).
    pub fn answer(&self, view_id: &str, block_id: &str, value: Value) {
        let mut state = self.state();
        let view = state.views.get_mut(view_id).unwrap();
        view.answers.insert(block_id.to_owned(), value);
    }

    pub fn connections_opened(&self) -> usize {
        self.ok_calls("apps.connections.open")
    }
}

/// Polls `condition` until it holds or five seconds pass.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut condition: F) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

fn parse_args(request: &HttpRequest, body: &[u8]) -> Map<String, Value> {
    let mut args = Map::new();
    for (key, value) in url::form_urlencoded::parse(request.query_string().as_bytes()) {
        args.insert(key.into_owned(), json!(value));
    }
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) {
            args.extend(fields);
        }
    } else {
        for (key, value) in url::form_urlencoded::parse(body) {
            // slack_sdk sends `view` and `blocks` as JSON text in forms.
            let parsed = match value.trim_start().chars().next() {
                Some('{' | '[') => serde_json::from_str(&value).unwrap_or_else(|_| json!(value)),
                _ => json!(value),
            };
            args.insert(key.into_owned(), parsed);
        }
    }
    args
}

async fn api(
    shared: web::Data<Shared>,
    method: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let method = method.into_inner();
    let mut args = parse_args(&request, &body);
    let header_token = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body_token = args
        .remove("token")
        .and_then(|token| token.as_str().map(str::to_owned));
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let now = shared.clock.now();
    let mut injection = shared
        .state
        .lock()
        .unwrap()
        .injections
        .get_mut(&method)
        .and_then(VecDeque::pop_front);
    if let Some(Injection::Stall(release)) = &injection {
        let release = Arc::clone(release);
        let waiting = release.notified();
        shared.state.lock().unwrap().stalled += 1;
        waiting.await;
        injection = None;
    }
    let mut state = shared.state.lock().unwrap();
    let (status, retry_after, reply) = match injection {
        Some(Injection::RateLimited(seconds)) => (
            429,
            Some(seconds),
            json!({ "ok": false, "error": "ratelimited" }),
        ),
        Some(Injection::Status(status)) => (
            status,
            None,
            json!({ "ok": false, "error": "internal_error" }),
        ),
        Some(Injection::Error(code)) => (200, None, json!({ "ok": false, "error": code })),
        None | Some(Injection::Stall(_)) => {
            let context = methods::Context {
                now,
                socket_port: shared.socket_port,
            };
            let reply = methods::call(
                &mut state,
                &context,
                &method,
                header_token.as_deref(),
                body_token.as_deref(),
                &args,
            );
            (200, None, reply)
        }
    };
    state.calls.push(Call {
        method: method.clone(),
        args: Value::Object(args),
        http_method: request.method().to_string(),
        content_type,
        status,
        ok: reply["ok"] == true,
    });
    drop(state);
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(seconds) = retry_after {
        response.insert_header(("Retry-After", seconds.to_string()));
    }
    response.json(reply)
}
