//! Who sent an activity. The token proves the activity came from the Bot Framework; the
//! person is the verified `from` id, and their email comes from the Connector's member lookup
//! for that id, never from anything in the activity's text or card data.

use liftgate_gateway::domain::{Person, VerifiedCaller};
use liftgate_policy::Email;

use super::Bot;
use crate::activity::Activity;
use crate::connector::ConnectorError;
use crate::references::UserReference;

#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) person: Person,
    /// The Teams user id (`29:…`).
    pub(crate) user_id: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CallerError {
    #[error("the activity names no sender or conversation")]
    Incomplete,
    #[error("Teams could not tell who you are: {0}")]
    Lookup(#[from] ConnectorError),
    #[error("your Teams account has no email address I can use")]
    NoEmail,
    #[error("your Teams account belongs to another organization")]
    ForeignTenant,
    #[error("guests of the organization cannot use Liftgate (teams.allow_guests is off)")]
    Guest,
}

impl CallerError {
    /// What to tell the person.
    pub(crate) fn user_message(&self) -> String {
        match self {
            CallerError::Lookup(error) if error.is_retryable() => {
                "Sorry, I could not look you up in Teams just now. Please try again in a minute."
                    .to_owned()
            }
            CallerError::Lookup(_) | CallerError::Incomplete => {
                "Sorry, I could not look you up in Teams.".to_owned()
            }
            CallerError::NoEmail => {
                "Sorry, your Teams account has no email address, so I cannot match it to AWS."
                    .to_owned()
            }
            CallerError::ForeignTenant => {
                "Sorry, I only serve people of my own organization.".to_owned()
            }
            CallerError::Guest => {
                "Sorry, guests of this organization cannot use Liftgate.".to_owned()
            }
        }
    }
}

impl Bot {
    /// Looks the sender up and remembers how to reach them (by email) for later messages.
    pub(crate) async fn identify(&self, activity: &Activity) -> Result<Caller, CallerError> {
        let service_url = activity
            .service_url
            .as_deref()
            .ok_or(CallerError::Incomplete)?;
        let user_id = activity.sender_id().ok_or(CallerError::Incomplete)?;
        // In a channel the team roster answers; elsewhere the conversation's.
        let roster = activity
            .team_id()
            .or(activity.conversation_id())
            .ok_or(CallerError::Incomplete)?;
        let member = self
            .connector
            .get_member(service_url, roster, user_id)
            .await?;
        if member
            .tenant_id
            .as_deref()
            .is_some_and(|tenant| tenant != self.tenant_id)
        {
            return Err(CallerError::ForeignTenant);
        }
        if member.user_role.as_deref() == Some("anonymous") {
            return Err(CallerError::NoEmail);
        }
        // B2B guests sit in this tenant, but another organization asserts their email.
        if member.user_role.as_deref() == Some("guest") && !self.allow_guests {
            return Err(CallerError::Guest);
        }
        let email = member
            .email
            .as_deref()
            .filter(|email| !email.trim().is_empty())
            .or(member.user_principal_name.as_deref())
            .and_then(|text| Email::parse(text).ok())
            .ok_or(CallerError::NoEmail)?;
        let reference = UserReference {
            email: email.to_string(),
            user_id: user_id.to_owned(),
            aad_object_id: member.entra_id().map(str::to_owned),
            name: member.name.clone(),
            service_url: service_url.to_owned(),
            tenant_id: Some(self.tenant_id.clone()),
            personal_conversation_id: activity
                .is_personal()
                .then(|| activity.conversation_id().map(str::to_owned))
                .flatten(),
        };
        if let Err(error) = self.refs.remember_user(reference).await {
            // Not fatal for this activity; the next one records it again.
            tracing::warn!(%error, "Could not record a Teams user reference.");
        }
        let person = Person {
            email,
            slack_id: None,
            teams_id: Some(user_id.to_owned()),
            caller: Some(VerifiedCaller::Teams {
                aad_object_id: member.entra_id().map(str::to_owned),
                tenant_id: self.tenant_id.clone(),
            }),
        };
        Ok(Caller {
            person,
            user_id: user_id.to_owned(),
        })
    }
}
