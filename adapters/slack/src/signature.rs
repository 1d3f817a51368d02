//! Slack's request signing, version 0: `v0=HEX(HMAC_SHA256(signing_secret, "v0:" + timestamp +
//! ":" + raw_body))`, with the timestamp at most five minutes away from now in either direction.

use ring::hmac;
use time::OffsetDateTime;

/// How far the request timestamp may be from our clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 300;

pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

/// Why a request's signature was refused. Deliberately coarse: the caller answers 401 whatever
/// the reason and only logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature or timestamp header is missing")]
    MissingHeader,
    #[error("the timestamp is not a number of seconds")]
    MalformedTimestamp,
    #[error("the timestamp is more than five minutes away from now")]
    StaleTimestamp,
    #[error("the signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    /// A bounded label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            SignatureError::MissingHeader => "missing_header",
            SignatureError::MalformedTimestamp => "malformed_timestamp",
            SignatureError::StaleTimestamp => "stale_timestamp",
            SignatureError::Mismatch => "bad_signature",
        }
    }
}

fn base_string(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut base = Vec::with_capacity(4 + timestamp.len() + body.len());
    base.extend_from_slice(b"v0:");
    base.extend_from_slice(timestamp.as_bytes());
    base.push(b':');
    base.extend_from_slice(body);
    base
}

/// The signature Slack would send for this timestamp and body.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, &base_string(timestamp, body));
    format!("v0={}", hex::encode(tag.as_ref()))
}

/// Checks a request's signature headers against its raw body (before any decoding).
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::MissingHeader);
    };
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    // abs_diff cannot overflow, whatever number the header holds.
    if now.unix_timestamp().abs_diff(seconds) > MAX_SKEW_SECONDS.unsigned_abs() {
        return Err(SignatureError::StaleTimestamp);
    }
    // An empty secret would make every signature forgeable by anyone who knows that.
    if secret.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let mut tag = [0u8; 32];
    let Some(hex_digits) = signature.trim().strip_prefix("v0=") else {
        return Err(SignatureError::Mismatch);
    };
    if hex::decode_to_slice(hex_digits, &mut tag).is_err() {
        return Err(SignatureError::Mismatch);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    // ring compares in constant time.
    hmac::verify(&key, &base_string(timestamp, body), &tag).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn signs_the_slack_sdk_test_vector() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), EXPECTED);
    }

    #[test]
    fn accepts_the_test_vector_within_the_window_both_ways() {
        for now in [1_531_420_618, 1_531_420_618 + 300, 1_531_420_618 - 300] {
            assert_eq!(
                verify(
                    SECRET,
                    Some(TIMESTAMP),
                    Some(EXPECTED),
                    BODY.as_bytes(),
                    at(now)
                ),
                Ok(())
            );
        }
    }

    #[test]
    fn refuses_old_and_future_timestamps() {
        for now in [1_531_420_618 + 301, 1_531_420_618 - 301] {
            assert_eq!(
                verify(
                    SECRET,
                    Some(TIMESTAMP),
                    Some(EXPECTED),
                    BODY.as_bytes(),
                    at(now)
                ),
                Err(SignatureError::StaleTimestamp)
            );
        }
    }

    #[test]
    fn refuses_tampered_bodies_wrong_secrets_and_missing_headers() {
        let now = at(1_531_420_618);
        let tampered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            verify(
                SECRET,
                Some(TIMESTAMP),
                Some(EXPECTED),
                tampered.as_bytes(),
                now
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                "another-secret",
                Some(TIMESTAMP),
                Some(EXPECTED),
                BODY.as_bytes(),
                now
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("", Some(TIMESTAMP), Some(EXPECTED), BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, None, Some(EXPECTED), BODY.as_bytes(), now),
            Err(SignatureError::MissingHeader)
        );
        assert_eq!(
            verify(SECRET, Some(TIMESTAMP), None, BODY.as_bytes(), now),
            Err(SignatureError::MissingHeader)
        );
        assert_eq!(
            verify(SECRET, Some("soon"), Some(EXPECTED), BODY.as_bytes(), now),
            Err(SignatureError::MalformedTimestamp)
        );
    }
}

#[cfg(test)]
mod extreme_timestamps {
    use super::*;

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        for timestamp in [i64::MIN.to_string(), i64::MAX.to_string(), "-1".to_owned()] {
            let signature = sign("secret", &timestamp, b"body");
            assert_eq!(
                verify("secret", Some(&timestamp), Some(&signature), b"body", now),
                Err(SignatureError::StaleTimestamp),
                "{timestamp}"
            );
        }
    }
}
