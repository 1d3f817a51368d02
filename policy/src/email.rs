//! Email addresses as identities. Emails compare case-insensitively (docs/reference.md §3), so they are
//! lower-cased once, here, and compared exactly everywhere else.

use std::fmt;
use std::sync::Arc;

/// A syntactically plausible, lower-cased email address. The text is shared, not copied, when
/// an email is cloned: every evaluation hands out the approvers it names, and with hundreds of
/// statements a decision can name hundreds of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(Arc<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an email")]
pub struct EmailError(pub String);

impl Email {
    /// Accepts `local@domain.tld` with no whitespace, one `@`, a non-empty local part and a
    /// dotted domain whose labels are non-empty. This is deliberately not full RFC 5322: an
    /// address that Identity Center, Slack and Teams can hold passes; typos like `bob@` do not.
    ///
    /// The checks apply to the lower-cased form, which is what is kept: lower-casing can
    /// lengthen a string or change its characters (`İ` becomes `i` and a combining dot), and
    /// what is stored must parse again to itself when it is read back.
    pub fn parse(text: &str) -> Result<Email, EmailError> {
        let invalid = || EmailError(text.to_owned());
        let normalized = text.trim().to_lowercase();
        if normalized.len() > 254
            || normalized
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid());
        }
        let (local, domain) = normalized.split_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(invalid());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |label: &&str| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(invalid());
        }
        Ok(Email(normalized.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or(&*self.0, |(local, _)| local)
    }

    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Email {
    type Err = EmailError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Email::parse(text)
    }
}

impl serde::Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Email::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_and_trims() {
        let email = Email::parse(" Alice.Smith@Corp.COM ").unwrap();
        assert_eq!(email.as_str(), "alice.smith@corp.com");
        assert_eq!(email.local_part(), "alice.smith");
        assert_eq!(email.domain(), "corp.com");
    }

    /// Found by the `webhook_body` fuzz target: `İ` is alphanumeric but lower-cases to `i`
    /// and a combining dot that is not, so the stored form did not parse again (a stored
    /// request or grant with that email could not be read back).
    #[test]
    fn what_is_kept_parses_again_to_itself() {
        assert!(Email::parse("a@\u{130}x.com").is_err());
        let long_local = format!("{}@corp.com", "\u{130}".repeat(40));
        assert!(
            Email::parse(&long_local).is_err(),
            "lower-cased it exceeds 64 bytes"
        );
        for text in ["\u{130}@corp.com", "Ünal@Firma.DE", " Bob@Corp.COM "] {
            if let Ok(email) = Email::parse(text) {
                assert_eq!(Email::parse(email.as_str()).as_ref(), Ok(&email), "{text}");
            }
        }
    }

    #[test]
    fn rejects_what_is_not_an_email() {
        for bad in [
            "bob@",
            "@corp.com",
            "bob",
            "bob@corp",
            "a b@corp.com",
            "a@@corp.com",
            "a@corp..com",
            "a@-corp.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
