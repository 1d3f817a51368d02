//! Mints the Bot Framework tokens the Connector would send with each activity, and the broken
//! variants of the negative matrix.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::keys::TestKey;

pub(crate) const ISSUER: &str = "https://api.botframework.com";

/// The claims a good token carries for `service_url` at `now`.
pub(crate) fn claims(app_id: &str, service_url: &str, now: i64) -> Value {
    json!({
        "iss": ISSUER,
        "aud": app_id,
        "serviceurl": service_url,
        "nbf": now - 60,
        "exp": now + 3600,
    })
}

pub(crate) fn rs256(key: &TestKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// `alg: none`: a header and claims with an empty signature.
pub(crate) fn unsigned(kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": "none", "typ": "JWT", "kid": kid });
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The classic key-confusion forgery: HS256 keyed with the RSA public key.
pub(crate) fn hs256_with_public_key(key: &TestKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(key.public_pem.as_bytes()),
    )
    .unwrap()
}

/// The same token with one signature character changed.
pub(crate) fn tampered(token: &str) -> String {
    let (message, signature) = token.rsplit_once('.').unwrap();
    let mut chars: Vec<char> = signature.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    format!("{message}.{}", chars.into_iter().collect::<String>())
}
