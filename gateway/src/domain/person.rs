use liftgate_policy::Email;
use serde::{Deserialize, Serialize};

/// Where an action came from; also the `channel` field of audit records (docs/reference.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Slack,
    Teams,
    Webhook,
    /// `liftgate request` at a terminal, signed with the caller's own AWS identity.
    Cli,
    /// Timers: expiry of pending requests, revocation at the end of a grant.
    Scheduler,
    /// Drift reconciliation.
    Reconciler,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::Webhook => "webhook",
            Channel::Cli => "cli",
            Channel::Scheduler => "scheduler",
            Channel::Reconciler => "reconciler",
        }
    }
}

/// Who the platform verified behind an action: the identity an adapter checked (a signed
/// Slack payload and `users.info`, a Bot Framework token and the Teams roster, a webhook
/// client's signature), recorded with requests, approvals and audit records
/// (`verified_caller`, docs/reference.md §7). Never taken from a client's own claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "snake_case")]
pub enum VerifiedCaller {
    Slack {
        user_id: String,
        /// The user's workspace (`users.info`'s `team_id`), when Slack gave it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team_id: Option<String>,
    },
    Teams {
        /// The Entra (AAD) object id of the member, when the roster gave it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aad_object_id: Option<String>,
        tenant_id: String,
    },
    /// A webhook client acting for the person named in its call (within its `act_for`).
    Webhook { client_id: String },
    /// A person at a terminal: STS `GetCallerIdentity`, forwarded by the gateway with the
    /// caller's own signature, answered with this Identity Center role session.
    Cli {
        /// `arn:aws:sts::<account>:assumed-role/AWSReservedSSO_<set>_<hash>/<session name>`.
        arn: String,
        account_id: String,
    },
}

impl VerifiedCaller {
    /// The audit records' `request_source`: `slack`, `teams`, `webhook:<client id>` or `cli`.
    pub fn source(&self) -> String {
        match self {
            VerifiedCaller::Slack { .. } => "slack".to_owned(),
            VerifiedCaller::Teams { .. } => "teams".to_owned(),
            VerifiedCaller::Webhook { client_id } => format!("webhook:{client_id}"),
            VerifiedCaller::Cli { .. } => "cli".to_owned(),
        }
    }
}

/// A person as the gateway knows them: the verified email (the identity every decision uses)
/// plus the chat ids that let adapters mention them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams_id: Option<String>,
    /// How the adapter verified this person for the action at hand; `None` for people the
    /// gateway only names (approvers listed by the rules, timers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<VerifiedCaller>,
}

impl Person {
    pub fn from_email(email: Email) -> Person {
        Person {
            email,
            slack_id: None,
            teams_id: None,
            caller: None,
        }
    }

    /// The person a webhook client named, acting through that client.
    pub fn through_webhook(email: Email, client_id: &str) -> Person {
        Person {
            caller: Some(VerifiedCaller::Webhook {
                client_id: client_id.to_owned(),
            }),
            ..Person::from_email(email)
        }
    }

    /// The person behind a verified Identity Center role session (`liftgate request`).
    pub fn through_cli(email: Email, arn: &str, account_id: &str) -> Person {
        Person {
            caller: Some(VerifiedCaller::Cli {
                arn: arn.to_owned(),
                account_id: account_id.to_owned(),
            }),
            ..Person::from_email(email)
        }
    }
}
