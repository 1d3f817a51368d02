//! One local HTTP server playing Microsoft's three parts:
//! - the Entra token endpoint `POST /{tenant}/oauth2/v2.0/token` (client credentials; counts
//!   calls; configurable `expires_in`; wrong secret → 401 invalid_client, wrong tenant → 400);
//! - the Bot Framework OpenID issuer `GET /v1/.well-known/openidconfiguration` and
//!   `GET /v1/.well-known/keys` (replaceable key set for rotation; fetch counters);
//! - the Connector under `/teams/v3/…`: requires a bearer token the fake Entra endpoint issued
//!   and that has not expired on the test clock, refuses path segments whose reserved
//!   characters are not percent-encoded, percent-decodes them, stores every activity and each
//!   PUT version, answers member lookups, and injects errors (429 with or without
//!   Retry-After, 412, 502, 504, 403) on demand.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use liftgate_gateway::ports::Clock;
use liftgate_gateway::testing::ManualClock;
use serde_json::{Value, json};

use super::keys;

pub(crate) const BOT_FRAMEWORK_AUDIENCE: &str = "https://api.botframework.com";

/// One call the Connector received.
#[derive(Debug, Clone)]
pub(crate) struct ConnectorCall {
    pub(crate) method: String,
    /// The raw path as sent (still percent-encoded).
    pub(crate) raw_path: String,
    /// The decoded segments after `/teams/`.
    pub(crate) segments: Vec<String>,
    pub(crate) body: Value,
}

/// An activity the bot posted, with every version a PUT gave it.
#[derive(Debug, Clone)]
pub(crate) struct StoredActivity {
    pub(crate) id: String,
    pub(crate) conversation_id: String,
    pub(crate) versions: Vec<Value>,
}

impl StoredActivity {
    pub(crate) fn latest(&self) -> &Value {
        self.versions.last().unwrap()
    }

    /// The Adaptive Card of the latest version, if it carries one.
    pub(crate) fn card(&self) -> Option<&Value> {
        card_of(self.latest())
    }
}

pub(crate) fn card_of(activity: &Value) -> Option<&Value> {
    activity["attachments"]
        .as_array()?
        .iter()
        .find_map(|attachment| {
            (attachment["contentType"] == "application/vnd.microsoft.card.adaptive")
                .then(|| &attachment["content"])
        })
}

/// An error the Connector answers instead of handling the next matching call.
#[derive(Debug, Clone)]
pub(crate) struct Injected {
    pub(crate) method: Option<&'static str>,
    /// Only calls whose raw (encoded) path contains this.
    pub(crate) path_contains: Option<&'static str>,
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct FakeState {
    clock: Arc<ManualClock>,
    tenant: String,
    app_id: String,
    app_secret: String,
    base: String,
    pub(crate) token_calls: u32,
    pub(crate) token_lifetime: i64,
    pub(crate) metadata_fetches: u32,
    pub(crate) jwks_fetches: u32,
    pub(crate) jwks: Vec<Value>,
    /// When set, key-set fetches wait for this before answering (a slow Microsoft).
    pub(crate) jwks_gate: Option<Arc<tokio::sync::Notify>>,
    pub(crate) calls: Vec<ConnectorCall>,
    pub(crate) members: HashMap<String, Value>,
    pub(crate) activities: Vec<StoredActivity>,
    pub(crate) created_conversations: Vec<Value>,
    pub(crate) failures: VecDeque<Injected>,
    next_id: u64,
}

#[derive(Debug)]
pub(crate) struct FakeMicrosoft {
    pub(crate) base: String,
    pub(crate) state: Arc<Mutex<FakeState>>,
    handle: ServerHandle,
}

fn connector_error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({ "error": { "code": code, "message": message } }))
}

async fn token(
    state: web::Data<Arc<Mutex<FakeState>>>,
    tenant: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    state.token_calls += 1;
    if *tenant != state.tenant {
        return HttpResponse::BadRequest()
            .json(json!({ "error": "invalid_request", "error_description": "AADSTS90002: Tenant not found." }));
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials"
        || field("scope") != "https://api.botframework.com/.default"
    {
        return HttpResponse::BadRequest().json(json!({ "error": "invalid_scope" }));
    }
    if field("client_id") != state.app_id || field("client_secret") != state.app_secret {
        return HttpResponse::Unauthorized().json(json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
        }));
    }
    let now = state.clock.now().unix_timestamp();
    let claims = json!({
        "aud": BOT_FRAMEWORK_AUDIENCE,
        "iss": format!("https://sts.windows.net/{}/", state.tenant),
        "appid": state.app_id,
        "iat": now, "nbf": now, "exp": now + state.token_lifetime,
    });
    let key = EncodingKey::from_rsa_pem(keys::entra().private_pem.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "expires_in": state.token_lifetime,
        "ext_expires_in": state.token_lifetime,
        "access_token": token,
    }))
}

async fn openid_metadata(state: web::Data<Arc<Mutex<FakeState>>>) -> HttpResponse {
    let mut state = state.lock().unwrap();
    state.metadata_fetches += 1;
    HttpResponse::Ok().json(json!({
        "issuer": "https://api.botframework.com",
        "authorization_endpoint": "https://invalid.botframework.com",
        "jwks_uri": format!("{}/v1/.well-known/keys", state.base),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
}

async fn jwks(state: web::Data<Arc<Mutex<FakeState>>>) -> HttpResponse {
    let gate = {
        let mut state = state.lock().unwrap();
        state.jwks_fetches += 1;
        state.jwks_gate.clone()
    };
    if let Some(gate) = gate {
        gate.notified().await;
    }
    let state = state.lock().unwrap();
    HttpResponse::Ok().json(json!({ "keys": state.jwks }))
}

/// Whether the bearer token is one the fake Entra endpoint issued for this app and still valid.
fn authorized(state: &FakeState, request: &HttpRequest) -> bool {
    let Some(token) = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let key = DecodingKey::from_rsa_pem(keys::entra().public_pem.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.set_audience(&[BOT_FRAMEWORK_AUDIENCE]);
    let Ok(data) = jsonwebtoken::decode::<Value>(token, &key, &validation) else {
        return false;
    };
    let exp = data.claims["exp"].as_i64().unwrap_or(0);
    data.claims["appid"] == state.app_id.as_str() && exp > state.clock.now().unix_timestamp()
}

async fn connector(
    state: web::Data<Arc<Mutex<FakeState>>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut state = state.lock().unwrap();
    let raw_path = request.uri().path().to_owned();
    let Some(rest) = raw_path.strip_prefix("/teams/") else {
        return connector_error(404, "NotFound", "no such route");
    };
    if !authorized(&state, &request) {
        return HttpResponse::Unauthorized()
            .json(json!({ "message": "Authorization has been denied for this request." }));
    }
    // The official client encodes ids; a raw reserved character means the bot did not.
    if rest
        .split('/')
        .any(|segment| segment.contains([':', '@', ';', '=']))
    {
        return connector_error(400, "BadArgument", "path segments must be percent-encoded");
    }
    let segments: Vec<String> = rest
        .split('/')
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .collect();
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let method = request.method().as_str().to_owned();
    state.calls.push(ConnectorCall {
        method: method.clone(),
        raw_path: raw_path.clone(),
        segments: segments.clone(),
        body: body.clone(),
    });

    let matches = state.failures.front().is_some_and(|f| {
        f.method.is_none_or(|m| m == method)
            && f.path_contains.is_none_or(|part| raw_path.contains(part))
    });
    if matches {
        let failure = state.failures.pop_front().unwrap();
        let mut response =
            HttpResponse::build(actix_web::http::StatusCode::from_u16(failure.status).unwrap());
        if let Some(seconds) = failure.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        return match failure.status {
            401 => response
                .json(json!({ "message": "Authorization has been denied for this request." })),
            403 => response.json(
                json!({ "errorCode": 209, "message": "{\"subCode\":\"MessageWritesBlocked\"}" }),
            ),
            _ => response.json(json!({ "error": { "code": "Throttled", "message": "injected" } })),
        };
    }

    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["v3", "conversations"]) => {
            state.created_conversations.push(body.clone());
            state.next_id += 1;
            let n = state.next_id;
            if body["isGroup"] == true {
                let channel = body["channelData"]["channel"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if channel.is_empty() {
                    return connector_error(
                        400,
                        "BadArgument",
                        "channelData.channel.id is required",
                    );
                }
                let thread = format!("{channel};messageid={n}");
                let activity_id = n.to_string();
                state.activities.push(StoredActivity {
                    id: activity_id.clone(),
                    conversation_id: thread.clone(),
                    versions: vec![body["activity"].clone()],
                });
                HttpResponse::Created().json(json!({ "id": thread, "activityId": activity_id }))
            } else {
                let Some(member) = body["members"][0]["id"].as_str() else {
                    return connector_error(
                        400,
                        "BadArgument",
                        "Conversations must be to a single member",
                    );
                };
                if !state.members.contains_key(member) {
                    return connector_error(
                        403,
                        "Forbidden",
                        "the bot is not installed for this user",
                    );
                }
                HttpResponse::Created().json(json!({ "id": format!("a:personal-{member}") }))
            }
        }
        ("POST", ["v3", "conversations", conversation, "activities"])
        | ("POST", ["v3", "conversations", conversation, "activities", _]) => {
            state.next_id += 1;
            let id = state.next_id.to_string();
            state.activities.push(StoredActivity {
                id: id.clone(),
                conversation_id: (*conversation).to_owned(),
                versions: vec![body],
            });
            HttpResponse::Created().json(json!({ "id": id }))
        }
        (
            "PUT",
            [
                "v3",
                "conversations",
                conversation,
                "activities",
                activity_id,
            ],
        ) => {
            let found = state.activities.iter_mut().find(|stored| {
                stored.id == *activity_id && stored.conversation_id == *conversation
            });
            match found {
                Some(stored) => {
                    stored.versions.push(body);
                    HttpResponse::Ok().json(json!({ "id": activity_id }))
                }
                None => connector_error(404, "NotFound", "activity not found"),
            }
        }
        ("GET", ["v3", "conversations", _, "members", member]) => {
            match state.members.get(*member) {
                Some(found) => HttpResponse::Ok().json(found),
                None => connector_error(
                    404,
                    "MemberNotFoundInConversation",
                    "The member is not part of the conversation.",
                ),
            }
        }
        _ => connector_error(404, "NotFound", "no such operation"),
    }
}

impl FakeMicrosoft {
    pub(crate) async fn start(
        clock: Arc<ManualClock>,
        tenant: &str,
        app_id: &str,
        app_secret: &str,
    ) -> FakeMicrosoft {
        let state = Arc::new(Mutex::new(FakeState {
            clock,
            tenant: tenant.to_owned(),
            app_id: app_id.to_owned(),
            app_secret: app_secret.to_owned(),
            base: String::new(),
            token_calls: 0,
            token_lifetime: 3600,
            metadata_fetches: 0,
            jwks_fetches: 0,
            jwks_gate: None,
            jwks: vec![keys::jwk(
                keys::botframework_k1(),
                "k1",
                &["msteams", "skype"],
            )],
            calls: Vec::new(),
            members: HashMap::new(),
            activities: Vec::new(),
            created_conversations: Vec::new(),
            failures: VecDeque::new(),
            next_id: 1000,
        }));
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(data.clone()))
                .route("/{tenant}/oauth2/v2.0/token", web::post().to(token))
                .route(
                    "/v1/.well-known/openidconfiguration",
                    web::get().to(openid_metadata),
                )
                .route("/v1/.well-known/keys", web::get().to(jwks))
                .default_service(web::to(connector))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let base = format!("http://{address}");
        state.lock().unwrap().base = base.clone();
        FakeMicrosoft {
            base,
            state,
            handle,
        }
    }

    pub(crate) fn service_url(&self) -> String {
        format!("{}/teams/", self.base)
    }

    pub(crate) fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.base)
    }

    pub(crate) fn metadata_url(&self) -> String {
        format!("{}/v1/.well-known/openidconfiguration", self.base)
    }

    pub(crate) fn add_member(&self, member: Value) {
        let id = member["id"].as_str().unwrap().to_owned();
        self.state.lock().unwrap().members.insert(id, member);
    }

    pub(crate) fn inject(&self, failure: Injected) {
        self.state.lock().unwrap().failures.push_back(failure);
    }

    pub(crate) fn set_jwks(&self, keys: Vec<Value>) {
        self.state.lock().unwrap().jwks = keys;
    }

    pub(crate) fn set_token_lifetime(&self, seconds: i64) {
        self.state.lock().unwrap().token_lifetime = seconds;
    }

    pub(crate) fn token_calls(&self) -> u32 {
        self.state.lock().unwrap().token_calls
    }

    /// (metadata fetches, key set fetches).
    pub(crate) fn key_fetches(&self) -> (u32, u32) {
        let state = self.state.lock().unwrap();
        (state.metadata_fetches, state.jwks_fetches)
    }

    pub(crate) fn calls(&self) -> Vec<ConnectorCall> {
        self.state.lock().unwrap().calls.clone()
    }

    pub(crate) fn activities(&self) -> Vec<StoredActivity> {
        self.state.lock().unwrap().activities.clone()
    }

    pub(crate) fn activity(&self, id: &str) -> StoredActivity {
        self.activities()
            .into_iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("no activity {id}"))
    }

    /// Activities posted in one conversation, oldest first.
    pub(crate) fn posted_in(&self, conversation_id: &str) -> Vec<StoredActivity> {
        self.activities()
            .into_iter()
            .filter(|a| a.conversation_id == conversation_id)
            .collect()
    }

    pub(crate) fn created_conversations(&self) -> Vec<Value> {
        self.state.lock().unwrap().created_conversations.clone()
    }

    /// Member lookups made, as (conversation, member) pairs.
    pub(crate) fn member_lookups(&self) -> Vec<(String, String)> {
        self.calls()
            .into_iter()
            .filter(|call| {
                call.method == "GET" && call.segments.get(3).map(String::as_str) == Some("members")
            })
            .map(|call| (call.segments[2].clone(), call.segments[4].clone()))
            .collect()
    }

    pub(crate) async fn stop(&self) {
        self.handle.stop(false).await;
    }
}
