//! Routes what Slack sent (over HTTP or Socket Mode) to its handler and produces the ack.
//! Handlers answer at once; anything slow runs afterwards through `SlackAdapter::spawn`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::adapter::{Expiry, Reply, SlackAdapter};
use crate::blocks::form::{ACCOUNT, FormKind, GROUP, PERMISSION_SET};
use crate::blocks::message::{ACKNOWLEDGE, APPROVE, CANCEL, DENY, EXTEND, FLAG, REVOKE};
use crate::inbox::SlackWork;
use crate::payload::{Ack, Inbound, Interaction};
use crate::people::IdentityError;

/// terraform-aws-sso-elevator's shortcut callback ids, kept so existing app manifests work.
pub(crate) const SHORTCUT_ACCESS: &str = "request_for_access";
pub(crate) const SHORTCUT_GROUP: &str = "request_for_group_membership";

pub(crate) const COMMAND_ACCESS: &str = "/access";
pub(crate) const COMMAND_GROUP: &str = "/group-access";

/// A decision button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Decision {
    Approve,
    Deny,
    Cancel,
    Revoke,
    /// A reviewer's acknowledgement of a break-glass use.
    Acknowledge,
    /// A reviewer's flag of a break-glass use.
    Flag,
}

impl SlackAdapter {
    pub(crate) async fn handle(self: &Arc<Self>, inbound: Inbound) -> Ack {
        match inbound {
            Inbound::Interaction(body) => match serde_json::from_value::<Interaction>(body) {
                Ok(interaction) => {
                    let (teams, enterprise) = interaction.origin();
                    let user = interaction.user.id.clone();
                    if let Err(refusal) = self.people.check_origin(&user, &teams, enterprise).await
                    {
                        let reply = interaction
                            .conversation()
                            .map_or(Reply::Direct, Reply::Ephemeral);
                        return self.refuse_origin(user, reply, &refusal, &interaction.kind);
                    }
                    self.on_interaction(interaction).await
                }
                Err(error) => Ack::Invalid(format!("unreadable interaction payload: {error}")),
            },
            Inbound::Command(fields) => {
                let field = |key: &str| {
                    fields
                        .get(key)
                        .map(String::as_str)
                        .filter(|v| !v.is_empty())
                };
                let user = field("user_id").unwrap_or_default().to_owned();
                if let Err(refusal) = self
                    .people
                    .check_origin(&user, &[field("team_id")], field("enterprise_id"))
                    .await
                {
                    self.count_refusal(&refusal);
                    tracing::warn!(slack_user = %user, %refusal, "Refused a slash command from outside the workspace.");
                    return Ack::Json(json!({
                        "response_type": "ephemeral",
                        "text": format!(":warning: {}", refusal.for_people()),
                    }));
                }
                self.on_command(&fields)
            }
            Inbound::Event(body) => self.on_event(&body),
        }
    }

    fn count_refusal(&self, refusal: &IdentityError) {
        let reason = match refusal {
            IdentityError::Api(_) => "workspace_unknown",
            _ => "foreign_workspace",
        };
        self.service.metrics().inc(
            "liftgate_auth_failures_total",
            &[("channel", "slack"), ("reason", reason)],
        );
    }

    /// A payload from another workspace: nothing happens, the person is told why (an option
    /// load gets no options).
    fn refuse_origin(
        self: &Arc<Self>,
        user: String,
        reply: Reply,
        refusal: &IdentityError,
        kind: &str,
    ) -> Ack {
        self.count_refusal(refusal);
        tracing::warn!(slack_user = %user, kind, %refusal, "Refused a Slack interaction from outside the workspace.");
        if kind == "block_suggestion" {
            return Ack::Json(json!({ "options": [] }));
        }
        if kind != "view_closed" {
            let text = format!(":warning: {}", refusal.for_people());
            let adapter = Arc::clone(self);
            self.spawn(async move { adapter.tell(&user, &reply, &text).await });
        }
        Ack::Empty
    }

    async fn on_interaction(self: &Arc<Self>, interaction: Interaction) -> Ack {
        match interaction.kind.as_str() {
            "shortcut" => self.on_shortcut(interaction),
            "block_actions" => self.on_block_action(interaction).await,
            "view_submission" => self.on_submission(interaction).await,
            "block_suggestion" => self.on_suggestion(interaction).await,
            "view_closed" => {
                if let Some(view) = &interaction.view {
                    self.forms.forget(view.session_key(), &interaction.user.id);
                }
                Ack::Empty
            }
            other => {
                tracing::debug!(kind = other, "Ignored a Slack interaction.");
                Ack::Empty
            }
        }
    }

    fn on_shortcut(self: &Arc<Self>, interaction: Interaction) -> Ack {
        let kind = match interaction.callback_id.as_deref() {
            Some(SHORTCUT_ACCESS) => FormKind::Account,
            Some(SHORTCUT_GROUP) => FormKind::Group,
            other => {
                tracing::debug!(callback_id = ?other, "Ignored an unknown Slack shortcut.");
                return Ack::Empty;
            }
        };
        let Some(trigger_id) = interaction.trigger_id else {
            return Ack::Invalid("a shortcut without trigger_id".to_owned());
        };
        self.spawn_expiring(
            Expiry::WithTrigger,
            Arc::clone(self).open_form(kind, interaction.user.id, trigger_id, Reply::Direct),
        );
        Ack::Empty
    }

    fn on_command(self: &Arc<Self>, fields: &HashMap<String, String>) -> Ack {
        if fields.get("ssl_check").is_some_and(|value| value == "1") {
            return Ack::Empty;
        }
        let command = fields
            .get("command")
            .map(String::as_str)
            .unwrap_or_default();
        let kind = match command {
            COMMAND_ACCESS => FormKind::Account,
            COMMAND_GROUP => FormKind::Group,
            other => {
                return Ack::Json(json!({
                    "response_type": "ephemeral",
                    "text": format!("Liftgate does not know the command {other}. Use {COMMAND_ACCESS} or {COMMAND_GROUP}."),
                }));
            }
        };
        let (Some(user_id), Some(trigger_id)) = (fields.get("user_id"), fields.get("trigger_id"))
        else {
            return Ack::Invalid("a slash command without user_id or trigger_id".to_owned());
        };
        let reply = match fields.get("channel_id") {
            Some(channel) if !channel.is_empty() => Reply::Ephemeral(channel.clone()),
            _ => Reply::Direct,
        };
        self.spawn_expiring(
            Expiry::WithTrigger,
            Arc::clone(self).open_form(kind, user_id.clone(), trigger_id.clone(), reply),
        );
        Ack::Empty
    }

    async fn on_block_action(self: &Arc<Self>, interaction: Interaction) -> Ack {
        let Some(action) = interaction.actions.first().cloned() else {
            return Ack::Empty;
        };
        let user_id = interaction.user.id.clone();
        let reply = interaction
            .conversation()
            .map_or(Reply::Direct, Reply::Ephemeral);
        let decision = match action.action_id.as_str() {
            APPROVE => Some(Decision::Approve),
            DENY => Some(Decision::Deny),
            CANCEL => Some(Decision::Cancel),
            REVOKE => Some(Decision::Revoke),
            ACKNOWLEDGE => Some(Decision::Acknowledge),
            FLAG => Some(Decision::Flag),
            _ => None,
        };
        match (decision, action.action_id.as_str()) {
            (Some(decision), _) => {
                let value = action.value.unwrap_or_default();
                self.run_recorded(SlackWork::Decide {
                    decision,
                    value,
                    user_id,
                    reply,
                })
                .await;
            }
            (None, EXTEND) => {
                let value = action.value.unwrap_or_default();
                match interaction.trigger_id {
                    Some(trigger_id) => self.spawn_expiring(
                        Expiry::WithTrigger,
                        Arc::clone(self).open_extension(value, user_id, trigger_id, reply),
                    ),
                    None => return Ack::Invalid("a button click without trigger_id".to_owned()),
                }
            }
            (None, ACCOUNT | PERMISSION_SET | GROUP) => {
                if let Some(view) = interaction.view {
                    self.spawn(Arc::clone(self).refresh_form(user_id, view));
                }
            }
            (None, other) => tracing::debug!(action_id = other, "Ignored a Slack block action."),
        }
        Ack::Empty
    }
}

impl SlackAdapter {
    fn on_event(&self, body: &Value) -> Ack {
        match body["type"].as_str() {
            Some("url_verification") => match body["challenge"].as_str() {
                Some(challenge) => Ack::Json(json!({ "challenge": challenge })),
                None => Ack::Invalid("url_verification without a challenge".to_owned()),
            },
            Some("event_callback") => {
                let event = body["event"]["type"].as_str().unwrap_or_default();
                match event {
                    "app_uninstalled" => self.installation.lost(event),
                    // Only the bot token matters: user tokens are not used.
                    "tokens_revoked"
                        if body["event"]["tokens"]["bot"]
                            .as_array()
                            .is_some_and(|bots| !bots.is_empty()) =>
                    {
                        self.installation.lost(event);
                    }
                    _ => tracing::debug!(event, "Ignored a Slack event."),
                }
                Ack::Empty
            }
            other => {
                tracing::debug!(kind = ?other, "Ignored a Slack Events API body.");
                Ack::Empty
            }
        }
    }
}
