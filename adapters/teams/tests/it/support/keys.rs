//! Throwaway RSA key pairs for the fakes, generated once and kept as a fixture (no key
//! generation at test time): two Bot Framework signing keys (for rotation) and the fake
//! Entra endpoint's signing key.

use std::sync::OnceLock;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TestKey {
    pub(crate) private_pem: String,
    pub(crate) public_pem: String,
    /// Base64url modulus and exponent, as a JWKS carries them.
    pub(crate) n: String,
    pub(crate) e: String,
}

#[derive(Debug, Deserialize)]
struct Fixture {
    botframework_k1: TestKey,
    botframework_k2: TestKey,
    entra: TestKey,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE
        .get_or_init(|| serde_json::from_str(include_str!("../fixtures/test_keys.json")).unwrap())
}

pub(crate) fn botframework_k1() -> &'static TestKey {
    &fixture().botframework_k1
}

pub(crate) fn botframework_k2() -> &'static TestKey {
    &fixture().botframework_k2
}

pub(crate) fn entra() -> &'static TestKey {
    &fixture().entra
}

/// A JWKS entry the way login.botframework.com publishes it.
pub(crate) fn jwk(key: &TestKey, kid: &str, endorsements: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid,
        "n": key.n, "e": key.e, "endorsements": endorsements,
    })
}
