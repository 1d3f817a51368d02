//! The Bot Framework's signing keys: the JWKS named by the OpenID metadata, cached and
//! refreshed at least daily, and on an unknown `kid` at most once per few minutes (so a
//! stream of forged tokens cannot turn the gateway into a fetch loop). A fetch never blocks
//! verification with keys already known: the key map is behind a short-held lock of its own,
//! and only callers that need the fetch (an unknown `kid`) wait for it.
//!
//! The JWKS is parsed here rather than with `jsonwebtoken::jwk`, which drops the
//! Bot Framework's `endorsements` (the channels a key may sign for).

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::DecodingKey;
use liftgate_gateway::ports::Clock;
use serde::Deserialize;
use time::OffsetDateTime;

/// Keys older than this are fetched again ("at least once every 24 hours").
const MAX_KEY_AGE: time::Duration = time::Duration::hours(24);

/// No two fetches closer together than this, whatever the reason.
const MIN_REFRESH_INTERVAL: time::Duration = time::Duration::minutes(5);

#[derive(Debug)]
pub(crate) struct SigningKey {
    pub(crate) key: DecodingKey,
    pub(crate) endorsements: Vec<String>,
}

#[derive(Deserialize)]
struct OpenIdMetadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySetDocument {
    #[serde(default)]
    keys: Vec<KeyDocument>,
}

#[derive(Deserialize)]
struct KeyDocument {
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    kty: String,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
}

#[derive(Debug, Default)]
struct CacheState {
    keys: HashMap<String, Arc<SigningKey>>,
    fetched_at: Option<OffsetDateTime>,
    last_attempt: Option<OffsetDateTime>,
}

#[derive(Debug)]
pub(crate) struct KeyCache {
    http: reqwest::Client,
    metadata_url: String,
    clock: Arc<dyn Clock>,
    /// Held only to read or swap the map, never across a fetch.
    state: std::sync::RwLock<CacheState>,
    /// Held across a fetch: one at a time, and what callers with an unknown `kid` wait on.
    refreshing: tokio::sync::Mutex<()>,
}

impl KeyCache {
    pub(crate) fn new(
        http: reqwest::Client,
        metadata_url: String,
        clock: Arc<dyn Clock>,
    ) -> KeyCache {
        KeyCache {
            http,
            metadata_url,
            clock,
            state: std::sync::RwLock::new(CacheState::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes this interval's one fetch attempt, if nobody took it yet.
    fn claim_attempt(&self, now: OffsetDateTime) -> bool {
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let may_fetch = state
            .last_attempt
            .is_none_or(|at| now - at >= MIN_REFRESH_INTERVAL || at > now);
        if may_fetch {
            state.last_attempt = Some(now);
        }
        may_fetch
    }

    /// The key with this id, refreshing the set first when it is due or the id is unknown
    /// (within the rate limit). A failed refresh keeps the keys already known.
    pub(crate) async fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        let now = self.clock.now();
        let (known, stale) = {
            let state = self.read();
            (
                state.keys.get(kid).cloned(),
                state.fetched_at.is_none_or(|at| now - at >= MAX_KEY_AGE),
            )
        };
        if known.is_some() && !stale {
            return known;
        }
        if !self.claim_attempt(now) {
            if known.is_none() {
                // A fetch may be under way that brings this kid: wait for it to end.
                drop(self.refreshing.lock().await);
                return self.read().keys.get(kid).cloned();
            }
            return known;
        }
        let _slot = self.refreshing.lock().await;
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(
                    keys = keys.len(),
                    reason = if known.is_none() {
                        "unknown kid"
                    } else {
                        "age"
                    },
                    "Fetched the Bot Framework signing keys."
                );
                let mut state = self
                    .state
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                state.keys = keys;
                state.fetched_at = Some(now);
            }
            Err(error) => {
                tracing::warn!(%error, "Could not fetch the Bot Framework signing keys.")
            }
        }
        self.read().keys.get(kid).cloned().or(known)
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<SigningKey>>, String> {
        let metadata: OpenIdMetadata = self.get_json(&self.metadata_url).await?;
        let document: KeySetDocument = self.get_json(&metadata.jwks_uri).await?;
        let mut keys = HashMap::new();
        for key in document.keys {
            let (Some(kid), Some(n), Some(e)) = (key.kid, key.n, key.e) else {
                continue;
            };
            if key.kty != "RSA" || key.usage.as_deref().is_some_and(|usage| usage != "sig") {
                continue;
            }
            match DecodingKey::from_rsa_components(&n, &e) {
                Ok(decoding) => {
                    keys.insert(
                        kid,
                        Arc::new(SigningKey {
                            key: decoding,
                            endorsements: key.endorsements,
                        }),
                    );
                }
                Err(error) => {
                    tracing::warn!(%kid, %error, "Skipped an unreadable Bot Framework key.")
                }
            }
        }
        if keys.is_empty() {
            return Err("the key set has no usable RSA signing key".to_owned());
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|error| format!("{url}: {error}"))
    }
}
