//! Text messages and installs: "access" and "group access" in a personal chat answer with a
//! request form; anything else gets help. Installing the app records how to reach the person
//! (or the team) later.

use actix_web::HttpResponse;
use serde_json::Value;

use super::{Bot, responses};
use crate::activity::Activity;
use crate::cards::{FormErrors, FormInputs, card_message, text_message};

const HELP: &str = "Write \"access\" to ask for temporary access to an AWS account, or \"group access\" to join an AWS group for a while. Approvers decide in the approvals channel, and I tell you here how it goes.";

const PERSONAL_ONLY: &str = "Requests are made in a personal chat: open a chat with me and write \"access\" or \"group access\".";

const WELCOME: &str = "Hi! I grant temporary AWS access after approval. Write \"access\" for an AWS account or \"group access\" for an AWS group.";

/// The commands a person can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Access,
    GroupAccess,
    Help,
}

fn parse_command(text: &str) -> Command {
    match text.trim_start_matches('/') {
        "access" | "request access" | "request" => Command::Access,
        "group access" | "group-access" | "group" => Command::GroupAccess,
        _ => Command::Help,
    }
}

impl Bot {
    pub(crate) async fn on_message(&self, activity: &Activity) -> HttpResponse {
        let command = parse_command(&activity.command_text());
        if !activity.is_personal() {
            let text = if command == Command::Help {
                HELP
            } else {
                PERSONAL_ONLY
            };
            self.reply(activity, &text_message(text)).await;
            return responses::accepted();
        }
        let caller = match self.identify(activity).await {
            Ok(caller) => caller,
            Err(error) => {
                tracing::warn!(%error, "Could not identify a Teams user.");
                self.reply(activity, &text_message(&error.user_message()))
                    .await;
                return responses::accepted();
            }
        };
        let answer = match command {
            Command::Access => {
                match self
                    .access_form(&caller, &FormInputs::default(), FormErrors::default(), None)
                    .await
                {
                    Ok(card) => card_message(&card, "Request AWS access"),
                    Err(message) => text_message(&message),
                }
            }
            Command::GroupAccess => match self
                .group_form(&caller, &FormInputs::default(), FormErrors::default(), None)
                .await
            {
                Ok(card) => card_message(&card, "Request AWS group membership"),
                Err(message) => text_message(&message),
            },
            Command::Help => text_message(HELP),
        };
        self.reply(activity, &answer).await;
        responses::accepted()
    }

    /// Installs (and the bot being added to a team or chat): remember the person or the team;
    /// greet a person in their new personal chat.
    pub(crate) async fn on_install(&self, activity: &Activity) -> HttpResponse {
        let added = match activity.kind.as_str() {
            "installationUpdate" => activity
                .action
                .as_deref()
                .is_some_and(|action| action.starts_with("add")),
            _ => activity.adds_the_bot(),
        };
        if !added {
            return responses::accepted();
        }
        tracing::info!(
            conversation_type = activity
                .conversation
                .as_ref()
                .and_then(|c| c.conversation_type.as_deref())
                .unwrap_or("unknown"),
            "The Teams app was installed."
        );
        if activity.is_personal() {
            match self.identify(activity).await {
                Ok(caller) => {
                    tracing::info!(user = %caller.person.email, "Recorded a personal chat.");
                    self.reply(activity, &text_message(WELCOME)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "Could not identify the person who installed the app.")
                }
            }
        }
        responses::accepted()
    }

    /// Answers in the activity's conversation. Failures are logged: the activity itself was
    /// handled, and Teams retrying it would not help.
    pub(crate) async fn reply(&self, activity: &Activity, message: &Value) {
        let (Some(service_url), Some(conversation_id)) =
            (activity.service_url.as_deref(), activity.conversation_id())
        else {
            return;
        };
        let mut message = message.clone();
        if let (Some(object), Some(id)) = (message.as_object_mut(), activity.id.as_deref()) {
            object.insert("replyToId".to_owned(), Value::String(id.to_owned()));
        }
        if let Err(error) = self
            .connector
            .send_to_conversation(service_url, conversation_id, &message)
            .await
        {
            tracing::warn!(%error, "Could not answer in Teams.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised() {
        assert_eq!(parse_command("access"), Command::Access);
        assert_eq!(parse_command("/access"), Command::Access);
        assert_eq!(parse_command("group access"), Command::GroupAccess);
        assert_eq!(parse_command("hello"), Command::Help);
    }
}
