//! The `v2` signature scheme shared by inbound calls and outbound deliveries
//! (docs/reference.md §5):
//! `v2=HEX(HMAC_SHA256(secret, "v2:" + timestamp + ":" + nonce + ":" + METHOD + ":" +
//! path_and_query + ":" + raw_body))`. Binding the method, the path with its query and a nonce
//! to the body means a captured call can be neither replayed nor aimed at another request or
//! route. HMACs are `ring`'s, verified in constant time.

use ring::hmac;

/// Names the calling client (inbound only).
pub const CLIENT_HEADER: &str = "X-Liftgate-Client";
/// Unix seconds at signing.
pub const TIMESTAMP_HEADER: &str = "X-Liftgate-Timestamp";
/// A value unique to each call (8 to 128 characters of `[A-Za-z0-9_-]`).
pub const NONCE_HEADER: &str = "X-Liftgate-Nonce";
/// `v2=` followed by the lower- or upper-case hex HMAC.
pub const SIGNATURE_HEADER: &str = "X-Liftgate-Signature";
/// Optional on creates: retries with the same key return the first request.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Outbound deliveries name their event here too, so receivers can route without parsing.
pub const EVENT_HEADER: &str = "X-Liftgate-Event";

/// How far a timestamp may be from the gateway's clock, either way.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

const PREFIX: &str = "v2=";

/// What a signature covers besides the body.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// Unix seconds, exactly as sent in [`TIMESTAMP_HEADER`].
    pub timestamp: &'a str,
    pub nonce: &'a str,
    /// Upper case: `GET`, `POST`.
    pub method: &'a str,
    /// The path and query as sent on the request line, e.g. `/api/v1/grants?active=true`.
    pub path_and_query: &'a str,
}

/// `"v2:" + timestamp + ":" + nonce + ":" + METHOD + ":" + path_and_query + ":" + body`.
fn base_string(signed: &Signed<'_>, body: &[u8]) -> Vec<u8> {
    let mut base = Vec::with_capacity(64 + signed.path_and_query.len() + body.len());
    for part in [
        "v2",
        signed.timestamp,
        signed.nonce,
        signed.method,
        signed.path_and_query,
    ] {
        base.extend_from_slice(part.as_bytes());
        base.push(b':');
    }
    base.extend_from_slice(body);
    base
}

fn key(secret: &str) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes())
}

/// The [`SIGNATURE_HEADER`] value for `body` sent as `signed` describes: `v2=` and 64
/// lower-case hex digits.
pub fn sign(secret: &str, signed: &Signed<'_>, body: &[u8]) -> String {
    let tag = hmac::sign(&key(secret), &base_string(signed, body));
    format!("{PREFIX}{}", hex::encode(tag.as_ref()))
}

/// The four headers of a call signed at `timestamp` with a fresh nonce: for clients written
/// in Rust, and the tests.
pub fn signed_headers(
    client: &str,
    secret: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp: i64,
) -> [(&'static str, String); 4] {
    let timestamp = timestamp.to_string();
    let nonce = new_nonce();
    let signature = sign(
        secret,
        &Signed {
            timestamp: &timestamp,
            nonce: &nonce,
            method,
            path_and_query,
        },
        body,
    );
    [
        (CLIENT_HEADER, client.to_owned()),
        (TIMESTAMP_HEADER, timestamp),
        (NONCE_HEADER, nonce),
        (SIGNATURE_HEADER, signature),
    ]
}

/// A fresh nonce for an outgoing call: 32 lower-case hex digits.
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `nonce` has the documented shape: 8 to 128 characters of `[A-Za-z0-9_-]`.
pub fn valid_nonce(nonce: &str) -> bool {
    (8..=128).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The HMAC a well-formed signature header carries, or `None` when the header is not
/// `v2=` + 64 hex digits.
pub(crate) fn parse_signature(header: &str) -> Option<[u8; 32]> {
    let hex_digits = header.trim().strip_prefix(PREFIX)?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut bytes).ok()?;
    Some(bytes)
}

/// Whether `signature` is the HMAC of `body` as `signed` describes (the header texts exactly
/// as the client sent and signed them), compared in constant time by `ring`.
pub(crate) fn verify(secret: &str, signed: &Signed<'_>, body: &[u8], signature: &[u8; 32]) -> bool {
    hmac::verify(&key(secret), &base_string(signed, body), signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: Signed<'static> = Signed {
        timestamp: "1800000000",
        nonce: "n0nce-0001",
        method: "POST",
        path_and_query: "/api/v1/requests",
    };

    #[test]
    fn signs_the_documented_base_string() {
        // Computed independently:
        // printf 'v2:1800000000:n0nce-0001:POST:/api/v1/requests:{}' |
        //   openssl dgst -sha256 -hmac secret
        let signature = sign("secret", &SIGNED, b"{}");
        assert_eq!(
            signature,
            "v2=323d374b23c0d9ff8319cf03b5722cc316b94c0cc0a1835c71710fec2f5c1d9d"
        );
        let parsed = parse_signature(&signature).unwrap();
        assert!(verify("secret", &SIGNED, b"{}", &parsed));
        for changed in [
            Signed {
                timestamp: "1800000001",
                ..SIGNED
            },
            Signed {
                nonce: "n0nce-0002",
                ..SIGNED
            },
            Signed {
                method: "GET",
                ..SIGNED
            },
            Signed {
                path_and_query: "/api/v1/requests/other/approve",
                ..SIGNED
            },
        ] {
            assert!(!verify("secret", &changed, b"{}", &parsed), "{changed:?}");
        }
        assert!(!verify("other", &SIGNED, b"{}", &parsed));
        assert!(!verify("secret", &SIGNED, b"{ }", &parsed));
    }

    #[test]
    fn accepts_upper_case_hex_and_refuses_other_shapes() {
        let signature = sign("secret", &SIGNED, b"");
        let upper = format!("v2={}", signature[3..].to_uppercase());
        assert_eq!(parse_signature(&upper), parse_signature(&signature));
        assert!(parse_signature(&signature[3..]).is_none());
        assert!(parse_signature(&format!("v1={}", &signature[3..])).is_none());
        assert!(parse_signature(&format!("{signature}00")).is_none());
        assert!(parse_signature("v2=zz").is_none());
    }

    #[test]
    fn nonces_have_a_bounded_plain_shape() {
        assert!(valid_nonce(&new_nonce()));
        assert!(valid_nonce("abc_DEF-12"));
        assert!(!valid_nonce("short"));
        assert!(!valid_nonce(&"a".repeat(129)));
        assert!(!valid_nonce("has space1"));
        assert!(!valid_nonce("colon:in:it"));
    }
}
