//! Finding the Identity Center user behind an email, one `GetUserId` per candidate value:
//! never a scan of the whole directory.

use aws_sdk_identitystore::types::{AlternateIdentifier, UniqueAttribute};
use aws_smithy_types::Document;
use liftgate_gateway::config::UserAttribute;
use liftgate_gateway::ports::{DirectoryUser, IdentityError, NamedUser};
use liftgate_policy::Email;

use super::AwsIdentityCenter;
use super::errors::classify;

/// One value to look up, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupCandidate {
    pub value: String,
    /// Built from a configured fallback domain rather than the address as given.
    pub secondary_domain: bool,
}

/// The values tried for an address: as given, then lower-cased (directories may hold either),
/// then the local part at each fallback domain (`@new.example.com` or `new.example.com`), in
/// order, without repeats.
pub fn lookup_candidates(address: &str, fallback_domains: &[String]) -> Vec<LookupCandidate> {
    let given = address.trim();
    let mut candidates: Vec<LookupCandidate> = Vec::new();
    let mut push = |value: String, secondary_domain: bool| {
        if !value.is_empty() && !candidates.iter().any(|candidate| candidate.value == value) {
            candidates.push(LookupCandidate {
                value,
                secondary_domain,
            });
        }
    };
    push(given.to_owned(), false);
    let lowered = given.to_lowercase();
    push(lowered.clone(), false);
    if let Some((local, _)) = lowered.split_once('@') {
        for domain in fallback_domains {
            let domain = domain.trim().trim_start_matches('@').to_lowercase();
            if !domain.is_empty() && !local.is_empty() {
                push(format!("{local}@{domain}"), true);
            }
        }
    }
    candidates
}

fn attribute_path(attribute: UserAttribute) -> &'static str {
    match attribute {
        UserAttribute::Email => "emails.value",
        UserAttribute::UserName => "userName",
    }
}

impl AwsIdentityCenter {
    /// The user behind an address as written (the port's `find_user` passes a lower-cased
    /// [`liftgate_policy::Email`]): as given, lower-cased, then at each fallback domain.
    pub async fn find_user_by_address(
        &self,
        address: &str,
    ) -> Result<Option<DirectoryUser>, IdentityError> {
        let key = address.trim();
        if let Some(user) = self.users.get(key) {
            return Ok(Some(user));
        }
        for candidate in lookup_candidates(address, &self.config.fallback_email_domains) {
            if let Some(user_id) = self.user_id_by_attribute(&candidate.value).await? {
                let user = DirectoryUser {
                    user_id,
                    secondary_domain_used: candidate.secondary_domain,
                };
                tracing::debug!(
                    user_id = %user.user_id,
                    secondary_domain_used = user.secondary_domain_used,
                    "Identity Center user found."
                );
                self.users.put(key, user.clone());
                return Ok(Some(user));
            }
        }
        Ok(None)
    }

    /// The user whose `UserName` is exactly `user_name`, and the address `find_user` knows them
    /// by: the user name itself when the directory's user names are the addresses, else the
    /// primary email (`DescribeUser`). Not cached: terminal requests come at a person's pace.
    pub async fn find_user_by_exact_user_name(
        &self,
        user_name: &str,
    ) -> Result<Option<NamedUser>, IdentityError> {
        let Some(user_id) = self
            .user_id_by_path(attribute_path(UserAttribute::UserName), user_name)
            .await?
        else {
            return Ok(None);
        };
        let email = match self.config.user_attribute {
            UserAttribute::UserName => Email::parse(user_name).ok(),
            UserAttribute::Email => self.primary_email(&user_id).await?,
        };
        Ok(Some(NamedUser { user_id, email }))
    }

    /// The user's primary email, else the first one listed.
    async fn primary_email(&self, user_id: &str) -> Result<Option<Email>, IdentityError> {
        let user = self
            .clients
            .identity_store
            .describe_user()
            .identity_store_id(&self.config.identity_store_id)
            .user_id(user_id)
            .send()
            .await
            .map_err(|error| classify("DescribeUser", error))?;
        let emails = user.emails();
        let chosen = emails
            .iter()
            .find(|email| email.primary())
            .or_else(|| emails.first())
            .and_then(|email| email.value());
        Ok(chosen.and_then(|value| Email::parse(value).ok()))
    }

    async fn user_id_by_attribute(&self, value: &str) -> Result<Option<String>, IdentityError> {
        self.user_id_by_path(attribute_path(self.config.user_attribute), value)
            .await
    }

    async fn user_id_by_path(
        &self,
        path: &str,
        value: &str,
    ) -> Result<Option<String>, IdentityError> {
        let attribute = UniqueAttribute::builder()
            .attribute_path(path)
            .attribute_value(Document::String(value.to_owned()))
            .build()
            .map_err(|error| IdentityError::Failed(format!("GetUserId: {error}")))?;
        let result = self
            .clients
            .identity_store
            .get_user_id()
            .identity_store_id(&self.config.identity_store_id)
            .alternate_identifier(AlternateIdentifier::UniqueAttribute(attribute))
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(output.user_id().to_owned())),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify("GetUserId", error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(candidates: &[LookupCandidate]) -> Vec<(&str, bool)> {
        candidates
            .iter()
            .map(|c| (c.value.as_str(), c.secondary_domain))
            .collect()
    }

    #[test]
    fn the_address_comes_first_then_lower_case_then_fallback_domains() {
        let domains = vec![
            "@new.example.com".to_owned(),
            "Other.Example.com".to_owned(),
        ];
        let candidates = lookup_candidates(" Jane.Doe@Example.com ", &domains);
        assert_eq!(
            values(&candidates),
            [
                ("Jane.Doe@Example.com", false),
                ("jane.doe@example.com", false),
                ("jane.doe@new.example.com", true),
                ("jane.doe@other.example.com", true),
            ]
        );
    }

    #[test]
    fn repeats_are_dropped() {
        let domains = vec![
            "@example.com".to_owned(),
            "@new.example.com".to_owned(),
            "@new.example.com".to_owned(),
        ];
        let candidates = lookup_candidates("jane@example.com", &domains);
        assert_eq!(
            values(&candidates),
            [("jane@example.com", false), ("jane@new.example.com", true)]
        );
    }

    #[test]
    fn without_fallback_domains_only_the_address_is_tried() {
        assert_eq!(
            values(&lookup_candidates("jane@example.com", &[])),
            [("jane@example.com", false)]
        );
    }
}
