//! What a form needs while it is open: the facts the rules need about the requester and the
//! choices they have. Kept per view, in memory, for the life of the modal, so
//! option loads and submission checks answer inside Slack's 3 seconds without calling AWS.
//! A replica that does not have a view's session (the modal was opened on another one) simply
//! builds it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use liftgate_gateway::ports::{AccountInfo, GroupInfo};
use liftgate_gateway::workflow::RequesterFacts;
use time::OffsetDateTime;

#[derive(Debug)]
pub(crate) struct FormSession {
    pub facts: RequesterFacts,
    pub accounts: Vec<AccountInfo>,
    pub groups: Vec<GroupInfo>,
    permission_sets: Mutex<HashMap<String, Vec<String>>>,
    created: OffsetDateTime,
}

impl FormSession {
    pub(crate) fn new(
        facts: RequesterFacts,
        accounts: Vec<AccountInfo>,
        groups: Vec<GroupInfo>,
        created: OffsetDateTime,
    ) -> FormSession {
        FormSession {
            facts,
            accounts,
            groups,
            permission_sets: Mutex::new(HashMap::new()),
            created,
        }
    }

    pub(crate) fn permission_sets(&self, account_id: &str) -> Option<Vec<String>> {
        self.permission_sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account_id)
            .cloned()
    }

    pub(crate) fn remember_permission_sets(&self, account_id: &str, names: Vec<String>) {
        self.permission_sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account_id.to_owned(), names);
    }

    pub(crate) fn account(&self, account_id: &str) -> Option<&AccountInfo> {
        self.accounts
            .iter()
            .find(|account| account.id == account_id)
    }

    pub(crate) fn group(&self, group_id: &str) -> Option<&GroupInfo> {
        self.groups.iter().find(|group| group.id == group_id)
    }
}

/// Sessions by view id and the Slack user it was built for: a view's session serves no one else.
#[derive(Debug)]
pub(crate) struct FormSessions {
    sessions: Mutex<HashMap<(String, String), Arc<FormSession>>>,
    ttl: time::Duration,
}

/// Open modals worth remembering at once; beyond it the oldest are forgotten.
const LIMIT: usize = 2_000;

impl FormSessions {
    pub(crate) fn new(ttl: time::Duration) -> FormSessions {
        FormSessions {
            sessions: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// The session of this view, if it belongs to this Slack user and is not too old.
    pub(crate) fn get(
        &self,
        view_id: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Option<Arc<FormSession>> {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions
            .get(&(view_id.to_owned(), user_id.to_owned()))
            .filter(|session| now - session.created < self.ttl)
            .cloned()
    }

    pub(crate) fn put(
        &self,
        view_id: &str,
        user_id: &str,
        session: Arc<FormSession>,
        now: OffsetDateTime,
    ) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.retain(|_, session| now - session.created < self.ttl);
        if sessions.len() >= LIMIT
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.created)
                .map(|(key, _)| key.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert((view_id.to_owned(), user_id.to_owned()), session);
    }

    pub(crate) fn forget(&self, view_id: &str, user_id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(view_id.to_owned(), user_id.to_owned()));
    }
}
