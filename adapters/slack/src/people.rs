//! Who is behind a Slack user id, and which Slack user has an email. The email of a person who
//! clicks or submits comes from `users.info` (Slack's own record), never from the payload.
//! Answers are cached briefly: a Slack profile can change, a permission must not lag long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use liftgate_gateway::domain::{Person, VerifiedCaller};
use liftgate_gateway::ports::Clock;
use liftgate_policy::Email;
use time::OffsetDateTime;

use crate::api::{ApiError, SlackApi, SlackUser, TokenOwner};

/// The workspace (or Enterprise Grid organisation) whose members may act, and who among them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Membership {
    /// Configured `slack.team_id` / `slack.enterprise_id`; `None`: learned from `auth.test`.
    pub configured: Option<TokenOwner>,
    pub allow_guests: bool,
    pub allow_unconfirmed_emails: bool,
}

impl TokenOwner {
    /// Whether a team (and the enterprise it came with) is this workspace, or a workspace of
    /// this Enterprise Grid organisation.
    pub(crate) fn admits(&self, team_id: Option<&str>, enterprise_id: Option<&str>) -> bool {
        let same_enterprise = matches!(
            (self.enterprise_id.as_deref(), enterprise_id),
            (Some(ours), Some(theirs)) if ours == theirs
        );
        same_enterprise || (self.team_id.is_some() && team_id == self.team_id.as_deref())
    }
}

/// Why a Slack user cannot act.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IdentityError {
    /// `users.info` gave no email: the app lacks the `users:read.email` scope.
    #[error(
        "Slack did not share the email address of user {0}: the Slack app needs the users:read.email scope"
    )]
    MissingEmailScope(String),
    #[error("Slack user {0} is deactivated or a bot")]
    NotAPerson(String),
    #[error("Slack does not know user {0}")]
    UnknownUser(String),
    #[error("the email address {0:?} in Slack is not valid")]
    BadEmail(String),
    /// The user (or the payload) belongs to another workspace or organisation: a Slack Connect
    /// member, or a workspace the app was not installed for.
    #[error("Slack user {0} is not a member of the workspace Liftgate is installed in")]
    ForeignWorkspace(String),
    #[error("Slack user {0} is a guest; slack.allow_guests is off")]
    Guest(String),
    #[error(
        "Slack user {0} has not confirmed their email address; slack.allow_unconfirmed_emails is off"
    )]
    UnconfirmedEmail(String),
    #[error(transparent)]
    Api(ApiError),
}

impl IdentityError {
    /// What to tell the person, in one sentence.
    pub(crate) fn for_people(&self) -> String {
        match self {
            IdentityError::MissingEmailScope(_) => "Liftgate cannot read your email address in Slack, so it cannot tell who \
                you are in AWS. The Slack app is missing the users:read.email scope; please ask your Slack administrators \
                to add it and reinstall the app."
                .to_owned(),
            IdentityError::NotAPerson(_) => "Deactivated users and bots cannot use Liftgate.".to_owned(),
            IdentityError::UnknownUser(_) => "Slack could not tell Liftgate who you are.".to_owned(),
            IdentityError::BadEmail(email) => {
                format!("Your email address in Slack ({email}) is not one Liftgate can use.")
            }
            IdentityError::ForeignWorkspace(_) => "Liftgate only accepts requests and decisions from members of the \
                workspace it is installed in; people from other organisations (Slack Connect) cannot use it."
                .to_owned(),
            IdentityError::Guest(_) => "Guests of this Slack workspace cannot use Liftgate.".to_owned(),
            IdentityError::UnconfirmedEmail(_) => "Liftgate cannot use your Slack email address until you confirm it \
                in Slack."
                .to_owned(),
            IdentityError::Api(_) => "Slack did not answer in time; please try again in a minute.".to_owned(),
        }
    }
}

struct Cached<T> {
    value: T,
    at: OffsetDateTime,
}

/// The caches; one per adapter.
pub(crate) struct People {
    api: Arc<SlackApi>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    lookup_ttl: Duration,
    membership: Membership,
    /// The bound workspace: the configured one, or `auth.test`'s, asked once.
    workspace: tokio::sync::OnceCell<TokenOwner>,
    by_user: Mutex<HashMap<String, Cached<Person>>>,
    by_email: Mutex<HashMap<Email, Cached<Option<String>>>>,
    direct_messages: Mutex<HashMap<String, String>>,
}

/// Caches never grow past this many entries; past it, they start over.
const CACHE_LIMIT: usize = 10_000;

impl People {
    /// `ttl` bounds how long a user's email is trusted for decisions; `lookup_ttl` how long an
    /// email's Slack user is reused for mentions and direct messages.
    pub(crate) fn new(
        api: Arc<SlackApi>,
        clock: Arc<dyn Clock>,
        ttl: Duration,
        lookup_ttl: Duration,
        membership: Membership,
    ) -> People {
        let workspace = tokio::sync::OnceCell::new_with(membership.configured.clone());
        People {
            api,
            clock,
            ttl,
            lookup_ttl,
            membership,
            workspace,
            by_user: Mutex::new(HashMap::new()),
            by_email: Mutex::new(HashMap::new()),
            direct_messages: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, at: OffsetDateTime) -> bool {
        self.clock.now() - at < self.ttl
    }

    fn fresh_lookup(&self, at: OffsetDateTime) -> bool {
        self.clock.now() - at < self.lookup_ttl
    }

    /// The workspace whose members may act. Without `slack.team_id` it is the bot token's, from
    /// `auth.test`; until Slack has answered that, nobody is admitted (fail closed).
    pub(crate) async fn workspace(&self) -> Result<&TokenOwner, IdentityError> {
        self.workspace
            .get_or_try_init(|| async {
                let owner = self.api.auth_test().await.map_err(IdentityError::Api)?;
                tracing::info!(
                    team_id = ?owner.team_id,
                    enterprise_id = ?owner.enterprise_id,
                    "Bound to the Slack workspace of the bot token."
                );
                Ok(owner)
            })
            .await
    }

    /// Refuses a payload that says it came from another workspace or organisation. Slack's own
    /// record of the user (`users.info`, checked in [`People::person`]) is the authority; this
    /// check is the cheap first line.
    pub(crate) async fn check_origin(
        &self,
        user_id: &str,
        teams: &[Option<&str>],
        enterprise_id: Option<&str>,
    ) -> Result<(), IdentityError> {
        let workspace = self.workspace().await?;
        let foreign = teams
            .iter()
            .flatten()
            .any(|team| !workspace.admits(Some(team), enterprise_id));
        if foreign {
            return Err(IdentityError::ForeignWorkspace(user_id.to_owned()));
        }
        Ok(())
    }

    /// Whether Slack's record of a user makes them someone who may act.
    async fn admit(&self, user: &SlackUser) -> Result<(), IdentityError> {
        let workspace = self.workspace().await?;
        if user.stranger
            || !workspace.admits(user.team_id.as_deref(), user.enterprise_id.as_deref())
        {
            return Err(IdentityError::ForeignWorkspace(user.id.clone()));
        }
        if user.guest && !self.membership.allow_guests {
            return Err(IdentityError::Guest(user.id.clone()));
        }
        if !user.email_confirmed && !self.membership.allow_unconfirmed_emails {
            return Err(IdentityError::UnconfirmedEmail(user.id.clone()));
        }
        Ok(())
    }

    /// The verified person behind a Slack user id: a member of the bound workspace (see
    /// [`Membership`]) with a confirmed email.
    pub(crate) async fn person(&self, user_id: &str) -> Result<Person, IdentityError> {
        {
            let cache = self.by_user.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = cache.get(user_id).filter(|entry| self.fresh(entry.at)) {
                return Ok(entry.value.clone());
            }
        }
        let user = self
            .api
            .user_info(user_id)
            .await
            .map_err(|error| match error.code() {
                Some("user_not_found" | "user_not_visible") => {
                    IdentityError::UnknownUser(user_id.to_owned())
                }
                _ => IdentityError::Api(error),
            })?;
        if user.deleted || user.is_bot {
            return Err(IdentityError::NotAPerson(user_id.to_owned()));
        }
        self.admit(&user).await?;
        let Some(raw) = user.email else {
            tracing::error!(
                slack_user = %user_id,
                "Slack's users.info returned no email: add the users:read.email scope to the Slack app and reinstall it."
            );
            return Err(IdentityError::MissingEmailScope(user_id.to_owned()));
        };
        let email = Email::parse(&raw).map_err(|_| IdentityError::BadEmail(raw.clone()))?;
        let person = Person {
            email: email.clone(),
            slack_id: Some(user.id.clone()),
            teams_id: None,
            caller: Some(VerifiedCaller::Slack {
                user_id: user.id.clone(),
                team_id: user.team_id.clone(),
            }),
        };
        let now = self.clock.now();
        let mut by_user = self.by_user.lock().unwrap_or_else(PoisonError::into_inner);
        if by_user.len() >= CACHE_LIMIT {
            by_user.clear();
        }
        by_user.insert(
            user_id.to_owned(),
            Cached {
                value: person.clone(),
                at: now,
            },
        );
        drop(by_user);
        let mut by_email = self.by_email.lock().unwrap_or_else(PoisonError::into_inner);
        if by_email.len() >= CACHE_LIMIT {
            by_email.clear();
        }
        by_email.insert(
            email,
            Cached {
                value: Some(user.id),
                at: now,
            },
        );
        Ok(person)
    }

    /// The Slack user with this email, if any. Slack refusing the lookup for a reason other
    /// than a pause (a missing scope, say) counts as "not found", so messages still go out.
    pub(crate) async fn slack_id(&self, email: &Email) -> Result<Option<String>, ApiError> {
        {
            let cache = self.by_email.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = cache.get(email).filter(|entry| self.fresh_lookup(entry.at)) {
                return Ok(entry.value.clone());
            }
        }
        let found = match self.api.lookup_by_email(email.as_str()).await {
            Ok(found) => found,
            Err(error) if error.is_retryable() => return Err(error),
            Err(error) if error.code() == Some("missing_scope") => {
                tracing::error!(
                    %error,
                    "Slack refused users.lookupByEmail: add the users:read.email scope to the Slack app and reinstall it."
                );
                None
            }
            Err(error) => {
                tracing::warn!(%email, %error, "Could not look a person up in Slack by email.");
                None
            }
        };
        let mut cache = self.by_email.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(
            email.clone(),
            Cached {
                value: found.clone(),
                at: self.clock.now(),
            },
        );
        Ok(found)
    }

    /// The direct-message conversation with a user (opened once, then remembered).
    pub(crate) async fn direct_message(&self, user_id: &str) -> Result<String, ApiError> {
        {
            let cache = self
                .direct_messages
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(channel) = cache.get(user_id) {
                return Ok(channel.clone());
            }
        }
        let channel = self.api.open_dm(user_id).await?;
        let mut cache = self
            .direct_messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(user_id.to_owned(), channel.clone());
        Ok(channel)
    }
}
