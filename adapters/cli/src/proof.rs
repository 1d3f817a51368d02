//! The checks on a signed STS request before anything leaves the gateway: it is exactly a
//! `GetCallerIdentity` POST to the configured endpoint and region, its signature covers the
//! host, the date, this gateway's server id, a nonce and the call it authenticates, and its
//! date is recent. STS then checks the signature itself. Pure: no IO, the time is an argument.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::wire::{
    CALL_HEADER, GET_CALLER_IDENTITY_BODY, MAX_CLOCK_SKEW_SECONDS, NONCE_HEADER, SERVER_ID_HEADER,
    StsProof, authority,
};

/// Where signed requests go and which region they must be signed for.
#[derive(Debug, Clone)]
pub(crate) struct StsTarget {
    pub endpoint: url::Url,
    pub region: String,
}

/// What this call must match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    pub target: &'a StsTarget,
    pub server_id: &'a str,
    pub call_digest: &'a str,
    pub now: OffsetDateTime,
}

/// A proof that passed every local check: what to forward, and the nonce to remember.
#[derive(Debug, Clone)]
pub(crate) struct CheckedProof {
    /// The headers to send to STS (lower-case names): the signed ones and `authorization`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub nonce: String,
}

/// Why a proof was refused before STS saw it; every one is a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProofError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    NotGetCallerIdentity(String),
    #[error("{0}")]
    WrongTarget(String),
    #[error("the signature does not cover {0}; sign it")]
    Unsigned(String),
    #[error("the STS request was signed for another gateway (its {SERVER_ID_HEADER} differs)")]
    WrongServer,
    #[error("the STS request was signed for another call (its {CALL_HEADER} differs)")]
    WrongCall,
    #[error(
        "the STS request was signed more than {MAX_CLOCK_SKEW_SECONDS} seconds from the gateway's clock; sign each call anew"
    )]
    Stale,
}

impl ProofError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ProofError::Malformed(_) => "malformed_proof",
            ProofError::NotGetCallerIdentity(_) => "not_get_caller_identity",
            ProofError::WrongTarget(_) => "wrong_sts_endpoint",
            ProofError::Unsigned(_) => "unsigned_header",
            ProofError::WrongServer => "wrong_server_id",
            ProofError::WrongCall => "wrong_call",
            ProofError::Stale => "stale_signature",
        }
    }
}

/// Headers the signature must cover.
const REQUIRED_SIGNED: [&str; 6] = [
    "host",
    "content-type",
    "x-amz-date",
    "x-liftgate-server-id",
    "x-liftgate-nonce",
    "x-liftgate-call",
];
/// The only other header that may be signed (present with temporary credentials).
const OPTIONAL_SIGNED: &str = "x-amz-security-token";
const MAX_HEADERS: usize = 16;
const MAX_HEADER_VALUE_BYTES: usize = 4096;

fn malformed(message: impl Into<String>) -> ProofError {
    ProofError::Malformed(message.into())
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`
/// the gateway checks.
struct Authorization<'a> {
    credential_date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, ProofError> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| malformed("Authorization must be an AWS4-HMAC-SHA256 signature"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("Authorization is not a list of key=value"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(malformed(format!(
                    "Authorization has an unknown part {key:?}"
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(malformed(format!("Authorization repeats {key}")));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(malformed(
            "Authorization needs Credential, SignedHeaders and Signature",
        ));
    };
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("the Signature is not 64 hex digits"));
    }
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(malformed(
            "the Credential is not KEY/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    if access_key.is_empty() {
        return Err(malformed("the Credential has no access key"));
    }
    Ok(Authorization {
        credential_date: date,
        region,
        service,
        signed_headers: signed_headers.split(';').collect(),
    })
}

/// `X-Amz-Date`: `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(text: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// The form body must be `Action=GetCallerIdentity` and `Version=2011-06-15`, once each and
/// nothing else (in any order: STS accepts either, and the signature covers the bytes).
fn check_body(body: &[u8]) -> Result<(), ProofError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ProofError::NotGetCallerIdentity("the STS body is not text".into()))?;
    let mut pairs: Vec<&str> = text.split('&').collect();
    pairs.sort_unstable();
    let mut expected: Vec<&str> = GET_CALLER_IDENTITY_BODY.split('&').collect();
    expected.sort_unstable();
    if pairs != expected {
        return Err(ProofError::NotGetCallerIdentity(format!(
            "the STS body must be {GET_CALLER_IDENTITY_BODY}"
        )));
    }
    Ok(())
}

fn check_url(text: &str, target: &StsTarget) -> Result<(), ProofError> {
    let url = url::Url::parse(text)
        .map_err(|_| ProofError::WrongTarget("the STS request's URL is not a URL".into()))?;
    let wanted = &target.endpoint;
    let same = url.scheme() == wanted.scheme()
        && url.host() == wanted.host()
        && url.port_or_known_default() == wanted.port_or_known_default()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !same {
        return Err(ProofError::WrongTarget(format!(
            "the STS request must be signed for {wanted} (this gateway's STS endpoint), not {url}"
        )));
    }
    Ok(())
}

/// Runs every local check, in an order that reports the most useful problem first.
pub(crate) fn check(proof: &StsProof, expected: Expected<'_>) -> Result<CheckedProof, ProofError> {
    if proof.method != "POST" {
        return Err(ProofError::NotGetCallerIdentity(format!(
            "the STS request must be a POST, not {:?}",
            proof.method
        )));
    }
    check_url(&proof.url, expected.target)?;
    let body = proof
        .body_bytes()
        .ok_or_else(|| malformed("the STS body is not base64"))?;
    check_body(&body)?;

    if proof.headers.len() > MAX_HEADERS {
        return Err(malformed(format!(
            "the STS request has more than {MAX_HEADERS} headers"
        )));
    }
    let mut headers: BTreeMap<String, &str> = BTreeMap::new();
    for (name, value) in &proof.headers {
        let lower = name.to_ascii_lowercase();
        if value.len() > MAX_HEADER_VALUE_BYTES
            || value.bytes().any(|b| b.is_ascii_control())
            || !lower
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(malformed(format!("the STS header {name:?} is not valid")));
        }
        if headers.insert(lower, value.as_str()).is_some() {
            return Err(malformed(format!("the STS header {name:?} is repeated")));
        }
    }
    let authorization = headers
        .get("authorization")
        .ok_or_else(|| malformed("the STS request has no Authorization header"))?;
    let authorization = parse_authorization(authorization)?;
    if authorization.service != "sts" || authorization.region != expected.target.region {
        return Err(ProofError::WrongTarget(format!(
            "the STS request must be signed for service sts in {}, not {} in {}",
            expected.target.region, authorization.service, authorization.region
        )));
    }
    for name in REQUIRED_SIGNED {
        if !authorization.signed_headers.contains(&name) {
            return Err(ProofError::Unsigned(name.to_owned()));
        }
    }
    for name in &authorization.signed_headers {
        if !REQUIRED_SIGNED.contains(name) && *name != OPTIONAL_SIGNED {
            return Err(malformed(format!(
                "the signature covers {name:?}, which this gateway does not forward"
            )));
        }
        if !headers.contains_key(*name) {
            return Err(malformed(format!("the signed header {name:?} is missing")));
        }
    }
    for name in headers.keys() {
        if name != "authorization" && !authorization.signed_headers.contains(&name.as_str()) {
            return Err(ProofError::Unsigned(name.clone()));
        }
    }
    let header = |name: &str| headers.get(name).copied().unwrap_or_default();

    let expected_host = authority(&expected.target.endpoint).unwrap_or_default();
    if !header("host").eq_ignore_ascii_case(&expected_host) {
        return Err(ProofError::WrongTarget(format!(
            "the STS request's Host must be {expected_host}"
        )));
    }
    let content_type = header("content-type").to_ascii_lowercase();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(ProofError::NotGetCallerIdentity(
            "the STS request's Content-Type must be application/x-www-form-urlencoded".into(),
        ));
    }
    if header("x-liftgate-server-id") != expected.server_id {
        return Err(ProofError::WrongServer);
    }
    if !header("x-liftgate-call").eq_ignore_ascii_case(expected.call_digest) {
        return Err(ProofError::WrongCall);
    }
    let nonce = header("x-liftgate-nonce");
    if !liftgate_webhook::valid_nonce(nonce) {
        return Err(malformed(format!(
            "the {NONCE_HEADER} must be 8 to 128 characters of A-Z, a-z, 0-9, _ and -"
        )));
    }
    let amz_date = header("x-amz-date");
    let signed_at =
        parse_amz_date(amz_date).ok_or_else(|| malformed("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?;
    if !amz_date.starts_with(authorization.credential_date)
        || authorization.credential_date.len() != 8
    {
        return Err(malformed(
            "the Credential's date is not the date of X-Amz-Date",
        ));
    }
    if (expected.now - signed_at).whole_seconds().abs() > MAX_CLOCK_SKEW_SECONDS {
        return Err(ProofError::Stale);
    }

    let mut forwarded: Vec<(String, String)> = authorization
        .signed_headers
        .iter()
        .map(|name| ((*name).to_owned(), header(name).to_owned()))
        .collect();
    forwarded.push((
        "authorization".to_owned(),
        header("authorization").to_owned(),
    ));
    Ok(CheckedProof {
        headers: forwarded,
        body,
        nonce: nonce.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    const DIGEST: &str = "aa";

    fn target() -> StsTarget {
        StsTarget {
            endpoint: url::Url::parse("https://sts.us-east-1.amazonaws.com").unwrap(),
            region: "us-east-1".into(),
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    /// A proof as the CLI makes it (the signature value is not checked here; STS checks it).
    fn proof() -> StsProof {
        let mut headers = BTreeMap::new();
        for (name, value) in [
            ("Host", "sts.us-east-1.amazonaws.com"),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("X-Amz-Date", "20270115T080000Z"),
            ("X-Amz-Security-Token", "token"),
            (SERVER_ID_HEADER, "liftgate.example.com"),
            (NONCE_HEADER, "0123456789abcdef"),
            (CALL_HEADER, DIGEST),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20270115/us-east-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-liftgate-call;x-liftgate-nonce;x-liftgate-server-id, Signature=0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ] {
            headers.insert(name.to_owned(), value.to_owned());
        }
        StsProof {
            method: "POST".into(),
            url: "https://sts.us-east-1.amazonaws.com/".into(),
            headers,
            body: STANDARD.encode(GET_CALLER_IDENTITY_BODY),
        }
    }

    fn checked(proof: &StsProof) -> Result<CheckedProof, ProofError> {
        check(
            proof,
            Expected {
                target: &target(),
                server_id: "liftgate.example.com",
                call_digest: DIGEST,
                now: now(),
            },
        )
    }

    fn code(proof: &StsProof) -> &'static str {
        checked(proof).unwrap_err().code()
    }

    #[test]
    fn a_well_formed_proof_forwards_its_signed_headers_and_authorization_only() {
        let checked = checked(&proof()).unwrap();
        assert_eq!(checked.nonce, "0123456789abcdef");
        assert_eq!(checked.body, GET_CALLER_IDENTITY_BODY.as_bytes());
        let names: Vec<&str> = checked.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "host",
                "x-amz-date",
                "x-amz-security-token",
                "x-liftgate-call",
                "x-liftgate-nonce",
                "x-liftgate-server-id",
                "authorization"
            ]
        );
        // Reordered parameters are the same call (the signature covers the bytes either way).
        let mut reordered = proof();
        reordered.body = STANDARD.encode("Version=2011-06-15&Action=GetCallerIdentity");
        assert!(
            super::check(
                &reordered,
                Expected {
                    target: &target(),
                    server_id: "liftgate.example.com",
                    call_digest: DIGEST,
                    now: now()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn anything_but_get_caller_identity_to_the_configured_endpoint_is_refused() {
        let mut get = proof();
        get.method = "GET".into();
        assert_eq!(code(&get), "not_get_caller_identity");
        for body in [
            "Action=AssumeRole&Version=2011-06-15",
            "Action=GetCallerIdentity&Version=2011-06-15&Action=GetCallerIdentity",
            "Action=GetCallerIdentity",
        ] {
            let mut other = proof();
            other.body = STANDARD.encode(body);
            assert_eq!(code(&other), "not_get_caller_identity", "{body}");
        }
        for url in [
            "https://sts.eu-west-1.amazonaws.com/",
            "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity",
            "https://sts.us-east-1.amazonaws.com/other",
            "http://sts.us-east-1.amazonaws.com/",
            "https://user@sts.us-east-1.amazonaws.com/",
            "https://169.254.169.254/",
        ] {
            let mut other = proof();
            other.url = url.into();
            assert_eq!(code(&other), "wrong_sts_endpoint", "{url}");
        }
        let mut host = proof();
        host.headers
            .insert("Host".into(), "evil.example.com".into());
        assert_eq!(code(&host), "wrong_sts_endpoint");
        let mut region = proof();
        let auth = region.headers["Authorization"].replace("us-east-1/sts", "eu-west-1/sts");
        region.headers.insert("Authorization".into(), auth);
        assert_eq!(code(&region), "wrong_sts_endpoint");
    }

    #[test]
    fn the_signature_must_cover_the_server_id_nonce_call_and_date() {
        for name in [
            "x-liftgate-server-id",
            "x-liftgate-nonce",
            "x-liftgate-call",
            "x-amz-date",
            "host",
        ] {
            let mut unsigned = proof();
            let auth = unsigned.headers["Authorization"]
                .replace(&format!(";{name}"), "")
                .replace(&format!("{name};"), "");
            unsigned.headers.insert("Authorization".into(), auth);
            assert_eq!(code(&unsigned), "unsigned_header", "{name}");
        }
        let mut extra = proof();
        extra
            .headers
            .insert("X-Forwarded-For".into(), "1.2.3.4".into());
        assert_eq!(code(&extra), "unsigned_header");
        let mut other_server = proof();
        other_server
            .headers
            .insert(SERVER_ID_HEADER.into(), "other.example.com".into());
        assert_eq!(code(&other_server), "wrong_server_id");
        let mut other_call = proof();
        other_call.headers.insert(CALL_HEADER.into(), "bb".into());
        assert_eq!(code(&other_call), "wrong_call");
        let mut bad_nonce = proof();
        bad_nonce
            .headers
            .insert(NONCE_HEADER.into(), "short".into());
        assert_eq!(code(&bad_nonce), "malformed_proof");
        let mut repeated = proof();
        repeated
            .headers
            .insert("host".into(), "sts.us-east-1.amazonaws.com".into());
        assert_eq!(code(&repeated), "malformed_proof");
    }

    #[test]
    fn a_date_outside_five_minutes_either_way_is_stale() {
        for (date, credential_date, ok) in [
            ("20270115T080500Z", "20270115", true),
            ("20270115T075500Z", "20270115", true),
            ("20270115T080501Z", "20270115", false),
            ("20270115T075459Z", "20270115", false),
            ("20270114T080000Z", "20270114", false),
        ] {
            let mut dated = proof();
            dated.headers.insert("X-Amz-Date".into(), date.into());
            let auth = dated.headers["Authorization"]
                .replace("/20270115/", &format!("/{credential_date}/"));
            dated.headers.insert("Authorization".into(), auth);
            match checked(&dated) {
                Ok(_) => assert!(ok, "{date} accepted"),
                Err(error) => {
                    assert!(!ok, "{date}: {error}");
                    assert_eq!(error.code(), "stale_signature");
                }
            }
        }
        let mut mismatched = proof();
        let auth = mismatched.headers["Authorization"].replace("/20270115/", "/20270116/");
        mismatched.headers.insert("Authorization".into(), auth);
        assert_eq!(code(&mismatched), "malformed_proof");
    }
}
