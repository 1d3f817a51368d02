//! What the CLI and the gateway agree on (docs/reference.md §5, CLI routes): the header that
//! carries the signed STS request, the headers the signature must cover, and the digest that
//! binds a signature to one call.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Carries the signed `GetCallerIdentity`: base64 of the JSON of a [`StsProof`].
pub const PROOF_HEADER: &str = "X-Liftgate-Sts-Request";
/// Signed inside the STS request: the gateway's `cli.server_id`.
pub const SERVER_ID_HEADER: &str = "X-Liftgate-Server-Id";
/// Signed inside the STS request: new for every call, remembered by the gateway.
pub const NONCE_HEADER: &str = "X-Liftgate-Nonce";
/// Signed inside the STS request: [`call_digest`] of the call it authenticates.
pub const CALL_HEADER: &str = "X-Liftgate-Call";

/// The only STS body accepted (form-encoded; the two parameters in any order).
pub const GET_CALLER_IDENTITY_BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// How far `X-Amz-Date` may be from the gateway's clock, either way. STS itself allows 15
/// minutes; a shorter window keeps the nonce memory small.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// Longest proof header accepted (a session token is about 1 KiB; the rest is small).
pub const MAX_PROOF_BYTES: usize = 16 * 1024;

/// A signed STS request as the CLI made it, for the gateway to check and forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StsProof {
    pub method: String,
    pub url: String,
    /// Every header sent to STS (the signed ones and `Authorization`), by name.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The form body, base64.
    pub body: String,
}

impl StsProof {
    /// The header value: base64 of the JSON.
    pub fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a header value; `None` when it is not base64 of a proof's JSON.
    pub fn decode(value: &str) -> Option<StsProof> {
        let json = STANDARD.decode(value.trim()).ok()?;
        serde_json::from_slice(&json).ok()
    }

    pub fn body_bytes(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.body).ok()
    }
}

/// The digest a signature is bound to: hex SHA-256 of `liftgate-cli-v1`, the method, the path
/// and query, and the raw body, separated by newlines. A signature made for one call (creating
/// a request for Prod) cannot be spent on another (revoking someone's grant).
pub fn call_digest(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"liftgate-cli-v1\n");
    context.update(method.as_bytes());
    context.update(b"\n");
    context.update(path_and_query.as_bytes());
    context.update(b"\n");
    context.update(body);
    hex::encode(context.finish().as_ref())
}

/// The authority (`host` or `host:port`) of a URL as a `Host` header carries it.
pub(crate) fn authority(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_survives_its_header_encoding() {
        let proof = StsProof {
            method: "POST".into(),
            url: "https://sts.us-east-1.amazonaws.com/".into(),
            headers: [("host".to_owned(), "sts.us-east-1.amazonaws.com".to_owned())].into(),
            body: STANDARD.encode(GET_CALLER_IDENTITY_BODY),
        };
        assert_eq!(StsProof::decode(&proof.encode()), Some(proof));
        assert_eq!(StsProof::decode("not base64!"), None);
        assert_eq!(StsProof::decode(&STANDARD.encode("{}")), None);
    }

    #[test]
    fn the_digest_covers_method_path_and_body() {
        let base = call_digest("POST", "/cli/v1/requests", b"{}");
        assert_eq!(base.len(), 64);
        assert_ne!(base, call_digest("GET", "/cli/v1/requests", b"{}"));
        assert_ne!(base, call_digest("POST", "/cli/v1/requests/x", b"{}"));
        assert_ne!(base, call_digest("POST", "/cli/v1/requests", b"{ }"));
    }
}
