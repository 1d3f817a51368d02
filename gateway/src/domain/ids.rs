use std::fmt;

use serde::{Deserialize, Serialize};

/// A new random id. Tests that replay an interleaving from a seed make ids deterministic with
/// [`seed_ids_for_tests`], since maps keyed by ids decide the order of some steps.
fn next_uuid() -> uuid::Uuid {
    #[cfg(any(test, feature = "test-util"))]
    if let Some(uuid) = seeded::next() {
        return uuid;
    }
    uuid::Uuid::new_v4()
}

#[cfg(any(test, feature = "test-util"))]
mod seeded {
    use std::cell::RefCell;

    use rand::{Rng, SeedableRng};

    thread_local! {
        static IDS: RefCell<Option<rand::rngs::StdRng>> = const { RefCell::new(None) };
    }

    pub(super) fn next() -> Option<uuid::Uuid> {
        IDS.with(|ids| {
            ids.borrow_mut()
                .as_mut()
                .map(|rng| uuid::Builder::from_random_bytes(rng.random()).into_uuid())
        })
    }

    pub(super) fn seed(seed: Option<u64>) {
        IDS.with(|ids| *ids.borrow_mut() = seed.map(rand::rngs::StdRng::seed_from_u64));
    }
}

/// Test support: request and grant ids generated on this thread come from `seed` (or, with
/// `None`, from the system's randomness again).
#[cfg(any(test, feature = "test-util"))]
pub fn seed_ids_for_tests(seed: Option<u64>) {
    seeded::seed(seed);
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(next_uuid().to_string())
            }

            /// Accepts only the canonical UUID form, so ids from URLs and chat payloads can be
            /// used as store keys and schedule names without escaping.
            pub fn parse(text: &str) -> Option<Self> {
                let uuid = uuid::Uuid::parse_str(text).ok()?;
                Some(Self(uuid.hyphenated().to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

uuid_id!(
    /// Identifies one access request (also `liftgate_request_id` in audit records).
    RequestId
);
uuid_id!(
    /// Identifies one grant: the assignment or membership a request produced. Revocation
    /// schedules are named after it.
    GrantId
);
