//! Signed checkpoints of the audit chain (docs/reference.md §7): at an interval and at
//! shutdown, one replica signs where the chain stands (position, last hash, record count,
//! time) together with the previous checkpoint's signature, with Ed25519. A verifier with the
//! public key can then tell a truncated tail, and a chain rewritten from any point, from the
//! real one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::canonical::canonical_without;
use super::chain::{ChainHead, CheckpointMark};

pub const CHECKPOINT_VERSION: u32 = 1;
pub const SIGNATURE_ALGORITHM: &str = "Ed25519";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): the algorithm identifier
/// and the bit-string header; the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// One checkpoint, as written to `checkpoints/YYYY/MM/DD/NUMBER.json` beside the records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// 1, 2, 3…: every checkpoint of a chain, without gaps.
    pub number: u64,
    /// The chain position covered: records `1..=seq` exist, and record `seq` has `last_hash`.
    pub seq: u64,
    pub last_hash: String,
    /// Records in the chain up to `seq` (the chain starts at 1, so equal to `seq`).
    pub record_count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The signature of checkpoint `number - 1`; `null` for the first.
    pub previous_signature: Option<String>,
    pub algorithm: String,
    /// SHA-256 (hex) of the signer's public key (its SubjectPublicKeyInfo DER).
    pub key_id: String,
    /// Ed25519 over the checkpoint's canonical JSON without `signature`, base64.
    pub signature: String,
}

impl Checkpoint {
    /// Where it lives under a sink's checkpoint root: `YYYY/MM/DD/NUMBER.json`, the number
    /// zero-padded so names sort in order.
    pub fn object_key(&self) -> String {
        let date = self.time.to_offset(time::UtcOffset::UTC).date();
        format!(
            "{:04}/{:02}/{:02}/{:012}.json",
            date.year(),
            u8::from(date.month()),
            date.day(),
            self.number
        )
    }

    /// The mark the state store keeps of this checkpoint.
    pub fn mark(&self) -> CheckpointMark {
        CheckpointMark {
            number: self.number,
            seq: self.seq,
            signature: self.signature.clone(),
            time: self.time,
        }
    }

    /// The bytes the signature covers.
    fn signed_bytes(&self) -> Result<Vec<u8>, KeyError> {
        let value = serde_json::to_value(self).map_err(|error| KeyError(error.to_string()))?;
        Ok(canonical_without(&value, "signature"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The Ed25519 key checkpoints are signed with (`audit.signing_key`).
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.public_key().key_id())
            .finish_non_exhaustive()
    }
}

/// The PEM body of `label` in `text`, if `text` is PEM at all.
fn pem_body(text: &str, label: &str) -> Result<Option<Vec<u8>>, KeyError> {
    if !text.trim_start().starts_with("-----BEGIN") {
        return Ok(None);
    }
    let parsed = pem::parse(text.trim()).map_err(|error| KeyError(format!("not PEM: {error}")))?;
    if parsed.tag() != label {
        return Err(KeyError(format!(
            "a PEM {:?} block, expected {label:?}",
            parsed.tag()
        )));
    }
    Ok(Some(parsed.into_contents()))
}

impl SigningKey {
    /// An Ed25519 private key as PEM (`-----BEGIN PRIVATE KEY-----`, PKCS#8) or as base64 of
    /// its PKCS#8 DER, as `openssl genpkey -algorithm ed25519` writes it. The error never
    /// contains the key.
    ///
    /// # Errors
    /// When the text is neither, or holds another kind of key.
    pub fn parse(text: &str) -> Result<SigningKey, KeyError> {
        let der = match pem_body(text, "PRIVATE KEY")? {
            Some(der) => der,
            None => BASE64
                .decode(text.split_whitespace().collect::<String>())
                .map_err(|_| KeyError("neither PEM nor base64".to_owned()))?,
        };
        // `maybe_unchecked` also takes PKCS#8 v1 (no public key inside), which is what
        // OpenSSL writes; the public key is then derived from the private one.
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|error| KeyError(format!("not an Ed25519 PKCS#8 private key ({error})")))?;
        Ok(SigningKey { pair })
    }

    /// A fresh key (tests, benchmarks), with its PKCS#8 DER.
    ///
    /// # Errors
    /// When the system random source fails.
    pub fn generate() -> Result<(SigningKey, Vec<u8>), KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|error| KeyError(format!("cannot generate a key: {error}")))?;
        let der = document.as_ref().to_vec();
        Ok((SigningKey::parse(&BASE64.encode(&der))?, der))
    }

    pub fn public_key(&self) -> PublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey { raw }
    }

    /// The checkpoint after `head`'s last one, covering the chain up to `head`.
    ///
    /// # Errors
    /// Never in practice (serialising the checkpoint).
    pub fn checkpoint(&self, head: &ChainHead, at: OffsetDateTime) -> Result<Checkpoint, KeyError> {
        let mut checkpoint = Checkpoint {
            version: CHECKPOINT_VERSION,
            number: head.next_checkpoint_number(),
            seq: head.seq,
            last_hash: head.hash.clone(),
            record_count: head.seq,
            // Whole microseconds: what RFC 3339 text keeps the same on every platform.
            time: at
                .to_offset(time::UtcOffset::UTC)
                .replace_nanosecond(at.nanosecond() / 1000 * 1000)
                .unwrap_or(at),
            previous_signature: head.checkpoint.as_ref().map(|mark| mark.signature.clone()),
            algorithm: SIGNATURE_ALGORITHM.to_owned(),
            key_id: self.public_key().key_id(),
            signature: String::new(),
        };
        let signature = self.pair.sign(&checkpoint.signed_bytes()?);
        checkpoint.signature = BASE64.encode(signature.as_ref());
        Ok(checkpoint)
    }
}

/// An Ed25519 public key, read from and printed as SubjectPublicKeyInfo PEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    raw: [u8; 32],
}

impl PublicKey {
    fn spki_der(&self) -> Vec<u8> {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.raw);
        der
    }

    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo), what `openssl pkey -pubout`
    /// prints.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der()))
    }

    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER.
    pub fn key_id(&self) -> String {
        hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            &self.spki_der(),
        ))
    }

    /// # Errors
    /// When `text` is not an Ed25519 public key in SubjectPublicKeyInfo PEM.
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let der = pem_body(text, "PUBLIC KEY")?
            .ok_or_else(|| KeyError("not a PEM public key".to_owned()))?;
        let raw = der
            .strip_prefix(&ED25519_SPKI_PREFIX[..])
            .filter(|raw| raw.len() == 32)
            .ok_or_else(|| KeyError("not an Ed25519 public key".to_owned()))?;
        let mut key = [0u8; 32];
        key.copy_from_slice(raw);
        Ok(PublicKey { raw: key })
    }

    /// Whether `checkpoint`'s signature is this key's over its content. Verifies the
    /// document as parsed (`body`), so a field this version does not know is covered too.
    pub fn verifies(&self, body: &serde_json::Value) -> bool {
        let Some(signature) = body
            .get("signature")
            .and_then(serde_json::Value::as_str)
            .and_then(|text| BASE64.decode(text).ok())
        else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, &self.raw)
            .verify(&canonical_without(body, "signature"), &signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSL_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIOu5Xee5FR87TDbyQtxbjCKRJLwuEzxmt1ZkzY+K0EZd\n-----END PRIVATE KEY-----\n";

    #[test]
    fn an_openssl_key_is_read_as_pem_and_as_base64_der() {
        let from_pem = SigningKey::parse(OPENSSL_KEY).unwrap();
        let der_base64: String = OPENSSL_KEY
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let from_der = SigningKey::parse(&der_base64).unwrap();
        assert_eq!(from_pem.public_key(), from_der.public_key());
        let pem = from_pem.public_key().to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(PublicKey::from_pem(&pem).unwrap(), from_pem.public_key());
    }

    #[test]
    fn bad_keys_are_refused_without_showing_them() {
        let error = SigningKey::parse("not a key at all").unwrap_err();
        assert!(!error.to_string().contains("not a key at all"));
        assert!(
            SigningKey::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert!(SigningKey::parse("AAAA").is_err());
    }

    #[test]
    fn a_checkpoint_verifies_and_any_change_breaks_it() {
        let key = SigningKey::parse(OPENSSL_KEY).unwrap();
        let head = ChainHead {
            seq: 7,
            hash: "ab".repeat(32),
            checkpoint: None,
        };
        let checkpoint = key
            .checkpoint(
                &head,
                OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            )
            .unwrap();
        assert_eq!(checkpoint.number, 1);
        assert_eq!(checkpoint.previous_signature, None);
        let mut body = serde_json::to_value(&checkpoint).unwrap();
        assert!(key.public_key().verifies(&body));
        body["seq"] = serde_json::json!(6);
        assert!(!key.public_key().verifies(&body));
        let (other, _) = SigningKey::generate().unwrap();
        assert!(
            !other
                .public_key()
                .verifies(&serde_json::to_value(&checkpoint).unwrap())
        );
    }
}
