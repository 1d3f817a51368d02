//! The CLI routes (docs/reference.md §5). Every handler reads the bounded raw body, verifies
//! the caller over exactly those bytes, and only then parses the body and calls the workflow,
//! so a refusal before the workflow has changed nothing (but the nonce it spent).

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use liftgate_gateway::domain::{AccessRequest, Channel, RequestId};
use liftgate_gateway::http::RouteProvider;
use liftgate_gateway::workflow::{AccessService, NewRequest, TargetInput};
use liftgate_policy::Duration;
use liftgate_webhook::RequestView;
use serde::Deserialize;

use crate::auth::{Authenticator, VerifiedCli};
use crate::error::CliError;

/// Bodies are a few hundred bytes; this leaves room for long reasons.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Answers carry the ARN the gateway verified, so the CLI can say who it acted as.
pub const VERIFIED_ARN_HEADER: &str = "X-Liftgate-Verified-Arn";

type CliResult = Result<HttpResponse, CliError>;

#[derive(Debug)]
pub(crate) struct CliState {
    pub service: AccessService,
    pub auth: Authenticator,
}

/// Mounts the routes under `/cli/v1` (see [`RouteProvider`]).
#[derive(Debug, Clone)]
pub struct CliRoutes {
    state: web::Data<CliState>,
}

impl CliRoutes {
    pub(crate) fn new(state: web::Data<CliState>) -> CliRoutes {
        CliRoutes { state }
    }
}

impl RouteProvider for CliRoutes {
    fn configure(&self, config: &mut web::ServiceConfig) {
        config.service(
            web::scope("/cli/v1")
                .app_data(self.state.clone())
                .route("/sts", web::get().to(sts_target))
                .route("/requests", web::post().to(create))
                .route("/requests/{id}", web::get().to(get_request))
                .route("/requests/{id}/revoke", web::post().to(revoke))
                .route("/requests/{id}/cancel", web::post().to(cancel))
                .default_service(web::to(no_such_route)),
        );
    }
}

async fn no_such_route() -> CliResult {
    Err(CliError::not_found("there is no such CLI route"))
}

/// Where the CLI must sign for: public, since a signature is only good for this endpoint
/// and, through the server id the CLI chooses, for this gateway.
async fn sts_target(state: web::Data<CliState>) -> CliResult {
    let target = state.auth.sts.target();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sts_endpoint": target.endpoint.as_str(),
        "sts_region": target.region,
    })))
}

async fn read_body(payload: web::Payload) -> Result<Bytes, CliError> {
    match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(CliError::bad_request(
            "unreadable_body",
            "the body could not be read",
        )),
        Err(_) => Err(CliError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )),
    }
}

async fn verified(
    state: &CliState,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<(VerifiedCli, Bytes), CliError> {
    let body = read_body(payload).await?;
    match state
        .auth
        .authenticate(&state.service, request, &body)
        .await
    {
        Ok(caller) => Ok((caller, body)),
        Err(error) => {
            state.service.metrics().inc(
                "liftgate_auth_failures_total",
                &[("channel", "cli"), ("reason", error.code())],
            );
            Err(error)
        }
    }
}

fn path_request_id(request: &HttpRequest) -> Result<RequestId, CliError> {
    let text = request.match_info().get("id").unwrap_or_default();
    RequestId::parse(text).ok_or_else(|| CliError::not_found(format!("there is no request {text}")))
}

fn answer(status: StatusCode, request: &AccessRequest, caller: &VerifiedCli) -> HttpResponse {
    let mut response = HttpResponse::build(status).json(RequestView::from(request));
    if let Ok(value) = caller.arn.parse() {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-liftgate-verified-arn"),
            value,
        );
    }
    response
}

/// `POST /cli/v1/requests`: the requester is the verified caller, never a field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    account_id: Option<String>,
    permission_set: Option<String>,
    group_id: Option<String>,
    duration: String,
    reason: String,
    #[serde(default)]
    break_glass: bool,
}

/// A create as the workflow takes it.
#[derive(Debug)]
struct Create {
    target: TargetInput,
    duration: Duration,
    reason: String,
    break_glass: bool,
}

fn parse_create(body: &[u8]) -> Result<Create, CliError> {
    let create: CreateBody = serde_json::from_slice(body).map_err(|error| {
        CliError::bad_request(
            "invalid_body",
            format!("the body is not a request: {error}"),
        )
    })?;
    let target = match (create.account_id, create.permission_set, create.group_id) {
        (Some(account_id), Some(permission_set), None) => TargetInput::Account {
            account_id,
            permission_set,
        },
        (None, None, Some(group_id)) => TargetInput::Group { group_id },
        _ => {
            return Err(CliError::bad_request(
                "ambiguous_target",
                "give account_id and permission_set, or group_id",
            ));
        }
    };
    let duration = Duration::parse(&create.duration)
        .map_err(|error| CliError::bad_request("invalid_duration", error.to_string()))?;
    Ok(Create {
        target,
        duration,
        reason: create.reason,
        break_glass: create.break_glass,
    })
}

async fn create(
    state: web::Data<CliState>,
    request: HttpRequest,
    payload: web::Payload,
) -> CliResult {
    let (caller, body) = verified(&state, &request, payload).await?;
    let create = parse_create(&body)?;
    let stored = state
        .service
        .create(NewRequest {
            requester: caller.person.clone(),
            target: create.target,
            duration: create.duration,
            reason: create.reason,
            channel: Channel::Cli,
            start_at: None,
            extends: None,
            idempotency_key: None,
            break_glass: create.break_glass,
        })
        .await?;
    tracing::info!(request_id = %stored.id, arn = %caller.arn, "CLI request created.");
    let mut response = answer(StatusCode::CREATED, &stored, &caller);
    if let Ok(location) = format!("/cli/v1/requests/{}", stored.id).parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// The caller sees requests they made or may decide on; others look absent.
fn may_see(caller: &VerifiedCli, request: &AccessRequest) -> bool {
    let email = &caller.person.email;
    request.requester.email == *email
        || request.approvers.contains(email)
        || request
            .approvals
            .iter()
            .any(|approval| approval.approver.email == *email)
}

fn no_body(body: &[u8]) -> Result<(), CliError> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(CliError::bad_request(
            "invalid_body",
            "this call takes no body",
        ))
    }
}

async fn get_request(
    state: web::Data<CliState>,
    request: HttpRequest,
    payload: web::Payload,
) -> CliResult {
    let (caller, body) = verified(&state, &request, payload).await?;
    no_body(&body)?;
    let id = path_request_id(&request)?;
    let stored = state.service.get(&id).await?;
    if !may_see(&caller, &stored) {
        return Err(CliError::not_found(format!("there is no request {id}")));
    }
    Ok(answer(StatusCode::OK, &stored, &caller))
}

async fn revoke(
    state: web::Data<CliState>,
    request: HttpRequest,
    payload: web::Payload,
) -> CliResult {
    let (caller, body) = verified(&state, &request, payload).await?;
    no_body(&body)?;
    let id = path_request_id(&request)?;
    let updated = state
        .service
        .revoke(&id, &caller.person, Channel::Cli)
        .await?;
    // As the webhook API: ended (200), or the end recorded and still being carried out (202).
    let status = if updated.is_ending() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(answer(status, &updated, &caller))
}

async fn cancel(
    state: web::Data<CliState>,
    request: HttpRequest,
    payload: web::Payload,
) -> CliResult {
    let (caller, body) = verified(&state, &request, payload).await?;
    no_body(&body)?;
    let id = path_request_id(&request)?;
    let updated = state
        .service
        .cancel(&id, &caller.person, Channel::Cli)
        .await?;
    Ok(answer(StatusCode::OK, &updated, &caller))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_names_one_target_a_duration_and_a_reason() {
        let Create {
            target,
            duration,
            reason,
            break_glass,
        } = parse_create(
            br#"{"account_id": "111111111111", "permission_set": "Admin", "duration": "1h", "reason": "deploy"}"#,
        )
        .unwrap();
        assert_eq!(
            target,
            TargetInput::Account {
                account_id: "111111111111".into(),
                permission_set: "Admin".into()
            }
        );
        assert_eq!(duration, Duration::from_mins(60));
        assert_eq!(reason, "deploy");
        assert!(!break_glass);
        assert!(
            parse_create(
                br#"{"group_id": "g", "duration": "1h", "reason": "INC-1", "break_glass": true}"#
            )
            .unwrap()
            .break_glass
        );
        for (body, code) in [
            (
                &br#"{"group_id": "g", "duration": "1h", "reason": "r", "requester": "x@y.z"}"#[..],
                "invalid_body",
            ),
            (
                br#"{"group_id": "g", "account_id": "1", "duration": "1h", "reason": "r"}"#,
                "ambiguous_target",
            ),
            (
                br#"{"account_id": "1", "duration": "1h", "reason": "r"}"#,
                "ambiguous_target",
            ),
            (
                br#"{"group_id": "g", "duration": "an hour", "reason": "r"}"#,
                "invalid_duration",
            ),
            (b"[]", "invalid_body"),
        ] {
            assert_eq!(
                parse_create(body).unwrap_err().code(),
                code,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
