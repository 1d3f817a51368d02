//! HTTP answers to activities. Messages and updates get an empty 200 (replies go through the
//! Connector); invokes get their result in the body, which Teams shows to the clicker.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::cards::CARD_CONTENT_TYPE;

const MESSAGE_TYPE: &str = "application/vnd.microsoft.activity.message";
const ERROR_TYPE: &str = "application/vnd.microsoft.error";
const SEARCH_TYPE: &str = "application/vnd.microsoft.search.searchResponse";

pub(crate) fn accepted() -> HttpResponse {
    HttpResponse::Ok().finish()
}

pub(crate) fn unauthorized() -> HttpResponse {
    liftgate_gateway::http::error_response(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the request is not from the Bot Framework for this bot",
    )
}

pub(crate) fn bad_request(message: &str) -> HttpResponse {
    liftgate_gateway::http::error_response(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// An `Action.Execute` answer: this card replaces the one clicked, for the clicker.
pub(crate) fn card(card: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card }))
}

/// An `Action.Execute` answer Teams shows as a short message; the card stays as it was.
pub(crate) fn message(text: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "statusCode": 200, "type": MESSAGE_TYPE, "value": text }))
}

/// A malformed invoke (no action, an unknown verb, no request id), as the Bot Framework SDK
/// answers it.
pub(crate) fn invoke_error(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "statusCode": 400,
        "type": ERROR_TYPE,
        "value": { "code": "BadRequest", "message": message },
    }))
}

/// An invoke this bot does not handle.
pub(crate) fn not_implemented() -> HttpResponse {
    HttpResponse::NotImplemented().finish()
}

/// The results of a typeahead search (`application/search`).
pub(crate) fn search(results: &[(String, String)]) -> HttpResponse {
    let results: Vec<Value> = results
        .iter()
        .map(|(title, value)| json!({ "title": title, "value": value }))
        .collect();
    HttpResponse::Ok()
        .json(json!({ "statusCode": 200, "type": SEARCH_TYPE, "value": { "results": results } }))
}
