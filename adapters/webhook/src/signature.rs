//! The `v1` signature scheme shared by inbound calls and outbound deliveries (docs/reference.md §5):
//! `v1=HEX(HMAC_SHA256(secret, "v1:" + timestamp + ":" + raw_body))`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Names the calling client (inbound only).
pub const CLIENT_HEADER: &str = "X-Liftgate-Client";
/// Unix seconds at signing.
pub const TIMESTAMP_HEADER: &str = "X-Liftgate-Timestamp";
/// `v1=` followed by the lower- or upper-case hex HMAC.
pub const SIGNATURE_HEADER: &str = "X-Liftgate-Signature";
/// Optional on creates: retries with the same key return the first request.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Outbound deliveries name their event here too, so receivers can route without parsing.
pub const EVENT_HEADER: &str = "X-Liftgate-Event";

/// How far a timestamp may be from the gateway's clock, either way.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

const PREFIX: &str = "v1=";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"v1:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The `X-Liftgate-Signature` value for `body` sent at `timestamp` (unix seconds):
/// `v1=` and 64 lower-case hex digits.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{PREFIX}{}", hex::encode(digest))
}

/// The HMAC a well-formed signature header carries, or `None` when the header is not
/// `v1=` + 64 hex digits.
pub(crate) fn parse_signature(header: &str) -> Option<[u8; 32]> {
    let hex_digits = header.trim().strip_prefix(PREFIX)?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut bytes).ok()?;
    Some(bytes)
}

/// Whether `signature` is the HMAC of `body` at `timestamp` (the header text exactly as the
/// client sent and signed it), compared in constant time.
pub(crate) fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &[u8; 32]) -> bool {
    mac(secret, timestamp, body).verify_slice(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_documented_base_string() {
        // Computed independently: printf 'v1:1800000000:{}' | openssl dgst -sha256 -hmac secret
        let signature = sign("secret", 1_800_000_000, b"{}");
        assert_eq!(
            signature,
            "v1=e0f2e2fabd69980a5984b91af29e117b2278ea5df3f4fd95d0483b3093679fa9"
        );
        let parsed = parse_signature(&signature).unwrap();
        assert!(verify("secret", "1800000000", b"{}", &parsed));
        assert!(!verify("secret", "1800000001", b"{}", &parsed));
        assert!(!verify("other", "1800000000", b"{}", &parsed));
        assert!(!verify("secret", "1800000000", b"{ }", &parsed));
    }

    #[test]
    fn accepts_upper_case_hex_and_refuses_other_shapes() {
        let signature = sign("secret", 1, b"");
        let upper = format!("v1={}", signature[3..].to_uppercase());
        assert_eq!(parse_signature(&upper), parse_signature(&signature));
        assert!(parse_signature(&signature[3..]).is_none());
        assert!(parse_signature("v0=00").is_none());
        assert!(parse_signature(&format!("{signature}00")).is_none());
        assert!(parse_signature("v1=zz").is_none());
    }
}
