//! What the adapter remembers in the state store's documents, so any replica can find it:
//! who a person is in Teams (keyed by email, for proactive messages) and the service URL of
//! conversations the bot was installed in. Which message shows which request is the core's
//! notice driver's (`surface.rs` names its namespaces).

use liftgate_gateway::conversation::Documents;
use liftgate_gateway::ports::StoreError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const USERS: &str = "teams.users";
const CONVERSATIONS: &str = "teams.conversations";

/// A person as Teams knows them, found again by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserReference {
    pub(crate) email: String,
    /// The Teams user id (`29:…`).
    pub(crate) user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) aad_object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) service_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant_id: Option<String>,
    /// The one-to-one chat with the bot, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) personal_conversation_id: Option<String>,
}

/// A message the bot posted, as the Connector addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActivityAt {
    pub(crate) service_url: String,
    pub(crate) conversation_id: String,
    pub(crate) activity_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConversationReference {
    pub(crate) service_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct References {
    documents: Documents,
}

impl References {
    pub(crate) fn new(documents: Documents) -> References {
        References { documents }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        self.documents.get(namespace, key).await
    }

    async fn put<T: Serialize>(
        &self,
        namespace: &str,
        key: &str,
        document: &T,
    ) -> Result<(), StoreError> {
        self.documents.put(namespace, key, document).await
    }

    pub(crate) async fn user(&self, email: &str) -> Result<Option<UserReference>, StoreError> {
        self.get(USERS, &email.to_lowercase()).await
    }

    /// Records what Teams told us about a person, keeping a known personal chat when this
    /// sighting was elsewhere (a channel click).
    pub(crate) async fn remember_user(&self, mut user: UserReference) -> Result<(), StoreError> {
        user.email = user.email.to_lowercase();
        let existing = self.user(&user.email).await?;
        if let Some(existing) = &existing {
            if user.personal_conversation_id.is_none() {
                user.personal_conversation_id
                    .clone_from(&existing.personal_conversation_id);
                // The personal chat's service URL is the one to reach it with.
                if existing.personal_conversation_id.is_some() {
                    user.service_url.clone_from(&existing.service_url);
                }
            }
            if existing == &user {
                return Ok(());
            }
        }
        self.put(USERS, &user.email.clone(), &user).await
    }

    pub(crate) async fn conversation(
        &self,
        id: &str,
    ) -> Result<Option<ConversationReference>, StoreError> {
        self.get(CONVERSATIONS, id).await
    }

    pub(crate) async fn remember_conversation(
        &self,
        id: &str,
        conversation: &ConversationReference,
    ) -> Result<(), StoreError> {
        if self.conversation(id).await?.as_ref() == Some(conversation) {
            return Ok(());
        }
        self.put(CONVERSATIONS, id, conversation).await
    }
}
