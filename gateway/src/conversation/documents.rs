//! What a chat platform remembers between calls (who a person is on the platform, where a
//! conversation lives, which message shows what), kept in the state store's documents so any
//! replica finds it. Adapters go through this, never through the store itself.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::{StateStore, StoreError};

/// Typed documents by namespace and key.
#[derive(Debug, Clone)]
pub struct Documents {
    store: Arc<dyn StateStore>,
}

impl Documents {
    pub fn new(store: Arc<dyn StateStore>) -> Documents {
        Documents { store }
    }

    /// The document, or `None` when there is none or it cannot be read (an unreadable
    /// reference is as good as none: the platform posts or looks up anew).
    pub async fn get<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(value) = self.store.get_document(namespace, key).await? else {
            return Ok(None);
        };
        match serde_json::from_value(value) {
            Ok(document) => Ok(Some(document)),
            Err(error) => {
                tracing::warn!(namespace, key, %error, "Ignoring an unreadable document.");
                Ok(None)
            }
        }
    }

    /// Whether a document exists, readable or not.
    pub async fn exists(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.store.get_document(namespace, key).await?.is_some())
    }

    pub async fn put<T: Serialize>(
        &self,
        namespace: &str,
        key: &str,
        document: &T,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_value(document)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        self.store.put_document(namespace, key, &value).await
    }
}

impl crate::workflow::AccessService {
    /// The documents chat platforms keep in this service's state store.
    pub fn documents(&self) -> Documents {
        Documents::new(Arc::clone(self.store()))
    }
}
