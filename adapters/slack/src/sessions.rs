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
            .find(|account| &*account.id == account_id)
    }

    pub(crate) fn group(&self, group_id: &str) -> Option<&GroupInfo> {
        self.groups.iter().find(|group| group.id == group_id)
    }
}

/// Sessions by view id and the Slack user it was built for: a view's session serves no one else.
/// Bounded by `slack.form_sessions` (the oldest forgotten first) and `slack.form_session_ttl`
/// (expired ones dropped on every change and by [`FormSessions::sweep`], so memory comes back
/// after a burst of forms even when no new form follows).
#[derive(Debug)]
pub(crate) struct FormSessions {
    sessions: Mutex<HashMap<(String, String), Arc<FormSession>>>,
    ttl: time::Duration,
    limit: usize,
}

impl FormSessions {
    pub(crate) fn new(ttl: time::Duration, limit: usize) -> FormSessions {
        FormSessions {
            sessions: Mutex::new(HashMap::new()),
            ttl,
            limit: limit.max(1),
        }
    }

    /// How long a session lives.
    pub(crate) fn ttl(&self) -> time::Duration {
        self.ttl
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
        while sessions.len() >= self.limit
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

    /// Drops the sessions that expired and gives back the map's spare room.
    pub(crate) fn sweep(&self, now: OffsetDateTime) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.retain(|_, session| now - session.created < self.ttl);
        sessions.shrink_to_fit();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created: OffsetDateTime) -> Arc<FormSession> {
        let facts = RequesterFacts {
            email: "someone@example.com".parse().expect("an email"),
            user_id: "u-1".to_owned(),
            secondary_domain_used: false,
            groups: Default::default(),
        };
        Arc::new(FormSession::new(facts, Vec::new(), Vec::new(), created))
    }

    #[test]
    fn the_oldest_sessions_are_forgotten_past_the_limit() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let forms = FormSessions::new(time::Duration::minutes(15), 3);
        for index in 0..5i64 {
            let at = start + time::Duration::seconds(index);
            forms.put(&format!("V{index}"), "U1", session(at), at);
        }
        let now = start + time::Duration::seconds(5);
        assert_eq!(forms.len(), 3);
        assert!(forms.get("V0", "U1", now).is_none());
        assert!(forms.get("V1", "U1", now).is_none());
        assert!(forms.get("V4", "U1", now).is_some());
        // A view's session serves only the user it was built for.
        assert!(forms.get("V4", "U2", now).is_none());
    }

    #[test]
    fn expired_sessions_are_dropped_by_a_sweep() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let forms = FormSessions::new(time::Duration::minutes(15), 100);
        forms.put("V1", "U1", session(start), start);
        let later = start + time::Duration::minutes(10);
        forms.put("V2", "U1", session(later), later);
        assert!(forms.get("V1", "U1", later).is_some());

        let expired = start + time::Duration::minutes(15);
        assert!(forms.get("V1", "U1", expired).is_none());
        forms.sweep(expired);
        assert_eq!(forms.len(), 1);
        forms.sweep(later + time::Duration::minutes(15));
        assert_eq!(forms.len(), 0);
    }
}
