use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
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
