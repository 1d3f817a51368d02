use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::ActivityFound;
use crate::ports::{ActivityError, ActivityLog, ActivityQuery};

/// The organization trail as a script: answers queued with [`Self::answer`] or
/// [`Self::fail`] are given in order, then an empty window ("no changes"); every query asked
/// is kept for assertions.
#[derive(Debug, Default)]
pub struct FakeActivityLog {
    answers: Mutex<VecDeque<Result<ActivityFound, String>>>,
    queries: Mutex<Vec<ActivityQuery>>,
}

impl FakeActivityLog {
    pub fn new() -> FakeActivityLog {
        FakeActivityLog::default()
    }

    pub fn answer(&self, found: ActivityFound) {
        self.answers.lock().unwrap().push_back(Ok(found));
    }

    /// The next query fails as unavailable (retryable) with this message.
    pub fn fail(&self, message: &str) {
        self.answers
            .lock()
            .unwrap()
            .push_back(Err(message.to_owned()));
    }

    pub fn queries(&self) -> Vec<ActivityQuery> {
        self.queries.lock().unwrap().clone()
    }
}

#[async_trait]
impl ActivityLog for FakeActivityLog {
    async fn changes(&self, query: &ActivityQuery) -> Result<ActivityFound, ActivityError> {
        self.queries.lock().unwrap().push(query.clone());
        match self.answers.lock().unwrap().pop_front() {
            Some(Ok(found)) => Ok(found),
            Some(Err(message)) => Err(ActivityError::Unavailable(message)),
            None => Ok(ActivityFound::default()),
        }
    }
}
