//! The parts of a Bot Framework Activity the adapter reads. Unknown fields are ignored; every
//! field is optional on the wire, so the handlers decide what a given activity must carry.

use serde::Deserialize;
use serde_json::Value;

/// The channel id Teams sends, and the endorsement a signing key must carry for it.
pub(crate) const TEAMS_CHANNEL_ID: &str = "msteams";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Activity {
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) service_url: Option<String>,
    #[serde(default)]
    pub(crate) channel_id: Option<String>,
    #[serde(default)]
    pub(crate) from: Option<ChannelAccount>,
    #[serde(default)]
    pub(crate) recipient: Option<ChannelAccount>,
    #[serde(default)]
    pub(crate) conversation: Option<ConversationAccount>,
    #[serde(default)]
    pub(crate) channel_data: Option<ChannelData>,
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// The invoke name (`adaptiveCard/action`, `application/search`).
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) value: Option<Value>,
    #[serde(default)]
    pub(crate) members_added: Vec<ChannelAccount>,
    /// `installationUpdate`: `add` or `remove`.
    #[serde(default)]
    pub(crate) action: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChannelAccount {
    #[serde(default)]
    pub(crate) id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationAccount {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) conversation_type: Option<String>,
    #[serde(default)]
    pub(crate) tenant_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChannelData {
    #[serde(default)]
    pub(crate) tenant: Option<IdOnly>,
    #[serde(default)]
    pub(crate) team: Option<IdOnly>,
    #[serde(default)]
    pub(crate) channel: Option<IdOnly>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct IdOnly {
    #[serde(default)]
    pub(crate) id: String,
}

impl Activity {
    pub(crate) fn conversation_id(&self) -> Option<&str> {
        self.conversation
            .as_ref()
            .map(|c| c.id.as_str())
            .filter(|id| !id.is_empty())
    }

    pub(crate) fn sender_id(&self) -> Option<&str> {
        self.from
            .as_ref()
            .map(|f| f.id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// The tenant the activity comes from: `conversation.tenantId`, else `channelData.tenant.id`.
    pub(crate) fn tenant_id(&self) -> Option<&str> {
        self.conversation
            .as_ref()
            .and_then(|c| c.tenant_id.as_deref())
            .or_else(|| {
                self.channel_data
                    .as_ref()?
                    .tenant
                    .as_ref()
                    .map(|t| t.id.as_str())
            })
            .filter(|id| !id.is_empty())
    }

    /// A one-to-one chat with the bot.
    pub(crate) fn is_personal(&self) -> bool {
        self.conversation
            .as_ref()
            .is_some_and(|c| c.conversation_type.as_deref() == Some("personal"))
    }

    pub(crate) fn team_id(&self) -> Option<&str> {
        self.channel_data
            .as_ref()?
            .team
            .as_ref()
            .map(|t| t.id.as_str())
            .filter(|id| !id.is_empty())
    }

    pub(crate) fn channel_data_channel_id(&self) -> Option<&str> {
        self.channel_data
            .as_ref()?
            .channel
            .as_ref()
            .map(|c| c.id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// Whether the bot itself was among the members added (an install).
    pub(crate) fn adds_the_bot(&self) -> bool {
        let Some(bot) = self.recipient.as_ref() else {
            return false;
        };
        self.members_added.iter().any(|member| member.id == bot.id)
    }

    /// The message text with `<at>…</at>` mentions removed, trimmed and lower-cased, so
    /// "@Liftgate access" in a channel reads as "access".
    pub(crate) fn command_text(&self) -> String {
        let text = self.text.as_deref().unwrap_or_default();
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("<at>") {
            out.push_str(&rest[..start]);
            match rest[start..].find("</at>") {
                Some(end) => rest = &rest[start + end + "</at>".len()..],
                None => {
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_stripped_from_commands() {
        let activity = Activity {
            text: Some("<at>Liftgate</at>  Group   Access ".to_owned()),
            ..Activity::default()
        };
        assert_eq!(activity.command_text(), "group access");
    }
}
