//! The HTTP endpoints Slack calls (docs/reference.md §5). Every body is checked against Slack's v0
//! signature, on the raw bytes, before anything else; a refused request changes nothing.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use liftgate_gateway::http::{RouteProvider, error_response};

use crate::adapter::SlackAdapter;
use crate::payload::{Ack, Inbound, form_fields, interaction_body};
use crate::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Which endpoint a body arrived at.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Interactions,
    Commands,
    Options,
    Events,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Interactions => "interactions",
            Endpoint::Commands => "commands",
            Endpoint::Options => "options",
            Endpoint::Events => "events",
        }
    }
}

/// `/slack/interactions`, `/slack/commands`, `/slack/options` and `/slack/events`.
pub(crate) struct SlackRoutes {
    adapter: Arc<SlackAdapter>,
}

impl SlackRoutes {
    pub(crate) fn new(adapter: Arc<SlackAdapter>) -> SlackRoutes {
        SlackRoutes { adapter }
    }
}

impl RouteProvider for SlackRoutes {
    fn configure(&self, config: &mut web::ServiceConfig) {
        config.service(
            web::scope("/slack")
                .app_data(web::Data::from(Arc::clone(&self.adapter)))
                .route("/interactions", web::post().to(interactions))
                .route("/commands", web::post().to(commands))
                .route("/options", web::post().to(options))
                .route("/events", web::post().to(events)),
        );
    }
}

async fn interactions(
    adapter: web::Data<SlackAdapter>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    receive(
        adapter.into_inner(),
        Endpoint::Interactions,
        &request,
        &body,
    )
    .await
}

async fn commands(
    adapter: web::Data<SlackAdapter>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    receive(adapter.into_inner(), Endpoint::Commands, &request, &body).await
}

async fn options(
    adapter: web::Data<SlackAdapter>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    receive(adapter.into_inner(), Endpoint::Options, &request, &body).await
}

async fn events(
    adapter: web::Data<SlackAdapter>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    receive(adapter.into_inner(), Endpoint::Events, &request, &body).await
}

async fn receive(
    adapter: Arc<SlackAdapter>,
    endpoint: Endpoint,
    request: &HttpRequest,
    body: &[u8],
) -> HttpResponse {
    // Slack's certificate check of a command URL may come unsigned; it is answered with an
    // empty 200 and does nothing, so it needs no signature.
    if matches!(endpoint, Endpoint::Commands)
        && form_fields(body)
            .get("ssl_check")
            .is_some_and(|value| value == "1")
    {
        return HttpResponse::Ok().finish();
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let now = adapter.service.clock().now();
    let secret = adapter.settings.signing_secret.expose();
    if let Err(error) = signature::verify(
        secret,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        body,
        now,
    ) {
        adapter.service.metrics().inc(
            "liftgate_auth_failures_total",
            &[("channel", "slack"), ("reason", error.label())],
        );
        tracing::warn!(endpoint = endpoint.label(), reason = %error, "Refused a Slack request that is not signed correctly.");
        return error_response(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "invalid request",
        );
    }
    let inbound = match endpoint {
        Endpoint::Interactions | Endpoint::Options => {
            interaction_body(body).map(Inbound::Interaction)
        }
        Endpoint::Commands => Ok(Inbound::Command(form_fields(body))),
        Endpoint::Events => serde_json::from_slice(body)
            .map(Inbound::Event)
            .map_err(|error| format!("the body is not JSON: {error}")),
    };
    let ack = match inbound {
        Ok(inbound) => adapter.handle(inbound).await,
        Err(problem) => Ack::Invalid(problem),
    };
    match ack {
        Ack::Empty => HttpResponse::Ok().finish(),
        Ack::Json(body) => HttpResponse::Ok().json(body),
        Ack::Invalid(problem) => {
            tracing::warn!(endpoint = endpoint.label(), %problem, "Refused a malformed Slack request.");
            error_response(StatusCode::BAD_REQUEST, "invalid_payload", &problem)
        }
    }
}
