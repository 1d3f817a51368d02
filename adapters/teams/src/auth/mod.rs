//! Inbound authentication: every activity POSTed to `/teams/messages` must carry a Bot
//! Framework JWT that passes every check below, or nothing else happens.
//!
//! The order follows the Bot Framework's own validator: scheme, header (RS256 with a `kid`),
//! issuer, signing key (from the OpenID metadata's JWKS) endorsed for `msteams`, signature,
//! audience (our app id), expiry and not-before with five minutes of skew, the `serviceurl`
//! claim equal to the activity's `serviceUrl`, and that URL's host on the allow-list.

mod keys;

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use liftgate_gateway::ports::Clock;
use serde::Deserialize;

pub(crate) use keys::KeyCache;

use crate::activity::{Activity, TEAMS_CHANNEL_ID};
use crate::connector::ServiceUrlPolicy;

/// The only issuer of tokens the Teams channel sends. Emulator and Entra issuers are refused.
pub(crate) const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";

/// Clock skew allowed on `exp` and `nbf`, as the Bot Framework prescribes.
const CLOCK_SKEW_SECONDS: i64 = 5 * 60;

/// Why an activity was refused. Logged, never shown to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthFailure {
    #[error("no Authorization header")]
    MissingHeader,
    #[error("the Authorization header is not `Bearer <token>`")]
    BadScheme,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token is signed with {0}, not RS256")]
    Algorithm(String),
    #[error("the token header has no kid")]
    MissingKid,
    #[error("the token issuer {0:?} is not the Bot Framework")]
    Issuer(String),
    #[error("no Bot Framework signing key has kid {0:?}")]
    UnknownKey(String),
    #[error("the signing key is not endorsed for {0}")]
    NotEndorsed(String),
    #[error("the activity's channel {0:?} is not msteams")]
    Channel(String),
    #[error("the token signature is invalid")]
    Signature,
    #[error("the token audience is not this bot")]
    Audience,
    #[error("the token expired more than five minutes ago")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has no serviceurl claim")]
    MissingServiceUrl,
    #[error("the token's serviceurl does not match the activity's serviceUrl")]
    ServiceUrlMismatch,
    #[error("{0}")]
    ServiceUrlNotAllowed(String),
    #[error("the activity comes from tenant {0:?}, not this bot's tenant")]
    Tenant(String),
    #[error("the token was refused: {0}")]
    Invalid(String),
}

impl AuthFailure {
    /// A bounded metric label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            AuthFailure::MissingHeader => "missing_header",
            AuthFailure::BadScheme | AuthFailure::Malformed(_) | AuthFailure::MissingKid => {
                "malformed"
            }
            AuthFailure::Algorithm(_) => "algorithm",
            AuthFailure::Issuer(_) => "issuer",
            AuthFailure::UnknownKey(_) | AuthFailure::NotEndorsed(_) => "key",
            AuthFailure::Channel(_) => "channel",
            AuthFailure::Signature => "signature",
            AuthFailure::Audience => "audience",
            AuthFailure::Expired | AuthFailure::NotYetValid => "expired",
            AuthFailure::MissingServiceUrl
            | AuthFailure::ServiceUrlMismatch
            | AuthFailure::ServiceUrlNotAllowed(_) => "service_url",
            AuthFailure::Tenant(_) => "tenant",
            AuthFailure::Invalid(_) => "invalid",
        }
    }
}

#[derive(Debug, Deserialize)]
struct UnverifiedClaims {
    #[serde(default)]
    iss: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    serviceurl: Option<String>,
}

/// A bearer token whose header and issuer passed the checks made before any key lookup; its
/// signature and claims are not verified yet.
#[derive(Debug)]
pub(crate) struct UnverifiedToken<'a> {
    pub(crate) token: &'a str,
    /// Non-empty: the signing key to look up.
    pub(crate) kid: String,
}

/// The checks of the `Authorization` header that need no key: the scheme, the JWT header
/// (RS256 with a `kid`) and the issuer.
pub(crate) fn read_unverified(
    authorization: Option<&str>,
) -> Result<UnverifiedToken<'_>, AuthFailure> {
    let header = authorization.ok_or(AuthFailure::MissingHeader)?;
    let mut parts = header.split_whitespace();
    let token = match (parts.next(), parts.next(), parts.next()) {
        (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => return Err(AuthFailure::BadScheme),
    };

    // `alg: none` and unknown algorithms fail to parse here; HS* parse and are refused.
    let jwt_header = jsonwebtoken::decode_header(token)
        .map_err(|error| AuthFailure::Malformed(error.to_string()))?;
    if jwt_header.alg != Algorithm::RS256 {
        return Err(AuthFailure::Algorithm(format!("{:?}", jwt_header.alg)));
    }
    let kid = jwt_header
        .kid
        .filter(|kid| !kid.is_empty())
        .ok_or(AuthFailure::MissingKid)?;

    // Checked before any key lookup, so tokens from other issuers never cause a JWKS fetch.
    let unverified: UnverifiedClaims = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .map_err(|error| AuthFailure::Malformed(error.to_string()))?;
    let issuer = unverified.iss.unwrap_or_default();
    if issuer != BOT_FRAMEWORK_ISSUER {
        return Err(AuthFailure::Issuer(issuer));
    }
    Ok(UnverifiedToken { token, kid })
}

#[derive(Debug)]
pub(crate) struct BotAuthenticator {
    keys: KeyCache,
    app_id: String,
    tenant_id: String,
    clock: Arc<dyn Clock>,
    service_urls: ServiceUrlPolicy,
}

impl BotAuthenticator {
    pub(crate) fn new(
        keys: KeyCache,
        app_id: String,
        tenant_id: String,
        clock: Arc<dyn Clock>,
        service_urls: ServiceUrlPolicy,
    ) -> BotAuthenticator {
        BotAuthenticator {
            keys,
            app_id,
            tenant_id,
            clock,
            service_urls,
        }
    }

    /// Checks the caller's token against the activity it came with.
    pub(crate) async fn authenticate(
        &self,
        authorization: Option<&str>,
        activity: &Activity,
    ) -> Result<(), AuthFailure> {
        let UnverifiedToken { token, kid } = read_unverified(authorization)?;
        let key = self
            .keys
            .key(&kid)
            .await
            .ok_or_else(|| AuthFailure::UnknownKey(kid.clone()))?;
        let channel = activity.channel_id.as_deref().unwrap_or_default();
        if channel != TEAMS_CHANNEL_ID {
            return Err(AuthFailure::Channel(channel.to_owned()));
        }
        if !key
            .endorsements
            .iter()
            .any(|endorsement| endorsement == TEAMS_CHANNEL_ID)
        {
            return Err(AuthFailure::NotEndorsed(TEAMS_CHANNEL_ID.to_owned()));
        }

        // Times are checked below against the gateway's clock, not the system's.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[BOT_FRAMEWORK_ISSUER]);
        validation.set_audience(&[self.app_id.as_str()]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => AuthFailure::Signature,
                ErrorKind::InvalidAudience => AuthFailure::Audience,
                ErrorKind::InvalidIssuer => AuthFailure::Issuer(String::new()),
                ErrorKind::InvalidAlgorithm => {
                    AuthFailure::Algorithm("another algorithm".to_owned())
                }
                other => AuthFailure::Invalid(format!("{other:?}")),
            })?
            .claims;

        let now = self.clock.now().unix_timestamp();
        if now > claims.exp.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(AuthFailure::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| now.saturating_add(CLOCK_SKEW_SECONDS) < nbf)
        {
            return Err(AuthFailure::NotYetValid);
        }

        let claimed = claims
            .serviceurl
            .filter(|url| !url.is_empty())
            .ok_or(AuthFailure::MissingServiceUrl)?;
        let service_url = activity.service_url.as_deref().unwrap_or_default();
        if claimed != service_url {
            return Err(AuthFailure::ServiceUrlMismatch);
        }
        self.service_urls
            .check(service_url)
            .map_err(AuthFailure::ServiceUrlNotAllowed)?;

        // A single-tenant bot serves one organization; an activity from another tenant is
        // refused even with a valid token, since its emails would be another directory's.
        let tenant = activity.tenant_id().unwrap_or_default();
        if tenant != self.tenant_id {
            return Err(AuthFailure::Tenant(tenant.to_owned()));
        }
        Ok(())
    }
}
