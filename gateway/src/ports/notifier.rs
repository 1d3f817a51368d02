use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::ReconciliationMode;
pub use crate::domain::NoticeKind;
use crate::domain::{AccessRequest, ActivitySummary, Grant};

#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: NoticeKind,
    pub request: AccessRequest,
    pub grant: Option<Grant>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Try again later (rate limits, outages).
    #[error("temporary notification failure: {0}")]
    Retryable(String),
    /// Retrying cannot help (the channel is gone, a scope is missing); logged and dropped.
    #[error("notification failed: {0}")]
    Permanent(String),
}

/// The reconciliation mode a drift finding was handled in (`reconciliation.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftMode {
    Warn,
    Revoke,
}

impl From<ReconciliationMode> for DriftMode {
    fn from(mode: ReconciliationMode) -> Self {
        match mode {
            ReconciliationMode::Warn => DriftMode::Warn,
            ReconciliationMode::Revoke => DriftMode::Revoke,
        }
    }
}

/// What reconciliation did about a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftAction {
    /// `warn` mode: reported only; the access is left in place.
    Warned,
    /// `revoke` mode: the access was removed.
    Revoked,
    /// `revoke` mode: removing it failed; the next pass tries again (and reports the removal
    /// in a new notice when it succeeds).
    RevocationFailed { error: String },
}

/// The access a drift finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftTarget {
    Account {
        account_id: String,
        /// The account's name in the organization, when it could be looked up.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account_name: Option<String>,
        permission_set: String,
        permission_set_arn: String,
    },
    Group {
        group_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_name: Option<String>,
        /// Every membership of the user in the group (emulators may hold duplicates).
        membership_ids: Vec<String>,
    },
}

/// A drift finding for chat: a USER account assignment or group membership, in the scope the
/// statements name, that no Liftgate grant explains.
///
/// Contract for chat adapters implementing [`Notifier::drift`]:
/// - Post one message to the approvals channel (`slack.channel_id`,
///   `teams.approvals_conversation_id`) saying what was found and what was done. [`Self::summary`]
///   is a complete plain-text sentence to use as is or as the fallback text of richer blocks.
/// - Show the account (name and id) and permission set, or the group (name and id); the user by
///   email when [`Self::user_email`] is known (mention them if the platform can resolve the
///   email), else by [`Self::user_name`] / [`Self::user_id`]; and [`Self::action`]:
///   `warned` (left in place, `warn` mode), `revoked`, or `revocation_failed` (with the error;
///   retried on the next pass).
/// - No buttons: there is nothing to approve. Delivery is at least once (outbox with retries),
///   so a notice may arrive twice; [`Self::id`] is stable across redeliveries and can be used to
///   drop the second one. Each finding is notified once while it lasts, not on every pass
///   (in `revoke` mode a failed removal is notified, and then the removal when a later pass
///   succeeds).
/// - Return [`NotifyError::Retryable`] for rate limits and outages (retried with backoff),
///   [`NotifyError::Permanent`] when retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftNotice {
    /// Identifies this notice; the same across redeliveries.
    pub id: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    /// The access key (`account:<id>:<permission set>:<user id>` or `group:<id>:<user id>`).
    pub access_key: String,
    pub target: DriftTarget,
    /// The Identity Store user id holding the access.
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    /// Display name, else user name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    pub mode: DriftMode,
    pub action: DriftAction,
    /// Where the rules route findings about this access (`ApprovalChannel` of the first
    /// statement covering it); the configured approvals channel when unset.
    #[serde(default, skip_serializing_if = "liftgate_policy::Routing::is_default")]
    pub routing: liftgate_policy::Routing,
}

impl DriftNotice {
    /// Who holds the access, as people read it: email, else name, else the user id.
    pub fn user_label(&self) -> String {
        match (&self.user_email, &self.user_name) {
            (Some(email), _) => email.clone(),
            (None, Some(name)) => format!("{name} ({})", self.user_id),
            (None, None) => format!("user {}", self.user_id),
        }
    }

    /// One plain-text sentence saying what was found and what was done.
    pub fn summary(&self) -> String {
        let found = match &self.target {
            DriftTarget::Account {
                account_id,
                account_name,
                permission_set,
                ..
            } => {
                let account = match account_name {
                    Some(name) if name != account_id => format!("{name} ({account_id})"),
                    _ => account_id.clone(),
                };
                format!(
                    "Inconsistent account assignment detected: {} holds {permission_set} in {account}, which no Liftgate grant explains.",
                    self.user_label()
                )
            }
            DriftTarget::Group {
                group_id,
                group_name,
                ..
            } => {
                let group = match group_name {
                    Some(name) if name != group_id => format!("{name} ({group_id})"),
                    _ => group_id.clone(),
                };
                format!(
                    "Inconsistent group membership detected: {} is a member of {group}, which no Liftgate grant explains.",
                    self.user_label()
                )
            }
        };
        let done = match &self.action {
            DriftAction::Warned => "It was left in place (reconciliation mode: warn).".to_owned(),
            DriftAction::Revoked => "It was revoked automatically.".to_owned(),
            DriftAction::RevocationFailed { error } => {
                format!("Revoking it failed ({error}); the next reconciliation pass tries again.")
            }
        };
        format!("{found} {done}")
    }
}

/// A chat platform that shows requests to people. Fed through the outbox, so a chat outage
/// delays notices but never blocks or loses a grant or a revocation.
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// The outbox topic suffix, e.g. `slack`.
    fn name(&self) -> &'static str;

    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError>;

    /// Warns about access that no grant explains (see [`DriftNotice`] for the contract).
    /// Delivered from outbox topic `drift:<name>`. The default ignores it, for notifiers that do
    /// not show drift.
    async fn drift(&self, notice: &DriftNotice) -> Result<(), NotifyError> {
        let _ = notice;
        Ok(())
    }

    /// Posts what a user changed during an ended grant (docs/reference.md §6): Slack in the
    /// approval message's thread, Teams in the approval card's conversation, webhook
    /// subscribers as event `activity_summary`. Delivered at least once from outbox topic
    /// `activity:<name>`; [`ActivitySummary::id`] is stable across redeliveries. The default
    /// ignores it.
    async fn activity_summary(&self, summary: &ActivitySummary) -> Result<(), NotifyError> {
        let _ = summary;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(target: DriftTarget, action: DriftAction) -> DriftNotice {
        DriftNotice {
            id: uuid::Uuid::nil(),
            detected_at: OffsetDateTime::UNIX_EPOCH,
            access_key: "key".to_owned(),
            target,
            user_id: "u-1".to_owned(),
            user_email: None,
            user_name: Some("Jane Doe".to_owned()),
            mode: DriftMode::Revoke,
            action,
            routing: liftgate_policy::Routing::default(),
        }
    }

    #[test]
    fn the_summary_says_what_was_found_and_what_was_done() {
        let group = DriftTarget::Group {
            group_id: "g-1".to_owned(),
            group_name: Some("Ops".to_owned()),
            membership_ids: vec!["m-1".to_owned()],
        };
        let failed = DriftAction::RevocationFailed {
            error: "throttled".to_owned(),
        };
        assert_eq!(
            notice(group, failed).summary(),
            "Inconsistent group membership detected: Jane Doe (u-1) is a member of Ops (g-1), \
             which no Liftgate grant explains. Revoking it failed (throttled); the next \
             reconciliation pass tries again."
        );
        let account = DriftTarget::Account {
            account_id: "111111111111".to_owned(),
            account_name: None,
            permission_set: "Admin".to_owned(),
            permission_set_arn: "arn".to_owned(),
        };
        let mut revoked = notice(account, DriftAction::Revoked);
        revoked.user_email = Some("jane@corp.com".to_owned());
        assert_eq!(
            revoked.summary(),
            "Inconsistent account assignment detected: jane@corp.com holds Admin in \
             111111111111, which no Liftgate grant explains. It was revoked automatically."
        );
    }

    #[test]
    fn notices_round_trip_through_the_outbox_payload() {
        let original = notice(
            DriftTarget::Group {
                group_id: "g-1".to_owned(),
                group_name: None,
                membership_ids: Vec::new(),
            },
            DriftAction::Warned,
        );
        let json = serde_json::to_value(&original).unwrap();
        assert_eq!(json["action"]["kind"], "warned");
        assert_eq!(json["target"]["kind"], "group");
        assert_eq!(json["mode"], "revoke");
        let back: DriftNotice = serde_json::from_value(json).unwrap();
        assert_eq!(back, original);
    }
}
