//! The routes of docs/reference.md §5. Every handler reads the raw body, verifies the signature over it,
//! parses it, checks `act_for`, and only then calls the workflow, so a refusal before the
//! workflow cannot have changed anything.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use liftgate_gateway::domain::{AccessRequest, Channel, Person, RequestId, RequestTarget};
use liftgate_gateway::http::RouteProvider;
use liftgate_gateway::workflow::{AccessService, Action, NewRequest, TargetInput};
use liftgate_policy::Email;
use serde::Deserialize;

use crate::auth::{Clients, VerifiedCall};
use crate::body::{CreateBody, DecisionBody, parse_cancel, parse_review, parse_revoke};
use crate::error::ApiError;
use crate::signature::IDEMPOTENCY_KEY_HEADER;
use crate::view::{GrantView, RequestView};

/// Bodies of this API are a few hundred bytes; this leaves room for long reasons.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY_LENGTH: usize = 255;

type ApiResult = Result<HttpResponse, ApiError>;

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct ApiState {
    pub service: AccessService,
    pub clients: Clients,
}

/// Mounts the webhook API under `/api/v1` (see [`RouteProvider`]).
#[derive(Debug, Clone)]
pub struct WebhookRoutes {
    state: web::Data<ApiState>,
}

impl WebhookRoutes {
    pub(crate) fn new(state: web::Data<ApiState>) -> WebhookRoutes {
        WebhookRoutes { state }
    }
}

impl RouteProvider for WebhookRoutes {
    fn configure(&self, config: &mut web::ServiceConfig) {
        config.service(
            web::scope("/api/v1")
                .app_data(self.state.clone())
                .route("/requests", web::post().to(create))
                .route("/requests/{id}", web::get().to(get_request))
                .route("/requests/{id}/approve", web::post().to(approve))
                .route("/requests/{id}/deny", web::post().to(deny))
                .route("/requests/{id}/cancel", web::post().to(cancel))
                .route("/requests/{id}/revoke", web::post().to(revoke))
                .route("/requests/{id}/acknowledge", web::post().to(acknowledge))
                .route("/requests/{id}/flag", web::post().to(flag))
                .route("/grants", web::get().to(list_grants))
                .default_service(web::to(no_such_route)),
        );
    }
}

async fn no_such_route() -> ApiResult {
    Err(ApiError::not_found(
        "there is no such route in the webhook API",
    ))
}

async fn read_body(payload: web::Payload) -> Result<Bytes, ApiError> {
    match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(ApiError::bad_request(
            "unreadable_body",
            "the body could not be read",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )),
    }
}

/// Reads the body and checks the signature over exactly those bytes.
async fn verified(
    state: &ApiState,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<(VerifiedCall, Bytes), ApiError> {
    let body = read_body(payload).await?;
    let now = state.service.clock().now();
    match state
        .clients
        .authenticate(request, &body, state.service.store().as_ref(), now)
        .await
    {
        Ok(call) => Ok((call, body)),
        Err(error) => {
            state.service.metrics().inc(
                "liftgate_auth_failures_total",
                &[("channel", "webhook"), ("reason", error.code())],
            );
            Err(error)
        }
    }
}

fn path_request_id(request: &HttpRequest) -> Result<RequestId, ApiError> {
    let text = request.match_info().get("id").unwrap_or_default();
    RequestId::parse(text).ok_or_else(|| ApiError::not_found(format!("there is no request {text}")))
}

fn answer(status: StatusCode, request: &AccessRequest) -> HttpResponse {
    HttpResponse::build(status).json(RequestView::from(request))
}

/// The create's idempotency key, scoped by client: the `Idempotency-Key` header. Without it
/// a create is not idempotent (every call has its own nonce, so a retry is a new call).
fn idempotency_key(request: &HttpRequest, call: &VerifiedCall) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_idempotency_key",
            format!(
                "{IDEMPOTENCY_KEY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters"
            ),
        )
    };
    let key = value.to_str().map_err(|_| invalid())?.trim();
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LENGTH || !visible {
        return Err(invalid());
    }
    Ok(Some(format!("webhook:{}:key:{key}", call.client_id)))
}

/// Whether a stored request is the one `body` asks for; a reused idempotency key with a
/// different body must not pass the first request off as the answer to the second. Compares
/// what the workflow stores unchanged, so a genuine retry always matches.
fn is_same_request(stored: &AccessRequest, body: &CreateBody) -> bool {
    let same_target = match (&stored.target, &body.target) {
        (
            RequestTarget::Account {
                account_id,
                permission_set,
                ..
            },
            TargetInput::Account {
                account_id: wanted_account,
                permission_set: wanted_set,
            },
        ) => account_id == wanted_account.trim() && permission_set == wanted_set.trim(),
        (RequestTarget::Group { group_id, .. }, TargetInput::Group { group_id: wanted }) => {
            group_id.eq_ignore_ascii_case(wanted.trim())
        }
        _ => false,
    };
    same_target
        && stored.requester.email == body.requester
        && stored.duration == body.duration
        && stored.reason == body.reason.trim()
        && stored.break_glass_requested == body.break_glass
    // `extends` is left out: the workflow clears it when the grant ended before approval.
}

async fn create(
    state: web::Data<ApiState>,
    request: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    let (call, body) = verified(&state, &request, payload).await?;
    let create = CreateBody::parse(&body)?;
    call.check_acts_for(&create.requester)?;
    let key = idempotency_key(&request, &call)?;
    let stored = state
        .service
        .create(NewRequest {
            requester: Person::through_webhook(create.requester.clone(), &call.client_id),
            target: create.target.clone(),
            duration: create.duration,
            reason: create.reason.clone(),
            channel: Channel::Webhook,
            start_at: create.start_at,
            extends: create.extends.clone(),
            idempotency_key: key,
            break_glass: create.break_glass,
        })
        .await?;
    if !is_same_request(&stored, &create) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            format!(
                "this {IDEMPOTENCY_KEY_HEADER} was used for another request ({})",
                stored.id
            ),
        ));
    }
    tracing::info!(request_id = %stored.id, client = %call.client_id, "Webhook request created.");
    let mut response = answer(StatusCode::CREATED, &stored);
    if let Ok(location) = format!("/api/v1/requests/{}", stored.id).parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

async fn get_request(
    state: web::Data<ApiState>,
    request: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    let (call, _) = verified(&state, &request, payload).await?;
    let id = path_request_id(&request)?;
    let stored = state.service.get(&id).await?;
    // A client that may act for none of the people involved sees it as absent.
    if !call.may_see(&stored) {
        return Err(ApiError::not_found(format!("there is no request {id}")));
    }
    Ok(answer(StatusCode::OK, &stored))
}

/// The decisions the API takes at `/requests/{id}/<verb>`, each with its body.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Approve,
    Deny,
    Cancel,
    Revoke,
    Acknowledge,
    Flag,
}

impl Verb {
    /// The person acting and what they do, read from the verb's body.
    fn read(self, body: &[u8]) -> Result<(Email, Action), ApiError> {
        Ok(match self {
            Verb::Approve => {
                let decision = DecisionBody::parse(body)?;
                let comment = decision.comment;
                (decision.approver, Action::Approve { comment })
            }
            Verb::Deny => {
                let decision = DecisionBody::parse(body)?;
                let comment = decision.comment;
                (decision.approver, Action::Deny { comment })
            }
            Verb::Cancel => (parse_cancel(body)?, Action::Cancel),
            Verb::Revoke => (parse_revoke(body)?, Action::Revoke),
            Verb::Acknowledge => {
                let (reviewer, comment) = parse_review(body)?;
                (reviewer, Action::Acknowledge { comment })
            }
            Verb::Flag => {
                let (reviewer, comment) = parse_review(body)?;
                (reviewer, Action::Flag { comment })
            }
        })
    }
}

/// Every decision through the core's one entry point (`AccessService::act`).
async fn act(
    verb: Verb,
    state: web::Data<ApiState>,
    request: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    let (call, body) = verified(&state, &request, payload).await?;
    let (actor, action) = verb.read(&body)?;
    call.check_acts_for(&actor)?;
    let id = path_request_id(&request)?;
    let actor = Person::through_webhook(actor, &call.client_id);
    let updated = state
        .service
        .act(&id, &actor, Channel::Webhook, action)
        .await?;
    // Only what is stored: a revocation ended (200), or recorded and still being carried out
    // (202, with `revocation.state: in_progress`; poll the request to see it finish).
    let status = if matches!(verb, Verb::Revoke) && updated.is_ending() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(answer(status, &updated))
}

async fn approve(s: web::Data<ApiState>, r: HttpRequest, p: web::Payload) -> ApiResult {
    act(Verb::Approve, s, r, p).await
}

async fn deny(s: web::Data<ApiState>, r: HttpRequest, p: web::Payload) -> ApiResult {
    act(Verb::Deny, s, r, p).await
}

async fn cancel(s: web::Data<ApiState>, r: HttpRequest, p: web::Payload) -> ApiResult {
    act(Verb::Cancel, s, r, p).await
}

async fn revoke(s: web::Data<ApiState>, r: HttpRequest, p: web::Payload) -> ApiResult {
    act(Verb::Revoke, s, r, p).await
}

async fn acknowledge(s: web::Data<ApiState>, r: HttpRequest, p: web::Payload) -> ApiResult {
    act(Verb::Acknowledge, s, r, p).await
}

async fn flag(s: web::Data<ApiState>, r: HttpRequest, p: web::Payload) -> ApiResult {
    act(Verb::Flag, s, r, p).await
}

#[derive(Debug, Deserialize)]
struct GrantsQuery {
    #[serde(default)]
    active: bool,
}

async fn list_grants(
    state: web::Data<ApiState>,
    request: HttpRequest,
    payload: web::Payload,
) -> ApiResult {
    let (call, _) = verified(&state, &request, payload).await?;
    let query = web::Query::<GrantsQuery>::from_query(request.query_string())
        .map_err(|_| ApiError::bad_request("invalid_field", "active must be true or false"))?;
    let grants: Vec<GrantView> = state
        .service
        .grants(query.active)
        .await?
        .iter()
        .filter(|grant| call.act_for.covers(&grant.requester))
        .map(GrantView::from)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "grants": grants })))
}
