//! Who is calling: the configured clients, the signature check on every call, and whom a
//! client may act for.

use std::collections::{BTreeSet, HashMap};

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use liftgate_gateway::config::{Secret, WebhookClient};
use liftgate_gateway::domain::AccessRequest;
use liftgate_gateway::ports::StateStore;
use liftgate_policy::Email;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::setup::WebhookSetupError;
use crate::signature::{
    CLIENT_HEADER, MAX_CLOCK_SKEW_SECONDS, NONCE_HEADER, SIGNATURE_HEADER, Signed,
    TIMESTAMP_HEADER, parse_signature, valid_nonce, verify,
};

/// The people a client may name as requester or approver.
#[derive(Debug, Clone)]
pub(crate) enum ActFor {
    Anyone,
    Only(BTreeSet<Email>),
}

impl ActFor {
    pub(crate) fn covers(&self, email: &Email) -> bool {
        match self {
            ActFor::Anyone => true,
            ActFor::Only(emails) => emails.contains(email),
        }
    }
}

#[derive(Debug)]
struct Client {
    secret: Secret,
    act_for: ActFor,
}

/// A call whose signature checked out and whose nonce was new.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedCall {
    pub client_id: String,
    pub act_for: ActFor,
}

impl VerifiedCall {
    /// Refuses (403) when the client may not act for `email`.
    pub(crate) fn check_acts_for(&self, email: &Email) -> Result<(), ApiError> {
        if self.act_for.covers(email) {
            return Ok(());
        }
        tracing::warn!(client = %self.client_id, person = %email, "Webhook client tried to act for someone outside act_for.");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "act_for_not_allowed",
            format!("this client may not act for {email}"),
        ))
    }

    /// Whether the client may read a request: it may act for its requester or for one of
    /// the people who can decide on it.
    pub(crate) fn may_see(&self, request: &AccessRequest) -> bool {
        match &self.act_for {
            ActFor::Anyone => true,
            ActFor::Only(_) => {
                self.act_for.covers(&request.requester.email)
                    || request
                        .approvers
                        .iter()
                        .any(|email| self.act_for.covers(email))
                    || request
                        .approvals
                        .iter()
                        .any(|approval| self.act_for.covers(&approval.approver.email))
            }
        }
    }
}

/// The configured clients, by id.
#[derive(Debug)]
pub(crate) struct Clients {
    by_id: HashMap<String, Client>,
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Result<&'a str, ApiError> {
    let value = request
        .headers()
        .get(name)
        .ok_or_else(|| unauthorized("missing_header", format!("the {name} header is missing")))?;
    value.to_str().map(str::trim).map_err(|_| {
        unauthorized(
            "malformed_header",
            format!("the {name} header is not plain text"),
        )
    })
}

/// Unix seconds, digits only: a sign or spaces would sign a different string than we read.
fn parse_timestamp(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Clients {
    pub(crate) fn new(configured: &[WebhookClient]) -> Result<Clients, WebhookSetupError> {
        let mut by_id = HashMap::new();
        for client in configured {
            let id = client.id.trim();
            if id.is_empty() {
                return Err(WebhookSetupError::EmptyClientId);
            }
            if !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            {
                // Ids name store keys (`webhook:<id>:…`); a `:` could make two clients'
                // keys collide.
                return Err(WebhookSetupError::BadClientId {
                    client: id.to_owned(),
                });
            }
            if client.secret.is_empty() {
                return Err(WebhookSetupError::EmptySecret {
                    client: id.to_owned(),
                });
            }
            let act_for = if client.act_for.iter().any(|entry| entry.trim() == "*") {
                ActFor::Anyone
            } else {
                let emails = client
                    .act_for
                    .iter()
                    .map(|entry| {
                        Email::parse(entry).map_err(|_| WebhookSetupError::BadActFor {
                            client: id.to_owned(),
                            entry: entry.clone(),
                        })
                    })
                    .collect::<Result<BTreeSet<_>, _>>()?;
                ActFor::Only(emails)
            };
            let previous = by_id.insert(
                id.to_owned(),
                Client {
                    secret: client.secret.clone(),
                    act_for,
                },
            );
            if previous.is_some() {
                return Err(WebhookSetupError::DuplicateClient {
                    client: id.to_owned(),
                });
            }
        }
        Ok(Clients { by_id })
    }

    /// Checks the four headers and the signature over the method, path, query and raw `body`
    /// (see [`Clients::verify_signature`]), then that the nonce is new: remembered in the state
    /// store for the whole window, so no replica accepts it twice.
    pub(crate) async fn authenticate(
        &self,
        request: &HttpRequest,
        body: &[u8],
        store: &dyn StateStore,
        now: OffsetDateTime,
    ) -> Result<VerifiedCall, ApiError> {
        let (call, nonce) = self.verify_signature(request, body, now)?;
        // Kept a little longer than a timestamp can be accepted, either way.
        let remember_until = now + time::Duration::seconds(2 * MAX_CLOCK_SKEW_SECONDS + 60);
        let key = format!("webhook-nonce:{}:{nonce}", call.client_id);
        match store.remember_once(&key, "seen", now, remember_until).await {
            Ok(None) => Ok(call),
            Ok(Some(_)) => {
                tracing::warn!(client = %call.client_id, "Webhook call refused: its nonce was already used.");
                Err(unauthorized(
                    "replayed",
                    "this call was already received (its nonce was used); sign each call with a new nonce",
                ))
            }
            Err(error) => {
                // Fail closed: without the memory a replay cannot be told from a new call.
                tracing::error!(client = %call.client_id, %error, "Webhook nonce could not be recorded; refusing the call.");
                Err(ApiError::unavailable())
            }
        }
    }

    /// The headers and the signature. Every failure is a 401 that says what was wrong, never
    /// what the secret or the expected signature is.
    fn verify_signature(
        &self,
        request: &HttpRequest,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(VerifiedCall, String), ApiError> {
        let client_id = header(request, CLIENT_HEADER)?;
        let timestamp_text = header(request, TIMESTAMP_HEADER)?;
        let nonce = header(request, NONCE_HEADER)?;
        let signature_text = header(request, SIGNATURE_HEADER)?;
        if !valid_nonce(nonce) {
            return Err(unauthorized(
                "malformed_header",
                format!(
                    "the {NONCE_HEADER} header must be 8 to 128 characters of A-Z, a-z, 0-9, _ and -"
                ),
            ));
        }
        let timestamp = parse_timestamp(timestamp_text).ok_or_else(|| {
            unauthorized(
                "malformed_header",
                format!("the {TIMESTAMP_HEADER} header must be unix seconds"),
            )
        })?;
        let signature = parse_signature(signature_text).ok_or_else(|| {
            unauthorized(
                "malformed_header",
                format!("the {SIGNATURE_HEADER} header must be v2= and 64 hex digits"),
            )
        })?;
        if now.unix_timestamp().abs_diff(timestamp) > MAX_CLOCK_SKEW_SECONDS.unsigned_abs() {
            tracing::warn!(client = %client_id, timestamp, "Webhook call refused: timestamp outside the window.");
            return Err(unauthorized(
                "stale_timestamp",
                format!(
                    "the timestamp is more than {MAX_CLOCK_SKEW_SECONDS} seconds away from the server's clock"
                ),
            ));
        }
        let Some(client) = self.by_id.get(client_id) else {
            tracing::warn!(client = %client_id, "Webhook call refused: unknown client.");
            return Err(unauthorized(
                "unknown_client",
                "no webhook client has this id",
            ));
        };
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or_else(|| request.path(), |value| value.as_str());
        let signed = Signed {
            timestamp: timestamp_text,
            nonce,
            method: request.method().as_str(),
            path_and_query,
        };
        if !verify(client.secret.expose(), &signed, body, &signature) {
            tracing::warn!(client = %client_id, "Webhook call refused: bad signature.");
            return Err(unauthorized(
                "bad_signature",
                "the signature does not match this method, path, nonce and body",
            ));
        }
        Ok((
            VerifiedCall {
                client_id: client_id.to_owned(),
                act_for: client.act_for.clone(),
            },
            nonce.to_owned(),
        ))
    }
}
