//! Plays Slack calling the gateway: builds interaction payloads the way Slack does, signs them
//! (v0) with the test clock and posts them to the adapter's routes.

use std::sync::Arc;

use liftgate_gateway::ports::Clock;
use liftgate_gateway::testing::ManualClock;
use serde_json::{Value, json};

use super::fake_slack::{FakeSlack, FakeView, StoredMessage};

/// An answer to a gateway call.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
    }
}

pub struct Driver {
    client: reqwest::Client,
    pub base: String,
    pub secret: String,
    clock: Arc<ManualClock>,
    fake: FakeSlack,
}

pub const FORM: &str = "application/x-www-form-urlencoded";
pub const JSON: &str = "application/json";

/// Whether `block_id` is `block` or `block.suffix`.
pub fn is_block(block_id: &str, block: &str) -> bool {
    block_id == block
        || block_id
            .strip_prefix(block)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The input block `block` of a view.
pub fn input_block<'a>(view: &'a Value, block: &str) -> Option<&'a Value> {
    view["blocks"].as_array()?.iter().find(|candidate| {
        candidate["type"] == "input"
            && candidate["block_id"]
                .as_str()
                .is_some_and(|id| is_block(id, block))
    })
}

/// The value object Slack puts in `view.state.values` when an element shows `answer`.
fn value_object(element: &Value, answer: &str) -> Value {
    let kind = element["type"].as_str().unwrap_or_default();
    match kind {
        "static_select" => {
            let option = element["options"]
                .as_array()
                .and_then(|options| options.iter().find(|option| option["value"] == answer))
                .unwrap_or_else(|| {
                    panic!("{answer:?} is not one of the options offered: {element}")
                });
            json!({ "type": kind, "selected_option": option })
        }
        "external_select" => json!({
            "type": kind,
            "selected_option": { "text": { "type": "plain_text", "text": answer }, "value": answer },
        }),
        "plain_text_input" => json!({ "type": kind, "value": answer }),
        "checkboxes" => {
            let option = element["options"]
                .as_array()
                .and_then(|options| options.iter().find(|option| option["value"] == answer))
                .unwrap_or_else(|| panic!("{answer:?} is not one of the boxes offered: {element}"));
            json!({ "type": kind, "selected_options": [option] })
        }
        "datetimepicker" => {
            json!({ "type": kind, "selected_date_time": answer.parse::<i64>().unwrap() })
        }
        other => panic!("the driver cannot answer a {other}"),
    }
}

/// What an untouched element holds.
fn initial_object(element: &Value) -> Value {
    let kind = element["type"].as_str().unwrap_or_default();
    match kind {
        "static_select" | "external_select" => {
            json!({ "type": kind, "selected_option": element["initial_option"].clone() })
        }
        "datetimepicker" => {
            json!({ "type": kind, "selected_date_time": element["initial_date_time"].clone() })
        }
        "checkboxes" => json!({ "type": kind, "selected_options": [] }),
        _ => json!({ "type": kind, "value": element["initial_value"].clone() }),
    }
}

/// The view as Slack sends it back in payloads: the view plus its id, hash and state.
pub fn view_payload(view: &FakeView) -> Value {
    let mut values = serde_json::Map::new();
    for block in view.view["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "input")
    {
        let block_id = block["block_id"].as_str().unwrap();
        let element = &block["element"];
        let action_id = element["action_id"].as_str().unwrap();
        let value = view
            .answers
            .get(block_id)
            .cloned()
            .unwrap_or_else(|| initial_object(element));
        values.insert(block_id.to_owned(), json!({ action_id: value }));
    }
    let mut payload = view.view.clone();
    payload["id"] = json!(view.id);
    payload["hash"] = json!(view.hash);
    payload["root_view_id"] = json!(view.root_id);
    payload["previous_view_id"] = Value::Null;
    payload["team_id"] = json!("T1");
    payload["app_installed_team_id"] = json!("T1");
    payload["bot_id"] = json!("BBOT");
    payload["state"] = json!({ "values": values });
    if payload["private_metadata"].is_null() {
        payload["private_metadata"] = json!("");
    }
    payload
}

fn user(id: &str) -> Value {
    json!({ "id": id, "username": id.to_lowercase(), "name": id.to_lowercase(), "team_id": "T1" })
}

pub fn shortcut_payload(user_id: &str, callback_id: &str, trigger_id: &str) -> Value {
    json!({
        "type": "shortcut",
        "token": "deprecated-verification-token",
        "action_ts": "1800000000.000001",
        "team": { "id": "T1", "domain": "corp" },
        "user": user(user_id),
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "is_enterprise_install": false,
        "enterprise": null,
    })
}

pub fn command_fields(
    user_id: &str,
    command: &str,
    channel: &str,
    trigger_id: &str,
) -> Vec<(String, String)> {
    [
        ("token", "deprecated-verification-token"),
        ("team_id", "T1"),
        ("team_domain", "corp"),
        ("channel_id", channel),
        ("channel_name", "general"),
        ("user_id", user_id),
        ("user_name", &user_id.to_lowercase()),
        ("command", command),
        ("text", ""),
        ("api_app_id", "A1"),
        ("is_enterprise_install", "false"),
        ("response_url", "https://hooks.slack.com/commands/T1/1/x"),
        ("trigger_id", trigger_id),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect()
}

pub fn submission_payload(user_id: &str, view: &FakeView) -> Value {
    json!({
        "type": "view_submission",
        "team": { "id": "T1", "domain": "corp" },
        "user": user(user_id),
        "api_app_id": "A1",
        "trigger_id": "1.1.submission",
        "view": view_payload(view),
        "response_urls": [],
    })
}

pub fn suggestion_payload(user_id: &str, view: &FakeView, action_id: &str, query: &str) -> Value {
    let block_id = input_block(&view.view, action_id)
        .and_then(|block| block["block_id"].as_str())
        .unwrap_or(action_id);
    json!({
        "type": "block_suggestion",
        "user": user(user_id),
        "container": { "type": "view", "view_id": view.id },
        "api_app_id": "A1",
        "action_id": action_id,
        "block_id": block_id,
        "value": query,
        "team": { "id": "T1", "domain": "corp" },
        "view": view_payload(view),
    })
}

/// A button click on a posted message.
pub fn button_payload(
    user_id: &str,
    message: &StoredMessage,
    button: &Value,
    trigger_id: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": user(user_id),
        "api_app_id": "A1",
        "container": { "type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false },
        "trigger_id": trigger_id,
        "team": { "id": "T1", "domain": "corp" },
        "channel": { "id": message.channel, "name": "approvals" },
        "message": { "ts": message.ts, "text": message.text, "blocks": message.blocks },
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "actions": [{
            "action_id": button["action_id"],
            "block_id": "b",
            "text": button["text"],
            "value": button["value"],
            "type": "button",
            "action_ts": "1800000000.000100",
        }],
    })
}

/// The button with this action id on a message; panics when there is none.
pub fn find_button(message: &StoredMessage, action_id: &str) -> Value {
    buttons(message)
        .into_iter()
        .find(|button| button["action_id"] == action_id)
        .unwrap_or_else(|| panic!("no {action_id} button on {}", message.blocks))
}

pub fn buttons(message: &StoredMessage) -> Vec<Value> {
    message
        .blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "actions")
        .flat_map(|block| block["elements"].as_array().cloned().unwrap_or_default())
        .collect()
}

pub fn form_body(fields: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

pub fn payload_body(payload: &Value) -> String {
    form_body(&[("payload".to_owned(), payload.to_string())])
}

impl Driver {
    pub fn new(base: String, secret: &str, clock: Arc<ManualClock>, fake: FakeSlack) -> Driver {
        Driver {
            client: reqwest::Client::new(),
            base,
            secret: secret.to_owned(),
            clock,
            fake,
        }
    }

    /// Posts with the given headers only (for the refusal cases).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        headers: &[(&str, String)],
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        Reply {
            status,
            body: response.text().await.unwrap(),
        }
    }

    /// The signature headers Slack would send now for this body.
    pub fn signed_headers(&self, body: &str, offset_seconds: i64) -> Vec<(&'static str, String)> {
        let timestamp = (self.clock.now().unix_timestamp() + offset_seconds).to_string();
        let signature = liftgate_slack::sign(&self.secret, &timestamp, body.as_bytes());
        vec![
            ("x-slack-request-timestamp", timestamp),
            ("x-slack-signature", signature),
        ]
    }

    pub async fn post_signed(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let headers = self.signed_headers(body, 0);
        self.post_raw(path, content_type, body, &headers).await
    }

    pub async fn interaction(&self, payload: &Value) -> Reply {
        self.post_signed("/slack/interactions", FORM, &payload_body(payload))
            .await
    }

    /// A global shortcut with a fresh trigger; returns the reply and the trigger id.
    pub async fn shortcut(&self, user_id: &str, callback_id: &str) -> (Reply, String) {
        let trigger = self.fake.issue_trigger(user_id, time::Duration::ZERO);
        let reply = self
            .interaction(&shortcut_payload(user_id, callback_id, &trigger))
            .await;
        (reply, trigger)
    }

    pub async fn command(&self, user_id: &str, command: &str, channel: &str) -> Reply {
        let trigger = self.fake.issue_trigger(user_id, time::Duration::ZERO);
        let body = form_body(&command_fields(user_id, command, channel, &trigger));
        self.post_signed("/slack/commands", FORM, &body).await
    }

    /// Chooses `answer` in the input `block` of an open view, as the person would; when the
    /// input dispatches actions, Slack tells the gateway (returned).
    pub async fn choose(
        &self,
        user_id: &str,
        view_id: &str,
        block: &str,
        answer: &str,
    ) -> Option<Reply> {
        let view = self.fake.view(view_id);
        let input = input_block(&view.view, block)
            .unwrap_or_else(|| panic!("no {block} input in {}", view.view));
        let block_id = input["block_id"].as_str().unwrap().to_owned();
        let element = &input["element"];
        let value = value_object(element, answer);
        self.fake.answer(view_id, &block_id, value.clone());
        if input["dispatch_action"] != true {
            return None;
        }
        let view = self.fake.view(view_id);
        let mut action = value.clone();
        action["action_id"] = element["action_id"].clone();
        action["block_id"] = json!(block_id);
        action["action_ts"] = json!("1800000000.000200");
        let payload = json!({
            "type": "block_actions",
            "user": user(user_id),
            "api_app_id": "A1",
            "container": { "type": "view", "view_id": view.id },
            "trigger_id": self.fake.issue_trigger(user_id, time::Duration::ZERO),
            "team": { "id": "T1", "domain": "corp" },
            "view": view_payload(&view),
            "actions": [action],
        });
        Some(self.interaction(&payload).await)
    }

    pub async fn submit(&self, user_id: &str, view_id: &str) -> Reply {
        let view = self.fake.view(view_id);
        self.interaction(&submission_payload(user_id, &view)).await
    }

    pub async fn suggest(
        &self,
        user_id: &str,
        view_id: &str,
        action_id: &str,
        query: &str,
    ) -> Reply {
        let view = self.fake.view(view_id);
        let payload = suggestion_payload(user_id, &view, action_id, query);
        self.post_signed("/slack/options", FORM, &payload_body(&payload))
            .await
    }

    /// Clicks a button that is on the message (panics when it is not).
    pub async fn click(&self, user_id: &str, message: &StoredMessage, action_id: &str) -> Reply {
        let button = find_button(message, action_id);
        let trigger = self.fake.issue_trigger(user_id, time::Duration::ZERO);
        self.interaction(&button_payload(user_id, message, &button, &trigger))
            .await
    }
}
